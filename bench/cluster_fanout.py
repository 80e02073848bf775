"""Rooms spread over processes: the shared ybench fanout scenario through nginx, in front of
one process or of two sharing PostgreSQL and Redis, beside Hocuspocus alone and Hocuspocus
with its Redis extension on two processes. One run, fresh servers per configuration.

nginx hands connections out in turn, so with two processes each room's clients are split
over both (3 and 2 of 5). Server CPU is ybench's own measure (``--server-pid``: a supervisor
whose children are the configuration's server processes), over the measured phase; what
PostgreSQL and Redis spend is read from /proc over the whole ybench run and divided by the
updates sent. Latency is from the writer's send to each receiver's apply.

    .venv/bin/python bench/cluster_fanout.py                 # every configuration, twice
    .venv/bin/python bench/cluster_fanout.py --runs 1 --only ours-pg-1,ours-pg-redis-2-c1

Needs what the tests need (scripts/test.sh installs PostgreSQL, Redis and nginx), the shared
bench's node_modules (``npm ci`` in ../shared/bench and ../shared/bench/anchors) and this
folder's (``npm ci`` in bench/cluster).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "bench"
sys.path.insert(0, str(REPO / "tests"))

from server_process import free_port  # noqa: E402
from support.nginx import Nginx  # noqa: E402
from support.postgres import PrivatePostgres  # noqa: E402
from support.redis_server import PrivateRedis  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: What compare.sh gives our server: ybench is one address standing for many users.
PER_ADDRESS = (
    "--requests-per-second 100000 --max-sockets-per-client 100000 "
    "--max-connections-per-client 100000 --max-sessions-per-client-per-hour 1000000 "
    "--client-loop-share 1"
).split()
#: nginx in turn over the configuration's processes, sockets upgraded, nothing buffered.
SITE = """
upstream servers {
    server 127.0.0.1:1;
}
map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
server {
    listen 80;
    location / {
        proxy_pass http://servers;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 1h;
        proxy_buffering off;
    }
}
"""


@dataclass(frozen=True)
class Config:
    name: str
    what: str
    processes: int
    hocuspocus: bool = False
    postgres: bool = False
    redis: bool = False
    commit_ms: int | None = None  # --commit-interval-ms; None: the server's default


CONFIGS = [
    Config("ours-sqlite-1", "ours, 1 process, SQLite (the default)", 1),
    Config("ours-pg-1", "ours, 1 process, PostgreSQL", 1, postgres=True),
    Config(
        "ours-pg-1-c0",
        "ours, 1 process, PostgreSQL, no commit window",
        1,
        postgres=True,
        commit_ms=0,
    ),  # fmt: skip
    Config(
        "ours-pg-redis-2",
        "ours, 2 processes, PostgreSQL + Redis (no commit window)",
        2,
        postgres=True,
        redis=True,
    ),  # fmt: skip
    Config(
        "ours-pg-redis-2-c50",
        "ours, 2 processes, PostgreSQL + Redis, 50 ms commit window",
        2,
        postgres=True,
        redis=True,
        commit_ms=50,
    ),  # fmt: skip
    Config("hocuspocus-1", "Hocuspocus, 1 process", 1, hocuspocus=True),
    Config(
        "hocuspocus-redis-2",
        "Hocuspocus + Redis extension, 2 processes",
        2,
        hocuspocus=True,
        redis=True,
    ),  # fmt: skip
]


def ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack += parents.get(pid, [])
    return out


async def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


async def wait_tcp(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@asynccontextmanager
async def servers(
    config: Config, scratch: Path, pg: PrivatePostgres | None, redis: PrivateRedis | None
) -> AsyncIterator[tuple[int, list[int]]]:
    """The configuration's processes under one supervisor: (its pid, their ports)."""
    ports = [free_port() for _ in range(config.processes)]
    commands = []
    database = pg.database() if config.postgres and pg else str(scratch / f"{config.name}.db")
    for port in ports:
        if config.hocuspocus:
            script = (
                REPO / "bench" / "cluster" / "hocuspocus-redis.mjs"
                if config.redis
                else SHARED / "anchors" / "hocuspocus-server.mjs"
            )
            env = f"PORT={port}"
            if redis is not None:
                env += f" REDIS_HOST=127.0.0.1 REDIS_PORT={redis.port}"
            commands.append(f"env {env} node {shlex.quote(str(script))}")
        else:
            args = [sys.executable, "-m", "crdt_server", "--port", str(port), "--db", database,
                    "--log-level", "warning", *PER_ADDRESS]  # fmt: skip
            if config.commit_ms is not None:
                args += ["--commit-interval-ms", str(config.commit_ms)]
            if config.redis and redis is not None:
                args += ["--redis-url", redis.url]
            commands.append(shlex.join(args))
    script = " & ".join(commands) + " & wait"
    supervisor = subprocess.Popen(["bash", "-c", script], cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        for port in ports:
            if config.hocuspocus:
                await wait_tcp(port)
            else:
                await wait_http(f"http://127.0.0.1:{port}/readyz")
        yield supervisor.pid, ports
    finally:
        for pid in tree(supervisor.pid)[1:]:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        supervisor.wait(timeout=30)


async def run_once(
    config: Config, scratch: Path, pg: PrivatePostgres | None, redis: PrivateRedis | None,
    ybench_args: list[str],
) -> dict[str, float]:  # fmt: skip
    site = scratch / f"{config.name}.conf"
    async with servers(config, scratch, pg, redis) as (supervisor, ports):
        site.write_text(SITE.replace("    server 127.0.0.1:1;\n", "".join(
            "    server 127.0.0.1:1;\n" for _ in ports)))  # fmt: skip
        root = scratch / f"nginx-{config.name}-{time.monotonic_ns()}"
        async with Nginx(root, site, ports) as nginx:
            base = f"127.0.0.1:{nginx.port}"
            command = ["node", str(SHARED / "ybench.mjs"), "--scenario", "fanout",
                       "--server-pid", str(supervisor), *ybench_args]  # fmt: skip
            if config.hocuspocus:
                command += ["--protocol", "hocuspocus", "--url", f"ws://{base}/{{room}}"]
            else:
                command += ["--url", f"ws://{base}/ws/sessions/{{room}}",
                            "--create-url", f"http://{base}/api/v1/sessions"]  # fmt: skip
            backing = []
            if pg is not None and config.postgres:
                backing.append(pg.pid)
            if redis is not None and config.redis:
                backing.append(redis.pid)
            store_pids = {pid: tree(pid) for pid in backing}
            before = {pid: ticks(pids) for pid, pids in store_pids.items()}
            done = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await done.communicate()
            after = {pid: ticks(tree(pid)) for pid in store_pids}
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{config.name}: ybench printed no result:\n{err.decode()[-2000:]}")
    result = json.loads(lines[-1])
    metrics, server = result["metrics"], result["server"]
    row = {
        "cpu_per_1k": server["cpu_s_per_1k_deliveries"],
        "p50": metrics["latency_ms"]["p50"],
        "p99": metrics["latency_ms"]["p99"],
        "lost": metrics["lost"],
        "ok": float(bool(result.get("ok"))),
        "ops": metrics["ops_sent"],
        "other": (result.get("host") or {}).get("other_busy_cores") or 0.0,
    }
    if not result.get("ok"):
        print(f"{config.name}: not ok: {result.get('issues')}", file=sys.stderr)
    ops = max(1, metrics["ops_sent"])
    if pg and config.postgres:
        row["pg_us_per_update"] = 1e6 * (after[pg.pid] - before[pg.pid]) / CLK_TCK / ops
    if redis and config.redis:
        row["redis_us_per_update"] = 1e6 * (after[redis.pid] - before[redis.pid]) / CLK_TCK / ops
    return row


def cell(rows: list[dict[str, float]], key: str, fmt: Callable[[float], str]) -> str:
    values = [row[key] for row in rows if key in row]
    return fmt(statistics.median(values)) if values else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated configuration names")
    parser.add_argument("--ybench", default="", help="extra ybench arguments, quoted")
    args = parser.parse_args()
    chosen = [c for c in CONFIGS if not args.only or c.name in args.only.split(",")]
    results: dict[str, list[dict[str, float]]] = {c.name: [] for c in chosen}
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        scratch = Path(tmp)
        pg = PrivatePostgres(durable=True)
        pg.start()
        redis = PrivateRedis()
        redis.start()
        try:
            for run in range(args.runs):
                order = chosen if run % 2 == 0 else list(reversed(chosen))
                for config in order:
                    row = await run_once(config, scratch, pg, redis, shlex.split(args.ybench))
                    results[config.name].append(row)
                    print(f"run {run + 1} {config.name}: {json.dumps(row)}", file=sys.stderr)
        finally:
            redis.stop()
            pg.stop()
    print(f"\nybench fanout through nginx, medians of {args.runs} runs; host load at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)\n")  # fmt: skip
    print("| configuration | server CPU s / 1k deliveries | p50 ms | p99 ms | lost | "
          "PostgreSQL µs / update | Redis µs / update | other load (cores) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for config in chosen:
        rows = results[config.name]
        print(f"| {config.what} | {cell(rows, 'cpu_per_1k', lambda v: f'{v:.4f}')} "
              f"| {cell(rows, 'p50', lambda v: f'{v:.2f}')} "
              f"| {cell(rows, 'p99', lambda v: f'{v:.2f}')} "
              f"| {cell(rows, 'lost', lambda v: f'{v:.0f}')} "
              f"| {cell(rows, 'pg_us_per_update', lambda v: f'{v:.0f}')} "
              f"| {cell(rows, 'redis_us_per_update', lambda v: f'{v:.0f}')} "
              f"| {cell(rows, 'other', lambda v: f'{v:.2f}')} |")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

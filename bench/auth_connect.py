"""Server CPU per connection with --auth none and --auth token, in one run.

    .venv/bin/python bench/auth_connect.py [--connections 600] [--rounds 3]

Starts the server open, then with an API key, creates a session, and opens ``--connections``
y-websocket sockets in batches of 20 (each does the sync handshake, then closes): with no
token, with an invite token (the token check alone) and with a participant's token (the check
plus that participant's presence going online and offline). Reports the server's CPU time
(utime + stime from /proc) per connection, median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from raw_client import RawClient  # noqa: E402
from server_process import ServerProcess  # noqa: E402

KEY = "bench-key"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def one_round(server: ServerProcess, http: aiohttp.ClientSession, url: str, n: int) -> float:
    assert server.proc is not None
    before = cpu_seconds(server.proc.pid)

    async def connect() -> None:
        client = await RawClient.connect(http, url)
        await client.handshake()
        await client.ws.close()

    for _ in range(n // 20):
        await asyncio.gather(*(connect() for _ in range(20)))
    return (cpu_seconds(server.proc.pid) - before) / n


async def measure(mode: str, connections: int, rounds: int) -> list[float]:
    token_mode = mode != "none"
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--db", f"{scratch}/a.db", "--log-level", "warning"]
        if token_mode:
            args += ["--api-keys", KEY]
        async with ServerProcess(args) as server, aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {KEY}"} if token_mode else {}
            async with http.post(f"{server.url}/api/v1/sessions", json={}, headers=headers) as r:
                body = (await r.json())["data"]
            url = server.url.replace("http", "ws") + f"/ws/sessions/{body['id']}"
            if token_mode:
                kind = "observer" if mode == "invite" else "interviewer"
                url += f"?token={body['tokens'][kind]}"
            await one_round(server, http, url, 100)  # warm-up
            results = [await one_round(server, http, url, connections) for _ in range(rounds)]
            await server.stop()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for mode in ("none", "invite", "participant"):
        per = await measure(mode, args.connections, args.rounds)
        rows.append((mode, statistics.median(per) * 1000, [round(p * 1000, 3) for p in per]))
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {args.connections} connections x {args.rounds}")
    print("| auth | server CPU ms per connection (median) | rounds |")
    print("| --- | --- | --- |")
    names = {"none": "none", "invite": "token (invite)", "participant": "token (participant)"}
    for mode, median, per in rows:
        print(f"| {names[mode]} | {median:.3f} | {per} |")
    print(f"token check on connect: {rows[1][1] - rows[0][1]:+.3f} ms CPU per connection")
    print(f"... plus presence: {rows[2][1] - rows[1][1]:+.3f} ms CPU per connection")


if __name__ == "__main__":
    asyncio.run(main())

"""Crash rounds across processes: three servers on one PostgreSQL and one Redis, three stock
y-websocket providers each sent to its own process first by a failover proxy (a load
balancer), typing numbered tokens; in each round one process, picked at random, is killed
(SIGKILL) at a random moment of the burst and started again. Its clients come back on
another process and push what it had not committed. At the end of a round every provider,
a fresh joiner and every process's REST must hold the same text, with every token typed in
it exactly once.

    .venv/bin/python bench/cluster_crash_rounds.py --rounds 20

Prints a Markdown summary (commit it to bench/results/); exits 1 if any round lost or
duplicated a token or diverged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from server_process import ServerProcess, create_session, free_port  # noqa: E402
from support.cluster import code_on, ws_url  # noqa: E402
from support.failover import FailoverProxy  # noqa: E402
from support.node_client import NodeClient  # noqa: E402
from support.postgres import PrivatePostgres  # noqa: E402
from support.redis_server import PrivateRedis  # noqa: E402
from support.typed_tokens import TOKEN, type_tokens  # noqa: E402
from support.waiting import wait_until  # noqa: E402

CLIENTS = ["a", "b", "c"]


def server(database: str, redis: str, port: int) -> ServerProcess:
    return ServerProcess(["--db", database, "--redis-url", redis, "--port", str(port),
                          "--room-grace-seconds", "0.5", "--log-level", "warning"])  # fmt: skip


async def one_round(
    rng: random.Random, database: str, redis: str, tokens: int, http: aiohttp.ClientSession
) -> dict[str, int]:
    ports = [free_port() for _ in CLIENTS]
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(server(database, redis, p)) for p in ports]
        sid = await create_session(http, servers[0])
        node = await stack.enter_async_context(NodeClient.start())
        for i, client in enumerate(CLIENTS):
            proxy = await stack.enter_async_context(FailoverProxy(ports[i:] + ports[:i]))
            await node.connect(f"ws://127.0.0.1:{proxy.port}/ws/sessions", sid, client=client)
            await node.wait_synced(client=client)
        typing = [
            asyncio.create_task(type_tokens(node, c, tokens, pause=rng.uniform(0.005, 0.03)))
            for c in CLIENTS
        ]
        await asyncio.sleep(rng.uniform(0.2, 1.5))  # a random moment of the burst
        victim = rng.randrange(len(servers))
        killed_mid_burst = not all(task.done() for task in typing)
        await servers[victim].stop(signal.SIGKILL)
        servers[victim] = await stack.enter_async_context(
            server(database, redis, ports[victim])
        )  # back, as a process manager would bring it
        await asyncio.gather(*typing)

        async def same() -> str | None:
            texts = {await node.text(client=c) for c in CLIENTS}
            return texts.pop() if len(texts) == 1 else None

        text = await wait_until(same, timeout=60, what="the providers to converge")
        await node.connect(ws_url(servers[(victim + 1) % 3]), sid, client="fresh")
        await node.wait_synced(client="fresh", timeout=20)
        fresh = await node.text(client="fresh")

        async def rest_agrees() -> bool:
            return {await code_on(http, s, sid) for s in servers} == {text}

        try:
            await wait_until(rest_agrees, timeout=20, what="REST on every process")
            rest_diverged = 0
        except TimeoutError:
            rest_diverged = 1
    seen = Counter(TOKEN.findall(text))
    expected = Counter((c, str(n)) for c in CLIENTS for n in range(tokens))
    return {
        "typed": sum(expected.values()),
        "lost": sum((expected - seen).values()),
        "duplicated": sum((seen - expected).values()),
        "diverged": int(fresh != text) + rest_diverged,
        "killed_mid_burst": int(killed_mid_burst),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=60, help="tokens per provider per round")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals: Counter[str] = Counter()
    started = time.monotonic()
    pg, redis = PrivatePostgres(), PrivateRedis()
    pg.start()
    redis.start()
    try:
        database = pg.database()
        async with aiohttp.ClientSession() as http:
            for n in range(args.rounds):
                result = await one_round(rng, database, redis.url, args.tokens, http)
                totals.update(result)
                print(f"round {n + 1}: {result}", file=sys.stderr)
    finally:
        redis.stop()
        pg.stop()
    load = os.getloadavg()
    elapsed = time.monotonic() - started
    print(f"cluster crash rounds: {args.rounds} rounds, seed {args.seed}, {elapsed:.0f} s, "
          f"host load {load[0]:.2f} ({os.cpu_count()} cores)\n")  # fmt: skip
    print("| rounds | killed mid-burst | tokens typed | lost | duplicated | diverged |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {args.rounds} | {totals['killed_mid_burst']} | {totals['typed']} | "
          f"{totals['lost']} | {totals['duplicated']} | {totals['diverged']} |")  # fmt: skip
    return 1 if totals["lost"] or totals["duplicated"] or totals["diverged"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

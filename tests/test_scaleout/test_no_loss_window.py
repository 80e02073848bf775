"""No loss window across processes: a process killed mid-burst, Redis restarted mid-burst,
two processes loading one cold room at once. Every token any provider typed ends up in the
text exactly once (support/typed_tokens.py): nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack

import aiohttp
import pytest
from server_process import create_session
from support.cluster import Cluster, code_on, one_provider_each, ws_url
from support.failover import FailoverProxy
from support.node_client import NodeClient
from support.redis_server import PrivateRedis
from support.typed_tokens import assert_each_token_once, converged, type_tokens
from support.waiting import wait_until

pytestmark = pytest.mark.node


async def test_a_process_killed_mid_burst_loses_nothing_and_duplicates_nothing(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    servers = await cluster(3)
    sid = await create_session(http, servers[0])
    clients = ["a", "b", "c"]
    async with NodeClient.start() as node, AsyncExitStack() as stack:
        # each client's balancer sends it to its own process first, to the others after
        proxies = [
            await stack.enter_async_context(
                FailoverProxy([s.port for s in servers[i:] + servers[:i]])
            )
            for i in range(3)
        ]
        for client, proxy in zip(clients, proxies, strict=True):
            await node.connect(f"ws://127.0.0.1:{proxy.port}/ws/sessions", sid, client=client)
            await node.wait_synced(client=client)
        typing = [asyncio.create_task(type_tokens(node, c, 150, pause=0.02)) for c in clients]

        async def some_typed_on_the_victim() -> bool:
            return "<c:20>" in await code_on(http, servers[0], sid)

        await wait_until(some_typed_on_the_victim, timeout=20, what="c's typing")
        assert not all(task.done() for task in typing), "the typing ended before the kill"
        mark = node.mark()
        await servers[2].stop(signal.SIGKILL)
        await asyncio.gather(*typing)
        await node.wait_event("synced", client="c", synced=True, since=mark, timeout=20)
        text = await converged(node, clients)
        assert_each_token_once(text, {"a": 150, "b": 150, "c": 150})
        await node.connect(ws_url(servers[1]), sid, client="fresh")
        await node.wait_synced(client="fresh")
        assert await node.text(client="fresh") == text

        async def rest_has_it() -> bool:
            return {await code_on(http, s, sid) for s in servers[:2]} == {text}

        await wait_until(rest_has_it, timeout=10, what="REST on the surviving processes")


async def test_redis_lost_mid_burst_degrades_health_and_converges_without_reconnects(
    cluster: Cluster, http: aiohttp.ClientSession, redis_server: PrivateRedis
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first)
    async with NodeClient.start() as node:
        await one_provider_each(node, [first, second], sid, ["a", "b"])
        mark = node.mark()
        typing = [asyncio.create_task(type_tokens(node, c, 200, pause=0.02)) for c in ("a", "b")]
        await wait_until(lambda: "<b:30>" in _last_text(node, "a"), timeout=20, what="b's typing")
        redis_server.kill()  # every subscription and message in flight is gone

        async def redis_state() -> str:
            async with http.get(f"{second.url}/api/v1/health") as response:
                assert response.status == 200  # the process still serves
                body = await response.json()
                return f"{body['status']}/{body['redis']}"

        async def degraded() -> bool:
            return await redis_state() == "degraded/unavailable"

        await wait_until(degraded, timeout=10, what="health to say Redis is down")
        assert not all(task.done() for task in typing), "the typing ended while Redis was up"
        redis_server.start()
        await asyncio.gather(*typing)
        text = await converged(node, ["a", "b"])
        assert_each_token_once(text, {"a": 200, "b": 200})
        statuses = [e for e in node.events[mark:] if e.get("event") == "status"]
        assert all(e["status"] == "connected" for e in statuses), statuses

        async def relaying_again() -> bool:  # and the relay is back: a change arrives at once
            return await redis_state() == "ok/ok"

        await wait_until(relaying_again, timeout=20, what="the second process back on Redis")
        await node.insert(0, "<a:after>", client="a")
        await node.wait_text("<a:after>" + text, client="b", timeout=10)


def _last_text(node: NodeClient, client: str) -> str:
    """The newest text a provider reported (its text_changed events)."""
    for event in reversed(node.events):
        if event.get("event") == "text_changed" and event.get("client") == client:
            return str(event["text"])
    return ""


async def test_two_processes_loading_one_cold_room_while_it_is_edited_miss_nothing(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    servers = await cluster(3)
    sid = await create_session(http, servers[0], code="")
    async with NodeClient.start() as node:
        await node.connect(ws_url(servers[0]), sid, client="a")
        await node.wait_synced(client="a")
        typing = asyncio.create_task(type_tokens(node, "a", 120, pause=0.005))
        # two other processes load the room at once, while it is being typed into
        await asyncio.gather(
            node.connect(ws_url(servers[1]), sid, client="b"),
            node.connect(ws_url(servers[2]), sid, client="c"),
        )
        await asyncio.gather(*(node.wait_synced(client=c) for c in ("b", "c")))
        assert not typing.done(), "the typing ended before the loads"
        await asyncio.gather(type_tokens(node, "b", 20), type_tokens(node, "c", 20), typing)
        text = await converged(node, ["a", "b", "c"])
        assert_each_token_once(text, {"a": 120, "b": 20, "c": 20})

"""Sessions shared by several server processes on one PostgreSQL and one Redis: stock
y-websocket providers on different processes edit one document and converge, REST on any
process sees it all, and cursors cross processes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from json_ws import JsonWs
from server_process import create_session
from support.cluster import Cluster, code_on, names_seen, one_provider_each, ws_url
from support.node_client import NodeClient
from support.typed_tokens import converged
from support.waiting import wait_until

pytestmark = pytest.mark.node


async def test_providers_on_three_processes_converge_with_a_fresh_joiner_and_rest(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    servers = await cluster(3)
    sid = await create_session(http, servers[0], code="start\n")
    names = ["a", "b", "c"]
    async with NodeClient.start() as node:
        await one_provider_each(node, servers, sid, names)
        typing = [
            node.random_edits(120, seed=i, max_delay_ms=5, client=name)
            for i, name in enumerate(names)
        ]
        await asyncio.gather(*typing)
        text = await converged(node, names)
        await node.connect(ws_url(servers[1]), sid, client="fresh")
        await node.wait_synced(client="fresh")
        assert await node.text(client="fresh") == text

        async def rest_has_it() -> bool:  # each process's REST reads the same
            return {await code_on(http, server, sid) for server in servers} == {text}

        await wait_until(rest_has_it, timeout=10, what="REST on every process")


async def test_a_rest_write_on_a_process_without_the_room_reaches_the_providers(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first)
    async with NodeClient.start() as node:
        await node.connect(ws_url(first), sid)
        await node.wait_synced()
        await node.insert(0, "typed on the first\n")

        async def second_reads_it() -> bool:  # a REST writer reads what it changes first
            return await code_on(http, second, sid) == "typed on the first\n"

        await wait_until(second_reads_it, timeout=10, what="the typing, read on the second")
        async with http.put(
            f"{second.url}/api/v1/sessions/{sid}/code",
            json={"code": "typed on the first\nwritten on the second\n"},
        ) as response:
            assert response.status == 200, await response.text()
        await node.wait_text("typed on the first\nwritten on the second\n", timeout=10)


async def test_cursors_cross_processes_and_vanish_when_their_socket_closes(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first)
    async with NodeClient.start() as node:
        await node.connect(ws_url(first), sid, client="ada")
        await node.wait_synced(client="ada")
        await node.awareness_set({"user": {"name": "Ada"}}, client="ada")
        await node.connect(ws_url(second), sid, client="cy")
        await node.wait_synced(client="cy")

        async def cy_sees_ada() -> bool:
            return "Ada" in await names_seen(node, "cy")

        # Cy joined after Ada set her state: the second process asked the first for it
        await wait_until(cy_sees_ada, timeout=10, what="Ada's cursor on the second process")
        await node.awareness_set({"user": {"name": "Cy"}}, client="cy")

        async def ada_sees_cy() -> bool:
            return "Cy" in await names_seen(node, "ada")

        await wait_until(ada_sees_cy, timeout=10, what="Cy's cursor on the first process")
        await node.destroy(client="ada")

        async def ada_gone() -> bool:
            return not await cy_sees_ada()

        await wait_until(ada_gone, timeout=10, what="Ada's cursor to vanish on the other process")


async def test_a_json_client_on_one_process_follows_a_provider_on_another(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first, code="")
    watcher = await JsonWs.connect(http, f"{ws_url(second)}/{sid}?protocol=json")
    await watcher.expect("code_change")  # the code as it is, first
    async with NodeClient.start() as node:
        await node.connect(ws_url(first), sid)
        await node.wait_synced()
        await node.insert(0, "typed on the first process")
        await watcher.expect(
            "code_change", lambda d: d["code"] == "typed on the first process", timeout=10
        )
        await watcher.send("code_change", {"code": "typed on the first process, and answered"})
        await node.wait_text("typed on the first process, and answered", timeout=10)
    await watcher.ws.close()


@pytest.mark.sandbox
async def test_a_run_on_one_process_shows_in_the_room_on_another(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first, code="print(6 * 7)\n", language="python")
    async with NodeClient.start() as node:
        await node.connect(ws_url(second), sid)  # the room is loaded on the second process
        await node.wait_synced()
        async with http.post(f"{first.url}/api/v1/sessions/{sid}/execute", json={}) as response:
            assert response.status == 200, await response.text()

        async def runs_on_the_second() -> list[dict[str, object]]:
            async with http.get(f"{second.url}/api/v1/sessions/{sid}/runs") as response:
                return list((await response.json())["data"])

        runs = await wait_until(runs_on_the_second, timeout=20, what="the run, on the second")
        assert runs[-1]["stdout"] == "42\n", runs

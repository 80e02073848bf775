"""A closed socket's objects are freed when it closes, not at the next full cycle collection.

What a socket holds (its aiohttp request and response, its transport and buffers,
the room's peer) lives until nothing refers to it. If any of it is caught in a reference
cycle, it waits for Python's oldest-generation collection, which on a busy server runs
minutes apart: a soak at 200 clients held every socket closed since the last one (about
120 000 objects, 9 MB of heap) and RSS rose to that high-water. So these tests
run with the cycle collector off and require the objects gone by reference counting alone.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web, web_protocol
from json_ws import JsonWs
from raw_client import RawClient
from support.app_client import Client
from support.waiting import wait_until

from crdt_server.gate import ConnectionGate, _Gated
from crdt_server.ws import Outbox


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _alive(kind: type) -> int:
    """Objects of ``kind`` the interpreter still tracks, garbage in cycles included."""
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


async def _session_url(api: Client) -> str:
    response = await api.post("/api/v1/sessions", json={"code": "hello"})
    sid = (await response.json())["data"]["id"]
    return str(api.make_url(f"/ws/sessions/{sid}"))


@pytest.mark.usefixtures("no_cycle_collector")
async def test_a_closed_yjs_socket_leaves_no_server_objects_for_the_cycle_collector(
    api: Client, http: aiohttp.ClientSession
) -> None:
    url = await _session_url(api)
    for _ in range(3):
        client = await RawClient.connect(http, url)
        await client.handshake()
        await client.edit(0, "x")
        await client.ws.close()
    await wait_until(lambda: _alive(Outbox) == 0 and _alive(web.WebSocketResponse) == 0)


@pytest.mark.usefixtures("no_cycle_collector")
async def test_a_closed_json_socket_leaves_no_server_objects_for_the_cycle_collector(
    api: Client, http: aiohttp.ClientSession
) -> None:
    url = await _session_url(api)
    for _ in range(3):
        client = JsonWs(await http.ws_connect(url + "?protocol=json"))
        await client.send("code_change", {"code": "hello!"})
        await client.expect("code_change")  # the state on joining
        await client.ws.close()
    await wait_until(lambda: _alive(Outbox) == 0 and _alive(web.WebSocketResponse) == 0)


@pytest.mark.usefixtures("no_cycle_collector")
async def test_a_closed_connection_leaves_no_gate_objects_for_the_cycle_collector() -> None:
    async def hello(_: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text="hi")

    server = web.Server(hello)
    gate = ConnectionGate(server, per_address=10, total=10)
    listening = await asyncio.get_running_loop().create_server(gate, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                url = f"http://127.0.0.1:{port}/"
                async with http.get(url, headers={"Connection": "close"}) as response:
                    assert await response.text() == "hi"
        await wait_until(lambda: _alive(_Gated) == 0 and _alive(web_protocol.RequestHandler) == 0)
    finally:
        listening.close()
        await server.shutdown()

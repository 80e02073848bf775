"""Live collaboration with the stock y-websocket provider (Node) against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pycrdt import Doc, Provider, Text
from pycrdt_channel import ClientChannel
from support.app_client import ClientFactory
from support.node_client import NodeClient
from support.waiting import wait_until

from rest.keys import LIVE

pytestmark = pytest.mark.node
Client = TestClient[web.Request, web.Application]


def ws_base(api: Client) -> str:
    return str(api.make_url("/ws/sessions")).replace("http://", "ws://")


async def new_session(api: Client, code: str = "") -> str:
    response = await api.post("/api/v1/sessions", json={"code": code, "language": "python"})
    return str((await response.json())["data"]["id"])


async def rest_code(api: Client, sid: str) -> str:
    return str((await (await api.get(f"/api/v1/sessions/{sid}")).json())["data"]["code"])


async def converged(node: NodeClient, names: list[str], api: Client, sid: str) -> str:
    """Wait until every client and the server hold the same text; return it."""

    async def same() -> str | None:
        texts = {await node.text(client=name) for name in names}
        server = await rest_code(api, sid)
        return server if texts == {server} else None

    return await wait_until(same, timeout=20, what="convergence")


async def test_two_clients_converge_after_concurrent_random_edits(api: Client) -> None:
    sid = await new_session(api, "seed\n")
    alphabet = "xyz é😀🎉\n"  # multi-byte and surrogate-pair characters, typed and deleted
    async with NodeClient.start() as node:
        for name in ("alice", "bob"):
            await node.connect(ws_base(api), sid, client=name)
            await node.wait_synced(client=name)
        await asyncio.gather(
            node.random_edits(200, seed=1, max_delay_ms=3, alphabet=alphabet, client="alice"),
            node.random_edits(200, seed=2, max_delay_ms=3, alphabet=alphabet, client="bob"),
        )
        text = await converged(node, ["alice", "bob"], api, sid)
    assert len(text) > 50
    text.encode("utf-8")  # raises on a lone surrogate: no pair was split


async def test_ten_clients_converge_after_concurrent_random_edits(api: Client) -> None:
    sid = await new_session(api)
    names = [f"c{i}" for i in range(10)]
    async with NodeClient.start() as node:
        for name in names:
            await node.connect(ws_base(api), sid, client=name)
        for name in names:
            await node.wait_synced(client=name)
        await asyncio.gather(
            *(node.random_edits(40, seed=i, max_delay_ms=5, client=n) for i, n in enumerate(names))
        )
        await converged(node, names, api, sid)


async def test_offline_edits_on_both_sides_merge_on_reconnect(api: Client) -> None:
    sid = await new_session(api, "line1\nline2\n")
    async with NodeClient.start() as node:
        for name in ("alice", "bob"):
            await node.connect(ws_base(api), sid, client=name)
            await node.wait_synced(client=name)
        for name in ("alice", "bob"):
            mark = node.mark()
            await node.disconnect(client=name)
            await node.wait_event("status", since=mark, client=name, status="disconnected")
        await node.insert(0, "A:", client="alice")
        await node.insert(12, "B!", client="bob")
        assert await node.text(client="alice") == "A:line1\nline2\n"  # really offline
        await node.reconnect(client="alice")
        await node.reconnect(client="bob")
        text = await converged(node, ["alice", "bob"], api, sid)
    assert text == "A:line1\nline2\nB!"


async def test_a_joiner_sees_present_awareness_at_once_and_a_killed_client_vanishes(
    api: Client,
) -> None:
    sid = await new_session(api)
    async with NodeClient.start() as doomed, NodeClient.start() as watcher:
        doomed_id = await doomed.connect(ws_base(api), sid, awareness={"user": {"name": "Ada"}})
        await doomed.wait_synced()
        watcher_id = await watcher.connect(ws_base(api), sid, awareness={"user": {"name": "Bo"}})
        await watcher.wait_synced()

        async def sees_ada() -> bool:
            return (await watcher.awareness()).get(doomed_id) == {"user": {"name": "Ada"}}

        await wait_until(sees_ada, timeout=2, what="the present state on join")
        await wait_until(
            lambda: _has(doomed, watcher_id), timeout=2, what="the joiner at the first client"
        )
        await doomed.kill()

        async def ada_gone() -> bool:
            return doomed_id not in await watcher.awareness()

        await wait_until(ada_gone, timeout=5, what="the killed client's removal")


async def _has(node: NodeClient, client_id: int) -> bool:
    return client_id in await node.awareness()


async def test_an_awareness_state_set_while_connected_reaches_the_other_client(
    api: Client,
) -> None:
    sid = await new_session(api)
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), sid, client="alice")
        bob_id = await node.connect(ws_base(api), sid, client="bob")
        for name in ("alice", "bob"):
            await node.wait_synced(client=name)
        state = {"user": {"name": "bob", "color": "#f00"}, "cursor": {"anchor": 3}}
        await node.awareness_set(state, client="bob")

        async def alice_sees_bob() -> bool:
            return (await node.awareness(client="alice")).get(bob_id) == state

        await wait_until(alice_sees_bob, timeout=10, what="bob's awareness at alice")


async def test_a_rest_write_during_live_edits_merges_with_them(api: Client) -> None:
    sid = await new_session(api, "def f():\n    return 1\n\nprint(f())\n")
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), sid)
        await node.wait_synced()
        await node.disconnect()  # an edit in flight: the server has not seen it yet
        await node.insert(0, "# typed live\n")
        response = await api.patch(
            f"/api/v1/sessions/{sid}",
            json={"code": "def f():\n    return 2\n\nprint(f())\n", "language": "javascript"},
        )
        assert response.status == 200
        await node.reconnect()
        text = await converged(node, ["main"], api, sid)
        assert text == "# typed live\ndef f():\n    return 2\n\nprint(f())\n"
        assert (await node.meta())["language"] == "javascript"


async def test_a_language_set_by_a_client_is_the_rest_language(api: Client) -> None:
    sid = await new_session(api)
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), sid)
        await node.wait_synced()
        await node.set_meta("language", "typescript")

        async def rest_language() -> bool:
            body = await (await api.get(f"/api/v1/sessions/{sid}")).json()
            return bool(body["data"]["language"] == "typescript")

        await wait_until(rest_language, timeout=5, what="the REST language")


async def test_fifty_clients_joining_a_new_room_at_once_all_sync(api: Client) -> None:
    sid = await new_session(api, "hello")
    names = [f"c{i}" for i in range(50)]
    async with NodeClient.start() as node:
        await asyncio.gather(*(node.connect(ws_base(api), sid, client=n) for n in names))
        await asyncio.gather(*(node.wait_synced(timeout=20, client=n) for n in names))
        texts = await asyncio.gather(*(node.text(client=n) for n in names))
    assert set(texts) == {"hello"}


async def test_deleting_a_session_closes_its_sockets_with_4410_and_frees_the_room(
    api: Client,
) -> None:
    sid = await new_session(api)
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), sid)
        await node.wait_synced()
        mark = node.mark()
        assert (await api.delete(f"/api/v1/sessions/{sid}")).status == 204
        closed = await node.wait_event("closed", since=mark)
        assert closed["code"] == 4410 and closed["reason"]
    assert sid not in api.app[LIVE].rooms.rooms


@pytest.mark.parametrize(
    ("room", "code"), [("0123abcd", 4404), ("NOT-AN-ID", 4400), ("a/b/c", 4400)]
)
async def test_a_refused_room_closes_with_a_permanent_44xx_code(
    api: Client, room: str, code: int
) -> None:
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), room)
        closed = await node.wait_event("closed")
    assert closed["code"] == code and closed["reason"]


async def test_an_expired_session_closes_with_4410(make_client: ClientFactory) -> None:
    api = await make_client(session_ttl_seconds=0.3, cleanup_interval_seconds=3600)
    sid = await new_session(api)

    async def expired() -> bool:
        return (await api.get(f"/api/v1/sessions/{sid}")).status == 410

    await wait_until(expired, timeout=5, what="expiry")
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), sid)
        closed = await node.wait_event("closed")
    assert closed["code"] == 4410


async def test_a_pycrdt_provider_edits_beside_node_clients(api: Client) -> None:
    sid = await new_session(api, "shared\n")
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    async with aiohttp.ClientSession() as http, NodeClient.start() as node:
        ws = await http.ws_connect(ws_base(api) + "/" + sid)
        async with Provider(doc, ClientChannel(ws, sid)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 5)
            await node.connect(ws_base(api), sid)
            await node.wait_synced()
            text.insert(len(text), "from python\n")
            await node.wait_text("shared\nfrom python\n")
            await node.insert(0, "from node\n")

            async def python_sees_node() -> bool:
                return str(text) == "from node\nshared\nfrom python\n"

            await wait_until(python_sees_node, timeout=5, what="the Node edit in pycrdt")
            await ws.close()
    assert await rest_code(api, sid) == "from node\nshared\nfrom python\n"


async def test_an_active_room_takes_timed_history_snapshots(make_client: ClientFactory) -> None:
    api = await make_client(history_interval_seconds=0.2)
    sid = await new_session(api, "v1")
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), sid)
        await node.wait_synced()
        await node.insert(2, " then v2")

        async def snapshots() -> list[Any]:
            body = await (await api.get(f"/api/v1/sessions/{sid}/history")).json()
            return list(body["data"])

        history = await wait_until(snapshots, timeout=5, what="a timed snapshot")
        assert sid in api.app[LIVE].rooms.rooms  # taken while the room is live, not at unload
    first = await (await api.get(f"/api/v1/sessions/{sid}/history/{history[0]['n']}")).json()
    assert first["data"]["code"] == "v1 then v2" and first["data"]["language"] == "python"

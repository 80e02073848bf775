"""The y-websocket protocol as the server speaks it, checked frame by frame."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from raw_client import RawClient
from support.app_client import ClientFactory
from support.waiting import wait_until

from crdt_server import protocol
from crdt_server.awareness import encode_update
from crdt_server.protocol import MessageType, SyncType
from rest.keys import LIVE

Client = TestClient[web.Request, web.Application]


async def room_url(api: Client, code: str = "") -> tuple[str, str]:
    response = await api.post("/api/v1/sessions", json={"code": code})
    sid = (await response.json())["data"]["id"]
    return sid, str(api.make_url(f"/ws/sessions/{sid}"))


async def test_with_protocol_yjs_the_server_opens_with_its_sync_step_1(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api, "hello")
    client = await RawClient.connect(http, url + "?protocol=yjs")
    first = await client.message()
    assert (first.type, first.subtype) == (MessageType.SYNC, SyncType.STEP1)
    await client.handshake()
    assert str(client.text) == "hello"


async def test_a_binary_first_frame_selects_yjs_and_is_answered_with_step_1_and_step_2(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api, "hello")
    client = await RawClient.connect(http, url, autoping=False)
    assert await client.frames_before_pong() == []  # nothing before the client speaks
    await client.ws.send_bytes(protocol.sync_step1(client.doc.get_state()))
    first, second = await client.message(), await client.message()
    assert (first.subtype, second.subtype) == (SyncType.STEP1, SyncType.STEP2)
    client.doc.apply_update(second.payload)
    assert str(client.text) == "hello"


async def test_an_update_reaches_the_others_once_as_the_same_bytes_and_not_the_sender(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api)
    sender, receiver = await RawClient.connect(http, url), await RawClient.connect(http, url)
    await sender.handshake()
    await receiver.handshake()
    sent = await sender.edit(0, "x")
    assert await receiver.frame() == sent
    assert await sender.handshake() == []  # answered in order: no echo was queued before
    assert await receiver.handshake() == []  # nor a second copy
    assert str(receiver.text) == "x"


async def test_a_client_gets_no_update_before_its_handshake_is_answered(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api, "base")
    writer = await RawClient.connect(http, url)
    await writer.handshake()
    late = await RawClient.connect(http, url + "?protocol=yjs")
    step1 = await late.message()
    assert step1.subtype == SyncType.STEP1
    await writer.edit(0, "early ")
    assert await writer.handshake() == []  # the server has applied (and fanned out) the edit
    assert await late.handshake() == []  # nothing until it sent its own step 1
    assert str(late.text) == "early base"
    await writer.edit(0, "later ")
    late.doc.apply_update((await late.message()).payload)
    assert str(late.text) == "later early base"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x00\x02\xff", 1007),  # truncated varuint
        (b"\x00\x02\x05ab", 1007),  # payload shorter than its length
        (b"\x00\x02\x03\xff\xff\xff", 1007),  # not a Yjs update
        (b"\x07\x00", 1003),  # unknown message type
        (b"\x00\x09\x00", 1003),  # unknown sync message
        (b"\x01\x05\x01\x01", 1007),  # truncated awareness
        (b"", 1007),  # empty frame
    ],
)
async def test_a_bad_frame_closes_only_its_socket_and_the_room_goes_on(
    api: Client, http: aiohttp.ClientSession, frame: bytes, code: int
) -> None:
    sid, url = await room_url(api)
    good, bad = await RawClient.connect(http, url), await RawClient.connect(http, url)
    await good.handshake()
    await bad.handshake()
    await bad.ws.send_bytes(frame)
    closed, reason = await bad.close_code()
    assert closed == code and reason
    other = await RawClient.connect(http, url)
    await other.handshake()
    await other.edit(0, "still fine")
    good.doc.apply_update((await good.message()).payload)
    assert str(good.text) == "still fine"
    assert len(api.app[LIVE].rooms.rooms[sid].peers) == 2


async def test_a_text_frame_on_a_yjs_socket_is_refused_with_1003(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api)
    client = await RawClient.connect(http, url)
    await client.handshake()
    await client.ws.send_str("hello")
    assert (await client.close_code())[0] == 1003


async def test_a_frame_over_the_size_limit_is_refused_with_1009(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(max_message_bytes=4096)
    _, url = await room_url(api)
    client = await RawClient.connect(http, url)
    await client.handshake()
    await client.edit(0, "y" * 10_000)
    assert (await client.close_code())[0] == 1009


async def test_a_frame_no_document_could_hold_is_refused_from_its_header(
    api: Client,
) -> None:
    sid, _ = await room_url(api)
    reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
    writer.write(
        f"GET /ws/sessions/{sid} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    assert b" 101 " in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    # a binary frame announcing 16 MiB (twice --max-document-bytes), its payload never sent
    writer.write(b"\x82\xff" + (16 * 1024 * 1024).to_bytes(8, "big") + b"\x00\x00\x00\x00")
    try:
        close = await asyncio.wait_for(reader.readexactly(4), 5)
        assert close[0] == 0x88 and int.from_bytes(close[2:4], "big") == 1009
    finally:
        writer.close()


async def test_a_large_document_syncs_beyond_aiohttps_default_4_mib(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api)
    writer = await RawClient.connect(http, url, max_msg_size=0)
    await writer.handshake()
    await writer.edit(0, "z" * (5 * 1024 * 1024))
    reader = await RawClient.connect(http, url, max_msg_size=0)

    async def synced() -> bool:
        await reader.handshake()
        return len(str(reader.text)) == 5 * 1024 * 1024

    await wait_until(synced, timeout=20, what="the 5 MiB document")


def awareness_frame(client_id: int, clock: int, state: str) -> bytes:
    return protocol.awareness_message(encode_update([(client_id, clock, state)]))


async def test_a_joiner_gets_every_present_awareness_state_and_leavers_are_removed(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api)
    first = await RawClient.connect(http, url)
    await first.handshake()
    await first.ws.send_bytes(awareness_frame(11, 1, '{"user":"a"}'))
    assert (await first.message()).type == MessageType.AWARENESS  # echoed: a keep-alive
    second = await RawClient.connect(http, url + "?protocol=yjs")
    await second.message()  # step 1
    joined = await second.message()
    assert joined.type == MessageType.AWARENESS and b'{"user":"a"}' in joined.payload
    await first.ws.close()
    removal = await second.message()
    assert removal.type == MessageType.AWARENESS
    assert removal.payload == encode_update([(11, 1, "null")])


async def test_a_reconnecting_client_with_an_unchanged_clock_is_visible_again(
    api: Client, http: aiohttp.ClientSession
) -> None:
    _, url = await room_url(api)
    watcher = await RawClient.connect(http, url)
    await watcher.handshake()
    client = await RawClient.connect(http, url)
    await client.ws.send_bytes(awareness_frame(42, 3, '{"n":1}'))
    await watcher.message()
    await client.ws.close()
    assert (await watcher.message()).payload == encode_update([(42, 3, "null")])
    again = await RawClient.connect(http, url)
    await again.ws.send_bytes(awareness_frame(42, 3, '{"n":1}'))  # y-websocket resends as is
    revived = await watcher.message()
    assert revived.payload == encode_update([(42, 4, '{"n":1}')])  # peers accept a newer clock


async def test_a_peer_that_stops_answering_pings_is_dropped_and_its_cursor_removed(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(heartbeat_seconds=0.3)
    _, url = await room_url(api)
    watcher = await RawClient.connect(http, url)
    await watcher.handshake()
    dead = await RawClient.connect(http, url, autoping=False)
    await dead.ws.send_bytes(awareness_frame(7, 1, '{"user":"ghost"}'))
    await watcher.message()

    async def removed() -> bool:
        message = await watcher.message(timeout=5)
        return message.payload == encode_update([(7, 1, "null")])

    await wait_until(removed, timeout=5, what="the dead peer's removal")


async def test_an_idle_room_is_flushed_and_unloaded_after_the_grace_time(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, url = await room_url(api)
    client = await RawClient.connect(http, url)
    await client.handshake()
    await client.edit(0, "persist me")
    await client.ws.close()
    rooms = api.app[LIVE].rooms

    async def unloaded() -> bool:
        return sid not in rooms.rooms

    await wait_until(unloaded, timeout=5, what="the unload")
    stored = await rooms.storage.load_document(sid)
    assert len(stored.updates) == 1  # one entry past the snapshot loads as fast as a fold
    assert (await api.get(f"/api/v1/sessions/{sid}/history")).status == 200
    history = (await (await api.get(f"/api/v1/sessions/{sid}/history")).json())["data"]
    assert len(history) == 1 and history[0]["size"] == len("persist me")
    snapshot = await (await api.get(f"/api/v1/sessions/{sid}/history/1")).json()
    assert snapshot["data"]["code"] == "persist me"


async def test_fifty_raw_sockets_joining_one_new_room_share_one_load(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, url = await room_url(api, "x")
    rooms = api.app[LIVE].rooms

    async def unloaded() -> bool:  # creating the session over REST loaded it
        return sid not in rooms.rooms

    await wait_until(unloaded, timeout=5, what="the unload")
    loads = 0
    original = rooms.storage.load_document

    async def counting(session_id: str) -> Any:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)  # widen the window for a racing second load
        return await original(session_id)

    rooms.storage.load_document = counting  # type: ignore[method-assign]
    clients = await asyncio.gather(*(RawClient.connect(http, url) for _ in range(50)))
    await asyncio.gather(*(c.handshake() for c in clients))
    assert loads == 1 and all(str(c.text) == "x" for c in clients)

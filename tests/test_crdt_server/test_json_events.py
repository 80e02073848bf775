"""Seed-000 JSON clients beside stock Yjs clients in one room, and presence."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from json_ws import JsonWs
from raw_client import RawClient
from support.app_client import ClientFactory
from support.node_client import NodeClient
from support.waiting import wait_until

from crdt_server import protocol
from crdt_server.awareness import encode_update
from rest.keys import LIVE

Client = TestClient[web.Request, web.Application]


async def session_with(api: Client, code: str = "", users: int = 0) -> tuple[str, list[str]]:
    response = await api.post("/api/v1/sessions", json={"code": code, "language": "python"})
    sid = (await response.json())["data"]["id"]
    ids = []
    for i in range(users):
        await api.post(
            f"/api/v1/sessions/{sid}/join", json={"user": {"id": f"u{i}", "name": f"U{i}"}}
        )
        ids.append(f"u{i}")
    return sid, ids


def ws_url(api: Client, sid: str, query: str = "") -> str:
    return str(api.make_url(f"/ws/sessions/{sid}")) + query


async def json_client(
    api: Client, http: aiohttp.ClientSession, sid: str, query: str = ""
) -> JsonWs:
    return await JsonWs.connect(http, ws_url(api, sid, query or "?protocol=json"))


async def rest_code(api: Client, sid: str) -> str:
    return str((await (await api.get(f"/api/v1/sessions/{sid}")).json())["data"]["code"])


async def test_a_json_client_first_receives_the_full_code_and_the_language(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api, "print('hi')\n")
    client = await json_client(api, http, sid)
    code = await client.expect("code_change")
    language = await client.expect("language_change")
    assert code["data"]["code"] == "print('hi')\n" and isinstance(code["data"]["timestamp"], int)
    assert language["data"]["language"] == "python"
    assert client.events.index(code) < client.events.index(language)


async def test_a_text_first_frame_selects_json_without_any_query(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api, "a")
    client = await JsonWs.connect(http, ws_url(api, sid))
    await client.send("code_change", {"code": "ab"})
    await client.expect("code_change", lambda d: d["code"] == "a")
    await wait_until(lambda: _equals(rest_code(api, sid), "ab"), timeout=5, what="the JSON edit")
    assert client.binary_frames == 0


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


@pytest.mark.node
async def test_json_and_yjs_edits_reach_each_other(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api, "x = 1\n")
    client = await json_client(api, http, sid)
    await client.expect("code_change")
    async with NodeClient.start() as node:
        await node.connect(str(api.make_url("/ws/sessions")).replace("http", "ws"), sid)
        await node.wait_synced()
        await node.insert(0, "# yjs\n")
        event = await client.expect("code_change", lambda d: d["code"] == "# yjs\nx = 1\n")
        assert event["data"]["userId"] is None
        await client.send("code_change", {"code": "# yjs\nx = 1\ny = 2\n"})
        await node.wait_text("# yjs\nx = 1\ny = 2\n")
        await client.send("language_change", {"language": "typescript"})
        await wait_until(lambda: _meta_language(node, "typescript"), timeout=5, what="language")
        await node.set_meta("language", "go")
        await client.expect("language_change", lambda d: d["language"] == "go")


async def _meta_language(node: NodeClient, language: str) -> bool:
    return (await node.meta()).get("language") == language


async def test_a_stale_base_code_change_does_not_revert_edits_it_had_not_seen(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api, "line1\nline2\nline3\n")
    client = await json_client(api, http, sid)
    await client.expect("code_change")
    yjs = await RawClient.connect(http, ws_url(api, sid))
    await yjs.handshake()
    await yjs.edit(0, "EDITED ")
    # Our code_change with the edit crosses the client's next text, based on the old one.
    await client.expect("code_change", lambda d: d["code"].startswith("EDITED"))
    await client.send("code_change", {"code": "line1\nline2\nline3 changed\n"})

    async def merged() -> bool:
        return await rest_code(api, sid) == "EDITED line1\nline2\nline3 changed\n"

    await wait_until(merged, timeout=5, what="a merge without revert")
    await client.expect(
        "code_change", lambda d: d["code"] == "EDITED line1\nline2\nline3 changed\n"
    )


async def test_a_json_writer_typing_a_counter_shows_each_of_its_texts_and_nothing_else(
    api: Client, http: aiohttp.ClientSession
) -> None:
    """Each text is made from the writer's previous one, never from the version it was
    sent on joining, though 'v = 0' differs less from 'v = 10' than 'v = 9' does."""
    sid, _ = await session_with(api, "v = 0\n")
    writer = await json_client(api, http, sid)
    await writer.expect("code_change")
    room = api.app[LIVE].rooms.rooms[sid]
    for i in range(1, 40):
        before, text = room.code, f"v = {i}\n"
        await writer.send("code_change", {"code": text})

        async def applied(before: str = before, text: str = text) -> bool:
            assert room.code in (before, text), f"{room.code!r} after writing {text!r}"
            return room.code == text

        await wait_until(applied, timeout=5, what=text)
    assert not [e for e in writer.events if e["type"] == "code_change"][1:], "no merge to echo"


@pytest.mark.node
async def test_concurrent_json_and_yjs_edits_in_different_places_both_survive(
    api: Client, http: aiohttp.ClientSession
) -> None:
    lines = [f"line {i}\n" for i in range(20)]
    sid, _ = await session_with(api, "".join(lines))
    client = await json_client(api, http, sid)
    await client.expect("code_change")
    async with NodeClient.start() as node:
        await node.connect(str(api.make_url("/ws/sessions")).replace("http", "ws"), sid)
        await node.wait_synced()
        local, mark = "".join(lines), client.mark()
        for i in range(10):  # a JSON editor appends at the end, Yjs types at the top
            received = [e for e in client.events[mark:] if e["type"] == "code_change"]
            local, mark = (received[-1]["data"]["code"] if received else local), client.mark()
            local += f"json {i}\n"
            await asyncio.gather(
                client.send("code_change", {"code": local}), node.insert(0, f"yjs {i}\n")
            )
            await asyncio.sleep(0.01 * (i % 3))  # vary how often the two cross on the wire
        top = [f"yjs {i}\n" for i in reversed(range(10))]
        appended = {f"json {i}\n" for i in range(10)}

        def merged(text: str) -> bool:
            """Every edit once: the Yjs lines on top in order, then the original lines, then
            the JSON appends (their order is arbitrary when the client re-based its text on
            a code_change that crossed its own on the wire)."""
            got = text.splitlines(keepends=True)
            head, middle, end = got[:10], got[10:30], got[30:]
            return head == top and middle == lines and sorted(end) == sorted(appended)

        async def both() -> bool:
            rest, yjs = await rest_code(api, sid), await node.text()
            return rest == yjs and merged(rest)

        await wait_until(both, timeout=10, what="both sets of edits")
        final = await rest_code(api, sid)
        await client.expect("code_change", lambda d: d["code"] == final)


async def test_code_changes_are_coalesced_and_end_with_the_latest_text(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api)
    client = await json_client(api, http, sid)
    await client.expect("code_change")
    mark = client.mark()
    yjs = await RawClient.connect(http, ws_url(api, sid))
    await yjs.handshake()
    for i in range(40):
        await yjs.edit(i, "k")
    await client.expect("code_change", lambda d: d["code"] == "k" * 40, since=mark)
    updates = [e for e in client.events[mark:] if e["type"] == "code_change"]
    assert len(updates) < 20 and updates[-1]["data"]["code"] == "k" * 40


async def test_cursor_positions_flow_between_json_and_yjs_clients(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, (u0, u1) = await session_with(api, users=2)
    alice = await json_client(api, http, sid, f"?protocol=json&userId={u0}")
    bob = await json_client(api, http, sid, f"?protocol=json&userId={u1}")
    watcher = await RawClient.connect(http, ws_url(api, sid, "?protocol=yjs"))
    await alice.send("cursor_position", {"position": {"lineNumber": 3, "column": 7}, "userId": u0})
    moved = await bob.expect("cursor_position")
    assert moved["data"]["position"] == {"lineNumber": 3, "column": 7}
    assert moved["data"]["userId"] == u0
    while True:  # the Yjs client sees it as an awareness state with name and colour
        message = await watcher.message()
        if message.type == 1 and b'"cursor"' in message.payload:
            break
    assert b'"lineNumber":3' in message.payload and b'"name":"U0"' in message.payload
    state = '{"user":{"id":"y1","name":"Yan"},"cursor":{"lineNumber":9,"column":2}}'
    await watcher.ws.send_bytes(protocol.awareness_message(encode_update([(777, 1, state)])))
    seen = await alice.expect("cursor_position", lambda d: d["userId"] == "y1")
    assert seen["data"]["position"] == {"lineNumber": 9, "column": 2}
    assert not [
        e for e in alice.events if e["type"] == "cursor_position" and e["data"]["userId"] == u0
    ]


async def participant_online(api: Client, sid: str, user: str) -> bool:
    body = await (await api.get(f"/api/v1/sessions/{sid}/participants")).json()
    return bool(next(p for p in body["participants"] if p["id"] == user)["isOnline"])


async def test_presence_follows_sockets_and_is_announced_to_json_clients(
    api: Client, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    presence = api.app[LIVE].presence
    departed: list[str] = []
    depart = presence.depart

    async def recorded_depart(session_id: str, user_id: str) -> None:
        await depart(session_id, user_id)
        departed.append(user_id)  # after any "offline" it decided: the marker to wait for

    monkeypatch.setattr(presence, "depart", recorded_depart)
    sid, (u0, u1) = await session_with(api, users=2)
    observer = await json_client(api, http, sid, f"?protocol=json&userId={u0}")
    await observer.expect("code_change")  # sent once the seat is taken
    assert await participant_online(api, sid, u0)
    first = await json_client(api, http, sid, f"?protocol=json&userId={u1}")
    second = await RawClient.connect(http, ws_url(api, sid, f"?protocol=yjs&userId={u1}"))
    await second.message()
    joined = await observer.expect("user_join")
    assert joined["data"]["user"]["id"] == u1 and joined["data"]["user"]["name"] == "U1"
    await first.close()
    await wait_until(lambda: u1 in departed, timeout=5, what="the JSON socket's departure")
    assert await participant_online(api, sid, u1)  # the Yjs socket is still open
    patched = await api.patch(f"/api/v1/sessions/{sid}", json={"code": "after the departure"})
    assert patched.status == 200
    await observer.expect("code_change", lambda d: d["code"] == "after the departure")
    assert not [e for e in observer.events if e["type"] == "user_leave"]  # none queued before
    await second.ws.close()
    left = await observer.expect("user_leave")
    assert left["data"]["userId"] == u1
    assert not await participant_online(api, sid, u1)
    assert len([e for e in observer.events if e["type"] == "user_join"]) == 1


async def test_a_killed_connection_marks_its_participant_offline(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, (u0,) = await session_with(api, users=1)
    client = await json_client(api, http, sid, f"?protocol=json&userId={u0}")
    await client.expect("code_change")
    transport = client.ws._response.connection.transport  # type: ignore[union-attr]
    assert transport is not None
    transport.abort()  # no close frame: like a crashed tab
    await wait_until(
        lambda: _offline(api, sid, u0), timeout=5, what="the participant going offline"
    )


async def _offline(api: Client, sid: str, user: str) -> bool:
    return not await participant_online(api, sid, user)


async def test_a_seed_client_without_a_query_is_identified_by_its_first_event(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, (u0,) = await session_with(api, "a", users=1)
    client = await JsonWs.connect(http, ws_url(api, sid))
    await client.send("code_change", {"code": "ab", "userId": u0})
    await wait_until(lambda: participant_online(api, sid, u0), timeout=5, what="presence")
    await client.send("code_change", {"code": "abc", "userId": "someone-else"})
    error = await client.expect("error")
    assert error["data"]["code"] == "FORBIDDEN"


async def test_an_unknown_user_id_is_refused_with_4404(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api)
    for query in ["?protocol=json&userId=ghost", "?userId=ghost"]:
        client = await JsonWs.connect(http, ws_url(api, sid, query))
        assert await client.closed() == 4404


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "INVALID_JSON"),
        ('["code_change"]', "INVALID_EVENT"),
        ('{"type": "dance", "data": {}}', "UNKNOWN_TYPE"),
        ('{"type": "code_change", "data": {}}', "INVALID_EVENT"),
        ('{"type": "code_change", "data": {"code": 5}}', "INVALID_EVENT"),
        ('{"type": "language_change", "data": {"language": "cobol"}}', "INVALID_EVENT"),
        (
            '{"type": "cursor_position", "data": {"position": {"lineNumber": 0, "column": 1}}}',
            "INVALID_EVENT",
        ),
        ('{"type": "code_change", "data": {"code": "x", "userId": "u9"}}', "FORBIDDEN"),
    ],
)
async def test_bad_input_gets_an_error_event_applies_nothing_and_keeps_the_socket(
    api: Client, http: aiohttp.ClientSession, raw: str, code: str
) -> None:
    sid, (u0,) = await session_with(api, "keep", users=1)
    client = await json_client(api, http, sid, f"?protocol=json&userId={u0}")
    await client.ws.send_str(raw)
    error = await client.expect("error")
    assert error["data"]["code"] == code and error["data"]["message"]
    assert await rest_code(api, sid) == "keep"
    await client.send("code_change", {"code": "kept alive"})
    await wait_until(lambda: _equals(rest_code(api, sid), "kept alive"), timeout=5, what="edit")


async def test_a_run_of_errors_closes_the_socket_with_1008(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(json_max_errors=3)
    sid, _ = await session_with(api)
    client = await json_client(api, http, sid)
    for _ in range(3):
        await client.ws.send_str("nope")
    assert await client.closed() == 1008


async def test_an_oversized_json_frame_is_refused_with_1009(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(max_message_bytes=2048)
    sid, _ = await session_with(api)
    client = await json_client(api, http, sid)
    await client.send("code_change", {"code": "x" * 5000})
    assert await client.closed() == 1009


async def test_a_yjs_client_never_receives_a_text_frame(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, (u0,) = await session_with(api, users=1)
    yjs = await RawClient.connect(http, ws_url(api, sid, f"?protocol=yjs&userId={u0}"))
    json_side = await json_client(api, http, sid)
    await yjs.handshake()
    await json_side.send("code_change", {"code": "from json"})
    await json_side.send("cursor_position", {"position": {"lineNumber": 1, "column": 2}})
    kinds: list[aiohttp.WSMsgType] = []
    while len(kinds) < 2:  # the document update and the cursor, both binary
        message = await yjs.ws.receive(timeout=5)
        kinds.append(message.type)
    assert set(kinds) == {aiohttp.WSMsgType.BINARY}


async def test_a_json_clients_texts_in_a_row_end_exactly_as_its_last(
    api: Client, http: aiohttp.ClientSession
) -> None:
    sid, _ = await session_with(api)
    client = await json_client(api, http, sid)
    await client.expect("code_change")
    texts = [f"v {n}\n" for n in (1, 11, 12, 121, 1211, 2, 21, 211, 3)]
    for text in texts:  # each made from the one before; the older ones are superseded
        await client.send("code_change", {"code": text})

    async def last() -> bool:
        return await rest_code(api, sid) == texts[-1]

    await wait_until(last, what="exactly the last text")

"""Hostile JSON events get an error event, never a traceback, and never silence a room."""

from __future__ import annotations

import logging

import pytest
from json_ws import JsonWs
from raw_client import RawClient
from support.app_client import Client
from support.waiting import wait_until

from crdt_server import protocol
from crdt_server.awareness import encode_update


async def new_session(api: Client) -> str:
    response = await api.post("/api/v1/sessions", json={"code": "keep\n"})
    return str((await response.json())["data"]["id"])


async def json_client(api: Client, sid: str) -> JsonWs:
    client = await JsonWs.connect(
        api.session, str(api.make_url(f"/ws/sessions/{sid}?protocol=json"))
    )
    await client.expect("code_change")
    return client


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "code_change", "data": {"code": "\\ud800"}}',  # a lone surrogate
        "[" * 1000 + "]" * 1000,  # nested 1000 deep
        '{"type": "cursor_position", "data": {"position": {"lineNumber": 1e400, "column": 1}}}',
        '{"type": "cursor_position", "data": {"position": {"lineNumber": NaN, "column": 1}}}',
        '{"type": "cursor_position", "data": {"position": {"lineNumber": 99999999999, '
        '"column": 1}}}',
        '{"type": "code_change", "data": {"code": 5}}',
    ],
)
async def test_a_hostile_event_gets_an_error_event_and_the_socket_stays(
    api: Client, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    sid = await new_session(api)
    client = await json_client(api, sid)
    with caplog.at_level(logging.WARNING):
        await client.ws.send_str(frame)
        error = await client.expect("error")
        assert error["data"]["code"] in ("INVALID_JSON", "INVALID_EVENT")
        await client.send("code_change", {"code": "keep\nmore\n"})  # still served

        async def served() -> bool:  # the socket and REST are two connections: no order
            session = await (await api.get(f"/api/v1/sessions/{sid}")).json()
            return bool(session["data"]["code"] == "keep\nmore\n")

        await wait_until(served, what="the change sent after the hostile event")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await client.close()


async def test_a_hostile_awareness_state_never_silences_the_json_clients(api: Client) -> None:
    sid = await new_session(api)
    listener = await json_client(api, sid)
    for state in ('{"user":{"id":"\\ud800"},"cursor":{"lineNumber":1,"column":1}}',
                  '{"cursor":{"lineNumber":1e400,"column":1}}'):  # fmt: skip
        peer = await RawClient.connect(api.session, str(api.make_url(f"/ws/sessions/{sid}")))
        await peer.handshake()
        await peer.ws.send_bytes(protocol.awareness_message(encode_update([(9, 1, state)])))
        assert (await peer.close_code())[0] == 1007
    typist = await RawClient.connect(api.session, str(api.make_url(f"/ws/sessions/{sid}")))
    await typist.handshake()
    await typist.edit(0, "# after\n")
    await listener.expect("code_change", lambda d: d["code"] == "# after\nkeep\n")
    await listener.close()

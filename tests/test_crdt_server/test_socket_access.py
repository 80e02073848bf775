"""Sockets under --auth token: identity from the token, observers read-only on the wire,
revocations at once, origins checked; with the stock provider's ``params: {token}``."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from json_ws import JsonWs
from pycrdt import Doc, Provider, Text
from pycrdt_channel import ClientChannel
from raw_client import RawClient
from support.app_client import Client, ClientFactory
from support.node_client import NodeClient
from support.waiting import wait_until

from crdt_server import protocol

KEY = "the-key"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def secured(make_client: ClientFactory, **overrides: Any) -> Client:
    return await make_client(auth="token", api_keys=KEY, **overrides)


async def session_with_people(api: Client) -> dict[str, Any]:
    created = await api.post("/api/v1/sessions", json={"code": "start\n"}, headers=auth(KEY))
    body = (await created.json())["data"]
    people: dict[str, Any] = {"id": body["id"], "interviewer": body["tokens"]["interviewer"]}
    people["invites"] = body["tokens"]
    for role in ("candidate", "observer"):
        joined = await api.post(
            f"/api/v1/sessions/{body['id']}/join", json={}, headers=auth(body["tokens"][role])
        )
        data = (await joined.json())["data"]
        people[role] = data["token"]
        people[f"{role}_id"] = data["participants"][-1]["id"]
    return people


def ws_base(api: Client) -> str:
    return str(api.make_url("/ws/sessions")).replace("http", "ws")


def url(api: Client, sid: str, query: str = "") -> str:
    return f"{ws_base(api)}/{sid}{query}"


async def rest_code(api: Client, sid: str, token: str) -> str:
    response = await api.get(f"/api/v1/sessions/{sid}", headers=auth(token))
    return str((await response.json())["data"]["code"])


@pytest.mark.node
async def test_stock_providers_sync_with_their_tokens_and_an_observer_changes_nothing(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    async with NodeClient.start() as node:
        for who in ("interviewer", "candidate", "observer"):
            await node.connect(ws_base(api), s["id"], {"token": s[who]}, client=who)
            await node.wait_synced(client=who)
        await node.insert(0, "by candidate\n", client="candidate")
        await node.wait_text("by candidate\nstart\n", client="observer")  # it keeps receiving
        await node.insert(0, "by observer\n", client="observer")  # a local edit: refused
        await node.insert(0, "by interviewer\n", client="interviewer")
        final = "by interviewer\nby candidate\nstart\n"
        await node.wait_text(final, client="candidate")

        async def rest_has_final() -> bool:
            return await rest_code(api, s["id"], s["interviewer"]) == final

        await wait_until(rest_has_final, what="the writers' edits over REST")
        assert await node.text(client="interviewer") == final  # nothing of the observer's


@pytest.mark.node
@pytest.mark.parametrize("case", ["no token", "forged", "other session"])
async def test_a_stock_provider_without_a_valid_token_is_closed_for_good(
    make_client: ClientFactory, case: str
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    other = await session_with_people(api)
    params = {
        "no token": {},
        "forged": {"token": s["interviewer"][:-4] + "AAAA"},
        "other session": {"token": other["interviewer"]},
    }[case]
    expected = 4403 if case == "other session" else 4401
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), s["id"], params)
        closed = await node.wait_event("closed")
        assert closed["code"] == expected and closed["permanent"] is True


@pytest.mark.node
async def test_a_removed_participants_socket_closes_with_4401_and_stays_closed(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    async with NodeClient.start() as node:
        await node.connect(ws_base(api), s["id"], {"token": s["candidate"]})
        await node.wait_synced()
        mark = node.mark()
        removed = await api.delete(
            f"/api/v1/sessions/{s['id']}/participants/{s['candidate_id']}",
            headers=auth(s["interviewer"]),
        )
        assert removed.status == 204
        closed = await node.wait_event("closed", since=mark)
        assert closed["code"] == 4401 and closed["permanent"] is True


async def test_an_observer_socket_gets_permission_denied_once_and_stays_open(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    observer = await RawClient.connect(
        api.session, url(api, s["id"], f"?token={s['observer']}"), autoping=False
    )
    await observer.handshake()
    await observer.edit(0, "no\n")
    await observer.edit(0, "still no\n")
    frames = await wait_until(observer.frames_before_pong, what="the denial")
    assert frames == [protocol.permission_denied("read-only")]  # once, for both edits
    writer = await RawClient.connect(api.session, url(api, s["id"], f"?token={s['candidate']}"))
    await writer.handshake()
    sent = await writer.edit(0, "yes\n")
    assert await wait_until(observer.frames_before_pong) == [sent]  # still receiving
    assert await rest_code(api, s["id"], s["interviewer"]) == "yes\nstart\n"


async def test_a_rotated_invites_sockets_are_closed(make_client: ClientFactory) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    holder = await RawClient.connect(
        api.session, url(api, s["id"], f"?token={s['invites']['observer']}")
    )
    await holder.handshake()
    rotated = await api.post(
        f"/api/v1/sessions/{s['id']}/invites/rotate",
        json={"role": "observer"},
        headers=auth(s["interviewer"]),
    )
    assert rotated.status == 200
    assert (await holder.close_code())[0] == 4401


async def test_a_json_client_names_itself_with_its_token_and_may_not_claim_another_id(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    # the token as the first event's field, as a seed client would send it
    client = await JsonWs.connect(api.session, url(api, s["id"]))
    first = {
        "type": "cursor_position",
        "token": s["candidate"],
        "data": {"position": {"lineNumber": 1, "column": 1}},
    }
    await client.ws.send_json(first)
    await client.expect("code_change")
    await client.send("code_change", {"code": "mine\n", "userId": s["observer_id"]})
    assert (await client.expect("error"))["data"]["code"] == "FORBIDDEN"
    await client.send("code_change", {"code": "mine\n", "userId": s["candidate_id"]})

    async def applied() -> bool:
        return await rest_code(api, s["id"], s["interviewer"]) == "mine\n"

    await wait_until(applied, what="the candidate's own edit")
    await client.close()


async def test_a_json_observer_gets_an_error_event_and_nothing_is_applied(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    observer = await JsonWs.connect(
        api.session, url(api, s["id"], f"?protocol=json&token={s['observer']}")
    )
    await observer.expect("code_change")
    for _ in range(12):  # more than json_max_errors: read-only refusals do not close it
        await observer.send("code_change", {"code": "observer\n"})
    await observer.send("language_change", {"language": "go"})
    errors = [await observer.expect("error", since=i) for i in range(1)]
    assert errors[0]["data"]["code"] == "FORBIDDEN"
    body = (
        await (await api.get(f"/api/v1/sessions/{s['id']}", headers=auth(s["interviewer"]))).json()
    )["data"]
    assert body["code"] == "start\n" and body["language"] == "javascript"
    assert observer.close_code is None
    await observer.close()


@pytest.mark.parametrize(
    ("query", "code"),
    [("?userId=someone-else", 4403), ("", 4401), ("?token=garbage", 4401)],
)
async def test_socket_identity_comes_from_the_token_alone(
    make_client: ClientFactory, query: str, code: int
) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    if query.startswith("?userId"):
        query += f"&token={s['candidate']}"
    sock = await RawClient.connect(api.session, url(api, s["id"], query))
    await sock.ws.send_bytes(protocol.sync_step1(sock.doc.get_state()))
    assert (await sock.close_code())[0] == code


async def test_a_pycrdt_provider_joins_with_its_token(make_client: ClientFactory) -> None:
    api = await secured(make_client)
    s = await session_with_people(api)
    async with api.session.ws_connect(url(api, s["id"], f"?token={s['candidate']}")) as ws:
        doc: Doc[Any] = Doc()
        async with Provider(doc, ClientChannel(ws, s["id"])):
            text = doc.get("code", type=Text)

            async def synced() -> bool:
                return str(text) == "start\n"

            await wait_until(synced, what="the pycrdt provider's sync")


async def test_a_browser_upgrade_from_a_foreign_origin_is_closed_with_4403(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(allowed_origins="https://app.example")
    sid = str((await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"])
    for origin, allowed in [
        ("https://evil.example", False),
        ("https://app.example", True),
        (None, True),
    ]:
        headers = {} if origin is None else {"Origin": origin}
        ws = await http.ws_connect(url(api, sid, "?protocol=json"), headers=headers)
        if allowed:
            assert (await ws.receive_json())["type"] == "code_change"
        else:
            await ws.receive()
            assert ws.close_code == 4403
        await ws.close()


async def test_an_address_may_hold_only_so_many_sockets(make_client: ClientFactory) -> None:
    api = await make_client(max_sockets_per_client=2)
    sid = str((await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"])
    held = [await RawClient.connect(api.session, url(api, sid)) for _ in range(2)]
    for sock in held:
        await sock.handshake()
    extra = await RawClient.connect(api.session, url(api, sid))
    assert (await extra.close_code())[0] == 1013
    await held[0].ws.close()

    async def freed() -> bool:
        sock = await RawClient.connect(api.session, url(api, sid))
        await sock.ws.send_bytes(protocol.sync_step1(sock.doc.get_state()))
        message = await sock.ws.receive()
        await sock.ws.close()
        return message.type == aiohttp.WSMsgType.BINARY

    await wait_until(freed, what="a freed socket place")
    await asyncio.gather(*(s.ws.close() for s in held[1:]))

"""Sessions over REST: the seed-000 shapes, live code as minimal edits, and every error."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from envelope import assert_error
from pycrdt import Doc, Text
from support.app_client import ClientFactory

from crdt_server.core.actor import Actor, Via
from crdt_server.core.errors import SessionDeleted
from crdt_server.document import CODE
from rest.keys import LIVE, STORAGE

Client = TestClient[web.Request, web.Application]
SESSION_KEYS = {
    "id",
    "createdAt",
    "updatedAt",
    "expiresAt",
    "code",
    "language",
    "participants",
    "creatorId",
}
PARTICIPANT_KEYS = {"id", "name", "role", "color", "joinedAt", "isOnline"}


async def create(api: Client, body: Any = None) -> dict[str, Any]:
    response = await api.post("/api/v1/sessions", json={} if body is None else body)
    assert response.status == 201, await response.text()
    payload = await response.json()
    assert payload["success"] is True
    return dict(payload["data"])


async def test_a_created_session_has_the_seed_shape_and_its_creator_is_the_interviewer(
    api: Client,
) -> None:
    creator = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "name": "John Doe",
        "color": "hsl(250, 84%, 54%)",
    }
    data = await create(
        api, {"creator": creator, "code": "console.log('hi');", "language": "javascript"}
    )
    assert set(data) >= SESSION_KEYS
    assert re.fullmatch(r"[0-9a-f]{8}", data["id"])
    assert data["code"] == "console.log('hi');" and data["language"] == "javascript"
    assert data["createdAt"] == data["updatedAt"]
    assert data["expiresAt"] - data["createdAt"] == 24 * 3600 * 1000
    (owner,) = data["participants"]
    assert set(owner) == PARTICIPANT_KEYS
    assert owner == {
        **creator,
        "role": "interviewer",
        "joinedAt": data["createdAt"],
        "isOnline": False,
    }
    assert data["creatorId"] == creator["id"]


async def test_an_empty_body_creates_a_session_with_an_assigned_creator(api: Client) -> None:
    response = await api.post("/api/v1/sessions")
    assert response.status == 201
    data = (await response.json())["data"]
    (owner,) = data["participants"]
    assert re.fullmatch(r"[0-9a-f-]{36}", owner["id"])
    assert owner["name"] and re.fullmatch(r"hsl\(\d+, 70%, 50%\)", owner["color"])
    assert data["code"] == "" and data["language"] == "javascript"


async def test_reading_a_session_returns_what_was_created(api: Client) -> None:
    data = await create(api, {"code": "x = 1", "language": "python"})
    response = await api.get(f"/api/v1/sessions/{data['id']}")
    assert response.status == 200
    assert (await response.json()) == {"success": True, "data": data}


async def test_patch_changes_code_and_language_and_moves_updated_at(api: Client) -> None:
    data = await create(api, {"code": "a = 1\nb = 2\n", "language": "python"})
    response = await api.patch(
        f"/api/v1/sessions/{data['id']}", json={"code": "a = 1\nb = 3\n", "language": "typescript"}
    )
    assert response.status == 200
    updated = (await response.json())["data"]
    assert updated["code"] == "a = 1\nb = 3\n" and updated["language"] == "typescript"
    assert updated["updatedAt"] > data["updatedAt"]
    assert updated["createdAt"] == data["createdAt"]


async def test_put_code_saves_a_snapshot_and_keeps_the_language_when_omitted(api: Client) -> None:
    data = await create(api, {"code": "", "language": "python"})
    response = await api.put(
        f"/api/v1/sessions/{data['id']}/code", json={"code": "def hello():\n    print('Hello')"}
    )
    assert response.status == 200
    body = (await response.json())["data"]
    assert body["code"] == "def hello():\n    print('Hello')" and body["language"] == "python"


async def test_a_rest_write_is_a_minimal_edit_that_merges_with_a_concurrent_client_edit(
    api: Client,
) -> None:
    data = await create(api, {"code": "def f():\n    return 42\n\nprint(f())\n"})
    room = await api.app[LIVE].rooms.get(data["id"])
    # A client that synced the document renames f -> foo while REST edits the last line.
    client: Doc[Any] = Doc()
    client.apply_update(room.doc.get_update())
    text = client.get(CODE, type=Text)
    sv = client.get_state()
    del text[4:5]
    text.insert(4, "foo")
    offline = client.get_update(sv)
    await api.put(
        f"/api/v1/sessions/{data['id']}/code",
        json={"code": "def f():\n    return 42\n\nprint(f(), 'done')\n"},
    )
    room.apply_update(offline, Actor(Via.YJS))  # the client's peer connection
    body = (await (await api.get(f"/api/v1/sessions/{data['id']}")).json())["data"]
    assert body["code"] == "def foo():\n    return 42\n\nprint(f(), 'done')\n"


async def test_unicode_code_round_trips_through_minimal_edits(api: Client) -> None:
    data = await create(api, {"code": "s = 'héllo 😀 wörld'\n"})
    new = "s = 'héllo 😀😀 wörld 日本'\n"
    response = await api.patch(f"/api/v1/sessions/{data['id']}", json={"code": new})
    assert (await response.json())["data"]["code"] == new


async def test_delete_removes_the_session_with_its_participants_and_document(api: Client) -> None:
    data = await create(api, {"code": "x"})
    await api.post(f"/api/v1/sessions/{data['id']}/join", json={"user": {"name": "Jane"}})
    response = await api.delete(f"/api/v1/sessions/{data['id']}")
    assert response.status == 204
    await assert_error(await api.get(f"/api/v1/sessions/{data['id']}"), 404, "SESSION_NOT_FOUND")
    storage = api.app[STORAGE]
    assert await storage.list_participants(data["id"]) == []
    stored = await storage.load_document(data["id"])
    assert stored.snapshot is None and stored.updates == []


async def test_a_socket_admitted_just_before_a_delete_cannot_load_the_room_again(
    api: Client,
) -> None:
    data = await create(api, {"code": "x"})
    rooms = api.app[LIVE].rooms
    loading = asyncio.create_task(rooms.get(data["id"]))  # a join on its way in
    assert (await api.delete(f"/api/v1/sessions/{data['id']}")).status == 204
    with contextlib.suppress(SessionDeleted):  # refused, or loaded then dropped
        await loading
    with pytest.raises(SessionDeleted):  # the socket that was admitted before the delete
        await rooms.get(data["id"])
    assert data["id"] not in rooms.rooms


async def test_an_unknown_session_is_404_on_every_session_route(api: Client) -> None:
    base = "/api/v1/sessions/0123abcd"
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("PUT", "/code"),
        ("POST", "/join"),
        ("GET", "/participants"),
        ("GET", "/users"),
    ]:
        response = await api.request(method, base + path, json={"code": "x"})
        await assert_error(response, 404, "SESSION_NOT_FOUND")


async def test_a_malformed_session_id_is_400(api: Client) -> None:
    for bad in ["ABCDEF12", "abc", "abcdefgh", "0123abcd0"]:
        await assert_error(await api.get(f"/api/v1/sessions/{bad}"), 400, "INVALID_REQUEST")


async def test_validation_errors_name_the_field(api: Client) -> None:
    body = await assert_error(
        await api.post("/api/v1/sessions", json={"language": "cobol"}), 400, "INVALID_REQUEST"
    )
    assert "language" in body["error"]
    assert body["fields"][0]["field"] == "language"
    data = await create(api)
    body = await assert_error(
        await api.patch(f"/api/v1/sessions/{data['id']}", json={"code": 5}), 400, "INVALID_REQUEST"
    )
    assert body["error"].startswith("code:")
    body = await assert_error(
        await api.put(f"/api/v1/sessions/{data['id']}/code", json={}), 400, "INVALID_REQUEST"
    )
    assert "code" in body["error"]
    body = await assert_error(
        await api.patch(f"/api/v1/sessions/{data['id']}", json={"langauge": "python"}),
        400,
        "INVALID_REQUEST",
    )
    assert "langauge" in body["error"]


async def test_malformed_json_and_non_object_bodies_are_400(api: Client) -> None:
    headers = {"Content-Type": "application/json"}
    for raw in [b"{bad", b"[1, 2]", b'"text"', b"\xff\xfe"]:
        response = await api.post("/api/v1/sessions", data=raw, headers=headers)
        await assert_error(response, 400, "INVALID_REQUEST")


async def test_a_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    api = await make_client(max_body_bytes=4096)
    response = await api.post("/api/v1/sessions", json={"code": "x" * 8192})
    await assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_code_over_the_character_limit_is_400(make_client: ClientFactory) -> None:
    api = await make_client(max_code_chars=10)
    body = await assert_error(
        await api.post("/api/v1/sessions", json={"code": "x" * 11}), 400, "INVALID_REQUEST"
    )
    assert "code" in body["error"]


async def test_unknown_routes_and_wrong_methods_answer_with_the_envelope(api: Client) -> None:
    await assert_error(await api.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    await assert_error(await api.get("/nothing-here"), 404, "NOT_FOUND")
    response = await api.put("/api/v1/health")
    await assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]

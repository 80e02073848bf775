"""Participants: joining, re-joining, the cap, colours, updates, removal and the /users aliases."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from envelope import assert_error
from support.app_client import ClientFactory

Client = TestClient[web.Request, web.Application]


async def new_session(api: Client) -> str:
    response = await api.post("/api/v1/sessions", json={"creator": {"name": "Ivy"}})
    return str((await response.json())["data"]["id"])


async def join(api: Client, sid: str, user: dict[str, Any] | None = None) -> Any:
    response = await api.post(
        f"/api/v1/sessions/{sid}/join", json={} if user is None else {"user": user}
    )
    assert response.status == 200, await response.text()
    return (await response.json())["data"]


async def test_a_joiner_becomes_a_candidate_with_assigned_id_name_and_colour(api: Client) -> None:
    sid = await new_session(api)
    data = await join(api, sid)
    owner, joiner = data["participants"]
    assert owner["role"] == "interviewer" and joiner["role"] == "candidate"
    assert re.fullmatch(r"[0-9a-f-]{36}", joiner["id"]) and joiner["name"]
    assert joiner["color"] != owner["color"] and joiner["isOnline"] is False


async def test_joining_twice_with_the_same_id_updates_that_participant(api: Client) -> None:
    sid = await new_session(api)
    await join(api, sid, {"id": "user-1", "name": "Jane", "color": "hsl(120, 70%, 50%)"})
    data = await join(api, sid, {"id": "user-1", "name": "Jane Smith"})
    users = [p for p in data["participants"] if p["id"] == "user-1"]
    assert len(users) == 1 and len(data["participants"]) == 2
    assert users[0]["name"] == "Jane Smith" and users[0]["color"] == "hsl(120, 70%, 50%)"


async def test_assigned_colours_are_distinct_within_a_session(api: Client) -> None:
    sid = await new_session(api)
    for _ in range(9):
        data = await join(api, sid)
    hues = [int(re.match(r"hsl\((\d+)", p["color"]).group(1)) for p in data["participants"]]  # type: ignore[union-attr]
    assert len(set(hues)) == 10
    gaps = sorted((b - a) % 360 for a in hues for b in hues if a != b)
    assert gaps[0] >= 15


async def test_the_participant_after_the_cap_gets_409_session_full(
    make_client: ClientFactory,
) -> None:
    api = await make_client(max_participants=3)
    sid = await new_session(api)
    await join(api, sid)
    await join(api, sid)
    response = await api.post(f"/api/v1/sessions/{sid}/join", json={"user": {"name": "Late"}})
    await assert_error(response, 409, "SESSION_FULL")


async def test_concurrent_joins_never_exceed_the_cap(make_client: ClientFactory) -> None:
    api = await make_client(max_participants=5)
    sid = await new_session(api)
    responses = await asyncio.gather(
        *(api.post(f"/api/v1/sessions/{sid}/join", json={}) for _ in range(12))
    )
    assert sorted(r.status for r in responses) == [200] * 4 + [409] * 8
    listing = await (await api.get(f"/api/v1/sessions/{sid}/participants")).json()
    assert len(listing["participants"]) == 5


async def test_participants_are_listed_in_join_order(api: Client) -> None:
    sid = await new_session(api)
    await join(api, sid, {"name": "A"})
    await join(api, sid, {"name": "B"})
    response = await api.get(f"/api/v1/sessions/{sid}/participants")
    assert response.status == 200
    names = [p["name"] for p in (await response.json())["participants"]]
    assert names == ["Ivy", "A", "B"]


async def test_patch_updates_a_participant_and_returns_it(api: Client) -> None:
    sid = await new_session(api)
    joiner = (await join(api, sid, {"id": "u2", "name": "Jo"}))["participants"][1]
    response = await api.patch(
        f"/api/v1/sessions/{sid}/participants/u2", json={"isOnline": True, "name": "Joanna"}
    )
    assert response.status == 200
    assert await response.json() == {**joiner, "isOnline": True, "name": "Joanna"}
    await assert_error(
        await api.patch(f"/api/v1/sessions/{sid}/participants/u2", json={"role": "boss"}),
        400,
        "INVALID_REQUEST",
    )
    await assert_error(
        await api.patch(f"/api/v1/sessions/{sid}/participants/nobody", json={"name": "X"}),
        404,
        "PARTICIPANT_NOT_FOUND",
    )


async def test_delete_removes_a_participant(api: Client) -> None:
    sid = await new_session(api)
    await join(api, sid, {"id": "u2"})
    response = await api.delete(f"/api/v1/sessions/{sid}/participants/u2")
    assert response.status == 204
    listing = await (await api.get(f"/api/v1/sessions/{sid}/participants")).json()
    assert [p["id"] for p in listing["participants"]] != ["u2"] and len(
        listing["participants"]
    ) == 1
    await assert_error(
        await api.delete(f"/api/v1/sessions/{sid}/participants/u2"), 404, "PARTICIPANT_NOT_FOUND"
    )


async def test_a_join_names_the_joiner_and_its_links_lead_to_it(api: Client) -> None:
    """The answer says who joined (not only the list, whose last entry a rejoin does not
    move); the OpenAPI links take the id from there, and following them reaches that one."""
    sid = await new_session(api)
    first = await join(api, sid, {"id": "user-1", "name": "Jane"})
    await join(api, sid, {"name": "Tom"})
    again = await join(api, sid, {"id": "user-1", "name": "Jane Smith"})
    assert first["participantId"] == again["participantId"] == "user-1"
    assert again["participants"][-1]["name"] == "Tom"
    spec = await (await api.get("/api/v1/openapi.json")).json()
    ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    for alias in ("join", "users"):
        answer = spec["paths"][f"/api/v1/sessions/{{sessionId}}/{alias}"]["post"]["responses"]
        links = answer["200"]["links"]
        leave = links["JoinerLeaves" if alias == "users" else "RemoveJoiner"]
        path, method = leave["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
        target = path.replace("~1", "/").replace("~0", "~")
        assert method == "delete" and method in spec["paths"][target]
        assert set(leave["parameters"].values()) == {
            "$request.path.sessionId",
            "$response.body#/data/participantId",
        }
    response = await api.post(f"/api/v1/sessions/{sid}/users", json={"name": "Dev"})
    joined = (await response.json())["data"]["participantId"]
    assert (await api.delete(f"/api/v1/sessions/{sid}/users/{joined}")).status == 204
    listing = await (await api.get(f"/api/v1/sessions/{sid}/participants")).json()
    assert joined not in [p["id"] for p in listing["participants"]]


async def test_the_users_aliases_join_list_and_leave(api: Client) -> None:
    sid = await new_session(api)
    response = await api.post(f"/api/v1/sessions/{sid}/users", json={"name": "Developer1"})
    assert response.status == 200
    dev = (await response.json())["data"]["participants"][1]
    assert dev["name"] == "Developer1" and dev["role"] == "candidate"
    response = await api.post(f"/api/v1/sessions/{sid}/users", json={"user": {"name": "Dev2"}})
    assert (await response.json())["data"]["participants"][2]["name"] == "Dev2"
    listing = await (await api.get(f"/api/v1/sessions/{sid}/users")).json()
    assert [p["name"] for p in listing["participants"]] == ["Ivy", "Developer1", "Dev2"]
    assert (await api.delete(f"/api/v1/sessions/{sid}/users/{dev['id']}")).status == 204
    await assert_error(
        await api.delete(f"/api/v1/sessions/{sid}/users/{dev['id']}"), 404, "PARTICIPANT_NOT_FOUND"
    )


async def test_bad_user_info_is_400_naming_the_field(api: Client) -> None:
    sid = await new_session(api)
    for user, field in [
        ({"color": "javascript:alert(1)"}, "user.color"),
        ({"id": "../etc"}, "user.id"),
        ({"name": ""}, "user.name"),
    ]:
        body = await assert_error(
            await api.post(f"/api/v1/sessions/{sid}/join", json={"user": user}),
            400,
            "INVALID_REQUEST",
        )
        assert body["fields"][0]["field"] == field

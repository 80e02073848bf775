"""With --auth token every session is reached with one of its tokens, and each role may do
exactly what the permission table says, over real HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from envelope import assert_error
from support.app_client import Client, ClientFactory

SECRET = "s" * 40
KEY = "key-one"


@dataclass
class Session:
    id: str
    interviewer: str
    candidate: str  # a joined candidate's own token
    observer: str  # a joined observer's own token
    invites: dict[str, str]
    body: dict[str, Any]


def auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def secured(make_client: ClientFactory, **overrides: Any) -> Client:
    return await make_client(
        auth="token", api_keys=f"{KEY},key-two", auth_secret=SECRET, **overrides
    )


async def join(api: Client, sid: str, invite: str, name: str) -> dict[str, Any]:
    response = await api.post(
        f"/api/v1/sessions/{sid}/join", json={"user": {"name": name}}, headers=auth(invite)
    )
    assert response.status == 200, await response.text()
    return dict((await response.json())["data"])


async def new_session(api: Client) -> Session:
    response = await api.post("/api/v1/sessions", json={"code": "x = 1\n"}, headers=auth(KEY))
    assert response.status == 201, await response.text()
    body = (await response.json())["data"]
    tokens = body["tokens"]
    candidate = await join(api, body["id"], tokens["candidate"], "Cande")
    observer = await join(api, body["id"], tokens["observer"], "Obi")
    invites = {"candidate": tokens["candidate"], "observer": tokens["observer"]}
    return Session(
        body["id"], tokens["interviewer"], candidate["token"], observer["token"], invites, body
    )


def tokens_of(s: Session) -> dict[str, str]:
    return {"interviewer": s.interviewer, "candidate": s.candidate, "observer": s.observer}


async def test_creating_a_session_takes_an_api_key_and_answers_its_tokens_and_links(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    for headers in ({}, auth("wrong"), auth("Basic x")):
        response = await api.post("/api/v1/sessions", json={}, headers=headers)
        await assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    session = await new_session(api)
    assert set(session.body["tokens"]) == {"interviewer", "candidate", "observer"}
    assert session.body["links"]["observer"].endswith(
        f"/demo/?session={session.id}&token={session.body['tokens']['observer']}"
    )
    roles = {p["name"]: p["role"] for p in session.body["participants"]}
    assert list(roles.values()) == ["interviewer"]


async def test_joining_with_an_invite_creates_a_participant_of_its_role(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    response = await api.get(f"/api/v1/sessions/{session.id}", headers=auth(session.interviewer))
    roles = {p["name"]: p["role"] for p in (await response.json())["data"]["participants"]}
    assert roles["Cande"] == "candidate" and roles["Obi"] == "observer"


READ = [("GET", ""), ("GET", "/participants"), ("GET", "/users")]
EDIT = [("PATCH", ""), ("PUT", "/code")]
HISTORY = [("GET", "/history"), ("GET", "/runs")]


@pytest.mark.parametrize("role", ["interviewer", "candidate", "observer"])
async def test_every_role_reads_the_session_and_its_participants(
    make_client: ClientFactory, role: str
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    for method, path in READ:
        url = f"/api/v1/sessions/{session.id}{path}"
        response = await api.request(method, url, headers=auth(tokens_of(session)[role]))
        assert response.status == 200, (method, path, await response.text())


@pytest.mark.parametrize(
    ("role", "allowed"), [("interviewer", True), ("candidate", True), ("observer", False)]
)
async def test_only_interviewers_and_candidates_edit_the_code(
    make_client: ClientFactory, role: str, allowed: bool
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    for method, path in EDIT:
        response = await api.request(
            method,
            f"/api/v1/sessions/{session.id}{path}",
            json={"code": f"by {role}\n"},
            headers=auth(tokens_of(session)[role]),
        )
        if allowed:
            assert response.status == 200
        else:
            await assert_error(response, 403, "FORBIDDEN")
    code = (
        await (
            await api.get(f"/api/v1/sessions/{session.id}", headers=auth(session.interviewer))
        ).json()
    )["data"]["code"]
    assert code == (f"by {role}\n" if allowed else "x = 1\n")


@pytest.mark.parametrize(
    ("role", "allowed"), [("interviewer", True), ("candidate", False), ("observer", False)]
)
async def test_only_interviewers_read_history_and_runs(
    make_client: ClientFactory, role: str, allowed: bool
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    for method, path in HISTORY:
        url = f"/api/v1/sessions/{session.id}{path}"
        response = await api.request(method, url, headers=auth(tokens_of(session)[role]))
        if allowed:
            assert response.status == 200
        else:
            await assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize("role", ["candidate", "observer"])
async def test_only_interviewers_manage_the_session(make_client: ClientFactory, role: str) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    who = auth(tokens_of(session)[role])
    base = f"/api/v1/sessions/{session.id}"
    others = [p for p in session.body["participants"]]
    owner = others[0]["id"]
    refused = [
        api.patch(f"{base}/participants/{owner}", json={"role": "observer"}, headers=who),
        api.delete(f"{base}/participants/{owner}", headers=who),
        api.post(f"{base}/invites/rotate", json={"role": "candidate"}, headers=who),
        api.delete(base, headers=who),
    ]
    for call in refused:
        await assert_error(await call, 403, "FORBIDDEN")
    # ...and the interviewer may do each
    boss = auth(session.interviewer)
    rotated = await api.post(f"{base}/invites/rotate", json={"role": "observer"}, headers=boss)
    assert rotated.status == 200 and (await rotated.json())["data"]["token"]
    assert (await api.delete(base, headers=boss)).status == 204


async def test_a_role_change_and_a_removal_apply_to_the_token_at_once(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    base = f"/api/v1/sessions/{session.id}"
    participants = (await (await api.get(base, headers=auth(session.interviewer))).json())["data"][
        "participants"
    ]
    cande = next(p["id"] for p in participants if p["name"] == "Cande")
    boss = auth(session.interviewer)
    demoted = await api.patch(
        f"{base}/participants/{cande}", json={"role": "observer"}, headers=boss
    )
    assert demoted.status == 200
    await assert_error(
        await api.patch(base, json={"code": "no\n"}, headers=auth(session.candidate)),
        403,
        "FORBIDDEN",
    )
    assert (await api.delete(f"{base}/participants/{cande}", headers=boss)).status == 204
    await assert_error(await api.get(base, headers=auth(session.candidate)), 401, "UNAUTHORIZED")


async def test_a_rotated_invite_stops_working_and_the_new_one_works(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    base = f"/api/v1/sessions/{session.id}"
    rotated = await api.post(
        f"{base}/invites/rotate", json={"role": "candidate"}, headers=auth(session.interviewer)
    )
    fresh = (await rotated.json())["data"]["token"]
    old = await api.post(f"{base}/join", json={}, headers=auth(session.invites["candidate"]))
    await assert_error(old, 401, "UNAUTHORIZED")
    assert (await join(api, session.id, fresh, "Newcomer"))["token"]
    # a participant who joined with the old invite keeps its own token
    assert (await api.get(base, headers=auth(session.candidate))).status == 200


async def test_tokens_of_another_session_forged_or_expired_are_refused(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    first, second = await new_session(api), await new_session(api)
    url = f"/api/v1/sessions/{second.id}"
    await assert_error(await api.get(url, headers=auth(first.interviewer)), 403, "FORBIDDEN")
    owner = second.body["participants"][0]["id"]
    forged = jwt.encode(
        {"sid": second.id, "role": "interviewer", "pid": owner, "exp": time.time() + 60},
        "x" * 40,
        algorithm="HS256",
    )
    await assert_error(await api.get(url, headers=auth(forged)), 401, "UNAUTHORIZED")
    expired = jwt.encode(
        {"sid": second.id, "role": "interviewer", "pid": owner, "exp": time.time() - 5},
        SECRET,
        algorithm="HS256",
    )
    body = await assert_error(await api.get(url, headers=auth(expired)), 401, "UNAUTHORIZED")
    assert "expired" in body["error"] and expired not in body["error"]
    await assert_error(await api.get(url), 401, "UNAUTHORIZED")


async def test_a_token_joins_only_as_its_own_participant(make_client: ClientFactory) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    owner = session.body["participants"][0]["id"]
    base = f"/api/v1/sessions/{session.id}"
    # an invite may not take over the interviewer's id, a candidate's token may not either
    for token in (session.invites["candidate"], session.candidate):
        response = await api.post(f"{base}/join", json={"user": {"id": owner}}, headers=auth(token))
        await assert_error(response, 403, "FORBIDDEN")


async def test_failed_token_checks_lock_an_address_out_for_the_minute(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client, failed_auth_per_client_per_minute=5)
    session = await new_session(api)
    url = f"/api/v1/sessions/{session.id}"
    for i in range(5):
        await assert_error(await api.get(url, headers=auth(f"guess-{i}")), 401, "UNAUTHORIZED")
    locked = await api.get(url, headers=auth(session.interviewer))  # even a good one, now
    await assert_error(locked, 429, "RATE_LIMITED")
    assert int(locked.headers["Retry-After"]) >= 1


async def test_joins_per_session_are_limited_per_minute(make_client: ClientFactory) -> None:
    api = await secured(make_client, joins_per_session_per_minute=3)
    session = await new_session(api)  # two joins already
    await join(api, session.id, session.invites["candidate"], "Third")
    response = await api.post(
        f"/api/v1/sessions/{session.id}/join", json={}, headers=auth(session.invites["candidate"])
    )
    await assert_error(response, 429, "RATE_LIMITED")


async def test_requests_past_the_per_address_rate_get_429_with_retry_after(
    make_client: ClientFactory,
) -> None:
    api = await make_client(requests_per_second=5)  # bursts of 10
    statuses = [(await api.get("/api/v1/health")).status for _ in range(12)]
    assert statuses[:10] == [200] * 10 and 429 in statuses[10:]
    limited = await api.get("/api/v1/health")
    await assert_error(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["Retry-After"]) <= 2


async def test_running_code_outside_a_session_takes_a_key_or_an_interviewer(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    bad = {"code": "x", "language": "cobol"}  # refused as a bad request once let through
    for token, status in [(None, 401), (session.candidate, 403), (session.observer, 403)]:
        response = await api.post("/api/v1/execute", json=bad, headers=auth(token))
        assert response.status == status
    for token in (KEY, session.interviewer):
        response = await api.post("/api/v1/execute", json=bad, headers=auth(token))
        assert response.status == 400  # past the access check


async def test_an_interviewer_token_of_a_deleted_session_may_not_run_code(
    make_client: ClientFactory,
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    deleted = await api.delete(f"/api/v1/sessions/{session.id}", headers=auth(session.interviewer))
    assert deleted.status == 204
    response = await api.post(
        "/api/v1/execute",
        json={"code": "x", "language": "cobol"},
        headers=auth(session.interviewer),
    )
    await assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(("role", "status"), [("candidate", 403), ("observer", 403)])
async def test_a_session_run_takes_a_role_that_may_run(
    make_client: ClientFactory, role: str, status: int
) -> None:
    api = await secured(make_client)
    session = await new_session(api)
    if role == "observer":
        response = await api.post(
            f"/api/v1/sessions/{session.id}/execute", json={}, headers=auth(session.observer)
        )
        await assert_error(response, 403, "FORBIDDEN")
    else:  # a candidate may run, but not as somebody else
        owner = session.body["participants"][0]["id"]
        response = await api.post(
            f"/api/v1/sessions/{session.id}/execute",
            json={"userId": owner},
            headers=auth(session.candidate),
        )
        await assert_error(response, status, "FORBIDDEN")

"""Session lifetime and ids: 410 after the TTL, the background purge, collision-free ids."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from envelope import assert_error
from support.app_client import ClientFactory
from support.waiting import wait_until

from rest.keys import STORAGE


async def test_an_expired_session_answers_410_until_the_job_deletes_it(
    make_client: ClientFactory,
) -> None:
    api = await make_client(session_ttl_seconds=0.3, cleanup_interval_seconds=3600)
    sid = (await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"]
    assert (await api.get(f"/api/v1/sessions/{sid}")).status == 200

    async def expired() -> bool:
        return (await api.get(f"/api/v1/sessions/{sid}")).status == 410

    await wait_until(expired, timeout=5, what="expiry")
    await assert_error(await api.get(f"/api/v1/sessions/{sid}"), 410, "SESSION_EXPIRED")
    await assert_error(
        await api.post(f"/api/v1/sessions/{sid}/join", json={}), 410, "SESSION_EXPIRED"
    )


async def test_the_background_job_deletes_expired_sessions_with_everything_they_own(
    make_client: ClientFactory,
) -> None:
    api = await make_client(session_ttl_seconds=0.2, cleanup_interval_seconds=0.1)
    sid = (await (await api.post("/api/v1/sessions", json={"code": "x"})).json())["data"]["id"]

    async def purged() -> bool:
        return await api.app[STORAGE].get_session(sid) is None

    await wait_until(purged, timeout=5, what="the purge")
    await assert_error(await api.get(f"/api/v1/sessions/{sid}"), 404, "SESSION_NOT_FOUND")
    assert await api.app[STORAGE].list_participants(sid) == []


async def test_concurrent_creates_never_collide(make_client: ClientFactory) -> None:
    api = await make_client(max_sessions_per_client_per_hour=1000)
    responses = await asyncio.gather(*(api.post("/api/v1/sessions", json={}) for _ in range(100)))
    ids = [(await r.json())["data"]["id"] for r in responses]
    assert all(r.status == 201 for r in responses)
    assert len(set(ids)) == 100


async def test_a_colliding_id_is_redrawn(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_client()
    draws = itertools.chain(["0123abcd", "0123abcd", "0123abcd"], itertools.repeat("feedbeef"))
    monkeypatch.setattr("crdt_server.core.sessions.secrets.token_hex", lambda _n: next(draws))
    first = await api.post("/api/v1/sessions", json={})
    second = await api.post("/api/v1/sessions", json={})
    assert (await first.json())["data"]["id"] == "0123abcd"
    assert (await second.json())["data"]["id"] == "feedbeef"

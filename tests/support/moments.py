"""Moments of a session for playback tests: a time at which the server held a text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crdt_server.clock import now_ms
from support.app_client import Client
from support.waiting import wait_until


async def held_at(read_code: Callable[[], Awaitable[str]], text: str) -> int:
    """Once ``read_code()`` answers ``text``: a time at which the server held it, and that no
    later change can share (changes are timed to the millisecond)."""

    async def holds() -> bool:
        return await read_code() == text

    await wait_until(holds, what=f"the server holding {text[-20:]!r}")
    at = now_ms()
    await wait_until(lambda: now_ms() > at, interval=0.001, what="the next millisecond")
    return at


async def moment(api: Client, sid: str, headers: dict[str, str], text: str) -> int:
    """:func:`held_at` for a test app's session, read over REST with ``headers``."""

    async def code() -> str:
        body = await (await api.get(f"/api/v1/sessions/{sid}", headers=headers)).json()
        return str(body["data"]["code"])

    return await held_at(code, text)

"""Timed snapshots of a session's code: the base of playback."""

from __future__ import annotations

from aiohttp import web

from crdt_server.core.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
    Unavailable,
)

from .auth import grant
from .keys import LIVE
from .models import (
    HistoryItem,
    HistoryList,
    HistorySnapshot,
    HistorySnapshotEnvelope,
    respond,
)
from .routing import Operation


async def list_history(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    entries = await request.app[LIVE].sessions.history(who.actor, who.session)
    return respond(HistoryList(data=[HistoryItem(n=e.n, at=e.at, size=e.size) for e in entries]))


async def get_snapshot(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    raw = request.match_info["n"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidInput("n: expected a positive snapshot number")
    entry = await request.app[LIVE].sessions.snapshot(who.actor, who.session, int(raw))
    snapshot = HistorySnapshot(n=entry.n, at=entry.at, code=entry.code, language=entry.language)
    return respond(HistorySnapshotEnvelope(data=snapshot))


BASE = "/sessions/{sessionId}/history"
_LOOKUP = (InvalidInput, Unauthorized, SessionNotFound, SessionExpired, Forbidden, Unavailable)
OPERATIONS = [
    Operation(
        "GET",
        BASE,
        list_history,
        "Timed snapshots of the code, oldest first",
        "history",
        response=HistoryList,
        errors=_LOOKUP,
    ),
    Operation(
        "GET",
        BASE + "/{n}",
        get_snapshot,
        "One snapshot: the code and language at that time",
        "history",
        response=HistorySnapshotEnvelope,
        errors=(*_LOOKUP, NotFound),
    ),
]

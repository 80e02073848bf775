"""Timed snapshots of a session's code: the base of playback."""

from __future__ import annotations

from aiohttp import web

from .errors import invalid, not_found
from .keys import SERVICES
from .models import (
    HistoryItem,
    HistoryList,
    HistorySnapshot,
    HistorySnapshotEnvelope,
    respond,
)
from .routing import Operation
from .service import live_session


async def list_history(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    entries = await svc.storage.list_history(record.id)
    return respond(HistoryList(data=[HistoryItem(n=e.n, at=e.at, size=e.size) for e in entries]))


async def get_snapshot(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    raw = request.match_info["n"]
    if not raw.isdigit() or len(raw) > 9:
        raise invalid("n: expected a positive snapshot number")
    entry = await svc.storage.get_history(record.id, int(raw))
    if entry is None:
        raise not_found("NOT_FOUND", f"no snapshot {raw} in session {record.id}")
    snapshot = HistorySnapshot(n=entry.n, at=entry.at, code=entry.code, language=entry.language)
    return respond(HistorySnapshotEnvelope(data=snapshot))


BASE = "/sessions/{sessionId}/history"
OPERATIONS = [
    Operation(
        "GET",
        BASE,
        list_history,
        "Timed snapshots of the code, oldest first",
        "history",
        response=HistoryList,
        errors=(400, 404, 410),
    ),
    Operation(
        "GET",
        BASE + "/{n}",
        get_snapshot,
        "One snapshot: the code and language at that time",
        "history",
        response=HistorySnapshotEnvelope,
        errors=(400, 404, 410),
    ),
]

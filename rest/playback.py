"""Playback over REST: the document at any moment with who wrote what, and the raw log for a
client that replays it itself (interviewers)."""

from __future__ import annotations

import base64
import json
from typing import Literal

from aiohttp import hdrs, web

from crdt_server.core.errors import (
    Forbidden,
    InvalidInput,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
    Unavailable,
)
from storage import Edit

from .auth import grant
from .keys import LIVE
from .models import Model, respond
from .routing import Operation

_MAX_MS = 10**15  # far past any real time, well inside SQLite's integers


class PlaybackState(Model):
    code: str
    """The code as it was at that moment."""
    language: str
    """Its language then."""
    at: int
    """The moment (Unix ms)."""
    authorship: list[tuple[str | None, int]]
    """Who wrote each run of the code's characters, in order: [participantId, length];
    the lengths (in Unicode code points) add up to the code's; null: the code the session was
    created with, or an anonymous writer."""


class PlaybackStateEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: PlaybackState
    """The document at that moment."""


def _ms(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15 or int(raw) > _MAX_MS:
        raise InvalidInput(f"{name}: expected a time in Unix milliseconds")
    return int(raw)


async def state_at(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    state = await request.app[LIVE].playback.state_at(who.actor, who.session, _ms(request, "at"))
    return respond(PlaybackStateEnvelope(data=PlaybackState.model_validate(state)))


async def updates(request: web.Request) -> web.StreamResponse:
    """Newline-delimited JSON, one accepted change a line, read from storage as it goes."""
    who = await grant(request)
    from_ms, to_ms = _ms(request, "fromMs") or 0, _ms(request, "toMs")
    pages = request.app[LIVE].playback.edits(who.actor, who.session, from_ms, to_ms)
    first = await anext(pages, None)  # refusals (roles, storage) as an envelope, not mid-stream
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    page = None if request.method == hdrs.METH_HEAD else first
    while page is not None:
        lines = [
            json.dumps(
                {
                    "seq": seq,
                    "at": e.at,
                    "author": e.author,
                    "inserted": e.inserted,
                    "deleted": e.deleted,
                    "update": base64.b64encode(e.data).decode(),
                }
            )  # fmt: skip
            for seq, e in page
        ]
        await response.write(("\n".join(lines) + "\n").encode())
        page = await anext(pages, None)
    await response.write_eof()
    return response


def _line(seq: int, edit: Edit) -> str:
    update = base64.b64encode(edit.data).decode()
    fields = {"seq": seq, "at": edit.at, "author": edit.author, "inserted": edit.inserted,
              "deleted": edit.deleted, "update": update}  # fmt: skip
    return json.dumps(fields) + "\n"


_ERRORS = (InvalidInput, Unauthorized, Forbidden, SessionNotFound, SessionExpired, Unavailable)

OPERATIONS = [
    Operation(
        "GET",
        "/sessions/{sessionId}/state",
        state_at,
        "The document at a moment, `?at=` Unix ms (default now), with who wrote each run of "
        "its characters (interviewers)",
        "playback",
        response=PlaybackStateEnvelope,
        errors=_ERRORS,
    ),
    Operation(
        "GET",
        "/sessions/{sessionId}/updates",
        updates,
        "Every accepted change from `?fromMs=` to `?toMs=`, as newline-delimited JSON "
        "`{seq, at, author, inserted, deleted, update}` (the Yjs update in base64), oldest "
        "first, for a replay at any speed (interviewers)",
        "playback",
        errors=_ERRORS,
    ),
]

"""Playback over REST: the timeline, the document at any moment with who wrote what, and the
raw log for a client that replays it itself (interviewers, or a playback link's reviewer)."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from aiohttp import hdrs, web
from pydantic import Field

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
from .models import Model, RequestModel, read_body, respond
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
    who = await grant(request, watching=True)
    state = await request.app[LIVE].playback.state_at(who.actor, who.session, _ms(request, "at"))
    return respond(PlaybackStateEnvelope(data=PlaybackState.model_validate(state)))


async def updates(request: web.Request) -> web.StreamResponse:
    """Newline-delimited JSON, one accepted change a line, read from storage as it goes."""
    who = await grant(request, watching=True)
    from_ms, to_ms = _ms(request, "fromMs") or 0, _ms(request, "toMs")
    pages = request.app[LIVE].playback.edits(who.actor, who.session, from_ms, to_ms)
    first = await anext(pages, None)  # refusals (roles, storage) as an envelope, not mid-stream
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    page = None if request.method == hdrs.METH_HEAD else first
    while page is not None:
        await response.write("".join(_line(seq, edit) for seq, edit in page).encode())
        page = await anext(pages, None)
    await response.write_eof()
    return response


class TimelineParticipant(Model):
    id: str
    """The participant."""
    name: str
    """Display name."""
    color: str
    """Their colour (the player's track and authorship colouring)."""
    role: str
    """interviewer, candidate or observer."""
    edits: int
    """Their changes to the code in the log (one author's changes within one group commit, 50 ms,
    are kept as one)."""
    chars: int
    """Characters they inserted into the code."""
    pastes: int
    """Their updates that inserted more than the paste threshold at once."""
    focus_lost: int
    """How often their editor lost focus (as their page reported it)."""
    runs: int
    """Runs they started."""
    tests: int
    """Gradings they asked for."""


class TimelineBurst(Model):
    from_: int = Field(alias="from")
    """When the burst began (Unix ms)."""
    to: int
    """When its last edit was accepted."""
    user_id: str | None
    """Whose it is (null: the server or an anonymous writer)."""
    edits: int
    """The log's entries in it."""


class TimelineView(Model):
    session_id: str
    """The session."""
    created_at: int
    """When it was created (Unix ms)."""
    started_at: int | None
    """When the interview started."""
    ended_at: int | None
    """When it ended."""
    duration_ms: int | None
    """How long it lasted (so far, while it runs); null before it starts."""
    planned_ms: int | None
    """The length it was started with."""
    until: int
    """The timeline's end: when it ended, or now."""
    participants: list[TimelineParticipant]
    """Everyone in the session, with what they did."""
    events: list[dict[str, Any]]
    """In time order, each `{at, type, userId, ...}`: created, joined, online, left, started,
    ended, ran (`runId`, `language`, `exitCode`), tested (`status`, `score`), language
    (`language`), question (`questionId`), paste (`chars`), focusLost, focusBack, idle
    (`durationMs`: no edit for at least the idle gap)."""
    bursts: list[TimelineBurst]
    """Each participant's runs of typing (edits at most 5 s apart), by start."""


class TimelineEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: TimelineView
    """The timeline."""


class PlaybackLinkRequest(RequestModel):
    expires_in_minutes: int = Field(1440, ge=1, le=30 * 24 * 60)
    """How long the link works (at most 30 days, and never past the session)."""


class PlaybackLink(Model):
    token: str | None
    """A read-only token for the timeline, `state` and `updates` only (null on a server
    without tokens, where anyone may watch)."""
    link: str
    """The player's page with the token."""
    expires_at: int | None
    """When it stops working (Unix ms; null: never, on a server without tokens)."""


class PlaybackLinkEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: PlaybackLink
    """The link."""


async def timeline(request: web.Request) -> web.StreamResponse:
    who = await grant(request, watching=True)
    data = await request.app[LIVE].timeline.build(who.actor, who.session)
    return respond(TimelineEnvelope(data=TimelineView.model_validate(data)))


async def playback_link(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, PlaybackLinkRequest, empty_ok=True)
    sid = who.session.id
    made = request.app[LIVE].sessions.playback_link(who.actor, who.session, body.expires_in_minutes)
    token, until = (None, None) if made is None else made
    link = f"{request.scheme}://{request.host}/demo/playback/?session={sid}"
    link += "" if token is None else f"&token={token}"
    return respond(
        PlaybackLinkEnvelope(data=PlaybackLink(token=token, link=link, expires_at=until))
    )


def _line(seq: int, edit: Edit) -> str:
    update = base64.b64encode(edit.data).decode()
    fields = {"seq": seq, "at": edit.at, "author": edit.author, "inserted": edit.inserted,
              "deleted": edit.deleted, "update": update}  # fmt: skip
    return json.dumps(fields) + "\n"


_ERRORS = (InvalidInput, Unauthorized, Forbidden, SessionNotFound, SessionExpired, Unavailable)

OPERATIONS = [
    Operation(
        "GET",
        "/sessions/{sessionId}/timeline",
        timeline,
        "What happened, on the server's clock: each participant's totals, every event "
        "(runs, gradings, pastes, focus, idle gaps...) and the bursts of typing (interviewers, "
        "or a playback link)",
        "playback",
        response=TimelineEnvelope,
        errors=_ERRORS,
    ),
    Operation(
        "POST",
        "/sessions/{sessionId}/playback-links",
        playback_link,
        "A read-only link to the player that expires, for a reviewer who is not in the "
        "session (interviewers)",
        "playback",
        body=PlaybackLinkRequest,
        example={"expiresInMinutes": 60},
        response=PlaybackLinkEnvelope,
        errors=_ERRORS,
    ),
    Operation(
        "GET",
        "/sessions/{sessionId}/state",
        state_at,
        "The document at a moment, `?at=` Unix ms (default now), with who wrote each run of "
        "its characters (interviewers, or a playback link)",
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

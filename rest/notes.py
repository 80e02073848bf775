"""Interviewers' notes and scorecards over REST: nobody else may read or write them."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from crdt_server.core.errors import (
    Forbidden,
    InvalidInput,
    SessionDeleted,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
    Unavailable,
    VersionUnknown,
)

from .auth import grant
from .keys import LIVE
from .models import Model, RequestModel, read_body, respond
from .routing import Operation

NOTES_CHARS = 256 * 1024
Text = Annotated[str, StringConstraints(max_length=8 * 1024)]


class NotesRequest(RequestModel):
    notes: Annotated[str, StringConstraints(max_length=NOTES_CHARS)]
    """The whole notes, in Markdown."""
    base_version: int | None = None
    """The version these notes were made from; a write over a newer one is refused (412)."""


class NotesView(Model):
    notes: str
    """The notes, in Markdown."""
    version: int
    """How many times they were written (0: never)."""
    updated_at: int | None
    """When they were last written (Unix ms)."""
    updated_by: str | None
    """The interviewer who wrote them last."""


class NotesEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: NotesView
    """The session's notes."""


class CompetencyScore(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    """The competency scored (one of the question's rubric, typically)."""
    score: Annotated[int, Field(ge=1, le=4)]
    """1 to 4."""
    notes: Text = ""
    """Why that score."""


class ScorecardRequest(RequestModel):
    recommendation: Literal["strong_no", "no", "yes", "strong_yes"]
    """Hire or not, and how strongly."""
    competencies: Annotated[list[CompetencyScore], Field(max_length=20)] = []
    """A score per competency."""
    notes: Text = ""
    """Anything else."""


class Scorecard(Model):
    interviewer_id: str
    """Whose scorecard it is."""
    submitted_at: int
    """When it was last submitted (Unix ms)."""
    recommendation: str
    """strong_no, no, yes or strong_yes."""
    competencies: list[dict[str, str | int]]
    """The scores."""
    notes: str
    """Anything else."""


class ScorecardEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: Scorecard
    """The scorecard as stored."""


class ScorecardList(Model):
    success: Literal[True] = True
    """Always true here."""
    data: list[Scorecard]
    """Every interviewer's scorecard, oldest first."""


async def read_notes(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    view = await request.app[LIVE].notes.read(who.actor, who.session.id)
    return respond(NotesEnvelope(data=NotesView.model_validate(view)))


async def write_notes(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, NotesRequest)
    view = await request.app[LIVE].notes.write(
        who.actor, who.session.id, body.notes, body.base_version
    )
    return respond(NotesEnvelope(data=NotesView.model_validate(view)))


async def submit_scorecard(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, ScorecardRequest)
    view = await request.app[LIVE].notes.submit_scorecard(
        who.actor, who.session.id, body.model_dump(by_alias=True)
    )
    return respond(ScorecardEnvelope(data=Scorecard.model_validate(view)))


async def list_scorecards(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    views = await request.app[LIVE].notes.scorecards(who.actor, who.session.id)
    return respond(ScorecardList(data=[Scorecard.model_validate(v) for v in views]))


SESSION = "/sessions/{sessionId}"
_ERRORS = (
    InvalidInput, Unauthorized, Forbidden, SessionNotFound, SessionExpired, SessionDeleted,
    Unavailable,
)  # fmt: skip

OPERATIONS = [
    Operation(
        "GET",
        SESSION + "/notes",
        read_notes,
        "The interviewers' private notes (interviewers only)",
        "interview",
        response=NotesEnvelope,
        errors=_ERRORS,
    ),
    Operation(
        "PUT",
        SESSION + "/notes",
        write_notes,
        "Write the notes (interviewers only); the session's interviewer JSON sockets get "
        "notes_change at once",
        "interview",
        body=NotesRequest,
        response=NotesEnvelope,
        errors=(*_ERRORS, VersionUnknown),
        example={"notes": "## Problem solving\nAsked about edge cases first.", "baseVersion": 0},
    ),
    Operation(
        "PUT",
        SESSION + "/scorecard",
        submit_scorecard,
        "Submit (or replace) the caller's scorecard (interviewers only)",
        "interview",
        body=ScorecardRequest,
        response=ScorecardEnvelope,
        errors=_ERRORS,
        example={
            "recommendation": "yes",
            "competencies": [{"name": "correctness", "score": 3, "notes": "one off-by-one"}],
            "notes": "Communicated clearly.",
        },
    ),
    Operation(
        "GET",
        SESSION + "/scorecards",
        list_scorecards,
        "Every interviewer's scorecard (interviewers only)",
        "interview",
        response=ScorecardList,
        errors=_ERRORS,
    ),
]

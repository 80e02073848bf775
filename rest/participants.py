"""Participants: join, list, update, remove, and the seed-002 ``/users`` aliases."""

from __future__ import annotations

from aiohttp import web

from crdt_server.core.errors import (
    Forbidden,
    InvalidInput,
    ParticipantNotFound,
    SessionExpired,
    SessionFull,
    SessionNotFound,
    Unavailable,
)
from crdt_server.core.sessions import NewUser

from .keys import LIVE
from .models import (
    JoinRequest,
    Participant,
    ParticipantList,
    SessionEnvelope,
    UpdateParticipantRequest,
    UsersRequest,
    read_body,
    respond,
)
from .routing import Operation
from .views import ANONYMOUS, participant_view, session_view


async def _join(request: web.Request, body: type[JoinRequest] | type[UsersRequest]) -> web.Response:
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    given = await read_body(request, body, empty_ok=True)
    user: NewUser | None = None if given.user is None else given.user.new_user()
    if isinstance(given, UsersRequest) and given.user is None:
        user = given.new_user()  # seed 002 posts the user itself: {"name": ...}
    return respond(SessionEnvelope(data=session_view(await core.join(record, user))))


async def join_session(request: web.Request) -> web.StreamResponse:
    return await _join(request, JoinRequest)


async def add_user(request: web.Request) -> web.StreamResponse:
    """Seed 002 posts the user itself (``{"name": ...}``); ``{"user": {...}}`` works too."""
    return await _join(request, UsersRequest)


async def list_participants(request: web.Request) -> web.StreamResponse:
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    participants = await core.participants(record)
    return respond(ParticipantList(participants=[participant_view(p) for p in participants]))


async def update_participant(request: web.Request) -> web.StreamResponse:
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    participant = await core.participant(record.id, request.match_info["participantId"])
    body = await read_body(request, UpdateParticipantRequest)  # 404 before 400
    updated = await core.update_participant(
        ANONYMOUS,
        record,
        participant.id,
        name=body.name,
        color=body.color,
        role=body.role,
        is_online=body.is_online,
    )
    return respond(participant_view(updated))


async def remove_participant(request: web.Request) -> web.StreamResponse:
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    participant_id = request.match_info.get("participantId") or request.match_info["userId"]
    await core.remove_participant(ANONYMOUS, record, participant_id)
    return web.Response(status=204)


BASE = "/sessions/{sessionId}"
_NOT_FOUND = (InvalidInput, SessionNotFound, SessionExpired, Unavailable)
_PARTICIPANT = (*_NOT_FOUND, ParticipantNotFound, Forbidden, web.HTTPUnsupportedMediaType)
_JOIN = (*_NOT_FOUND, SessionFull, web.HTTPRequestEntityTooLarge, web.HTTPUnsupportedMediaType)
OPERATIONS = [
    Operation(
        "POST",
        BASE + "/join",
        join_session,
        "Join a session as a candidate",
        "participants",
        body=JoinRequest,
        response=SessionEnvelope,
        errors=_JOIN,
    ),
    Operation(
        "GET",
        BASE + "/participants",
        list_participants,
        "List participants",
        "participants",
        response=ParticipantList,
        errors=_NOT_FOUND,
    ),
    Operation(
        "PATCH",
        BASE + "/participants/{participantId}",
        update_participant,
        "Update a participant",
        "participants",
        body=UpdateParticipantRequest,
        response=Participant,
        errors=_PARTICIPANT,
    ),
    Operation(
        "DELETE",
        BASE + "/participants/{participantId}",
        remove_participant,
        "Remove a participant",
        "participants",
        204,
        errors=_PARTICIPANT,
    ),
    Operation(
        "POST",
        BASE + "/users",
        add_user,
        "Join (seed 002 alias; the body may be the user)",
        "users",
        body=UsersRequest,
        response=SessionEnvelope,
        errors=_JOIN,
    ),
    Operation(
        "GET",
        BASE + "/users",
        list_participants,
        "List participants (seed 002 alias)",
        "users",
        response=ParticipantList,
        errors=_NOT_FOUND,
    ),
    Operation(
        "DELETE",
        BASE + "/users/{userId}",
        remove_participant,
        "Leave a session (seed 002 alias)",
        "users",
        204,
        errors=_PARTICIPANT,
    ),
]

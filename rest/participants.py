"""Participants: join, list, update, remove, and the seed-002 ``/users`` aliases."""

from __future__ import annotations

from aiohttp import web

from crdt_server.update_log import now_ms
from storage import SessionRecord

from .errors import ApiError, not_found
from .keys import SERVICES
from .models import (
    JoinRequest,
    Participant,
    ParticipantList,
    SessionEnvelope,
    UpdateParticipantRequest,
    UserInfo,
    UsersRequest,
    read_body,
    respond,
)
from .routing import Operation
from .service import join, live_session, participant_view, session_view


def _missing(participant_id: str) -> ApiError:
    return not_found("PARTICIPANT_NOT_FOUND", f"participant {participant_id} not found")


async def _join_and_show(
    request: web.Request, record: SessionRecord, user: UserInfo | None
) -> web.StreamResponse:
    svc = request.app[SERVICES]
    await join(svc, record.id, user)
    fresh = await svc.storage.get_session(record.id) or record
    return respond(SessionEnvelope(data=await session_view(svc, fresh)))


async def join_session(request: web.Request) -> web.StreamResponse:
    record = await live_session(request.app[SERVICES], request.match_info["sessionId"])
    body = await read_body(request, JoinRequest, empty_ok=True)
    return await _join_and_show(request, record, body.user)


async def add_user(request: web.Request) -> web.StreamResponse:
    """Seed 002 posts the user itself (``{"name": ...}``); ``{"user": {...}}`` works too."""
    record = await live_session(request.app[SERVICES], request.match_info["sessionId"])
    body = await read_body(request, UsersRequest, empty_ok=True)
    user = body.user or UserInfo(id=body.id, name=body.name, color=body.color)
    return await _join_and_show(request, record, user)


async def list_participants(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    participants = await svc.storage.list_participants(record.id)
    return respond(ParticipantList(participants=[participant_view(p) for p in participants]))


async def update_participant(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    participant_id = request.match_info["participantId"]
    if await svc.storage.get_participant(record.id, participant_id) is None:
        raise _missing(participant_id)
    body = await read_body(request, UpdateParticipantRequest)
    updated = await svc.storage.update_participant(
        record.id,
        participant_id,
        name=body.name,
        color=body.color,
        role=body.role,
        is_online=body.is_online,
    )
    if updated is None:
        raise _missing(participant_id)
    await svc.storage.touch_session(record.id, now_ms())
    return respond(participant_view(updated))


async def remove_participant(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    participant_id = request.match_info.get("participantId") or request.match_info["userId"]
    if not await svc.storage.delete_participant(record.id, participant_id):
        raise _missing(participant_id)
    await svc.storage.touch_session(record.id, now_ms())
    return web.Response(status=204)


BASE = "/sessions/{sessionId}"
_NOT_FOUND = (400, 404, 410)
OPERATIONS = [
    Operation(
        "POST",
        BASE + "/join",
        join_session,
        "Join a session as a candidate",
        "participants",
        body=JoinRequest,
        response=SessionEnvelope,
        errors=(*_NOT_FOUND, 409),
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
        errors=_NOT_FOUND,
    ),
    Operation(
        "DELETE",
        BASE + "/participants/{participantId}",
        remove_participant,
        "Remove a participant",
        "participants",
        204,
        errors=_NOT_FOUND,
    ),
    Operation(
        "POST",
        BASE + "/users",
        add_user,
        "Join (seed 002 alias; the body may be the user)",
        "users",
        body=UsersRequest,
        response=SessionEnvelope,
        errors=(*_NOT_FOUND, 409),
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
        errors=_NOT_FOUND,
    ),
]

"""Participants: join, list, update, remove, and the seed-002 ``/users`` aliases."""

from __future__ import annotations

from aiohttp import web

from crdt_server.core.access import Grant
from crdt_server.core.actor import Role
from crdt_server.core.errors import (
    Forbidden,
    InvalidInput,
    ParticipantNotFound,
    RateLimited,
    SessionExpired,
    SessionFull,
    SessionNotFound,
    Unauthorized,
    Unavailable,
)
from crdt_server.core.sessions import NewUser, SessionCore

from .auth import grant
from .keys import LIVE
from .models import (
    JoinedEnvelope,
    JoinedSession,
    JoinRequest,
    Participant,
    ParticipantList,
    UpdateParticipantRequest,
    UsersRequest,
    read_body,
    respond,
)
from .routing import Link, Operation
from .views import participant_view, session_view


async def _join(request: web.Request, body: type[JoinRequest] | type[UsersRequest]) -> web.Response:
    """Open server: join as a candidate. With tokens: an invite joins in its role, and a
    participant's own token rejoins that participant; the answer carries the joiner's token."""
    live = request.app[LIVE]
    who = await grant(request)
    given = await read_body(request, body, empty_ok=True)
    user: NewUser | None = None if given.user is None else given.user.new_user()
    if isinstance(given, UsersRequest) and given.user is None:
        user = given.new_user()  # seed 002 posts the user itself: {"name": ...}
    role = Role.CANDIDATE
    if not live.access.open:
        user = await _joiner(live.sessions, who, user)
        role = who.invite or Role(who.participant.role if who.participant else "candidate")
    state, participant = await live.sessions.join(who.session, user, role)
    view = session_view(state).model_dump()
    data = JoinedSession.model_validate({**view, "participant_id": participant.id})
    if not live.access.open:
        data = data.model_copy(update={"token": live.sessions.issue(state.session, participant)})
    return respond(JoinedEnvelope(data=data))


async def _joiner(core: SessionCore, who: Grant, user: NewUser | None) -> NewUser | None:
    """Who a token may join as: its own participant, or (an invite) a new one."""
    given = user or NewUser()
    if who.participant is not None:
        if given.id not in (None, who.participant.id):
            raise Forbidden("a participant's token joins as that participant only")
        return NewUser(who.participant.id, given.name, given.color)
    if given.id is not None:
        try:
            await core.participant(who.session.id, given.id)
        except ParticipantNotFound:
            return given
        raise Forbidden("that participant id is taken")
    return given


async def join_session(request: web.Request) -> web.StreamResponse:
    return await _join(request, JoinRequest)


async def add_user(request: web.Request) -> web.StreamResponse:
    """Seed 002 posts the user itself (``{"name": ...}``); ``{"user": {...}}`` works too."""
    return await _join(request, UsersRequest)


async def list_participants(request: web.Request) -> web.StreamResponse:
    record = (await grant(request)).session
    participants = await request.app[LIVE].sessions.participants(record)
    return respond(ParticipantList(participants=[participant_view(p) for p in participants]))


async def update_participant(request: web.Request) -> web.StreamResponse:
    core = request.app[LIVE].sessions
    who = await grant(request)
    participant = await core.participant(who.session.id, request.match_info["participantId"])
    body = await read_body(request, UpdateParticipantRequest)  # 404 before 400
    updated = await core.update_participant(
        who.actor,
        who.session,
        participant.id,
        name=body.name,
        color=body.color,
        role=body.role,
        is_online=body.is_online,
    )
    return respond(participant_view(updated))


async def remove_participant(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    participant_id = request.match_info.get("participantId") or request.match_info["userId"]
    await request.app[LIVE].sessions.remove_participant(who.actor, who.session, participant_id)
    return web.Response(status=204)


BASE = "/sessions/{sessionId}"
_NOT_FOUND = (InvalidInput, Unauthorized, Forbidden, SessionNotFound, SessionExpired, Unavailable)
_PARTICIPANT = (*_NOT_FOUND, ParticipantNotFound, Forbidden, web.HTTPUnsupportedMediaType)
_JOIN = (
    *_NOT_FOUND,
    SessionFull,
    RateLimited,
    web.HTTPRequestEntityTooLarge,
    web.HTTPUnsupportedMediaType,
)
#: A join answers with the joiner's id: what takes a participant id can take it from there.
_JOINER = {
    "sessionId": "$request.path.sessionId",
    "participantId": "$response.body#/data/participantId",
}
_JOINER_LINKS = (
    Link("UpdateJoiner", "PATCH", BASE + "/participants/{participantId}", _JOINER),
    Link("RemoveJoiner", "DELETE", BASE + "/participants/{participantId}", _JOINER),
    Link(
        "JoinerLeaves",
        "DELETE",
        BASE + "/users/{userId}",
        {"sessionId": _JOINER["sessionId"], "userId": _JOINER["participantId"]},
    ),
)
OPERATIONS = [
    Operation(
        "POST",
        BASE + "/join",
        join_session,
        "Join a session as a candidate",
        "participants",
        body=JoinRequest,
        example={"user": {"name": "Grace Hopper"}},
        response=JoinedEnvelope,
        errors=_JOIN,
        links=_JOINER_LINKS,
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
        example={"name": "Grace B. Hopper", "color": "#3b82f6"},
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
        example={"name": "Grace Hopper"},
        response=JoinedEnvelope,
        errors=_JOIN,
        links=_JOINER_LINKS,
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

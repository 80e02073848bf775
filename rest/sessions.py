"""Sessions: create, read, update, delete, and code snapshots."""

from __future__ import annotations

from aiohttp import web

from crdt_server.core.actor import Actor, Role, Via
from crdt_server.core.errors import (
    DocumentDamaged,
    DocumentTooLarge,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    SessionEnded,
    SessionExpired,
    SessionNotFound,
    StorageFull,
    Unauthorized,
    Unavailable,
    VersionUnknown,
)
from crdt_server.core.sessions import actor_for
from crdt_server.ws import client_key

from .auth import bearer, grant, key_id, require_api_key
from .keys import LIVE
from .models import (
    CreatedEnvelope,
    CreatedSession,
    CreateSessionRequest,
    Invite,
    InviteEnvelope,
    PutCodeRequest,
    RotateInviteRequest,
    SessionEnvelope,
    StartRequest,
    UpdateSessionRequest,
    read_body,
    respond,
)
from .routing import Operation
from .views import session_view

_ETAG = "ETag"


def _answer(view: SessionEnvelope, status: int = 200) -> web.Response:
    response = respond(view, status=status)
    response.headers[_ETAG] = f'"{view.data.version}"'
    return response


def _if_match(request: web.Request) -> str | None:
    """The version an ``If-Match`` header names (``*`` and a list name none)."""
    raw = request.headers.get("If-Match", "").strip()
    if not raw or raw == "*" or "," in raw:
        return None
    return raw.removeprefix("W/").strip('"')


def demo_link(request: web.Request, session_id: str, token: str) -> str:
    return f"{request.scheme}://{request.host}/demo/?session={session_id}&token={token}"


async def create(request: web.Request) -> web.StreamResponse:
    require_api_key(request)
    body = await read_body(request, CreateSessionRequest, empty_ok=True)
    creator = None if body.creator is None else body.creator.new_user()
    live = request.app[LIVE]
    key = bearer(request) if not live.access.open else None
    client = f"key:{key_id(key)}" if key else client_key(request)
    if body.question_id is not None:
        await live.questions.get(body.question_id)  # 404 before a session is made
    state = await live.sessions.create(creator, body.code, body.language, client)
    if body.question_id is not None:
        creator_actor = actor_for(state.participants[0], Actor(Via.REST))
        await live.questions.attach(creator_actor, state.session, body.question_id)
        state = await live.sessions.state(state.session)
    if live.access.open:  # the seed shape, nothing added
        return _answer(SessionEnvelope(data=session_view(state)), status=201)
    record, owner = state.session, state.participants[0]
    invites = live.sessions.invites(record)
    tokens = {
        "interviewer": live.sessions.issue(record, owner),
        "candidate": invites[Role.CANDIDATE],
        "observer": invites[Role.OBSERVER],
    }
    links = {role: demo_link(request, record.id, token) for role, token in tokens.items()}
    data = CreatedSession.model_validate(
        {**session_view(state).model_dump(), "tokens": tokens, "links": links}
    )
    response = respond(CreatedEnvelope(data=data), status=201)
    response.headers[_ETAG] = f'"{data.version}"'
    return response


async def read(request: web.Request) -> web.StreamResponse:
    record = (await grant(request)).session
    return _answer(
        SessionEnvelope(data=session_view(await request.app[LIVE].sessions.state(record)))
    )


async def _write(
    request: web.Request, body: type[UpdateSessionRequest] | type[PutCodeRequest]
) -> web.Response:
    """One read of the session (404/410 before a bad body's 400), then the merged write."""
    core = request.app[LIVE].sessions
    who = await grant(request)
    change = await read_body(request, body)
    base = change.base_version or _if_match(request)
    state = await core.write(who.actor, who.session, change.code, change.language, base)
    return _answer(SessionEnvelope(data=session_view(state)))


async def update(request: web.Request) -> web.StreamResponse:
    return await _write(request, UpdateSessionRequest)


async def put_code(request: web.Request) -> web.StreamResponse:
    return await _write(request, PutCodeRequest)


async def delete(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    await request.app[LIVE].sessions.delete(who.actor, who.session)
    return web.Response(status=204)


async def rotate_invite(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, RotateInviteRequest)
    role = Role(body.role)
    token = await request.app[LIVE].sessions.rotate_invite(who.actor, who.session, role)
    invite = Invite(role=role.value, token=token, link=demo_link(request, who.session.id, token))
    return respond(InviteEnvelope(data=invite))


SESSION = "/sessions/{sessionId}"
_LOOKUP = (InvalidInput, Unauthorized, Forbidden, SessionNotFound, SessionExpired, Unavailable)
_WRITE = (
    *_LOOKUP,
    Forbidden,
    VersionUnknown,
    DocumentTooLarge,
    DocumentDamaged,
    web.HTTPRequestEntityTooLarge,
    web.HTTPUnsupportedMediaType,
)


async def start(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, StartRequest, empty_ok=True)
    core = request.app[LIVE].sessions
    await core.start(who.actor, who.session, body.duration_ms)
    return _answer(
        SessionEnvelope(data=session_view(await core.state(await core.get(who.session.id))))
    )


async def end(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    core = request.app[LIVE].sessions
    await core.end(who.actor, who.session)
    return _answer(
        SessionEnvelope(data=session_view(await core.state(await core.get(who.session.id))))
    )


OPERATIONS = [
    Operation(
        "POST",
        "/sessions",
        create,
        "Create a session; the creator becomes the interviewer",
        "sessions",
        201,
        CreateSessionRequest,
        CreatedEnvelope,
        (
            InvalidInput,
            Unauthorized,
            web.HTTPRequestEntityTooLarge,
            web.HTTPUnsupportedMediaType,
            RateLimited,
            StorageFull,
            Unavailable,
            NotFound,
        ),
        example={
            "creator": {"name": "Ada Lovelace"},
            "code": "def add(a, b):\n    return a + b\n",
            "language": "python",
        },
    ),
    Operation(
        "GET",
        SESSION,
        read,
        "Read a session with its live code (ETag: its version)",
        "sessions",
        response=SessionEnvelope,
        errors=_LOOKUP,
    ),
    Operation(
        "PATCH",
        SESSION,
        update,
        "Update code and/or language, merged as a minimal edit of the version it was made "
        "from (baseVersion or If-Match, else the closest recent one)",
        "sessions",
        body=UpdateSessionRequest,
        example={"code": "print('hello')\n", "language": "python"},
        response=SessionEnvelope,
        errors=_WRITE,
    ),
    Operation(
        "DELETE",
        SESSION,
        delete,
        "Delete a session; its live sockets are closed (4410)",
        "sessions",
        204,
        errors=(*_LOOKUP, Forbidden),
    ),
    Operation(
        "PUT",
        SESSION + "/code",
        put_code,
        "Save a code snapshot, merged like PATCH",
        "sessions",
        body=PutCodeRequest,
        example={"code": "print('hello, again')\n"},
        response=SessionEnvelope,
        errors=_WRITE,
    ),
    Operation(
        "POST",
        SESSION + "/start",
        start,
        "Start the interview (interviewer), with an optional planned length for everyone's "
        "timer; starting again changes nothing",
        "interview",
        body=StartRequest,
        response=SessionEnvelope,
        errors=(*_LOOKUP, SessionEnded, DocumentDamaged),
        example={"durationMs": 45 * 60 * 1000},
    ),
    Operation(
        "POST",
        SESSION + "/end",
        end,
        "End the interview (interviewer): every editor shows it and the session is frozen "
        "for everyone; a last snapshot is taken",
        "interview",
        response=SessionEnvelope,
        errors=(*_LOOKUP, DocumentDamaged),
    ),
    Operation(
        "POST",
        SESSION + "/invites/rotate",
        rotate_invite,
        "Replace the candidate or observer invite; the old one stops working (interviewer)",
        "sessions",
        body=RotateInviteRequest,
        example={"role": "candidate"},
        response=InviteEnvelope,
        errors=(*_LOOKUP, web.HTTPUnsupportedMediaType),
    ),
]

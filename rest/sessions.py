"""Sessions: create, read, update, delete, and code snapshots."""

from __future__ import annotations

from aiohttp import web

from crdt_server.core.errors import (
    DocumentDamaged,
    DocumentTooLarge,
    Forbidden,
    InvalidInput,
    RateLimited,
    SessionExpired,
    SessionNotFound,
    StorageFull,
    Unavailable,
    VersionUnknown,
)

from .keys import LIVE
from .models import (
    CreateSessionRequest,
    PutCodeRequest,
    SessionEnvelope,
    UpdateSessionRequest,
    read_body,
    respond,
)
from .routing import Operation
from .views import ANONYMOUS, client_key, session_view

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


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, CreateSessionRequest, empty_ok=True)
    creator = None if body.creator is None else body.creator.new_user()
    state = await request.app[LIVE].sessions.create(
        creator, body.code, body.language, client_key(request)
    )
    return _answer(SessionEnvelope(data=session_view(state)), status=201)


async def read(request: web.Request) -> web.StreamResponse:
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    return _answer(SessionEnvelope(data=session_view(await core.state(record))))


async def _write(
    request: web.Request, body: type[UpdateSessionRequest] | type[PutCodeRequest]
) -> web.Response:
    """One read of the session (404/410 before a bad body's 400), then the merged write."""
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    change = await read_body(request, body)
    base = change.base_version or _if_match(request)
    state = await core.write(ANONYMOUS, record, change.code, change.language, base)
    return _answer(SessionEnvelope(data=session_view(state)))


async def update(request: web.Request) -> web.StreamResponse:
    return await _write(request, UpdateSessionRequest)


async def put_code(request: web.Request) -> web.StreamResponse:
    return await _write(request, PutCodeRequest)


async def delete(request: web.Request) -> web.StreamResponse:
    core = request.app[LIVE].sessions
    record = await core.get(request.match_info["sessionId"])
    await core.delete(ANONYMOUS, record)
    return web.Response(status=204)


SESSION = "/sessions/{sessionId}"
_LOOKUP = (InvalidInput, SessionNotFound, SessionExpired, Unavailable)
_WRITE = (
    *_LOOKUP,
    Forbidden,
    VersionUnknown,
    DocumentTooLarge,
    DocumentDamaged,
    web.HTTPRequestEntityTooLarge,
    web.HTTPUnsupportedMediaType,
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
        SessionEnvelope,
        (
            InvalidInput,
            web.HTTPRequestEntityTooLarge,
            web.HTTPUnsupportedMediaType,
            RateLimited,
            StorageFull,
            Unavailable,
        ),
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
        response=SessionEnvelope,
        errors=_WRITE,
    ),
]

"""Sessions: create, read, update, delete, and code snapshots."""

from __future__ import annotations

from aiohttp import web

from storage import SessionRecord

from .keys import SERVICES
from .models import (
    CreateSessionRequest,
    PutCodeRequest,
    SessionEnvelope,
    UpdateSessionRequest,
    read_body,
    respond,
)
from .routing import Operation
from .service import create_session, live_session, session_view, write_code

#: The close code and reason sockets of a deleted session get (44xx: clients stop retrying).
DELETED = (4410, "session deleted")


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, CreateSessionRequest, empty_ok=True)
    svc = request.app[SERVICES]
    record = await create_session(svc, body.creator, body.code, body.language)
    return respond(SessionEnvelope(data=await session_view(svc, record)), status=201)


async def read(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    return respond(SessionEnvelope(data=await session_view(svc, record)))


async def _write(
    request: web.Request, record: SessionRecord, code: str | None, language: str | None
) -> web.StreamResponse:
    svc = request.app[SERVICES]
    await write_code(svc, record.id, code, language)
    fresh = await svc.storage.get_session(record.id) or record
    return respond(SessionEnvelope(data=await session_view(svc, fresh)))


async def update(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])  # 404/410 before 400
    body = await read_body(request, UpdateSessionRequest)
    return await _write(request, record, body.code, body.language)


async def put_code(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    body = await read_body(request, PutCodeRequest)
    return await _write(request, record, body.code, body.language)


async def delete(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    await svc.storage.delete_session(record.id)
    await svc.rooms.discard(record.id, *DELETED)
    return web.Response(status=204)


SESSION = "/sessions/{sessionId}"
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
        (400, 413),
    ),
    Operation(
        "GET",
        SESSION,
        read,
        "Read a session with its live code",
        "sessions",
        response=SessionEnvelope,
        errors=(400, 404, 410),
    ),
    Operation(
        "PATCH",
        SESSION,
        update,
        "Update code and/or language (merged as a minimal edit)",
        "sessions",
        body=UpdateSessionRequest,
        response=SessionEnvelope,
        errors=(400, 404, 410, 413),
    ),
    Operation(
        "DELETE",
        SESSION,
        delete,
        "Delete a session; its live sockets are closed (4410)",
        "sessions",
        204,
        errors=(400, 404, 410),
    ),
    Operation(
        "PUT",
        SESSION + "/code",
        put_code,
        "Save a code snapshot (merged as a minimal edit)",
        "sessions",
        body=PutCodeRequest,
        response=SessionEnvelope,
        errors=(400, 404, 410, 413),
    ),
]

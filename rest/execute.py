"""Code execution: ``POST /execute`` (seed 002) and runs shared in a session's document."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from crdt_server.core.errors import (
    DocumentTooLarge,
    Forbidden,
    InvalidInput,
    ParticipantNotFound,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
    Unavailable,
)
from crdt_server.ws import client_key
from execution import ExecutionError, InvalidRunRequest, QueueFull, SandboxUnavailable

from .auth import grant, require_key_or_interviewer
from .keys import LIVE
from .models import (
    ExecuteRequest,
    ExecuteResponse,
    LanguageList,
    LanguageModel,
    RunList,
    RunModel,
    RunResponse,
    SessionExecuteRequest,
    read_body,
    respond,
)
from .routing import Operation
from .views import result_view, run_view


async def execute(request: web.Request) -> web.StreamResponse:
    live = request.app[LIVE]
    await require_key_or_interviewer(request, "running code outside a session")
    body = await read_body(request, ExecuteRequest)
    engine = await live.ready_executor()
    result = await live.metrics.timed_run(
        body.language,
        engine.run(
            body.code,
            body.language,
            body.stdin or "",
            body.timeout_ms,
            owners=[client_key(request)],
        ),
    )
    return respond(ExecuteResponse(data=result_view(result)))


async def languages(request: web.Request) -> web.StreamResponse:
    engine = await request.app[LIVE].ready_executor()
    items = [
        LanguageModel(name=i.name, version=i.version, aliases=list(i.aliases), runtime=i.runtime)
        for i in engine.languages()
    ]
    return respond(
        LanguageList(data=items, sandboxed=engine.available, reason=engine.unavailable_reason)
    )


async def execute_session(request: web.Request) -> web.StreamResponse:
    live = request.app[LIVE]
    who = await grant(request)
    body = await read_body(request, SessionExecuteRequest, empty_ok=True)
    run = await live.runs.run(
        who.actor, who.session, body.user_id, body.stdin or "", client=client_key(request)
    )
    return respond(RunResponse(data=run_view(run)))


def _valid_runs(stored: list[object]) -> list[RunModel]:
    """The runs clients see; anything else a client wrote into the array is left out."""
    runs = []
    for item in stored:
        try:
            runs.append(RunModel.model_validate(item))
        except ValidationError:
            continue
    return runs


async def list_runs(request: web.Request) -> web.StreamResponse:
    live = request.app[LIVE]
    who = await grant(request)
    stored = await live.runs.stored_runs(who.actor, who.session)
    return respond(RunList(data=_valid_runs(stored)))


SESSION = "/sessions/{sessionId}"
_LOOKUP = (InvalidInput, Unauthorized, Forbidden, SessionNotFound, SessionExpired, Unavailable)
_RUN = (
    InvalidRunRequest,
    web.HTTPRequestEntityTooLarge,
    web.HTTPUnsupportedMediaType,
    QueueFull,
    ExecutionError,
    DocumentTooLarge,
)
OPERATIONS = [
    Operation(
        "POST",
        "/execute",
        execute,
        "Run code in the sandbox (seed 002)",
        "execution",
        body=ExecuteRequest,
        example={
            "code": "print(input())",
            "language": "python",
            "stdin": "hello\n",
            "timeoutMs": 5000,
        },
        response=ExecuteResponse,
        errors=(InvalidInput, Unauthorized, Forbidden, *_RUN, SandboxUnavailable),
    ),
    Operation(
        "GET",
        "/execute/languages",
        languages,
        "What this host can run, with versions",
        "execution",
        response=LanguageList,
        errors=(),
    ),
    Operation(
        "POST",
        SESSION + "/execute",
        execute_session,
        "Run the session's current code; the run is shared in the room",
        "execution",
        body=SessionExecuteRequest,
        example={"stdin": ""},
        response=RunResponse,
        errors=(*_LOOKUP, ParticipantNotFound, Forbidden, *_RUN, SandboxUnavailable),
    ),
    Operation(
        "GET",
        SESSION + "/runs",
        list_runs,
        "The session's runs, newest last",
        "execution",
        response=RunList,
        errors=(*_LOOKUP, Forbidden),
    ),
]

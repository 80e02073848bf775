"""Code execution: ``POST /execute`` (seed 002) and runs shared in a session's document.

A session run executes the live code in the live language, takes a history
snapshot of that exact code, and appends the result to the document's
``Y.Array`` "runs" (newest last, bounded), so every editor shows it at once.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from aiohttp import web
from pycrdt import Array

from crdt_server.document import YDoc
from crdt_server.update_log import now_ms

from .errors import ApiError
from .execution import ExecutionError, Executor, RunResult
from .keys import EXECUTOR, EXECUTOR_PROBE, SERVICES
from .models import (
    ExecuteRequest,
    ExecuteResponse,
    ExecutionResult,
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
from .service import live_session

RUNS = "runs"
MAX_RUNS = 20


def result_model(result: RunResult) -> ExecutionResult:
    return ExecutionResult(
        language=result.language,
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        execution_time=result.execution_time_ms,
        timed_out=result.timed_out,
        memory_exceeded=result.memory_exceeded,
        output_truncated=result.output_truncated,
        sandboxed=result.sandboxed,
    )


async def executor(app: web.Application) -> Executor:
    """The executor, once its start-up probe has finished."""
    await asyncio.shield(app[EXECUTOR_PROBE])
    return app[EXECUTOR]


async def _run(
    executor: Executor, code: str, language: str, stdin: str, timeout_ms: int | None
) -> RunResult:
    try:
        return await executor.run(code, language, stdin=stdin, timeout_ms=timeout_ms)
    except ExecutionError as exc:
        status = {"SANDBOX_UNAVAILABLE": 503, "RATE_LIMITED": 429, "INVALID_REQUEST": 400}
        raise ApiError(status.get(exc.code, 500), exc.code, str(exc)) from None


async def execute(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, ExecuteRequest)
    engine = await executor(request.app)
    result = await _run(engine, body.code, body.language, body.stdin or "", body.timeout_ms)
    return respond(ExecuteResponse(data=result_model(result)))


async def languages(request: web.Request) -> web.StreamResponse:
    engine = await executor(request.app)
    items = [
        LanguageModel(name=i.name, version=i.version, aliases=list(i.aliases), runtime=i.runtime)
        for i in engine.languages()
    ]
    return respond(
        LanguageList(data=items, sandboxed=engine.available, reason=engine.unavailable_reason)
    )


def runs_array(doc: YDoc) -> Array[Any]:
    runs: Array[Any] = doc.get(RUNS, type=Array)
    return runs


def _append_run(doc: YDoc, run: dict[str, Any]) -> None:
    runs = runs_array(doc)
    runs.append(run)
    if len(runs) > MAX_RUNS:
        del runs[0 : len(runs) - MAX_RUNS]


async def execute_session(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    body = await read_body(request, SessionExecuteRequest, empty_ok=True)
    if (
        body.user_id is not None
        and await svc.storage.get_participant(record.id, body.user_id) is None
    ):
        raise ApiError(404, "PARTICIPANT_NOT_FOUND", f"participant {body.user_id} not found")
    room = await svc.rooms.get(record.id)
    code, language, started = room.code, room.language, now_ms()
    result = await _run(await executor(request.app), code, language, body.stdin or "", None)
    snapshot = await svc.storage.add_history(record.id, started, code, language)
    run = RunModel(
        id=secrets.token_hex(6),
        user_id=body.user_id,
        at=started,
        history=snapshot,
        code=code,
        **result_model(result).model_dump(),
    )
    room = await svc.rooms.get(record.id)  # the room may have been reloaded meanwhile
    room.edit(lambda doc: _append_run(doc, run.model_dump(by_alias=True)), "execute")
    await svc.rooms.log.flush()
    return respond(RunResponse(data=run))


async def list_runs(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    record = await live_session(svc, request.match_info["sessionId"])
    room = await svc.rooms.get(record.id)
    stored = runs_array(room.doc).to_py() or []
    runs = [RunModel.model_validate(item) for item in stored if isinstance(item, dict)]
    return respond(RunList(data=runs))


SESSION = "/sessions/{sessionId}"
OPERATIONS = [
    Operation(
        "POST",
        "/execute",
        execute,
        "Run code in the sandbox (seed 002)",
        "execution",
        body=ExecuteRequest,
        response=ExecuteResponse,
        errors=(400, 413, 429, 503),
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
        response=RunResponse,
        errors=(400, 404, 410, 429, 503),
    ),
    Operation(
        "GET",
        SESSION + "/runs",
        list_runs,
        "The session's runs, newest last",
        "execution",
        response=RunList,
        errors=(400, 404, 410),
    ),
]

"""The one error envelope, the one table of statuses, and the middleware that uses both.

``{"success": false, "error": "human message", "code": "MACHINE_CODE"}`` for
every failure: the session core's refusals and the sandbox's, aiohttp's
404/405/413, validation errors, and crashes (500, logged with the request id
the response carries). :data:`PROBLEMS` maps each error type to its status and
code; the OpenAPI generator documents every operation's errors from it.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from crdt_server.core.errors import (
    DocumentDamaged,
    DocumentTooLarge,
    Draining,
    Forbidden,
    InvalidInput,
    NotFound,
    ParticipantNotFound,
    RateLimited,
    SessionDeleted,
    SessionEnded,
    SessionError,
    SessionExpired,
    SessionFull,
    SessionNotFound,
    StorageFull,
    Unauthorized,
    Unavailable,
    VersionUnknown,
)
from execution import ExecutionError, InvalidRunRequest, QueueFull, SandboxUnavailable

from .keys import LIVE

log = logging.getLogger(__name__)

#: Set on a request whose connection must close once it is answered (its body was garbled).
CLOSE_AFTER = web.RequestKey("close_after", bool)
#: The request's id, given by ``request_log.context_middleware`` before anything else runs.
REQUEST_ID = web.RequestKey("request_id", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Problem:
    """How one kind of failure looks over HTTP."""

    status: int
    code: str
    summary: str


PROBLEMS: dict[type[Exception], Problem] = {
    InvalidInput: Problem(400, "INVALID_REQUEST", "Malformed request or failed validation"),
    InvalidRunRequest: Problem(400, "INVALID_REQUEST", "Unknown language or bad run options"),
    Unauthorized: Problem(401, "UNAUTHORIZED", "No valid token for this session"),
    Forbidden: Problem(403, "FORBIDDEN", "The caller's role does not allow this"),
    SessionNotFound: Problem(404, "SESSION_NOT_FOUND", "No such session"),
    ParticipantNotFound: Problem(404, "PARTICIPANT_NOT_FOUND", "No such participant"),
    NotFound: Problem(404, "NOT_FOUND", "No such item in the session"),
    web.HTTPNotFound: Problem(404, "NOT_FOUND", "No such route"),
    web.HTTPMethodNotAllowed: Problem(405, "METHOD_NOT_ALLOWED", "Wrong method"),
    SessionFull: Problem(409, "SESSION_FULL", "The session has its maximum of participants"),
    DocumentDamaged: Problem(409, "DOCUMENT_DAMAGED", "The stored document is damaged: read-only"),
    SessionEnded: Problem(409, "SESSION_ENDED", "The interview ended: the session is frozen"),
    SessionExpired: Problem(410, "SESSION_EXPIRED", "The session has expired"),
    SessionDeleted: Problem(410, "SESSION_EXPIRED", "The session was deleted"),
    VersionUnknown: Problem(412, "VERSION_UNKNOWN", "The base version is no longer known"),
    web.HTTPRequestEntityTooLarge: Problem(413, "PAYLOAD_TOO_LARGE", "Request body too large"),
    DocumentTooLarge: Problem(413, "DOCUMENT_TOO_LARGE", "The document would pass its limit"),
    web.HTTPUnsupportedMediaType: Problem(415, "UNSUPPORTED_MEDIA_TYPE", "The body is not JSON"),
    RateLimited: Problem(429, "RATE_LIMITED", "Too many requests; see Retry-After"),
    StorageFull: Problem(507, "STORAGE_FULL", "Storage is full: no new sessions"),
    QueueFull: Problem(429, "RATE_LIMITED", "Too many runs waiting"),
    ExecutionError: Problem(500, "INTERNAL_ERROR", "The program could not be started"),
    Unavailable: Problem(503, "SERVICE_UNAVAILABLE", "A dependency is unavailable"),
    SandboxUnavailable: Problem(503, "SANDBOX_UNAVAILABLE", "Code execution is unavailable"),
}
_BY_STATUS = {400: "INVALID_REQUEST", 408: "REQUEST_TIMEOUT"}


def problem_for(kind: type[Exception]) -> Problem | None:
    """The table's row for ``kind`` or its nearest listed base class."""
    for base in kind.__mro__:
        problem = PROBLEMS.get(base)
        if problem is not None:
            return problem
    return None


def envelope(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"success": False, "error": message, "code": code, **extra}
    return web.json_response(body, status=status)


def request_id(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a safe token, else a fresh one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else secrets.token_hex(8)


def _from_http(exc: web.HTTPException, request: web.Request) -> web.StreamResponse:
    if exc.status < 400:
        raise exc  # redirects and the like pass through
    problem = problem_for(type(exc))
    fallback = "INVALID_REQUEST" if exc.status < 500 else "INTERNAL_ERROR"
    code = problem.code if problem else _BY_STATUS.get(exc.status, fallback)
    if exc.status == 404:
        message = f"no route for {request.method} {request.path}"
    elif exc.status == 405:
        message = f"method {request.method} not allowed on {request.path}"
    elif exc.status == 413:
        message = "request body too large"
    elif exc.status == 415 and hdrs.ACCEPT_ENCODING in exc.headers:
        message = f"{exc.reason}: send {exc.headers[hdrs.ACCEPT_ENCODING]} or identity"
    elif exc.status == 415:
        message = "the body must be JSON (Content-Type: application/json)"
    else:
        message = exc.reason
    response = envelope(exc.status, code, message)
    for header in (hdrs.ALLOW, hdrs.ACCEPT_ENCODING):
        if header in exc.headers:
            response.headers[header] = exc.headers[header]
    return response


class BadHttpLogFilter(logging.Filter):
    """aiohttp logs a request it cannot parse as HTTP (a garbled header, a bad chunk size)
    at ERROR with a traceback, though it is the client's fault and aiohttp answers it 400
    itself: make it one INFO line, so the log's errors are ours alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code < 500:
            first = str(exc.message).strip().splitlines()[0] if exc.message else ""
            record.msg, record.args = "%s: %d %s", (record.getMessage(), exc.code, first)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def quiet_bad_http() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, BadHttpLogFilter) for f in server_log.filters):
        server_log.addFilter(BadHttpLogFilter())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to the envelope; tag every response with its request id."""
    rid = request.get(REQUEST_ID) or request_id(request)
    try:
        response = await handler(request)
    except (SessionError, ExecutionError) as exc:
        problem = problem_for(type(exc))
        assert problem is not None  # both bases are in the table
        details = exc.details if isinstance(exc, SessionError) else {}
        if problem.status >= 500 and not isinstance(exc, Draining):
            log.error("request %s: %s %s: %s", rid, request.method, request.path, exc)
        live = request.app.get(LIVE)
        if problem.status == 429 and live is not None:
            live.metrics.rate_limited.labels("http").inc()
        response = envelope(problem.status, problem.code, str(exc), **details)
        if problem.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="codeinterview"'
        if "retryAfter" in details:
            response.headers["Retry-After"] = str(math.ceil(details["retryAfter"]))
    except web.HTTPException as exc:
        response = _from_http(exc, request)
    except Exception:
        log.exception("request %s failed: %s %s", rid, request.method, request.path)
        response = envelope(
            500, "INTERNAL_ERROR", f"internal error (request id {rid})", requestId=rid
        )
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = rid
        if request.get(CLOSE_AFTER):
            response.force_close()
    return response

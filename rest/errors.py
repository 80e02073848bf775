"""The one error envelope and the middleware that puts every failure into it.

``{"success": false, "error": "human message", "code": "MACHINE_CODE"}`` for
every failure: our own errors, aiohttp's 404/405/413, validation errors and
crashes (500, logged with the request id the response carries).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

_HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """A failure with a status, a machine code and a message meant for the client."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def invalid(message: str, **extra: Any) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message, **extra)


def envelope(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"success": False, "error": message, "code": code, **extra}
    return web.json_response(body, status=status)


def _request_id(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else secrets.token_hex(8)


def _from_http(exc: web.HTTPException, request: web.Request) -> web.StreamResponse:
    if exc.status < 400:
        raise exc  # redirects and the like pass through
    code = _HTTP_CODES.get(exc.status, "INVALID_REQUEST" if exc.status < 500 else "INTERNAL_ERROR")
    if exc.status == 404:
        message = f"no route for {request.method} {request.path}"
    elif exc.status == 405:
        message = f"method {request.method} not allowed on {request.path}"
    elif exc.status == 413:
        message = "request body too large"
    else:
        message = exc.reason
    response = envelope(exc.status, code, message)
    for header in ("Allow",):
        if header in exc.headers:
            response.headers[header] = exc.headers[header]
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to the envelope; tag every response with its request id."""
    request_id = _request_id(request)
    try:
        response = await handler(request)
    except ApiError as exc:
        response = envelope(exc.status, exc.code, exc.message, **exc.extra)
    except web.HTTPException as exc:
        response = _from_http(exc, request)
    except Exception:
        log.exception("request %s failed: %s %s", request_id, request.method, request.path)
        response = envelope(
            500, "INTERNAL_ERROR", f"internal error (request id {request_id})", requestId=request_id
        )
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response

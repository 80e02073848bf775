"""Each request's id and log context, and the access log line written once it is answered.

The access line names the path, never the query string: a socket's ``?token=`` is a
credential. A WebSocket's line is written when the socket closes (status 101, its
lifetime as the duration).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from crdt_server.logs import bind_request
from crdt_server.ws import client_address

from .errors import REQUEST_ID, Handler, request_id

ACCESS_LOGGER = "crdt_server.access"


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its id (the caller's ``X-Request-Id`` when safe) and put it, and
    the path's session, on every line logged while it is served."""
    rid = request[REQUEST_ID] = request_id(request)
    bind_request(rid, request.match_info.get("sessionId"))
    return await handler(request)


class AccessLogger(AbstractAccessLogger):
    """One INFO line per answered request, its fields also as JSON keys."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        duration_ms = round(time * 1000, 1)
        route, session_id, remote = "unmatched", None, request.remote
        if isinstance(request, web.Request):
            remote = client_address(request)
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else route
            session_id = request.match_info.get("sessionId")
        fields = {
            "event": "http.request",
            "request_id": request.get(REQUEST_ID),
            "session_id": session_id,
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": response.status,
            "duration_ms": duration_ms,
            "bytes": response.body_length,
            "remote": remote,
        }
        if isinstance(response, web.WebSocketResponse):
            fields["close_code"] = response.close_code
        self.logger.info(
            "%s %s %d %.1f ms",
            request.method,
            request.path,
            response.status,
            duration_ms,
            extra={key: value for key, value in fields.items() if value is not None},
        )


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)

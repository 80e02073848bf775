"""CORS: the allowed origins (any localhost origin by default); preflight answered."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from crdt_server.origins import OriginPolicy

from .errors import Handler

_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_EXPOSED = "X-Request-Id"


def cors_middleware(policy: OriginPolicy) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        preflight = (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        )
        if origin is None or not policy.allows(origin):
            return await handler(request)
        if preflight:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = _METHODS
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                response.headers["Access-Control-Allow-Headers"] = requested
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
            if response.prepared:  # a WebSocket: headers already sent
                return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
        response.headers["Vary"] = "Origin"
        return response

    return middleware

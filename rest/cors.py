"""CORS: allowed origins from the settings (any localhost origin by default), preflight answered."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Middleware

from .errors import Handler

_LOCALHOST = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")
_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_EXPOSED = "X-Request-Id"


class CorsPolicy:
    def __init__(self, origins: list[str]) -> None:
        self.any = "*" in origins
        self.localhost = "localhost" in origins
        self.exact = {o.rstrip("/") for o in origins if o not in ("*", "localhost")}

    def allows(self, origin: str) -> bool:
        return self.any or origin in self.exact or bool(self.localhost and _LOCALHOST.match(origin))


def cors_middleware(policy: CorsPolicy) -> Middleware:
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

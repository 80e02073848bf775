"""Who a REST request acts as: its bearer token, read by the session core's :class:`Access`."""

from __future__ import annotations

import hashlib

from aiohttp import hdrs, web

from crdt_server.core.access import Grant
from crdt_server.core.actor import Via
from crdt_server.core.errors import Forbidden, Unauthorized
from crdt_server.logs import ROLE
from crdt_server.ws import client_key

from .keys import LIVE


def key_id(key: str) -> str:
    """A name for an API key in quotas and logs that does not reveal it."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def grant(
    request: web.Request, *, query_token: bool = False, watching: bool = False
) -> Grant:
    """The caller's grant in the session of the path (``{sessionId}``); ``query_token``: a
    ``?token=`` is taken too (a page a browser opens cannot send a header); ``watching``:
    a playback link is taken too (playback's reads)."""
    access = request.app[LIVE].access
    token = bearer(request) or (request.query.get("token") if query_token else None)
    granted = await access.grant(
        token, request.match_info["sessionId"], Via.REST, client_key(request), watching=watching
    )
    role = granted.actor.role
    ROLE.set(role.value if role is not None else None)  # on the lines this request logs
    return granted


def require_api_key(request: web.Request) -> None:
    """Creating sessions takes an API key when tokens are on."""
    access = request.app[LIVE].access
    if not access.open and not access.is_api_key(bearer(request)):
        raise Unauthorized("an API key is required (Authorization: Bearer <key>)")


async def require_key_or_interviewer(request: web.Request, what: str) -> None:
    """``what`` takes an API key or an interviewer's token (of any session) when tokens are on."""
    access = request.app[LIVE].access
    if not await access.is_key_or_interviewer(bearer(request), client_key(request)):
        raise Forbidden(f"{what} takes an API key or an interviewer's token")

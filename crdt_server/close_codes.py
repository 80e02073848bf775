"""WebSocket close codes: the standard ones we use, ours in 4400-4499, and the one table
that maps the session core's refusals to them.

The stock y-websocket provider (v3) stops reconnecting on exactly 4400-4499, so every
permanent refusal uses that range; anything else makes it retry. The values below
1100 are those of aiohttp's ``WSCloseCode``; this module does not import aiohttp so the
rooms can close their peers with these codes too.
"""

from __future__ import annotations

from enum import IntEnum

from .core.errors import (
    DocumentDamaged,
    DocumentTooLarge,
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


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003  # a frame of the other protocol, an unknown message type
    INVALID_DATA = 1007  # a malformed frame
    POLICY_VIOLATION = 1008  # too many invalid events
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012  # server shutting down: reconnect (to another process)
    TRY_AGAIN_LATER = 1013  # storage unavailable; the client may retry
    BAD_REQUEST = 4400  # malformed session id or query
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404  # session or participant
    CONFLICT = 4409
    GONE = 4410  # expired or deleted


#: When each code is sent, for the docs (README and the AsyncAPI document say the same).
MEANINGS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "the socket was closed on purpose",
    CloseCode.GOING_AWAY: "not sent by this server; clients reconnect on it",
    CloseCode.UNSUPPORTED_DATA: "a frame of the other protocol, or an unknown message type",
    CloseCode.INVALID_DATA: "a malformed or truncated frame, or an update that fails the check",
    CloseCode.POLICY_VIOLATION: "too many invalid JSON events, too many awareness states, or no "
    "first frame in time",
    CloseCode.MESSAGE_TOO_BIG: "a frame, update, document or awareness state past its limit",
    CloseCode.SERVICE_RESTART: "the server is restarting: reconnect (to it or another process)",
    CloseCode.TRY_AGAIN_LATER: "storage unavailable, the session or client has all its sockets, "
    "the socket does not read, or the room was reset: reconnect later",
    CloseCode.BAD_REQUEST: "a malformed session id or query (permanent)",
    CloseCode.UNAUTHORIZED: "no valid token, or the participant was removed or the invite "
    "rotated (permanent)",
    CloseCode.FORBIDDEN: "a token of another session, another participant's userId, or an "
    "origin not allowed (permanent)",
    CloseCode.NOT_FOUND: "no such session or participant (permanent)",
    CloseCode.CONFLICT: "the stored document is damaged and read-only (permanent)",
    CloseCode.GONE: "the session expired or was deleted (permanent)",
}

CLOSE_CODES: dict[type[SessionError], CloseCode] = {
    InvalidInput: CloseCode.BAD_REQUEST,
    SessionNotFound: CloseCode.NOT_FOUND,
    ParticipantNotFound: CloseCode.NOT_FOUND,
    NotFound: CloseCode.NOT_FOUND,
    SessionExpired: CloseCode.GONE,
    SessionDeleted: CloseCode.GONE,
    SessionFull: CloseCode.CONFLICT,
    VersionUnknown: CloseCode.CONFLICT,
    Unauthorized: CloseCode.UNAUTHORIZED,
    Forbidden: CloseCode.FORBIDDEN,
    DocumentTooLarge: CloseCode.MESSAGE_TOO_BIG,
    DocumentDamaged: CloseCode.CONFLICT,
    SessionEnded: CloseCode.CONFLICT,
    RateLimited: CloseCode.TRY_AGAIN_LATER,
    StorageFull: CloseCode.TRY_AGAIN_LATER,
    Unavailable: CloseCode.TRY_AGAIN_LATER,
}


def close_for(error: SessionError) -> tuple[CloseCode, str]:
    """The close code and reason a socket refused with ``error`` gets."""
    for kind in type(error).__mro__:
        code = CLOSE_CODES.get(kind)
        if code is not None:
            return code, error.message[:120]  # a close reason must fit in 123 bytes
    return CloseCode.POLICY_VIOLATION, error.message[:120]

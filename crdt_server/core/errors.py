"""The session rules' refusals, as plain domain errors.

Nothing here knows HTTP or WebSocket: REST maps these to a status and a code in one
table (:mod:`rest.errors`), the socket handler to a close code in another
(:mod:`crdt_server.close_codes`). Messages are safe to show to clients.
"""

from __future__ import annotations

from typing import Any


class SessionError(Exception):
    """Base of every refusal of the session core."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(SessionError):
    """The request itself is malformed: a bad id, a missing field, too much code."""


class SessionNotFound(SessionError):
    """No session has this id."""


class ParticipantNotFound(SessionError):
    """The session has no participant with this id."""


class NotFound(SessionError):
    """Something else inside a session is missing (a history snapshot)."""


class SessionExpired(SessionError):
    """The session outlived its time to live; it answers this until it is deleted."""


class SessionDeleted(SessionError):
    """The session was deleted while a client was connected to it."""


class SessionEnded(SessionError):
    """The interview ended: the session is frozen (read-only for everyone), or it cannot be
    started again."""


class SessionFull(SessionError):
    """The session already holds its maximum of participants."""


class DocumentTooLarge(SessionError):
    """The write would grow the document past its size limit; nothing was applied."""


class DocumentDamaged(SessionError):
    """The stored document loaded only in part: the session is read-only."""


class Unauthorized(SessionError):
    """No token, or one that is malformed, forged, expired or revoked."""


class Forbidden(SessionError):
    """The actor's role does not allow this action."""


class VersionUnknown(SessionError):
    """A write names a base version the server no longer remembers."""


class RateLimited(SessionError):
    """The client passed one of its bounds; ``details["retry_after"]`` says when to retry."""


class StorageFull(SessionError):
    """Storage is past its high-water mark: no new sessions (existing ones keep working)."""


class Unavailable(SessionError):
    """A dependency (the database) did not answer; the client may retry."""


class Draining(Unavailable):
    """The server is shutting down: new sockets and readiness are refused, as expected (an
    answer, not an error worth a log line)."""

"""One typed error hierarchy: implementations raise these and nothing else.

Driver errors (sqlite3, a closed aiosqlite connection, a full disk) become
:class:`StorageUnavailable`, so callers catch :class:`StorageError` and never a driver type.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage failure."""


class StorageUnavailable(StorageError):
    """The database did not answer or refused the statement (closed, locked, disk full)."""


class DuplicateSessionId(StorageError):
    """The generated session id is taken; the caller draws another."""


class SessionFullError(StorageError):
    """The session already holds its maximum of participants."""


class ParticipantExists(StorageError):
    """A participant with this id is already in the session."""


class SessionGone(StorageError):
    """The session does not exist (any more)."""

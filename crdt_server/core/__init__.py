"""The transport-free session core: who acts, what the rules allow, and what they refuse.

Transports (REST in :mod:`rest`, sockets in :mod:`crdt_server.ws`) call
:class:`SessionCore` and :class:`Runs`, pass an :class:`Actor`, and map
:class:`SessionError` subclasses to their own codes, each in one table.
"""

from .actor import SYSTEM, Actor, Role, Via, role_of
from .errors import (
    DocumentDamaged,
    DocumentTooLarge,
    Forbidden,
    InvalidInput,
    NotFound,
    ParticipantNotFound,
    RateLimited,
    SessionDeleted,
    SessionError,
    SessionExpired,
    SessionFull,
    SessionNotFound,
    StorageFull,
    Unauthorized,
    Unavailable,
    VersionUnknown,
)
from .permissions import PERMISSIONS, Action, allows, require

__all__ = [
    "DocumentDamaged",
    "DocumentTooLarge",
    "PERMISSIONS",
    "SYSTEM",
    "Action",
    "Actor",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "ParticipantNotFound",
    "RateLimited",
    "Role",
    "SessionDeleted",
    "SessionError",
    "SessionExpired",
    "SessionFull",
    "SessionNotFound",
    "StorageFull",
    "Unauthorized",
    "Unavailable",
    "VersionUnknown",
    "Via",
    "allows",
    "require",
    "role_of",
]

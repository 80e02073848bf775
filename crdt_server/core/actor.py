"""Who acts: a typed actor on every write path, instead of an untyped origin.

Binary peers, JSON clients, REST writes and runs each say which participant acts (if
known), in which role, and through which connection, so permissions and attribution
are decided in one place (:mod:`crdt_server.core.permissions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    INTERVIEWER = "interviewer"
    CANDIDATE = "candidate"
    OBSERVER = "observer"  # read-only: sees everything a candidate sees, changes nothing
    REVIEWER = "reviewer"  # a playback link's bearer: watches the session again, nothing else


class Via(StrEnum):
    """The path an action came in by."""

    YJS = "yjs"  # a y-websocket peer
    JSON = "json"  # a seed-000 JSON socket
    REST = "rest"  # an HTTP request
    RUN = "run"  # a code run recording its result
    SYSTEM = "system"  # the server itself (seeding, restores)
    RELAY = "relay"  # another server process: its client's change, committed and relayed


@dataclass(frozen=True, slots=True)
class Actor:
    """One acting party.

    ``role`` None means an anonymous actor of an open server (``--auth none``), which
    may do everything that server allows. ``connection`` is the socket's connection id,
    so a listener can tell its own changes from others'.
    """

    via: Via
    participant_id: str | None = None
    role: Role | None = None
    connection: int | None = None

    @property
    def label(self) -> str:
        """A short description for logs and transaction origins (no secrets in it)."""
        who = self.participant_id or "anonymous"
        where = "" if self.connection is None else f"#{self.connection}"
        return f"{self.via}{where}:{who}"


#: The server acting on its own behalf.
SYSTEM = Actor(Via.SYSTEM)


def role_of(name: str) -> Role | None:
    """The role a stored participant has, or None when the value is not a known role."""
    try:
        return Role(name)
    except ValueError:
        return None

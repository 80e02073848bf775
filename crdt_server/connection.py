"""What a room needs from a client connection, whatever carries it.

Rooms never touch aiohttp: the socket handler wraps its WebSocket in a
:class:`Peer`. ``send`` only queues, so one slow socket never stalls a
broadcast, and it never raises.
"""

from __future__ import annotations

import itertools
from typing import Protocol

from storage import ParticipantRecord

from .close_codes import CloseCode
from .core.actor import Actor

_ids = itertools.count(1)


def next_connection_id() -> int:
    return next(_ids)


class Peer(Protocol):
    """One client connection in a room."""

    @property
    def id(self) -> int: ...

    @property
    def actor(self) -> Actor:
        """Who speaks through this connection."""

    #: True once the client's sync step 1 was answered: only then does it get updates.
    synced: bool
    #: True once a read-only client was told its updates are not applied (told once).
    denied: bool

    def rebind(self, participant: ParticipantRecord) -> None:
        """The connection's participant changed (its role, say): act as the new record."""

    def send(self, data: bytes) -> None:
        """Queue a binary y-websocket frame; never blocks, never raises."""

    async def close(self, code: CloseCode, reason: str) -> None:
        """Close the connection with a WebSocket close code."""

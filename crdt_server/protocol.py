"""The y-websocket wire format: ``[varuint type][varuint subtype]?[varuint length][payload]``.

Decoding is strict: a truncated or malformed frame raises :class:`ProtocolError`,
which the socket handler turns into a close code for that socket only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from .close_codes import CloseCode


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; closes its socket with 1003 or 1007."""

    def __init__(self, message: str, close_code: CloseCode = CloseCode.INVALID_DATA) -> None:
        super().__init__(message)
        self.close_code = close_code


class Unintegrable(ProtocolError):
    """An update that depends on structs the document lacks; nothing was applied (a peer is
    asked to sync again instead, so it sends what is missing with it)."""


class DocumentFull(ProtocolError):
    """An update would grow the document past its size limit; nothing was applied."""

    def __init__(self, message: str) -> None:
        super().__init__(message, CloseCode.MESSAGE_TOO_BIG)


class RoomReset(ProtocolError):
    """The room's document raised while applying an update and was retired unread; the
    client should reconnect (the room reloads from storage)."""

    def __init__(self, message: str = "the document was reset; reconnect") -> None:
        super().__init__(message, CloseCode.TRY_AGAIN_LATER)


class DocumentQuarantined(ProtocolError):
    """Part of the stored document could not be loaded: the session is read-only until an
    operator looks at it (its good prefix stays readable, nothing is compacted away)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the document is damaged and read-only: {reason}", CloseCode.CONFLICT)


class RoomCrowded(ProtocolError):
    """The session already has its maximum of open sockets."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the session has its maximum of {limit} sockets", CloseCode.TRY_AGAIN_LATER
        )


#: An update with no structs and no deletions: nothing to apply, store or forward.
EMPTY_UPDATE = b"\x00\x00"


def encode_varuint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def deletion_update(ranges: Iterable[tuple[int, int, int]]) -> bytes:
    """A Yjs v1 update that only deletes ``(client, clock, length)`` ranges, which must come
    in clock order per client and not overlap."""
    by_client: dict[int, list[tuple[int, int]]] = {}
    for client, clock, length in ranges:
        by_client.setdefault(client, []).append((clock, length))
    out = [b"\x00", encode_varuint(len(by_client))]  # no structs, then the delete set
    for client, spans in by_client.items():
        out += [encode_varuint(client), encode_varuint(len(spans))]
        out += [encode_varuint(clock) + encode_varuint(length) for clock, length in spans]
    return b"".join(out)


def read_varuint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a varuint at ``pos``; returns (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtocolError("truncated varuint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("varuint too long")


def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    """Decode a length-prefixed byte string at ``pos``."""
    length, pos = read_varuint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("truncated payload")
    return data[pos:end], end


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    raw, pos = read_bytes(data, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError as exc:
        raise ProtocolError("invalid UTF-8 in string") from exc


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded frame. ``exact`` is true when the frame holds nothing after the message."""

    type: int
    subtype: int
    payload: bytes
    exact: bool


def decode(frame: bytes) -> Message:
    """Decode one y-websocket frame."""
    kind, pos = read_varuint(frame, 0)
    subtype = -1
    if kind == MessageType.SYNC:
        subtype, pos = read_varuint(frame, pos)
        if subtype not in (SyncType.STEP1, SyncType.STEP2, SyncType.UPDATE):
            raise ProtocolError(f"unknown sync message {subtype}", CloseCode.UNSUPPORTED_DATA)
    elif kind == MessageType.QUERY_AWARENESS:
        return Message(kind, subtype, b"", pos == len(frame))
    elif kind != MessageType.AWARENESS:
        raise ProtocolError(f"unsupported message type {kind}", CloseCode.UNSUPPORTED_DATA)
    payload, pos = read_bytes(frame, pos)
    return Message(kind, subtype, payload, pos == len(frame))


def _frame(kind: int, subtype: int | None, payload: bytes) -> bytes:
    head = encode_varuint(kind) + (b"" if subtype is None else encode_varuint(subtype))
    return head + encode_varuint(len(payload)) + payload


def sync_step1(state_vector: bytes) -> bytes:
    return _frame(MessageType.SYNC, SyncType.STEP1, state_vector)


def sync_step2(update: bytes) -> bytes:
    return _frame(MessageType.SYNC, SyncType.STEP2, update)


def sync_update(update: bytes) -> bytes:
    return _frame(MessageType.SYNC, SyncType.UPDATE, update)


def permission_denied(reason: str) -> bytes:
    """y-protocols' auth message, subtype 0 (permission denied): the stock provider warns."""
    raw = reason.encode()
    return encode_varuint(MessageType.AUTH) + b"\x00" + encode_varuint(len(raw)) + raw


def awareness_message(update: bytes) -> bytes:
    return _frame(MessageType.AWARENESS, None, update)

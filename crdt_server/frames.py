"""WebSocket frames as bytes (RFC 6455, server to client: unmasked), built once per message.

A broadcast sends the same y-websocket message to every peer of a room; frames from a
server are not masked, so one encoded frame serves every recipient. :class:`FrameCache`
remembers the last message framed, which is exactly the case of a broadcast loop.
"""

from __future__ import annotations

import struct

BINARY, TEXT = 0x2, 0x1
_SHORT, _MEDIUM, _LONG = struct.Struct("!BB"), struct.Struct("!BBH"), struct.Struct("!BBQ")


def encode_frame(payload: bytes, opcode: int = BINARY) -> bytes:
    """One final, unmasked frame holding ``payload``."""
    first, size = 0x80 | opcode, len(payload)
    if size < 126:
        header = _SHORT.pack(first, size)
    elif size < 65536:
        header = _MEDIUM.pack(first, 126, size)
    else:
        header = _LONG.pack(first, 127, size)
    return header + payload


class FrameCache:
    """The frame of the last binary message asked for (a broadcast asks once per peer)."""

    def __init__(self) -> None:
        self._payload: bytes | None = None
        self._frame = b""

    def frame(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            self._payload, self._frame = payload, encode_frame(payload)
        return self._frame

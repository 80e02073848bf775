"""Connections admitted when they are accepted: so many per client address, so many in all.

Idle connections are closed by the handshake timeout, but until then each holds a file
descriptor: one client opening a thousand of them would take every descriptor the process
has, and with them the database, the sandbox's pipes and everybody else's connections.
The gate counts connections as the kernel hands them over and answers one past a bound at
once (a 429 or 503 in the error envelope, then close), so the descriptors are given back
as fast as they are taken and the limit is never reached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections.abc import Callable
from typing import cast

from .core.quota import OpenCounts
from .proxies import TrustedProxies
from .turns import LoopShares

log = logging.getLogger(__name__)

#: Refused connections kept open (their answer sent) until the client closes, at most.
MAX_LINGERING = 64
LINGER_SECONDS = 1.0
#: ... or longer while what the server sent last (a close frame behind a large sync) is still
#: being read, up to this long in all.
MAX_LINGER_SECONDS = 10.0
#: Connections the loop accepts in one go before the gate sees any of them (the listen
#: backlog: asyncio accepts up to that many per wake-up).
ACCEPT_BURST = 128
#: Descriptors kept for everything that is not an admitted connection: the database and
#: its journal, the sandbox's pipes, the listening socket, plus a burst being accepted and
#: the refusals lingering.
RESERVED_FDS = 64 + ACCEPT_BURST + MAX_LINGERING


def total_for(setting: int) -> int:
    """The bound on connections in all: the setting, else what the open-file limit leaves."""
    if setting:
        return setting
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(16, soft - RESERVED_FDS)


def _refusal(status: int, code: str, message: str) -> bytes:
    body = json.dumps({"success": False, "error": message, "code": code}).encode()
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_PER_ADDRESS = _refusal(429, "RATE_LIMITED", "too many open connections from this address")
_IN_ALL = _refusal(503, "SERVICE_UNAVAILABLE", "the server has all the connections it can hold")


class ConnectionGate:
    """A protocol factory for ``loop.create_server`` around aiohttp's (``runner.server``)."""

    def __init__(
        self,
        factory: Callable[[], asyncio.BaseProtocol],
        *,
        per_address: int,
        total: int,
        shares: LoopShares | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self._factory = factory
        self.shares = shares  # each address's share of the loop, charged for its bytes too
        # a trusted proxy carries many clients: they are counted by the address it names
        self.proxies = proxies or TrustedProxies()
        self._addresses = OpenCounts(per_address)
        self.total = total
        self.open = 0
        self.refused = 0
        self.lingering = 0  # refused connections still open, their answer being read

    def __call__(self) -> asyncio.Protocol:
        return _Gated(self)

    def admit(self, address: str) -> bytes | None:
        """Count one connection from ``address``; the refusal to send if it is one too many."""
        if self.open >= self.total:
            return self._refuse(_IN_ALL, "in all")
        if not self.proxies.trusts(address) and not self._addresses.open(address):
            return self._refuse(_PER_ADDRESS, f"from {address}")
        self.open += 1
        return None

    def release(self, address: str) -> None:
        self.open -= 1
        if not self.proxies.trusts(address):
            self._addresses.close(address)

    def _refuse(self, answer: bytes, where: str) -> bytes:
        self.refused += 1
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning("refusing connections %s (%d refused so far)", where, self.refused)
        return answer

    def inner(self) -> asyncio.Protocol:
        return cast(asyncio.Protocol, self._factory())


class _LingeringClose:
    """The transport as aiohttp sees it, except that closing it half-closes it first.

    Closing a socket whose client is still sending resets the connection, and a reset
    makes the client drop what it had not read yet: a client in mid-frame when it is
    refused (a frame past the size limit, a socket given up on) would lose the close
    frame saying why and see 1006. So a close sends what is queued and a FIN, then reads
    and drops what the client still sends until it closes too, for a bounded time and a
    bounded number of connections at once (past that, it closes at once).
    """

    def __init__(self, transport: asyncio.Transport, gated: _Gated) -> None:
        self._transport = transport
        self._gated = gated
        self._closing = False
        self.paused = False  # by aiohttp's flow control

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)

    def pause_reading(self) -> None:
        self.paused = True
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Resume unless the gate holds the connection's bytes back (it resumes later)."""
        self.paused = False
        if not self._gated.holding:
            self._transport.resume_reading()

    def is_closing(self) -> bool:
        return self._closing or self._transport.is_closing()

    def get_write_buffer_size(self) -> int:  # asked before every frame sent: no __getattr__
        return self._transport.get_write_buffer_size()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:
            self._transport.write(data)

    def writelines(self, chunks: object) -> None:
        if not self._closing:
            self._transport.writelines(chunks)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._closing or self._transport.is_closing():
            return
        self._closing = True
        if not self._gated.linger(self._transport):
            self._transport.close()


class _Gated(asyncio.Protocol):
    """Counts one connection and hands every event to aiohttp's protocol, or refuses it.

    Parsing what a client sends is loop time too, and not small: the read that completes a
    large WebSocket frame costs aiohttp three copies of it, and eight sockets completing
    eight 8 MB frames in one wake-up held everyone else for a tenth of a second. So the time
    aiohttp's protocol takes for each read is charged to the client's loop share, and while
    the client is past its share its bytes wait, unread, in the kernel."""

    def __init__(self, gate: ConnectionGate) -> None:
        self._gate = gate
        self._address: str | None = None
        self._key = ""
        self._proxied = False
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._wrapper: _LingeringClose | None = None
        self._lingers = False
        self._timer: asyncio.TimerHandle | None = None
        self._held: asyncio.TimerHandle | None = None
        self._pending: list[bytes] = []  # read before the hold began, not yet handed over

    @property
    def holding(self) -> bool:
        return self._held is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        refusal = self._gate.admit(address)
        if refusal is not None:
            self._refuse(cast(asyncio.Transport, transport), refusal)
            return
        self._address, self._key = address, f"ip:{address}"  # as ws.client_key names it
        self._proxied = self._gate.proxies.trusts(address)
        self._transport = cast(asyncio.Transport, transport)
        self._wrapper = _LingeringClose(self._transport, self)
        self._inner = self._gate.inner()
        self._inner.connection_made(cast(asyncio.Transport, self._wrapper))

    def _refuse(self, transport: asyncio.Transport, refusal: bytes) -> None:
        """Answer, then linger (closing with its request unread would reset the connection
        before the client reads the answer); past the lingering bound, close at once."""
        if self._gate.lingering >= MAX_LINGERING:
            transport.abort()
            return
        transport.write(refusal)
        self.linger(transport)

    def linger(self, transport: asyncio.Transport) -> bool:
        """Send what is queued and a FIN, then read and drop what the client sends until it
        closes: for a second, longer while it is still reading what was sent (up to
        :data:`MAX_LINGER_SECONDS`). False (nothing done) when too many linger already."""
        if self._gate.lingering >= MAX_LINGERING or not transport.can_write_eof():
            return False
        self._stop_holding()
        try:
            transport.write_eof()
        except OSError:  # reset by the client already (ENOTCONN): nothing left to wait for
            transport.abort()
            return True
        self._gate.lingering += 1
        self._lingers = True
        if not transport.is_reading():  # paused by aiohttp's flow control or our pacing
            transport.resume_reading()
        self._end_linger(transport, LINGER_SECONDS)
        return True

    def _end_linger(self, transport: asyncio.Transport, lingered: float) -> None:
        """In a second, close: at once if the client has read everything sent, else once it
        has (checked every second), for :data:`MAX_LINGER_SECONDS` at most."""

        def end() -> None:
            if transport.get_write_buffer_size() and lingered < MAX_LINGER_SECONDS:
                self._end_linger(transport, lingered + LINGER_SECONDS)
            else:
                transport.abort()

        self._timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, end)

    def data_received(self, data: bytes) -> None:
        if self._inner is None or self._lingers:
            return
        shares = self._gate.shares
        if shares is None or self._proxied:  # a proxy's clients are paced by their sockets
            self._inner.data_received(data)
            return
        self._pending.append(data)
        if self._held is None:
            self._hand_over(shares)

    def _hand_over(self, shares: LoopShares) -> None:
        """Hand what was read to aiohttp, each read charged to the client, until the client
        is past its share: then stop reading and come back once it has paid."""
        assert self._inner is not None and self._transport is not None
        while self._pending and not self._lingers:
            debt = shares.debt(self._key)
            if debt > 0:
                self._transport.pause_reading()
                self._held = asyncio.get_running_loop().call_later(debt, self._release, shares)
                return
            started = time.perf_counter()
            self._inner.data_received(self._pending.pop(0))
            shares.charge(self._key, time.perf_counter() - started)

    def _release(self, shares: LoopShares) -> None:
        self._held = None
        if self._inner is None or self._transport is None or self._lingers:
            return
        self._hand_over(shares)
        assert self._wrapper is not None
        if self._held is None and not self._wrapper.paused and not self._transport.is_closing():
            self._transport.resume_reading()

    def _stop_holding(self) -> None:
        if self._held is not None:
            self._held.cancel()
            self._held = None
        self._pending.clear()

    def eof_received(self) -> bool | None:
        if self._lingers or self._inner is None:
            return None  # close
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingers:
            self._gate.lingering -= 1
            self._lingers = False
        if self._timer is not None:
            self._timer.cancel()
        self._stop_holding()
        if self._address is not None:
            self._gate.release(self._address)
            self._address = None
        if self._inner is not None:
            self._inner.connection_lost(exc)
        # this protocol and its transport wrapper refer to each other, and through aiohttp's
        # protocol to the request: a cycle freed only by a full cycle collection. Let go.
        self._inner = self._wrapper = self._transport = None
        self._timer = None

"""What bench/attacks.py, bench/diff_stall.py and bench/bystander.py share: the server under
test, the bystander process, the y-websocket wire format, a raw WebSocket client, and the
figures.

The server is bench/live_server.py's ``LiveServer`` (``python -m crdt_server --host 127.0.0.1
--port 0 --db FILE`` from the tree given, a snapshot normally, default settings), capped once
it listens at the 1024 open files a stock Debian login has (the server raises its own soft
limit to the hard one at start, so the cap is applied to both, from outside). Attackers
connect from their own loopback addresses (127.0.0.9 and up), the bystander from
127.0.0.2-5, so per-address quotas count them apart, as they would two people.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pycrdt import Doc

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from live_server import LiveServer  # noqa: E402

ATTACKER = "127.0.0.9"
FD_CAP = 1024
#: /proc/net/tcp states by their hex code.
TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}
_GONE = ("LISTEN", "TIME_WAIT", "CLOSE")  # nothing held for them


def raise_own_fd_limit() -> None:
    """The attacker opens more than 1024 sockets itself."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def commit_of(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return out.stdout.strip()[:100]


# ------------------------------------------------------------------ the server
class Server(LiveServer):
    """The server under test, with what an attack report reads from /proc."""

    def __init__(
        self, tree: Path, work: Path, extra: list[str] | None = None, *, fresh: bool = True
    ) -> None:
        """A server on ``work/server.db``: a new database when ``fresh``, else the one there
        (a restart); its log goes to ``work/server.log`` (``restart.log``)."""
        self.db = work / "server.db"
        log_path = work / ("server.log" if fresh else "restart.log")
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.db) + suffix).unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)
        super().__init__(tree, self.db, log_path, list(extra or []))

    async def launch(self) -> Server:
        await self.start()
        resource.prlimit(self.pid, resource.RLIMIT_NOFILE, (FD_CAP, FD_CAP))
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _status_mb(self, key: str) -> float:
        """A ``/proc/PID/status`` figure (VmRSS, VmHWM) in MB."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return -1.0

    def rss(self) -> float:
        return self._status_mb("VmRSS")

    def peak_mb(self) -> float:
        return self._status_mb("VmHWM")

    def socket_inodes(self) -> set[str]:
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
        return inodes

    def sockets(self) -> list[str]:
        """The server's sockets, each as what it is: ``tcp PEER STATE``, ``unix``, ``udp``,
        ``netlink``, or ``unlisted`` (in no table)."""
        inodes = self.socket_inodes()
        found: dict[str, str] = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                parts = row.split()
                if parts[9] in inodes:
                    state = TCP_STATES.get(parts[3], parts[3])
                    found[parts[9]] = f"tcp {_address(parts[2])} {state}"
        for table, column in (("unix", 6), ("udp", 9), ("udp6", 9), ("netlink", 9)):
            try:
                rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                parts = row.split()
                if len(parts) > column and parts[column] in inodes:
                    found[parts[column]] = table
        # A TCP socket the kernel has already closed (reset by the peer, say) leaves every
        # table while the fd stays open: what a handler that never closes its socket leaks.
        return sorted(found.get(inode, "unlisted (closed TCP?)") for inode in inodes)

    def connections(self) -> list[str]:
        """TCP connections to the server's port still holding something (either side)."""
        port = f":{self.port:04X}"
        out = []
        for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = row.split()
            state = TCP_STATES.get(parts[3], parts[3])
            if state in _GONE:
                continue
            if parts[1].endswith(port):
                out.append(f"server side from {_address(parts[2])} {state}")
            elif parts[2].endswith(port):
                out.append(f"client side at {_address(parts[1])} {state}")
        return out

    def rooms(self) -> set[str]:
        return set(self.loaded)

    async def stop_timed(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM; the exit status (-9: it had to be killed) and the seconds it took."""
        t0 = time.monotonic()
        code = await self.stop(timeout)
        return code, round(time.monotonic() - t0, 2)


def _address(hexed: str) -> str:
    host, port = hexed.split(":")
    if len(host) == 8:
        quad = ".".join(str(b) for b in bytes.fromhex(host)[::-1])
        return f"{quad}:{int(port, 16)}"
    return f"[v6]:{int(port, 16)}"


# ------------------------------------------------------------------ the bystander
class Bystander:
    """bench/bystander.py in its own process; samples come back from a file."""

    def __init__(self, url: str, out: Path, mode: str = "full", period_ms: float = 20) -> None:
        self.out = out
        self.args = [sys.executable, str(BENCH / "bystander.py"), url, str(out)]
        self.args += ["--mode", mode, "--period-ms", str(period_ms)]
        self.proc: subprocess.Popen[str] | None = None

    async def start(self) -> Bystander:
        self.out.unlink(missing_ok=True)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)
        if line.strip() != "READY":
            raise RuntimeError(f"bystander did not start: {line!r}")
        return self

    async def stop(self) -> list[dict[str, Any]]:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for _ in range(200):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        return self.samples()

    def samples(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        lines = self.out.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


# ------------------------------------------------------------------ figures
def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@dataclass
class Figures:
    """One kind of bystander sample within a window."""

    kind: str
    count: int = 0
    worst_ms: float = 0.0
    p99_ms: float = 0.0
    p50_ms: float = 0.0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def cell(self) -> str:
        if not self.count:
            return "no samples"
        text = f"{self.worst_ms:.0f} / {self.p99_ms:.0f}"
        if self.failed:
            text += f" ({self.failed} failed)"
        return text


def figures(samples: list[dict[str, Any]], kind: str, t0: float, t1: float) -> Figures:
    """Latency of the probes of ``kind`` sent in [t0, t1]."""
    chosen = [s for s in samples if s["k"] == kind and t0 <= s["t"] <= t1]
    lats = [s["lat"] * 1000 for s in chosen]
    bad = [s for s in chosen if not s["ok"]]
    return Figures(
        kind,
        len(chosen),
        round(max(lats, default=0.0), 1),
        round(percentile(lats, 99), 1),
        round(percentile(lats, 50), 1),
        len(bad),
        sorted({str(s.get("info")) for s in bad})[:5],
    )


def worst_gap_ms(samples: list[dict[str, Any]], t0: float, t1: float) -> float:
    """The longest time without an answer to a ticker probe in [t0, t1]: answers are at
    ``t + lat``; a probe sent in the window and never answered counts to its pending time."""
    answers = sorted(s["t"] + s["lat"] for s in samples if s["k"] == "tick")
    inside = [a for a in answers if t0 <= a <= t1]
    points = [t0, *inside, t1]
    gap = max((b - a for a, b in zip(points, points[1:], strict=False)), default=0.0)
    return round(gap * 1000, 1)


# ------------------------------------------------------------------ the wire format
# y-websocket's messages, written out here rather than imported from crdt_server.protocol,
# so the clients stay the same whatever the snapshot under test does.
def varuint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varuint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def sync_step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + varuint(len(state_vector)) + state_vector


def sync_update(update: bytes) -> bytes:
    return b"\x00\x02" + varuint(len(update)) + update


def awareness_frame(update: bytes) -> bytes:
    return b"\x01" + varuint(len(update)) + update


def decode(frame: bytes) -> tuple[int, int, bytes]:
    """(message type, sync subtype or -1, payload) of one y-websocket message."""
    kind, pos = read_varuint(frame, 0)
    sub = -1
    if kind == 0:
        sub, pos = read_varuint(frame, pos)
    if kind == 3:
        return kind, sub, b""
    n, pos = read_varuint(frame, pos)
    return kind, sub, frame[pos : pos + n]


STEP1, STEP2, UPDATE = 0, 1, 2


async def handshake(
    ws: aiohttp.ClientWebSocketResponse, doc: Doc[Any], timeout: float = 30
) -> None:
    """Sync step 1 and wait for the server's step 2 (applied to ``doc``)."""
    await ws.send_bytes(sync_step1(doc.get_state()))
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"closed {ws.close_code} during the handshake")
            kind, sub, payload = decode(bytes(message.data))
            if kind == 0 and sub == STEP2:
                doc.apply_update(payload)
                return


# ------------------------------------------------------------------ HTTP clients
def attacker_http(source: str = ATTACKER, **kwargs: Any) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=0, **kwargs)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300))


def ws_url(url: str, session_id: str, query: str = "") -> str:
    return url.replace("http", "ws", 1) + "/ws/sessions/" + session_id + query


async def create_session(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any] | None = None
) -> str:
    """POST /sessions; waits out 429s (the per-address request rate)."""
    for _ in range(100):
        async with http.post(url + "/api/v1/sessions", json=body or {}) as resp:
            data = await resp.json()
            if resp.status == 429:
                await asyncio.sleep(float(resp.headers.get("Retry-After", "0.5")))
                continue
            if resp.status != 201:
                raise RuntimeError(f"creating a session: {resp.status} {data}")
            return str(data["data"]["id"])
    raise RuntimeError("could not create a session: rate limited throughout")


# ------------------------------------------------------------------ raw sockets
def ws_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def ws_frame(payload: bytes, opcode: int = 0x2, fin: bool = True) -> bytes:
    """A masked client frame."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += struct.pack("!H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", n)
    mask = os.urandom(4)
    head += mask
    if not n:
        return bytes(head)
    m = int.from_bytes(mask * (n // 4 + 1), "little") & ((1 << (8 * n)) - 1)
    return bytes(head) + (int.from_bytes(payload, "little") ^ m).to_bytes(n, "little")


class RawWs:
    """A WebSocket client on a bare socket: it reads only when asked (or never)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, port: int, path: str, *, source: str = ATTACKER, rcvbuf: int = 0
    ) -> RawWs:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {ws_key()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            writer.transport.abort()
            raise ConnectionError(status.decode())
        return cls(reader, writer)

    async def send(self, payload: bytes, opcode: int = 0x2) -> None:
        self.writer.write(ws_frame(payload, opcode))
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def close_code(self, timeout: float = 30) -> tuple[int | None, int]:
        """Read until the server's close frame; returns its code and the bytes read first."""
        read = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    opcode, payload = await self.read_frame()
                    if opcode == 0x8:
                        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                        return code, read
                    read += len(payload)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            return None, read

    def close(self) -> None:
        self.writer.transport.abort()


def log_lines(text: str, pattern: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(pattern, line)]

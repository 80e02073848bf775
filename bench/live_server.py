"""Shared by bench/crash_rounds.py and bench/soak.py: the server under test as a real process.

Not a benchmark itself. ``use_tree(tree)`` makes the test helpers of that checkout importable
(``tests/support/node_client.py``, ``tests/pycrdt_channel.py``, ``crdt_server.document``) and
links the Node test client's ``node_modules`` there from this checkout when it has none, so a
campaign can run server *and* clients from a stable worktree while others edit this one:

    git -C /work/main worktree add /tmp/wt-soak HEAD
    .venv/bin/python bench/crash_rounds.py --tree /tmp/wt-soak

``LiveServer`` starts ``python -m crdt_server`` with that tree as its working directory (so the
tree's packages are the ones imported), waits for ``LISTENING``, keeps its log in a file, follows
the "room X loaded"/"room X unloaded" lines, and reads RSS, open fds and CPU time from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"^LISTENING (http://[\d.]+:(\d+))$")
ROOM_LINE = re.compile(r"room ([0-9a-f]+) (loaded|unloaded)\b")
TROUBLE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback|PanicException")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def use_tree(tree: Path) -> Path:
    """Import test helpers from ``tree``; give its Node client this checkout's node_modules."""
    tree = tree.resolve()
    for path in (tree / "tests", tree):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    modules = tree / "tests" / "node" / "node_modules"
    ours = REPO / "tests" / "node" / "node_modules"
    if not modules.exists() and ours.is_dir() and modules.parent.is_dir():
        modules.symlink_to(ours)
    return tree


def host_load() -> str:
    """The 1/5/15-minute load averages and the core count, for the report."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


class LiveServer:
    """One server process at a time on a fixed port (0 on the first start picks one)."""

    def __init__(self, tree: Path, db: Path, log_path: Path, args: list[str]) -> None:
        self.tree, self.db, self.log_path, self.args = tree, db, log_path, args
        self.port = 0
        self.url = ""
        self.proc: asyncio.subprocess.Process | None = None
        self.loaded: set[str] = set()
        self.loads = 0
        self.unloads = 0
        self.trouble: list[str] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, timeout: float = 30.0) -> float:
        """Spawn and wait for LISTENING; returns the seconds that took."""
        started = time.perf_counter()
        command = [sys.executable, "-m", "crdt_server", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--db", str(self.db), *self.args]
        self.proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=self.tree,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.loaded.clear()  # a new process has no room loaded
        self._readers = [asyncio.create_task(self._follow_log(self.proc.stderr))]
        async with asyncio.timeout(timeout):
            while line := (await self.proc.stdout.readline()).decode():
                match = LISTENING.match(line.strip())
                if match:
                    self.url, self.port = match.group(1), int(match.group(2))
                    break
            else:
                await asyncio.gather(*self._readers)
                raise RuntimeError(f"server exited before LISTENING; see {self.log_path}")
        self._readers.append(asyncio.create_task(self._drain(self.proc.stdout)))
        return time.perf_counter() - started

    async def _follow_log(self, stream: asyncio.StreamReader) -> None:
        with self.log_path.open("a", encoding="utf-8") as out:
            out.write(f"---- server start {time.strftime('%H:%M:%S')}\n")
            while raw := await stream.readline():
                line = raw.decode(errors="replace")
                out.write(line)
                out.flush()
                if match := ROOM_LINE.search(line):
                    room, what = match.groups()
                    if what == "loaded":
                        self.loads += 1
                        self.loaded.add(room)
                    else:
                        self.unloads += 1
                        self.loaded.discard(room)
                if TROUBLE.search(line):
                    self.trouble.append(line.rstrip())

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def kill9(self) -> None:
        """SIGKILL and reap: no flush, no goodbye frames."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await asyncio.gather(*self._readers)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a clean shutdown) and wait; SIGKILL if it does not exit in time."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
        except TimeoutError:
            await self.kill9()
            return -9
        await asyncio.gather(*self._readers)
        return code

    # ------------------------------------------------------------ /proc samples

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

"""One launch: spawn, feed stdin, capture bounded output, enforce time and memory, kill.

Pure asyncio, no threads except the watchdog's /proc reads. Every helper task is created
here and awaited here, also when the caller is cancelled: the sandbox is killed first, so
nothing of a run outlives ``execute``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, TypeVar

from . import watchdog

log = logging.getLogger(__name__)
T = TypeVar("T")

_CHUNK = 64 * 1024
_KILL_GRACE_S = 2.0  # after SIGKILL, how long to wait for the launcher to exit
_DRAIN_S = 1.0  # after exit, how long the pipes may take to reach EOF


@dataclass(frozen=True)
class Launch:
    """A fully prepared command; ``pass_fds`` are closed by :func:`execute` once spawned."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    pass_fds: tuple[int, ...] = ()
    info_fd: int | None = None  # read end of bwrap's --info-fd pipe (sandboxed runs)
    uid: int | None = None  # drop to this uid/gid before exec (server running as root)
    gid: int | None = None


@dataclass(frozen=True)
class Bounds:
    """The limits ``execute`` itself enforces (the rest are rlimits inside the launch)."""

    timeout_s: float
    keep_bytes: int  # per stream
    kill_bytes: int  # per stream: kill a run that keeps flooding
    memory_bytes: int | None  # budget summed over the run's processes; None: no watchdog


@dataclass
class Outcome:
    """Raw result of a launch; the executor turns it into a RunResult."""

    returncode: int | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    elapsed_ms: int = 0
    killed_for: str | None = None  # "timeout", "output", "memory" or "cancelled"
    truncated: bool = False


class _Running:
    """Kill switch of one launched process tree."""

    def __init__(self, proc: asyncio.subprocess.Process, outcome: Outcome) -> None:
        self.proc = proc
        self.outcome = outcome
        self.helpers: list[asyncio.Task[Any]] = []  # all cancelled and awaited by execute()
        self.exited = self.helper(proc.wait())
        self.pid1: int | None = None  # host pid of the sandbox's pid 1
        self.pidfd: int | None = None
        self.namespace: str | None = None  # "pid:[inode]" of the sandbox

    def helper(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro)
        self.helpers.append(task)
        return task

    def adopt_pid1(self, pid: int) -> None:
        """Hold a pidfd on the sandbox's pid 1 so a later kill cannot hit a recycled pid."""
        self.pid1 = pid
        with contextlib.suppress(OSError):
            self.pidfd = os.pidfd_open(pid)
            self.namespace = os.readlink(f"/proc/{pid}/ns/pid")

    def kill(self, reason: str) -> None:
        """SIGKILL pid 1 (the kernel then kills its whole namespace) and the launcher's group."""
        if self.outcome.killed_for is None:
            self.outcome.killed_for = reason
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        if self.proc.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


async def execute(launch: Launch, stdin: bytes, bounds: Bounds) -> Outcome:
    """Run ``launch`` to completion within ``bounds``; OSError if it cannot even start."""
    started = time.monotonic()
    info_pipe = os.fdopen(launch.info_fd, "rb", buffering=0) if launch.info_fd is not None else None
    try:
        proc = await _spawn(launch)
    except BaseException:
        if info_pipe is not None:
            info_pipe.close()
        raise
    finally:
        for fd in launch.pass_fds:
            os.close(fd)
    running = _Running(proc, Outcome())
    try:
        await _supervise(running, info_pipe, stdin, bounds, started)
    finally:
        if proc.returncode is None:
            running.kill("cancelled")
            await _reap(running)
        for task in running.helpers:
            task.cancel()
        await asyncio.gather(*running.helpers, return_exceptions=True)
        running.close()
        if info_pipe is not None:
            info_pipe.close()
    return running.outcome


async def _supervise(
    running: _Running, info_pipe: BinaryIO | None, stdin: bytes, bounds: Bounds, started: float
) -> None:
    """Start the helpers, wait for exit or the deadline, collect the output."""
    proc, outcome = running.proc, running.outcome
    assert proc.stdin and proc.stdout and proc.stderr
    pumps = {
        running.helper(_pump(proc.stdout, outcome.stdout, bounds, outcome, running.kill)),
        running.helper(_pump(proc.stderr, outcome.stderr, bounds, outcome, running.kill)),
    }
    running.helper(_feed(proc.stdin, stdin))
    info = running.helper(_read_info(info_pipe, running)) if info_pipe is not None else None
    if bounds.memory_bytes is not None:
        running.helper(_watch_memory(running, info, bounds.memory_bytes))
    try:
        await asyncio.wait_for(asyncio.shield(running.exited), bounds.timeout_s)
    except TimeoutError:
        running.kill("timeout")
    await _reap(running)
    outcome.elapsed_ms = round((time.monotonic() - started) * 1000)
    outcome.returncode = proc.returncode
    await asyncio.wait(pumps, timeout=_DRAIN_S)


async def _spawn(launch: Launch) -> asyncio.subprocess.Process:
    drop: dict[str, Any] = {}
    if launch.uid is not None:
        drop = {"user": launch.uid, "group": launch.gid, "extra_groups": []}
    return await asyncio.create_subprocess_exec(
        *launch.argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=launch.env,
        cwd=launch.cwd,
        close_fds=True,
        pass_fds=launch.pass_fds,
        start_new_session=True,
        **drop,
    )


async def _reap(running: _Running) -> None:
    """Wait for the launcher to exit; escalate once if a kill did not take."""
    for _ in range(2):
        if running.outcome.killed_for is None:
            await asyncio.shield(running.exited)
            return
        try:
            await asyncio.wait_for(asyncio.shield(running.exited), _KILL_GRACE_S)
            return
        except TimeoutError:
            pid = running.proc.pid
            log.warning("launcher %s survived SIGKILL for %ss; retrying", pid, _KILL_GRACE_S)
            running.kill(running.outcome.killed_for)
    log.error("launcher %s did not exit after two SIGKILLs", running.proc.pid)


async def _pump(
    reader: asyncio.StreamReader,
    kept: bytearray,
    bounds: Bounds,
    outcome: Outcome,
    kill: Callable[[str], None],
) -> None:
    """Keep the first ``keep_bytes`` of a stream, count the rest, kill a flood."""
    total = 0
    while chunk := await reader.read(_CHUNK):
        room = bounds.keep_bytes - len(kept)
        if room > 0:
            kept += chunk[:room]
        total += len(chunk)
        if total > bounds.keep_bytes:
            outcome.truncated = True
        if total > bounds.kill_bytes:
            kill("output")


async def _feed(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write stdin then close it; a program that exits without reading is fine."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()


async def _read_info(pipe: BinaryIO, running: _Running) -> None:
    """Learn the sandbox's pid 1 from bwrap's --info-fd JSON (written before the program runs)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(partial(asyncio.StreamReaderProtocol, reader), pipe)
    try:
        data = b""
        while chunk := await reader.read(_CHUNK):
            data += chunk
            with contextlib.suppress(ValueError):
                running.adopt_pid1(int(json.loads(data)["child-pid"]))
                return
    finally:
        transport.close()


async def _watch_memory(running: _Running, info: asyncio.Task[None] | None, limit: int) -> None:
    def exceeded() -> None:
        running.kill("memory")

    if info is None:  # unsandboxed: the launcher leads the run's session
        session = running.proc.pid
        await watchdog.watch(partial(watchdog.memory_in_session, session), limit, exceeded)
        return
    await info
    namespace = running.namespace
    if namespace is None:
        return  # the sandbox was gone before its pid 1 could be inspected
    await watchdog.watch(partial(watchdog.memory_in_pid_namespace, namespace), limit, exceeded)

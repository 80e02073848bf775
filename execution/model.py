"""The engine's plain data: limits in, results out (no aiohttp, no pydantic)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ExecutionLimits:
    """Host-wide bounds for every run; requests may ask for less time, never for more.

    Defaults follow the sandbox scout's §6.3: runs are CPU-bound, so as many run at once
    as there are cores and a bounded queue waits behind them.
    """

    # Runs executing at the same time (each is CPU-bound, so one per core).
    max_concurrent: int = field(default_factory=_cpu_count)
    # Runs allowed to wait for a slot beyond the running ones; more raise QueueFull.
    max_queue: int = 32
    # Slots one owner (a client, a session: the keys ``Executor.run`` is given) may hold at
    # once, and places in the line it may hold beyond them; past either, QueueFull at once.
    # 0 picks the default: half the slots (at least one), and twice that in the line.
    max_running_per_owner: int = 0
    max_queued_per_owner: int = 0
    # How long a queued run waits for a slot before it is refused with QueueFull.
    queue_timeout_ms: int = 30_000
    # Wall-clock limit when the request names none (compile + run).
    default_timeout_ms: int = 5_000
    # Largest wall-clock limit a request may ask for; larger requests are clamped.
    max_timeout_ms: int = 10_000
    # Memory per run: each process's RLIMIT_AS (or RLIMIT_DATA for V8/JVM runtimes), and
    # the sum of the RSS of all of a run's processes, checked by a watchdog.
    memory_mb: int = 256
    # Processes and threads of the sandbox user (RLIMIT_NPROC inside the user namespace);
    # node needs about 8 threads and the JVM about 20 just to start.
    max_processes: int = 64
    # Bytes of stdout and of stderr kept per run; beyond it the output is cut and flagged,
    # and a run that keeps writing (16x this) is killed.
    max_output_bytes: int = 64 * 1024
    # Size of the writable /tmp (a tmpfs, the only writable place in the sandbox).
    tmpfs_mb: int = 64
    # Files and directories /tmp may hold: every inode is kernel memory that neither the
    # tmpfs size nor the memory limit counts (about 1 KiB each).
    max_tmp_files: int = 4096
    # File descriptors per process (RLIMIT_NOFILE).
    max_open_files: int = 256
    # Run code WITHOUT the sandbox when bubblewrap cannot be used. Developer laptops only:
    # no filesystem, network or process-tree isolation. Settings expose it loudly as
    # CODEINTERVIEW_EXECUTION_ALLOW_UNSANDBOXED.
    allow_unsandboxed: bool = False

    def __post_init__(self) -> None:
        for name in (
            "max_concurrent", "queue_timeout_ms", "default_timeout_ms", "max_timeout_ms",
            "memory_mb", "max_processes", "max_output_bytes", "tmpfs_mb", "max_open_files",
            "max_tmp_files",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"ExecutionLimits.{name} must be positive")
        if self.max_running_per_owner < 0 or self.max_queued_per_owner < 0:
            raise ValueError("ExecutionLimits per-owner bounds must not be negative")
        # A frozen dataclass: resolve the "0 = default" per-owner bounds once, here.
        running = self.max_running_per_owner or max(1, self.max_concurrent // 2)
        object.__setattr__(self, "max_running_per_owner", running)
        object.__setattr__(self, "max_queued_per_owner", self.max_queued_per_owner or 2 * running)
        if self.max_queue < 0:
            raise ValueError("ExecutionLimits.max_queue must not be negative")
        if self.default_timeout_ms > self.max_timeout_ms:
            raise ValueError("ExecutionLimits.default_timeout_ms exceeds max_timeout_ms")
        if self.max_processes < 16:
            raise ValueError("ExecutionLimits.max_processes below 16 makes node hang at start")


@dataclass(frozen=True)
class LanguageInfo:
    """A language this host can run, as the languages endpoint lists it."""

    name: str  # canonical name used in requests: "python", "typescript", ...
    version: str  # version of the language's runtime or compiler, e.g. "3.11.2"
    aliases: tuple[str, ...]  # other names accepted in requests: "py", "ts", ...
    runtime: str  # human description, e.g. "esbuild 0.28.2 (types stripped) + Node.js 20.20.2"


@dataclass(frozen=True)
class RunResult:
    """What one run produced. ``exit_code`` is None when the engine killed the run."""

    language: str
    stdout: str
    stderr: str
    # The program's exit status; 128+N when it died of signal N (bubblewrap's convention).
    exit_code: int | None
    execution_time_ms: int  # wall time from launch to exit, compile step included
    timed_out: bool  # the wall-clock (or CPU-time) limit ended the run
    memory_exceeded: bool  # the memory limit was hit (watchdog, rlimit or runtime message)
    output_truncated: bool  # stdout or stderr was cut at max_output_bytes
    sandboxed: bool  # False only in the explicit allow_unsandboxed fallback

"""The engine's public face: probe the host once, then run code under a bounded queue.

Fails closed: without a working bubblewrap every run raises SandboxUnavailable, unless the
deployment explicitly set ``allow_unsandboxed`` (developer laptops), in which case runs go
unsandboxed and every result says ``sandboxed=False``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from .admission import Admission, Ticket
from .errors import (
    ExecutionError,
    InvalidRunRequest,
    SandboxUnavailable,
    UnsupportedLanguage,
)  # fmt: skip
from .grading import (
    BUILD_OUTPUT_BYTES,
    BUILD_TIMEOUT_S,
    CASE_OUTPUT_BYTES,
    CASE_STDERR_BYTES,
    Batch,
    Case,
    batch_stdin,
    grading_script,
    new_boundary,
    parse_batch,
)
from .languages import (
    KNOWN_NAMES,
    SPECS,
    HostLanguage,
    LanguageSpec,
    discover,
    find_esbuild,
    parse_version,
)
from .model import ExecutionLimits, LanguageInfo, RunResult
from .process import Bounds, Launch, Outcome, execute
from .sandbox import (
    Tools,
    host_tools,
    make_scratch,
    sandboxed_launch,
    unsandboxed_launch,
    with_bwrap,
)  # fmt: skip
from .seccomp import build_filter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Graded:
    """A grading job: its batch, and why the engine ended the sandbox early, if it did."""

    language: str
    batch: Batch
    killed_for: str | None
    elapsed_ms: int
    sandboxed: bool


_MIB = 1024 * 1024
_PROBE_TIMEOUT_S = 20.0
_FLOOD_FACTOR = 16  # a stream this many times over max_output_bytes gets the run killed
# Exit statuses in bubblewrap's 128+signal convention.
_KILLED_STATUS, _CPU_LIMIT_STATUS = 128 + 9, 128 + 24
# What runtimes print when an allocation fails under RLIMIT_AS/RLIMIT_DATA.
_MEMORY_MARKERS = (
    b"MemoryError", b"JavaScript heap out of memory", b"Fatal process OOM",
    b"Array buffer allocation failed", b"Cannot allocate memory", b"std::bad_alloc",
    b"java.lang.OutOfMemoryError", b"insufficient memory for the Java Runtime",
    b"os::commit_memory",
    b"out of memory",
)  # fmt: skip
# A do-nothing "language": the start-up check that bubblewrap works on this host.
_SMOKE = HostLanguage(
    spec=LanguageSpec(
        name="smoke", aliases=(), source="empty", programs=(), memory="as", script="exit 0",
        version_script="", version_pattern="", runtime="",
    ),
    paths={},
    etc_dirs=(),
)  # fmt: skip


class Executor:
    """Runs untrusted code: at most ``max_concurrent`` at once, ``max_queue`` waiting.

    Each run is pinned to one CPU (slot i -> CPU i mod cores): rlimits bound a process,
    not a run, so without cgroups the pin is what keeps a forking run to one core.
    """

    def __init__(
        self, limits: ExecutionLimits, *, bwrap_path: str = "bwrap", esbuild_path: str = ""
    ) -> None:
        self.limits = limits
        self._bwrap_path = bwrap_path  # a missing path makes the sandbox unavailable (tests)
        self._esbuild_path = esbuild_path  # empty: where the install script puts it
        self._tools: Tools | None = None
        self._reason: str | None = "the executor has not been started"
        self._languages: dict[str, tuple[HostLanguage, LanguageInfo]] = {}
        self._admission = Admission(limits)
        self._cpus = sorted(os.sched_getaffinity(0))  # the CPUs this server may use
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def available(self) -> bool:
        """True when runs are sandboxed; False when refused or (explicitly) unsandboxed."""
        return self._reason is None

    @property
    def unavailable_reason(self) -> str | None:
        return self._reason

    @property
    def running(self) -> int:
        """Runs holding a slot right now (never more than ``max_concurrent``)."""
        return self._admission.running

    def languages(self) -> list[LanguageInfo]:
        """What this host can run, with versions; empty when nothing may run."""
        return [info for _, info in self._languages.values()]

    async def start(self) -> None:
        """Probe the host once; never raises: a failure is kept as ``unavailable_reason``."""
        if self._tools is not None:
            return
        try:
            await self._start()
        except Exception as exc:  # a probe bug must not take the whole service down
            log.exception("code execution start-up probe failed")
            self._reason = f"the start-up probe failed: {exc}"

    async def _start(self) -> None:
        try:
            tools = replace(host_tools(), seccomp=build_filter())
        except SandboxUnavailable as exc:
            self._reason = str(exc)
            log.error("code execution unavailable: %s", exc)
            return
        if tools.seccomp is None:
            log.warning("no seccomp table for this machine: sandboxes run without the filter")
        try:
            tools = await with_bwrap(tools, self._bwrap_path)
            await self._smoke_test(tools)
            self._reason = None
        except SandboxUnavailable as exc:
            tools = replace(tools, bwrap=None)
            self._reason = str(exc)
        self._tools = tools
        if self._reason is None:
            log.info("code execution sandboxed by %s as %s", tools.bwrap, tools.identity.label)
        elif self.limits.allow_unsandboxed:
            log.warning(
                "CODE EXECUTION IS NOT SANDBOXED (allow_unsandboxed): %s. Candidates' code can "
                "read this host's files and use its network. Never do this on a server.",
                self._reason,
            )
        else:
            log.error("code execution unavailable (failing closed): %s", self._reason)
            return
        await self._probe_languages(tools)

    async def stop(self) -> None:
        """Kill every running sandbox and wait for its run to finish cleaning up."""
        self._stopping = True
        self._reason = "the executor is stopped"
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(
        self,
        code: str,
        language: str,
        stdin: str = "",
        timeout_ms: int | None = None,
        *,
        owners: Sequence[str] = (),
    ) -> RunResult:
        """Run ``code``; raises QueueFull, SandboxUnavailable or UnsupportedLanguage.

        ``owners`` name who asks (e.g. ``"client:203.0.113.7"``, ``"session:0123abcd"``):
        each may hold only its share of slots and of the line (QueueFull beyond it), and
        waiting owners take turns. The request is checked first (an unknown language is a
        bad request on any host), then whether anything may run here, then whether this
        host has the language.
        """
        name = self._canonical(language)
        timeout_s = self._timeout_s(timeout_ms)
        sandboxed = self._ready()
        host = self._lookup(name)
        return await self._in_slot(
            owners, lambda cpu: self._run_in_slot(host, code, stdin, timeout_s, sandboxed, cpu)
        )

    async def grade(
        self, code: str, language: str, cases: Sequence[Case], *, owners: Sequence[str] = ()
    ) -> Graded:
        """Build ``code`` once and run it on every case, in one sandbox and one slot (the
        queue and owners' shares as :meth:`run`); raises as :meth:`run` does."""
        host = self._lookup(self._canonical(language))
        if not host.spec.run:
            raise UnsupportedLanguage(f"{host.spec.name} cannot be graded")
        sandboxed = self._ready()
        return await self._in_slot(
            owners, lambda cpu: self._grade_in_slot(host, code, cases, sandboxed, cpu)
        )

    async def _in_slot(self, owners: Sequence[str], work: Callable[[int], Awaitable[T]]) -> T:
        """Run ``work`` (given its CPU) in a slot: waits for one within the owners' shares."""
        ticket = await self._take_slot(owners)
        cpu = self._cpus[ticket.slot % len(self._cpus)]
        task: asyncio.Task[T] = asyncio.ensure_future(work(cpu))
        self._tasks.add(task)
        # Even if cancelled before it started: the slot is free once the task is done.
        task.add_done_callback(partial(self._release_slot, ticket))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            caller_cancelled = current is not None and current.cancelling() > 0
            if task.cancelled() and self._stopping and not caller_cancelled:
                raise SandboxUnavailable("the executor stopped during the run") from None
            task.cancel()  # our caller went away: kill the sandbox (stop() awaits the task)
            raise

    def _ready(self) -> bool:
        """Whether runs are sandboxed; raise when they may not run at all."""
        if self._stopping or self._tools is None:
            raise SandboxUnavailable(self._reason or "the executor is stopped")
        if self._reason is None:
            return True
        if self.limits.allow_unsandboxed:
            return False
        raise SandboxUnavailable(f"code execution is unavailable: {self._reason}")

    @staticmethod
    def _canonical(language: str) -> str:
        """The canonical name of a language the engine knows at all, else UnsupportedLanguage."""
        name = KNOWN_NAMES.get(language.strip().lower())
        if name is None:
            known = ", ".join(spec.name for spec in SPECS)
            raise UnsupportedLanguage(f"unknown language {language!r} (known: {known})")
        return name

    def _lookup(self, name: str) -> HostLanguage:
        entry = self._languages.get(name)
        if entry is None:
            here = ", ".join(self._languages) or "none"
            raise UnsupportedLanguage(
                f"language {name!r} is not installed on this host (available: {here})"
            )
        return entry[0]

    def _timeout_s(self, timeout_ms: int | None) -> float:
        if timeout_ms is None:
            return self.limits.default_timeout_ms / 1000
        if timeout_ms <= 0:
            raise InvalidRunRequest("timeoutMs must be positive")
        return min(timeout_ms, self.limits.max_timeout_ms) / 1000

    async def _take_slot(self, owners: Sequence[str]) -> Ticket:
        """Wait for a free slot within the owners' shares and the bounded line, or QueueFull."""
        ticket = await self._admission.acquire(owners)
        if self._stopping:
            self._admission.release(ticket)
            raise SandboxUnavailable("the executor is stopped")
        return ticket

    def _release_slot(self, ticket: Ticket, task: asyncio.Task[Any]) -> None:
        """A run's task is done, so its sandbox is gone: free its slot."""
        self._tasks.discard(task)
        self._admission.release(ticket)

    async def _run_in_slot(
        self, host: HostLanguage, code: str, stdin: str, timeout_s: float, sandboxed: bool,
        cpu: int,
    ) -> RunResult:  # fmt: skip
        """One run in its slot (``run`` took it; the task's done-callback frees it)."""
        bounds = Bounds(
            timeout_s=timeout_s,
            keep_bytes=self.limits.max_output_bytes,
            kill_bytes=self.limits.max_output_bytes * _FLOOD_FACTOR,
            memory_bytes=self.limits.memory_mb * _MIB,
        )
        outcome = await self._launch(
            host, code.encode(), stdin.encode(), bounds, sandboxed, cpu=cpu
        )
        return _result(host.spec.name, outcome, sandboxed)

    async def _grade_in_slot(
        self, host: HostLanguage, code: str, cases: Sequence[Case], sandboxed: bool, cpu: int
    ) -> Graded:
        boundary = new_boundary()
        per_case = (CASE_OUTPUT_BYTES + CASE_STDERR_BYTES) * 4 // 3 + 256  # base64 and header
        keep = BUILD_OUTPUT_BYTES * 2 + per_case * len(cases)
        bounds = Bounds(
            timeout_s=BUILD_TIMEOUT_S + sum(case.timeout_s + 0.5 for case in cases),
            keep_bytes=keep,
            kill_bytes=keep * 2,
            memory_bytes=self.limits.memory_mb * _MIB,
        )
        template = grading_script(host.spec, cases, boundary, own_pid_namespace=sandboxed)
        outcome = await self._launch(
            host, code.encode(), batch_stdin(cases), bounds, sandboxed, template, cpu
        )
        batch = parse_batch(bytes(outcome.stdout), boundary)
        return Graded(host.spec.name, batch, outcome.killed_for, outcome.elapsed_ms, sandboxed)

    async def _launch(
        self, host: HostLanguage, code: bytes, stdin: bytes, bounds: Bounds, sandboxed: bool,
        template: str | None = None, cpu: int | None = None,
    ) -> Outcome:  # fmt: skip
        try:
            return await self._launch_once(host, code, stdin, bounds, sandboxed, template, cpu)
        except OSError as exc:  # out of processes or fds, a tool vanished...
            log.exception("could not launch %s", host.spec.name)
            raise ExecutionError(f"could not start the program: {exc.strerror or exc}") from exc

    async def _launch_once(
        self, host: HostLanguage, code: bytes, stdin: bytes, bounds: Bounds, sandboxed: bool,
        template: str | None, cpu: int | None,
    ) -> Outcome:  # fmt: skip
        assert self._tools is not None
        tools, limits, timeout_s = self._tools, self.limits, bounds.timeout_s
        if sandboxed:
            launch = sandboxed_launch(tools, limits, host, code, timeout_s, template, cpu)
            return await execute(launch, stdin, bounds)
        log.debug("running %s WITHOUT a sandbox", host.spec.name)
        scratch = await asyncio.to_thread(make_scratch)
        try:
            unsafe: Launch = await asyncio.to_thread(
                unsandboxed_launch, tools, limits, host, code, timeout_s, scratch, template, cpu
            )
            return await execute(unsafe, stdin, bounds)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _smoke_test(self, tools: Tools) -> None:
        """Run nothing in a full sandbox: catches blocked user namespaces and bad flags."""
        bounds = Bounds(_PROBE_TIMEOUT_S, 64 * 1024, 1024 * 1024, None)
        try:
            launch = sandboxed_launch(tools, self.limits, _SMOKE, b"", _PROBE_TIMEOUT_S)
            outcome = await execute(launch, b"", bounds)
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start bubblewrap: {exc}") from exc
        if outcome.returncode != 0:
            detail = bytes(outcome.stderr).decode(errors="replace").strip()[:500]
            raise SandboxUnavailable(
                f"bubblewrap cannot create a sandbox on this host ({detail or outcome.killed_for})"
                "; unprivileged user namespaces may be blocked (AppArmor, sysctl or a "
                "container's seccomp profile): see scripts/install-execution.sh"
            )

    async def _probe_languages(self, tools: Tools) -> None:
        """Keep the languages whose version command works in the sandbox as it will run."""
        hosts = discover(find_esbuild(self._esbuild_path))
        infos = await asyncio.gather(*(self._probe(host) for host in hosts))
        for host, info in zip(hosts, infos, strict=True):
            if info is None:
                continue
            self._languages[host.spec.name] = (host, info)
        listed = ", ".join(f"{info.name} {info.version}" for info in self.languages())
        log.info("languages: %s", listed or "none")

    async def _probe(self, host: HostLanguage) -> LanguageInfo | None:
        bounds = Bounds(_PROBE_TIMEOUT_S, 64 * 1024, 1024 * 1024, None)
        template = host.spec.version_script
        try:
            outcome = await self._launch(host, b"", b"", bounds, self.available, template)
        except ExecutionError as exc:
            log.warning("%s is installed but cannot be started: %s", host.spec.name, exc)
            return None
        output = (bytes(outcome.stdout) + bytes(outcome.stderr)).decode(errors="replace")
        info = parse_version(host.spec, output) if outcome.returncode == 0 else None
        if info is None:
            log.warning("%s is installed but does not run here: %s", host.spec.name, output[:300])
        return info


def _result(language: str, outcome: Outcome, sandboxed: bool) -> RunResult:
    """Map a raw outcome to the public result, inferring the limit that ended the run."""
    killed = outcome.killed_for
    code = outcome.returncode
    if code is not None and code < 0:
        code = 128 - code  # died of a signal outside bubblewrap: use its convention
    exit_code = None if killed else code
    stderr = bytes(outcome.stderr)
    memory = killed == "memory" or any(marker in stderr[-4096:] for marker in _MEMORY_MARKERS)
    # Inside the sandbox only the kernel's OOM killer (the sandbox is its first choice) or
    # the program itself sends SIGKILL: count it as memory.
    memory = memory or exit_code == _KILLED_STATUS
    return RunResult(
        language=language,
        stdout=bytes(outcome.stdout).decode(errors="replace"),
        stderr=stderr.decode(errors="replace"),
        exit_code=exit_code,
        execution_time_ms=outcome.elapsed_ms,
        timed_out=killed == "timeout" or exit_code == _CPU_LIMIT_STATUS,
        memory_exceeded=memory,
        output_truncated=outcome.truncated,
        sandboxed=sandboxed,
    )

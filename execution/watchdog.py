"""Aggregate memory of one run, summed over all of its processes.

RLIMIT_AS/RLIMIT_DATA bound each process alone, so 64 forked children could hold 64x the
limit. Without a writable memory cgroup the next best fence is to sum the memory of every
process of the run a few times a second and kill the run past its budget.
A run's processes are found by pid namespace (sandboxed) or by session (unsandboxed).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

INTERVAL_S = 0.1


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _private_bytes(pid: int) -> int:
    """Proportional anonymous + shmem memory: what the process pins, shared pages split.

    RSS would count the interpreter's copy-on-write pages once per forked child and kill
    harmless multi-process programs; page cache of the read-only /usr is not the run's.
    """
    fields: dict[bytes, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
        for line in rollup:
            name, _, rest = line.partition(b":")
            if name in (b"Pss", b"Pss_Anon", b"Pss_Shmem"):
                fields[name] = int(rest.split()[0]) * 1024
    if b"Pss_Anon" in fields:
        return fields[b"Pss_Anon"] + fields.get(b"Pss_Shmem", 0)
    return fields.get(b"Pss", 0)  # kernels before 5.9


def memory_in_pid_namespace(namespace: str) -> int:
    """Memory of every process whose ``/proc/PID/ns/pid`` is ``namespace``."""
    total = 0
    for pid in _pids():
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == namespace:
                total += _private_bytes(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to inspect
    return total


def memory_in_session(session: int) -> int:
    """Memory of every process in session ``session`` (unsandboxed runs)."""
    total = 0
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == session:
                total += _private_bytes(pid)
        except (OSError, ValueError, IndexError):
            continue
    return total


async def watch(
    measure: Callable[[], int], limit_bytes: int, on_exceeded: Callable[[], None]
) -> None:
    """Poll ``measure`` (in a thread: it reads /proc) until the run passes ``limit_bytes``."""
    while True:
        await asyncio.sleep(INTERVAL_S)
        used = await asyncio.to_thread(measure)
        if used > limit_bytes:
            log.info(
                "run used %s MiB of memory in total, limit %s MiB: killing it",
                used >> 20,
                limit_bytes >> 20,
            )
            on_exceeded()
            return

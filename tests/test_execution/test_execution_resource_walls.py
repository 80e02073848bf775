"""Ways around a run's CPU and memory limits, and the kernel surfaces they need, are closed.

Rlimits bound one process, so these probe what a whole run can take by forking, by memory
no process maps, by inodes, or by changing how the kernel treats it; each on real runs.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from support.sandbox import ExecutorFactory

from execution import Executor

pytestmark = pytest.mark.sandbox

CORES = len(os.sched_getaffinity(0))
# cores + 2 busy children; each reports its CPU time during one shared wall window.
BUSY = """
import os, time
n, warm, window = {n}, 0.3, 1.5
start = time.monotonic()
r, w = os.pipe()
for _ in range(n):
    if os.fork() == 0:
        os.close(r)
        while time.monotonic() < start + warm:
            pass
        c0 = time.process_time()
        while time.monotonic() < start + warm + window:
            pass
        os.write(w, f"{{time.process_time() - c0}}\\n".encode())
        os._exit(0)
os.close(w)
with os.fdopen(r) as lines:
    print("CORES", round(sum(float(line) for line in lines) / window, 2))
print("AFFINITY", sorted(os.sched_getaffinity(0)))
try:
    os.sched_setaffinity(0, range(os.cpu_count()))
    print("WIDENED", sorted(os.sched_getaffinity(0)))
except OSError as exc:
    print("PINNED", exc.errno)
"""


@pytest.mark.skipif(CORES < 2, reason="one core: every run already gets at most one core")
async def test_a_forking_run_gets_one_core_at_most_and_cannot_unpin_itself(
    executor: Executor,
) -> None:
    result = await executor.run(BUSY.format(n=CORES + 2), "python")
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert 0.3 <= float(lines["CORES"]) <= 1.15, result.stdout + result.stderr
    assert len(eval(lines["AFFINITY"])) == 1
    assert lines.get("PINNED") == "1", result.stdout  # EPERM


@pytest.mark.skipif(CORES < 2, reason="one core: concurrent runs share it")
async def test_concurrent_runs_are_pinned_to_different_cores(executor: Executor) -> None:
    code = "import os, time\nprint(sorted(os.sched_getaffinity(0)))\ntime.sleep(0.5)\n"
    first, second = await asyncio.gather(executor.run(code, "python"), executor.run(code, "python"))
    assert len(eval(first.stdout)) == len(eval(second.stdout)) == 1
    assert first.stdout != second.stdout


HIDDEN_MEMORY = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
chunk, chunks = 64 << 20, {size} >> 26
try:
    fd = os.memfd_create("hold")
    for _ in range(chunks * 64):  # write(): the pages need no address space of ours
        os.write(fd, b"x" * (1 << 20))
    print("MEMFD HELD", os.fstat(fd).st_size >> 20)
except OSError as exc:
    print("MEMFD", errno.errorcode[exc.errno])
held = 0
for _ in range(chunks):
    segment = libc.shmget(0, chunk, 0o1600)
    if segment < 0:
        print("SHM", errno.errorcode[ctypes.get_errno()])
        break
    address = libc.shmat(segment, None, 0)
    ctypes.memset(address, 1, chunk)
    libc.shmdt(ctypes.c_void_p(address))  # detached, the segment keeps its pages
    held += chunk
else:
    print("SHM HELD", held >> 20)
for name, number, args in (("semget", 64, (0, 32000, 0o1600)), ("msgget", 68, (0, 0o1600))):
    rc = libc.syscall(number, *args)
    print(name.upper(), rc if rc >= 0 else errno.errorcode[ctypes.get_errno()])
"""


async def test_memory_no_process_maps_cannot_be_held(make_executor: ExecutorFactory) -> None:
    # A memfd or a SysV segment of twice the limit: the watchdog sees neither once unmapped.
    executor = await make_executor(memory_mb=128)
    result = await executor.run(HIDDEN_MEMORY.format(size=256 << 20), "python", timeout_ms=8000)
    refused = ["MEMFD ENOSYS", "SHM ENOSYS", "SEMGET ENOSYS", "MSGGET ENOSYS"]
    assert result.stdout.splitlines() == refused or result.memory_exceeded, result
    assert "HELD" not in result.stdout


FILE_FLOOD = """
import errno, os
for directory, most in (("/tmp", 20000), ("/dev/shm", 2000)):
    count = 0
    try:
        while count < most:
            os.close(os.open(f"{directory}/f{count}", os.O_CREAT | os.O_WRONLY, 0o644))
            count += 1
        print(directory, count, "unbounded")
    except OSError as exc:
        print(directory, count, errno.errorcode[exc.errno])
"""


async def test_a_flood_of_empty_files_stops_at_the_file_bound(
    make_executor: ExecutorFactory,
) -> None:
    # Each empty file is ~1 KiB of kernel memory that the tmpfs size does not count.
    executor = await make_executor(max_tmp_files=1000)
    result = await executor.run(FILE_FLOOD, "python")
    assert result.stdout.splitlines() == ["/tmp 1000 ENOSPC", "/dev/shm 64 ENOSPC"], result


SURFACES = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(*args)
    print(name, rc if rc <= 0 else "fd", errno.errorcode.get(ctypes.get_errno(), "0"))
ldt = ctypes.create_string_buffer(64)
call("modify_ldt", 154, 0, ldt, 64)
call("memfd_secret", 447, 0)
call("personality_query", 135, 0xFFFFFFFF)
call("personality_no_aslr", 135, 0x0040000)
call("personality_query", 135, 0xFFFFFFFF)
"""


async def test_modify_ldt_memfd_secret_and_personality_changes_are_refused(
    executor: Executor,
) -> None:
    result = await executor.run(SURFACES, "python")
    assert result.stdout.splitlines() == [
        "modify_ldt -1 EPERM", "memfd_secret -1 ENOSYS", "personality_query 0 0",
        "personality_no_aslr -1 EPERM", "personality_query 0 0",
    ], result.stdout + result.stderr  # fmt: skip

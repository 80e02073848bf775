"""Every wall of the sandbox, each proven with real bubblewrap runs of hostile code."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import pytest
from support.sandbox import PROJECT_DIR, ExecutorFactory, pids_with_marker, reexec_with_marker
from support.waiting import wait_until

from execution import Executor

pytestmark = pytest.mark.sandbox

CONNECT_PY = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("CONNECTED")
except OSError as exc:
    print("BLOCKED", type(exc).__name__)
lines = open("/proc/net/dev").readlines()[2:]
print("INTERFACES", sorted(line.split(":")[0].strip() for line in lines))
"""
CONNECT_JS = """
const s = require('net').connect({port}, '127.0.0.1');
s.on('connect', () => {{ console.log('CONNECTED'); s.end(); }});
s.on('error', (e) => console.log('BLOCKED', e.code));
"""


async def test_code_cannot_reach_a_listener_on_the_hosts_loopback(
    make_executor: ExecutorFactory,
) -> None:
    accepted: list[str] = []

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append("client")
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sandboxed = await make_executor()
        python = await sandboxed.run(CONNECT_PY.format(port=port), "python")
        node = await sandboxed.run(CONNECT_JS.format(port=port), "javascript")
        assert python.stdout.startswith("BLOCKED"), python.stdout + python.stderr
        assert "INTERFACES ['lo']" in python.stdout  # a private network namespace
        assert node.stdout.startswith("BLOCKED"), node.stdout + node.stderr
        assert accepted == []
        # Control: the very same code does connect when it is not sandboxed.
        unsafe = await make_executor(
            sandbox=False, bwrap_path="/nonexistent/bwrap", allow_unsandboxed=True
        )
        control = await unsafe.run(CONNECT_PY.format(port=port), "python")
        assert control.stdout.startswith("CONNECTED") and not control.sandboxed
        await wait_until(lambda: accepted == ["client"], what="the control connection")
    finally:
        server.close()
        await server.wait_closed()


async def test_host_files_are_invisible(executor: Executor, tmp_path: Path) -> None:
    token = secrets.token_hex(16)
    secret = tmp_path / "secret.txt"
    secret.write_text(token)
    database = tmp_path / "codeinterview.db"
    database.write_text(token)
    paths = [
        "/etc/passwd", "/etc/shadow", "/root", "/home", "/work", str(PROJECT_DIR),
        str(PROJECT_DIR / "pyproject.toml"), str(secret), str(database), str(tmp_path),
        "/usr/local/bin", "/var", "/sys/class/net",
    ]  # fmt: skip
    code = f"""
import os
for path in {paths!r}:
    try:
        print("VISIBLE", path, os.listdir(path) if os.path.isdir(path) else open(path).read())
    except OSError as exc:
        print("HIDDEN", path, type(exc).__name__)
print("OWN", open("/box/main.py").read().count("HIDDEN") > 0)
"""
    result = await executor.run(code, "python")
    assert "VISIBLE" not in result.stdout, result.stdout
    assert result.stdout.count("HIDDEN") == len(paths)
    assert "OWN True" in result.stdout  # the reads themselves worked
    assert token not in result.stdout + result.stderr


async def test_only_tmp_is_writable(executor: Executor) -> None:
    code = """
for path in ("/usr/x", "/x", "/etc/x", "/box/x", "/dev/x", "/proc/x", "/usr/local/x", "/tmp/ok"):
    try:
        with open(path, "w") as f:
            f.write("x")
        print("WROTE", path)
    except OSError as exc:
        print("DENIED", path, type(exc).__name__)
"""
    result = await executor.run(code, "python")
    assert result.stdout.count("DENIED") == 7, result.stdout
    assert "WROTE /tmp/ok" in result.stdout


async def test_server_environment_variables_are_absent(
    executor: Executor, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = secrets.token_hex(16)
    monkeypatch.setenv("CODEINTERVIEW_TEST_SECRET", token)
    code = """
import os
print(dict(os.environ))
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        print(pid, open(f"/proc/{pid}/environ", "rb").read())
    except OSError as exc:
        print(pid, "unreadable", exc)
"""
    result = await executor.run(code, "python")
    assert "'PATH': '/usr/bin:/bin'" in result.stdout  # the dump itself worked
    assert "1 b''" in result.stdout  # bubblewrap's own pid 1 got an empty environment
    assert token not in result.stdout + result.stderr
    assert "CODEINTERVIEW_TEST_SECRET" not in result.stdout


GRANDCHILD = """
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while True:
            time.sleep(1)
    os._exit(0)
print("detached", flush=True)
while True:
    pass
"""


async def test_the_time_limit_kills_the_whole_tree_including_detached_grandchildren(
    executor: Executor,
) -> None:
    marker = f"tree-{secrets.token_hex(8)}"
    code = reexec_with_marker(GRANDCHILD, marker)
    run = asyncio.create_task(executor.run(code, "python", timeout_ms=1500))
    await wait_until(
        lambda: len(pids_with_marker(marker)) >= 2, what="the busy parent and its grandchild"
    )
    result = await run
    assert result.timed_out and result.exit_code is None
    assert result.stdout == "detached\n"
    assert 1500 <= result.execution_time_ms < 4000
    await wait_until(lambda: not pids_with_marker(marker), timeout=3, what="every process gone")


async def test_python_over_the_memory_limit_is_flagged(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(memory_mb=128)
    result = await executor.run("x = bytearray(512 * 1024 * 1024)\nprint('allocated')", "python")
    assert result.memory_exceeded and not result.timed_out
    assert "MemoryError" in result.stderr and "allocated" not in result.stdout


async def test_javascript_over_the_memory_limit_is_flagged(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(memory_mb=128)
    code = "const keep = []; for (;;) keep.push(Buffer.alloc(8 * 1024 * 1024, 1));"
    result = await executor.run(code, "javascript")
    assert result.memory_exceeded and not result.timed_out
    assert result.exit_code != 0


async def test_memory_summed_over_forked_children_is_capped(make_executor: ExecutorFactory) -> None:
    # Each child stays under the per-process limit; together they hold 4 x 60 MiB.
    executor = await make_executor(memory_mb=128)
    code = """
import os, time
for _ in range(4):
    if os.fork() == 0:
        block = bytearray(b"x") * (60 * 1024 * 1024)
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""
    started = time.monotonic()
    result = await executor.run(code, "python", timeout_ms=8000)
    assert result.memory_exceeded and not result.timed_out
    assert result.exit_code is None
    assert time.monotonic() - started < 6


FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""


async def test_a_fork_bomb_is_contained_and_the_host_stays_responsive(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_processes=32)
    marker = f"bomb-{secrets.token_hex(8)}"
    code = reexec_with_marker(FORK_BOMB, marker)
    run = asyncio.create_task(executor.run(code, "python", timeout_ms=2500))
    peak = 0

    def saturated() -> bool:
        nonlocal peak
        peak = max(peak, len(pids_with_marker(marker)))
        return peak >= 28

    await wait_until(saturated, what="the bomb to reach its process limit")
    probe_started = time.monotonic()  # the host still starts processes promptly
    proc = await asyncio.create_subprocess_exec("/usr/bin/true")
    assert await proc.wait() == 0 and time.monotonic() - probe_started < 2
    while not run.done():
        saturated()
        await asyncio.wait({run}, timeout=0.05)
    result = run.result()
    assert peak <= 32, peak
    assert result.timed_out
    await wait_until(lambda: not pids_with_marker(marker), timeout=3, what="the bomb to be gone")
    after = await executor.run("print('still fine')", "python")
    assert after.stdout == "still fine\n"


async def test_processes_and_threads_are_capped_at_max_processes(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_processes=40)
    code = """
import os, signal, time
children = []
while True:
    try:
        pid = os.fork()
    except OSError as exc:
        print("FORKS", len(children), exc.errno)
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.kill(pid, signal.SIGKILL)
"""
    result = await executor.run(code, "python")
    forks, errno = result.stdout.split()[1:]
    assert 30 <= int(forks) < 40, result.stdout  # bwrap's init, sh and python count too
    assert errno == "11"  # EAGAIN


async def test_writing_beyond_the_tmpfs_fails(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(tmpfs_mb=16)
    code = """
import os
written = 0
try:
    with open("/tmp/fill", "wb") as f:
        while True:
            f.write(b"x" * (1024 * 1024))
            f.flush()
            written += 1
except OSError as exc:
    print("TMP", written, exc.errno)
shm = 0
try:
    with open("/dev/shm/fill", "wb") as f:
        while True:
            f.write(b"x" * 65536)
            f.flush()
            shm += 65536
except OSError as exc:
    print("SHM", shm // 1024, exc.errno)
"""
    result = await executor.run(code, "python")
    tmp_line, shm_line = result.stdout.splitlines()
    _, tmp_mib, tmp_errno = tmp_line.split()
    assert 12 <= int(tmp_mib) <= 16 and tmp_errno == "28", result.stdout  # ENOSPC
    _, shm_kib, shm_errno = shm_line.split()
    assert int(shm_kib) <= 1024 and shm_errno == "28"


async def test_open_files_are_capped_at_max_open_files(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(max_open_files=64)
    code = """
files = []
try:
    while True:
        files.append(open("/dev/null"))
except OSError as exc:
    print(len(files), exc.errno)
"""
    result = await executor.run(code, "python")
    count, errno = result.stdout.split()
    assert 50 <= int(count) < 64 and errno == "24", result.stdout  # EMFILE


async def test_output_beyond_the_limit_is_truncated_and_flagged(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_output_bytes=1000)
    code = "import sys\nfor i in range(300):\n    print(f'{i:09d}')\nsys.stderr.write('E' * 5000)"
    result = await executor.run(code, "python")
    assert result.output_truncated and result.exit_code == 0
    assert result.stdout == "".join(f"{i:09d}\n" for i in range(100))
    assert result.stderr == "E" * 1000


async def test_a_program_that_floods_its_output_is_killed_early(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_output_bytes=1000)
    result = await executor.run("while True:\n    print('x' * 1000)", "python", timeout_ms=8000)
    assert result.output_truncated and result.exit_code is None
    assert not result.timed_out and result.execution_time_ms < 4000
    assert len(result.stdout) == 1000


async def test_nested_namespaces_and_other_kernel_surfaces_are_refused(executor: Executor) -> None:
    code = """
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    rc = libc.syscall(*args)
    print(name, rc, errno.errorcode.get(ctypes.get_errno(), "0"))
call("unshare_user", 272, 0x10000000)
call("io_uring_setup", 425, 1, 0)
call("keyctl", 250, 0, 0)
call("bpf", 321, 0, 0, 0)
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError as exc:
    print("inet", errno.errorcode[exc.errno])
a, b = socket.socketpair()
print("unix ok")
"""
    result = await executor.run(code, "python")
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "unshare_user -1 EPERM", "io_uring_setup -1 EPERM", "keyctl -1 EPERM", "bpf -1 EPERM",
    ], result.stdout + result.stderr  # fmt: skip
    assert lines[4:] == ["inet EAFNOSUPPORT", "unix ok"]

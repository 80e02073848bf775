"""Without a working bubblewrap the engine refuses to run code, unless explicitly allowed."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sandbox import ExecutorFactory

from execution import ExecutionLimits, Executor, SandboxUnavailable

# Real bubblewrap, started inside a user namespace that may not create further user
# namespaces: what a host with blocked unprivileged user namespaces looks like to bwrap.
BLOCKED_BWRAP = """#!/bin/sh
exec /usr/bin/unshare --user --map-root-user /bin/sh -c \
  'echo 0 > /proc/sys/user/max_user_namespaces && exec /usr/bin/bwrap "$@"' sh "$@"
"""


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory the unprivileged sandbox user can reach (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="codeinterview-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


async def test_a_missing_bubblewrap_makes_every_run_fail_closed(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(sandbox=False, bwrap_path="/nonexistent/bwrap")
    assert not executor.available
    assert executor.unavailable_reason is not None
    assert "/nonexistent/bwrap" in executor.unavailable_reason
    assert executor.languages() == []
    with pytest.raises(SandboxUnavailable) as refused:
        await executor.run("print('must not run')", "python")
    assert refused.value.code == "SANDBOX_UNAVAILABLE"
    assert "bubblewrap not found" in str(refused.value)


@pytest.mark.sandbox
async def test_blocked_user_namespaces_make_every_run_fail_closed(
    make_executor: ExecutorFactory, public_dir: Path
) -> None:
    wrapper = public_dir / "bwrap"
    wrapper.write_text(BLOCKED_BWRAP)
    wrapper.chmod(0o755)
    executor = await make_executor(sandbox=False, bwrap_path=str(wrapper))
    assert not executor.available
    assert "Creating new namespace failed" in (executor.unavailable_reason or "")
    with pytest.raises(SandboxUnavailable) as refused:
        await executor.run("print('must not run')", "python")
    assert "user namespaces" in str(refused.value)


async def test_with_allow_unsandboxed_code_runs_without_the_sandbox_and_says_so(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(
        sandbox=False, bwrap_path="/nonexistent/bwrap", allow_unsandboxed=True
    )
    assert not executor.available and executor.unavailable_reason
    assert {"python", "javascript", "typescript"} <= {i.name for i in executor.languages()}
    result = await executor.run("print(input()[::-1])", "python", stdin="olleh\n")
    assert result.stdout == "hello\n" and result.exit_code == 0
    assert not result.sandboxed
    typescript = await executor.run("const n: number = 41; console.log(n + 1)", "typescript")
    assert typescript.stdout == "42\n" and not typescript.sandboxed
    # No isolation: the host's files are readable (this is why the flag is loud).
    peek = await executor.run("print(open('/etc/passwd').read())", "python")
    assert "root:" in peek.stdout


async def test_unsandboxed_runs_still_have_a_time_limit(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(
        sandbox=False, bwrap_path="/nonexistent/bwrap", allow_unsandboxed=True
    )
    result = await executor.run("while True: pass", "python", timeout_ms=700)
    assert result.timed_out and result.exit_code is None and not result.sandboxed
    assert 700 <= result.execution_time_ms < 3000


async def test_an_executor_that_was_never_started_refuses_runs() -> None:
    executor = Executor(ExecutionLimits())
    assert not executor.available
    with pytest.raises(SandboxUnavailable):
        await executor.run("print(1)", "python")
    await executor.stop()

"""Bounded concurrency, a bounded queue, and clean teardown of running sandboxes."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from support.sandbox import ExecutorFactory, pids_with_marker, reexec_with_marker
from support.waiting import wait_until

from execution import Executor, QueueFull, RunResult, SandboxUnavailable

pytestmark = pytest.mark.sandbox

SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"


async def _twenty(executor: Executor) -> list[RunResult | BaseException]:
    return await asyncio.gather(
        *(executor.run(f"print({n} * 2)", "python") for n in range(20)), return_exceptions=True
    )


async def test_twenty_concurrent_runs_all_finish_correctly(executor: Executor) -> None:
    results = await _twenty(executor)
    assert [r.stdout if isinstance(r, RunResult) else r for r in results] == [
        f"{n * 2}\n" for n in range(20)
    ]


async def test_twenty_concurrent_runs_beyond_the_queue_are_refused_with_queue_full(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_concurrent=2, max_queue=5)
    results = await _twenty(executor)
    finished = [(n, r) for n, r in enumerate(results) if isinstance(r, RunResult)]
    refused = [r for r in results if isinstance(r, QueueFull)]
    assert len(finished) == 7 and len(refused) == 13, results
    assert all(r.stdout == f"{n * 2}\n" for n, r in finished)
    assert {r.code for r in refused} == {"RATE_LIMITED"}
    assert executor.running == 0
    again = await executor.run("print('slots are free again')", "python")
    assert again.stdout == "slots are free again\n"


async def test_no_more_than_max_concurrent_runs_execute_at_once(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_concurrent=2)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, executor.running)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    started = time.monotonic()
    sleepers = (executor.run("import time; time.sleep(0.5)", "python") for _ in range(4))
    results = await asyncio.gather(*sleepers)
    elapsed = time.monotonic() - started
    watcher.cancel()
    assert all(r.exit_code == 0 for r in results)
    assert peak == 2
    assert elapsed >= 1.0  # two rounds of two


async def test_a_queued_run_that_waits_too_long_is_refused(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(max_concurrent=1, queue_timeout_ms=300)
    first = asyncio.create_task(executor.run("import time; time.sleep(2)", "python"))
    await wait_until(lambda: executor.running == 1, what="the first run to take the slot")
    started = time.monotonic()
    with pytest.raises(QueueFull):
        await executor.run("print(1)", "python")
    assert 0.25 <= time.monotonic() - started < 1.5
    assert (await first).exit_code == 0


async def test_stop_kills_running_sandboxes_and_refuses_new_runs(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor()
    marker = f"stop-{secrets.token_hex(8)}"
    code = reexec_with_marker(SLEEPER, marker)
    run = asyncio.create_task(executor.run(code, "python", timeout_ms=10_000))
    await wait_until(lambda: pids_with_marker(marker), what="the sandboxed sleeper")
    started = time.monotonic()
    await executor.stop()
    assert time.monotonic() - started < 3
    assert not pids_with_marker(marker)
    with pytest.raises(SandboxUnavailable):
        await run
    with pytest.raises(SandboxUnavailable):
        await executor.run("print(1)", "python")
    assert not executor.available


async def test_cancelling_a_run_kills_its_sandbox(executor: Executor) -> None:
    marker = f"cancel-{secrets.token_hex(8)}"
    code = reexec_with_marker(SLEEPER, marker)
    run = asyncio.create_task(executor.run(code, "python", timeout_ms=10_000))
    await wait_until(lambda: pids_with_marker(marker), what="the sandboxed sleeper")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await wait_until(lambda: not pids_with_marker(marker), timeout=3, what="the sandbox to be gone")
    await wait_until(lambda: executor.running == 0, timeout=3, what="the slot to be released")

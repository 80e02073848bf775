"""Fixtures for the execution engine: real executors on this host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.sandbox import ExecutorFactory

from execution import ExecutionLimits, Executor


@pytest.fixture
async def make_executor() -> AsyncIterator[ExecutorFactory]:
    """Started executors with limit overrides; every one is stopped after the test.

    ``sandbox=True`` (the default) fails the test when bubblewrap does not work here:
    deselect those tests with ``-m "not sandbox"`` on such hosts rather than skipping silently.
    """
    started: list[Executor] = []

    async def build(
        *, sandbox: bool = True, bwrap_path: str = "bwrap", **overrides: Any
    ) -> Executor:
        values: dict[str, Any] = {"max_concurrent": 2}
        values.update(overrides)
        executor = Executor(ExecutionLimits(**values), bwrap_path=bwrap_path)
        started.append(executor)
        await executor.start()
        if sandbox and not executor.available:
            pytest.fail(f"the sandbox does not work on this host: {executor.unavailable_reason}")
        return executor

    yield build
    for executor in started:
        await executor.stop()


@pytest.fixture
async def executor(make_executor: ExecutorFactory) -> Executor:
    """A sandboxed executor with the default limits (two slots)."""
    return await make_executor()

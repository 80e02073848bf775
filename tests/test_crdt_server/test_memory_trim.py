"""The heap trim after room unloads: coalesced, rate-limited, and never dropped."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from crdt_server import memory


@pytest.fixture
def trims(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """Each trim's monotonic time and the thread it ran in, instead of calling glibc."""
    done: list[tuple[float, str]] = []
    monkeypatch.setattr(memory, "_LIBC", object())

    def record() -> None:
        done.append((time.monotonic(), threading.current_thread().name))

    monkeypatch.setattr(memory, "_trim_now", record)
    return done


async def _until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_burst_of_unloads_costs_one_trim_in_a_worker_thread(
    trims: list[tuple[float, str]],
) -> None:
    trimmer = memory.Trimmer(delay_s=0.01, every_s=60.0)
    for _ in range(20):
        trimmer.request()
    await _until(lambda: trims)
    await trimmer.close()
    assert len(trims) == 1
    assert trims[0][1] != threading.main_thread().name


async def test_an_unload_soon_after_a_trim_is_trimmed_later_not_skipped(
    trims: list[tuple[float, str]],
) -> None:
    trimmer = memory.Trimmer(delay_s=0.01, every_s=0.3)
    trimmer.request()
    await _until(lambda: len(trims) == 1)
    trimmer.request()  # the last room of the burst goes right after the trim
    await _until(lambda: len(trims) == 2)
    await trimmer.close()
    assert trims[1][0] - trims[0][0] >= 0.3 - 0.01


async def test_closing_drops_a_pending_trim(trims: list[tuple[float, str]]) -> None:
    trimmer = memory.Trimmer(delay_s=0.05, every_s=0.05)
    trimmer.request()
    await trimmer.close()
    await asyncio.sleep(0.1)  # past when it was due: it must not run
    assert trims == []

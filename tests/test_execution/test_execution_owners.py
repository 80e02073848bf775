"""Per-owner shares of the slots and the line, and turns between owners, on real runs."""

from __future__ import annotations

import asyncio
import time

import pytest
from support.sandbox import ExecutorFactory
from support.waiting import wait_until

from execution import Executor, QueueFull, RunResult

pytestmark = pytest.mark.sandbox

FLOODER = ("client:203.0.113.7", "session:0123abcd")
SLEEP_1S = "import time\ntime.sleep(1)\nprint('slept')\n"


async def test_one_owner_flooding_cannot_delay_another_owners_run(executor: Executor) -> None:
    # Two slots: the flooder may hold one of them and two places in the line.
    flood = [
        asyncio.create_task(executor.run(SLEEP_1S, "python", owners=FLOODER)) for _ in range(20)
    ]
    await wait_until(lambda: executor.running == 1, what="the flood's first run to start")
    started = time.monotonic()
    other = await executor.run("print('my turn')", "python", owners=("client:198.51.100.1",))
    waited = time.monotonic() - started
    assert other.stdout == "my turn\n" and other.exit_code == 0
    assert waited < 2.0, waited  # the flood alone takes at least 3 s (10 s without shares)
    results = await asyncio.gather(*flood, return_exceptions=True)
    ran = [r for r in results if isinstance(r, RunResult)]
    refused = [r for r in results if isinstance(r, QueueFull)]
    assert len(ran) == 3 and len(refused) == 17, results
    assert all(r.stdout == "slept\n" for r in ran)
    assert {r.code for r in refused} == {"RATE_LIMITED"}


async def test_waiting_owners_take_turns_instead_of_first_come_first_served(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_concurrent=1, max_queued_per_owner=3)
    order: list[str] = []

    async def run(name: str, owner: str) -> None:
        await executor.run("import time\ntime.sleep(0.3)\n", "python", owners=(owner,))
        order.append(name)

    first = asyncio.create_task(run("a1", "client:a"))
    await wait_until(lambda: executor.running == 1, what="a1 to take the only slot")
    rest = [asyncio.create_task(run("a2", "client:a")), asyncio.create_task(run("a3", "client:a"))]
    await asyncio.sleep(0.05)  # a2 and a3 are in the line before b1 arrives
    rest.append(asyncio.create_task(run("b1", "client:b")))
    await asyncio.gather(first, *rest)
    assert order == ["a1", "b1", "a2", "a3"]


async def test_a_session_shared_by_two_clients_gets_one_share(executor: Executor) -> None:
    sleep = "import time\ntime.sleep(0.6)\n"
    started = time.monotonic()
    results = await asyncio.gather(
        executor.run(sleep, "python", owners=("client:a", "session:shared")),
        executor.run(sleep, "python", owners=("client:b", "session:shared")),
    )
    assert all(r.exit_code == 0 for r in results)
    assert time.monotonic() - started >= 1.2  # one after the other, though two slots exist
    # Runs without owners are bound by the global limits only.
    started = time.monotonic()
    await asyncio.gather(executor.run(sleep, "python"), executor.run(sleep, "python"))
    assert time.monotonic() - started < 1.2


async def test_a_cancelled_waiter_gives_its_place_in_the_line_back(
    make_executor: ExecutorFactory,
) -> None:
    executor = await make_executor(max_concurrent=1)  # one slot, two places per owner
    owner = ("client:a",)
    sleep = "import time\ntime.sleep(0.5)\n"
    running = asyncio.create_task(executor.run(sleep, "python", owners=owner))
    await wait_until(lambda: executor.running == 1, what="the first run to take the slot")
    queued = [asyncio.create_task(executor.run(sleep, "python", owners=owner)) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(QueueFull):
        await executor.run(sleep, "python", owners=owner)  # its two places are taken
    queued[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued[0]
    again = await executor.run("print('in line again')", "python", owners=owner)
    assert again.stdout == "in line again\n"
    assert (await running).exit_code == 0 and (await queued[1]).exit_code == 0
    assert executor.running == 0

"""How fairly the engine shares the host between runs and owners; prints Markdown.

    .venv/bin/python bench/execution_fairness.py [--repeat 3]

Three figures, all through ``Executor.run`` on the real sandbox:

* CPU share: one run starts cores + 2 busy processes; the sum of their CPU time over a
  window, divided by the window (1.0 = one core).
* Slowdown: a fixed single-process CPU loop, alone and then while another run keeps
  cores + 2 processes busy (their ratio; 1.0 = not slowed at all).
* Fairness: one owner sends 20 one-second sleeps at once, another owner one quick run;
  how long the quick run waited, and how many of the flood were refused.

Runs on whatever ``execution`` package sits next to this script; on an engine without
per-owner bounds the owners are simply not passed.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution import ExecutionLimits, Executor, QueueFull, RunResult  # noqa: E402

CORES = len(os.sched_getaffinity(0))
# Forks n busy children; each reports the CPU time it got during the same wall window.
BUSY = """
import os, time
n, warm, window = {n}, 0.3, {window}
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
    print(sum(float(line) for line in lines) / window)
"""
LOOP = "import time\nt = time.monotonic()\nx = 0\nfor i in range(6_000_000):\n    x += i\n"
LOOP += "print(time.monotonic() - t)\n"


async def _run(executor: Executor, code: str, owners: tuple[str, ...] = ()) -> RunResult:
    kwargs: dict[str, Any] = {"timeout_ms": 10_000}
    if owners and "owners" in inspect.signature(executor.run).parameters:
        kwargs["owners"] = owners
    result = await executor.run(code, "python", **kwargs)
    if result.exit_code != 0:
        raise SystemExit(f"unexpected result {result}")
    return result


async def cpu_share(executor: Executor) -> float:
    result = await _run(executor, BUSY.format(n=CORES + 2, window=1.5))
    return float(result.stdout)


async def slowdown(executor: Executor) -> tuple[float, float]:
    alone = float((await _run(executor, LOOP)).stdout)
    hog = asyncio.create_task(_run(executor, BUSY.format(n=CORES + 2, window=4.0)))
    await asyncio.sleep(0.8)  # the hog's children are busy by now
    loaded = float((await _run(executor, LOOP)).stdout)
    await hog
    return alone, loaded


async def fairness(executor: Executor) -> tuple[float, int, int]:
    sleep = "import time\ntime.sleep(1)\n"
    flood = [asyncio.create_task(_run(executor, sleep, ("client:203.0.113.7",))) for _ in range(20)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await _run(executor, "print('hi')", ("client:198.51.100.1",))
    waited = time.monotonic() - started
    results = await asyncio.gather(*flood, return_exceptions=True)
    refused = sum(isinstance(r, QueueFull) for r in results)
    ran = sum(isinstance(r, RunResult) for r in results)
    return waited, ran, refused


async def main(repeat: int) -> None:
    executor = Executor(ExecutionLimits(max_concurrent=CORES))
    await executor.start()
    if not executor.available:
        raise SystemExit(f"sandbox unavailable: {executor.unavailable_reason}")
    shares, ratios, waits = [], [], []
    for _ in range(repeat):
        shares.append(await cpu_share(executor))
        alone, loaded = await slowdown(executor)
        ratios.append(loaded / alone)
        waited, ran, refused = await fairness(executor)
        waits.append(waited)
    await executor.stop()
    print(f"| figure ({CORES} cores, median of {repeat}) | value |")
    print("| --- | --- |")
    share = statistics.median(shares)
    print(f"| CPU share of one run with {CORES + 2} busy processes | {share:.2f} cores |")
    print(f"| slowdown of a single-process run beside it | {statistics.median(ratios):.2f}x |")
    print(f"| quick run's wait behind a 20-run flood | {statistics.median(waits):.2f} s |")
    print(f"| the flood: ran / refused (last round) | {ran} / {refused} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args().repeat))

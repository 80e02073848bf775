"""Latency of a "print hello" run per language, sandboxed vs. unsandboxed; prints Markdown.

    .venv/bin/python bench/execution_latency.py [--runs 10]

"Unsandboxed" is the explicit allow_unsandboxed fallback (bubblewrap pointed at a missing
path), so the difference is the cost of the sandbox itself: bwrap, namespaces, mounts and
the seccomp filter. Runs alternate between the two executors so that background load hits
both alike. Times are end to end through ``Executor.run`` (spawn, pipes, result).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from execution import ExecutionLimits, Executor  # noqa: E402

HELLO = {
    "python": 'print("hello")',
    "javascript": 'console.log("hello")',
    "typescript": 'const greeting: string = "hello";\nconsole.log(greeting)',
    "c": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }',
    "java": (
        "public class Main {\n"
        '    public static void main(String[] args) { System.out.println("hello"); }\n'
        "}\n"
    ),
}


async def _timed(executor: Executor, language: str) -> float:
    started = time.perf_counter()
    result = await executor.run(HELLO[language], language)
    elapsed = (time.perf_counter() - started) * 1000
    if result.stdout != "hello\n":
        raise SystemExit(f"{language}: unexpected result {result}")
    return elapsed


def _cell(samples: list[float]) -> str:
    return f"{statistics.median(samples):.0f} ms ({min(samples):.0f})"


async def main(runs: int) -> None:
    limits = ExecutionLimits(max_concurrent=1)
    sandboxed = Executor(limits)
    unsandboxed = Executor(
        ExecutionLimits(max_concurrent=1, allow_unsandboxed=True), bwrap_path="/nonexistent/bwrap"
    )
    await sandboxed.start()
    await unsandboxed.start()
    if not sandboxed.available:
        raise SystemExit(f"sandbox unavailable: {sandboxed.unavailable_reason}")
    try:
        print(f"{runs} runs each after 2 warm-ups, median (min), sequential, end to end\n")
        print("| language | version | sandboxed | unsandboxed | sandbox overhead |")
        print("| --- | --- | --- | --- | --- |")
        for info in sandboxed.languages():
            with_box: list[float] = []
            without: list[float] = []
            for n in range(runs + 2):
                boxed = await _timed(sandboxed, info.name)
                bare = await _timed(unsandboxed, info.name)
                if n >= 2:
                    with_box.append(boxed)
                    without.append(bare)
            delta = statistics.median(with_box) - statistics.median(without)
            cells = f"{_cell(with_box)} | {_cell(without)} | {delta:+.0f} ms"
            print(f"| {info.name} | {info.version} | {cells} |")
    finally:
        await sandboxed.stop()
        await unsandboxed.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured runs per cell")
    asyncio.run(main(parser.parse_args().runs))

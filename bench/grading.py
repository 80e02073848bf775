"""Grading ten cases: one sandbox job that builds once, against ten separate runs.

Judge0 compiles for every case; ``Executor.grade`` builds once and runs each case against
the build. For each language, the same solution is graded on ten cases both ways (the
separate way is ten ``Executor.run`` calls, each compiling again, as a Judge0 submission
per case would); medians of ``--repeat`` rounds, wall time, one slot.

    .venv/bin/python bench/grading.py [--repeat 5] [--languages cpp java typescript python]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from execution import ExecutionLimits, Executor
from execution.grading import ACCEPTED, Case, status_of

SOLUTIONS = {
    "cpp": "#include <iostream>\nint main() { long a, b; std::cin >> a >> b;"
    " std::cout << a + b << '\\n'; }\n",
    "c": '#include <stdio.h>\nint main(void) { long a, b; scanf("%ld %ld", &a, &b);'
    ' printf("%ld\\n", a + b); return 0; }\n',
    "java": "import java.util.Scanner;\npublic class Main { public static void main(String[] x)"
    " { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); }"
    " }\n",
    "typescript": "const [a, b]: number[] = require('fs').readFileSync(0, 'utf8').split(' ')"
    ".map(Number);\nconsole.log(a + b);\n",
    "python": "a, b = map(int, input().split())\nprint(a + b)\n",
    "javascript": "const [a, b] = require('fs').readFileSync(0, 'utf8').split(' ').map(Number);\n"
    "console.log(a + b);\n",
}
CASES = [Case(f"{n} {n * 7}\n".encode(), (), 5.0) for n in range(10)]


async def once_each(executor: Executor, language: str) -> tuple[float, float]:
    code = SOLUTIONS[language]
    started = time.perf_counter()
    graded = await executor.grade(code, language, CASES)
    batch_s = time.perf_counter() - started
    statuses = [
        status_of(run, case, f"{n * 8}\n", "exact")
        for n, (run, case) in enumerate(zip(graded.batch.cases, CASES, strict=True))
    ]
    assert statuses == [ACCEPTED] * len(CASES), statuses
    started = time.perf_counter()
    for n, case in enumerate(CASES):
        result = await executor.run(code, language, stdin=case.stdin.decode(), timeout_ms=10_000)
        assert result.stdout == f"{n * 8}\n", result
    return batch_s, time.perf_counter() - started


async def main(repeat: int, languages: list[str]) -> None:
    executor = Executor(ExecutionLimits(max_concurrent=1))
    await executor.start()
    try:
        print("| language | one job, built once (s) | ten runs (s) | ratio |")
        print("| --- | --- | --- | --- |")
        for language in languages:
            rounds = [await once_each(executor, language) for _ in range(repeat)]
            batch = statistics.median(r[0] for r in rounds)
            separate = statistics.median(r[1] for r in rounds)
            print(f"| {language} | {batch:.2f} | {separate:.2f} | {separate / batch:.1f}x |")
    finally:
        await executor.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--languages", nargs="+", default=list(SOLUTIONS))
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.languages))

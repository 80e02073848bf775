"""Grading in one sandbox: build once, then run every case with its own time limit.

Judge0 compiles again for every case (its maintainers declined "compile once, run all");
here one sandbox builds the program and then runs each case against it. The script is
ours; the cases' inputs arrive on the sandbox's standard input one after another, each
read by ``dd`` to its exact length, so no input is ever part of a command line. Each case's
results come back on standard output after a random boundary line, base64-encoded. Every
process a case leaves behind is killed before the next case starts.
"""

from __future__ import annotations

import base64
import math
import re
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .languages import LanguageSpec

Compare = Literal["exact", "lines", "tokens", "float"]

#: Bytes of a case's output kept for comparing (more is a wrong answer), and of its stderr.
CASE_OUTPUT_BYTES = 64 * 1024
CASE_STDERR_BYTES = 4 * 1024
BUILD_OUTPUT_BYTES = 16 * 1024
#: Time the build step may take (a JVM's javac is the slowest, about 2 s here).
BUILD_TIMEOUT_S = 20.0
FLOAT_TOLERANCE = 1e-6

# Judge0's status ids, so its clients read our results.
ACCEPTED, WRONG_ANSWER, TIME_LIMIT, COMPILATION_ERROR = 3, 4, 5, 6
SIGSEGV, SIGXFSZ, SIGFPE, SIGABRT, NZEC, RUNTIME_OTHER, INTERNAL_ERROR = 7, 8, 9, 10, 11, 12, 13
STATUS_NAMES = {
    ACCEPTED: "Accepted",
    WRONG_ANSWER: "Wrong Answer",
    TIME_LIMIT: "Time Limit Exceeded",
    COMPILATION_ERROR: "Compilation Error",
    SIGSEGV: "Runtime Error (SIGSEGV)",
    SIGXFSZ: "Runtime Error (SIGXFSZ)",
    SIGFPE: "Runtime Error (SIGFPE)",
    SIGABRT: "Runtime Error (SIGABRT)",
    NZEC: "Runtime Error (NZEC)",
    RUNTIME_OTHER: "Runtime Error (Other)",
    INTERNAL_ERROR: "Internal Error",
}
_SIGNALS = {11: SIGSEGV, 25: SIGXFSZ, 8: SIGFPE, 6: SIGABRT}


@dataclass(frozen=True)
class Case:
    """One run of the built program: its input, arguments and wall-time limit."""

    stdin: bytes
    args: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True)
class CaseRun:
    """What one case did. ``exit_code`` is the shell's: 128+N after signal N."""

    exit_code: int
    time_ms: int
    stdout: bytes  # at most CASE_OUTPUT_BYTES
    stdout_size: int  # what it wrote in all
    stderr: bytes


@dataclass(frozen=True)
class Batch:
    """A grading job's outcome: the build step's, and each case's that ran (in order)."""

    built: bool
    build_output: str
    cases: list[CaseRun]


def grading_script(
    spec: LanguageSpec, cases: Sequence[Case], boundary: str, *, own_pid_namespace: bool
) -> str:
    """The sandbox's script (a template: the spec's placeholders stay for ``render``).

    ``own_pid_namespace``: the script's processes are alone in their PID namespace (the
    sandbox), so ``kill -1`` reaches only what the cases left behind. Never without it: in
    the unsandboxed fallback it would kill every process of the server's user.
    """
    reap = ["kill -KILL -1 2>/dev/null"] if own_pid_namespace else []
    run = spec.run
    lines = [
        f"B={boundary}",
        f"timeout -s KILL {BUILD_TIMEOUT_S:g} {spec.build or 'true'} >/tmp/build.out 2>&1",
        "rc=$?",
        "printf '%s build %s\\n' $B $rc",
        f"head -c {BUILD_OUTPUT_BYTES} /tmp/build.out | base64 -w0; echo",
        "if [ $rc -ne 0 ]; then exit 0; fi",
    ]
    for n, case in enumerate(cases):
        args = " ".join(_escape(shlex.quote(arg)) for arg in case.args)
        lines += [
            f"dd iflag=fullblock,count_bytes bs=65536 count={len(case.stdin)} status=none >/tmp/in",
            "s=$(date +%s%N)",
            f"timeout -s KILL {case.timeout_s:g} {run} {args} </tmp/in >/tmp/out 2>/tmp/err",
            "rc=$?",
            "e=$(date +%s%N)",
            f"printf '%s case %s %s %s %s\\n' $B {n} $rc $(( (e - s) / 1000000 ))"
            " $(wc -c </tmp/out)",
            f"head -c {CASE_OUTPUT_BYTES} /tmp/out | base64 -w0; echo",
            f"head -c {CASE_STDERR_BYTES} /tmp/err | base64 -w0; echo",
            # nothing a case started outlives it: a process left behind could read the next
            # case's input (a hidden one) or write into its output
            *reap,
            "rm -f /tmp/in /tmp/out /tmp/err",
        ]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """Text that must survive ``str.format`` unchanged."""
    return text.replace("{", "{{").replace("}", "}}")


def new_boundary() -> str:
    return "GRADE" + secrets.token_hex(12)


def batch_stdin(cases: Sequence[Case]) -> bytes:
    return b"".join(case.stdin for case in cases)


_HEADER = re.compile(rb"^(\w+) (build|case) (\d+)(?: (\d+) (\d+) (\d+))?$")


def parse_batch(stdout: bytes, boundary: str) -> Batch:
    """The script's report; a case cut off (the sandbox was killed) is simply missing."""
    lines = stdout.split(b"\n")
    built, build_output, runs = False, "", []
    at = 0
    while at < len(lines):
        match = _HEADER.match(lines[at])
        if match is None or match.group(1) != boundary.encode():
            at += 1
            continue
        if match.group(2) == b"build" and at + 1 < len(lines):
            built = match.group(3) == b"0"
            build_output = _b64(lines[at + 1]).decode(errors="replace")
            at += 2
        elif match.group(2) == b"case" and at + 2 < len(lines) and match.group(4) is not None:
            exit_code, time_ms, size = (int(match.group(k)) for k in (4, 5, 6))
            runs.append(CaseRun(exit_code, time_ms, _b64(lines[at + 1]), size, _b64(lines[at + 2])))
            at += 3
        else:
            break
    return Batch(built, build_output, runs)


def _b64(line: bytes) -> bytes:
    try:
        return base64.b64decode(line, validate=True)
    except ValueError:
        return b""


def status_of(run: CaseRun, case: Case, expected: str, compare: Compare) -> int:
    """The Judge0 status of one case."""
    if run.exit_code in (124, 137) and run.time_ms >= case.timeout_s * 1000 * 0.95:
        return TIME_LIMIT
    if run.exit_code > 128:
        return _SIGNALS.get(run.exit_code - 128, RUNTIME_OTHER)
    if run.exit_code != 0:
        return NZEC
    if run.stdout_size > CASE_OUTPUT_BYTES:
        return WRONG_ANSWER
    return ACCEPTED if same_output(run.stdout, expected, compare) else WRONG_ANSWER


def same_output(actual: bytes, expected: str, compare: Compare) -> bool:
    """Whether the output is the expected one under the case's comparison."""
    got = actual.decode(errors="replace")
    if compare == "exact":
        return got == expected
    if compare == "lines":
        return _lines(got) == _lines(expected)
    tokens, wanted = got.split(), expected.split()
    if compare == "tokens":
        return tokens == wanted
    return len(tokens) == len(wanted) and all(map(_close, tokens, wanted))


def _lines(text: str) -> list[str]:
    """Lines without trailing blanks, and no trailing empty lines."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _close(token: str, wanted: str) -> bool:
    if token == wanted:
        return True
    try:
        a, b = float(token), float(wanted)
    except ValueError:
        return False
    return math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)

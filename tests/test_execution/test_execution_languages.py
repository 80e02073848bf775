"""Each language: stdout, stderr, exit code and stdin come back right, versions are real."""

from __future__ import annotations

import subprocess

import pytest
from support.sandbox import ExecutorFactory

from execution import Executor, InvalidRunRequest, UnsupportedLanguage

pytestmark = pytest.mark.sandbox

# Reads one line from stdin, echoes it upper-cased on stdout, writes to stderr, exits 3.
PROGRAMS = {
    "python": (
        "import sys\n"
        "line = sys.stdin.readline().strip()\n"
        "print('out:' + line.upper())\n"
        "print('err:python', file=sys.stderr)\n"
        "sys.exit(3)\n"
    ),
    "javascript": (
        "const line = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\n"
        "console.log('out:' + line.toUpperCase());\n"
        "console.error('err:javascript');\n"
        "process.exit(3);\n"
    ),
    "typescript": (
        "import { readFileSync } from 'fs';\n"
        "interface Shout { (s: string): string }\n"
        "const shout: Shout = (s: string): string => s.toUpperCase();\n"
        "const line: string = readFileSync(0, 'utf8').split('\\n')[0];\n"
        "console.log('out:' + shout(line));\n"
        "console.error('err:typescript');\n"
        "process.exit(3);\n"
    ),
    "c": (
        "#include <stdio.h>\n#include <ctype.h>\n"
        "int main(void) { char s[64] = {0}; if (!fgets(s, sizeof s, stdin)) return 9;\n"
        "  printf(\"out:\"); for (char *p = s; *p && *p != '\\n'; p++) putchar(toupper(*p));\n"
        '  printf("\\n"); fprintf(stderr, "err:c\\n"); return 3; }\n'
    ),
    "cpp": (
        "#include <algorithm>\n#include <iostream>\n#include <string>\n"
        "int main() { std::string s; std::getline(std::cin, s);\n"
        "  std::transform(s.begin(), s.end(), s.begin(), ::toupper);\n"
        '  std::cout << "out:" << s << std::endl;\n'
        '  std::cerr << "err:cpp" << std::endl; return 3; }\n'
    ),
    "java": (
        "import java.util.Scanner;\n"
        "public class Main { public static void main(String[] args) {\n"
        "  String s = new Scanner(System.in).nextLine();\n"
        '  System.out.println("out:" + s.toUpperCase());\n'
        '  System.err.println("err:java"); System.exit(3); } }\n'
    ),
}
REQUIRED = ("python", "javascript", "typescript")


def _host_version(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    return (done.stdout + done.stderr).strip()


@pytest.mark.parametrize("language", sorted(PROGRAMS))
async def test_each_language_returns_stdout_stderr_exit_code_and_reads_stdin(
    executor: Executor, language: str
) -> None:
    available = {info.name for info in executor.languages()}
    if language not in REQUIRED and language not in available:
        pytest.skip(f"{language} toolchain is not installed on this host")
    result = await executor.run(PROGRAMS[language], language, stdin="hello sandbox\nignored\n")
    assert result.stdout == "out:HELLO SANDBOX\n", result.stderr
    assert result.stderr.strip() == f"err:{language}"
    assert result.exit_code == 3
    assert result.language == language
    assert result.sandboxed
    assert not (result.timed_out or result.memory_exceeded or result.output_truncated)
    assert 0 < result.execution_time_ms < 10_000


async def test_a_large_stdin_arrives_whole_and_unread_stdin_does_not_block(
    executor: Executor,
) -> None:
    payload = "".join(f"{n}\n" for n in range(150_000))  # about 1 MB, far beyond a pipe
    summing = "import sys\nprint(sum(map(int, sys.stdin)))"
    counted = await executor.run(summing, "python", stdin=payload)
    assert counted.stdout == f"{sum(range(150_000))}\n", counted.stderr
    ignored = await executor.run("print('not reading')", "python", stdin=payload, timeout_ms=3000)
    assert ignored.stdout == "not reading\n" and ignored.exit_code == 0


async def test_python_javascript_and_typescript_are_listed_with_the_host_versions(
    executor: Executor,
) -> None:
    infos = {info.name: info for info in executor.languages()}
    assert set(REQUIRED) <= set(infos)
    python = _host_version(["/usr/bin/python3", "--version"])
    node = _host_version(["/usr/bin/node", "--version"])
    assert python == f"Python {infos['python'].version}"
    assert node == f"v{infos['javascript'].version}" == f"v{infos['typescript'].version}"
    assert "esbuild" in infos["typescript"].runtime
    assert "ts" in infos["typescript"].aliases and "py" in infos["python"].aliases


async def test_aliases_and_any_case_select_the_language(executor: Executor) -> None:
    cases = (
        ("PY", "print(6 * 7)"), ("js", "console.log(6 * 7)"), ("Ts", "console.log(6 * 7 as number)")
    )  # fmt: skip
    for name, code in cases:
        result = await executor.run(code, name)
        assert result.stdout == "42\n", (name, result.stderr)


async def test_a_typescript_syntax_error_is_reported_without_running_node(
    executor: Executor,
) -> None:
    result = await executor.run("const x: number = ;\nconsole.log('ran')\n", "typescript")
    assert result.exit_code not in (0, None)
    assert "ran" not in result.stdout
    assert "main.ts" in result.stderr and "error" in result.stderr.lower()


async def test_a_typescript_runtime_error_points_at_the_typescript_line(executor: Executor) -> None:
    code = "type N = number;\nconst n: N = 1;\n\nthrow new Error('boom ' + n);\n"
    result = await executor.run(code, "typescript")
    assert result.exit_code == 1
    assert "boom 1" in result.stderr and "main.ts:4" in result.stderr


async def test_an_unknown_language_is_refused_as_an_invalid_request(executor: Executor) -> None:
    with pytest.raises(UnsupportedLanguage) as refused:
        await executor.run("print 1", "cobol")
    assert refused.value.code == "INVALID_REQUEST"
    assert "python" in str(refused.value)


async def test_a_non_positive_timeout_is_an_invalid_request(executor: Executor) -> None:
    with pytest.raises(InvalidRunRequest) as refused:
        await executor.run("print(1)", "python", timeout_ms=0)
    assert refused.value.code == "INVALID_REQUEST"


async def test_a_timeout_above_the_maximum_is_clamped_to_it(make_executor: ExecutorFactory) -> None:
    executor = await make_executor(default_timeout_ms=500, max_timeout_ms=800)
    result = await executor.run("while True: pass", "python", timeout_ms=60_000)
    assert result.timed_out
    assert 800 <= result.execution_time_ms < 3_000

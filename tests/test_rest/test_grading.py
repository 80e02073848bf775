"""Grading the live code against the session's question: built once, each case with its
own time limit, Judge0's status ids, and hidden cases that stay hidden."""

from __future__ import annotations

from typing import Any

import pytest
from support.app_client import Client, ClientFactory
from support.node_client import NodeClient
from support.tokens import bearer

from execution.grading import Case, grading_script
from execution.languages import SPECS

API_KEY = "grading-key-51ab"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
HIDDEN_IN, HIDDEN_OUT = "40 2\n", "42\n"

pytestmark = pytest.mark.sandbox

SOLUTIONS: dict[str, dict[str, str]] = {
    "python": {
        "right": "a, b = map(int, input().split())\nprint(a + b)\n",
        "wrong": "a, b = map(int, input().split())\nprint(a - b)\n",
        "crash": "raise SystemExit(3)\n",
        "slow": "while True:\n    pass\n",
    },
    "javascript": {
        "right": "const [a, b] = require('fs').readFileSync(0, 'utf8').split(' ').map(Number);\n"
        "console.log(a + b);\n",
        "wrong": "console.log(0);\n",
        "crash": "process.exit(3);\n",
        "slow": "for (;;) {}\n",
    },
    "typescript": {
        "right": "const [a, b]: number[] = require('fs').readFileSync(0, 'utf8').split(' ')"
        ".map(Number);\nconsole.log(a + b);\n",
        "wrong": "console.log(0);\n",
        "crash": "process.exit(3);\n",
        "slow": "for (;;) {}\n",
        "broken": "const x: number = ;\n",
    },
    "cpp": {
        "right": "#include <iostream>\nint main() { long a, b; std::cin >> a >> b;"
        " std::cout << a + b << '\\n'; }\n",
        "wrong": "#include <iostream>\nint main() { std::cout << 0 << '\\n'; }\n",
        "crash": "int main() { volatile int *p = nullptr; return *p; }\n",
        "slow": "int main() { for (volatile int i = 0;; ) {} }\n",
        "broken": "int main() { return }\n",
    },
    "java": {
        "right": "import java.util.Scanner;\npublic class Main {"
        " public static void main(String[] a) { Scanner s = new Scanner(System.in);"
        " System.out.println(s.nextLong() + s.nextLong()); } }\n",
        "wrong": "public class Main { public static void main(String[] a) {"
        " System.out.println(0); } }\n",
        "crash": "public class Main { public static void main(String[] a) {"
        ' throw new RuntimeException("boom"); } }\n',
        "slow": "public class Main { public static void main(String[] a) { while (true) {} } }\n",
        "broken": "public class Main { void x( }\n",
    },
}
#: What each solution gets: the overall status and the points (3 visible + 2 hidden).
EXPECTED = {"right": (3, 3), "wrong": (4, 0), "crash": (11, 0), "slow": (5, 0), "broken": (6, 0)}


def question(language: str) -> dict[str, Any]:
    return {
        "title": "Sum",
        "prompt": "Print a + b.",
        "difficulty": "easy",
        "languages": [language],
        "tests": [
            {"name": "small", "stdin": "1 2\n", "expectedStdout": "3\n", "timeoutMs": 1500},
            {
                "name": "tokens",
                "stdin": "2 2\n",
                "expectedStdout": " 4 ",
                "compare": "tokens",
                "timeoutMs": 1500,
            },
            {
                "name": "secret",
                "stdin": HIDDEN_IN,
                "expectedStdout": HIDDEN_OUT,
                "hidden": True,
                "points": 1,
                "timeoutMs": 1500,
            },
        ],  # fmt: skip
    }


async def interview(api: Client, language: str) -> dict[str, Any]:
    """A session on a question of ``language``; its id and tokens."""
    made = await api.post("/api/v1/questions", json=question(language), headers=BEARER)
    qid = (await made.json())["data"]["id"]
    body = {"language": language, "questionId": qid}
    created = await api.post("/api/v1/sessions", json=body, headers=BEARER)
    session: dict[str, Any] = (await created.json())["data"]
    return session


@pytest.mark.parametrize("language", sorted(SOLUTIONS))
async def test_each_kind_of_solution_gets_its_judge0_status(
    make_client: ClientFactory, language: str
) -> None:
    api = await make_client(api_keys=API_KEY, execution_max_concurrent=1)
    session = await interview(api, language)
    sid, candidate = session["id"], bearer(session["tokens"]["candidate"])
    for kind, code in SOLUTIONS[language].items():
        written = await api.put(f"/api/v1/sessions/{sid}/code", json={"code": code},
                                headers=candidate)  # fmt: skip
        assert written.status == 200
        graded = await api.post(f"/api/v1/sessions/{sid}/tests", json={}, headers=candidate)
        assert graded.status == 200, await graded.text()
        result = (await graded.json())["data"]
        status, points = EXPECTED[kind]
        if kind == "crash" and language == "cpp":
            status = 7  # a null dereference is SIGSEGV
        assert (result["status"]["id"], result["score"]["points"]) == (status, points), (
            kind, result
        )  # fmt: skip
        assert result["score"]["max"] == 3 and len(result["tests"]) == 3
        if kind == "broken":
            assert result["compile"]["output"]
        if kind == "slow":
            assert all(t["statusId"] == 5 for t in result["tests"])


async def test_hidden_cases_stay_hidden_from_the_candidate_everywhere(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    session = await interview(api, "python")
    sid, tokens = session["id"], session["tokens"]
    code = {"code": SOLUTIONS["python"]["right"]}
    await api.put(f"/api/v1/sessions/{sid}/code", json=code, headers=bearer(tokens["candidate"]))
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as browser:
        await browser.connect(ws, sid, {"token": tokens["candidate"]})
        await browser.wait_synced()
        as_candidate = await api.post(f"/api/v1/sessions/{sid}/tests", json={},
                                      headers=bearer(tokens["candidate"]))  # fmt: skip
        seen = (await as_candidate.json())["data"]
        hidden = seen["tests"][2]
        assert hidden == {"id": "t3", "passed": True, "statusId": 3, "timeMs": hidden["timeMs"]}
        assert seen["tests"][0]["stdout"] == "3\n" and seen["tests"][0]["expected"] == "3\n"
        state = await browser.encode_state()
        for secret in (HIDDEN_IN.strip(), "secret"):
            assert secret.encode() not in state
            assert secret not in await as_candidate.text()

        as_interviewer = await api.post(f"/api/v1/sessions/{sid}/tests", json={},
                                        headers=bearer(tokens["interviewer"]))  # fmt: skip
        whole = (await as_interviewer.json())["data"]["tests"][2]
        assert whole["name"] == "secret" and whole["expected"] == HIDDEN_OUT
        assert whole["stdout"] == HIDDEN_OUT

    # the kept gradings: whole for the interviewer, not for the candidate at all
    listed = await api.get(f"/api/v1/sessions/{sid}/tests", headers=bearer(tokens["interviewer"]))
    gradings = (await listed.json())["data"]
    assert [g["runId"] for g in gradings] == [
        seen["runId"],
        (await as_interviewer.json())["data"]["runId"],
    ]
    assert gradings[0]["tests"][2]["expected"] == HIDDEN_OUT  # the candidate's grading, whole
    refused = await api.get(f"/api/v1/sessions/{sid}/tests", headers=bearer(tokens["candidate"]))
    assert refused.status == 403 and HIDDEN_OUT.strip() not in await refused.text()


async def test_stop_on_first_failure_skips_the_rest(make_client: ClientFactory) -> None:
    api = await make_client(api_keys=API_KEY)
    session = await interview(api, "python")
    sid, candidate = session["id"], bearer(session["tokens"]["candidate"])
    code = {"code": SOLUTIONS["python"]["wrong"]}
    await api.put(f"/api/v1/sessions/{sid}/code", json=code, headers=candidate)
    graded = await api.post(f"/api/v1/sessions/{sid}/tests", json={"stopOnFirstFailure": True},
                            headers=candidate)  # fmt: skip
    tests = (await graded.json())["data"]["tests"]
    assert tests[0]["statusId"] == 4
    assert [t.get("skipped") for t in tests[1:]] == [True, True]


LINGERER = """
import os, sys, time
sys.stdin.read()
if os.fork() == 0:  # stays behind, copying every later case's input into its output
    os.setsid()
    seen, end = set(), time.time() + 3
    while time.time() < end:
        try:
            seen.add(open("/tmp/in").read())
            with open("/tmp/out", "a") as out:
                out.write("|".join(sorted(seen)) + "\\n")
        except OSError:
            pass
        time.sleep(0.02)
    os._exit(0)
time.sleep(0.3)  # long enough for the one left by the case before to write into this one
print("ok")
"""


async def test_a_process_a_case_leaves_behind_cannot_read_a_hidden_input(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    secret_first = question("python") | {
        "tests": [
            {"name": "secret", "stdin": "HIDDEN-INPUT-8812", "expectedStdout": "ok\n",
             "hidden": True},
            {"name": "shown", "stdin": "visible", "expectedStdout": "ok\n"},
        ]
    }  # fmt: skip
    made = await api.post("/api/v1/questions", json=secret_first, headers=BEARER)
    qid = (await made.json())["data"]["id"]
    created = await api.post("/api/v1/sessions", json={"language": "python", "questionId": qid},
                             headers=BEARER)  # fmt: skip
    session = (await created.json())["data"]
    candidate = bearer(session["tokens"]["candidate"])
    url = f"/api/v1/sessions/{session['id']}"
    await api.put(f"{url}/code", json={"code": LINGERER}, headers=candidate)
    graded = await api.post(f"{url}/tests", json={}, headers=candidate)
    shown = (await graded.json())["data"]["tests"][1]
    assert shown["name"] == "shown" and "HIDDEN-INPUT-8812" not in (shown["stdout"] or "")


def test_the_script_kills_leftovers_only_inside_a_sandbox_of_its_own() -> None:
    """Unsandboxed (a developer's laptop), ``kill -1`` would kill every process of the user."""
    python = next(spec for spec in SPECS if spec.name == "python")
    cases = [Case(b"", (), 1.0)]
    assert "kill -KILL -1" in grading_script(python, cases, "B", own_pid_namespace=True)
    assert "kill" not in grading_script(python, cases, "B", own_pid_namespace=False)

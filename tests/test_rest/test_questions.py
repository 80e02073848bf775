"""The question bank over REST, and a question given to a live session: everyone sees the
prompt and visible cases; only interviewers ever see the solution, rubric or hidden cases."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from envelope import assert_error
from json_ws import JsonWs
from support.app_client import Client, ClientFactory
from support.node_client import NodeClient
from support.tokens import bearer

API_KEY = "bank-key-3c1f9d"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
HIDDEN_INPUT = "98765 43210\n"
HIDDEN_OUTPUT = "141975\n"
SOLUTION = "print(sum(map(int, input().split())))  # the reference 5521\n"


def question(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Sum",
        "prompt": "Print the sum of two integers.",
        "difficulty": "easy",
        "tags": ["io"],
        "languages": ["py", "JavaScript"],
        "starterCode": {"python": "a, b = map(int, input().split())\n"},
        "tests": [
            {"name": "small", "stdin": "1 2\n", "expectedStdout": "3\n"},
            {
                "name": "big",
                "stdin": HIDDEN_INPUT,
                "expectedStdout": HIDDEN_OUTPUT,
                "hidden": True,
                "points": 3,
            },
        ],  # fmt: skip
        "solution": {"python": SOLUTION},
        "rubric": [{"competency": "correctness", "levels": ["no", "yes"]}],
    }
    return body | changes


@pytest.fixture
async def bank(make_client: ClientFactory) -> Client:
    return await make_client(api_keys=API_KEY)


async def add(api: Client, **changes: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/questions", json=question(**changes), headers=BEARER)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def test_a_question_is_stored_whole_with_ids_and_canonical_language_names(
    bank: Client,
) -> None:
    created = await add(bank)
    assert created["id"].startswith("q_") and created["createdAt"] == created["updatedAt"]
    assert created["languages"] == ["python", "javascript"]
    assert [t["id"] for t in created["tests"]] == ["t1", "t2"]
    assert (
        created["tests"][1] | {"hidden": True, "points": 3, "compare": "exact"}
        == created["tests"][1]
    )
    read = await bank.get(f"/api/v1/questions/{created['id']}", headers=BEARER)
    assert (await read.json())["data"] == created

    patched = await bank.patch(
        f"/api/v1/questions/{created['id']}", json={"difficulty": "hard"}, headers=BEARER
    )
    data = (await patched.json())["data"]
    assert data["difficulty"] == "hard" and data["tests"] == created["tests"]
    assert (await bank.delete(f"/api/v1/questions/{created['id']}", headers=BEARER)).status == 204
    gone = await bank.get(f"/api/v1/questions/{created['id']}", headers=BEARER)
    await assert_error(gone, 404, "NOT_FOUND")


async def test_the_bank_is_listed_by_difficulty_tag_and_language_a_page_at_a_time(
    bank: Client,
) -> None:
    for n in range(5):
        await add(bank, title=f"easy {n}", tags=["io", f"n{n}"])
    await add(bank, title="hard one", difficulty="hard", languages=["cpp"], tags=["graphs"])

    async def listing(query: str) -> dict[str, Any]:
        response = await bank.get(f"/api/v1/questions?{query}", headers=BEARER)
        assert response.status == 200, await response.text()
        page: dict[str, Any] = await response.json()
        return page

    page = await listing("difficulty=easy&limit=2&offset=2")
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    assert [q["title"] for q in page["data"]] == ["easy 2", "easy 3"]
    assert [q["title"] for q in (await listing("tag=graphs"))["data"]] == ["hard one"]
    assert (await listing("language=c%2B%2B"))["total"] == 1  # an alias of cpp
    assert (await listing("tag=n4&language=python"))["total"] == 1
    assert (await listing(""))["total"] == 6
    for bad in ("limit=0", "limit=101", "offset=-1", "difficulty=trivial", "language=cobol"):
        await assert_error(await bank.get(f"/api/v1/questions?{bad}", headers=BEARER), 400,
                           "INVALID_REQUEST")  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tests": [{"name": "no answer", "stdin": ""}]}, "tests.0.expectedStdout"),
        ({"languages": ["cobol"]}, "languages.0"),
        ({"starterCode": {"brainfuck": "+"}}, "starterCode"),
        ({"difficulty": "trivial"}, "difficulty"),
        ({"tests": [{"id": "a", "name": "x", "expectedStdout": ""}] * 2}, "tests.1.id"),
    ],
)
async def test_a_bad_question_is_refused_naming_the_field(
    bank: Client, changes: dict[str, Any], field: str
) -> None:
    response = await bank.post("/api/v1/questions", json=question(**changes), headers=BEARER)
    body = await assert_error(response, 400, "INVALID_REQUEST")
    assert field in body["error"]


async def test_the_bank_is_written_with_an_api_key_and_read_by_interviewers_too(
    bank: Client,
) -> None:
    created = await bank.post("/api/v1/sessions", json={}, headers=BEARER)
    tokens = (await created.json())["data"]["tokens"]
    qid = (await add(bank))["id"]
    reads = [("GET", "/api/v1/questions"), ("GET", f"/api/v1/questions/{qid}")]
    writes = [("POST", "/api/v1/questions"), ("DELETE", f"/api/v1/questions/{qid}")]

    async def status(who: str | None, method: str, path: str) -> int:
        headers = {} if who is None else {"Authorization": f"Bearer {who}"}
        async with bank.request(method, path, json=question(), headers=headers) as response:
            return response.status

    for method, path in reads:  # an interviewer picks the question: it sees the bank whole
        assert await status(tokens["interviewer"], method, path) == 200
        assert await status(tokens["candidate"], method, path) == 403
    for method, path in writes:
        for who in (tokens["interviewer"], tokens["candidate"]):
            assert await status(who, method, path) == 401
    for who in (None, "wrong-key"):
        for method, path in reads + writes:
            assert await status(who, method, path) == 401
    listed = await bank.get("/api/v1/questions", headers=bearer(tokens["interviewer"]))
    assert [q["id"] for q in (await listed.json())["data"]] == [qid]


async def test_a_question_given_to_a_session_reaches_every_editor_without_its_secrets(
    bank: Client, http: aiohttp.ClientSession
) -> None:
    qid = (await add(bank))["id"]
    created = await bank.post("/api/v1/sessions", json={"language": "python"}, headers=BEARER)
    session = (await created.json())["data"]
    sid, tokens = session["id"], session["tokens"]
    ws = str(bank.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as browsers:
        await browsers.connect(ws, sid, {"token": tokens["candidate"]}, client="candidate")
        await browsers.wait_synced(client="candidate")
        watcher = await JsonWs.connect(http, f"{ws}/{sid}?protocol=json&token={tokens['observer']}")
        await watcher.expect("code_change")

        as_candidate = {"Authorization": f"Bearer {tokens['candidate']}"}
        refused = await bank.put(f"/api/v1/sessions/{sid}/question", json={"questionId": qid},
                                 headers=as_candidate)  # fmt: skip
        await assert_error(refused, 403, "FORBIDDEN")
        as_interviewer = {"Authorization": f"Bearer {tokens['interviewer']}"}
        attached = await bank.put(f"/api/v1/sessions/{sid}/question", json={"questionId": qid},
                                  headers=as_interviewer)  # fmt: skip
        assert attached.status == 200, await attached.text()
        whole = (await attached.json())["data"]
        assert whole["solution"] == {"python": SOLUTION} and len(whole["tests"]) == 2

        starter = "a, b = map(int, input().split())\n"
        await browsers.wait_text(starter, client="candidate")  # the editor was empty
        await watcher.expect("code_change", lambda d: d["code"] == starter)
        shown = await browsers.map("question", client="candidate")
        assert shown["title"] == "Sum" and shown["hiddenTests"] == 1 and shown["hiddenPoints"] == 3
        assert [t["name"] for t in shown["tests"]] == ["small"]
        state = await browsers.encode_state(client="candidate")

        seen = await bank.get(f"/api/v1/sessions/{sid}/question", headers=as_candidate)
        public = (await seen.json())["data"]
        assert public["solution"] is None and public["rubric"] is None
        assert public["tests"] == shown["tests"] and public["starterCode"] == starter
        session_read = await bank.get(f"/api/v1/sessions/{sid}", headers=as_candidate)
        everything = [state, await seen.read(), await session_read.read(),
                      str(watcher.events).encode()]  # fmt: skip
        for secret in (HIDDEN_INPUT, HIDDEN_OUTPUT, SOLUTION, "correctness"):
            for place in everything:
                assert secret.strip().encode() not in place, secret
        await watcher.close()


async def test_a_session_created_with_a_question_starts_with_it(bank: Client) -> None:
    qid = (await add(bank))["id"]
    body = {"language": "python", "questionId": qid}
    created = await bank.post("/api/v1/sessions", json=body, headers=BEARER)
    session = (await created.json())["data"]
    assert created.status == 201 and session["code"] == "a, b = map(int, input().split())\n"
    as_observer = {"Authorization": f"Bearer {session['tokens']['observer']}"}
    shown = await bank.get(f"/api/v1/sessions/{session['id']}/question", headers=as_observer)
    assert (await shown.json())["data"]["id"] == qid

    unknown = {"questionId": "q_000000000000"}
    await assert_error(await bank.post("/api/v1/sessions", json=unknown, headers=BEARER), 404,
                       "NOT_FOUND")  # fmt: skip

"""The interview's report: everything that happened, for interviewers only."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from envelope import assert_error
from pypdf import PdfReader
from support.app_client import Client, ClientFactory
from support.node_client import NodeClient
from support.tokens import bearer
from support.waiting import wait_until

API_KEY = "report-key-9e20"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
QUESTION = {
    "title": "Sum <b>bold</b>",
    "prompt": "Print a + b.",
    "difficulty": "easy",
    "languages": ["python"],
    "tests": [
        {"name": "small", "stdin": "1 2\n", "expectedStdout": "3\n"},
        {"name": "hidden one", "stdin": "4 5\n", "expectedStdout": "9\n", "hidden": True},
    ],
}
CODE = "a, b = map(int, input().split())\nprint(a + b)  # <script>alert(1)</script>\n"


async def finished_interview(api: Client) -> tuple[str, dict[str, str]]:
    """A whole interview: question, code, a run, a grading, notes, a scorecard, the end."""
    made = await api.post("/api/v1/questions", json=QUESTION, headers=BEARER)
    qid = (await made.json())["data"]["id"]
    created = await api.post("/api/v1/sessions", json={"language": "python", "questionId": qid},
                             headers=BEARER)  # fmt: skip
    session: dict[str, Any] = (await created.json())["data"]
    sid, tokens = session["id"], session["tokens"]
    interviewer, candidate = bearer(tokens["interviewer"]), bearer(tokens["candidate"])
    url = f"/api/v1/sessions/{sid}"
    joined = await api.post(f"{url}/join", json={"user": {"name": "Cand"}},
                            headers=bearer(tokens["candidate"]))  # fmt: skip
    candidate = bearer((await joined.json())["data"]["token"])
    assert (await api.post(f"{url}/start", headers=interviewer)).status == 200
    await api.put(f"{url}/code", json={"code": CODE}, headers=candidate)
    assert (await api.post(f"{url}/execute", json={"stdin": "2 3\n"}, headers=candidate)).ok
    assert (await api.post(f"{url}/tests", json={}, headers=candidate)).ok
    await api.put(f"{url}/notes", json={"notes": "Good <i>pace</i>."}, headers=interviewer)
    card = {"recommendation": "yes", "competencies": [{"name": "correctness", "score": 4}]}
    await api.put(f"{url}/scorecard", json=card, headers=interviewer)
    assert (await api.post(f"{url}/end", headers=interviewer)).status == 200
    return sid, tokens


@pytest.mark.sandbox
async def test_the_report_holds_the_whole_interview_for_interviewers_only(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    sid, tokens = await finished_interview(api)
    url = f"/api/v1/sessions/{sid}/report"
    for role in ("candidate", "observer"):
        await assert_error(await api.get(url, headers=bearer(tokens[role])), 403, "FORBIDDEN")
    response = await api.get(url, headers=bearer(tokens["interviewer"]))
    report = (await response.json())["data"]
    assert report["status"] == "ended" and report["code"] == CODE
    assert [p["role"] for p in report["participants"]] == ["interviewer", "candidate"]
    assert report["question"]["title"] == QUESTION["title"]
    assert report["runs"][0]["stdout"] == "5\n"
    grading = report["tests"][0]
    assert grading["status"]["id"] == 3 and grading["score"] == {"points": 2, "max": 2}
    # whole, as the server kept it (the document's copy, anyone's to write, has no more than
    # the hidden case's outcome)
    assert grading["tests"][1]["name"] == "hidden one" and grading["tests"][1]["expected"] == "9\n"
    assert report["notes"]["notes"] == "Good <i>pace</i>."
    assert report["scorecards"][0]["recommendation"] == "yes"
    kinds = [event["type"] for event in report["events"]]
    assert kinds == ["created", "joined", "joined", "started", "ran", "tested", "ended"]

    page = await api.get(url + "?format=html", headers=bearer(tokens["interviewer"]))
    assert page.content_type == "text/html"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # none runs at all
    text = await page.text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "Sum &lt;b&gt;bold&lt;/b&gt;" in text and "Accepted" in text
    assert f'href="/api/v1/sessions/{sid}/report?format=pdf"' in text
    assert f'href="/demo/playback/?session={sid}"' in text  # the player, for the same reader
    assert report["playback"] == f"/demo/playback/?session={sid}"

    pdf = await api.get(url + "?format=pdf", headers=bearer(tokens["interviewer"]))
    assert pdf.content_type == "application/pdf"
    document = PdfReader(io.BytesIO(await pdf.read()))
    words = " ".join((page.extract_text() or "") for page in document.pages)
    for shown in (
        "Interview report",
        "print(a + b)",
        "Good <i>pace</i>.",
        "Accepted",
        "hidden one",
    ):
        assert shown in words, shown
    by_accept = await api.get(
        url, headers=bearer(tokens["interviewer"]) | {"Accept": "application/pdf"}
    )
    assert by_accept.content_type == "application/pdf"
    await assert_error(
        await api.get(url + "?format=doc", headers=bearer(tokens["interviewer"])),
        400,
        "INVALID_REQUEST",
    )


async def test_the_report_says_when_a_participant_came_online_and_left(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    created = await api.post("/api/v1/sessions", json={}, headers=BEARER)
    session = (await created.json())["data"]
    sid, tokens = session["id"], session["tokens"]
    joined = await api.post(f"/api/v1/sessions/{sid}/join", json={"user": {"name": "Cand"}},
                            headers=bearer(tokens["candidate"]))  # fmt: skip
    candidate = (await joined.json())["data"]["token"]
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    url = f"/api/v1/sessions/{sid}/report"

    async def timeline() -> list[tuple[str, str | None]]:
        response = await api.get(url, headers=bearer(tokens["interviewer"]))
        return [(e["type"], e["user"]) for e in (await response.json())["data"]["events"]]

    async with NodeClient.start() as browser:
        await browser.connect(ws, sid, {"token": candidate})
        await browser.wait_synced()
        await wait_until(
            lambda: _has(timeline, ("online", "Cand")), what="the candidate online in the report"
        )
    await wait_until(lambda: _has(timeline, ("left", "Cand")), what="the candidate's leaving")
    kinds = [kind for kind, who in await timeline() if who == "Cand"]
    assert kinds == ["joined", "online", "left"]


async def _has(
    timeline: Callable[[], Awaitable[list[tuple[str, str | None]]]], event: tuple[str, str]
) -> bool:
    return event in await timeline()

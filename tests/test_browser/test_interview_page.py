"""A whole interview on the demo page, in Chromium, under --auth token: the interviewer picks a
question, starts, the candidate runs and grades their code, the interviewer takes notes that a
second interviewer's page sees live, ends it (everyone's page freezes) and reads the report.
What a candidate's page holds never includes a hidden case, the solution or a note."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from server_process import ServerProcess, create_session
from support.browser_driver import Browser
from support.tokens import TEST_API_KEY, bearer

pytestmark = pytest.mark.browser

KEY = TEST_API_KEY
SYNCED = "window.demo?.provider.synced === true"
HIDDEN_INPUT = "hidden-input-31337\n"
HIDDEN_OUTPUT = "73313-tupni-neddih\n"
SOLUTION_SECRET = "reference-solution-5521"
NOTE = "Reads the input first. Good naming."
SECRETS = (HIDDEN_INPUT.strip(), HIDDEN_OUTPUT.strip(), SOLUTION_SECRET, "Good naming")
ANSWER = "print(input()[::-1])"
FIRST_TRY = "print(input()[::-1][:10])"  # right for short lines only
QUESTION = {
    "title": "Reverse a line",
    "prompt": "Read one line and print it **reversed**.\n\n<script>window.pwned = 1</script>",
    "difficulty": "easy",
    "tags": ["strings"],
    "languages": ["python"],
    "starterCode": {"python": "# reverse the line you read\n"},
    "tests": [
        {"name": "word", "stdin": "abc\n", "expectedStdout": "cba\n"},
        {
            "name": "long",
            "stdin": HIDDEN_INPUT,
            "expectedStdout": HIDDEN_OUTPUT,
            "hidden": True,
            "points": 2,
        },  # fmt: skip
    ],
    "solution": {"python": f"print(input()[::-1])  # {SOLUTION_SECRET}\n"},
    "rubric": [{"competency": "correctness", "levels": ["no", "yes"]}],
}


async def new_interview(http: aiohttp.ClientSession, server: ServerProcess) -> dict[str, Any]:
    api = f"{server.url}/api/v1"
    async with http.post(f"{api}/questions", json=QUESTION, headers=bearer(KEY)) as made:
        assert made.status == 201, await made.text()
        question_id = (await made.json())["data"]["id"]
    body = {"language": "python", "creator": {"name": "Ada"}}
    async with http.post(f"{api}/sessions", json=body, headers=bearer(KEY)) as created:
        assert created.status == 201
        session: dict[str, Any] = (await created.json())["data"]
    return session | {"questionId": question_id}


async def what_the_page_holds(browser: Browser, page: str) -> str:
    """Everything a page could show or leak: its text, its document and its awareness."""
    held = await browser.eval(
        page,
        """JSON.stringify({
             text: document.body.innerText,
             html: document.documentElement.outerHTML,
             doc: window.demo.doc.toJSON(),
             awareness: [...window.demo.awareness.getStates().values()],
           })""",
    )
    return str(held)


async def test_an_interviewer_runs_a_whole_interview_on_the_demo_page(
    secured: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    session = await new_interview(http, secured)
    sid, links, qid = session["id"], session["links"], session["questionId"]
    await browser.open("ada", links["interviewer"])
    await browser.open("cy", links["candidate"] + "&name=Cy")
    await browser.open("ada2", links["interviewer"])  # the interviewer on a second device
    await asyncio.gather(*(browser.wait(p, SYNCED, 20) for p in ("ada", "cy", "ada2")))
    assert await browser.eval("cy", "document.querySelector('.notes-pane').hidden") is True
    assert await browser.eval("cy", "document.getElementById('start').offsetParent") is None

    # pick the question: everyone's pane shows it, and the starter code lands in the editor
    await browser.wait("ada", f'document.querySelector("#question-pick option[value={qid}]")')
    await browser.select("ada", "#question-pick", qid)
    await browser.click("ada", "#attach")
    await browser.visible("cy", "#question-title", text="Reverse a line")
    prompt = "document.getElementById('question-prompt')"
    assert await browser.eval("cy", f"{prompt}.querySelector('strong').textContent") == "reversed"
    no_script = f"window.pwned === undefined && !{prompt}.querySelector('script')"
    assert await browser.eval("cy", no_script) is True
    await browser.visible("cy", "#question-tests li", text="cba")
    await browser.visible("cy", "#question-hidden", text="1 hidden test (2 points)")
    await browser.wait("cy", "window.demo.model.getValue() === '# reverse the line you read\\n'")

    # start with a length: every page counts down
    await browser.fill("ada", "#duration", "30")
    await browser.click("ada", "#start")
    for page in ("ada", "cy"):
        await browser.visible(page, "#interview[data-status='active']")
        await browser.visible(page, "#timer", text="left")
    assert (await browser.text("cy", "#timer")).startswith(("30:00", "29:5"))

    # the candidate types and runs: no input, so a traceback, shown on both pages
    await browser.type("cy", FIRST_TRY, at="end")
    await browser.wait("cy", f"window.demo.model.getValue().endsWith({json.dumps(FIRST_TRY)})")
    # the server has it once another page does (the click's request and the keystrokes' socket
    # are two connections, with no order between them)
    await browser.wait("ada", f"window.demo.model.getValue().endsWith({json.dumps(FIRST_TRY)})")
    await browser.click("cy", "#run")
    for page in ("cy", "ada"):
        await browser.visible(page, "#run-output .exit", text="exit code 1")
        await browser.visible(page, "#run-output .stderr", text="EOFError")
    assert "run by Cy" in await browser.text("ada", "#run-output .who")

    # Run tests: the hidden case fails; only the interviewer's page shows what it expected
    await browser.click("cy", "#run-tests")
    for page in ("cy", "ada"):
        await browser.visible(page, "#test-output .verdict", text="Wrong Answer", timeout=30)
        await browser.visible(page, "#test-output .score", text="1/3 points")
    await browser.visible("ada", "#test-output[data-whole='true'] li[data-passed='false']", "long")
    assert HIDDEN_OUTPUT.strip() in await browser.text("ada", "#test-output")
    assert await browser.eval("cy", "document.getElementById('test-output').dataset.whole") == (
        "false"
    )
    await browser.screenshot("ada", "interview-interviewer-hidden-case")

    # fixed (the slice deleted), graded again: both cases pass
    await browser.type("cy", "", at="end")  # the editor focused, the cursor at the end
    for _ in range(len("[:10])")):
        await browser.press("cy", "Backspace")
    await browser.type("cy", ")", at="end")
    await browser.wait("cy", f"window.demo.model.getValue().endsWith({json.dumps(ANSWER)})")
    await browser.wait("ada", f"window.demo.model.getValue().endsWith({json.dumps(ANSWER)})")
    await browser.click("cy", "#run-tests")
    for page in ("cy", "ada"):
        await browser.visible(page, "#test-output .verdict", text="Accepted", timeout=30)
        await browser.visible(page, "#test-output .score", text="3/3 points")
    passed = "document.querySelectorAll('#test-output li[data-passed=true]').length"
    assert await browser.eval("cy", passed) == 2
    await browser.visible("cy", "#test-output .hidden-case")
    await browser.screenshot("cy", "interview-candidate-tests")

    # notes: Ada writes, her other device sees them live; the candidate's page never does
    await browser.wait("ada", "!document.getElementById('notes').disabled")
    await browser.fill("ada", "#notes", NOTE)
    await browser.wait("ada2", f"document.getElementById('notes').value === {json.dumps(NOTE)}")
    await browser.visible("ada", "#notes-status", text="saved")
    await browser.screenshot("ada", "interview-interviewer")

    # end: both clicks, then every page is frozen and says so
    await browser.click("ada", "#end")
    await browser.click("ada", "#end-yes")
    for page in ("ada", "cy", "ada2"):
        await browser.visible(page, "#banner", text="This interview has ended")
        assert await browser.eval(page, "window.demo.editor.getRawOptions().readOnly") is True
        assert await browser.eval(page, "document.getElementById('run').disabled") is True
        assert await browser.eval(page, "document.getElementById('run-tests').disabled") is True
    await browser.type("cy", "# after the end", at="end")
    api = f"{secured.url}/api/v1/sessions/{sid}"
    as_ada = bearer(session["tokens"]["interviewer"])
    async with http.get(api, headers=as_ada) as read:
        final = (await read.json())["data"]
    assert final["code"].endswith(ANSWER) and final["status"] == "ended"
    await browser.screenshot("cy", "interview-ended-candidate")

    held = await what_the_page_holds(browser, "cy")
    assert not [secret for secret in SECRETS if secret in held], held

    # the scorecard, from the question's rubric, after the end too
    await browser.visible("ada", "#competencies select[data-competency='correctness']")
    await browser.select("ada", "#recommendation", "yes")
    await browser.select("ada", "#competencies select[data-competency='correctness']", "4")
    await browser.fill("ada", "#scorecard-notes", "Solid.")
    await browser.click("ada", "#submit-scorecard")
    await browser.visible("ada", "#scorecard-status", text="submitted")
    await browser.screenshot("ada", "interview-ended-interviewer")

    # the report, from the interviewer's link
    report = await browser.eval("ada", "document.getElementById('report').href")
    await browser.open("report", report)
    await browser.visible("report", "#summary", text="ended")
    assert (await browser.text("report", "#code")).rstrip("\n").endswith(ANSWER)
    assert await browser.text("report", "#notes") == NOTE
    assert "yes by Ada" in await browser.text("report", "#scorecards")
    assert "correctness: 4/4" in await browser.text("report", "#scorecards")
    await browser.screenshot("report", "interview-report")


async def test_an_interviewer_opening_the_candidate_link_is_asked_before_joining_as_one(
    secured: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    session = await new_interview(http, secured)
    links, sid = session["links"], session["id"]
    await browser.open("ada", links["interviewer"])
    await browser.wait("ada", SYNCED, 20)

    await browser.open("tab", links["candidate"], tab_of="ada")  # the same browser, a new tab
    await browser.visible("tab", "#notice", text="this session's interviewer")
    assert "open your interviewer link" in await browser.text("tab", "#notice-text")
    assert await browser.eval("tab", "document.getElementById('as-interviewer').hidden") is True
    assert not await browser.eval("tab", "window.demo")  # nothing joined while it asks
    await browser.screenshot("tab", "interviewer-opens-candidate-link")
    stored = await browser.eval("tab", "JSON.stringify({...localStorage})")
    assert session["tokens"]["interviewer"] not in stored  # no token left for the next person

    await browser.open("tab2", links["candidate"] + "&name=Cy", tab_of="ada")
    await browser.visible("tab2", "#as-invited", text="Join as candidate")
    await browser.click("tab2", "#as-invited")
    await browser.wait("tab2", SYNCED, 20)
    assert await browser.eval("tab2", "window.demo.me.role") == "candidate"

    async with http.get(
        f"{secured.url}/api/v1/sessions/{sid}/participants",
        headers=bearer(session["tokens"]["interviewer"]),
    ) as response:
        roles = sorted(p["role"] for p in (await response.json())["participants"])
    assert roles == ["candidate", "interviewer"]  # the tab that was asked did not join

    await browser.open("elsewhere", links["candidate"] + "&name=Dee")  # another browser: no ask
    await browser.wait("elsewhere", SYNCED, 20)
    assert await browser.eval("elsewhere", "document.getElementById('notice').hidden") is True


async def test_the_participant_list_greys_while_the_page_is_disconnected(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="x\n")
    for page, name in (("ada", "Ada"), ("grace", "Grace")):
        await browser.open(page, f"{server.url}/demo/?session={sid}&name={name}")
        await browser.wait(page, SYNCED, 20)
    both_online = "document.querySelectorAll('#participants li[data-online=true]').length === 2"
    await browser.wait("ada", both_online)
    await browser.eval("ada", "window.demo.provider.disconnect()")
    await browser.wait("ada", "document.getElementById('participants').dataset.stale === 'true'")
    online = "[...document.querySelectorAll('#participants li')].map(li => li.dataset.online)"
    assert set(await browser.eval("ada", online)) == {"unknown"}  # Ada, Grace and the creator
    await browser.screenshot("ada", "participants-while-disconnected")
    await browser.eval("ada", "window.demo.provider.connect()")
    await browser.wait("ada", "document.getElementById('participants').dataset.stale === 'false'")
    await browser.wait("ada", both_online)


async def test_the_page_keeps_working_without_an_uncaught_error_when_the_server_goes_away(
    tmp_path: Path, browser: Browser, http: aiohttp.ClientSession
) -> None:
    async with ServerProcess(["--db", str(tmp_path / "gone.db"), "--log-level", "warning"]) as gone:
        sid = await create_session(http, gone, code="printable = 1\n", language="python")
        await browser.open("ada", f"{gone.url}/demo/?session={sid}&name=Ada")
        await browser.wait("ada", SYNCED, 20)
        await gone.stop(signal.SIGKILL)
    await browser.wait("ada", "document.getElementById('status').dataset.status === 'offline'")
    await browser.wait("ada", "document.getElementById('participants').dataset.stale === 'true'")
    # Monaco starts its worker now, with the server gone: it comes from memory, not the network
    await browser.type("ada", "pri", at="end")
    await browser.press("ada", "Control+Space")
    await browser.visible("ada", ".suggest-widget .monaco-list-row", text="printable")
    assert browser.page_errors() == []


async def test_without_tokens_the_interviewer_opening_the_invite_link_is_asked_too(
    server: ServerProcess, browser: Browser
) -> None:
    await browser.open("ada", f"{server.url}/demo/?name=Ada")  # creates the session
    await browser.wait("ada", SYNCED, 20)
    sid, ada = await browser.eval("ada", "[window.demo.session.id, window.demo.me.id]")
    invite = await browser.eval("ada", "document.getElementById('invite').href")
    assert invite == f"{server.url}/demo/?session={sid}"
    await browser.open("tab", invite, tab_of="ada")
    await browser.visible("tab", "#notice", text="Ada, this session's interviewer")
    await browser.click("tab", "#as-interviewer")
    await browser.wait("tab", SYNCED, 20)
    assert await browser.eval("tab", "[window.demo.me.id, window.demo.me.role]") == [
        ada,
        "interviewer",
    ]
    await browser.visible("tab", ".notes-pane")  # the interviewer's panes, in the second tab


FORGE = """(() => {
  const doc = window.demo.doc
  doc.transact(() => {
    doc.getMap('question').set('prompt', '<select id="recommendation"><option value="strong_yes"'
      + ' selected>x</option></select>FORGED')
    doc.getMap('meta').set('interview', { status: 'ended', startedAt: 1, endedAt: 2 })
    doc.getArray('testRuns').push([{ runId: 'forged', status: { id: 3, description: 'Accepted' },
      score: { points: 99, max: 99 }, tests: [] }])
  })
})()"""


async def test_what_a_candidate_forges_in_the_document_does_not_reach_the_interviewers_page(
    secured: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    session = await new_interview(http, secured)
    api, as_ada = (
        f"{secured.url}/api/v1/sessions/{session['id']}",
        bearer(session["tokens"]["interviewer"]),
    )
    async with http.put(
        f"{api}/question", json={"questionId": session["questionId"]}, headers=as_ada
    ) as r:
        assert r.status == 200
    async with http.post(f"{api}/start", json={}, headers=as_ada) as r:
        assert r.status == 200
    await browser.open("ada", session["links"]["interviewer"])
    await browser.open("cy", session["links"]["candidate"] + "&name=Cy")
    await asyncio.gather(browser.wait("ada", SYNCED, 20), browser.wait("cy", SYNCED, 20))
    await browser.visible("ada", "#question-title", text="Reverse a line")

    await browser.eval("cy", FORGE)  # what any editor's client may write
    forged = "window.demo.doc.getMap('question').get('prompt')?.includes('FORGED')"
    await browser.wait("ada", forged)  # it reached the interviewer's document
    await browser.eval("ada", "window.demo.pane.read()")  # re-read as the change asked
    await browser.eval("ada", "window.demo.clock.refresh(5)")
    await browser.eval("ada", "window.demo.output.showTests(false)")
    assert "FORGED" not in await browser.text("ada", "#question-prompt")
    assert await browser.eval("ada", "document.querySelectorAll('#recommendation').length") == 1
    assert await browser.eval("ada", "document.getElementById('interview').dataset.status") == (
        "active"
    )
    assert await browser.eval("ada", "window.demo.editor.getRawOptions().readOnly") is False
    assert "99/99" not in await browser.text("ada", "#test-output")

"""The report page in Chromium: it reads as a page, shows the interview, and runs nothing."""

from __future__ import annotations

import aiohttp
from server_process import ServerProcess
from support.browser_driver import Browser

CODE = "print('<img src=x onerror=alert(1)>')\n"


async def test_the_report_page_shows_the_ended_interview_and_runs_no_script(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    question = {"title": "Echo", "prompt": "Print it.", "difficulty": "easy",
                "languages": ["python"]}  # fmt: skip
    async with http.post(f"{server.url}/api/v1/questions", json=question) as made:
        qid = (await made.json())["data"]["id"]
    body = {"language": "python", "questionId": qid}
    async with http.post(f"{server.url}/api/v1/sessions", json=body) as created:
        sid = (await created.json())["data"]["id"]
    url = f"{server.url}/api/v1/sessions/{sid}"
    async with http.put(f"{url}/code", json={"code": CODE}) as written:
        assert written.status == 200
    async with http.put(f"{url}/notes", json={"notes": "Calm and clear."}) as noted:
        assert noted.status == 200
    async with http.post(f"{url}/end") as ended:
        assert ended.status == 200

    await browser.open("report", f"{url}/report?format=html")
    await browser.wait("report", "document.querySelector('#summary') !== null")
    assert "ended" in await browser.text("report", "#summary")
    assert await browser.text("report", "#question") == "Echo"
    assert (await browser.text("report", "#code")).rstrip("\n") == CODE.rstrip("\n")
    assert await browser.text("report", "#notes") == "Calm and clear."
    assert await browser.eval("report", "document.querySelectorAll('img').length") == 0
    events = await browser.text("report", "#events")
    assert "created" in events and "ended" in events
    await browser.screenshot("report", "report-page")
    async with http.get(await browser.eval("report", "document.getElementById('pdf').href")) as pdf:
        assert pdf.content_type == "application/pdf" and (await pdf.read()).startswith(b"%PDF")

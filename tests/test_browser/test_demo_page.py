"""The /demo/ page in a real browser: Monaco, y-monaco and the stock y-websocket provider."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import aiohttp
import pytest
from server_process import ServerProcess, create_session, read_session
from support.browser_driver import Browser
from support.waiting import wait_until

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYNCED = "window.demo?.provider.synced === true"
VALUE = "window.demo.model.getValue()"
PYTHON_SNIPPET = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n"


async def join_page(
    browser: Browser, server: ServerProcess, page: str, session_id: str, name: str
) -> None:
    await browser.open(page, f"{server.url}/demo/?session={session_id}&name={name}")
    await browser.wait(page, SYNCED, timeout=20)


async def wait_for_text(browser: Browser, page: str, text: str, timeout: float = 15) -> None:
    await browser.wait(page, f"{VALUE} === {json.dumps(text)}", timeout=timeout)


async def wait_for_rest_code(
    http: aiohttp.ClientSession, server: ServerProcess, session_id: str, text: str
) -> None:
    async def rest_code_is_the_pages() -> bool:
        return bool((await read_session(http, server, session_id))["code"] == text)

    await wait_until(rest_code_is_the_pages, timeout=10, what=f"REST code == {text!r}")


async def test_two_pages_typing_at_once_converge_to_the_text_rest_reports(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="start\n", language="python")
    await join_page(browser, server, "ada", sid, "Ada")
    await join_page(browser, server, "grace", sid, "Grace")
    await asyncio.gather(
        browser.type("ada", "ada types at the end", at="end"),
        browser.type("grace", "grace types first ", at="start"),
    )
    expected = "grace types first start\nada types at the end"
    await wait_for_text(browser, "ada", expected)
    await wait_for_text(browser, "grace", expected)
    await wait_for_rest_code(http, server, sid, expected)
    await browser.screenshot("grace", "two-pages-converged")


async def test_a_page_that_was_disconnected_merges_its_edits_when_it_reconnects(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="shared\n")
    await join_page(browser, server, "ada", sid, "Ada")
    await join_page(browser, server, "grace", sid, "Grace")
    await browser.eval("ada", "window.demo.provider.disconnect()")
    assert await browser.wait("ada", "document.getElementById('status').dataset.status") in (
        "disconnected",
        "offline",
    )
    await asyncio.gather(
        browser.type("ada", "typed while offline", at="end"),
        browser.type("grace", "online ", at="start"),
    )
    await wait_for_text(browser, "grace", "online shared\n")
    await wait_for_text(browser, "ada", "shared\ntyped while offline")
    await wait_for_rest_code(http, server, sid, "online shared\n")
    await browser.screenshot("ada", "offline-edits")

    await browser.eval("ada", "window.demo.provider.connect()")
    await browser.wait("ada", SYNCED)
    merged = "online shared\ntyped while offline"
    await wait_for_text(browser, "ada", merged)
    await wait_for_text(browser, "grace", merged)
    await wait_for_rest_code(http, server, sid, merged)


async def test_a_remote_participants_name_and_selection_show_in_their_colour(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code=PYTHON_SNIPPET, language="python")
    await join_page(browser, server, "ada", sid, "Ada")
    await join_page(browser, server, "grace", sid, "Grace")
    await browser.type("ada", "        if target - n in seen:", at="end")
    ada = await browser.eval("ada", "({id: window.demo.doc.clientID, color: window.demo.me.color})")
    # Ada selects "nums, target" on line 1; Grace sees the selection and Ada's name at its end
    await browser.eval(
        "ada", "window.demo.editor.setSelection(new window.demo.monaco.Selection(1, 13, 1, 25))"
    )
    await browser.visible("grace", ".remote-cursor-label", text="Ada")
    await browser.visible("grace", f".yRemoteSelection-{ada['id']}")
    label, selection, expected = await browser.eval(
        "grace",
        f"""(() => {{
            const probe = document.body.appendChild(document.createElement('div'))
            probe.style.color = {json.dumps(ada["color"])}
            const expected = getComputedStyle(probe).color
            probe.remove()
            const label = document.querySelector('.remote-cursor-label')
            const selection = document.querySelector('.yRemoteSelection-{ada["id"]}')
            return [getComputedStyle(label).backgroundColor,
                    getComputedStyle(selection).backgroundColor, expected]
        }})()""",
    )
    assert label == expected
    assert selection.startswith("color(srgb") or selection.startswith("rgba(")
    # and in the participants list, online
    await browser.visible("grace", '#participants li[data-online="true"]', text="Ada")
    await browser.visible("ada", '#participants li[data-online="true"]', text="Grace")
    await browser.screenshot("grace", "remote-cursor-and-selection")


async def test_deleting_the_session_closes_the_page_for_good_and_says_why(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="bye\n")
    await join_page(browser, server, "ada", sid, "Ada")
    async with http.delete(f"{server.url}/api/v1/sessions/{sid}") as response:
        assert response.status == 204
    await browser.visible("ada", "#banner", text="This session has ended")
    state = await browser.eval(
        "ada",
        """({status: document.getElementById('status').dataset.status,
             shouldConnect: window.demo.provider.shouldConnect,
             socket: window.demo.provider.ws,
             readOnly: window.demo.editor.getRawOptions().readOnly})""",
    )
    assert state == {"status": "closed", "shouldConnect": False, "socket": None, "readOnly": True}
    await browser.screenshot("ada", "session-deleted")

    # a session that does not exist is refused before any socket is opened
    await browser.open("late", f"{server.url}/demo/?session=00000000&name=Late")
    await browser.visible("late", "#banner", text="not found")


async def test_the_page_alone_creates_a_session_and_a_reload_rejoins_as_the_same_person(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    await browser.open("ada", f"{server.url}/demo?name=Ada")
    await browser.wait("ada", SYNCED, timeout=20)
    sid, me, url = await browser.eval(
        "ada", "[window.demo.session.id, window.demo.me.id, location.href]"
    )
    assert url.startswith(f"{server.url}/demo/?") and f"session={sid}" in url
    session = await read_session(http, server, sid)
    assert session["creatorId"] == me
    assert [(p["name"], p["role"]) for p in session["participants"]] == [("Ada", "interviewer")]

    await browser.reload("ada")
    await browser.wait("ada", SYNCED, timeout=20)
    assert await browser.eval("ada", "[window.demo.session.id, window.demo.me.id]") == [sid, me]
    participants = (await read_session(http, server, sid))["participants"]
    assert [(p["id"], p["role"]) for p in participants] == [(me, "interviewer")]


async def test_word_suggestions_come_from_the_bundled_editor_worker(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="printable = 1\n")
    await join_page(browser, server, "ada", sid, "Ada")
    await browser.type("ada", "pri", at="end")
    await browser.press("ada", "Control+Space")
    await browser.visible("ada", ".suggest-widget .monaco-list-row", text="printable")
    loaded = await browser.eval(
        "ada", "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)"
    )
    assert {"/demo/editor.worker.js", "/demo/codicon.ttf"} <= set(loaded)


async def test_the_language_menu_offers_what_this_host_runs_and_a_choice_reaches_everyone(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="fn main() {}\n", language="rust")
    async with http.get(f"{server.url}/api/v1/execute/languages") as response:
        runnable = [language["name"] for language in (await response.json())["data"]]
    assert "typescript" in runnable and "rust" not in runnable
    await join_page(browser, server, "ada", sid, "Ada")
    await join_page(browser, server, "grace", sid, "Grace")
    options = "[...document.getElementById('language').options].map(o => o.value)"
    assert await browser.eval("ada", options) == [*runnable, "rust"]  # rust: the session's own
    assert "cannot run here" in await browser.eval(
        "ada", "document.getElementById('language').selectedOptions[0].textContent"
    )
    await browser.select("ada", "#language", "typescript")
    await browser.wait(
        "grace",
        "document.getElementById('language').value === 'typescript'"
        " && window.demo.model.getLanguageId() === 'typescript'",
    )

    async def rest_language_is_typescript() -> bool:
        return bool((await read_session(http, server, sid))["language"] == "typescript")

    await wait_until(rest_language_is_typescript, timeout=10, what="REST language == typescript")
    async with http.patch(
        f"{server.url}/api/v1/sessions/{sid}", json={"language": "python"}
    ) as response:
        assert response.status == 200
    await browser.wait("ada", "window.demo.model.getLanguageId() === 'python'")


async def test_a_json_clients_first_cursor_shows_on_the_page_with_its_name(
    server: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="line one\nline two\n")
    await join_page(browser, server, "ada", sid, "Ada")
    command = [sys.executable, str(EXAMPLES / "json_client.py"), server.url, sid]
    command += ["--name", "Jay", "--cursor", "2:6"]
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    try:
        await browser.visible("ada", ".remote-cursor-label", text="Jay", timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()

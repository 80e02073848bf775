"""The demo page under --auth token: the links a session's creation answers open it in each
role, and an observer's editor is read-only (what it types changes nothing anywhere)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from server_process import ServerProcess
from support.browser_driver import Browser
from support.tokens import TEST_API_KEY
from support.waiting import wait_until

pytestmark = pytest.mark.browser

KEY = TEST_API_KEY
SYNCED = "window.demo?.provider.synced === true"
VALUE = "window.demo.model.getValue()"


async def create(http: aiohttp.ClientSession, server: ServerProcess) -> dict[str, Any]:
    async with http.post(
        f"{server.url}/api/v1/sessions",
        json={"code": "start\n", "language": "python"},
        headers={"Authorization": f"Bearer {KEY}"},
    ) as response:
        assert response.status == 201
        return dict((await response.json())["data"])


async def test_an_observer_link_opens_a_read_only_editor_that_still_follows_the_others(
    secured: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    session = await create(http, secured)
    await browser.open("ada", session["links"]["interviewer"])
    await browser.open("obi", session["links"]["observer"] + "&name=Obi")
    await asyncio.gather(browser.wait("ada", SYNCED, 20), browser.wait("obi", SYNCED, 20))
    read_only = "window.demo.editor.getOption(window.demo.monaco.editor.EditorOption.readOnly)"
    assert await browser.eval("obi", read_only) is True
    assert await browser.eval("ada", read_only) is False
    assert await browser.eval("obi", "document.getElementById('language').disabled") is True
    await browser.visible("obi", "#observing", "read-only")
    await browser.type("obi", "observer typing", at="start")  # Monaco ignores it: read-only
    await browser.type("ada", "# by ada\n", at="start")
    expected = "# by ada\nstart\n"
    await browser.wait("obi", f"{VALUE} === {json.dumps(expected)}", timeout=15)
    headers = {"Authorization": f"Bearer {session['tokens']['interviewer']}"}

    async def rest_is_adas() -> bool:
        async with http.get(f"{secured.url}/api/v1/sessions/{session['id']}", headers=headers) as r:
            body = await r.json()
        roles = {p["name"]: p["role"] for p in body["data"]["participants"]}
        return body["data"]["code"] == expected and roles.get("Obi") == "observer"

    await wait_until(rest_is_adas, what="Ada's edit and the observer over REST")
    assert await browser.eval("ada", VALUE) == expected
    await browser.screenshot("obi", "observer-read-only")

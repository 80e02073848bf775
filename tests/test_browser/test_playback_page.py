"""The player in Chromium: a reviewer with a playback link watches a finished interview, scrubs
to its middle and sees that moment's text, coloured by author on demand, with a track per
participant and the paste, run and focus markers on the bar."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from server_process import ServerProcess
from support.browser_driver import Browser
from support.node_client import NodeClient
from support.tokens import TEST_API_KEY, bearer
from support.waiting import wait_until

from crdt_server.clock import now_ms

pytestmark = pytest.mark.browser

SYNCED = "window.demo?.provider.synced === true"
READY = "document.body.dataset.ready === 'true'"
SHOWN = "window.player.model.getValue()"
PASTE = "\n# pasted from somewhere else" * 10  # 290 characters at once
TYPED = "def solve(n): return n"


async def holds(http: aiohttp.ClientSession, url: str, headers: dict[str, str], text: str) -> int:
    """Once the server holds ``text``: a moment it did."""

    async def check() -> bool:
        async with http.get(url, headers=headers) as response:
            return bool((await response.json())["data"]["code"] == text)

    await wait_until(check, what=f"the server holding {text[-20:]!r}")
    at = now_ms()
    await wait_until(lambda: now_ms() > at, interval=0.001, what="the next millisecond")
    return at


async def test_a_reviewer_scrubs_a_finished_interview_to_its_middle_and_sees_that_text(
    secured: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    api = f"{secured.url}/api/v1"
    body = {"language": "python", "creator": {"name": "Ada"}}
    async with http.post(f"{api}/sessions", json=body, headers=bearer(TEST_API_KEY)) as created:
        session: dict[str, Any] = (await created.json())["data"]
    sid, links, tokens = session["id"], session["links"], session["tokens"]
    url, ada = f"{api}/sessions/{sid}", bearer(tokens["interviewer"])
    async with http.post(f"{url}/start", json={}, headers=ada) as started:
        assert started.status == 200

    # the candidate types in the demo page; the interviewer, on a stock provider, adds a line
    await browser.open("cy", links["candidate"] + "&name=Cy")
    await browser.wait("cy", SYNCED, 20)
    await browser.type("cy", TYPED, delay_ms=20)
    first = await holds(http, url, ada, TYPED)
    ws = secured.url.replace("http", "ws", 1) + "/ws/sessions"
    async with NodeClient.start() as node:
        await node.connect(ws, sid, {"token": tokens["interviewer"]})
        await node.wait_synced()
        await node.insert(0, "# Ada: mind n = 0\n")
        middle_text = "# Ada: mind n = 0\n" + TYPED
        middle = await holds(http, url, ada, middle_text)
    await browser.eval("cy", "window.dispatchEvent(new Event('blur'))")  # Cy leaves the tab
    await browser.eval("cy", "window.dispatchEvent(new Event('focus'))")
    await browser.eval("cy", f"window.demo.ytext.insert(window.demo.ytext.length, {PASTE!r})")
    final = middle_text + PASTE
    last = await holds(http, url, ada, final)
    await browser.close_page("cy")
    async with http.post(f"{url}/execute", json={}, headers=ada) as ran:
        assert ran.status == 200, await ran.text()
    async with http.post(f"{url}/end", headers=ada) as ended:
        assert ended.status == 200
    async with http.post(f"{url}/playback-links", json={"expiresInMinutes": 60}, headers=ada) as r:
        link = (await r.json())["data"]["link"]

    await browser.open("review", link)
    await browser.wait("review", READY, 30)
    assert await browser.eval("review", SHOWN) == ""  # it starts before the first change
    names = await browser.eval(
        "review", "[...document.querySelectorAll('#tracks .track-label')].map(e => e.textContent)"
    )
    assert names == ["Ada (interviewer)", "Cy (candidate)"]
    cy_bursts = "document.querySelectorAll('#tracks .track:nth-child(2) .burst').length"
    assert await browser.eval("review", cy_bursts) >= 1
    kinds = await browser.eval(
        "review", "[...document.querySelectorAll('#markers .marker')].map(m => m.dataset.type)"
    )
    for kind in ("started", "focusLost", "paste", "ran", "ended"):
        assert kind in kinds, kinds

    # scrub to the middle (the slider, as a reviewer drags it): that moment's text
    offset = await browser.eval("review", f"{middle} - window.player.start")
    await browser.fill("review", "#scrub", str(offset))
    await browser.wait("review", f"{SHOWN} === {middle_text!r}")
    assert await browser.text("review", "#player-clock") != "00:00"
    await browser.click("review", "#by-author")
    await browser.wait("review", "document.querySelectorAll('.author-0, .author-1').length >= 2")
    await browser.screenshot("review", "playback-middle-by-author")
    await browser.eval("review", f"window.player.seek({first})")
    await browser.wait("review", f"{SHOWN} === {TYPED!r}")

    # play from there at 32x: idle time is skipped, and it ends on the final text
    await browser.select("review", "#speed", "32")
    await browser.click("review", "#play")
    await browser.wait("review", f"{SHOWN} === {final!r} && !window.player.playing", 30)
    assert await browser.eval("review", "window.player.t") >= last
    await browser.screenshot("review", "playback-end")


async def test_an_expired_or_forged_playback_link_says_so(
    secured: ServerProcess, browser: Browser, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{secured.url}/api/v1/sessions", json={}, headers=bearer(TEST_API_KEY)
    ) as created:
        sid = (await created.json())["data"]["id"]
    await browser.open("review", f"{secured.url}/demo/playback/?session={sid}&token=forged")
    await browser.wait("review", "document.body.dataset.ready === 'failed'")
    assert "expired or is not valid" in await browser.text("review", "#banner")

"""The player in Chromium: a reviewer with a playback link watches a finished interview, scrubs
to its middle and sees that moment's text, coloured by author on demand, with a track per
participant and the paste, run and focus markers on the bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pycrdt import Doc, Text
from server_process import ServerProcess
from support.browser_driver import Browser
from support.moments import held_at
from support.node_client import NodeClient
from support.tokens import TEST_API_KEY, bearer

from crdt_server.clock import now_ms
from crdt_server.document import seed_update
from storage import Edit, ParticipantRecord, PendingUpdate, SessionRecord, SQLiteStorage

pytestmark = pytest.mark.browser

SYNCED = "window.demo?.provider.synced === true"
READY = "document.body.dataset.ready === 'true'"
SHOWN = "window.player.model.getValue()"
PASTE = "\n# pasted from somewhere else" * 10  # 290 characters at once
TYPED = "def solve(n): return n"


async def holds(http: aiohttp.ClientSession, url: str, headers: dict[str, str], text: str) -> int:
    """Once the server holds ``text``: a moment it did."""

    async def code() -> str:
        async with http.get(url, headers=headers) as response:
            return str((await response.json())["data"]["code"])

    return await held_at(code, text)


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


async def recorded_interview(db: Path) -> tuple[str, list[tuple[int, str]]]:
    """A 45-minute interview already in storage: three bursts of typing, 15 s each, with 20
    minutes of nothing between them. Returns its id and the text after each change."""
    sid, began = "0bb1e570", now_ms() - 2 * 3_600_000
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    updates, texts = [], []
    for burst in range(3):
        for n in range(100):
            at = began + 60_000 + burst * 20 * 60_000 + n * 150
            before = doc.get_state()
            word = f"{burst}{n % 10}" + ("\n" if n % 10 == 9 else " ")
            text += word
            data = doc.get_update(before)
            updates.append(PendingUpdate(sid, data, at, (Edit(at, "cy", len(word), 0, data),)))
            texts.append((at, str(text)))
    store = SQLiteStorage(str(db))
    await store.open()
    try:
        owner = ParticipantRecord("ada", "Ada", "interviewer", "hsl(210, 70%, 50%)", began, False)
        await store.create_session(
            SessionRecord(sid, began, began, 2**62, "ada"), owner, seed_update("", "python")
        )
        await store.add_participant(
            sid, ParticipantRecord("cy", "Cy", "candidate", "hsl(30, 80%, 50%)", began, False), 10
        )
        await store.append_updates(updates)
    finally:
        await store.close()
    return sid, texts


async def test_a_long_interview_plays_at_32x_skipping_its_idle_time(
    tmp_path: Path, browser: Browser
) -> None:
    db = tmp_path / "recorded.db"
    sid, texts = await recorded_interview(db)
    async with ServerProcess(["--db", str(db), "--log-level", "warning"]) as server:
        await browser.open("review", f"{server.url}/demo/playback/?session={sid}")
        await browser.wait("review", READY, 30)
        kinds = await browser.eval(
            "review", "[...document.querySelectorAll('#markers .marker')].map(m => m.dataset.type)"
        )
        assert kinds.count("idle") == 2  # the two 20-minute pauses
        at, middle = texts[150]  # in the second burst, 21 minutes in
        await browser.eval("review", f"window.player.seek({at})")
        await browser.wait("review", f"{SHOWN} === {middle!r}")
        await browser.screenshot("review", "playback-long-interview")

        # 45 minutes at 32x would take 84 s; with the idle time skipped, the typing's 45 s
        await browser.eval("review", "window.player.seek(window.player.start)")
        await browser.select("review", "#speed", "32")
        began = time.monotonic()
        await browser.click("review", "#play")
        await browser.wait("review", f"{SHOWN} === {texts[-1][1]!r} && !window.player.playing", 30)
        assert time.monotonic() - began < 20
        assert await server.stop() == 0

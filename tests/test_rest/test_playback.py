"""Playback: every accepted change kept with the server's time and its author (the token's
participant, never the update's client id), the document at any moment with who wrote what,
and the raw log, through compaction, a restart and kill -9."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from envelope import assert_error
from pycrdt import Doc, Text
from server_process import ServerProcess, create_session
from support.app_client import Client, ClientFactory
from support.moments import moment
from support.node_client import NodeClient
from support.tokens import bearer
from support.waiting import wait_until

from crdt_server.clock import now_ms
from crdt_server.core import playback
from rest.keys import LIVE, STORAGE

API_KEY = "playback-key-77"
PASTE = "x = 1  # pasted\n" * 20  # 320 characters in one update


async def committed_apart(api: Client, sid: str, text: str) -> int:
    """Once ``text`` is committed on its own: a moment it was the code. (Changes of one author
    within one group-commit window, 50 ms, are kept as one entry: typing that fast is replayed
    a window at a time.)"""
    at = await moment(api, sid, {}, text)
    await api.app[LIVE].rooms.log.flush()
    return at


async def lines(api: Client, sid: str, headers: dict[str, str], query: str = "") -> list[Any]:
    response = await api.get(f"/api/v1/sessions/{sid}/updates{query}", headers=headers)
    assert response.status == 200 and response.content_type == "application/x-ndjson"
    return [json.loads(line) for line in (await response.text()).splitlines()]


async def test_each_change_is_kept_with_its_author_and_any_moment_can_be_replayed(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    created = await api.post("/api/v1/sessions", json={"code": "seed\n"}, headers=bearer(API_KEY))
    session = (await created.json())["data"]
    sid, tokens = session["id"], session["tokens"]
    joined = await api.post(f"/api/v1/sessions/{sid}/join", json={"user": {"name": "Cy"}},
                            headers=bearer(tokens["candidate"]))  # fmt: skip
    cy = (await joined.json())["data"]
    cy_token, cy_id = cy["token"], next(p["id"] for p in cy["participants"] if p["name"] == "Cy")
    ada = bearer(tokens["interviewer"])
    ada_id = session["creatorId"]
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as node:
        await node.connect(ws, sid, {"token": tokens["interviewer"]}, client="ada")
        await node.connect(ws, sid, {"token": cy_token}, client="cy")
        await node.wait_synced(client="ada")
        await node.wait_synced(client="cy")

        await node.insert(5, "def f():\n", client="cy")
        first = "seed\ndef f():\n"
        t1 = await moment(api, sid, ada, first)
        await node.insert(0, "# ada\n", client="ada")
        second = "# ada\n" + first
        t2 = await moment(api, sid, ada, second)
        await node.insert(len(second), PASTE, client="cy")
        third = second + PASTE
        t3 = await moment(api, sid, ada, third)
    final = third + "return 1\n"
    await api.put(f"/api/v1/sessions/{sid}/code", json={"code": final}, headers=ada)
    t4 = await moment(api, sid, ada, final)

    async def state(at: int) -> dict[str, Any]:
        response = await api.get(f"/api/v1/sessions/{sid}/state?at={at}", headers=ada)
        assert response.status == 200, await response.text()
        return dict((await response.json())["data"])

    expected = {
        t1: [[None, 5], [cy_id, 9]],
        t2: [[ada_id, 6], [None, 5], [cy_id, 9]],
        t3: [[ada_id, 6], [None, 5], [cy_id, 9 + len(PASTE)]],
        t4: [[ada_id, 6], [None, 5], [cy_id, 9 + len(PASTE)], [ada_id, len("return 1\n")]],
    }
    for at, text in ((t1, first), (t2, second), (t3, third), (t4, final)):
        shown = await state(at)
        assert shown["code"] == text and shown["at"] == at and shown["language"] == "javascript"
        assert shown["authorship"] == expected[at]
        assert sum(length for _, length in shown["authorship"]) == len(text)

    log = await lines(api, sid, ada)
    assert log[0]["seq"] == 0 and log[0]["author"] is None  # the document as created
    assert [entry["seq"] for entry in log] == list(range(len(log)))
    assert {entry["author"] for entry in log} == {None, ada_id, cy_id}
    pastes = [e for e in log if e["inserted"] >= len(PASTE)]
    assert [e["author"] for e in pastes] == [cy_id]
    assert [e["seq"] for e in await lines(api, sid, ada, f"?fromMs={t3}")] == [
        e["seq"] for e in log if e["at"] >= t3
    ]
    doc: Doc[Any] = Doc()  # a client replays the raw log itself
    for entry in log:
        doc.apply_update(base64.b64decode(entry["update"]))
    assert str(doc.get("code", type=Text)) == final

    for who in ("candidate", "observer"):
        refused = await api.get(f"/api/v1/sessions/{sid}/state", headers=bearer(tokens[who]))
        await assert_error(refused, 403, "FORBIDDEN")
        refused = await api.get(f"/api/v1/sessions/{sid}/updates", headers=bearer(tokens[who]))
        await assert_error(refused, 403, "FORBIDDEN")
    for query in ("?at=soon", "?at=-1", "?at=1", "?at=99999999999999999999"):
        await assert_error(
            await api.get(f"/api/v1/sessions/{sid}/state{query}", headers=ada),
            400,
            "INVALID_REQUEST",
        )


async def test_playback_survives_compaction_a_restart_and_kill_9(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    args = ["--db", str(tmp_path / "p.db"), "--log-level", "warning",
            "--compact-after-updates", "5"]  # fmt: skip
    texts: list[tuple[int, str]] = []
    async with ServerProcess(args) as first:
        sid = await create_session(http, first, code="")
        join = {"user": {"id": "typist-1", "name": "Tia"}}
        async with http.post(f"{first.url}/api/v1/sessions/{sid}/join", json=join) as joined:
            assert joined.status == 200
        ws = first.url.replace("http", "ws", 1) + "/ws/sessions"
        async with NodeClient.start() as node:
            await node.connect(ws, sid, {"userId": "typist-1"})
            await node.wait_synced()
            text = ""
            for word in ("alpha ", "beta ", "gamma ", "delta ", "eps ", "zeta ", "eta ", PASTE):
                await node.insert(len(text), word)
                text += word
                texts.append((await committed(http, first, sid, text), text))
        await first.stop(signal.SIGKILL)
    async with ServerProcess(args) as second:
        for at, text in texts:
            async with http.get(f"{second.url}/api/v1/sessions/{sid}/state?at={at}") as response:
                shown = (await response.json())["data"]
            assert shown["code"] == text
            assert shown["authorship"] == [["typist-1", len(text)]]
        async with http.get(f"{second.url}/api/v1/sessions/{sid}/timeline") as response:
            timeline = (await response.json())["data"]
        typist = next(p for p in timeline["participants"] if p["id"] == "typist-1")
        assert typist["chars"] == len(texts[-1][1]) and typist["pastes"] == 1
        assert [e["chars"] for e in timeline["events"] if e["type"] == "paste"] == [len(PASTE)]
        assert await second.stop() == 0


async def committed(http: aiohttp.ClientSession, server: ServerProcess, sid: str, text: str) -> int:
    """Once the log in storage replays to ``text``: a moment it did."""

    async def replays() -> int | None:
        at = now_ms()
        async with http.get(f"{server.url}/api/v1/sessions/{sid}/state?at={at}") as response:
            return at if (await response.json())["data"]["code"] == text else None

    at = await wait_until(replays, what=f"{text!r} in the stored log")
    await wait_until(lambda: now_ms() > at, interval=0.001, what="the next millisecond")
    return at


async def test_moments_are_replayed_from_the_nearest_checkpoint_and_agree_with_a_full_replay(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(playback, "CHECKPOINT_EVERY", 4)
    api = await make_client()
    sid = (await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"]
    moments: list[tuple[int, str]] = []
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as node:
        await node.connect(ws, sid)
        await node.wait_synced()
        text = ""
        for n in range(30):
            if n % 5 == 4:
                await node.delete(0, 2)
                text = text[2:]
            else:
                await node.insert(len(text) // 2, f"<{n}>")
                text = text[: len(text) // 2] + f"<{n}>" + text[len(text) // 2 :]
            moments.append((await committed_apart(api, sid, text), text))
    for at, text in moments[::-1]:  # the newest first: the first answer builds the checkpoints
        response = await api.get(f"/api/v1/sessions/{sid}/state?at={at}")
        assert (await response.json())["data"]["code"] == text
    newest = await api.app[STORAGE].checkpoint_before(sid, None)
    assert newest is not None and newest.seq >= 30 - 4  # one after every 4 entries (of 31)
    doc: Doc[Any] = Doc()
    for entry in await lines(api, sid, {}):
        doc.apply_update(base64.b64decode(entry["update"]))
    assert str(doc.get("code", type=Text)) == moments[-1][1]


async def test_checkpoints_are_built_in_the_background_once_a_session_goes_quiet(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(playback, "CHECKPOINT_EVERY", 4)
    monkeypatch.setattr(playback, "KEEP_UP_EVERY_S", 0.05)
    monkeypatch.setattr(playback, "QUIET_MS", 200)
    api = await make_client()
    sid = (await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"]
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as node:
        await node.connect(ws, sid)
        await node.wait_synced()
        text = ""
        for n in range(12):
            await node.insert(len(text), f"<{n}>")
            text += f"<{n}>"
            await committed_apart(api, sid, text)

        async def caught_up() -> bool:  # no request for a moment has been made
            newest = await api.app[STORAGE].checkpoint_before(sid, None)
            return newest is not None and newest.seq >= 12 - 4

        await wait_until(caught_up, what="checkpoints built in the background")

"""Playback's timeline: a scripted interview (two stock providers, a JSON client and REST
writes typing over time) is listed as it happened, each thing attributed to whoever did it;
a reviewer with a playback link watches it and can do nothing else."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from envelope import assert_error
from json_ws import JsonWs
from support.app_client import Client, ClientFactory
from support.moments import moment
from support.node_client import NodeClient
from support.tokens import bearer
from support.waiting import wait_until

from crdt_server import room as room_module
from crdt_server.clock import now_ms
from rest.keys import LIVE
from storage import sqlite as sqlite_module

API_KEY = "timeline-key-5c1d"
KEY = bearer(API_KEY)
QUESTION = {
    "title": "Echo",
    "prompt": "Print what you read.",
    "difficulty": "easy",
    "languages": ["python"],
    "tests": [{"name": "one", "stdin": "1\n", "expectedStdout": "1\n"}],
}
PASTE = "print('pasted')\n" * 16  # 256 characters in one update: past the 200 of a paste


async def interview(api: Client) -> dict[str, Any]:
    """A session with an interviewer (Ada), two candidates (Cy on a provider, Dee on a JSON
    socket) and an observer's invite."""
    made = await api.post("/api/v1/questions", json=QUESTION, headers=KEY)
    created = await api.post("/api/v1/sessions", json={"language": "python"}, headers=KEY)
    session: dict[str, Any] = (await created.json())["data"]
    sid, tokens = session["id"], session["tokens"]
    people = {"ada": (tokens["interviewer"], session["creatorId"])}
    for name in ("Cy", "Dee"):
        joined = await api.post(f"/api/v1/sessions/{sid}/join", json={"user": {"name": name}},
                                headers=bearer(tokens["candidate"]))  # fmt: skip
        data = (await joined.json())["data"]
        people[name.lower()] = (data["token"], data["participantId"])
    return {"sid": sid, "tokens": tokens, "people": people,
            "question": (await made.json())["data"]["id"]}  # fmt: skip


@pytest.mark.sandbox
async def test_a_scripted_interview_is_on_the_timeline_as_it_happened(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(api_keys=API_KEY, idle_gap_seconds=1.5)
    s = await interview(api)
    sid, people = s["sid"], s["people"]
    (ada_token, ada), (cy_token, cy), (dee_token, dee) = people["ada"], people["cy"], people["dee"]
    as_ada, as_cy = bearer(ada_token), bearer(cy_token)
    url = f"/api/v1/sessions/{sid}"
    assert (await api.post(f"{url}/start", json={"durationMs": 45 * 60_000}, headers=as_ada)).ok
    attached = await api.put(f"{url}/question", json={"questionId": s["question"]}, headers=as_ada)
    assert attached.ok, await attached.text()
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    moments: list[tuple[int, str, list[list[Any]]]] = []
    async with NodeClient.start() as node:
        focused = {"user": {"name": "Cy"}, "focused": True}
        await node.connect(ws, sid, {"token": ada_token}, client="ada")
        await node.connect(ws, sid, {"token": cy_token}, client="cy", awareness=focused)
        await node.wait_synced(client="ada")
        await node.wait_synced(client="cy")
        dee_ws = await JsonWs.connect(http, f"{ws}/{sid}?protocol=json&token={dee_token}")
        await dee_ws.expect("code_change")

        await node.insert(0, "def f():\n", client="cy")
        text = "def f():\n"
        moments.append((await moment(api, sid, as_ada, text), text, [[cy, 9]]))
        await node.insert(0, "# ada\n", client="ada")
        text = "# ada\n" + text
        moments.append((await moment(api, sid, as_ada, text), text, [[ada, 6], [cy, 9]]))
        await dee_ws.send("code_change", {"code": text + "x = 1\n"})  # a whole-text write
        text += "x = 1\n"
        written = [[ada, 6], [cy, 9], [dee, 6]]
        moments.append((await moment(api, sid, as_ada, text), text, written))

        await node.awareness_set_field("focused", False, client="cy")  # Cy's tab goes away
        await node.awareness_set_field("cursor", {"lineNumber": 1}, client="cy")  # no change
        await node.awareness_set_field("focused", True, client="cy")  # and comes back
        await node.insert(len(text), PASTE, client="cy")
        text += PASTE
        pasted = [*written, [cy, len(PASTE)]]
        before_pause = await moment(api, sid, as_ada, text)
        moments.append((before_pause, text, pasted))
        await wait_until(lambda: now_ms() > before_pause + 1600, what="an idle gap")
        await dee_ws.close()
    final = text + "return 1\n"
    await api.put(f"{url}/code", json={"code": final}, headers=as_ada)  # a REST write
    moments.append((await moment(api, sid, as_ada, final), final, [*pasted, [ada, 9]]))
    ran = await api.post(f"{url}/execute", json={"stdin": ""}, headers=as_cy)
    assert ran.ok, await ran.text()
    await api.patch(url, json={"language": "javascript"}, headers=as_cy)
    assert (await api.post(f"{url}/end", headers=as_ada)).ok

    async def everyone_left() -> bool:
        listed = await (await api.get(url, headers=as_ada)).json()
        return not any(p["isOnline"] for p in listed["data"]["participants"])

    await wait_until(everyone_left, what="every socket closed")
    response = await api.get(f"{url}/timeline", headers=as_ada)
    assert response.status == 200, await response.text()
    timeline = (await response.json())["data"]
    assert timeline["startedAt"] is not None and timeline["endedAt"] >= timeline["startedAt"]
    assert timeline["durationMs"] == timeline["endedAt"] - timeline["startedAt"]
    assert timeline["plannedMs"] == 45 * 60_000
    totals = {p["id"]: p for p in timeline["participants"]}
    assert [totals[who]["chars"] for who in (ada, cy, dee)] == [6 + 9, 9 + len(PASTE), 6]
    assert [totals[who]["pastes"] for who in (ada, cy, dee)] == [0, 1, 0]
    assert [totals[who]["focusLost"] for who in (ada, cy, dee)] == [0, 1, 0]
    assert [totals[who]["runs"] for who in (ada, cy, dee)] == [0, 1, 0]
    assert all(totals[who]["edits"] >= 1 for who in (ada, cy, dee))
    assert totals[cy]["name"] == "Cy" and totals[cy]["role"] == "candidate"
    listed = (await (await api.get(url, headers=as_ada)).json())["data"]["participants"]
    assert {p["id"]: p["color"] for p in listed} == {i: p["color"] for i, p in totals.items()}

    events = timeline["events"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    told = [(e["type"], e["userId"]) for e in events
            if e["type"] not in ("created", "joined", "online", "left", "idle")]  # fmt: skip
    assert told == [
        ("started", None),
        ("question", ada),
        ("focusLost", cy),
        ("focusBack", cy),
        ("paste", cy),
        ("ran", cy),
        ("language", cy),
        ("ended", None),
    ]
    by_type = {e["type"]: e for e in events}
    assert by_type["paste"]["chars"] == len(PASTE)
    assert by_type["question"]["questionId"] == s["question"]
    assert by_type["language"]["language"] == "javascript"
    assert by_type["ran"]["language"] == "python" and "exitCode" in by_type["ran"]
    assert {e["userId"] for e in events if e["type"] == "joined"} == {ada, cy, dee}
    assert {e["userId"] for e in events if e["type"] == "online"} == {ada, cy, dee}
    assert {e["userId"] for e in events if e["type"] == "left"} == {ada, cy, dee}
    idle = [e for e in events if e["type"] == "idle"]
    assert any(
        e["at"] <= before_pause and e["at"] + e["durationMs"] >= before_pause + 1500 for e in idle
    ), idle  # the pause before Ada's REST write
    bursts = timeline["bursts"]
    assert {b["userId"] for b in bursts} == {ada, cy, dee}
    assert all(b["from"] <= b["to"] and b["edits"] >= 1 for b in bursts)
    assert [b["from"] for b in bursts] == sorted(b["from"] for b in bursts)

    for at, code, authorship in moments:  # the text every client had then, and who wrote it
        shown = (await (await api.get(f"{url}/state?at={at}", headers=as_ada)).json())["data"]
        assert shown["code"] == code and shown["authorship"] == authorship
        assert sum(length for _, length in shown["authorship"]) == len(code)

    for who in ("candidate", "observer"):
        await assert_error(
            await api.get(f"{url}/timeline", headers=bearer(s["tokens"][who])), 403, "FORBIDDEN"
        )
    await assert_error(await api.get(f"{url}/timeline", headers=as_cy), 403, "FORBIDDEN")
    await assert_error(
        await api.post(f"{url}/playback-links", json={}, headers=as_cy), 403, "FORBIDDEN"
    )


async def test_a_playback_link_watches_until_it_expires_and_does_nothing_else(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(api_keys=API_KEY)
    s = await interview(api)
    sid, (ada_token, _) = s["sid"], s["people"]["ada"]
    url = f"/api/v1/sessions/{sid}"
    await api.put(f"{url}/code", json={"code": "print(1)\n"}, headers=bearer(ada_token))
    made = await api.post(
        f"{url}/playback-links", json={"expiresInMinutes": 30}, headers=bearer(ada_token)
    )
    assert made.status == 200, await made.text()
    link = (await made.json())["data"]
    assert 0 < link["expiresAt"] - now_ms() <= 30 * 60_000
    assert link["link"].endswith(f"/demo/playback/?session={sid}&token={link['token']}")
    reviewer = bearer(link["token"])

    watched = await api.get(f"{url}/timeline", headers=reviewer)
    assert watched.status == 200 and (await watched.json())["data"]["sessionId"] == sid
    state = await api.get(f"{url}/state", headers=reviewer)
    assert (await state.json())["data"]["code"] == "print(1)\n"
    assert (await api.get(f"{url}/updates", headers=reviewer)).status == 200

    # read-only, and only playback: not the live session, its report, or any write
    for method, path, body in (
        ("GET", "", None),
        ("GET", "/report", None),
        ("GET", "/question", None),
        ("PUT", "/code", {"code": "owned"}),
        ("POST", "/join", {"user": {"name": "Rev"}}),
        ("POST", "/playback-links", {}),
    ):
        refused = await api.request(method, url + path, json=body, headers=reviewer)
        await assert_error(refused, 403, "FORBIDDEN")
    socket = await http.ws_connect(f"{str(api.make_url('/ws/sessions')).replace('http', 'ws', 1)}"
                                   f"/{sid}?token={link['token']}")  # fmt: skip
    assert (await socket.receive()).type == aiohttp.WSMsgType.CLOSE
    assert socket.close_code == 4403

    live = api.app[LIVE]
    record = await live.sessions.get(sid)
    assert live.sessions.tokens is not None
    expired = live.sessions.tokens.share(record, now_ms() - 2000)
    await assert_error(
        await api.get(f"{url}/timeline", headers=bearer(expired)), 401, "UNAUTHORIZED"
    )


async def test_a_client_toggling_its_focus_in_a_loop_fills_only_its_own_quota(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(room_module, "EVENTS_KEPT", 3)
    monkeypatch.setattr(sqlite_module, "EVENTS_KEPT", 3)
    api = await make_client(api_keys=API_KEY)
    s = await interview(api)
    sid, (ada_token, ada), (cy_token, cy) = s["sid"], s["people"]["ada"], s["people"]["cy"]
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as node:
        await node.connect(ws, sid, {"token": cy_token}, client="cy")
        await node.connect(ws, sid, {"token": ada_token}, client="ada")
        await node.wait_synced(client="cy")
        await node.wait_synced(client="ada")
        for n in range(20):
            await node.awareness_set_field("focused", n % 2 == 1, client="cy")

        async def seen() -> bool:
            awareness = await node.awareness(client="ada")
            return any(state.get("focused") is True for state in awareness.values())

        await wait_until(seen, what="Cy's last focus change at Ada's")
        await node.awareness_set_field("focused", False, client="ada")

        async def counted() -> dict[str, int] | None:
            response = await api.get(f"/api/v1/sessions/{sid}/timeline", headers=bearer(ada_token))
            lost = {
                p["id"]: p["focusLost"] for p in (await response.json())["data"]["participants"]
            }
            return lost if lost[ada] == 1 else None

        lost = await wait_until(counted, what="Ada's focus loss on the timeline")
    assert lost[cy] == 3  # ten losses, three kept; Ada's own still counted

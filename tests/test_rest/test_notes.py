"""Interviewers' notes and scorecards: live between interviewers, never anyone else's."""

from __future__ import annotations

from typing import Any

import aiohttp
from envelope import assert_error
from json_ws import JsonWs
from support.app_client import Client, ClientFactory
from support.tokens import bearer

API_KEY = "notes-key-0b7d"
BEARER = {"Authorization": f"Bearer {API_KEY}"}
NOTES = "Strong on edge cases; ask about complexity (private 3391)."


async def session_of(api: Client) -> dict[str, Any]:
    created = await api.post("/api/v1/sessions", json={"code": "x"}, headers=BEARER)
    session: dict[str, Any] = (await created.json())["data"]
    return session


async def test_notes_go_to_interviewers_live_and_to_nobody_else(
    make_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    api = await make_client(api_keys=API_KEY)
    session = await session_of(api)
    sid, tokens = session["id"], session["tokens"]
    ws = str(api.make_url(f"/ws/sessions/{sid}")).replace("http", "ws", 1)
    interviewer = await JsonWs.connect(http, f"{ws}?protocol=json&token={tokens['interviewer']}")
    candidate = await JsonWs.connect(http, f"{ws}?protocol=json&token={tokens['candidate']}")
    await interviewer.expect("code_change")
    await candidate.expect("code_change")
    url = f"/api/v1/sessions/{sid}/notes"
    for role in ("candidate", "observer"):
        await assert_error(await api.get(url, headers=bearer(tokens[role])), 403, "FORBIDDEN")
        refused = await api.put(url, json={"notes": "mine"}, headers=bearer(tokens[role]))
        await assert_error(refused, 403, "FORBIDDEN")

    as_interviewer = bearer(tokens["interviewer"])
    empty = (await (await api.get(url, headers=as_interviewer)).json())["data"]
    assert empty == {"notes": "", "version": 0, "updatedAt": None, "updatedBy": None}
    written = await api.put(url, json={"notes": NOTES, "baseVersion": 0}, headers=as_interviewer)
    view = (await written.json())["data"]
    assert view["version"] == 1 and view["updatedBy"] == session["creatorId"]
    pushed = await interviewer.expect("notes_change")
    assert pushed["data"]["notes"] == NOTES and pushed["data"]["version"] == 1
    stale = await api.put(url, json={"notes": "over it", "baseVersion": 0}, headers=as_interviewer)
    await assert_error(stale, 412, "VERSION_UNKNOWN")

    # a change everyone hears, after the notes: the candidate heard it and no notes before it
    since = candidate.mark()
    await api.put(f"/api/v1/sessions/{sid}/code", json={"code": "y"}, headers=as_interviewer)
    await candidate.expect("code_change", lambda d: d["code"] == "y", since=since)
    assert all(event["type"] != "notes_change" for event in candidate.events)
    assert NOTES not in str(candidate.events)
    await interviewer.close()
    await candidate.close()


async def test_each_interviewer_submits_a_scorecard_that_only_interviewers_read(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    session = await session_of(api)
    sid, tokens = session["id"], session["tokens"]
    card = {
        "recommendation": "strong_yes",
        "competencies": [{"name": "correctness", "score": 4, "notes": "all cases"}],
        "notes": "Would hire.",
    }
    url = f"/api/v1/sessions/{sid}/scorecard"
    await assert_error(await api.put(url, json=card, headers=bearer(tokens["candidate"])), 403,
                       "FORBIDDEN")  # fmt: skip
    bad = card | {"competencies": [{"name": "x", "score": 5}]}
    await assert_error(await api.put(url, json=bad, headers=bearer(tokens["interviewer"])), 400,
                       "INVALID_REQUEST")  # fmt: skip
    submitted = await api.put(url, json=card, headers=bearer(tokens["interviewer"]))
    data = (await submitted.json())["data"]
    assert data["interviewerId"] == session["creatorId"] and data["recommendation"] == "strong_yes"
    again = await api.put(url, json=card | {"recommendation": "yes"},
                          headers=bearer(tokens["interviewer"]))  # fmt: skip
    assert again.status == 200
    listed = await api.get(f"/api/v1/sessions/{sid}/scorecards",
                           headers=bearer(tokens["interviewer"]))  # fmt: skip
    cards = (await listed.json())["data"]
    assert [c["recommendation"] for c in cards] == ["yes"]  # one per interviewer, replaced
    hidden = await api.get(f"/api/v1/sessions/{sid}/scorecards",
                           headers=bearer(tokens["observer"]))  # fmt: skip
    await assert_error(hidden, 403, "FORBIDDEN")

"""The AsyncAPI document is valid AsyncAPI 3.0, and says what a live socket really sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from json_ws import JsonWs
from jsonschema import Draft7Validator, Draft202012Validator
from support.app_client import Client

from crdt_server.close_codes import MEANINGS, CloseCode
from rest.asyncapi import MESSAGES, build_asyncapi

SCHEMA = (
    Path(__file__).resolve().parents[1]
    / "node/node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"
)


def test_the_document_is_valid_asyncapi_3_and_names_every_close_code() -> None:
    """Checked with the AsyncAPI project's own JSON Schema (npm @asyncapi/specs)."""
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(build_asyncapi()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    assert set(MEANINGS) == set(CloseCode)
    channel = build_asyncapi()["channels"]["session"]
    for code in CloseCode:
        assert f"| {int(code)} |" in channel["description"]


async def test_every_json_event_a_live_socket_gets_matches_its_documented_payload(
    api: Client, http: aiohttp.ClientSession
) -> None:
    created = await api.post("/api/v1/sessions", json={"code": "a"})
    sid = (await created.json())["data"]["id"]
    joined = await api.post(f"/api/v1/sessions/{sid}/join", json={"user": {"name": "Bo"}})
    bo = (await joined.json())["data"]["participantId"]
    base = str(api.make_url(f"/ws/sessions/{sid}"))
    watcher = await JsonWs.connect(http, base + "?protocol=json")
    await watcher.expect("language_change")
    typist = await JsonWs.connect(http, f"{base}?protocol=json&userId={bo}")
    await watcher.expect("user_join")
    await typist.expect("code_change")
    await typist.send("code_change", {"code": "ab", "userId": bo})
    await typist.send("language_change", {"language": "python", "userId": bo})
    await typist.send("cursor_position", {"position": {"lineNumber": 1, "column": 2}})
    await watcher.expect("code_change", lambda d: d["code"] == "ab")
    await watcher.expect("language_change", lambda d: d["language"] == "python")
    await watcher.expect("cursor_position")
    await api.put(f"/api/v1/sessions/{sid}/notes", json={"notes": "open server: all see it"})
    await watcher.expect("notes_change")
    await typist.ws.send_str("not json")
    await typist.expect("error")
    await typist.close()
    await watcher.expect("user_leave")
    await watcher.close()

    by_type = {message["name"]: message["payload"] for message in MESSAGES.values()}
    seen: set[str] = set()
    for event in [*watcher.events, *typist.events]:
        payload: dict[str, Any] = by_type[event["type"]]
        Draft202012Validator(payload).validate(event)
        seen.add(event["type"])
    documented = {m["name"] for m in MESSAGES.values() if m["contentType"] == "application/json"}
    assert seen == documented

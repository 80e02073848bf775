"""An interview starts and ends: the session says so, every editor sees it, and once it
has ended nobody's edit applies, over any transport, even after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from envelope import assert_error
from json_ws import JsonWs
from server_process import ServerProcess
from support.app_client import Client, ClientFactory
from support.node_client import NodeClient
from support.tokens import bearer

API_KEY = "interview-key-77e1"
BEARER = {"Authorization": f"Bearer {API_KEY}"}


async def new_session(api: Client, code: str = "start") -> dict[str, Any]:
    created = await api.post("/api/v1/sessions", json={"code": code}, headers=BEARER)
    assert created.status == 201
    session: dict[str, Any] = (await created.json())["data"]
    return session


async def test_the_interviewer_starts_and_ends_it_and_everyone_sees_the_state(
    make_client: ClientFactory,
) -> None:
    api = await make_client(api_keys=API_KEY)
    session = await new_session(api)
    sid, tokens = session["id"], session["tokens"]
    assert session["status"] == "waiting" and session["startedAt"] is None
    ws = str(api.make_url("/ws/sessions")).replace("http", "ws", 1)
    async with NodeClient.start() as browser:
        await browser.connect(ws, sid, {"token": tokens["candidate"]})
        await browser.wait_synced()
        url = f"/api/v1/sessions/{sid}"
        await assert_error(await api.post(f"{url}/start", headers=bearer(tokens["candidate"])),
                           403, "FORBIDDEN")  # fmt: skip
        mark = browser.mark()
        started = await api.post(
            f"{url}/start", json={"durationMs": 2_700_000}, headers=bearer(tokens["interviewer"])
        )
        data = (await started.json())["data"]
        assert data["status"] == "active" and data["durationMs"] == 2_700_000
        meta = (await browser.wait_event("meta_changed", since=mark))["meta"]
        assert meta["interview"]["status"] == "active"
        assert meta["interview"]["endsAt"] == data["startedAt"] + 2_700_000

        ended = await api.post(f"{url}/end", headers=bearer(tokens["interviewer"]))
        data = (await ended.json())["data"]
        assert data["status"] == "ended" and data["endedAt"] >= data["startedAt"]
        meta = (await browser.wait_for(
            lambda e: e.get("event") == "meta_changed"
            and e["meta"].get("interview", {}).get("status") == "ended"
        ))["meta"]  # fmt: skip
        assert meta["interview"]["endedAt"] == data["endedAt"]
        again = await api.post(f"{url}/start", headers=bearer(tokens["interviewer"]))
        await assert_error(again, 409, "SESSION_ENDED")


async def test_an_ended_session_refuses_every_edit_and_run_and_stays_frozen_after_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    args = ["--db", str(tmp_path / "frozen.db"), "--api-keys", API_KEY]
    async with ServerProcess(args) as server, NodeClient.start() as browsers:
        created = await http.post(f"{server.url}/api/v1/sessions", json={"code": "final"},
                                  headers=BEARER)  # fmt: skip
        session = (await created.json())["data"]
        sid, tokens = session["id"], session["tokens"]
        ws = server.url.replace("http", "ws", 1) + "/ws/sessions"
        await browsers.connect(ws, sid, {"token": tokens["candidate"]}, client="candidate")
        await browsers.connect(ws, sid, {"token": tokens["interviewer"]}, client="watcher")
        await browsers.wait_synced(client="candidate")
        await browsers.wait_synced(client="watcher")
        url = f"{server.url}/api/v1/sessions/{sid}"
        async with http.post(f"{url}/end", headers=bearer(tokens["interviewer"])) as ended:
            assert (await ended.json())["data"]["status"] == "ended"

        # a keystroke, then a cursor move on the same socket: once the watcher sees the
        # cursor, the server has handled the keystroke before it (one socket is in order)
        await browsers.insert(0, "late ", client="candidate")
        since = browsers.mark()
        await browsers.awareness_set({"cursor": {"line": 1}}, client="candidate")
        await browsers.wait_event("awareness_changed", since=since, client="watcher")
        assert await browsers.text(client="watcher") == "final"
        closed = [e for e in browsers.events[since:] if e.get("event") == "closed"]
        assert closed == []  # refused, not dropped: the socket stays open
        async with http.get(url, headers=bearer(tokens["candidate"])) as read:
            assert (await read.json())["data"]["code"] == "final"

        as_candidate = bearer(tokens["candidate"])
        for method, path, body in (("PATCH", "", {"code": "x"}), ("PUT", "/code", {"code": "x"}),
                                   ("POST", "/execute", {})):  # fmt: skip
            async with http.request(method, url + path, json=body, headers=as_candidate) as r:
                await assert_error(r, 409, "SESSION_ENDED")
        assert await server.stop() == 0
        assert "Traceback" not in server.log

        async with ServerProcess(args) as again:
            json_url = f"{again.url.replace('http', 'ws', 1)}/ws/sessions/{sid}"
            client = await JsonWs.connect(
                http, f"{json_url}?protocol=json&token={tokens['candidate']}"
            )
            await client.expect("code_change")
            await client.send("code_change", {"code": "after the restart"})
            refused = await client.expect("error")
            assert refused["data"]["code"] == "FORBIDDEN"
            await client.close()
            async with http.get(f"{again.url}/api/v1/sessions/{sid}", headers=as_candidate) as r:
                data = (await r.json())["data"]
                assert data["code"] == "final" and data["status"] == "ended"

"""Execution over REST: /execute, the languages list, and runs shared in a session."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from envelope import assert_error
from pycrdt import Array
from raw_client import RawClient
from support.app_client import ClientFactory, SettingsFactory

from execution import Executor
from rest import create_app
from rest.app import execution_limits
from rest.keys import LIVE

Client = TestClient[web.Request, web.Application]
pytestmark = pytest.mark.sandbox


async def test_execute_runs_python_with_stdin_and_reports_the_result(api: Client) -> None:
    response = await api.post(
        "/api/v1/execute",
        json={
            "code": "import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)",
            "language": "python",
            "stdin": "hi",
        },
    )
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert data["stdout"] == "HI\n" and data["exitCode"] == 3 and data["language"] == "python"
    assert data["timedOut"] is False and data["memoryExceeded"] is False
    assert data["outputTruncated"] is False and isinstance(data["executionTime"], int)


async def test_the_languages_list_names_what_this_host_runs(api: Client) -> None:
    body = await (await api.get("/api/v1/execute/languages")).json()
    names = {item["name"] for item in body["data"]}
    assert {"python", "javascript", "typescript"} <= names
    assert all(item["version"] for item in body["data"]) and body["sandboxed"] is True


async def test_bad_execute_requests_are_400(api: Client) -> None:
    await assert_error(
        await api.post("/api/v1/execute", json={"code": "x"}), 400, "INVALID_REQUEST"
    )
    body = await assert_error(
        await api.post("/api/v1/execute", json={"code": "x", "language": "cobol"}),
        400,
        "INVALID_REQUEST",
    )
    assert "cobol" in body["error"]


async def test_a_session_run_uses_the_live_code_and_is_shared_in_the_document(
    api: Client,
) -> None:
    response = await api.post(
        "/api/v1/sessions",
        json={"code": "print(6 * 7)", "language": "python", "creator": {"id": "ivy"}},
    )
    sid = (await response.json())["data"]["id"]
    async with aiohttp.ClientSession() as http:
        watcher = await RawClient.connect(http, str(api.make_url(f"/ws/sessions/{sid}")))
        await watcher.handshake()
        run = await api.post(f"/api/v1/sessions/{sid}/execute", json={"userId": "ivy"})
        assert run.status == 200, await run.text()
        data = (await run.json())["data"]
        assert (
            data["stdout"] == "42\n" and data["userId"] == "ivy" and data["code"] == "print(6 * 7)"
        )
        watcher.doc.apply_update((await watcher.message()).payload)
        shared = watcher.doc.get("runs", type=Array).to_py()
        assert shared[-1]["stdout"] == "42\n" and shared[-1]["id"] == data["id"]
        assert "code" not in shared[-1]  # the history snapshot it names holds the code
    listing = (await (await api.get(f"/api/v1/sessions/{sid}/runs")).json())["data"]
    assert [(r["id"], r["code"]) for r in listing] == [(data["id"], "print(6 * 7)")]
    snapshot = await (await api.get(f"/api/v1/sessions/{sid}/history/{data['history']}")).json()
    assert snapshot["data"]["code"] == "print(6 * 7)"


async def test_runs_of_a_large_program_do_not_copy_it_into_the_document(api: Client) -> None:
    code = "# " + "x" * 200_000 + "\nprint('ok')\n"
    response = await api.post("/api/v1/sessions", json={"code": code, "language": "python"})
    sid = (await response.json())["data"]["id"]
    for _ in range(3):
        run = await api.post(f"/api/v1/sessions/{sid}/execute", json={})
        assert run.status == 200 and (await run.json())["data"]["stdout"] == "ok\n"
    room = await api.app[LIVE].rooms.get(sid)
    assert len(room.doc.get_update()) < len(code) + 10_000  # the code once, three results
    listing = (await (await api.get(f"/api/v1/sessions/{sid}/runs")).json())["data"]
    assert len(listing) == 3 and all(r["code"] == code for r in listing)


async def test_a_session_run_by_an_unknown_participant_is_404(api: Client) -> None:
    sid = (await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"]
    await assert_error(
        await api.post(f"/api/v1/sessions/{sid}/execute", json={"userId": "ghost"}),
        404,
        "PARTICIPANT_NOT_FOUND",
    )


async def test_without_a_sandbox_execution_is_503_and_says_why(
    settings_for: SettingsFactory,
) -> None:
    settings = settings_for()
    executor = Executor(execution_limits(settings), bwrap_path="/nonexistent/bwrap")
    client = TestClient(TestServer(create_app(settings, executor=executor)))
    await client.start_server()
    try:
        request = {"code": "print(1)", "language": "python"}
        body = await assert_error(
            await client.post("/api/v1/execute", json=request), 503, "SANDBOX_UNAVAILABLE"
        )
        assert "bwrap" in body["error"]
        languages = await (await client.get("/api/v1/execute/languages")).json()
        assert languages["sandboxed"] is False and languages["reason"]
    finally:
        await client.close()


async def test_twenty_concurrent_runs_all_finish_correctly_or_are_refused_with_429(
    make_client: ClientFactory,
) -> None:
    api = await make_client(execution_max_concurrent=2, execution_max_queue=3)

    async def run(i: int) -> tuple[int, dict[str, Any]]:
        code = f"import time\ntime.sleep(0.3)\nprint({i} * 2)"
        response = await api.post("/api/v1/execute", json={"code": code, "language": "python"})
        return response.status, await response.json()

    results = await asyncio.gather(*(run(i) for i in range(20)))
    statuses = [status for status, _ in results]
    # one client: its share is one running and two queued at a time (the rest is refused)
    assert set(statuses) == {200, 429} and statuses.count(200) >= 3
    for i, (status, body) in enumerate(results):
        if status == 200:
            assert body["data"]["stdout"] == f"{i * 2}\n" and body["data"]["exitCode"] == 0
        else:
            assert body["code"] == "RATE_LIMITED" and body["success"] is False

"""How the server picks its access mode, says it, and refuses an open server on a network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
from server_process import ServerProcess

from crdt_server.settings import Settings


def test_tokens_are_on_exactly_when_api_keys_are_configured_or_asked_for() -> None:
    assert Settings().auth_mode() == "none"
    assert Settings(api_keys="k1, k2").auth_mode() == "token"
    assert Settings(auth="token").auth_mode() == "token"
    assert Settings(api_keys="k1", auth="none").auth_mode() == "none"


def test_an_open_server_on_a_network_address_refuses_to_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crdt_server", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "--allow-open" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_start_up_log_says_the_mode_and_tokens_survive_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    args = ["--db", str(tmp_path / "a.db"), "--api-keys", "k1"]
    async with ServerProcess(args) as server:
        async with http.post(
            f"{server.url}/api/v1/sessions", json={}, headers={"Authorization": "Bearer k1"}
        ) as response:
            body = (await response.json())["data"]
        assert await server.stop() == 0
    assert "auth: token (1 API keys)" in server.log
    assert body["tokens"]["interviewer"] not in server.log  # tokens never reach the log
    async with ServerProcess(args) as server:  # the secret was kept in the database
        headers = {"Authorization": f"Bearer {body['tokens']['interviewer']}"}
        async with http.get(f"{server.url}/api/v1/sessions/{body['id']}", headers=headers) as r:
            assert r.status == 200
        assert await server.stop() == 0
    async with ServerProcess(["--db", str(tmp_path / "b.db")]) as server:
        assert await server.stop() == 0
    assert "auth: none" in server.log

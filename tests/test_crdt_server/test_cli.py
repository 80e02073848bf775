"""The command line: flags, environment, the LISTENING line, clean signals, restarts."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from server_process import ServerProcess
from support.sandbox import pids_with_marker, reexec_with_marker
from support.waiting import wait_until

from crdt_server.settings import Settings, env_for, flag_for


def test_help_lists_every_setting_with_its_default_and_environment_variable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crdt_server", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in Settings.model_fields:
        assert flag_for(name) in out and env_for(name) in out, name
    assert "(default: 8000)" in out and "--db" in out


def test_a_bad_flag_value_is_a_usage_error_not_a_trace() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crdt_server", "--port", "http"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--port" in result.stderr


async def test_the_server_prints_its_address_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    async with ServerProcess(["--db", str(tmp_path / "a.db")]) as server:
        assert server.port > 0
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/api/v1/health") as response:
                assert response.status == 200
        assert await server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.log


async def test_sigint_also_exits_0(tmp_path: Path) -> None:
    async with ServerProcess(["--db", ":memory:"]) as server:
        assert await server.stop(signal.SIGINT) == 0


async def test_data_survives_a_restart_on_the_same_database(tmp_path: Path) -> None:
    db = str(tmp_path / "keep.db")
    async with aiohttp.ClientSession() as http:
        async with ServerProcess(["--db", db]) as server:
            async with http.post(
                server.url + "/api/v1/sessions",
                json={"code": "print('kept')", "language": "python"},
            ) as r:
                sid = (await r.json())["data"]["id"]
            async with http.patch(
                server.url + f"/api/v1/sessions/{sid}", json={"code": "print('kept too')"}
            ) as r:
                assert r.status == 200
            assert await server.stop() == 0
        async with ServerProcess(["--db", db]) as server:
            async with http.get(server.url + f"/api/v1/sessions/{sid}") as r:
                data = (await r.json())["data"]
            assert data["code"] == "print('kept too')" and data["language"] == "python"
            assert await server.stop() == 0


async def test_settings_come_from_codeinterview_environment_variables(tmp_path: Path) -> None:
    env = {"CODEINTERVIEW_MAX_PARTICIPANTS": "1", "CODEINTERVIEW_DB_PATH": str(tmp_path / "e.db")}
    async with ServerProcess([], env=env) as server, aiohttp.ClientSession() as http:
        async with http.post(server.url + "/api/v1/sessions", json={}) as r:
            sid = (await r.json())["data"]["id"]
        async with http.post(server.url + f"/api/v1/sessions/{sid}/join", json={}) as r:
            assert r.status == 409
        assert (tmp_path / "e.db").exists()
        assert await server.stop() == 0


@pytest.mark.sandbox
async def test_a_request_in_flight_when_sigterm_arrives_still_gets_its_real_response(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    marker = f"in-flight-{secrets.token_hex(8)}"
    code = reexec_with_marker('import time; time.sleep(1); print("done")', marker)
    async with ServerProcess(["--db", str(tmp_path / "f.db")]) as server:
        assert server.proc is not None

        async def execute() -> tuple[int, dict[str, Any]]:
            payload = {"code": code, "language": "python"}
            async with http.post(server.url + "/api/v1/execute", json=payload) as response:
                return response.status, await response.json()

        request = asyncio.create_task(execute())
        # The sleeper is running in the server's sandbox: the request is in flight for ~1 s more.
        await wait_until(lambda: pids_with_marker(marker), what="the run to start on the server")
        server.proc.send_signal(signal.SIGTERM)
        assert not request.done()
        status, body = await asyncio.wait_for(request, timeout=10)
        assert status == 200, body
        assert body["data"]["stdout"] == "done\n" and body["data"]["exitCode"] == 0, body
        assert body["data"]["timedOut"] is False
        assert await server.stop() == 0, server.log
    assert "shutting down" in server.log and "Traceback" not in server.log


@pytest.mark.parametrize("value", ["-1", "70000"])
def test_an_out_of_range_port_is_refused_with_a_message(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crdt_server", "--port", value], capture_output=True, text=True
    )
    assert result.returncode != 0 and "port" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["missing-folder/a.db", "a-folder"])
def test_a_database_that_cannot_be_opened_is_one_line_and_exit_1(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-folder").mkdir()  # a directory where the database file should be
    result = subprocess.run(
        [sys.executable, "-m", "crdt_server", "--port", "0", "--db", str(tmp_path / where)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "cannot open the database" in result.stderr
    assert "Traceback" not in result.stderr and "LISTENING" not in result.stdout

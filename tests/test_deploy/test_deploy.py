"""deploy/ as an operator uses it: Debian's nginx in front of the server on loopback, with
the site file as shipped, and the systemd unit as systemd reads it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from server_process import ServerProcess
from support.nginx import Nginx
from support.node_client import NodeClient
from support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SITE = DEPLOY / "nginx" / "codeinterview.conf"
UNIT_PYTHON = "/opt/codeinterview/.venv/bin/python"


def from_address(address: str) -> aiohttp.ClientSession:
    """A client on another loopback address, as another machine would be."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, Nginx]]:
    args = [
        "--db", str(tmp_path / "d.db"), "--trusted-proxies", "127.0.0.1",
        "--requests-per-second", "2", "--log-format", "json",
    ]  # fmt: skip
    async with (
        ServerProcess(args) as server,
        Nginx(tmp_path / "nginx", SITE, [server.port]) as nginx,
    ):
        yield server, nginx


async def test_rest_and_stock_providers_work_through_nginx_and_meet_direct_ones(
    proxied: tuple[ServerProcess, Nginx],
) -> None:
    server, nginx = proxied
    async with from_address("127.0.0.5") as http, NodeClient.start() as browsers:
        async with http.post(f"{nginx.url}/api/v1/sessions", json={}) as created:
            assert created.status == 201
            sid = (await created.json())["data"]["id"]
        ws_proxied = nginx.url.replace("http", "ws", 1) + "/ws/sessions"
        ws_direct = server.url.replace("http", "ws", 1) + "/ws/sessions"
        await browsers.connect(ws_proxied, sid, client="behind")
        await browsers.connect(ws_direct, sid, client="direct")
        await browsers.wait_synced(client="behind")
        await browsers.wait_synced(client="direct")
        await browsers.insert(0, "through nginx", client="behind")
        await browsers.wait_text("through nginx", client="direct")
        await browsers.insert(0, "both ways: ", client="direct")
        await browsers.wait_text("both ways: through nginx", client="behind")
        async with http.get(f"{nginx.url}/api/v1/sessions/{sid}") as response:
            assert response.status == 200
            assert (await response.json())["data"]["code"] == "both ways: through nginx"
        async with http.get(f"{nginx.url}/readyz") as response:
            assert response.status == 200


async def test_rate_limits_count_each_client_behind_nginx_and_ignore_a_forged_header(
    proxied: tuple[ServerProcess, Nginx],
) -> None:
    server, nginx = proxied
    forged = {"X-Forwarded-For": "203.0.113.7"}
    async with from_address("127.0.0.5") as noisy, from_address("127.0.0.6") as calm:
        statuses = []
        for _ in range(8):
            async with noisy.get(f"{nginx.url}/api/v1/health", headers=forged) as response:
                statuses.append(response.status)
        assert 429 in statuses  # 2 a second, bursts of 4, for this client
        async with calm.get(f"{nginx.url}/api/v1/health") as response:
            assert response.status == 200  # another client behind the same proxy is not
    await wait_until(lambda: '"remote": "127.0.0.6"' in server.log, what="access line")
    assert '"remote": "127.0.0.5"' in server.log and "203.0.113.7" not in server.log


def unit_for_this_checkout(tmp_path: Path) -> Path:
    """The shipped unit with its interpreter pointing at this checkout's (systemd checks it)."""
    unit = (DEPLOY / "codeinterview.service").read_text()
    assert UNIT_PYTHON in unit
    copy = tmp_path / "codeinterview.service"
    copy.write_text(unit.replace(UNIT_PYTHON, str(REPO / ".venv" / "bin" / "python")))
    return copy


def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = unit_for_this_checkout(tmp_path)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    text = unit.read_text()
    for setting in ("User=codeinterview", "ProtectSystem=strict", "StateDirectory=codeinterview",
                    "NoNewPrivileges=yes", "KillSignal=SIGTERM"):  # fmt: skip
        assert f"\n{setting}\n" in text, setting
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    assert float(exposure.group(1)) <= 5.0  # "OK" or better, with the sandbox's namespaces


async def test_the_units_command_line_starts_the_server(tmp_path: Path) -> None:
    """Its flags are the server's: the same command, on a free port and a scratch database."""
    text = unit_for_this_checkout(tmp_path).read_text()
    command = re.search(r"^ExecStart=(.*?)(?<!\\)$", text, re.MULTILINE | re.DOTALL)
    assert command is not None
    words = command.group(1).replace("\\\n", " ").split()
    assert words[:3] == [str(REPO / ".venv" / "bin" / "python"), "-m", "crdt_server"]
    flags = words[3:]
    flags[flags.index("--db") + 1] = str(tmp_path / "unit.db")
    async with ServerProcess([*flags, "--port", "0", "--drain-seconds", "0"]) as server:
        http = aiohttp.ClientSession()
        async with http, http.get(f"{server.url}/readyz") as response:
            assert response.status == 200
        assert await server.stop() == 0
    assert '"logger": "crdt_server.access"' in server.log  # --log-format json

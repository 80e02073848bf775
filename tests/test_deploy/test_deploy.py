"""deploy/ as an operator uses it: Debian's nginx in front of the server on loopback, with
the site file as shipped, and the systemd unit as systemd reads it."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from server_process import ServerProcess, free_port
from support.node_client import NodeClient
from support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
UNIT_PYTHON = "/opt/codeinterview/.venv/bin/python"


class Nginx:
    """Debian's nginx with a private prefix, the shipped site, and its ports rewritten."""

    def __init__(self, root: Path, upstream_port: int) -> None:
        self.root = root
        self.port = free_port()
        site = (DEPLOY / "nginx" / "codeinterview.conf").read_text()
        site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
        site = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        site = re.sub(r"listen \[::\]:80;\n", "", site)
        assert f"127.0.0.1:{self.port}" in site and f":{upstream_port};" in site
        (root / "logs").mkdir(parents=True)
        (root / "site.conf").write_text(site)
        (root / "nginx.conf").write_text(
            f"""
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {root}/logs/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/site.conf;
}}
"""
        )
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Nginx:
        self.proc = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

        async def answers() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise RuntimeError((self.root / "logs" / "error.log").read_text())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_until(answers, what="nginx listening")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def from_address(address: str) -> aiohttp.ClientSession:
    """A client on another loopback address, as another machine would be."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, Nginx]]:
    args = [
        "--db", str(tmp_path / "d.db"), "--trusted-proxies", "127.0.0.1",
        "--requests-per-second", "2", "--log-format", "json",
    ]  # fmt: skip
    async with ServerProcess(args) as server, Nginx(tmp_path / "nginx", server.port) as nginx:
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

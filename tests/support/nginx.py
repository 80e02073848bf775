"""Debian's nginx in front of server processes on loopback, with a private prefix and the
site file as shipped in deploy/ (only its ports rewritten)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from server_process import free_port

from support.waiting import wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    """Debian's nginx with a private prefix and a shipped site, its upstream servers (in
    order) and its listening port rewritten."""

    def __init__(self, root: Path, site_file: Path, upstream_ports: Sequence[int]) -> None:
        self.root = root
        self.port = free_port()
        site = site_file.read_text()
        ports = iter(upstream_ports)
        site = re.sub(r"server 127\.0\.0\.1:\d+", lambda _: f"server 127.0.0.1:{next(ports)}", site)
        assert next(ports, None) is None, "more upstream ports than the site has servers"
        site = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        site = re.sub(r"listen \[::\]:80;\n", "", site)
        assert f"127.0.0.1:{self.port}" in site
        (root / "logs").mkdir(parents=True)
        (root / "site.conf").write_text(site)
        (root / "nginx.conf").write_text(
            f"""
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 4096; }}
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

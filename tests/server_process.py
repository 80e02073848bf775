"""Run ``python -m crdt_server`` as a real subprocess, the way a user starts it."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

LISTENING = re.compile(rb"^LISTENING (http://([\d.]+):(\d+))$")


class ServerProcess:
    """A server subprocess on a free port; stopped on exit from its ``async with``."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        open_files: int | None = None,
    ) -> None:
        # Tests poll fast from one address; the rate limit has its own tests.
        self.args = ["-m", "crdt_server", "--port", "0", "--requests-per-second", "10000", *args]
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.port = 0
        self.output: list[bytes] = []
        self.open_files = open_files  # the server's RLIMIT_NOFILE, soft and hard

    async def start(self, timeout: float = 20.0) -> ServerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=None if self.open_files is None else self._limit_open_files,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError("server exited: " + b"".join(self.output).decode())
                self.output.append(line)
                match = LISTENING.match(line.strip())
                if match:
                    self.url = match.group(1).decode()
                    self.port = int(match.group(3))
                    break
        self._drain = asyncio.create_task(self._read_rest())
        return self

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.output.append(line)

    @property
    def log(self) -> str:
        return b"".join(self.output).decode(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait for the exit status."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
            await self._drain
        return code

    async def __aenter__(self) -> ServerProcess:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def free_port() -> int:
    """A port the OS just handed out (free now; for a server that must keep it across restarts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def create_session(http: aiohttp.ClientSession, server: ServerProcess, **body: Any) -> str:
    """POST /sessions on a running server; returns the new id."""
    async with http.post(f"{server.url}/api/v1/sessions", json=body) as response:
        assert response.status == 201
        session_id: str = (await response.json())["data"]["id"]
    return session_id


async def read_session(
    http: aiohttp.ClientSession, server: ServerProcess, session_id: str
) -> dict[str, Any]:
    """GET /sessions/{id} on a running server; the session's data."""
    async with http.get(f"{server.url}/api/v1/sessions/{session_id}") as response:
        assert response.status == 200
        data: dict[str, Any] = (await response.json())["data"]
    return data

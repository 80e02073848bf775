"""Idle and half-open connections are closed in bounded time, so they cannot pile up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from server_process import ServerProcess


async def closed_after(server: ServerProcess, send: bytes) -> float:
    """Open a raw TCP connection, send ``send`` and wait for the server to close it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    writer.write(send)
    await writer.drain()
    async with asyncio.timeout(10):
        while await reader.read(65536):
            pass
    writer.close()
    return time.monotonic() - started


@pytest.mark.parametrize(
    "send",
    [b"", b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"POST /api/v1/sess"],
    ids=["nothing", "half-sent headers", "half a request line"],
)
async def test_a_connection_that_never_finishes_a_request_is_closed(
    tmp_path: Path, send: bytes, http: aiohttp.ClientSession
) -> None:
    args = ["--db", str(tmp_path / "t.db"), "--handshake-timeout-seconds", "1"]
    async with ServerProcess(args) as server:
        assert await closed_after(server, send) < 5
        async with http.get(f"{server.url}/api/v1/health") as response:  # others still served
            assert response.status == 200
        assert await server.stop() == 0

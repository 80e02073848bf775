"""SIGTERM drains in order: readiness 503 first, new sockets refused, then 1012 and a flush.

A load balancer polling ``/readyz`` stops sending new traffic while the open sockets and
REST keep working; then the stock provider is closed with 1012 (service restart), and
reconnects by itself to the next process, losing nothing.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from envelope import assert_error
from server_process import ServerProcess, create_session, free_port, read_session
from support.example_process import EXAMPLES
from support.node_client import NodeClient
from support.waiting import wait_until


async def status_of(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url) as response:
        return response.status


async def test_sigterm_turns_readiness_503_refuses_new_sockets_then_closes_open_ones_with_1012(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    port, db = free_port(), str(tmp_path / "drain.db")
    args = ["--db", db, "--port", str(port), "--drain-seconds", "30"]
    async with ServerProcess(args) as first, NodeClient.start() as browser:
        sid = await create_session(http, first, code="before")
        assert await status_of(http, f"{first.url}/livez") == 200
        assert await status_of(http, f"{first.url}/readyz") == 200
        await browser.connect(f"ws://127.0.0.1:{port}/ws/sessions", sid)
        await browser.wait_synced()

        assert first.proc is not None
        first.proc.send_signal(signal.SIGTERM)

        async def not_ready() -> bool:
            return await status_of(http, f"{first.url}/readyz") == 503

        await wait_until(not_ready, what="readyz 503")
        async with http.get(f"{first.url}/readyz") as response:
            await assert_error(response, 503, "SERVICE_UNAVAILABLE")

        # draining: the open socket and REST still work, a new socket is refused
        assert await status_of(http, f"{first.url}/livez") == 200
        since = browser.mark()
        await browser.insert(len("before"), " during")
        await wait_until(
            lambda: _code_is(http, first, sid, "before during"), what="the edit while draining"
        )
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"ws://127.0.0.1:{port}/ws/sessions/{sid}")
        assert refused.value.status == 503

        # a second signal cuts the drain short: the open socket is told to reconnect
        first.proc.send_signal(signal.SIGTERM)
        closed = await browser.wait_event("closed", since=since, timeout=15)
        assert closed["code"] == 1012 and not closed["permanent"]
        assert await first.stop() == 0
        assert "server.draining" not in first.log  # text logs: the message, not the event
        assert "draining for 30.0 s" in first.log
        assert " ERROR " not in first.log  # refusing while draining is expected, not an error

        async with ServerProcess(args) as second:
            await browser.wait_synced(timeout=20)  # the provider came back on its own
            await browser.insert(len("before during"), " after")
            await wait_until(
                lambda: _code_is(http, second, sid, "before during after"), what="after restart"
            )


async def _code_is(http: aiohttp.ClientSession, server: ServerProcess, sid: str, code: str) -> bool:
    current: str = (await read_session(http, server, sid))["code"]
    return current == code


async def test_the_json_example_client_reconnects_after_a_restart_and_gets_the_state_again(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    port, db = free_port(), str(tmp_path / "restart.db")
    args = ["--db", db, "--port", str(port)]
    async with ServerProcess(args) as first:
        sid = await create_session(http, first, code="kept")
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "json_client.py"),
            first.url,
            sid,
            "--exit-after-ms",
            "30000",
            stdout=asyncio.subprocess.PIPE,
        )
        lines: list[str] = []

        async def read() -> None:
            assert watcher.stdout is not None
            async for line in watcher.stdout:
                lines.append(line.decode())

        reader = asyncio.create_task(read())
        try:
            await wait_until(lambda: any('"code_change"' in line for line in lines))
            assert await first.stop() == 0
            await wait_until(lambda: any('"reconnecting"' in line for line in lines))
            assert '"code": 1012' in next(line for line in lines if '"reconnecting"' in line)
            async with ServerProcess(args) as second:
                async with http.put(
                    f"{second.url}/api/v1/sessions/{sid}/code", json={"code": "kept, and changed"}
                ) as response:
                    assert response.status == 200
                await wait_until(
                    lambda: any("kept, and changed" in line for line in lines), timeout=20
                )
        finally:
            watcher.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(watcher.wait(), 10) == 0, lines
            await reader

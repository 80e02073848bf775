"""The Node client harness itself works, proven against the reference y-websocket server.

If these pass and a server test fails, the bug is in our server, not in the harness. The
collaboration scenarios against our server are in tests/test_crdt_server/test_live_sync.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from server_process import free_port

from .node_client import (
    INSTALL_SCRIPT,
    NODE_DIR,
    NodeClient,
    NodeCommandError,
    missing_deps_message,
    node_deps_installed,
    node_executable,
)
from .waiting import wait_until

# The reference server, pinned in tests/node's lockfile beside the clients.
REFERENCE_SERVER = NODE_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
ROOM = "abcd1234"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(node_executable() is None, reason="node is not installed"),
]


async def port_accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.fixture
def node_deps() -> None:
    """Fail loudly (not skip) when setup was forgotten: a skip would hide the suite."""
    if not node_deps_installed():
        pytest.fail(missing_deps_message())
    if not REFERENCE_SERVER.is_file():
        pytest.fail(f"{REFERENCE_SERVER} is missing: run {INSTALL_SCRIPT}")


@pytest.fixture
async def server_url(node_deps: None, tmp_path: Path) -> AsyncIterator[str]:
    """Run the reference @y/websocket-server; yield the base URL clients connect to."""
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    with open(tmp_path / "reference-server.log", "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            node_executable() or "node", str(REFERENCE_SERVER), env=env, stdout=log, stderr=log
        )
    try:
        await wait_until(lambda: port_accepts(port), timeout=15, what=f"server on :{port}")
        yield f"ws://127.0.0.1:{port}/ws/sessions"
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def connected(c: NodeClient, url: str, user: str) -> int:
    """Connect, wait for the first sync, return the client's Yjs clientID."""
    client_id = await c.connect(url, ROOM, params={"userId": user})
    await c.wait_synced()
    return client_id


async def test_one_process_hosts_several_named_clients(server_url: str) -> None:
    async with NodeClient.start() as c:
        await c.connect(server_url, ROOM, params={"userId": "u1"}, client="one")
        await c.connect(server_url, ROOM, params={"userId": "u2"}, client="two")
        await c.wait_synced(client="one")
        await c.wait_synced(client="two")
        await c.set_meta("language", "python", client="one")
        await c.insert(0, "print(1)", client="two")
        await c.wait_text("print(1)", client="one")
        await c.delete(0, 5, client="one")
        await c.wait_event("text_changed", client="two", text="(1)")
        await wait_until(lambda: c.meta(client="two"), what="meta at client two")
        assert await c.meta(client="two") == {"language": "python"}


async def test_a_bad_command_is_answered_with_an_error_and_the_process_lives_on(
    server_url: str,
) -> None:
    async with NodeClient.start() as c:
        await connected(c, server_url, "alice")
        with pytest.raises(NodeCommandError, match="past the end"):
            await c.insert(99, "x")
        assert await c.text() == ""

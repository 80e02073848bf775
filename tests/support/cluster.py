"""Helpers for tests that run several server processes sharing sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from server_process import ServerProcess, read_session

from support.node_client import NodeClient

#: ``await cluster(n, *flags)``: n processes on one database and one Redis.
Cluster = Callable[..., Awaitable[list[ServerProcess]]]


def ws_url(server: ServerProcess) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/sessions"


async def code_on(http: aiohttp.ClientSession, server: ServerProcess, session_id: str) -> str:
    """The session's code as one process's REST API reads it."""
    return str((await read_session(http, server, session_id))["code"])


async def names_seen(node: NodeClient, client: str) -> set[str]:
    """The names in the awareness states one provider sees."""
    states = await node.awareness(client=client)
    return {str(state.get("user", {}).get("name")) for state in states.values() if state}


async def one_provider_each(
    node: NodeClient, servers: list[ServerProcess], session_id: str, names: list[str]
) -> None:
    """Provider ``names[i]`` on ``servers[i]``, each synced."""
    for name, server in zip(names, servers, strict=True):
        await node.connect(ws_url(server), session_id, client=name)
    for name in names:
        await node.wait_synced(client=name)

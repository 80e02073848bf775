"""Shared fixtures: a real server on a loopback port per test, built from explicit settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from crdt_server.settings import Settings
from rest import create_app

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a fresh database file in the test's temp dir, with overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"db_path": str(tmp_path / "test.db"), "room_grace_seconds": 0.2}
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
async def make_client(settings_for: Callable[..., Settings]) -> AsyncIterator[ClientFactory]:
    """Start servers (aiohttp's TestServer: real sockets on 127.0.0.1); all stopped at the end."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(**overrides: Any) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(create_app(settings_for(**overrides))))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def api(make_client: ClientFactory) -> TestClient[web.Request, web.Application]:
    return await make_client()

"""Shared fixtures: a real server on a loopback port per test, built from explicit settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.app_client import Client, ClientFactory, SettingsFactory
from support.postgres import PrivatePostgres

from crdt_server.settings import Settings
from rest import create_app


@pytest.fixture
def settings_for(tmp_path: Path) -> SettingsFactory:
    """Settings on a fresh database file in the test's temp dir, with overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db_path": str(tmp_path / "test.db"),
            "room_grace_seconds": 0.2,
            "requests_per_second": 10_000,  # tests poll fast from one address; limits have theirs
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
async def make_client(settings_for: SettingsFactory) -> AsyncIterator[ClientFactory]:
    """Start servers (aiohttp's TestServer: real sockets on 127.0.0.1); all stopped at the end."""
    clients: list[Client] = []

    async def start(**overrides: Any) -> Client:
        client = TestClient(TestServer(create_app(settings_for(**overrides))))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def api(make_client: ClientFactory) -> Client:
    return await make_client()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP and WebSocket client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL server for the whole run, started when a test first asks."""
    server = PrivatePostgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``--db`` value naming a fresh database, once on each engine."""
    if request.param == "sqlite":
        return str(tmp_path / "test.db")
    server: PrivatePostgres = request.getfixturevalue("postgres")
    return server.database()

"""Several real server processes on one private PostgreSQL and one private Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import pytest
from server_process import ServerProcess
from support.cluster import Cluster
from support.postgres import PrivatePostgres
from support.redis_server import PrivateRedis


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    """A Redis of the test's own (tests restart and kill it)."""
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def cluster(postgres: PrivatePostgres, redis_server: PrivateRedis) -> AsyncIterator[Cluster]:
    """``await cluster(3)``: that many processes sharing a fresh database and the Redis;
    all stopped at the end."""
    database = postgres.database()
    async with AsyncExitStack() as stack:

        async def start(count: int, *extra: str) -> list[ServerProcess]:
            servers = []
            for _ in range(count):
                args = ["--db", database, "--redis-url", redis_server.url,
                        "--room-grace-seconds", "0.5", "--log-level", "info", *extra]  # fmt: skip
                servers.append(await stack.enter_async_context(ServerProcess(args)))
            return servers

        yield start

"""A real server process and one headless chromium per test (see browser_driver.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from browser_driver import Browser
from server_process import ServerProcess

SERVER_ARGS = ["--log-level", "warning", "--room-grace-seconds", "0.5"]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    async with ServerProcess(["--db", str(tmp_path / "browser.db"), *SERVER_ARGS]) as process:
        yield process
        assert await process.stop() == 0, process.log


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with Browser.start() as started:
        yield started
        assert started.page_errors() == [], started.page_errors()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session

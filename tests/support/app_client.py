"""Types of the app fixtures in tests/conftest.py, for annotating tests (a conftest is not
importable by test modules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from crdt_server.settings import Settings

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]
SettingsFactory = Callable[..., Settings]

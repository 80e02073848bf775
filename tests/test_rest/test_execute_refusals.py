"""Refusals of execution come in the order a client can act on: its own mistakes first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from envelope import assert_error

from crdt_server.settings import Settings
from execution import Executor
from rest import create_app
from rest.app import execution_limits

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def no_sandbox(settings_for: Callable[..., Settings]) -> AsyncIterator[Client]:
    """A server on a host where bubblewrap is missing."""
    settings = settings_for()
    executor = Executor(execution_limits(settings), bwrap_path="/nonexistent/bwrap")
    client = TestClient(TestServer(create_app(settings, executor=executor)))
    await client.start_server()
    yield client
    await client.close()


@pytest.mark.parametrize(
    "request_body",
    [
        {"code": "x", "language": "cobol"},
        {"code": "x"},
        {"code": "x", "language": "python", "timeoutMs": 0},
    ],
)
async def test_a_bad_run_request_is_400_even_where_no_sandbox_works(
    no_sandbox: Client, request_body: dict[str, Any]
) -> None:
    response = await no_sandbox.post("/api/v1/execute", json=request_body)
    await assert_error(response, 400, "INVALID_REQUEST")


async def test_a_good_run_request_without_a_sandbox_is_503(no_sandbox: Client) -> None:
    response = await no_sandbox.post("/api/v1/execute", json={"code": "x", "language": "python"})
    await assert_error(response, 503, "SANDBOX_UNAVAILABLE")


async def test_a_whole_float_timeout_is_an_integer_as_json_schema_says(no_sandbox: Client) -> None:
    body = {"code": "x", "language": "python", "timeoutMs": 57.0}  # past validation: 503
    await assert_error(
        await no_sandbox.post("/api/v1/execute", json=body), 503, "SANDBOX_UNAVAILABLE"
    )
    for bad in (57.5, "57", True):
        response = await no_sandbox.post("/api/v1/execute", json={**body, "timeoutMs": bad})
        await assert_error(response, 400, "INVALID_REQUEST")

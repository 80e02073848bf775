"""Logs an operator can ship: JSON lines with the request, session, connection and role
they belong to, an access line per request, and never a token, a key or the code."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from json_ws import JsonWs
from server_process import ServerProcess

from crdt_server.logs import CONNECTION_ID, configure, job_context

API_KEY = "ops-test-key-5f1c2a9e"
CODE = "print('the candidate''s secret answer 7431')"


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line but the LISTENING banner, each parsed as one JSON object."""
    lines = [line for line in log.splitlines() if line and not line.startswith("LISTENING ")]
    return [json.loads(line) for line in lines]


async def test_json_logs_carry_ids_and_roles_and_never_a_token_a_key_or_the_code(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    args = ["--db", str(tmp_path / "logs.db"), "--log-format", "json", "--api-keys", API_KEY]
    async with ServerProcess(args) as server:
        created = await http.post(
            f"{server.url}/api/v1/sessions",
            json={"language": "python"},
            headers={"Authorization": f"Bearer {API_KEY}", "X-Request-Id": "create-1"},
        )
        body = (await created.json())["data"]
        sid, token = body["id"], body["tokens"]["interviewer"]
        read = await http.get(
            f"{server.url}/api/v1/sessions/{sid}",
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": "read-1"},
        )
        assert read.status == 200 and read.headers["X-Request-Id"] == "read-1"
        ws_url = server.url.replace("http", "ws", 1)
        query = f"protocol=json&token={token}"
        socket = await JsonWs.connect(http, f"{ws_url}/ws/sessions/{sid}?{query}")
        await socket.expect("code_change")
        await socket.send("code_change", {"code": CODE})
        await socket.close()
        refused = await http.get(f"{server.url}/api/v1/sessions/{sid}?token=not-a-token-8812")
        assert refused.status == 401
        assert await server.stop() == 0

    records = json_lines(server.log)
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    access = [r for r in records if r.get("event") == "http.request"]
    by_id = {r["request_id"]: r for r in access}
    assert by_id["create-1"]["status"] == 201
    assert by_id["create-1"]["route"] == "/api/v1/sessions"
    assert (
        by_id["read-1"] | {"session_id": sid, "role": "interviewer", "status": 200}
        == by_id["read-1"]
    )
    assert by_id["read-1"]["route"] == "/api/v1/sessions/{sessionId}"
    upgraded = next(r for r in access if r["status"] == 101)
    assert upgraded["session_id"] == sid and upgraded["role"] == "interviewer"
    assert isinstance(upgraded["connection_id"], int) and upgraded["close_code"] == 1000
    assert upgraded["path"] == f"/ws/sessions/{sid}"  # the path: the query held the token
    assert any(r["level"] == "INFO" and r["logger"] == "crdt_server.rooms" for r in records)

    log = server.log
    for secret in (API_KEY, token, "not-a-token-8812", "secret answer 7431"):
        assert secret not in log


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back to pytest as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_secret_in_any_logged_message_is_redacted_in_both_formats(
    root_logger: logging.Logger,
) -> None:
    """aiohttp quotes a bad request line (query string and all) in its own log lines."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJhYmMxMjM0NSJ9.c2lnbmF0dXJlLWJ5dGVz"
    message = (
        f"Bad request GET /ws/sessions/x?protocol=yjs&token=raw-8812 {jwt} "
        "Authorization: Bearer key-77aa webhook whsec_c2VjcmV0LWJ5dGVz"
    )
    for log_format in ("text", "json"):
        out = io.StringIO()
        configure("info", log_format, out)
        logging.getLogger("aiohttp.server").info("%s", message)
        text = out.getvalue()
        for secret in ("raw-8812", jwt, "key-77aa", "c2VjcmV0LWJ5dGVz"):
            assert secret not in text, (log_format, text)
        assert "protocol=yjs" in text and "token=[redacted]" in text


def test_a_job_started_by_a_connection_logs_under_its_session_not_that_connection(
    root_logger: logging.Logger,
) -> None:
    captured = io.StringIO()
    configure("info", "text", captured)
    log = logging.getLogger("crdt_server.test")

    def serve_a_socket() -> None:
        CONNECTION_ID.set(41)
        log.info("serving")
        job_context("abcd1234").run(log.info, "room job")

    contextvars.copy_context().run(serve_a_socket)  # the id stays out of the other tests
    first, second = captured.getvalue().splitlines()
    assert first.endswith("serving [connection_id=41]")
    assert second.endswith("room job [session_id=abcd1234]")

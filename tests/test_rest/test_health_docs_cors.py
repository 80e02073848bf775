"""Health, the OpenAPI document and docs page, CORS, request ids and the 500 path."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from envelope import assert_error
from support.app_client import ClientFactory, SettingsFactory

from rest import create_app
from rest.app import OPERATIONS
from rest.keys import STORAGE
from storage import SQLiteStorage

Client = TestClient[web.Request, web.Application]


async def test_health_reports_version_uptime_and_database(api: Client) -> None:
    response = await api.get("/api/v1/health")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["redis"] == "off"  # one process: nothing shared
    assert isinstance(body["timestamp"], int) and body["uptimeMs"] >= 0 and body["version"]


async def test_health_is_503_with_the_envelope_when_the_database_does_not_answer(
    api: Client,
) -> None:
    await api.app[STORAGE].close()
    body = await assert_error(await api.get("/api/v1/health"), 503, "SERVICE_UNAVAILABLE")
    assert "database" in body["error"]
    await api.app[STORAGE].open()  # let the app shut down normally


async def test_the_openapi_document_covers_every_operation(api: Client) -> None:
    response = await api.get("/api/v1/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"] == "3.1.0"
    for op in OPERATIONS:
        assert op.method.lower() in spec["paths"]["/api/v1" + op.path], op.path
    session = spec["components"]["schemas"]["Session"]
    assert {"createdAt", "creatorId", "participants"} <= set(session["properties"])
    create = spec["paths"]["/api/v1/sessions"]["post"]
    assert "201" in create["responses"] and "400" in create["responses"]


async def test_the_openapi_document_says_what_the_server_accepts(api: Client) -> None:
    spec = await (await api.get("/api/v1/openapi.json")).json()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                assert "pattern" in param["schema"], (method, path, param["name"])
    run = spec["components"]["schemas"]["ExecuteRequest"]["properties"]["language"]
    assert {"python", "javascript", "java"} <= set(run["enum"])
    rotate = spec["paths"]["/api/v1/sessions/{sessionId}/invites/rotate"]["post"]
    assert rotate["requestBody"]["required"] is True  # it names the role
    create = spec["paths"]["/api/v1/sessions"]["post"]
    assert create["requestBody"]["required"] is False  # every field has a default
    refused = await api.get("/api/v1/sessions/0")  # outside sessionId's pattern
    assert refused.status == 400


def _keys(node: Any) -> set[str]:
    """Every key of every object in a JSON document."""
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


async def test_the_openapi_document_states_bounds_as_json_schema_keywords(api: Client) -> None:
    """A bound pydantic could not place (``ge`` on an optional field) was emitted under its
    own name, which no JSON Schema reader knows: schemathesis sent ``timeoutMs: 0``, valid to
    the document, and got 400."""
    spec = await (await api.get("/api/v1/openapi.json")).json()
    schemas = [op for methods in spec["paths"].values() for op in methods.values()]
    assert not {"ge", "gt", "le", "lt"} & _keys([spec["components"], schemas])
    timeout = spec["components"]["schemas"]["ExecuteRequest"]["properties"]["timeoutMs"]
    assert {"type": "integer", "minimum": 1} in timeout["anyOf"]


async def test_the_docs_page_and_its_assets_are_served_without_internet(api: Client) -> None:
    page = await api.get("/docs")
    assert page.status == 200
    html = await page.text()
    assert "/api/v1/openapi.json" in html and "http" not in html.replace("/api/v1", "")
    for asset in ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]:
        response = await api.get(asset)
        assert response.status == 200 and len(await response.read()) > 1000


async def test_a_localhost_origin_gets_cors_headers_and_preflight_is_answered(api: Client) -> None:
    origin = "http://localhost:5173"
    response = await api.options(
        "/api/v1/sessions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    response = await api.get("/api/v1/health", headers={"Origin": origin})
    assert response.headers["Access-Control-Allow-Origin"] == origin


async def test_a_foreign_origin_gets_no_cors_headers_unless_configured(
    make_client: ClientFactory,
) -> None:
    api = await make_client()
    response = await api.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    api = await make_client(allowed_origins="https://app.example")
    response = await api.get("/api/v1/health", headers={"Origin": "https://app.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@pytest.mark.parametrize(
    "given", ["abc-123", "A.b_c-9", "0123abcd", "x" * 64, "7f3c2b1e-4d5a-4b6c-8e9f-0a1b2c3d4e5f"]
)
async def test_a_well_formed_request_id_is_echoed(api: Client, given: str) -> None:
    response = await api.get("/api/v1/health", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given
    missing = await api.get("/api/v1/nowhere", headers={"X-Request-Id": given})
    assert missing.status == 404 and missing.headers["X-Request-Id"] == given


@pytest.mark.parametrize(
    "given",
    [
        "x" * 65,  # too long
        "bad id",  # a space
        "abc;def",
        "abc; Set-Cookie: session=stolen",  # header injection attempt
        "abc,def",
        "abc\tdef",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "abc\u00e9",  # not ASCII
        " ",
    ],
)
async def test_a_malformed_request_id_is_replaced_by_a_fresh_safe_token(
    api: Client, given: str
) -> None:
    ids = []
    for path in ["/api/v1/health", "/api/v1/health", "/api/v1/nowhere"]:
        response = await api.get(path, headers={"X-Request-Id": given})
        rid = response.headers["X-Request-Id"]
        assert rid != given.strip() and SAFE_REQUEST_ID.fullmatch(rid), rid
        assert "Set-Cookie" not in response.headers
        ids.append(rid)
    assert len(set(ids)) == len(ids), ids  # fresh for every request, not a fixed fallback


async def test_a_request_without_an_id_gets_a_fresh_safe_token(api: Client) -> None:
    first, second = await api.get("/api/v1/health"), await api.get("/api/v1/health")
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(SAFE_REQUEST_ID.fullmatch(rid) for rid in ids) and ids[0] != ids[1], ids


class BrokenStorage(SQLiteStorage):
    async def get_session(self, session_id: str) -> Any:
        raise RuntimeError("disk on fire at /secret/path")


async def test_a_crash_is_a_500_envelope_with_a_logged_request_id_and_no_internals(
    settings_for: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for()
    client = TestClient(TestServer(create_app(settings, BrokenStorage(settings.db_path))))
    await client.start_server()
    try:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/api/v1/sessions/0123abcd")
        body = await assert_error(response, 500, "INTERNAL_ERROR")
    finally:
        await client.close()
    request_id = response.headers["X-Request-Id"]
    assert body["requestId"] == request_id
    assert "secret" not in body["error"] and "disk" not in body["error"]
    assert any(request_id in record.getMessage() for record in caplog.records)

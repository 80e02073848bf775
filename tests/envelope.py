"""The one check of the error envelope, used on every error path."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse


async def assert_error(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with ``{"success": false, "error": str, "code": code}``."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/json", text
    body = await response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in text and "<html" not in text.lower()
    assert response.headers.get("X-Request-Id")
    return dict(body)

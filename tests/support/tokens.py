"""Request headers that carry a token or an API key, and the key test servers take."""

from __future__ import annotations


def bearer(token: str) -> dict[str, str]:
    """``Authorization: Bearer <token>``."""
    return {"Authorization": f"Bearer {token}"}


#: The API key of the browser tests' server with tokens (the ``secured`` fixture).
TEST_API_KEY = "browser-test-key"

"""Request headers that carry a token or an API key."""

from __future__ import annotations


def bearer(token: str) -> dict[str, str]:
    """``Authorization: Bearer <token>``."""
    return {"Authorization": f"Bearer {token}"}

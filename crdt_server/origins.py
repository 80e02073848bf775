"""Which browser origins may talk to this server: CORS and WebSocket upgrades alike.

A request without an ``Origin`` header is not from a browser page and is not judged here;
a page served by this server itself (same host) is always allowed.
"""

from __future__ import annotations

import re

_LOCALHOST = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")


class OriginPolicy:
    """``--allowed-origins``: exact origins, ``localhost`` (any loopback origin), or ``*``."""

    def __init__(self, origins: list[str]) -> None:
        self.any = "*" in origins
        self.localhost = "localhost" in origins
        self.exact = {o.rstrip("/") for o in origins if o not in ("*", "localhost")}

    def allows(self, origin: str, host: str | None = None) -> bool:
        """Whether a page of ``origin`` may call us; ``host``: the request's own Host."""
        if host is not None and origin.lower().split("://", 1)[-1] == host.lower():
            return True
        return self.any or origin in self.exact or bool(self.localhost and _LOCALHOST.match(origin))

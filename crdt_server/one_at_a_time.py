"""Work done one request at a time, with a bounded line: the ones past it are refused at once
(503) instead of piling up behind the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .core.errors import Unavailable


class OneAtATime:
    """At most one holder; ``line`` counts the holder and those waiting."""

    def __init__(self, line: int, busy: str) -> None:
        self._lock = asyncio.Lock()
        self._line = line
        self._in_line = 0
        self._busy = busy

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._in_line >= self._line:
            raise Unavailable(self._busy)
        self._in_line += 1
        try:
            async with self._lock:
                yield
        finally:
            self._in_line -= 1

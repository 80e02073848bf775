"""Typing that proves nothing was lost or duplicated: each provider inserts numbered tokens
at the start of the code (so no token can land inside another), and at the end every token
typed is in the text exactly once."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from support.node_client import NodeClient
from support.waiting import wait_until

TOKEN = re.compile(r"<(\w+):(\d+)>")


async def type_tokens(
    node: NodeClient, client: str, count: int, *, pause: float = 0.01, start: int = 0
) -> None:
    for n in range(start, start + count):
        await node.insert(0, f"<{client}:{n}>", client=client)
        await asyncio.sleep(pause)


async def converged(node: NodeClient, clients: list[str]) -> str:
    async def same() -> str | None:
        texts = {await node.text(client=client) for client in clients}
        return texts.pop() if len(texts) == 1 else None

    return await wait_until(same, timeout=30, what="every provider to converge")


def assert_each_token_once(text: str, typed: dict[str, int]) -> None:
    """``typed``: tokens 0..n-1 of each client were typed."""
    seen = Counter(TOKEN.findall(text))
    expected = Counter((client, str(n)) for client, count in typed.items() for n in range(count))
    assert TOKEN.sub("", text) == "", "the text holds something besides whole tokens"
    assert seen == expected, (expected - seen, seen - expected)

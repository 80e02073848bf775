"""Repro: a stock Yjs client edits inside a surrogate pair and the server diverges from its clients.

    .venv/bin/python bench/surrogate_split_repro.py [--tree /tmp/wt-soak]

Found by bench/crash_rounds.py (an index read from the client a moment earlier fell inside an
emoji once remote edits had arrived). Two stock ``WebsocketProvider``s (tests/node/yclient.mjs)
share ``a😀b``; B inserts ``X`` at UTF-16 index 2, then (in a second session) deletes one unit
there, i.e. between the two halves of U+1F600. Yjs replaces both halves with U+FFFD in the
clients; the server's pycrdt document reads otherwise, a fresh client syncing from the server
gets a third text, and the same Yjs update decoded by a bare pycrdt ``Doc`` (no server code)
shows where it comes from. Exit status 1 while the texts disagree.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from live_server import REPO, LiveServer, use_tree
from pycrdt import Doc, Text


async def one_case(
    http: aiohttp.ClientSession, server: LiveServer, edit: str, node: Any
) -> dict[str, str]:
    async with http.post(f"{server.url}/api/v1/sessions", json={"code": ""}) as response:
        session_id = (await response.json())["data"]["id"]
    url = f"ws://127.0.0.1:{server.port}/ws/sessions"
    await node.connect(url, session_id, client="a")
    await node.wait_synced(client="a")
    await node.insert(0, "a\U0001f600b", client="a")
    await node.connect(url, session_id, client="b")
    await node.wait_synced(client="b")
    await node.wait_text("a\U0001f600b", client="b")
    if edit == "insert":
        await node.insert(2, "X", client="b")  # between the halves of U+1F600
    else:
        await node.delete(2, 1, client="b")
    await asyncio.sleep(1.0)
    texts = {"client A": await node.text(client="a"), "client B": await node.text(client="b")}
    async with http.get(f"{server.url}/api/v1/sessions/{session_id}") as response:
        texts["server (REST GET)"] = (await response.json())["data"]["code"]
    await node.connect(url, session_id, client="fresh")
    await node.wait_synced(client="fresh")
    await asyncio.sleep(0.3)
    texts["fresh client"] = await node.text(client="fresh")
    bare: Doc[Any] = Doc()
    bare.apply_update(await node.encode_state(client="b"))
    texts["B's Yjs update in a bare pycrdt Doc"] = str(bare.get("code", type=Text))
    for name in ("a", "b", "fresh"):
        await node.destroy(client=name)
    return texts


async def main(tree: Path) -> int:
    tree = use_tree(tree)
    from support.node_client import NodeClient

    scratch = Path(tempfile.mkdtemp(prefix="surrogate-repro."))
    server = LiveServer(tree, scratch / "repro.db", scratch / "server.log", [])
    await server.start()
    agree = True
    try:
        async with aiohttp.ClientSession() as http, NodeClient.start() as node:
            for edit in ("insert", "delete"):
                print(f"B {edit}s at UTF-16 index 2 of 'a\U0001f600b':")
                texts = await one_case(http, server, edit, node)
                for who, text in texts.items():
                    print(f"  {who:38} {text!r}")
                agree &= len(set(texts.values())) == 1
    finally:
        await server.stop()
    print("texts agree" if agree else f"DIVERGED (server log: {server.log_path})")
    return 0 if agree else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=REPO, help="checkout the server runs from")
    sys.exit(asyncio.run(main(parser.parse_args().tree)))

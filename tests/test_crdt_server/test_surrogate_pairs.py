"""An edit between the two UTF-16 halves of a character is refused: pycrdt would apply it
elsewhere than Yjs does, and the server and its clients would disagree for good."""

from __future__ import annotations

import pytest
from raw_client import RawClient
from support.app_client import Client
from support.node_client import NodeClient
from support.waiting import wait_until

pytestmark = pytest.mark.node


async def rest_code(api: Client, sid: str) -> str:
    return str((await (await api.get(f"/api/v1/sessions/{sid}")).json())["data"]["code"])


@pytest.mark.parametrize("edit", ["insert", "delete"])
async def test_a_stock_client_cutting_an_emoji_is_refused_and_everyone_else_agrees(
    api: Client, edit: str
) -> None:
    created = await api.post("/api/v1/sessions", json={"code": "a😀b"})
    sid = (await created.json())["data"]["id"]
    base = str(api.make_url("/ws/sessions")).replace("http", "ws")
    async with NodeClient.start() as node:
        await node.connect(base, sid, client="cutter")
        await node.connect(base, sid, client="bystander")
        await node.wait_synced(client="cutter")
        await node.wait_synced(client="bystander")
        mark = node.mark()
        if edit == "insert":
            await node.insert(2, "X", client="cutter")  # between the halves of the emoji
        else:
            await node.delete(2, 1, client="cutter")
        closed = await node.wait_event("closed", client="cutter", since=mark)
        assert closed["code"] == 1007
        await node.insert(0, "ok ", client="bystander")  # the room goes on
        await node.wait_text("ok a😀b", client="bystander")

        async def rest_agrees() -> bool:
            return await rest_code(api, sid) == "ok a😀b"

        await wait_until(rest_agrees, what="REST to show the bystander's edit only")
        fresh = await RawClient.connect(api.session, str(api.make_url(f"/ws/sessions/{sid}")))
        await fresh.handshake()
        assert str(fresh.text) == "ok a😀b"

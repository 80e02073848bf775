"""deploy/nginx/codeinterview-cluster.conf as shipped, in front of three processes: one
session's sockets go to one process, and when it is killed they come back through nginx on
another, with every token typed anywhere in the text once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from server_process import ServerProcess
from support.cluster import Cluster, ws_url
from support.nginx import Nginx
from support.node_client import NodeClient
from support.typed_tokens import assert_each_token_once, converged, type_tokens
from support.waiting import wait_until

pytestmark = pytest.mark.node

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "codeinterview-cluster.conf"


def loaded_on(servers: list[ServerProcess], session_id: str) -> list[ServerProcess]:
    return [s for s in servers if f"room {session_id} loaded" in s.log]


async def test_a_session_stays_on_one_process_behind_nginx_and_fails_over_when_it_dies(
    cluster: Cluster, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    servers = await cluster(3)
    async with Nginx(tmp_path / "nginx", SITE, [s.port for s in servers]) as nginx:
        async with http.post(f"{nginx.url}/api/v1/sessions", json={}) as created:
            assert created.status == 201
            sid = (await created.json())["data"]["id"]
        behind = nginx.url.replace("http", "ws", 1) + "/ws/sessions"
        async with NodeClient.start() as node:
            for client in ("a", "b"):
                await node.connect(behind, sid, client=client)
                await node.wait_synced(client=client)
            chosen = await wait_until(
                lambda: loaded_on(servers, sid), what="the room loaded behind nginx"
            )
            assert len(chosen) == 1, "one session's sockets went to several processes"
            victim = chosen[0]
            other = next(s for s in servers if s is not victim)
            await node.connect(ws_url(other), sid, client="direct")
            await node.wait_synced(client="direct")
            typing = [asyncio.create_task(type_tokens(node, c, 60)) for c in ("a", "b", "direct")]
            await wait_until(
                lambda: any("<a:15>" in str(e.get("text")) for e in node.events),
                timeout=20,
                what="some typing through nginx",
            )
            mark = node.mark()
            await victim.stop(signal.SIGKILL)
            await asyncio.gather(*typing)
            for client in ("a", "b"):  # back through nginx, on another process
                await node.wait_event("synced", client=client, synced=True, since=mark, timeout=20)
            text = await converged(node, ["a", "b", "direct"])
            assert_each_token_once(text, {"a": 60, "b": 60, "direct": 60})
            async with http.get(f"{nginx.url}/api/v1/sessions/{sid}") as response:
                assert response.status == 200
                assert (await response.json())["data"]["code"] == text

"""What happens to a session on one process reaches its sockets on every process: deletion
and expiry close them with 4410, the end of the interview freezes the room everywhere, and
a process that dies takes its clients' cursors with it."""

from __future__ import annotations

import re
import signal

import aiohttp
import pytest
from json_ws import JsonWs
from server_process import ServerProcess, create_session
from support.cluster import Cluster, names_seen, one_provider_each, ws_url
from support.node_client import NodeClient
from support.waiting import wait_until

pytestmark = pytest.mark.node


async def refused_updates(http: aiohttp.ClientSession, server: ServerProcess) -> float:
    async with http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    found = re.search(r'^codeinterview_updates_total\{outcome="refused"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_deleting_on_one_process_closes_the_sockets_on_every_process_with_4410(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    servers = await cluster(3)
    sid = await create_session(http, servers[0])
    async with NodeClient.start() as node:
        await one_provider_each(node, servers, sid, ["c0", "c1", "c2"])
        mark = node.mark()
        async with http.delete(f"{servers[1].url}/api/v1/sessions/{sid}") as response:
            assert response.status == 204
        for n in range(3):
            closed = await node.wait_event("closed", client=f"c{n}", since=mark)
            assert closed["code"] == 4410 and closed["reason"], closed


async def test_an_expired_session_closes_its_sockets_on_every_process(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2, "--session-ttl-seconds", "4", "--cleanup-interval-seconds",
                                  "0.5")  # fmt: skip
    sid = await create_session(http, first)
    async with NodeClient.start() as node:
        await one_provider_each(node, [first, second], sid, ["a", "b"])
        for client in ("a", "b"):  # whichever process deleted it, both close their sockets
            closed = await node.wait_event("closed", client=client, timeout=15)
            assert closed["code"] == 4410, closed


async def test_ending_the_interview_on_one_process_freezes_the_room_on_the_others(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first)
    async with NodeClient.start() as node:
        await one_provider_each(node, [first, second], sid, ["a", "b"])
        await node.insert(0, "before the end\n", client="b")
        await node.wait_text("before the end\n", client="a")
        async with http.post(f"{first.url}/api/v1/sessions/{sid}/end") as response:
            assert response.status == 200, await response.text()

        async def b_sees_the_end() -> bool:
            interview = (await node.meta(client="b")).get("interview") or {}
            return bool(interview.get("endedAt"))

        await wait_until(b_sees_the_end, timeout=10, what="the end on the second process")
        refused = await refused_updates(http, second)
        await node.insert(0, "after the end\n", client="b")

        async def the_second_refused_it() -> bool:
            return await refused_updates(http, second) > refused

        await wait_until(the_second_refused_it, timeout=10, what="the late edit refused")
        assert await node.text(client="a") == "before the end\n"


async def test_a_dead_process_takes_its_clients_cursors_with_it(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first)
    async with NodeClient.start() as node:
        await one_provider_each(node, [first, second], sid, ["ada", "cy"])
        await node.awareness_set({"user": {"name": "Cy"}}, client="cy")

        async def ada_sees_cy() -> bool:
            return "Cy" in await names_seen(node, "ada")

        await wait_until(ada_sees_cy, timeout=10, what="Cy's cursor on the first process")
        await second.stop(signal.SIGKILL)  # no close frame, no removal: the process is gone
        await node.disconnect(client="cy")  # Cy's provider stops retrying the dead process

        async def cy_gone() -> bool:
            return not await ada_sees_cy()

        # the relay gives a silent process up after 10 s; Yjs itself would wait 30 s
        await wait_until(cy_gone, timeout=20, what="Cy's cursor to go with its process")


async def open_sockets(http: aiohttp.ClientSession, server: ServerProcess) -> float:
    async with http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    found = re.findall(r"^codeinterview_connections\{[^}]*\} (\S+)$", text, re.M)
    return sum(float(value) for value in found)


async def online_on(
    http: aiohttp.ClientSession, server: ServerProcess, sid: str, user: str
) -> bool:
    async with http.get(f"{server.url}/api/v1/sessions/{sid}/participants") as response:
        body = await response.json()
    return bool(next(p for p in body["participants"] if p["id"] == user)["isOnline"])


async def test_a_participant_is_online_while_any_process_has_a_socket_of_theirs(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    first, second = await cluster(2)
    sid = await create_session(http, first)
    for user in ("u0", "u1"):
        async with http.post(
            f"{first.url}/api/v1/sessions/{sid}/join", json={"user": {"id": user, "name": user}}
        ) as response:
            assert response.status in (200, 201), await response.text()
    observer = await JsonWs.connect(http, f"{ws_url(second)}/{sid}?protocol=json&userId=u1")
    async with NodeClient.start() as node:
        await node.connect(ws_url(first), sid, {"userId": "u0"}, client="here")
        await node.wait_synced(client="here")
        joined = await observer.expect("user_join")  # a JSON client on the other process
        assert joined["data"]["user"]["id"] == "u0"
        await node.connect(ws_url(second), sid, {"userId": "u0"}, client="there")
        await node.wait_synced(client="there")
        await node.destroy(client="here")  # u0 still has a socket, on the second process

        async def gone_from_the_first() -> bool:
            return await open_sockets(http, first) == 0

        await wait_until(gone_from_the_first, timeout=10, what="the first socket closed")
        await wait_until(lambda: online_on(http, first, sid, "u0"), timeout=10, what="online")
        await node.destroy(client="there")  # the last one, anywhere
        left = await observer.expect("user_leave")
        assert left["data"]["userId"] == "u0"
        for server in (first, second):
            assert not await online_on(http, server, sid, "u0")
        # u0 joined once and left once: the first socket's close was not a departure
        kinds = [e["type"] for e in observer.events if e["type"] in ("user_join", "user_leave")]
        assert kinds == ["user_join", "user_leave"], kinds
    await observer.ws.close()

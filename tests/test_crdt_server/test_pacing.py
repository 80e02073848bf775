"""A socket past its message or byte rate is slowed to it; the others are not."""

from __future__ import annotations

import time

from json_ws import JsonWs
from raw_client import RawClient
from support.app_client import ClientFactory
from support.waiting import wait_until

from crdt_server.core.quota import Pacer, WindowCounter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_pacer_lets_a_burst_through_then_holds_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(10, 1000, burst_bytes=0, clock=clock)
    assert [pacer.delay(1) for _ in range(20)] == [0.0] * 20  # the burst: two seconds' worth
    assert pacer.delay(1) == 0.1  # then one message per 1/10 s
    clock.now = 10.0
    assert pacer.delay(1) == 0.0  # refilled
    assert pacer.delay(2100) > 0  # bytes count too (burst 2000)


def test_a_window_counter_counts_per_key_and_forgets_old_windows() -> None:
    clock = Clock()
    counter = WindowCounter(2, 60, max_keys=2, clock=clock)
    assert counter.take("a") is None and counter.take("a") is None
    assert counter.take("a") == 60 and counter.take("b") is None
    clock.now = 61
    assert counter.take("a") is None
    counter.take("c")  # a third key: the least recently used one goes
    assert counter.take("b") is None  # b was forgotten, so it starts a new window


async def test_a_flooding_json_client_is_slowed_while_a_typist_is_not(
    make_client: ClientFactory,
) -> None:
    api = await make_client(socket_messages_per_second=50)
    sid = str((await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"])
    base = str(api.make_url(f"/ws/sessions/{sid}"))
    flooder = await JsonWs.connect(api.session, base + "?protocol=json")
    await flooder.expect("code_change")
    started = time.monotonic()
    for i in range(300):  # a burst of 100 goes through, then 50 a second: >= 4 s in all
        await flooder.send("code_change", {"code": f"flood {i}\n"})
    typist = await RawClient.connect(api.session, base)
    await typist.handshake()
    await typist.edit(0, "typed\n")
    watcher = await RawClient.connect(api.session, base)
    await watcher.handshake()

    async def flood_done() -> bool:
        body = await (await api.get(f"/api/v1/sessions/{sid}")).json()
        return "flood 299\n" in body["data"]["code"]

    assert "typed\n" in str(watcher.text)  # the typist got through before the flood ended
    assert not await flood_done()
    await wait_until(flood_done, timeout=30, what="the paced flood to finish")
    assert time.monotonic() - started >= 3.5
    await flooder.close()

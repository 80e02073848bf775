"""A socket past its message or byte rate is slowed to it; the others are not."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from json_ws import JsonWs
from raw_client import RawClient
from support.app_client import ClientFactory
from support.waiting import wait_until

from crdt_server import protocol
from crdt_server.core.quota import Pacer, WindowCounter
from crdt_server.json_bridge import JsonClient
from crdt_server.room import Room
from crdt_server.turns import LoopShares, Turn


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


class LoopTicks:
    """Counts the event loop's iterations: a callback that puts itself back each time runs
    once per iteration, so two things that saw the same count ran with no poll between."""

    def __init__(self) -> None:
        self.count = 0
        self._loop = asyncio.get_running_loop()
        self._running = True
        self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        if self._running:
            self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._running = False


def most_in_one_iteration(seen: list[int]) -> int:
    return max(Counter(seen).values())


def test_a_turn_lets_the_others_run_once_its_budget_is_used() -> None:
    clock = Clock()
    turn = Turn(budget_s=0.001, clock=clock)
    paused: list[bool] = []

    async def frame(cost: float, wait: float = 0.0) -> None:
        await turn.start()
        clock.now += cost
        task = asyncio.ensure_future(turn.end(wait))
        await asyncio.sleep(0)  # one step: a turn that pauses is not done yet
        paused.append(not task.done())
        await task

    async def frames() -> None:
        for cost in (0.0004, 0.0004, 0.0004, 0.002, 0.0001):
            await frame(cost)
        await frame(0.0001, wait=0.001)  # slowed to its rate: that is a pause too
        await frame(0.0009)  # so the count started over

    asyncio.run(frames())
    assert paused == [False, False, True, True, False, True, False]


def test_a_clients_loop_share_lets_a_burst_through_then_makes_its_sockets_wait() -> None:
    clock = Clock()
    shares = LoopShares(0.5, burst_s=0.05, clock=clock)
    assert shares.charge("a", 0.03) == 0.0 and shares.charge("a", 0.02) == 0.0  # the burst
    assert shares.charge("a", 0.01) == pytest.approx(0.02)  # 10 ms in debt at half a second
    assert shares.charge("b", 0.05) == 0.0  # another client has its own
    clock.now = 0.02
    assert shares.charge("a", 0.0) == 0.0  # paid back
    clock.now = 10.0
    assert shares.charge("a", 0.06) == pytest.approx(0.02)  # refilled to the burst, no more


def test_a_clients_other_sockets_wait_out_its_debt_before_their_next_frame() -> None:
    clock = Clock()
    shares = LoopShares(0.5, burst_s=0.01, clock=clock)
    second, bystander = Turn(shares, "a", clock=clock), Turn(shares, "b", clock=clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    async def frames() -> None:
        shares.charge("a", 0.03)  # one socket of "a" handled a 30 ms frame: 20 ms in debt
        await bystander.start()  # another client waits for nothing
        assert slept == []
        await second.start()  # the same client's next socket waits before its frame
        assert slept == [pytest.approx(0.04)] and second.held_back == 1
        await second.start()  # paid back
        assert len(slept) == 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("crdt_server.turns.asyncio.sleep", sleep)
        asyncio.run(frames())


def test_a_clients_socket_waits_again_when_a_sibling_that_woke_with_it_ran_first() -> None:
    clock = Clock()
    shares = LoopShares(0.5, burst_s=0.01, clock=clock)
    turn = Turn(shares, "a", clock=clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        if len(slept) == 1:  # a sibling socket woke at the same moment and ran a 30 ms frame
            shares.charge("a", 0.03)

    async def frames() -> None:
        shares.charge("a", 0.03)
        await turn.start()
        assert slept == [pytest.approx(0.04), pytest.approx(0.06)] and turn.held_back == 1
        assert shares.debt("a") == 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("crdt_server.turns.asyncio.sleep", sleep)
        asyncio.run(frames())


async def test_a_json_socket_with_a_backlog_lets_the_loop_poll_between_its_events(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_client()
    sid = str((await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"])
    url = str(api.make_url(f"/ws/sessions/{sid}?protocol=json"))
    flooder = await JsonWs.connect(api.session, url)
    listener = await JsonWs.connect(api.session, url)
    await flooder.expect("code_change")
    await listener.expect("code_change")
    ticks, handled = LoopTicks(), []
    receive = JsonClient.receive

    async def counted(self: JsonClient, raw: str) -> None:
        handled.append(ticks.count)
        await receive(self, raw)

    monkeypatch.setattr(JsonClient, "receive", counted)
    for i in range(150):  # within the socket's burst, all sent before the server reads one
        await flooder.send("code_change", {"code": f"v = {i}\n"})
    await listener.expect("code_change", lambda data: data["code"] == "v = 149\n", timeout=10)
    ticks.stop()
    assert len(handled) == 150
    assert most_in_one_iteration(handled) <= 30, Counter(handled).most_common(3)
    await flooder.close()
    await listener.close()


async def test_a_yjs_socket_with_a_backlog_lets_the_loop_poll_between_its_updates(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_client()
    sid = str((await (await api.post("/api/v1/sessions", json={})).json())["data"]["id"])
    base = str(api.make_url(f"/ws/sessions/{sid}"))
    flooder = await RawClient.connect(api.session, base)
    await flooder.handshake()
    ticks, handled = LoopTicks(), []
    receive = Room.receive

    def counted(self: Room, *args: Any, **kwargs: Any) -> int:
        handled.append(ticks.count)
        return receive(self, *args, **kwargs)

    monkeypatch.setattr(Room, "receive", counted)
    frames = []
    for i in range(150):  # built first, then sent at once: the server reads them together
        before = flooder.doc.get_state()
        flooder.text.insert(i, str(i % 10))
        frames.append(protocol.sync_update(flooder.doc.get_update(before)))
    for frame in frames:
        await flooder.ws.send_bytes(frame)

    async def all_arrived() -> bool:
        body = await (await api.get(f"/api/v1/sessions/{sid}")).json()
        return len(body["data"]["code"]) == 150

    await wait_until(all_arrived, timeout=10, what="the 150 updates to land")
    ticks.stop()
    assert len(handled) == 150
    assert most_in_one_iteration(handled) <= 30, Counter(handled).most_common(3)
    await flooder.ws.close()

"""GET /metrics: the Prometheus text format, moving as traffic flows, for operators only."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from envelope import assert_error
from prometheus_client.parser import text_string_to_metric_families
from raw_client import RawClient
from server_process import ServerProcess
from support.app_client import Client, ClientFactory
from support.waiting import wait_until

from crdt_server import protocol

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, read with prometheus-client's own parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def scrape(api: Client) -> tuple[Samples, str]:
    response = await api.get("/metrics")
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    text = await response.text()
    return parse(text), text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_requests_sockets_updates_and_rooms_without_naming_a_session(
    api: Client, http: aiohttp.ClientSession
) -> None:
    created = await api.post("/api/v1/sessions", json={"code": "hi"})
    sid = (await created.json())["data"]["id"]
    assert (await api.get("/api/v1/sessions/nope-not-a-session")).status in (400, 404)
    url = str(api.make_url(f"/ws/sessions/{sid}"))
    typist = await RawClient.connect(http, url)
    await typist.handshake()
    await typist.edit(0, "x")
    await wait_until(lambda: str(typist.text) == "xhi")

    samples, text = await scrape(api)
    assert value(samples, "codeinterview_http_requests_total",
                 route="/api/v1/sessions", method="POST", status="201") == 1  # fmt: skip
    answered = [k for k in samples if k[0] == "codeinterview_http_requests_total"]
    assert any(dict(labels)["route"] == "/api/v1/sessions/{sessionId}" for _, labels in answered)
    assert value(samples, "codeinterview_connections", protocol="yjs", role="open") == 1
    assert value(samples, "codeinterview_rooms_loaded") == 1
    assert value(samples, "codeinterview_sync_seconds_count") == 1
    assert value(samples, "codeinterview_updates_total", outcome="applied") >= 1
    assert value(samples, "codeinterview_update_bytes_count") >= 1
    assert value(samples, "process_resident_memory_bytes") > 0
    assert sid not in text  # labels are low-cardinality: never a session

    async def persisted(count: int) -> bool:
        return value((await scrape(api))[0], "codeinterview_persist_seconds_count") >= count

    await wait_until(lambda: persisted(1))
    await typist.edit(0, "y")  # a second entry in the log: the unload folds them
    await wait_until(lambda: persisted(2))

    vandal = await RawClient.connect(http, url)
    await vandal.handshake()
    await vandal.ws.send_bytes(protocol.sync_update(b"\x05\xff\xff\xff"))  # not an update
    async with asyncio.timeout(5):
        async for _ in vandal.ws:  # until the server closes it
            pass
    assert vandal.ws.close_code is not None and vandal.ws.close_code >= 1002
    await typist.ws.close()

    async def settled() -> Samples | None:
        now = (await scrape(api))[0]
        gone = value(now, "codeinterview_connections", protocol="yjs", role="open") == 0
        return now if gone and value(now, "codeinterview_rooms_loaded") == 0 else None

    after = await wait_until(settled)
    assert value(after, "codeinterview_updates_total", outcome="invalid") == 1
    assert value(after, "codeinterview_compactions_total") >= 1  # folded on unload


async def test_auth_failures_and_rate_limits_are_counted_by_reason(
    make_client: ClientFactory,
) -> None:
    api = await make_client(auth="token", api_keys="key-1", requests_per_second=2)
    created = await api.post(
        "/api/v1/sessions", json={"code": ""}, headers={"Authorization": "Bearer key-1"}
    )
    sid = (await created.json())["data"]["id"]
    assert (await api.get(f"/api/v1/sessions/{sid}")).status == 401
    bogus = {"Authorization": "Bearer not.a.token"}
    assert (await api.get(f"/api/v1/sessions/{sid}", headers=bogus)).status == 401
    statuses = [(await api.get("/api/v1/health")).status for _ in range(10)]
    assert 429 in statuses

    async def counted() -> Samples | None:
        response = await api.get("/metrics")
        if response.status != 200:  # rate limited itself: try again
            return None
        return parse(await response.text())

    samples = await wait_until(counted)
    assert value(samples, "codeinterview_auth_failures_total", reason="missing") == 1
    assert value(samples, "codeinterview_auth_failures_total", reason="invalid") == 1
    assert value(samples, "codeinterview_rate_limited_total", transport="http") >= 1


async def test_with_a_metrics_token_a_scrape_needs_it(make_client: ClientFactory) -> None:
    api = await make_client(metrics_token="scrape-secret-1234")
    assert (await api.get("/metrics")).status == 401
    wrong = {"Authorization": "Bearer scrape-secret-9999"}
    assert (await api.get("/metrics", headers=wrong)).status == 401
    right = {"Authorization": "Bearer scrape-secret-1234"}
    response = await api.get("/metrics", headers=right)
    assert response.status == 200
    assert "codeinterview_rooms_loaded" in await response.text()


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def test_without_a_token_metrics_answer_loopback_clients_only(
    tmp_path: pytest.TempPathFactory, http: aiohttp.ClientSession
) -> None:
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no address besides loopback")
    args = ["--host", "0.0.0.0", "--db", f"{tmp_path}/m.db", "--allowed-hosts", "*"]
    async with ServerProcess([*args, "--auth", "token", "--api-keys", "key-1"]) as server:
        async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.status == 200
        async with http.get(f"http://{outward}:{server.port}/metrics") as response:
            await assert_error(response, 403, "FORBIDDEN")
        assert await server.stop() == 0


@pytest.mark.sandbox
async def test_sandboxed_runs_are_counted_by_language_and_outcome(api: Client) -> None:
    for code in ("print(1)", "raise SystemExit(3)"):
        response = await api.post("/api/v1/execute", json={"code": code, "language": "py"})
        assert response.status == 200, await response.text()
    samples, _ = await scrape(api)
    runs = "codeinterview_execution_runs_total"
    assert value(samples, runs, language="python", outcome="ok") == 1
    assert value(samples, runs, language="python", outcome="error") == 1
    assert value(samples, "codeinterview_execution_run_seconds_count", language="python") == 2
    assert value(samples, "codeinterview_execution_queue") == 0


async def test_an_unusual_method_is_counted_as_other_not_as_a_new_label(api: Client) -> None:
    for verb in ("PROPFIND", "MKCOL", "LOCK"):  # methods aiohttp's parser lets through
        assert (await api.request(verb, "/api/v1/sessions")).status == 405
    samples, text = await scrape(api)
    assert "PROPFIND" not in text and "MKCOL" not in text
    assert value(samples, "codeinterview_http_requests_total",
                 route="unmatched", method="other", status="405") == 3  # fmt: skip

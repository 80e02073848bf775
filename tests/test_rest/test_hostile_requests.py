"""Hostile HTTP requests get a clear 4xx in the envelope: never a 500, never a trace."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib

import pytest
from envelope import assert_error
from support.app_client import Client, ClientFactory


async def new_session(api: Client) -> str:
    response = await api.post("/api/v1/sessions", json={"code": "keep\n"})
    assert response.status == 201
    return str((await response.json())["data"]["id"])


def raw_json(text: str) -> dict[str, object]:
    return {"data": text.encode(), "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize(
    "body",
    [
        '{"code": ' + "[" * 2000 + "]" * 2000 + "}",  # nested 2000 deep
        '{"code": "\\ud800"}',  # a lone surrogate
        '{"code": "x", "language": NaN}',
        '{"code": 1e400}',
    ],
)
async def test_a_hostile_json_body_is_400(api: Client, body: str) -> None:
    sid = await new_session(api)
    response = await api.patch(f"/api/v1/sessions/{sid}", **raw_json(body))  # type: ignore[arg-type]
    await assert_error(response, 400, "INVALID_REQUEST")


async def test_a_body_that_is_not_what_its_content_encoding_says_is_400(api: Client) -> None:
    response = await api.post(
        "/api/v1/sessions",
        data=b'{"code": "x"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    await assert_error(response, 400, "INVALID_REQUEST")
    good = await api.post(
        "/api/v1/sessions",
        data=gzip.compress(b'{"code": "x"}'),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert good.status == 201


async def test_a_body_of_whitespace_is_malformed_json_not_no_body(api: Client) -> None:
    response = await api.post("/api/v1/sessions", **raw_json(" \n"))  # type: ignore[arg-type]
    await assert_error(response, 400, "INVALID_REQUEST")
    assert (await api.post("/api/v1/sessions")).status == 201  # no body at all is fine


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br", "x-unknown"])
async def test_a_content_encoding_we_do_not_decode_is_415_naming_what_we_do(
    api: Client, coding: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await api.post(
        "/api/v1/sessions",
        data=b'{"code": "x"}',
        headers={"Content-Type": "application/json", "Content-Encoding": coding},
    )
    await assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert response.headers["Accept-Encoding"] == "gzip, deflate"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
async def test_deflate_bodies_are_read_zlib_wrapped_or_raw(api: Client, wbits: int) -> None:
    packer = zlib.compressobj(wbits=wbits)
    body = packer.compress(b'{"code": "deflated"}') + packer.flush()
    response = await api.post(
        "/api/v1/sessions",
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "deflate"},
    )
    assert response.status == 201
    assert (await response.json())["data"]["code"] == "deflated"


async def test_a_gzip_bomb_is_413_without_inflating_it(api: Client) -> None:
    bomb = gzip.compress(b'{"code": "' + b"0" * (20 * 1024 * 1024) + b'"}', compresslevel=9)
    response = await api.post(
        "/api/v1/sessions",
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    await assert_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("n", ["²", "١", "-1", "1.5", "9" * 12])
async def test_a_snapshot_number_that_is_not_plain_digits_is_400(api: Client, n: str) -> None:
    sid = await new_session(api)
    await assert_error(await api.get(f"/api/v1/sessions/{sid}/history/{n}"), 400, "INVALID_REQUEST")


async def test_an_odd_colour_never_breaks_later_joins(api: Client) -> None:
    sid = await new_session(api)
    joined = await (await api.post(f"/api/v1/sessions/{sid}/join", json={})).json()
    pid = joined["data"]["participants"][-1]["id"]
    patched = await api.patch(
        f"/api/v1/sessions/{sid}/participants/{pid}", json={"color": "hsl(.,1%,1%)"}
    )
    assert patched.status == 200
    for _ in range(3):
        assert (await api.post(f"/api/v1/sessions/{sid}/join", json={})).status == 200


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
async def test_booleans_are_booleans(api: Client, value: object) -> None:
    sid = await new_session(api)
    pid = (await (await api.get(f"/api/v1/sessions/{sid}")).json())["data"]["creatorId"]
    response = await api.patch(
        f"/api/v1/sessions/{sid}/participants/{pid}", json={"isOnline": value}
    )
    await assert_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_body_that_is_not_declared_json_is_415(api: Client, content_type: str) -> None:
    for path in ("/api/v1/sessions", "/api/v1/execute"):
        response = await api.post(
            path,
            data=json.dumps({"code": "x", "language": "python"}),
            headers={"Content-Type": content_type},
        )
        await assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_a_foreign_host_header_is_refused(api: Client) -> None:
    for path in ("/api/v1/health", "/api/v1/sessions"):
        response = await api.get(path, headers={"Host": "rebound.attacker.example"})
        await assert_error(response, 400, "INVALID_REQUEST")
    assert (await api.get("/api/v1/health", headers={"Host": "localhost:8000"})).status == 200


async def test_a_state_changing_request_from_a_foreign_origin_is_403(api: Client) -> None:
    foreign = {"Origin": "https://attacker.example"}
    await assert_error(
        await api.post("/api/v1/sessions", json={}, headers=foreign), 403, "FORBIDDEN"
    )
    assert (await api.get("/api/v1/health", headers=foreign)).status == 200  # reads are fine
    same = {"Origin": str(api.make_url("")).rstrip("/")}
    assert (await api.post("/api/v1/sessions", json={}, headers=same)).status == 201


async def test_the_server_header_names_no_versions(api: Client) -> None:
    for path in ("/api/v1/health", "/nope", "/demo/"):
        server = (await api.get(path)).headers.get("Server", "")
        assert "aiohttp" not in server.lower() and "python" not in server.lower(), server


async def test_one_client_may_create_only_so_many_sessions_per_hour(
    make_client: ClientFactory,
) -> None:
    api = await make_client(max_sessions_per_client_per_hour=3)
    for _ in range(3):
        assert (await api.post("/api/v1/sessions", json={})).status == 201
    refused = await api.post("/api/v1/sessions", json={})
    await assert_error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600


async def test_past_the_storage_mark_new_sessions_get_507_and_old_ones_work(
    make_client: ClientFactory,
) -> None:
    roomy = await make_client()
    sid = await new_session(roomy)
    await roomy.close()
    full = await make_client(max_storage_bytes=4096)  # the same database, now over the mark
    await assert_error(await full.post("/api/v1/sessions", json={}), 507, "STORAGE_FULL")
    assert (await full.patch(f"/api/v1/sessions/{sid}", json={"code": "still\n"})).status == 200
    assert (await full.get(f"/api/v1/sessions/{sid}")).status == 200


@pytest.mark.parametrize(
    "head",
    [
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \x01\x02\r\n\r\n",
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"\r\nzz\r\n",
        b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n",
    ],
    ids=["bad-content-length", "control-character", "bad-chunk-size", "huge-header"],
)
async def test_a_request_that_is_not_http_is_400_and_logged_without_a_traceback(
    api: Client, head: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection(api.host, api.port)
    writer.write(head)
    status = await asyncio.wait_for(reader.readline(), timeout=10)
    head_lines = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    writer.close()
    assert status.split()[1] == b"400"
    assert b"Server: codeinterview\r\n" in head_lines  # not aiohttp's name and version
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert all(r.exc_info is None for r in caplog.records)
    assert any("Error handling request" in r.getMessage() for r in caplog.records)

"""REST writes of a whole text merge with live edits they had not seen, like JSON clients'.

A REST client reads the code, someone types meanwhile, and the client writes back its
edited text: the write is merged as an edit of the version it was made from, named by
``baseVersion`` (or ``If-Match``) or else found among recent versions, so the live edit
survives instead of being deleted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from envelope import assert_error
from raw_client import RawClient
from support.waiting import wait_until

from rest.keys import LIVE

Client = TestClient[web.Request, web.Application]

LINES = "".join(f"line {i}\n" for i in range(8))


async def create(api: Client, code: str = LINES) -> dict[str, Any]:
    response = await api.post("/api/v1/sessions", json={"code": code, "language": "python"})
    assert response.status == 201
    return dict((await response.json())["data"])


async def read(api: Client, sid: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/sessions/{sid}")
    assert response.status == 200
    assert response.headers["ETag"] == f'"{(await response.json())["data"]["version"]}"'
    return dict((await response.json())["data"])


async def live_insert_at_top(api: Client, sid: str, text: str) -> RawClient:
    """A y-websocket client types ``text`` at the top; returns once REST shows it."""
    client = await RawClient.connect(api.session, str(api.make_url(f"/ws/sessions/{sid}")))
    await client.handshake()
    await client.edit(0, text)

    async def shown() -> bool:
        room = api.app[LIVE].rooms.rooms.get(sid)
        return room is not None and room.code.startswith(text)

    await wait_until(shown, what="the live insert in the room")
    return client


async def test_a_patch_made_from_the_text_before_a_live_insert_keeps_the_insert(
    api: Client,
) -> None:
    sid = (await create(api))["id"]
    seen = (await read(api, sid))["code"]
    typist = await live_insert_at_top(api, sid, "# typed live\n")
    response = await api.patch(f"/api/v1/sessions/{sid}", json={"code": seen + "tail\n"})
    assert response.status == 200
    assert (await response.json())["data"]["code"] == "# typed live\n" + LINES + "tail\n"
    await typist.ws.close()


async def test_a_put_named_by_its_base_version_merges_even_when_it_rewrites_much(
    api: Client,
) -> None:
    session = await create(api)
    sid, version = session["id"], session["version"]
    typist = await live_insert_at_top(api, sid, "# typed live\n")
    rewritten = LINES.replace("line", "row")  # every line changed: no heuristic would guess
    response = await api.put(
        f"/api/v1/sessions/{sid}/code", json={"code": rewritten, "baseVersion": version}
    )
    assert response.status == 200
    assert (await response.json())["data"]["code"] == "# typed live\n" + rewritten
    await typist.ws.close()


async def test_if_match_names_the_base_version_like_base_version_does(api: Client) -> None:
    sid = (await create(api))["id"]
    before = await read(api, sid)
    typist = await live_insert_at_top(api, sid, "top\n")
    response = await api.patch(
        f"/api/v1/sessions/{sid}",
        json={"code": "replaced\n"},
        headers={"If-Match": f'"{before["version"]}"'},
    )
    assert response.status == 200
    assert (await response.json())["data"]["code"] == "top\nreplaced\n"
    await typist.ws.close()


async def test_a_whole_new_text_without_a_base_replaces_the_current_code(api: Client) -> None:
    sid = (await create(api))["id"]
    typist = await live_insert_at_top(api, sid, "# typed live\n")
    await read(api, sid)  # the writer has seen the live insert
    response = await api.put(f"/api/v1/sessions/{sid}/code", json={"code": "x = 1\n"})
    assert (await response.json())["data"]["code"] == "x = 1\n"
    await typist.ws.close()


async def test_an_unknown_base_version_is_412_and_changes_nothing(api: Client) -> None:
    sid = (await create(api))["id"]
    response = await api.patch(
        f"/api/v1/sessions/{sid}", json={"code": "lost\n", "baseVersion": "0123456789abcdef"}
    )
    await assert_error(response, 412, "VERSION_UNKNOWN")
    assert (await read(api, sid))["code"] == LINES


async def test_a_malformed_base_version_is_400_naming_the_field(api: Client) -> None:
    sid = (await create(api))["id"]
    response = await api.patch(f"/api/v1/sessions/{sid}", json={"code": "", "baseVersion": "x"})
    body = await assert_error(response, 400, "INVALID_REQUEST")
    assert body["fields"][0]["field"] == "baseVersion"


async def test_the_version_of_a_new_session_names_it_across_reads_and_loads(
    api: Client,
) -> None:
    created = await create(api)
    sid = created["id"]
    assert (await read(api, sid))["version"] == created["version"]  # idle read, no room
    response = await api.patch(
        f"/api/v1/sessions/{sid}", json={"code": LINES + "x\n", "baseVersion": created["version"]}
    )
    assert response.status == 200  # the loaded room knows the version the creator was shown
    after = (await response.json())["data"]
    assert after["version"] != created["version"]
    assert (await read(api, sid))["version"] == after["version"]


async def test_a_large_write_is_merged_the_same_way_off_the_event_loop(api: Client) -> None:
    big = "".join(f"line {i} of a long file\n" for i in range(2000))  # ~50K characters
    sid = (await create(api, big))["id"]
    seen = (await read(api, sid))["code"]
    typist = await live_insert_at_top(api, sid, "# typed live\n")
    edited = seen.replace("line 1000 of", "LINE 1000 OF")
    response = await api.patch(f"/api/v1/sessions/{sid}", json={"code": edited})
    assert (await response.json())["data"]["code"] == "# typed live\n" + edited
    await typist.ws.close()

"""The example clients run as their READMEs say, against a real server, and do what they print."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
from server_process import ServerProcess, create_session, read_session
from support.example_process import EXAMPLES, ExampleProcess, python_example
from support.waiting import wait_until

NODE_MODULES = EXAMPLES / "node_modules"


def node_example(*args: str) -> Sequence[str]:
    if not (NODE_MODULES / "y-websocket").is_dir():
        pytest.fail(f"{NODE_MODULES} is missing: run bash scripts/install-browser-test-deps.sh")
    return ("node", str(EXAMPLES / "node_client.mjs"), *args)


def client_command(kind: str, server: ServerProcess, session_id: str, *args: str) -> Sequence[str]:
    if kind == "node":
        return node_example(server.url, session_id, *args)
    return python_example(f"{kind}_client.py", server.url, session_id, *args)


def synced(line: dict[str, Any]) -> bool:
    return line.get("event") == "synced" or line.get("type") == "code_change"


def code_is(text: str) -> Any:
    def check(line: dict[str, Any]) -> bool:
        if line.get("type") == "code_change":  # the JSON client prints the server's events
            return bool(line["data"]["code"] == text)
        return line.get("event") in ("synced", "change") and line.get("code") == text

    return check


@pytest.mark.node
async def test_the_node_client_appends_its_text_and_the_rest_view_has_it(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="print(1)\n", language="python")
    command = node_example(server.url, sid, "--name", "Nodey", "--insert", "x = 2 # é😀")
    async with ExampleProcess.run(*command, "--exit-after-ms", "1500") as node:
        first = await node.expect(synced)
        assert first == {"event": "synced", "code": "print(1)\n", "language": "python"}
        await node.expect(code_is("print(1)\nx = 2 # é😀"))
        assert await node.wait() == 0, node.output()
    assert (await read_session(http, server, sid))["code"] == "print(1)\nx = 2 # é😀"
    names = [p["name"] for p in (await read_session(http, server, sid))["participants"]]
    assert "Nodey" in names


@pytest.mark.node
async def test_the_node_client_prints_edits_made_over_rest_and_stops_on_sigterm(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="a\n")
    async with ExampleProcess.run(*node_example(server.url, sid)) as node:
        await node.expect(synced)
        await http.patch(f"{server.url}/api/v1/sessions/{sid}", json={"code": "a\nb\n"})
        await node.expect(code_is("a\nb\n"))
        await http.patch(f"{server.url}/api/v1/sessions/{sid}", json={"language": "go"})
        await node.expect(lambda line: line == {"event": "language", "language": "go"})
        assert await node.terminate() == 0, node.output()


async def test_the_python_client_syncs_appends_and_prints_changes_by_others(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="print(1)\n", language="python")
    command = python_example("python_client.py", server.url, sid, "--insert", "y = 'ñ'\n")
    async with ExampleProcess.run(*command) as client:
        first = await client.expect(synced)
        assert first == {"event": "synced", "code": "print(1)\n", "language": "python"}
        await client.expect(code_is("print(1)\ny = 'ñ'\n"))

        async def rest_has_it() -> bool:
            return bool((await read_session(http, server, sid))["code"] == "print(1)\ny = 'ñ'\n")

        await wait_until(rest_has_it, timeout=10, what="the python client's insert over REST")
        await http.put(f"{server.url}/api/v1/sessions/{sid}/code", json={"code": "z = 0\n"})
        await client.expect(code_is("z = 0\n"))
        assert await client.terminate() == 0, client.output()


async def test_the_json_client_gets_the_state_sends_an_edit_and_a_cursor(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="one\n", language="python")
    command = python_example(
        "json_client.py", server.url, sid, "--name", "Jay", "--append", "two\n", "--cursor", "2:4"
    )
    async with ExampleProcess.run(*command, "--exit-after-ms", "20000") as client:
        first = await client.expect(lambda line: line.get("type") == "code_change")
        assert first["data"]["code"] == "one\n"
        language = await client.expect(lambda line: line.get("type") == "language_change")
        assert language["data"]["language"] == "python"

        async def rest_has_it() -> bool:
            return bool((await read_session(http, server, sid))["code"] == "one\ntwo\n")

        await wait_until(rest_has_it, timeout=10, what="the JSON client's code_change over REST")
        session = await read_session(http, server, sid)
        jay = next(p for p in session["participants"] if p["name"] == "Jay")
        assert jay["isOnline"] is True
        # another JSON client sees Jay's cursor among the present ones
        watcher = python_example("json_client.py", server.url, sid, "--exit-after-ms", "20000")
        async with ExampleProcess.run(*watcher) as other:
            cursor = await other.expect(lambda line: line.get("type") == "cursor_position")
            assert cursor["data"] == {
                "position": {"lineNumber": 2, "column": 4},
                "userId": jay["id"],
                "timestamp": cursor["data"]["timestamp"],
            }
            await http.patch(f"{server.url}/api/v1/sessions/{sid}", json={"code": "three\n"})
            await other.expect(code_is("three\n"))
            assert await other.terminate() == 0, other.output()
        await client.expect(code_is("three\n"))
        assert await client.terminate() == 0, client.output()


@pytest.mark.parametrize("kind", [pytest.param("node", marks=pytest.mark.node), "python", "json"])
async def test_every_client_stops_with_status_2_when_its_session_is_deleted(
    kind: str, server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    sid = await create_session(http, server, code="bye\n")
    async with ExampleProcess.run(*client_command(kind, server, sid)) as client:
        await client.expect(synced)
        async with http.delete(f"{server.url}/api/v1/sessions/{sid}") as response:
            assert response.status == 204
        assert await client.wait() == 2, client.output()
        closed = await client.expect(lambda line: line.get("event") == "closed")
        assert closed["code"] == 4410


async def test_rest_sh_walks_the_whole_rest_contract(server: ServerProcess) -> None:
    async with ExampleProcess.run("bash", str(EXAMPLES / "rest.sh"), server.url) as script:
        assert await script.wait(timeout=60) == 0, script.output()
    assert script.lines[-1] == "all REST checks passed"
    assert len([line for line in script.lines if line.startswith("ok  ")]) >= 30

"""Webhooks to a real local receiver: signed per Standard Webhooks (verified with its own
library), one per change, retried while the receiver is down, kept across kill -9."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from server_process import ServerProcess, create_session, free_port
from standardwebhooks.webhooks import Webhook
from support.node_client import NodeClient
from support.waiting import wait_until

from crdt_server.metrics import Metrics
from crdt_server.settings import Settings
from crdt_server.webhooks import Webhooks, load_endpoints
from storage import SQLiteStorage

SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two byte").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret, thirty-two bytes").decode()


@dataclass
class Receiver:
    """An HTTP endpoint on loopback that records every delivery; ``answer`` is its status."""

    url: str
    answer: int = 204
    attempts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    accepted: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        entry = ({k.lower(): v for k, v in request.headers.items()}, await request.read())
        self.attempts.append(entry)
        if 200 <= self.answer < 300:
            self.accepted.append(entry)
        return web.Response(status=self.answer)

    def events(self, secret: str = SECRET) -> list[dict[str, Any]]:
        """The accepted events, each verified with the Standard Webhooks algorithm."""
        verifier = Webhook(secret)
        verified = []
        for headers, body in self.accepted:
            verifier.verify(body, headers)
            payload = json.loads(body)
            assert payload["id"] == headers["webhook-id"]
            verified.append(payload)
        return verified

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.accepted]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with _receiver(free_port()) as running:
        yield running


class _receiver:
    """A receiver on ``port``; one that stops and starts again keeps its port."""

    def __init__(self, port: int, into: Receiver | None = None) -> None:
        self.port = port
        self.state = into or Receiver(f"http://127.0.0.1:{port}/hooks")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks", self.state.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self.state

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()


def hook_args(tmp_path: Path, receiver: Receiver, *extra: str) -> list[str]:
    return [
        "--db",
        str(tmp_path / "hooks.db"),
        "--webhook-url",
        receiver.url,
        "--webhook-secret",
        SECRET,
        *extra,
    ]


async def test_each_change_is_one_signed_event_with_no_header_of_the_client(
    tmp_path: Path, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    args = hook_args(tmp_path, receiver, "--webhook-code-changed-seconds", "1")
    client_headers = {"Cookie": "sid=client-cookie-7731", "X-Client-Secret": "client-header-9902"}
    async with ServerProcess(args) as server, NodeClient.start() as browser:
        created = await http.post(
            f"{server.url}/api/v1/sessions", json={"code": "", "language": "python"},
            headers=client_headers,
        )  # fmt: skip
        data = (await created.json())["data"]
        sid, interviewer = data["id"], data["participants"][0]["id"]
        await wait_until(lambda: receiver.types() == ["session.created"], what="session.created")

        await browser.connect(
            f"{server.url.replace('http', 'ws', 1)}/ws/sessions", sid, {"userId": interviewer}
        )
        await browser.wait_synced()
        await wait_until(lambda: "participant.joined" in receiver.types(), what="joined")
        await browser.insert(0, "p")
        await wait_until(lambda: "code.changed" in receiver.types(), what="the first change")
        for n, keystroke in enumerate("rint(42)", start=1):  # inside the window
            await browser.insert(n, keystroke)
        await wait_until(lambda: receiver.types().count("code.changed") == 2, what="its end")
        await browser.disconnect()
        await wait_until(lambda: "participant.left" in receiver.types(), what="left")
        async with http.delete(f"{server.url}/api/v1/sessions/{sid}", headers=client_headers):
            pass
        await wait_until(lambda: receiver.types()[-1:] == ["session.deleted"], what="deleted")
        assert await server.stop() == 0

    events = receiver.events()
    assert [e["type"] for e in events] == [
        "session.created",
        "participant.joined",
        "code.changed",  # the first keystroke, with it
        "code.changed",  # the rest of the window, at its end
        "participant.left",
        "session.deleted",
    ]
    assert len({e["id"] for e in events}) == len(events)
    assert events[0]["data"]["sessionId"] == sid and events[0]["data"]["language"] == "python"
    assert events[1]["data"]["participant"]["id"] == interviewer
    assert events[-1]["data"] == events[-1]["data"] | {"sessionId": sid, "reason": "deleted"}
    for headers, _ in receiver.accepted:
        assert "cookie" not in headers and "x-client-secret" not in headers
        assert headers["content-type"] == "application/json"
    assert "client-cookie-7731" not in server.log and SECRET not in server.log


async def test_an_event_is_retried_while_the_receiver_fails_and_survives_kill_9(
    tmp_path: Path, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.answer = 503
    args = hook_args(tmp_path, receiver, "--webhook-retry-base-ms", "100")
    async with ServerProcess(args) as first:
        sid = await create_session(http, first)
        await wait_until(lambda: len(receiver.attempts) >= 3, what="three attempts")
        first_ids = {headers["webhook-id"] for headers, _ in receiver.attempts}
        assert len(first_ids) == 1  # the same event, retried
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
    assert "retry 2 in 200 ms" in first.log  # doubling from --webhook-retry-base-ms

    receiver.answer = 200
    async with ServerProcess(args) as second:
        await wait_until(lambda: receiver.accepted, what="delivered after the restart")
        other = await create_session(http, second)
        await wait_until(lambda: len(receiver.accepted) == 2, what="the next event")
        settled = len(receiver.attempts)
        # one more event proves the worker has looked again: nothing is sent twice
        await http.delete(f"{second.url}/api/v1/sessions/{other}")
        await wait_until(lambda: len(receiver.accepted) == 3, what="session.deleted")
        assert len(receiver.attempts) == settled + 1
    events = receiver.events()
    assert [e["type"] for e in events] == ["session.created", "session.created", "session.deleted"]
    assert events[0]["id"] in first_ids and events[0]["data"]["sessionId"] == sid


async def test_a_participant_online_when_the_server_is_killed_is_reported_left_at_restart(
    tmp_path: Path, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    args = hook_args(tmp_path, receiver, "--port", str(free_port()))
    async with NodeClient.start() as browser:
        async with ServerProcess(args) as first:
            created = await http.post(f"{first.url}/api/v1/sessions", json={})
            data = (await created.json())["data"]
            ws = first.url.replace("http", "ws", 1) + "/ws/sessions"
            await browser.connect(ws, data["id"], {"userId": data["creatorId"]})
            await wait_until(lambda: "participant.joined" in receiver.types(), what="joined")
            assert first.proc is not None
            first.proc.send_signal(signal.SIGKILL)
            await first.proc.wait()
        await browser.destroy()
        async with ServerProcess(args):
            await wait_until(
                lambda: "participant.left" in receiver.types(), what="left, after the restart"
            )
    # at least once: an event the kill caught after its delivery, before it was marked
    # delivered, comes again after the restart (with its id); each is counted once
    once = list({event["id"]: event for event in receiver.events()}.values())
    assert [e["type"] for e in once] == [
        "session.created",
        "participant.joined",
        "participant.left",
    ]
    assert once[2]["data"]["participant"]["id"] == data["creatorId"]


async def test_an_interview_started_ended_and_one_ended_by_its_expiry_are_events(
    tmp_path: Path, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    args = hook_args(tmp_path, receiver, "--session-ttl-seconds", "3",
                     "--cleanup-interval-seconds", "0.5")  # fmt: skip
    async with ServerProcess(args) as server:
        ended, expiring = await create_session(http, server), await create_session(http, server)
        for sid, step in ((ended, "start"), (ended, "end"), (expiring, "start")):
            async with http.post(f"{server.url}/api/v1/sessions/{sid}/{step}") as response:
                assert response.status == 200, await response.text()
        await wait_until(lambda: receiver.types().count("session.deleted") == 2, timeout=20,
                         what="both expired")  # fmt: skip
    by_session: dict[str, list[tuple[str, Any]]] = {}
    for event in receiver.events():
        by_session.setdefault(event["data"]["sessionId"], []).append(
            (event["type"], event["data"].get("reason"))
        )
    assert by_session[ended] == [
        ("session.created", None), ("session.started", None), ("session.ended", "ended"),
        ("session.deleted", "expired"),
    ]  # fmt: skip
    assert by_session[expiring] == [
        ("session.created", None), ("session.started", None), ("session.ended", "expired"),
        ("session.deleted", "expired"),
    ]  # fmt: skip


async def test_an_event_failing_past_the_retry_period_is_given_up_and_its_endpoint_reported(
    tmp_path: Path, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    receiver.answer = 500
    args = hook_args(
        tmp_path, receiver, "--webhook-retry-base-ms", "50", "--webhook-retry-for-seconds", "0.5"
    )
    async with ServerProcess(args) as server:
        await create_session(http, server)
        await wait_until(lambda: "is failing" in server.log, what="given up", timeout=15)
        async with http.get(f"{server.url}/metrics") as response:
            scrape = await response.text()
        assert 'codeinterview_webhook_deliveries_total{outcome="given_up"} 1.0' in scrape
        assert "codeinterview_webhook_endpoints_failing 1.0" in scrape
        tried = len(receiver.attempts)
        receiver.answer = 200
        await create_session(http, server)  # a new event is still tried, and clears the mark
        await wait_until(lambda: receiver.accepted, what="the next event")
        async with http.get(f"{server.url}/metrics") as response:
            assert "codeinterview_webhook_endpoints_failing 0.0" in await response.text()
        assert len(receiver.attempts) == tried + 1  # the given-up event is not sent again
        assert await server.stop() == 0
    assert "webhook endpoint" in server.log and "answers again" in server.log


async def test_a_webhooks_file_sends_each_endpoint_the_events_it_asked_for(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with _receiver(free_port()) as everything, _receiver(free_port()) as deletions:
        config = tmp_path / "webhooks.toml"
        config.write_text(
            f'[[webhooks]]\nurl = "{everything.url}"\nsecret = "{SECRET}"\n\n'
            f'[[webhooks]]\nurl = "{deletions.url}"\nsecret = "{OTHER_SECRET}"\n'
            'events = ["session.deleted"]\n'
        )
        args = ["--db", str(tmp_path / "f.db"), "--webhooks-file", str(config)]
        async with ServerProcess(args) as server:
            sid = await create_session(http, server)
            await http.delete(f"{server.url}/api/v1/sessions/{sid}")
            await wait_until(lambda: len(everything.accepted) == 2, what="both events")
            await wait_until(lambda: len(deletions.accepted) == 1, what="the deletion")
        assert everything.types() == ["session.created", "session.deleted"]
        assert [e["type"] for e in deletions.events(OTHER_SECRET)] == ["session.deleted"]
        assert deletions.events(OTHER_SECRET)[0]["id"] == everything.events()[1]["id"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--webhook-url", "http://127.0.0.1:9/h"], "--webhook-url and --webhook-secret go"),
        (["--webhook-url", "http://127.0.0.1:9/h", "--webhook-secret", "s3cr3t"], "whsec_"),
        (["--webhooks-file", "/nonexistent/hooks.toml"], "No such file"),
    ],
)
async def test_a_bad_webhook_setting_is_a_usage_error_naming_it(args: list[str], says: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crdt_server", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert says in err.decode() and "Traceback" not in err.decode()


def test_code_changed_reports_the_code_text_not_every_update_of_the_document() -> None:
    """A run's result or a language change is an update too; only the code counts."""
    settings = Settings(webhook_url="http://127.0.0.1:9/hooks", webhook_secret=SECRET)
    hooks = Webhooks(settings, load_endpoints(settings), SQLiteStorage(":memory:"), Metrics())
    code = {"0123abcd": "print(1)"}
    hooks.code_of = code.get
    hooks.code_seeded("0123abcd", "print(1)")
    assert hooks.code_changes(["0123abcd"], 1_000).events == []  # a run right after creation

    code["0123abcd"] = "print(12)"
    first = hooks.code_changes(["0123abcd"], 2_000)
    assert [e.type for e in first.events] == ["code.changed"] and first.pending == []
    hooks.committed(first, 2_000)
    quiet = hooks.code_changes(["0123abcd"], 3_000)  # the language changed, not the code
    assert quiet.events == [] and quiet.pending == []

    code["0123abcd"] = "print(123)"
    inside = hooks.code_changes(["0123abcd"], 3_000)  # inside the 60 s window: at its end
    assert inside.events == [] and inside.pending == [("0123abcd", 62_000)]

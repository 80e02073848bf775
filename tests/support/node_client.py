"""Asyncio driver for tests/node/yclient.mjs: real y-websocket clients in a Node process.

Our server must work with the client code browsers actually run, so tests talk
to the stock `WebsocketProvider` instead of a Python re-implementation.

    async with NodeClient.start() as c:
        await c.connect("ws://127.0.0.1:8080/ws/sessions", "abcd1234", params={"userId": "u1"})
        await c.wait_synced()
        await c.insert(0, "print(1)")

One process can host several named clients (`client=` on every method,
default "main"); use one process per simulated browser when a test needs to
`kill()` one of them.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]
EventPredicate = Callable[[JsonObject], bool]

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "yclient.mjs"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-node-test-deps.sh"
DEFAULT_CLIENT = "main"
DEFAULT_TIMEOUT = 10.0
# texts and update dumps travel as single JSON lines
_LINE_LIMIT = 64 * 1024 * 1024


class NodeClientError(RuntimeError):
    """The Node process is missing, died, or broke the protocol."""


class NodeDepsMissingError(NodeClientError):
    """tests/node/node_modules is absent: the setup script was not run."""


class NodeCommandError(NodeClientError):
    """A command was answered with ok:false (the process is still fine)."""

    def __init__(self, cmd: str, error: str) -> None:
        super().__init__(f"{cmd}: {error}")
        self.cmd = cmd
        self.error = error


def node_executable() -> str | None:
    """Path of `node` (or $NODE), None when Node is not installed."""
    return shutil.which(os.environ.get("NODE", "node"))


def node_deps_installed() -> bool:
    """Whether `npm ci` has been run in tests/node."""
    return (NODE_DIR / "node_modules" / "y-websocket").is_dir()


def missing_deps_message() -> str:
    return f"{NODE_DIR / 'node_modules'} is missing: run {INSTALL_SCRIPT}"


class NodeClient:
    """One yclient.mjs process. Create it with `NodeClient.start()`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[JsonObject]] = {}
        self._events: list[JsonObject] = []
        self._new_event = asyncio.Event()
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        self._closed = False
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    # ------------------------------------------------------------ lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, ready_timeout: float = 15.0) -> AsyncIterator[NodeClient]:
        """Spawn the Node process, wait for its `ready` event, always stop it on exit."""
        node = node_executable()
        if node is None:
            raise NodeClientError("node is not installed (or $NODE is not on PATH)")
        if not node_deps_installed():
            raise NodeDepsMissingError(missing_deps_message())
        proc = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        client = cls(proc)
        try:
            await client.wait_event("ready", timeout=ready_timeout)
            yield client
        finally:
            await client.close()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def close(self, timeout: float = 5.0) -> None:
        """Close stdin (Node exits cleanly on EOF); SIGKILL if it lingers."""
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        try:
            async with asyncio.timeout(timeout):
                await self._proc.wait()
        except TimeoutError:
            await self.kill()
        await self._join_readers()

    async def kill(self) -> None:
        """SIGKILL the process, like a crashed browser tab: no goodbye messages."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGKILL)
        await self._proc.wait()
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        await self._join_readers()

    async def _join_readers(self) -> None:
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            await asyncio.gather(*self._tasks)

    # ------------------------------------------------------------ plumbing

    async def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                self._dispatch(line)
        finally:
            self._closed = True
            self._fail_pending()
            self._wake_waiters()

    async def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _dispatch(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            self._stderr.append(f"[non-JSON stdout] {line!r}")
            return
        if msg.get("type") == "reply":
            fut = self._pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        else:
            self._events.append(msg)
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        self._new_event.set()
        self._new_event = asyncio.Event()

    def _fail_pending(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self._died())
        self._pending.clear()

    def _died(self) -> NodeClientError:
        return NodeClientError(
            f"node process {self._proc.pid} is gone (rc={self._proc.returncode}); "
            f"stderr tail:\n{self.stderr_tail()}"
        )

    def stderr_tail(self, lines: int = 30) -> str:
        """Last stderr lines of the Node process, for failure messages."""
        return "\n".join(list(self._stderr)[-lines:])

    async def request(
        self, cmd: str, *, timeout: float = DEFAULT_TIMEOUT, **fields: Any
    ) -> JsonObject:
        """Send one command and return its reply; raise NodeCommandError on ok:false."""
        if self._closed or self._proc.stdin is None or self._proc.stdin.is_closing():
            raise self._died()
        msg_id = next(self._ids)
        fut: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        line = json.dumps({"id": msg_id, "cmd": cmd, **fields}) + "\n"
        try:
            self._proc.stdin.write(line.encode())
            async with asyncio.timeout(timeout):
                await self._proc.stdin.drain()
                reply = await fut
        except TimeoutError:
            raise TimeoutError(f"no reply to {cmd} within {timeout}s") from None
        except (BrokenPipeError, ConnectionResetError):
            raise self._died() from None
        finally:
            self._pending.pop(msg_id, None)
        if not reply.get("ok"):
            raise NodeCommandError(cmd, str(reply.get("error")))
        return reply

    # ------------------------------------------------------------ events

    @property
    def events(self) -> list[JsonObject]:
        """Every event received so far, oldest first (a copy)."""
        return list(self._events)

    def mark(self) -> int:
        """Cursor for `wait_for(..., since=mark)`: ignore events that already happened."""
        return len(self._events)

    async def wait_for(
        self, predicate: EventPredicate, timeout: float = DEFAULT_TIMEOUT, *, since: int = 0
    ) -> JsonObject:
        """Return the first event from index `since` on that matches `predicate`.

        Scans past events too (from `since`), so an event that arrived before
        the call is not missed; pass `since=c.mark()` taken before the action
        to ignore older matches.
        """
        index = since
        try:
            async with asyncio.timeout(timeout):
                while True:
                    while index < len(self._events):
                        event = self._events[index]
                        index += 1
                        if predicate(event):
                            return event
                    if self._closed:
                        raise self._died()
                    await self._new_event.wait()
        except TimeoutError:
            recent = self._events[max(since, len(self._events) - 10) :]
            raise TimeoutError(
                f"no matching event within {timeout}s; last events: {recent}"
            ) from None

    async def wait_event(
        self,
        name: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        since: int = 0,
        client: str | None = None,
        **match: Any,
    ) -> JsonObject:
        """`wait_for` an event by name, optionally its client and exact field values."""

        def matches(ev: JsonObject) -> bool:
            return (
                ev.get("event") == name
                and (client is None or ev.get("client") == client)
                and all(ev.get(k) == v for k, v in match.items())
            )

        return await self.wait_for(matches, timeout, since=since)

    # ------------------------------------------------------------ commands

    async def connect(
        self,
        url: str,
        room: str,
        params: Mapping[str, str | int] | None = None,
        *,
        awareness: JsonObject | None = None,
        client: str = DEFAULT_CLIENT,
    ) -> int:
        """`new WebsocketProvider(url, room, doc, {params})`; returns the doc's clientID.

        Returns at once; use `wait_synced` (or the `status`/`closed` events).
        `awareness` is set as the local state before the socket opens.
        """
        fields: JsonObject = {"url": url, "room": room, "params": dict(params or {})}
        if awareness is not None:
            fields["awareness"] = awareness
        reply = await self.request("connect", client=client, **fields)
        return int(reply["clientId"])

    async def wait_synced(
        self, timeout: float = DEFAULT_TIMEOUT, *, client: str = DEFAULT_CLIENT
    ) -> None:
        """Until `provider.synced` is true (immediately if it already is)."""
        await self._wait_cmd("wait_synced", timeout, client=client)

    async def wait_text(
        self, text: str, timeout: float = DEFAULT_TIMEOUT, *, client: str = DEFAULT_CLIENT
    ) -> None:
        """Until the client's `code` text equals `text` exactly."""
        await self._wait_cmd("wait_text", timeout, client=client, text=text)

    async def _wait_cmd(self, cmd: str, timeout: float, **fields: Any) -> None:
        # Node enforces the deadline (and says what it saw); ours is the backstop
        await self.request(cmd, timeout=timeout + 5, timeoutMs=int(timeout * 1000), **fields)

    async def insert(self, index: int, text: str, *, client: str = DEFAULT_CLIENT) -> int:
        """Insert at a UTF-16 index; returns the new length (UTF-16 units)."""
        reply = await self.request("insert", client=client, index=index, text=text)
        return int(reply["length"])

    async def delete(self, index: int, length: int, *, client: str = DEFAULT_CLIENT) -> int:
        """Delete a UTF-16 range; returns the new length."""
        reply = await self.request("delete", client=client, index=index, length=length)
        return int(reply["length"])

    async def random_edits(
        self,
        count: int,
        seed: int = 1,
        max_delay_ms: int = 0,
        alphabet: str | None = None,
        *,
        delete_probability: float = 0.3,
        client: str = DEFAULT_CLIENT,
    ) -> JsonObject:
        """Seeded random inserts/deletes; returns {inserts, deletes, text}."""
        fields: JsonObject = {
            "count": count,
            "seed": seed,
            "maxDelayMs": max_delay_ms,
            "deleteProbability": delete_probability,
        }
        if alphabet is not None:
            fields["alphabet"] = alphabet
        timeout = DEFAULT_TIMEOUT + count * max_delay_ms / 1000
        return await self.request("random_edits", timeout=timeout, client=client, **fields)

    async def text(self, *, client: str = DEFAULT_CLIENT) -> str:
        return str((await self.request("text", client=client))["text"])

    async def meta(self, *, client: str = DEFAULT_CLIENT) -> JsonObject:
        meta: JsonObject = (await self.request("meta", client=client))["meta"]
        return meta

    async def map(self, name: str, *, client: str = DEFAULT_CLIENT) -> JsonObject:
        """The top-level ``Y.Map`` called ``name``, as JSON."""
        shared: JsonObject = (await self.request("map", client=client, name=name))["map"]
        return shared

    async def set_meta(self, key: str, value: Any, *, client: str = DEFAULT_CLIENT) -> None:
        await self.request("set_meta", client=client, key=key, value=value)

    async def delete_meta(self, key: str, *, client: str = DEFAULT_CLIENT) -> None:
        await self.request("set_meta", client=client, key=key)

    async def awareness_set(
        self, state: JsonObject | None, *, client: str = DEFAULT_CLIENT
    ) -> None:
        """`awareness.setLocalState(state)`; None announces "gone" to the others."""
        await self.request("awareness_set", client=client, state=state)

    async def awareness_set_field(
        self, field: str, value: Any, *, client: str = DEFAULT_CLIENT
    ) -> None:
        """`awareness.setLocalStateField(field, value)`."""
        await self.request("awareness_set", client=client, field=field, value=value)

    async def awareness(self, *, client: str = DEFAULT_CLIENT) -> dict[int, JsonObject]:
        """All awareness states this client knows, by clientID (its own included)."""
        states = (await self.request("awareness", client=client))["states"]
        return {int(k): v for k, v in states.items()}

    async def disconnect(self, *, client: str = DEFAULT_CLIENT) -> None:
        """`provider.disconnect()`: the doc stays, edits made now are offline edits."""
        await self.request("disconnect", client=client)

    async def reconnect(self, *, client: str = DEFAULT_CLIENT) -> None:
        """`provider.connect()` after a disconnect (or after a permanent close)."""
        await self.request("reconnect", client=client)

    async def destroy(self, *, client: str = DEFAULT_CLIENT) -> None:
        """Destroy provider and doc; the name can be reused by `connect`."""
        await self.request("destroy", client=client)

    async def state_vector(self, *, client: str = DEFAULT_CLIENT) -> dict[int, int]:
        sv = (await self.request("state_vector", client=client))["stateVector"]
        return {int(k): int(v) for k, v in sv.items()}

    async def encode_state(self, *, client: str = DEFAULT_CLIENT) -> bytes:
        """`Y.encodeStateAsUpdate(doc)`, e.g. to apply to a pycrdt Doc."""
        return base64.b64decode((await self.request("encode_state", client=client))["update"])

    async def exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Ask Node to destroy all clients and exit; returns its exit code."""
        await self.request("exit", timeout=timeout)
        async with asyncio.timeout(timeout):
            return await self._proc.wait()

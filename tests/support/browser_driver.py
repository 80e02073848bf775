"""Asyncio side of tests/browser/driver.mjs: Debian's chromium driven by playwright-core.

    async with Browser.start() as browser:
        await browser.open("ada", f"{server.url}/demo/?name=Ada")
        await browser.wait("ada", "window.demo?.provider.synced")
        await browser.type("ada", "hello")

Every page has its own browser context; every call has a deadline. The driver process (and with
it chromium) is stopped when the ``async with`` ends, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER_DIR = REPO_ROOT / "tests" / "browser"
INSTALL = "bash scripts/install-browser-test-deps.sh"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"


class BrowserError(RuntimeError):
    """The driver is missing, died, or a command failed."""


def missing_dependency() -> str | None:
    """What is not installed, or None when the browser tests can run."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: run {INSTALL}"
    if not (DRIVER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"{DRIVER_DIR}/node_modules is missing: run {INSTALL}"
    return None


class Browser:
    """One driver process hosting one chromium with any number of named pages."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._ready = asyncio.Event()
        self._stderr: list[str] = []
        self._readers = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, timeout: float = 30.0) -> AsyncIterator[Browser]:
        missing = missing_dependency()
        if missing is not None:
            raise BrowserError(missing)
        proc = await asyncio.create_subprocess_exec(
            "node",
            "driver.mjs",
            cwd=DRIVER_DIR,
            env={**os.environ, "CHROMIUM": CHROMIUM},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        browser = cls(proc)
        try:
            async with asyncio.timeout(timeout):
                await browser._ready.wait()
            yield browser
        finally:
            await browser.close()

    async def close(self, timeout: float = 15.0) -> None:
        """EOF on stdin: the driver closes chromium and exits; SIGKILL if it lingers."""
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        try:
            async with asyncio.timeout(timeout):
                await self._proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()
        async with asyncio.timeout(timeout):
            await asyncio.gather(*self._readers)

    async def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                msg = json.loads(line)
                if msg.get("type") == "reply":
                    future = self._pending.pop(msg["id"], None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                else:
                    self.events.append(msg)
                    if msg.get("event") == "ready":
                        self._ready.set()
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(BrowserError(f"driver exited: {self.stderr_tail()}"))
            self._pending.clear()
            self._ready.set()

    async def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            self._stderr.append(line.decode(errors="replace").rstrip())

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(self._stderr[-lines:])

    async def call(self, cmd: str, timeout: float = 30.0, **fields: Any) -> Any:
        if self._proc.returncode is not None or self._proc.stdin is None:
            raise BrowserError(f"driver is not running: {self.stderr_tail()}")
        msg_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        self._proc.stdin.write(json.dumps({"id": msg_id, "cmd": cmd, **fields}).encode() + b"\n")
        await self._proc.stdin.drain()
        async with asyncio.timeout(timeout):
            reply = await future
        if not reply["ok"]:
            raise BrowserError(f"{cmd}: {reply['error']}")
        return reply["value"]

    # ------------------------------------------------------------------ commands

    async def open(self, page: str, url: str, tab_of: str | None = None) -> str:
        """Open ``url`` as ``page``: in a browser profile of its own, or as another tab of
        page ``tab_of`` (sharing its storage)."""
        fields: dict[str, Any] = {} if tab_of is None else {"tabOf": tab_of}
        return str(await self.call("open", page=page, url=url, **fields))

    async def eval(self, page: str, js: str) -> Any:
        return await self.call("eval", page=page, js=js)

    async def wait(self, page: str, js: str, timeout: float = 15.0) -> Any:
        """Wait (in the page) until the expression ``js`` is truthy; its value."""
        return await self.call(
            "wait", page=page, js=js, timeoutMs=int(timeout * 1000), timeout=timeout + 5
        )

    async def type(self, page: str, text: str, at: str = "end", delay_ms: int = 15) -> None:
        """Type into the editor like a person, from the ``start`` or ``end`` of the text."""
        await self.call("type", page=page, text=text, at=at, delayMs=delay_ms, timeout=60.0)

    async def press(self, page: str, key: str) -> None:
        await self.call("press", page=page, key=key)

    async def text(self, page: str, selector: str) -> str:
        return str(await self.call("text", page=page, selector=selector))

    async def visible(
        self, page: str, selector: str, text: str | None = None, timeout: float = 10.0
    ) -> None:
        """Wait until an element matching ``selector`` (containing ``text``) is visible."""
        fields: dict[str, Any] = {"selector": selector, "timeoutMs": int(timeout * 1000)}
        if text is not None:
            fields["text"] = text
        await self.call("visible", page=page, timeout=timeout + 5, **fields)

    async def click(self, page: str, selector: str, timeout: float = 10.0) -> None:
        await self.call(
            "click", page=page, selector=selector, timeoutMs=int(timeout * 1000),
            timeout=timeout + 5,
        )  # fmt: skip

    async def fill(self, page: str, selector: str, value: str) -> None:
        await self.call("fill", page=page, selector=selector, value=value)

    async def offline(self, page: str, offline: bool = True) -> None:
        """Take the page's network away (or give it back), as a dropped Wi-Fi would."""
        await self.call("offline", page=page, offline=offline)

    async def select(self, page: str, selector: str, value: str) -> None:
        await self.call("select", page=page, selector=selector, value=value)

    async def reload(self, page: str) -> str:
        return str(await self.call("reload", page=page))

    async def screenshot(self, page: str, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.call("screenshot", page=page, path=str(path))
        return path

    async def close_page(self, page: str) -> None:
        await self.call("close", page=page)

    def page_errors(self, page: str | None = None) -> list[str]:
        """Uncaught exceptions the pages threw (console noise such as a 404 is not one)."""
        return [
            e["message"]
            for e in self.events
            if e.get("event") == "pageerror" and page in (None, e.get("page"))
        ]

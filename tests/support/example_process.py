"""Run an example as a real subprocess and read what it prints, line by line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
PYTHON = sys.executable

Line = dict[str, Any]


class ExampleProcess:
    """One example's process: its stdout lines (JSON ones parsed), stderr and exit status."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.stderr: list[str] = []
        self._changed = asyncio.Event()
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, self.lines)),
            asyncio.create_task(self._read(proc.stderr, self.stderr)),
        ]

    @classmethod
    @contextlib.asynccontextmanager
    async def run(cls, *args: str, cwd: Path = REPO_ROOT) -> AsyncIterator[ExampleProcess]:
        """Start ``args``; on exit from the block the process is gone, whatever happened."""
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        example = cls(proc)
        try:
            yield example
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()
            await asyncio.gather(*example._readers)

    async def _read(self, stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        while line := await stream.readline():
            into.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    @property
    def events(self) -> list[Line]:
        """The stdout lines that are JSON objects."""
        parsed = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    parsed.append(value)
        return parsed

    def output(self) -> str:
        return "\n".join(["stdout:", *self.lines, "stderr:", *self.stderr[-30:]])

    async def expect(self, where: Callable[[Line], bool], timeout: float = 15.0) -> Line:
        """The first JSON line satisfying ``where``, waiting for it up to ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()
                    for event in self.events:
                        if where(event):
                            return event
                    if all(reader.done() for reader in self._readers):
                        break
                    await self._changed.wait()
        except TimeoutError:
            pass
        raise AssertionError(f"no matching line within {timeout}s\n{self.output()}")

    async def wait(self, timeout: float = 20.0) -> int:
        """The exit status, waiting for the process to end by itself."""
        async with asyncio.timeout(timeout):
            code = await self.proc.wait()
            await asyncio.gather(*self._readers)
        return code

    async def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait(timeout)


def python_example(name: str, *args: str) -> Sequence[str]:
    return (PYTHON, str(EXAMPLES / name), *args)

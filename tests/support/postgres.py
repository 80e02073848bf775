"""A private PostgreSQL server for the tests: Debian's binaries, its own data directory and a
free port on loopback, stopped at the end; never the machine's own cluster.

PostgreSQL refuses to run as root, so under root (as CI runs) the server runs as Debian's
``postgres`` user, in a directory that user owns.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from server_process import free_port

#: Each test's own database is created from this one, which is empty.
TEMPLATE = "template0"


def _bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: scripts/install-scaleout-test-deps.sh installs it"
        )
    return Path(found[-1]).parent


class PrivatePostgres:
    """``start()`` runs initdb and the server; ``database()`` hands out a fresh database."""

    def __init__(self, *, durable: bool = False) -> None:
        """``durable``: fsync as a production server does (benchmarks); tests skip it."""
        self.durable = durable
        self.bindir = _bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.root / "data"
        self.user: str | None = "postgres" if os.geteuid() == 0 else None
        self._names = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None

    def _run(self, *command: str) -> None:
        subprocess.run(command, check=True, capture_output=True, **self._owner())

    def _owner(self) -> dict[str, Any]:
        """Popen's arguments that run a command as the data directory's owner."""
        if not self.user:
            return {}
        return {"user": self.user, "group": self.user, "extra_groups": [], "cwd": self.root}

    def start(self) -> None:
        if self.user:
            owner = pwd.getpwnam(self.user)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--no-sync")  # fmt: skip
        with open(self.root / "server.log", "wb") as log:
            self._proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 *([] if self.durable else ["-c", "fsync=off", "-c", "full_page_writes=off"]),
                 "-c", "max_connections=200"],
                stdout=subprocess.DEVNULL, stderr=log, **self._owner(),
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        """Poll until the server answers (pg_isready returns at once while nothing listens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                break
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        log = (self.root / "server.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"the private PostgreSQL did not start:\n{log}")

    @property
    def pid(self) -> int:
        """The postmaster's (its backends are its children)."""
        assert self._proc is not None
        return self._proc.pid

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql; returns what it printed (unaligned, no headers)."""
        result = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.url(database), "-c", statement],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return result.stdout.strip()

    def database(self) -> str:
        """A new, empty database's URL."""
        name = f"test_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGINT)  # a fast shutdown: clients are disconnected
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)

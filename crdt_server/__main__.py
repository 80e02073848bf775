"""``python -m crdt_server``: start the service and print ``LISTENING http://HOST:PORT``.

SIGTERM and SIGINT shut down cleanly: sockets are closed, requests in flight
finish, rooms are flushed, the database is closed, and the exit status is 0.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from rest import create_app
from storage import StorageError

from .cli import parse_cli
from .gate import ACCEPT_BURST, ConnectionGate, total_for
from .keys import LIVE
from .memory import limit_arenas
from .settings import Settings

log = logging.getLogger("crdt_server")

#: How long a thread may hold the interpreter while another waits for it.
SWITCH_INTERVAL_S = 0.0005


async def serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=10.0,
        # also the first request's: an idle or half-sent connection is closed after it
        keepalive_timeout=settings.handshake_timeout_seconds,
    )
    try:
        await runner.setup()
    except StorageError as exc:  # a bad path, a disk error: say so, no traceback
        log.error("cannot open the database %s: %s", settings.db_path, exc)
        await runner.cleanup()
        return 1
    assert runner.server is not None
    gate = ConnectionGate(
        runner.server,
        per_address=settings.max_connections_per_client,
        total=total_for(settings.max_connections),
        shares=app[LIVE].loop_shares,
    )
    listening: asyncio.Server | None = None
    try:
        listening = await loop.create_server(
            gate, settings.host or None, settings.port, reuse_address=True, backlog=ACCEPT_BURST
        )
        host, port = listening.sockets[0].getsockname()[:2]
        print(f"LISTENING http://{host}:{port}", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        if listening is not None:
            listening.close()  # no new connections; those open are closed by the runner
        await runner.cleanup()
    return 0


def raise_open_file_limit() -> None:
    """Serve as many sockets as the host allows us, not the shell's default 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_cli(argv)
    raise_open_file_limit()
    limit_arenas()  # before any thread starts
    # A worker thread busy in Python (a large merge or update check) keeps the interpreter
    # for the whole switch interval each time the loop wakes, and the loop wakes for every
    # frame and request: at the default 5 ms a 512K-character diff held every client for
    # 150 ms (bench/attacks.py diff-freeze); at 0.5 ms the loop waits a tenth as long.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())

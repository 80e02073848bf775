"""``python -m crdt_server``: start the service and print ``LISTENING http://HOST:PORT``.

SIGTERM and SIGINT drain, then shut down cleanly: ``/readyz`` turns 503 and new sockets
are refused (503) for ``--drain-seconds`` while REST and the open sockets keep working,
so a load balancer moves new traffic away; then the open sockets close with 1012 (their
clients reconnect elsewhere), requests in flight finish, rooms are flushed, the database
is closed, and the exit status is 0. A second signal cuts the drain short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from rest import create_app
from rest.request_log import AccessLogger, access_logger
from storage import StorageError, describe

from .cli import parse_cli
from .gate import ACCEPT_BURST, ConnectionGate, total_for
from .keys import LIVE
from .live import Live
from .logs import configure as configure_logging
from .memory import limit_arenas
from .settings import Settings

log = logging.getLogger("crdt_server")

#: How long a thread may hold the interpreter while another waits for it.
SWITCH_INTERVAL_S = 0.0005


async def serve(settings: Settings) -> int:
    signals = asyncio.Queue[int]()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals.put_nowait, sig)
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=access_logger() if settings.access_log else None,
        shutdown_timeout=10.0,
        # also the first request's: an idle or half-sent connection is closed after it
        keepalive_timeout=settings.handshake_timeout_seconds,
    )
    try:
        await runner.setup()
    except StorageError as exc:  # a bad path, a disk error: say so, no traceback
        log.error("cannot open the database %s: %s", describe(settings.db_path), exc)
        await runner.cleanup()
        return 1
    assert runner.server is not None
    gate = ConnectionGate(
        runner.server,
        per_address=settings.max_connections_per_client,
        total=total_for(settings.max_connections),
        shares=app[LIVE].loop_shares,
        proxies=app[LIVE].proxies,
    )
    listening: asyncio.Server | None = None
    try:
        listening = await loop.create_server(
            gate, settings.host or None, settings.port, reuse_address=True, backlog=ACCEPT_BURST
        )
        host, port = listening.sockets[0].getsockname()[:2]
        print(f"LISTENING http://{host}:{port}", flush=True)
        await signals.get()
        await drain(app[LIVE], signals, settings.drain_seconds)
    finally:
        if listening is not None:
            listening.close()  # no new connections; those open are closed by the runner
        await runner.cleanup()
    return 0


async def drain(live: Live, signals: asyncio.Queue[int], seconds: float) -> None:
    """Not ready and no new sockets for ``seconds`` (or until a second signal), then
    close the open sockets with 1012; the runner's clean-up does the rest."""
    live.drain()
    log.info("draining for %.1f s: not ready, refusing new sockets", seconds, extra=_DRAIN)
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signals.get(), seconds)
    log.info("shutting down: closing sockets (1012) and flushing rooms", extra=_STOP)
    await live.close_sockets()


_DRAIN = {"event": "server.draining"}
_STOP = {"event": "server.stopping"}


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
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())

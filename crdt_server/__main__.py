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

from .cli import parse_cli
from .settings import Settings

log = logging.getLogger("crdt_server")


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        create_app(settings),
        access_log=None,
        shutdown_timeout=10.0,
        # also the first request's: an idle or half-sent connection is closed after it
        keepalive_timeout=settings.handshake_timeout_seconds,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"LISTENING http://{host}:{port}", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()


def raise_open_file_limit() -> None:
    """Serve as many sockets as the host allows us, not the shell's default 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_cli(argv)
    raise_open_file_limit()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

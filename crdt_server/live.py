"""The live side in one object: update log, rooms, presence, the session core, runs, and
their background jobs, started and stopped in dependency order.

``rest.create_app`` builds one :class:`Live` over an open storage, calls :meth:`start`
at start-up, :meth:`close_sockets` when shutdown begins and :meth:`stop` at clean-up.
"""

from __future__ import annotations

import asyncio
import logging

from execution import Executor

from .core.access import Access
from .core.errors import Unavailable
from .core.grading import Grader
from .core.notes import Notes
from .core.playback import Playback
from .core.questions import QuestionBank
from .core.quota import OpenCounts
from .core.report import Reports
from .core.runs import Runs
from .core.sessions import CoreStore, SessionCore
from .core.timeline import Timeline
from .core.tokens import Tokens, new_secret
from .frames import FrameCache
from .limits import Limits
from .metrics import Metrics
from .origins import OriginPolicy
from .presence import Presence
from .protocol import RoomReset
from .proxies import TrustedProxies
from .relay import Relay
from .rooms import RoomManager
from .settings import Settings
from .turns import LoopShares
from .update_log import UpdateLog
from .webhooks import Webhooks, load_endpoints

log = logging.getLogger(__name__)


class Live:
    """Everything behind the transports, with one lifecycle."""

    def __init__(self, settings: Settings, storage: CoreStore, executor: Executor) -> None:
        self.settings = settings
        self.executor = executor
        self.metrics = Metrics()
        self.webhooks = Webhooks(settings, load_endpoints(settings), storage, self.metrics)
        self.log = UpdateLog(
            storage,
            interval_s=settings.commit_interval_ms / 1000,
            compact_updates=settings.compact_after_updates,
            compact_bytes=settings.compact_after_bytes,
            snapshot_of=lambda sid: self.rooms.snapshot_of(sid),
            metrics=self.metrics,
            webhooks=self.webhooks,
        )
        self.rooms = RoomManager(
            storage,
            self.log,
            grace_s=settings.room_grace_seconds,
            history_interval_s=settings.history_interval_seconds,
            limits=Limits.from_settings(settings),
            metrics=self.metrics,
        )
        self.relay: Relay | None = None
        if settings.redis_url:
            self.relay = Relay(
                settings.redis_url,
                self.rooms,
                storage,
                self.metrics,
                check_s=settings.relay_check_seconds,
            )
            self.rooms.share_with(self.relay)
            self.log.on_commit = self.relay.committed
        self.metrics.count_rooms(lambda: len(self.rooms.rooms))
        self.webhooks.code_of = self._current_code
        self.presence = Presence(storage, self.rooms, self.webhooks)
        if self.relay is not None:
            self.presence.share_with(self.relay)
        self.sessions = SessionCore(settings, storage, self.rooms, self.webhooks)
        self.questions = QuestionBank(storage, self.rooms)
        self.access = Access(
            settings.auth_mode(),
            self.sessions,
            settings.api_key_list(),
            settings.failed_auth_per_client_per_minute,
            self.metrics,
        )
        self.sockets = OpenCounts(settings.max_sockets_per_client)
        share = settings.client_loop_share
        self.loop_shares = LoopShares(share) if share < 1 else None
        self.frames = FrameCache()  # one encoding of each broadcast frame for every socket
        self.origins = OriginPolicy(settings.origin_list())
        self.proxies = TrustedProxies.parse(settings.trusted_proxies)
        self._storage = storage
        self.runs = Runs(
            self.sessions, storage, self.rooms, self.ready_executor, self.metrics, self.webhooks
        )
        self.grader = Grader(
            self.questions, self.rooms, self.ready_executor, self.webhooks, storage
        )
        self.notes = Notes(storage, self.rooms, self.webhooks)
        self.reports = Reports(self.sessions, self.runs, self.grader, self.questions, self.notes)
        self.playback = Playback(storage, self.rooms)
        self.timeline = Timeline(
            storage, self.sessions, self.grader, self.rooms, int(settings.idle_gap_seconds * 1000)
        )
        self._probe: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None
        self.draining = False  # set on SIGTERM: not ready, no new sockets

    def _current_code(self, session_id: str) -> str | None:
        room = self.rooms.rooms.get(session_id)
        if room is None:
            return None
        try:
            return room.code
        except RoomReset:  # retired: it reloads from storage
            return None

    def drain(self) -> None:
        """Shutdown step zero: readiness fails and new sockets are refused, while the open
        ones and REST keep working until :meth:`close_sockets`."""
        self.draining = True

    async def start(self) -> None:
        """Mark everyone offline, start the writer and the rooms' jobs, probe the sandbox."""
        secret = self.settings.auth_secret or await self._storage.server_secret("auth", new_secret)
        self.access.tokens = Tokens(secret)
        self.sessions.tokens = self.access.tokens
        if self.access.open:
            log.warning(
                "auth: none: anyone who knows a session id may read and change it (--auth token "
                "and --api-keys to require tokens)"
            )
        else:
            log.info("auth: token (%d API keys)", len(self.settings.api_key_list()))
        if self.relay is None:
            await self.presence.reset()
        else:  # the others' participants are online: not this process's to reset
            self.relay.start()
            log.info("sharing sessions with other processes through Redis")
        self.webhooks.start()
        self.log.start()
        self.rooms.start()
        self.playback.start()
        self._expiry = asyncio.create_task(self._expire_forever(), name="expiry")
        # Start-up does not wait for the sandbox probe; runs do.
        self._probe = asyncio.create_task(self.executor.start(), name="sandbox-probe")

    async def ready_executor(self) -> Executor:
        """The executor, once its start-up probe has finished."""
        if self._probe is not None:
            await asyncio.shield(self._probe)
        return self.executor

    async def close_sockets(self) -> None:
        """Shutdown step one: close every socket (1012, reconnect) so handlers return."""
        self.draining = True
        await self.rooms.close_peers()

    async def stop(self) -> None:
        """Stop the jobs and the sandboxes (runs in flight end), then flush rooms and the log."""
        if self._expiry is not None:
            self._expiry.cancel()
        tasks = [task for task in (self._expiry, self._probe) if task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.playback.stop()
        await self.executor.stop()
        await self.rooms.close()
        await self.presence.stop()
        await self.log.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.webhooks.stop()  # last: the flushes above may have stored events

    async def _expire_forever(self) -> None:
        while True:
            try:
                expired = await self.sessions.expire()
                if expired:
                    log.info("deleted %d expired sessions", len(expired))
            except Unavailable:
                log.exception("expiry job failed; retrying next interval")
            await asyncio.sleep(self.settings.cleanup_interval_seconds)

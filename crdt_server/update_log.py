"""Durable, batched persistence of the updates rooms accept.

Rooms call :meth:`UpdateLog.append` on the broadcast path: it only queues.
A writer task commits the queue as one transaction per group-commit window,
and compacts a document into its snapshot once its log tail grows past a
count or byte threshold. Commits and compactions are serialised by one lock,
so a snapshot always contains every update already in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from storage import PendingUpdate, Storage, StorageError

log = logging.getLogger(__name__)

#: Returns the full state of a loaded document, or None when it is not loaded.
SnapshotSource = Callable[[str], bytes | None]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Tail:
    updates: int = 0
    size: int = 0


class UpdateLog:
    """Group commit of document updates plus threshold compaction."""

    def __init__(
        self,
        storage: Storage,
        *,
        interval_s: float,
        compact_updates: int,
        compact_bytes: int,
        snapshot_of: SnapshotSource,
    ) -> None:
        self._storage = storage
        self._interval = interval_s
        self._compact_updates = compact_updates
        self._compact_bytes = compact_bytes
        self._snapshot_of = snapshot_of
        self._pending: list[PendingUpdate] = []
        self._tails: dict[str, _Tail] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="update-log")

    async def stop(self) -> None:
        """Stop the writer and commit whatever is still queued."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()
        if self._pending:
            log.error("%d updates could not be written at shutdown", len(self._pending))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._interval)  # the group-commit window
            if not await self.flush():
                await asyncio.sleep(1.0)  # storage failing: retry later, keep the queue

    # ------------------------------------------------------------ the queue
    def track(self, session_id: str, updates: int, size: int) -> None:
        """Record the log tail a loaded document came with (compacted soon if too long)."""
        self._tails[session_id] = _Tail(updates, size)
        if self._over_threshold(self._tails[session_id]):
            self._wake.set()

    def forget(self, session_id: str) -> None:
        self._tails.pop(session_id, None)

    def append(self, session_id: str, data: bytes) -> None:
        """Queue one accepted update; returns at once."""
        self._pending.append(PendingUpdate(session_id, data, now_ms()))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _over_threshold(self, tail: _Tail) -> bool:
        return tail.updates >= self._compact_updates or tail.size >= self._compact_bytes

    async def flush(self) -> bool:
        """Commit everything queued now and compact long tails; False if storage failed."""
        async with self._lock:
            self._wake.clear()
            batch, self._pending = self._pending, []
            try:
                await self._storage.append_updates(batch)
            except (StorageError, OSError, ValueError):
                log.exception("committing %d updates failed; will retry", len(batch))
                self._pending[:0] = batch
                self._wake.set()
                return False
            for update in batch:
                tail = self._tails.setdefault(update.session_id, _Tail())
                tail.updates += 1
                tail.size += len(update.data)
            due = [sid for sid, tail in self._tails.items() if self._over_threshold(tail)]
            for session_id in due:
                state = self._snapshot_of(session_id)
                if state is not None:
                    await self._compact_locked(session_id, state)
            return True

    async def compact(self, session_id: str, state: bytes) -> None:
        """Commit the queue, then make ``state`` the document's snapshot."""
        await self.flush()
        async with self._lock:
            await self._compact_locked(session_id, state)

    async def _compact_locked(self, session_id: str, state: bytes) -> None:
        try:
            await self._storage.compact(session_id, state)
        except (StorageError, OSError, ValueError):
            log.exception("compacting %s failed; the log is kept", session_id)
            return
        self._tails[session_id] = _Tail()
        log.debug("compacted %s into %d bytes", session_id, len(state))

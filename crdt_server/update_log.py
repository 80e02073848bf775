"""Durable, batched persistence of the updates rooms accept.

Rooms call :meth:`UpdateLog.append` on the broadcast path: it only queues.
A writer task commits the queue as one transaction per group-commit window,
and compacts a document into its snapshot once its log tail grows past a
count or byte threshold. Commits and compactions are serialised by one lock,
and a snapshot is taken after the commit, under that lock, so it contains
every entry it folds. Compaction names the last entry it folds and storage
deletes only up to it; a document whose tail is empty is not rewritten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pycrdt import merge_updates

from storage import (
    Appended,
    DocumentStore,
    Edit,
    PendingUpdate,
    SessionEvent,
    StorageError,
)

from .clock import now_ms
from .metrics import Metrics
from .update_check import UpdateRejected, check_update
from .webhooks import CodeChanges, Webhooks

log = logging.getLogger(__name__)

#: A session's small updates committed in one window are merged into one log entry, this
#: many at most (a merge costs more than linear time): every row costs the storage thread
#: a turn at the interpreter lock, which is slow to come by while the loop is busy.
MERGE_RUN = 64
#: Updates at least this large are stored as they came (merging them gains nothing).
MERGE_BYTES = 64 * 1024


def _merged(run: list[PendingUpdate]) -> list[PendingUpdate]:
    """One entry holding every update of ``run`` (one session's, in order), or the run as
    it is should the merge fail (every update was checked on the way in; it should not).
    Its playback edits are merged too, a run per author."""
    if len(run) == 1:
        return run
    try:
        data = merge_updates(*(update.data for update in run))
        whole = data if all(len(update.edits) == 1 for update in run) else None
        edits = _edits_by_author([edit for update in run for edit in update.edits], whole)
    except Exception:  # pycrdt's panics are BaseException: those are left to propagate
        log.exception("merging %d updates of %s failed; stored apart", len(run), run[0].session_id)
        return run
    return [PendingUpdate(run[0].session_id, data, max(update.at for update in run), edits)]


def _edits_by_author(edits: list[Edit], merged: bytes | None) -> tuple[Edit, ...]:
    """Consecutive edits of one author as one (``merged``: all of them merged, if known)."""
    runs: list[list[Edit]] = []
    for edit in edits:
        if runs and runs[-1][0].author == edit.author:
            runs[-1].append(edit)
        else:
            runs.append([edit])
    return tuple(
        Edit(
            max(e.at for e in same),
            same[0].author,
            sum(e.inserted for e in same),
            sum(e.deleted for e in same),
            merged
            if merged is not None and len(runs) == 1
            else merge_updates(*(e.data for e in same)),
        )
        if len(same) > 1
        else same[0]
        for same in runs
    )


async def coalesced(batch: list[PendingUpdate]) -> list[PendingUpdate]:
    """The batch with each session's runs of small updates merged, yielding to the loop
    between merges so a large batch does not hold it."""
    by_session: dict[str, list[PendingUpdate]] = {}
    for update in batch:
        by_session.setdefault(update.session_id, []).append(update)
    entries: list[PendingUpdate] = []
    for updates in by_session.values():
        run: list[PendingUpdate] = []
        for update in updates:
            if run and (len(run) == MERGE_RUN or len(update.data) >= MERGE_BYTES):
                entries += _merged(run)
                run = []
                await asyncio.sleep(0)
            run.append(update)
            if len(update.data) >= MERGE_BYTES:
                entries += run
                run = []
        entries += _merged(run) if run else []
    return entries


#: A commit writes its entries in transactions of about this many bytes: the storage
#: thread does one request at a time, and a health check or a join queued behind eight
#: 8 MB documents in one transaction waited 800 ms (bench/attacks.py doc-limit).
COMMIT_BYTES = 1024 * 1024


def in_transactions(entries: list[PendingUpdate]) -> list[list[PendingUpdate]]:
    """``entries`` in order, cut into groups of at most :data:`COMMIT_BYTES` (an entry
    larger than that is a group of its own)."""
    groups: list[list[PendingUpdate]] = []
    size = COMMIT_BYTES
    for entry in entries:
        if size + len(entry.data) > COMMIT_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(entry)
        size += len(entry.data)
    return groups


#: Returns the full state of a loaded document, or None when it is not loaded.
SnapshotSource = Callable[[str], bytes | None]


@dataclass(slots=True)
class _Tail:
    """A loaded document's log tail, and the entry up to which it holds every one.

    Entries are numbered per session by storage, whichever process commits them; the ones
    this room holds past ``folded`` with a hole before them (another process's, relayed
    ahead of one still missing) wait in ``ahead`` as (first, last) ranges."""

    updates: int = 0
    size: int = 0
    folded: int = 0
    ahead: list[tuple[int, int]] = field(default_factory=list)

    def committed(self, span: Appended, size: int) -> None:
        self.updates += span.last - span.first + 1
        self.size += size
        self.saw(span.first, span.last)

    def saw(self, first: int, last: int) -> None:
        """Entries ``first..last`` are in the room's document."""
        if last <= self.folded:
            return
        self.ahead.append((first, last))
        self.ahead.sort()
        while self.ahead and self.ahead[0][0] <= self.folded + 1:
            self.folded = max(self.folded, self.ahead.pop(0)[1])

    def holds(self, seq: int) -> bool:
        return seq <= self.folded or any(first <= seq <= last for first, last in self.ahead)


#: Called after each commit with a session's entries as numbered: (session, first, entries).
CommitHook = Callable[[str, int, list[PendingUpdate]], None]


class UpdateLog:
    """Group commit of document updates plus threshold compaction."""

    def __init__(
        self,
        storage: DocumentStore,
        *,
        interval_s: float,
        compact_updates: int,
        compact_bytes: int,
        snapshot_of: SnapshotSource,
        metrics: Metrics | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self._storage = storage
        self._metrics = metrics
        self._webhooks = webhooks
        self._interval = interval_s
        self._compact_updates = compact_updates
        self._compact_bytes = compact_bytes
        self._snapshot_of = snapshot_of
        self._pending: list[PendingUpdate] = []
        self._events: list[SessionEvent] = []  # playback's timeline events, committed alike
        self._tails: dict[str, _Tail] = {}
        self._unfoldable: set[str] = set()  # loaded sessions whose state may not be folded
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_commit: CommitHook | None = None  # the cross-process relay, when there is one

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
            # the group-commit window; none (0): what queued during the last commit goes now
            await asyncio.sleep(self._interval)
            # shielded: stopping cancels this task, never a commit halfway (its batch
            # would be gone); stop() then waits for it through the lock
            if not await asyncio.shield(self.flush()):
                await asyncio.sleep(1.0)  # storage failing: retry later, keep the queue

    # ------------------------------------------------------------ the queue
    def track(self, session_id: str, updates: int, size: int, folded: int) -> None:
        """Record the log tail a loaded document came with (compacted soon if too long)."""
        self._tails[session_id] = _Tail(updates, size, folded)
        if self._over_threshold(self._tails[session_id]):
            self._wake.set()

    def forget(self, session_id: str) -> None:
        self._tails.pop(session_id, None)
        self._unfoldable.discard(session_id)

    def saw(self, session_id: str, first: int, last: int) -> None:
        """Entries another process committed are in the loaded document now (what it may
        fold up to when compacting)."""
        tail = self._tails.get(session_id)
        if tail is not None:
            tail.saw(first, last)

    def holds(self, session_id: str, seq: int) -> bool:
        """Whether the loaded document holds entry ``seq`` (False when it is not loaded)."""
        tail = self._tails.get(session_id)
        return tail is not None and tail.holds(seq)

    def folded(self, session_id: str) -> int | None:
        """The entry up to which the loaded document holds every one (None: not loaded)."""
        tail = self._tails.get(session_id)
        return None if tail is None else tail.folded

    def has_gap(self, session_id: str) -> bool:
        """The loaded document holds entries past one it lacks."""
        tail = self._tails.get(session_id)
        return tail is not None and bool(tail.ahead)

    def append(
        self,
        session_id: str,
        data: bytes,
        at: int,
        author: str | None = None,
        inserted: int = 0,
        deleted: int = 0,
    ) -> None:
        """Queue one update accepted at ``at`` from ``author`` (inserting and deleting that
        many characters of the code); returns at once."""
        edit = Edit(at, author, inserted, deleted, data)
        self._pending.append(PendingUpdate(session_id, data, at, (edit,)))
        self._wake.set()

    def event(self, event: SessionEvent) -> None:
        """Queue a timeline event (a paste, a focus change, a language change)."""
        self._events.append(event)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _over_threshold(self, tail: _Tail) -> bool:
        return tail.updates >= self._compact_updates or tail.size >= self._compact_bytes

    async def flush(self) -> bool:
        """Commit everything queued now and compact long tails; False if storage failed."""
        async with self._lock:
            if not await self._commit_locked():
                return False
            due = [sid for sid, tail in self._tails.items() if self._over_threshold(tail)]
            for session_id in due:
                await self._compact_locked(session_id)
            return True

    async def _commit_locked(self) -> bool:
        self._wake.clear()
        batch, self._pending = self._pending, []
        if not await self._commit_events():
            self._pending[:0] = batch
            return False
        groups = in_transactions(await coalesced(batch))
        for at, group in enumerate(groups):
            now, webhooks = now_ms(), self._webhooks
            changes = CodeChanges([], [], [])  # code.changed events go in the same commit
            if webhooks is not None:
                changes = webhooks.code_changes([update.session_id for update in group], now)
            try:
                appended = await self._storage.append_updates(
                    group, outbox=changes.events, pending=changes.pending
                )
            except StorageError:
                left = [entry for rest in groups[at:] for entry in rest]
                log.exception("committing %d updates failed; will retry", len(left))
                self._pending[:0] = left
                self._wake.set()
                return False
            if webhooks is not None:
                webhooks.committed(changes, now)
            if self._metrics is not None:
                done = now_ms()
                for update in group:
                    self._metrics.persist_seconds.observe(max(0, done - update.at) / 1000)
            sizes: dict[str, int] = {}
            for update in group:
                sizes[update.session_id] = sizes.get(update.session_id, 0) + len(update.data)
            for session_id, span in appended.items():
                tail = self._tails.get(session_id)
                if tail is not None:
                    tail.committed(span, sizes[session_id])
                if self.on_commit is not None:
                    entries = [update for update in group if update.session_id == session_id]
                    self.on_commit(session_id, span.first, entries)
        return True

    async def _commit_events(self) -> bool:
        events, self._events = self._events, []
        if not events:
            return True
        try:
            await self._storage.add_events(events)
        except StorageError:
            log.exception("committing %d timeline events failed; will retry", len(events))
            self._events[:0] = events
            self._wake.set()
            return False
        return True

    async def compact(self, session_id: str) -> None:
        """Commit the queue, then fold the loaded document's log into its snapshot."""
        async with self._lock:
            if await self._commit_locked():
                await self._compact_locked(session_id)

    async def _compact_locked(self, session_id: str) -> None:
        tail = self._tails.get(session_id)
        if tail is None or tail.updates <= 1:
            # nothing logged since the snapshot, or one entry: that loads as fast as the
            # fold would, and folding it would re-encode and re-check the whole document
            # (40 ms of loop for an 8 MB one written at once) for nothing
            return
        state = self._snapshot_of(session_id)  # after the commit: holds every folded entry
        if state is None:
            return
        folded = tail.folded
        try:  # a state the next load would refuse is never folded: the log replays as it is
            await asyncio.to_thread(check_update, state)
        except UpdateRejected as exc:
            if session_id not in self._unfoldable:  # said once: it is tried at every commit
                self._unfoldable.add(session_id)
                log.error("not compacting %s: its state fails the load check (%s)", session_id, exc)
            return
        try:
            await self._storage.compact(session_id, state, folded)
        except StorageError:
            log.exception("compacting %s failed; the log is kept", session_id)
            return
        tail.updates = tail.size = 0
        if self._metrics is not None:
            self._metrics.compactions.inc()
        log.debug("compacted %s up to entry %d into %d bytes", session_id, folded, len(state))

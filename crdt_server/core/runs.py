"""Runs of a session's code: the live code in the live language, in the sandbox.

A run takes a history snapshot of the exact code it ran and appends its result to the
document's ``runs`` array (newest last, bounded), so every editor shows it at once. The
array names the snapshot instead of copying the code: twenty runs of a 500 KB program
would otherwise put 10 MB into the document, its log and every compaction. REST is one
caller; grading hidden tests will be another.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from execution import Executor, RunResult
from storage import HistoryStore, SessionEvent, SessionRecord, StorageError

from ..clock import now_ms
from ..document import YDoc, runs_array
from ..metrics import Metrics
from ..rooms import RoomManager
from ..webhooks import Webhooks
from .actor import Actor
from .errors import Forbidden, SessionEnded, Unavailable
from .permissions import Action, require
from .sessions import SessionCore, actor_for, room_refusals

MAX_RUNS = 20

#: The executor, once its start-up probe has finished.
Engine = Callable[[], Awaitable[Executor]]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as shared in the document (camelCase keys there, like the REST view)."""

    id: str
    user_id: str | None
    at: int
    history: int  # the history snapshot holding the exact code run
    code: str
    result: RunResult

    def as_view(self) -> dict[str, Any]:
        """The run as REST shows it: the document's record and the code run."""
        return {**self.as_document(), "code": self.code}

    def as_document(self) -> dict[str, Any]:
        """The run as the document holds it: the code stays in its history snapshot."""
        r = self.result
        return {
            "id": self.id,
            "userId": self.user_id,
            "at": self.at,
            "history": self.history,
            "language": r.language,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "exitCode": r.exit_code,
            "executionTime": r.execution_time_ms,
            "timedOut": r.timed_out,
            "memoryExceeded": r.memory_exceeded,
            "outputTruncated": r.output_truncated,
            "sandboxed": r.sandboxed,
        }


def _append(doc: YDoc, run: dict[str, Any]) -> None:
    runs = runs_array(doc)
    runs.append(run)
    if len(runs) > MAX_RUNS:
        del runs[0 : len(runs) - MAX_RUNS]


def _snapshot_of(item: object) -> int | None:
    """The history snapshot a stored run names (a Yjs number decodes as a float)."""
    n = item.get("history") if isinstance(item, dict) else None
    if isinstance(n, float) and n.is_integer() and 0 < n < 2**53:
        return int(n)
    return n if type(n) is int and n > 0 else None


class Runs:
    """Runs the live code of a session and shares each result in its room."""

    def __init__(
        self,
        sessions: SessionCore,
        history: HistoryStore,
        rooms: RoomManager,
        engine: Engine,
        metrics: Metrics,
        webhooks: Webhooks,
    ) -> None:
        self._metrics = metrics
        self._webhooks = webhooks
        self._sessions = sessions
        self._history = history
        self._rooms = rooms
        self._engine = engine

    async def run(
        self,
        actor: Actor,
        record: SessionRecord,
        user_id: str | None,
        stdin: str,
        client: str | None = None,
    ) -> RunRecord:
        """Run the session's code as ``actor`` (or as ``user_id`` on an open server).

        The run counts against the session's share of the sandbox and ``client``'s (an
        address or key), so neither can hold every slot and queue place.
        """
        if user_id is not None:
            if actor.role is not None and actor.participant_id != user_id:
                raise Forbidden("userId is not the caller's participant")  # only open servers
            participant = await self._sessions.participant(record.id, user_id)
            actor = actor_for(participant, actor)
        require(actor, Action.RUN)
        room = await self._rooms.get(record.id)
        if room.ended:  # before the sandbox is spent on it
            raise SessionEnded("the interview ended: no more runs")
        with room_refusals():
            code, language, started = room.code, room.language, now_ms()
        owners = [f"session:{record.id}", *([] if client is None else [client])]
        engine = await self._engine()
        result = await self._metrics.timed_run(
            language, engine.run(code, language, stdin=stdin, owners=owners)
        )
        try:
            snapshot = await self._history.add_history(record.id, started, code, language)
        except StorageError as exc:
            raise Unavailable(f"storage unavailable: {exc}") from exc
        run = RunRecord(secrets.token_hex(6), actor.participant_id, started, snapshot, code, result)
        room = await self._rooms.get(record.id)  # the room may have been reloaded meanwhile
        with room_refusals():
            room.edit(lambda doc: _append(doc, run.as_document()), actor)
        # on playback's timeline too, where no client can write
        ran = {"runId": run.id, "language": language, "exitCode": result.exit_code}
        self._rooms.log.event(
            SessionEvent(record.id, started, "ran", actor.participant_id, json.dumps(ran))
        )
        await self._rooms.log.flush()
        try:  # after the result is in the document: the event reports a change made
            await self._webhooks.emit(
                "run.completed", record.id, {"sessionId": record.id, **run.as_document()}
            )
        except StorageError as exc:
            raise Unavailable(f"storage unavailable: {exc}") from exc
        return run

    async def stored_runs(self, actor: Actor, record: SessionRecord) -> list[Any]:
        """The runs as stored in the document (whatever clients wrote there, too), the
        newest :data:`MAX_RUNS` each with the code of the history snapshot it names (so a
        client stuffing the array cannot make one request read history without end)."""
        require(actor, Action.READ_HISTORY)
        room = self._rooms.rooms.get(record.id)
        doc = room.doc if room is not None else (await self._rooms.stored(record.id))[0]
        stored = list(runs_array(doc).to_py() or [])
        codes: dict[int, str] = {}
        try:
            for item in stored[-MAX_RUNS:]:
                n = _snapshot_of(item)
                if n is not None and "code" not in item:
                    if n not in codes:
                        entry = await self._history.get_history(record.id, n)
                        codes[n] = "" if entry is None else entry.code
                    item["code"] = codes[n]
        except StorageError as exc:
            raise Unavailable(f"storage unavailable: {exc}") from exc
        return stored

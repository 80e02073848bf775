"""Grading the live code against the session's question, in one sandbox job.

The result has Judge0's status ids so its clients read it. Everyone in the session sees
it in the document (``Y.Array testRuns``), where a hidden case is only its id, whether it
passed, its status and time; interviewers get every case whole over REST.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Array

from execution import Executor, Graded
from execution.grading import (
    ACCEPTED,
    COMPILATION_ERROR,
    INTERNAL_ERROR,
    STATUS_NAMES,
    TIME_LIMIT,
    Case,
    status_of,
)
from storage import GradingStore, SessionGone, StorageError

from ..clock import now_ms
from ..document import YDoc
from ..rooms import RoomManager
from ..webhooks import Webhooks
from .actor import Actor
from .errors import InvalidInput, NotFound, SessionDeleted, SessionEnded, Unavailable
from .permissions import Action, require
from .questions import QuestionBank
from .sessions import room_refusals

TEST_RUNS = "testRuns"  # the document's array of grading results, newest last
MAX_TEST_RUNS = 20
#: What all of a question's cases may take together (the sandbox runs them in a row).
MAX_TOTAL_CASE_S = 60.0
#: Output shown per case (the whole comparison happened on the server).
SHOWN_BYTES = 4096
_HIDDEN_FIELDS = ("id", "passed", "statusId", "timeMs", "skipped")

Engine = Callable[[], Awaitable[Executor]]


def test_runs_array(doc: YDoc) -> Array[Any]:
    runs: Array[Any] = doc.get(TEST_RUNS, type=Array)
    return runs


@dataclass(frozen=True)
class TestRun:
    """One grading, whole (interviewers' view)."""

    id: str
    user_id: str | None
    at: int
    language: str
    status_id: int
    compile_output: str | None
    tests: list[dict[str, Any]]
    points: int
    max_points: int
    time_ms: int

    def view(self, whole: bool) -> dict[str, Any]:
        """The result as REST and the document show it; hidden cases only in part unless
        ``whole``."""
        tests = [
            test
            if whole or not test["hidden"]
            else {k: test[k] for k in _HIDDEN_FIELDS if k in test}
            for test in self.tests
        ]
        return {
            "runId": self.id,
            "userId": self.user_id,
            "at": self.at,
            "language": self.language,
            "status": {"id": self.status_id, "description": STATUS_NAMES[self.status_id]},
            "compile": None if self.compile_output is None else {"output": self.compile_output},
            "tests": tests,
            "score": {"points": self.points, "max": self.max_points},
            "timeMs": self.time_ms,
        }


class Grader:
    """Runs the session's code against its question's cases."""

    def __init__(
        self,
        questions: QuestionBank,
        rooms: RoomManager,
        engine: Engine,
        webhooks: Webhooks,
        store: GradingStore,
    ) -> None:
        self._store = store
        self._questions = questions
        self._rooms = rooms
        self._engine = engine
        self._webhooks = webhooks

    async def gradings(self, actor: Actor, session_id: str) -> list[dict[str, Any]]:
        """The session's kept gradings, whole, oldest first, for who may read its history
        (interviewers: the document shows everyone else a hidden case only as passed or not)."""
        require(actor, Action.READ_HISTORY)
        return await self.history(session_id)

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        """Every grading of the session, whole, oldest first."""
        try:
            return [json.loads(body) for body in await self._store.list_test_runs(session_id)]
        except StorageError as exc:
            raise Unavailable(f"storage unavailable: {exc}") from exc

    async def grade(
        self, actor: Actor, session_id: str, stop_on_first_failure: bool, client: str | None
    ) -> TestRun:
        require(actor, Action.RUN)
        room = await self._rooms.get(session_id)
        if room.ended:
            raise SessionEnded("the interview ended: no more runs")
        found = await self._questions.of_session(session_id)
        if found is None:
            raise NotFound(f"session {session_id} has no question to test against")
        tests: list[dict[str, Any]] = found[1]["tests"]
        if not tests:
            raise InvalidInput("the session's question has no test cases")
        engine = await self._engine()
        limit_s = engine.limits.max_timeout_ms / 1000
        cases = [
            Case(t["stdin"].encode(), tuple(t["args"]), min(t["timeoutMs"] / 1000, limit_s))
            for t in tests
        ]
        if sum(case.timeout_s for case in cases) > MAX_TOTAL_CASE_S:
            raise InvalidInput(f"the cases may take at most {MAX_TOTAL_CASE_S:g} s together")
        with room_refusals():
            code, language, started = room.code, room.language, now_ms()
        owners = [f"session:{session_id}", *([] if client is None else [client])]
        graded = await engine.grade(code, language, cases, owners=owners)
        run = _result(
            secrets.token_hex(6), actor.participant_id, started, graded.language, tests, cases,
            graded, stop_on_first_failure,
        )  # fmt: skip
        whole = json.dumps(run.view(whole=True), ensure_ascii=False)
        try:  # kept whole first: the document's copy is for showing, anyone may write there
            await self._store.add_test_run(session_id, run.id, run.at, whole, MAX_TEST_RUNS)
        except SessionGone:
            raise SessionDeleted(f"session {session_id} was deleted") from None
        except StorageError as exc:
            raise Unavailable(f"storage unavailable: {exc}") from exc
        room = await self._rooms.get(session_id)  # it may have been reloaded meanwhile
        with room_refusals():
            room.edit(lambda doc: _append(doc, run.view(whole=False)), actor)
        await self._rooms.log.flush()
        await self._webhooks.emit(
            "tests.completed", session_id, {"sessionId": session_id, **run.view(whole=False)}
        )
        return run


def _result(
    run_id: str,
    user_id: str | None,
    at: int,
    language: str,
    tests: list[dict[str, Any]],
    cases: list[Case],
    graded: Graded,
    stop_on_first_failure: bool,
) -> TestRun:
    batch = graded.batch
    results: list[dict[str, Any]] = []
    failed_at: int | None = None
    for n, (test, case) in enumerate(zip(tests, cases, strict=True)):
        entry: dict[str, Any] = {"id": test["id"], "name": test["name"], "hidden": test["hidden"]}
        if not batch.built:
            status, time_ms, shown = COMPILATION_ERROR, 0, None
        elif stop_on_first_failure and failed_at is not None:
            results.append(entry | {"passed": False, "statusId": None, "timeMs": 0,
                                    "skipped": True})  # fmt: skip
            continue
        elif n < len(batch.cases):
            run = batch.cases[n]
            status = status_of(run, case, test["expectedStdout"], test["compare"])
            time_ms, shown = run.time_ms, run
        else:  # the sandbox ended before this case: its own time or the engine's bound
            status = TIME_LIMIT if graded.killed_for == "timeout" else INTERNAL_ERROR
            time_ms, shown = 0, None
        if status != ACCEPTED and failed_at is None:
            failed_at = n
        entry |= {
            "passed": status == ACCEPTED,
            "statusId": status,
            "timeMs": time_ms,
            "points": test["points"] if status == ACCEPTED else 0,
            "expected": test["expectedStdout"][:SHOWN_BYTES],
            "stdout": None if shown is None else _text(shown.stdout[:SHOWN_BYTES]),
            "stderr": None if shown is None else _text(shown.stderr),
        }
        results.append(entry)
    overall = ACCEPTED if failed_at is None else results[failed_at]["statusId"]
    return TestRun(
        id=run_id,
        user_id=user_id,
        at=at,
        language=language,
        status_id=overall,
        compile_output=batch.build_output or None,
        tests=results,
        points=sum(r.get("points", 0) for r in results),
        max_points=sum(t["points"] for t in tests),
        time_ms=graded.elapsed_ms,
    )


def _outline(test: dict[str, Any]) -> dict[str, Any]:
    """What anyone may know of a hidden case's result."""
    return {key: test[key] for key in _HIDDEN_FIELDS if key in test}


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


def _append(doc: YDoc, view: dict[str, Any]) -> None:
    runs = test_runs_array(doc)
    runs.append(view)
    if len(runs) > MAX_TEST_RUNS:
        del runs[0 : len(runs) - MAX_TEST_RUNS]

"""The interview's report: who took part, the final code, every run and grading, the
question, the notes and scorecards, and a timeline of what happened (interviewers only)."""

from __future__ import annotations

from typing import Any

from storage import SessionRecord

from .actor import Actor
from .grading import Grader
from .notes import Notes
from .permissions import Action, require
from .questions import QuestionBank
from .runs import Runs
from .sessions import SessionCore, interview_status


class Reports:
    """Puts a session's record together from the parts that keep it."""

    def __init__(
        self,
        sessions: SessionCore,
        runs: Runs,
        grader: Grader,
        questions: QuestionBank,
        notes: Notes,
    ) -> None:
        self._sessions = sessions
        self._runs = runs
        self._grader = grader
        self._questions = questions
        self._notes = notes

    async def build(self, actor: Actor, record: SessionRecord) -> dict[str, Any]:
        require(actor, Action.NOTES)
        state = await self._sessions.state(record)
        runs = await self._runs.stored_runs(actor, record)
        gradings = await self._grader.history(record.id)  # whole, as the server kept them
        found = await self._questions.of_session(record.id)
        names = {p.id: p.name for p in state.participants}
        created = {"at": record.created_at, "type": "created", "userId": record.creator_id}
        events: list[dict[str, Any]] = [created]
        events += [
            {"at": p.joined_at, "type": "joined", "userId": p.id} for p in state.participants
        ]
        events += [
            {"at": p.at, "type": "online" if p.online else "left", "userId": p.participant_id}
            for p in await self._sessions.presence(record)
        ]
        if record.started_at is not None:
            events.append({"at": record.started_at, "type": "started", "userId": None})
        events += [
            {"at": run.get("at"), "type": "ran", "userId": run.get("userId"),
             "exitCode": run.get("exitCode")}
            for run in runs if isinstance(run, dict)
        ]  # fmt: skip
        events += [
            {"at": g.get("at"), "type": "tested", "userId": g.get("userId"),
             "status": g.get("status"), "score": g.get("score")}
            for g in gradings
        ]  # fmt: skip
        if record.ended_at is not None:
            events.append({"at": record.ended_at, "type": "ended", "userId": None})
        for event in events:
            who = event["userId"]
            event["user"] = names.get(who) if isinstance(who, str) else None
        events.sort(key=lambda e: e["at"] or 0)
        return {
            "sessionId": record.id,
            "status": interview_status(record),
            "createdAt": record.created_at,
            "startedAt": record.started_at,
            "endedAt": record.ended_at,
            "durationMs": record.duration_ms,
            "participants": [
                {"id": p.id, "name": p.name, "role": p.role, "joinedAt": p.joined_at}
                for p in state.participants
            ],
            "question": None if found is None else {"id": found[0], **found[1]},
            "code": state.code,
            "language": state.language,
            "runs": runs,
            "tests": gradings,
            "notes": await self._notes.read(actor, record.id),
            "scorecards": await self._notes.scorecards(actor, record.id),
            "events": events,
            "playback": None,  # the playback issue adds its link
        }

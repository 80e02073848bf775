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
from .timeline import history_events


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
        presence = await self._sessions.presence(record)
        events = history_events(record, state.participants, presence, gradings)
        events += [
            {"at": run.get("at"), "type": "ran", "userId": run.get("userId"),
             "exitCode": run.get("exitCode")}
            for run in runs if isinstance(run, dict)
        ]  # fmt: skip
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
            "playback": f"/demo/playback/?session={record.id}",
        }

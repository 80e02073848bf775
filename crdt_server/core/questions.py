"""The question bank, and the question an interview is about.

A question is JSON (validated at the REST boundary) with parts for everyone (title, prompt,
starter code, visible tests) and parts for interviewers only (the solution, the rubric and
every hidden test's input and output). A session is given a copy when the question is
attached, so editing the bank later does not change an interview under way; the copy's
public view is what goes into the shared document (``Y.Map question``), and nothing else of
it ever does.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from pycrdt import Map

from storage import QuestionFilter, QuestionRecord, QuestionStore, SessionGone, SessionRecord

from ..clock import now_ms
from ..document import YDoc, code_text
from ..rooms import RoomManager
from .actor import Actor
from .errors import NotFound, SessionDeleted, SessionEnded
from .permissions import Action, require
from .sessions import room_refusals, storage_errors

QUESTION = "question"  # the document's map holding the attached question's public view

#: What a candidate may see of a test; the rest of a hidden one stays on the server.
_VISIBLE_TEST_FIELDS = ("id", "name", "stdin", "args", "expectedStdout", "points", "timeoutMs")


def question_map(doc: YDoc) -> Map[Any]:
    shared: Map[Any] = doc.get(QUESTION, type=Map)
    return shared


def public_view(question_id: str, body: dict[str, Any], language: str) -> dict[str, Any]:
    """What every participant may see: no solution, no rubric, and of a hidden test only
    that it exists and what it is worth."""
    tests = body.get("tests", [])
    return {
        "id": question_id,
        "title": body["title"],
        "prompt": body["prompt"],
        "difficulty": body["difficulty"],
        "tags": body.get("tags", []),
        "languages": body.get("languages", []),
        "starterCode": body.get("starterCode", {}).get(language),
        "tests": [
            {key: test[key] for key in _VISIBLE_TEST_FIELDS if key in test}
            for test in tests
            if not test.get("hidden")
        ],
        "hiddenTests": sum(1 for test in tests if test.get("hidden")),
        "hiddenPoints": sum(test.get("points", 0) for test in tests if test.get("hidden")),
    }


class QuestionBank:
    """Questions stored whole; sessions given their copy."""

    def __init__(self, store: QuestionStore, rooms: RoomManager) -> None:
        self._store = store
        self._rooms = rooms

    async def create(self, body: dict[str, Any]) -> QuestionRecord:
        now = now_ms()
        record = QuestionRecord(
            "q_" + secrets.token_hex(6), now, now, body["difficulty"], _dumps(body)
        )
        with storage_errors():
            await self._store.create_question(record)
        return record

    async def get(self, question_id: str) -> QuestionRecord:
        with storage_errors():
            record = await self._store.get_question(question_id)
        if record is None:
            raise NotFound(f"question {question_id} not found")
        return record

    async def replace(self, question_id: str, body: dict[str, Any]) -> QuestionRecord:
        old = await self.get(question_id)
        record = QuestionRecord(
            question_id, old.created_at, max(now_ms(), old.updated_at), body["difficulty"],
            _dumps(body),
        )  # fmt: skip
        with storage_errors():
            if not await self._store.replace_question(record):
                raise NotFound(f"question {question_id} not found")
        return record

    async def delete(self, question_id: str) -> None:
        with storage_errors():
            if not await self._store.delete_question(question_id):
                raise NotFound(f"question {question_id} not found")

    async def list(
        self, where: QuestionFilter, limit: int, offset: int
    ) -> tuple[list[QuestionRecord], int]:
        with storage_errors():
            return await self._store.list_questions(where, limit, offset)

    # ------------------------------------------------------------ a session's question
    async def attach(self, actor: Actor, session: SessionRecord, question_id: str) -> None:
        """Give the session a copy of the question and show its public view to everyone;
        the starter code of the session's language fills the editor if it is empty."""
        require(actor, Action.MANAGE)
        if session.ended_at is not None:
            raise SessionEnded("the interview ended: the session is frozen")
        question = await self.get(question_id)
        with storage_errors():
            try:
                await self._store.attach_question(
                    session.id, question, now_ms(), actor.participant_id
                )
            except SessionGone:
                raise SessionDeleted(f"session {session.id} was deleted") from None
        body = json.loads(question.body)
        room = await self._rooms.get(session.id)
        view = public_view(question.id, body, room.language)

        def show(doc: YDoc) -> None:
            shared = question_map(doc)
            for key, value in view.items():
                shared[key] = value
            code = code_text(doc)
            if view["starterCode"] and not str(code):
                code.insert(0, view["starterCode"])

        with room_refusals():
            room.edit(show, actor)
        await self._rooms.log.flush()  # durable before we answer

    async def of_session(self, session_id: str) -> tuple[str, dict[str, Any]] | None:
        """The session's question (its id and whole body), if it has one."""
        with storage_errors():
            record = await self._store.session_question(session_id)
        return None if record is None else (record.id, json.loads(record.body))


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

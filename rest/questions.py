"""The question bank (``/questions``, API-key holders) and a session's question.

The bank holds solutions and hidden tests, so reading it takes an API key as writing does.
A session's question is read by everyone in it, each as their role may see it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from crdt_server.core.errors import (
    DocumentDamaged,
    DocumentTooLarge,
    Forbidden,
    InvalidInput,
    NotFound,
    SessionDeleted,
    SessionEnded,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
    Unavailable,
)
from crdt_server.core.permissions import Action, allows
from crdt_server.core.questions import public_view
from crdt_server.ws import client_key
from execution import QueueFull, SandboxUnavailable
from storage import QuestionFilter, QuestionRecord

from .auth import grant, require_api_key, require_key_or_interviewer
from .keys import LIVE
from .models import read_body, respond
from .question_models import (
    AttachQuestionRequest,
    Question,
    QuestionEnvelope,
    QuestionFields,
    QuestionPage,
    QuestionPatch,
    QuestionQuery,
    SessionQuestion,
    SessionQuestionEnvelope,
    TestRunEnvelope,
    TestRunList,
    TestRunView,
    TestsRequest,
)
from .routing import Operation

QUESTION = "/questions/{questionId}"
_BANK_ERRORS = (InvalidInput, Unauthorized, Unavailable)


def _with_test_ids(fields: QuestionFields) -> dict[str, Any]:
    """The question as stored: camelCase, each test with an id, unique."""
    body = fields.model_dump(by_alias=True)
    seen: set[str] = set()
    for n, test in enumerate(body["tests"], start=1):
        test["id"] = test["id"] or f"t{n}"
        if test["id"] in seen:
            raise InvalidInput(f"tests.{n - 1}.id: {test['id']!r} is used twice")
        seen.add(test["id"])
    return body


def _view(record: QuestionRecord) -> Question:
    body = json.loads(record.body)
    return Question.model_validate(
        {**body, "id": record.id, "createdAt": record.created_at, "updatedAt": record.updated_at}
    )


async def create_question(request: web.Request) -> web.StreamResponse:
    require_api_key(request)
    fields = await read_body(request, QuestionFields)
    record = await request.app[LIVE].questions.create(_with_test_ids(fields))
    return respond(QuestionEnvelope(data=_view(record)), status=201)


async def read_question(request: web.Request) -> web.StreamResponse:
    await require_key_or_interviewer(request, "reading the question bank")
    record = await request.app[LIVE].questions.get(request.match_info["questionId"])
    return respond(QuestionEnvelope(data=_view(record)))


async def update_question(request: web.Request) -> web.StreamResponse:
    require_api_key(request)
    bank = request.app[LIVE].questions
    question_id = request.match_info["questionId"]
    current = json.loads((await bank.get(question_id)).body)
    patch = await read_body(request, QuestionPatch)
    merged = {**current, **patch.model_dump(by_alias=True, exclude_unset=True)}
    try:  # the whole question must still hold together
        fields = QuestionFields.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    record = await bank.replace(question_id, _with_test_ids(fields))
    return respond(QuestionEnvelope(data=_view(record)))


async def delete_question(request: web.Request) -> web.StreamResponse:
    require_api_key(request)
    await request.app[LIVE].questions.delete(request.match_info["questionId"])
    return web.Response(status=204)


async def list_questions(request: web.Request) -> web.StreamResponse:
    await require_key_or_interviewer(request, "reading the question bank")
    try:
        query = QuestionQuery.model_validate(dict(request.query))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    where = QuestionFilter(query.difficulty, query.tag, query.language)
    records, total = await request.app[LIVE].questions.list(where, query.limit, query.offset)
    page = QuestionPage(
        data=[_view(r) for r in records], total=total, limit=query.limit, offset=query.offset
    )
    return respond(page)


async def attach_question(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, AttachQuestionRequest)
    live = request.app[LIVE]
    await live.questions.attach(who.actor, who.session, body.question_id)
    return await _session_question(request, who.session.id, allows(who.actor, Action.MANAGE))


async def read_session_question(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    return await _session_question(request, who.session.id, allows(who.actor, Action.MANAGE))


async def _session_question(
    request: web.Request, session_id: str, whole: bool
) -> web.StreamResponse:
    live = request.app[LIVE]
    found = await live.questions.of_session(session_id)
    if found is None:
        raise NotFound(f"session {session_id} has no question")
    question_id, body = found
    room = await live.rooms.get(session_id)
    view = public_view(question_id, body, room.language)
    if whole:
        view |= {
            "starterCode": body["starterCode"],
            "tests": body["tests"],
            "solution": body["solution"],
            "rubric": body["rubric"],
        }
    return respond(SessionQuestionEnvelope(data=SessionQuestion.model_validate(view)))


async def run_tests(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    body = await read_body(request, TestsRequest, empty_ok=True)
    live = request.app[LIVE]
    run = await live.grader.grade(
        who.actor, who.session.id, body.stop_on_first_failure, client_key(request)
    )
    view = run.view(whole=allows(who.actor, Action.MANAGE))
    return respond(TestRunEnvelope(data=TestRunView.model_validate(view)))


async def list_test_runs(request: web.Request) -> web.StreamResponse:
    who = await grant(request)
    gradings = await request.app[LIVE].grader.gradings(who.actor, who.session.id)
    return respond(TestRunList(data=[TestRunView.model_validate(g) for g in gradings]))


_EXAMPLE = {
    "title": "Sum of two numbers",
    "prompt": "Read two integers from standard input and print their sum.",
    "difficulty": "easy",
    "tags": ["warm-up", "io"],
    "languages": ["python", "javascript"],
    "starterCode": {"python": "a, b = map(int, input().split())\n"},
    "tests": [
        {"name": "small", "stdin": "1 2\n", "expectedStdout": "3\n"},
        {
            "name": "large",
            "stdin": "1000000 2000000\n",
            "expectedStdout": "3000000\n",
            "hidden": True,
            "points": 2,
        },
    ],  # fmt: skip
    "solution": {"python": "a, b = map(int, input().split())\nprint(a + b)\n"},
    "rubric": [{"competency": "correctness", "levels": ["wrong", "partly", "right"]}],
}
_SESSION_ERRORS = (SessionNotFound, SessionExpired, Unauthorized, Forbidden, Unavailable)

OPERATIONS = [
    Operation(
        "POST",
        "/questions",
        create_question,
        "Add a question to the bank (API key)",
        "questions",
        201,
        QuestionFields,
        QuestionEnvelope,
        _BANK_ERRORS,
        example=_EXAMPLE,
    ),
    Operation(
        "GET",
        "/questions",
        list_questions,
        "List the bank, filtered by difficulty, tag and language, a page at a time (API key, "
        "or an interviewer's token)",
        "questions",
        response=QuestionPage,
        errors=(*_BANK_ERRORS, Forbidden),
    ),
    Operation(
        "GET",
        QUESTION,
        read_question,
        "Read a question whole, solution and hidden tests included (API key, or an "
        "interviewer's token)",
        "questions",
        response=QuestionEnvelope,
        errors=(*_BANK_ERRORS, Forbidden, NotFound),
    ),
    Operation(
        "PATCH",
        QUESTION,
        update_question,
        "Change some fields of a question; sessions keep the copy they were given (API key)",
        "questions",
        body=QuestionPatch,
        response=QuestionEnvelope,
        errors=(*_BANK_ERRORS, NotFound),
        example={"difficulty": "medium", "tags": ["warm-up"]},
    ),
    Operation(
        "DELETE",
        QUESTION,
        delete_question,
        "Remove a question from the bank (API key)",
        "questions",
        204,
        errors=(*_BANK_ERRORS, NotFound),
    ),
    Operation(
        "PUT",
        "/sessions/{sessionId}/question",
        attach_question,
        "Give the session a question (interviewer): everyone's editor shows its prompt, "
        "visible tests and starter code",
        "questions",
        body=AttachQuestionRequest,
        response=SessionQuestionEnvelope,
        errors=(
            *_SESSION_ERRORS,
            InvalidInput,
            NotFound,
            SessionDeleted,
            DocumentTooLarge,
            DocumentDamaged,
        ),
        example={"questionId": "q_0123456789ab"},
    ),  # fmt: skip
    Operation(
        "POST",
        "/sessions/{sessionId}/tests",
        run_tests,
        "Grade the live code against every case of the session's question in one sandbox "
        "job (built once); the result is shared with everyone, hidden cases only as passed "
        "or not",
        "questions",
        body=TestsRequest,
        response=TestRunEnvelope,
        errors=(
            *_SESSION_ERRORS,
            InvalidInput,
            NotFound,
            SessionEnded,
            DocumentDamaged,
            QueueFull,
            SandboxUnavailable,
        ),
        example={"stopOnFirstFailure": False},
    ),  # fmt: skip
    Operation(
        "GET",
        "/sessions/{sessionId}/tests",
        list_test_runs,
        "The session's gradings, hidden cases whole (interviewer); the document shows everyone "
        "the same results with hidden cases only as passed or not",
        "questions",
        response=TestRunList,
        errors=_SESSION_ERRORS,
    ),
    Operation(
        "GET",
        "/sessions/{sessionId}/question",
        read_session_question,
        "The session's question: whole for interviewers, without solution, rubric or hidden "
        "cases for everyone else",
        "questions",
        response=SessionQuestionEnvelope,
        errors=(*_SESSION_ERRORS, NotFound),
    ),
]

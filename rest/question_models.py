"""The question bank's models at the REST boundary (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from execution.languages import KNOWN_NAMES

from .models import CaseTimeoutMs, Model, Points, QuestionId, RequestModel

Difficulty = Literal["easy", "medium", "hard"]


def _runnable(name: str) -> str:
    canonical = KNOWN_NAMES.get(name.strip().lower())
    if canonical is None:
        known = ", ".join(sorted(set(KNOWN_NAMES.values())))
        raise ValueError(f"unknown language {name!r} (known: {known})")
    return canonical


#: A language the sandbox knows (any alias, any case), stored by its canonical name.
RunnableLanguage = Annotated[str, AfterValidator(_runnable)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
TestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Program = Annotated[str, StringConstraints(max_length=128 * 1024)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Prompt = Annotated[str, StringConstraints(max_length=64 * 1024)]
Arg = Annotated[str, StringConstraints(max_length=1024)]


class TestCase(RequestModel):
    """One case a solution is graded on."""

    id: TestId | None = None
    """Its id within the question (t1, t2, ... when left out)."""
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    """What it checks, shown to whoever may see the case."""
    stdin: Annotated[str, StringConstraints(max_length=256 * 1024)] = ""
    """Standard input of the run."""
    args: Annotated[
        list[Annotated[str, StringConstraints(max_length=1024)]], Field(max_length=32)
    ] = []
    """Command-line arguments of the run."""
    expected_stdout: Annotated[str, StringConstraints(max_length=256 * 1024)]
    """What the run must print."""
    compare: Literal["exact", "lines", "tokens", "float"] = "exact"
    """How output is compared: byte for byte, line by line ignoring trailing space, token
    by token, or tokens as numbers within 1e-6."""
    hidden: bool = False
    """Hidden from candidates and observers: they see only whether it passed."""
    points: Points = 1
    """What passing it is worth."""
    timeout_ms: CaseTimeoutMs = 2000
    """Its wall-time limit (lowered to the host's limit)."""


class RubricItem(RequestModel):
    """One competency an interviewer scores."""

    competency: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    """What is scored."""
    levels: Annotated[list[Annotated[str, StringConstraints(max_length=500)]], Field(max_length=8)]
    """What each score means, lowest first."""


class QuestionFields(RequestModel):
    """A question as written: everything but its id and times."""

    title: Title
    """A short name."""
    prompt: Prompt
    """The task, in Markdown."""
    difficulty: Difficulty
    """easy, medium or hard."""
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    """Topics, for finding it again."""
    languages: Annotated[list[RunnableLanguage], Field(max_length=16)] = []
    """The languages it may be solved in."""
    starter_code: dict[RunnableLanguage, Program] = {}
    """Code the editor starts with, per language."""
    tests: Annotated[list[TestCase], Field(max_length=100)] = []
    """The cases a solution is graded on."""
    solution: dict[RunnableLanguage, Program] = {}
    """A reference solution per language (interviewers only)."""
    rubric: Annotated[list[RubricItem], Field(max_length=20)] = []
    """How the interview is scored (interviewers only)."""


class QuestionPatch(RequestModel):
    """The fields to change; the rest stay."""

    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    """A short name."""
    prompt: Prompt | None = None
    """The task, in Markdown."""
    difficulty: Difficulty | None = None
    """easy, medium or hard."""
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    """Topics."""
    languages: Annotated[list[RunnableLanguage], Field(max_length=16)] | None = None
    """The languages it may be solved in."""
    starter_code: dict[RunnableLanguage, Program] | None = None
    """Code the editor starts with, per language."""
    tests: Annotated[list[TestCase], Field(max_length=100)] | None = None
    """The cases a solution is graded on (the whole list)."""
    solution: dict[RunnableLanguage, Program] | None = None
    """A reference solution per language."""
    rubric: Annotated[list[RubricItem], Field(max_length=20)] | None = None
    """How the interview is scored."""


class Question(Model):
    """A question of the bank, whole."""

    id: str
    """The question's id."""
    created_at: int
    """When it was written (Unix ms)."""
    updated_at: int
    """When it last changed (Unix ms)."""
    title: str
    """A short name."""
    prompt: str
    """The task, in Markdown."""
    difficulty: Difficulty
    """easy, medium or hard."""
    tags: list[str]
    """Topics."""
    languages: list[str]
    """The languages it may be solved in."""
    starter_code: dict[str, str]
    """Code the editor starts with, per language."""
    tests: list[dict[str, Any]]
    """Every case, hidden ones included."""
    solution: dict[str, str]
    """A reference solution per language."""
    rubric: list[dict[str, Any]]
    """How the interview is scored."""


class QuestionEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: Question
    """The question."""


class QuestionPage(Model):
    success: Literal[True] = True
    """Always true here."""
    data: list[Question]
    """This page of matching questions, oldest first."""
    total: int
    """How many match in all."""
    limit: int
    """The page size asked for."""
    offset: int
    """Where this page starts."""


class QuestionQuery(RequestModel):
    """A listing's query string."""

    difficulty: Difficulty | None = None
    """Only questions of this difficulty."""
    tag: Tag | None = None
    """Only questions with this tag."""
    language: RunnableLanguage | None = None
    """Only questions solvable in this language."""
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    """Page size."""
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    """Where the page starts."""


class AttachQuestionRequest(RequestModel):
    question_id: QuestionId
    """The bank's question to give the session (a copy: later edits of the bank do not
    change it)."""


class SessionQuestion(Model):
    """A session's question as the caller may see it: whole for interviewers; for the
    others, what the shared document holds (no solution, no rubric, no hidden case)."""

    id: str
    """The bank question it was copied from."""
    title: str
    """A short name."""
    prompt: str
    """The task, in Markdown."""
    difficulty: Difficulty
    """easy, medium or hard."""
    tags: list[str]
    """Topics."""
    languages: list[str]
    """The languages it may be solved in."""
    starter_code: str | dict[str, str] | None
    """The starter code: of the session's language, or (interviewers) every language's."""
    tests: list[dict[str, Any]]
    """The cases the caller may see."""
    hidden_tests: int
    """How many cases are hidden."""
    hidden_points: int
    """What the hidden cases are worth together."""
    solution: dict[str, str] | None = None
    """Interviewers only: the reference solutions."""
    rubric: list[dict[str, Any]] | None = None
    """Interviewers only: how the interview is scored."""


class SessionQuestionEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: SessionQuestion
    """The session's question."""


class TestsRequest(RequestModel):
    stop_on_first_failure: bool = False
    """Stop at the first case that fails; the rest are reported as skipped."""


class Status(Model):
    id: int
    """Judge0's status id: 3 Accepted, 4 Wrong Answer, 5 Time Limit Exceeded, 6 Compilation
    Error, 7-12 Runtime Error (SIGSEGV, SIGXFSZ, SIGFPE, SIGABRT, NZEC, Other), 13 Internal
    Error."""
    description: str
    """Its name, as Judge0 gives it."""


class CompileOutput(Model):
    output: str
    """What the compiler printed."""


class Score(Model):
    points: int
    """The points of the cases passed."""
    max: int
    """The points of every case."""


class TestRunView(Model):
    """One grading of the live code against the session's question."""

    run_id: str
    """The grading's id."""
    user_id: str | None
    """Who asked for it."""
    at: int
    """When it started (Unix ms)."""
    language: str
    """The language it ran as."""
    status: Status
    """Accepted if every case passed, else the first failing case's status."""
    compile: CompileOutput | None
    """The build step's output, when it printed any."""
    tests: list[dict[str, Any]]
    """Each case: `{id, passed, statusId, timeMs}`, and for the cases the caller may see also
    `name, points, stdout, stderr, expected` (`skipped` after a first failure, if asked)."""
    score: Score
    """Points won of the total."""
    time_ms: int
    """Wall time of the whole job: one build and every case."""


class TestRunEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: TestRunView
    """The grading."""


class TestRunList(Model):
    success: Literal[True] = True
    """Always true here."""
    data: list[TestRunView]
    """The session's kept gradings (the newest 20), oldest first, hidden cases whole."""

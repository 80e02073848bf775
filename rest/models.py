"""Pydantic models of the REST boundary (camelCase on the wire), and the body reader.

Handlers validate bodies with :func:`read_body` and serialise responses with
:func:`respond`; the OpenAPI document is generated from these same models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from crdt_server.core.actor import Role
from crdt_server.core.errors import InvalidInput
from crdt_server.core.sessions import NewUser
from crdt_server.document import Language
from execution.languages import KNOWN_NAMES

from .encodings import ACCEPTED, BodyTooLarge, UnsupportedEncoding, decode_body
from .errors import CLOSE_AFTER

#: A version tag as the session view gives it (``version``, and the ETag header).
Version = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{16}$"),
    Field(description="A version the caller read (the session's `version`)"),
]

PARTICIPANT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ParticipantId = Annotated[
    str,
    StringConstraints(pattern=PARTICIPANT_ID),
    Field(description="Participant id: a UUID, or up to 64 letters, digits and ._:-"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Color = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=64,
        pattern=r"^(#[0-9A-Fa-f]{3,8}|(hsl|hsla|rgb|rgba)\([0-9.,%\s/a-z-]+\))$",
    ),
    Field(description="A CSS colour: hsl(...), rgb(...) or #hex"),
]


class Model(BaseModel):
    """A REST model: camelCase on the wire; the docstring under a field describes it."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, use_attribute_docstrings=True
    )


def _whole(value: object) -> object:
    """JSON Schema's integers include 57.0: accept a whole float as the int it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer as JSON Schema has it (still strict: "57", true and 57.5 are refused).
Integer = Annotated[int, BeforeValidator(_whole)]
#: Likewise, at least 1. The bound goes inside, before the validator: placed after it (or on
#: an optional field) pydantic writes it into the schema as "ge", which JSON Schema lacks.
PositiveInteger = Annotated[int, Field(ge=1), BeforeValidator(_whole)]
#: Bounded ones the same way (the names say the bounds).
Points = Annotated[int, Field(ge=0, le=1000), BeforeValidator(_whole)]
CaseTimeoutMs = Annotated[int, Field(ge=1, le=60_000), BeforeValidator(_whole)]
InterviewMs = Annotated[int, Field(ge=60_000, le=24 * 3600 * 1000), BeforeValidator(_whole)]


class RequestModel(Model):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- requests
class UserInfo(RequestModel):
    """Who joins: every field may be left out and is then assigned."""

    id: ParticipantId | None = None
    """The participant's id (a UUID or your own); assigned when left out."""
    name: Name | None = None
    """Display name; a friendly one is picked when left out."""
    color: Color | None = None
    """Cursor colour; one is picked when left out."""

    def new_user(self) -> NewUser:
        return NewUser(self.id, self.name, self.color)


#: A question of the bank.
QuestionId = Annotated[str, StringConstraints(pattern=r"^q_[0-9a-f]{12}$")]


class CreateSessionRequest(RequestModel):
    creator: UserInfo | None = None
    """The interviewer creating the session."""
    code: str | None = None
    """The starting code."""
    language: Language | None = None
    """The editor language; `javascript` when left out."""
    question_id: QuestionId | None = None
    """A question of the bank to give the session at once (as PUT /sessions/{id}/question)."""


class UpdateSessionRequest(RequestModel):
    code: str | None = None
    """The whole new code, merged as an edit of `baseVersion`."""
    language: Language | None = None
    """The new editor language."""
    base_version: Version | None = Field(
        None, description="The version `code` was made from; else the closest recent one"
    )


class PutCodeRequest(RequestModel):
    code: str
    """The whole new code, merged as an edit of `baseVersion`."""
    language: Language | None = None
    """The new editor language, if it changes too."""
    base_version: Version | None = Field(
        None, description="The version `code` was made from; else the closest recent one"
    )


class StartRequest(RequestModel):
    duration_ms: InterviewMs | None = None
    """The planned length; everyone's editor counts down to startedAt + durationMs."""


class JoinRequest(RequestModel):
    user: UserInfo | None = None
    """Who joins; with an invite token, they join in its role."""


class UsersRequest(UserInfo):
    """Seed 002's join body: the user itself, or ``{"user": {...}}``."""

    user: UserInfo | None = None
    """Who joins, wrapped (the same as giving the fields at the top)."""


class UpdateParticipantRequest(RequestModel):
    is_online: bool | None = None
    """Mark the participant online or offline."""
    name: Name | None = None
    """A new display name."""
    color: Color | None = None
    """A new cursor colour."""
    role: Literal["interviewer", "candidate", "observer"] | None = None
    """A new role (interviewers only)."""


# ---------------------------------------------------------------- responses
class Participant(Model):
    id: str
    """The participant's id."""
    name: str
    """Display name."""
    role: Role
    """interviewer, candidate or observer."""
    color: str
    """Cursor colour (CSS)."""
    joined_at: int
    """When they joined (Unix ms)."""
    is_online: bool
    """Whether one of their sockets is open now."""


class Session(Model):
    id: str
    """The session id: 8 lowercase hex characters."""
    created_at: int
    """Creation time (Unix ms)."""
    updated_at: int
    """Time of the last change (Unix ms)."""
    expires_at: int
    """When the session and all it holds are deleted (Unix ms)."""
    code: str
    """The current code."""
    language: str
    """The editor language."""
    version: str = Field(description="Names this state of the code; send it back as baseVersion")
    damaged: str | None = Field(
        None, description="Set when the stored document loaded only in part: it is read-only"
    )
    participants: list[Participant]
    """Everyone who joined, in joining order."""
    creator_id: str
    """The interviewer who created it."""
    status: Literal["waiting", "active", "ended"] = "waiting"
    """The interview: not started, under way, or ended (the session is then frozen)."""
    started_at: int | None = None
    """When the interviewer started it (Unix ms)."""
    ended_at: int | None = None
    """When it ended (Unix ms): from then on nobody's edit applies."""
    duration_ms: int | None = None
    """Its planned length, if one was given at the start."""


class SessionEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: Session
    """The session."""


class RoleSet(Model):
    """One value per role: tokens, or the demo-page links that carry them."""

    interviewer: str = Field(description="Bound to the creator")
    candidate: str = Field(description="An invite: its bearer joins as a candidate")
    observer: str = Field(description="An invite: its bearer joins as a read-only observer")


class CreatedSession(Session):
    tokens: RoleSet | None = Field(None, description="With --auth token: the session's tokens")
    links: RoleSet | None = Field(None, description="Demo-page URLs carrying those tokens")


class CreatedEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: CreatedSession
    """The new session."""


class JoinedSession(Session):
    participant_id: str = Field(description="The participant this join made (or rejoined)")
    token: str | None = Field(None, description="With --auth token: the joiner's own token")


class JoinedEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: JoinedSession
    """The session joined."""


class RotateInviteRequest(RequestModel):
    role: Literal["candidate", "observer"]
    """Which invite to replace; its old tokens stop working."""


class Invite(Model):
    role: str
    """The invite's role."""
    token: str
    """The new invite token."""
    link: str
    """A demo-page URL carrying it."""


class InviteEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: Invite
    """The new invite."""


class ParticipantList(Model):
    success: Literal[True] = True
    """Always true here."""
    participants: list[Participant]
    """Everyone who joined, in joining order."""


class HistoryItem(Model):
    n: int
    """The snapshot's number, from 1."""
    at: int
    """When it was taken (Unix ms)."""
    size: int = Field(description="Size of the code in UTF-8 bytes")


class HistoryList(Model):
    success: Literal[True] = True
    """Always true here."""
    data: list[HistoryItem]
    """The snapshots, oldest first."""


class HistorySnapshot(Model):
    n: int
    """The snapshot's number."""
    at: int
    """When it was taken (Unix ms)."""
    code: str
    """The code at that moment."""
    language: str
    """The language at that moment."""


class HistorySnapshotEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: HistorySnapshot
    """The snapshot."""


#: Every language and alias the engine knows (any case); one this host lacks is a 400 too.
_LANGUAGE_NAMES: list[JsonValue] = [*sorted(KNOWN_NAMES)]


class ExecuteRequest(RequestModel):
    code: str = Field(max_length=512 * 1024)
    """The program to run."""
    language: str = Field(min_length=1, max_length=32, json_schema_extra={"enum": _LANGUAGE_NAMES})
    """Its language (a name or alias of GET /execute/languages)."""
    stdin: str | None = Field(None, max_length=1024 * 1024)
    """Its standard input."""
    timeout_ms: PositiveInteger | None = Field(
        None, description="Lowered, never raised, by the host"
    )


class SessionExecuteRequest(RequestModel):
    user_id: str | None = Field(None, description="Who ran it (a participant id)")
    stdin: str | None = Field(None, max_length=1024 * 1024)
    """Standard input for the run."""


class ExecutionResult(Model):
    language: str
    """The language it ran as."""
    stdout: str
    """Standard output (cut at the output limit)."""
    stderr: str
    """Standard error (cut at the output limit)."""
    exit_code: int | None
    """The exit status; null when it was killed."""
    execution_time: int = Field(description="Wall time in milliseconds")
    timed_out: bool
    """Killed at its wall-time limit."""
    memory_exceeded: bool
    """Killed at its memory limit."""
    output_truncated: bool
    """stdout or stderr was cut."""
    sandboxed: bool
    """Ran inside the sandbox (always, unless the operator allowed otherwise)."""


class ExecuteResponse(Model):
    success: Literal[True] = True
    """Always true here."""
    data: ExecutionResult
    """The run's result."""


class RunModel(ExecutionResult):
    id: str
    """The run's id."""
    user_id: str | None
    """Who ran it."""
    at: int
    """When it started (Unix ms)."""
    history: int = Field(description="The history snapshot holding the exact code run")
    code: str
    """The exact code that ran."""


class RunResponse(Model):
    success: Literal[True] = True
    """Always true here."""
    data: RunModel
    """The run, as shared with the session."""


class RunList(Model):
    success: Literal[True] = True
    """Always true here."""
    data: list[RunModel]
    """The session's runs, oldest first."""


class LanguageModel(Model):
    name: str
    """The language's name."""
    version: str
    """The installed version."""
    aliases: list[str]
    """Other names it answers to."""
    runtime: str
    """The compiler or interpreter that runs it."""


class LanguageList(Model):
    success: Literal[True] = True
    """Always true here."""
    data: list[LanguageModel]
    """The languages this host can run."""
    sandboxed: bool = Field(description="False when runs are refused (or, if allowed, unsandboxed)")
    reason: str | None = Field(None, description="Why the sandbox is unavailable, if it is")


class Health(Model):
    status: Literal["ok", "degraded"]
    """ok while the database answers; degraded while Redis does not (the process serves on,
    and other processes' changes reach its rooms through the database, a second later)."""
    timestamp: int
    """The server's clock (Unix ms)."""
    version: str
    """The server's version."""
    uptime_ms: int
    """Time since start-up."""
    database: Literal["ok"]
    """ok while the database answers."""
    redis: Literal["ok", "unavailable", "off"]
    """off: this process shares rooms with no other (no --redis-url)."""


class ErrorEnvelope(Model):
    success: Literal[False] = False
    """Always false here."""
    error: str
    """What went wrong, for a person."""
    code: str
    """What went wrong, for a program: RATE_LIMITED, NOT_FOUND, ..."""


# ---------------------------------------------------------------- helpers
M = TypeVar("M", bound=BaseModel)


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def read_body(request: web.Request, model: type[M], *, empty_ok: bool = False) -> M:
    """Parse and validate a JSON object body, strictly; every failure is a 400 naming the
    field, a body that is not JSON by its Content-Type a 415 (so a cross-site "simple"
    text/plain or form POST never reaches a handler)."""
    try:
        raw = await request.read()
    except web.HTTPException:
        raise
    except (HttpProcessingError, RequestPayloadError, ValueError, OSError) as exc:  # bad encoding
        request.content.feed_eof()  # nothing more to read: aiohttp must not linger on it
        request[CLOSE_AFTER] = True  # the connection's framing is lost: answer, then close
        raise InvalidInput(f"the body could not be read: {exc}") from None
    try:
        coding = request.headers.get(hdrs.CONTENT_ENCODING, "")
        raw = decode_body(raw, coding, request.client_max_size)
    except UnsupportedEncoding as exc:
        raise web.HTTPUnsupportedMediaType(
            reason=str(exc), headers={hdrs.ACCEPT_ENCODING: ACCEPTED}
        ) from None
    except BodyTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.client_max_size, actual_size=request.client_max_size + 1
        ) from None
    if not raw:
        if empty_ok:
            return model.model_validate({})
        raise InvalidInput("a JSON object body is required")
    if not _is_json(request.content_type):
        raise web.HTTPUnsupportedMediaType(reason="the body must be application/json")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise InvalidInput(f"malformed JSON body: {errors[0]['msg']}") from None
        if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            raise InvalidInput("the body must be a JSON object") from None
        fields = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in errors]
        message = "; ".join(_describe(e) for e in errors)
        raise InvalidInput(message, fields=fields) from None


def respond(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json(by_alias=True),
        status=status,
        content_type="application/json",
    )

"""The seed-000 JSON events, bridged to the room's CRDT.

A JSON client sends whole texts, possibly based on an older state than the
server's. Each connection remembers the last few versions it saw (sent to it
or by it); a new text is merged as an edit of the one it is closest to
(:mod:`crdt_server.merge`), so it keeps edits the client had not seen instead
of reverting them, even when our ``code_change`` and its own cross on the
wire. Changes by others come back as ``code_change`` events, coalesced to one
per 50 ms, always ending with the latest text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storage import ParticipantRecord

from .awareness import NULL_STATE, Change
from .clock import now_ms
from .close_codes import CloseCode
from .connection import next_connection_id
from .core.actor import Actor, Role, Via, role_of
from .core.errors import SessionEnded
from .core.permissions import Action, allows
from .document import LANGUAGE, Language, YDoc, meta_map
from .merge import Bases
from .protocol import DocumentFull, DocumentQuarantined, ProtocolError, RoomReset
from .room import Room, write_text
from .strict_json import JsonRejected, dumps, loads

log = logging.getLogger(__name__)

COALESCE_S = 0.05
#: Largest line or column a cursor may name (Monaco's own limits are far below).
MAX_POSITION = 10_000_000


class Outbox(Protocol):
    def send_text(self, text: str) -> None: ...
    async def close(self, code: CloseCode, reason: str) -> None: ...


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    user_id: str | None = Field(None, alias="userId")


class CodeChange(_Event):
    code: str


class LanguageChange(_Event):
    language: Language


class Position(BaseModel):
    line_number: Annotated[int, Field(ge=1, le=MAX_POSITION, alias="lineNumber")]
    column: Annotated[int, Field(ge=1, le=MAX_POSITION)]


class CursorPosition(_Event):
    position: Position


EVENTS: dict[str, type[_Event]] = {
    "code_change": CodeChange,
    "language_change": LanguageChange,
    "cursor_position": CursorPosition,
}


class BadEvent(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@functools.lru_cache(maxsize=256)
def cursor_of(state: str) -> tuple[tuple[tuple[str, int], ...], str | None] | None:
    """The cursor and user id in an awareness state, if it holds one this contract can
    express; parsed once per distinct state however many JSON clients hear of it."""
    try:
        parsed = loads(state)
        cursor = parsed["cursor"]
        line, column = cursor["lineNumber"], cursor["column"]
    except (JsonRejected, KeyError, TypeError):
        return None
    if not all(isinstance(v, int) and 1 <= v <= MAX_POSITION for v in (line, column)):
        return None
    user = parsed.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return (("lineNumber", line), ("column", column)), (
        user_id if isinstance(user_id, str) and len(user_id) <= 128 else None
    )


def participant_json(p: ParticipantRecord) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "role": p.role, "color": p.color}


class JsonClient:
    """One JSON connection in a room (a :class:`~crdt_server.room.RoomListener`)."""

    def __init__(
        self,
        room: Room,
        outbox: Outbox,
        participant: ParticipantRecord | None,
        *,
        max_errors: int,
        max_code_chars: int,
        bind: Callable[[JsonClient, str], Awaitable[bool]],
        role: Role | None = None,
        connection_id: int | None = None,
    ) -> None:
        self.id = connection_id or next_connection_id()
        self.room = room
        self.participant = participant
        self._role = role  # an invite holder's role (no participant yet)
        self._outbox = outbox
        self._bind = bind
        self._max_errors = max_errors
        self._max_code = max_code_chars
        self._errors = 0
        self._awareness_id = random.getrandbits(30) | (1 << 30)
        self._bases = Bases(in_order=True)  # versions it was sent or wrote, for its next text
        self._sent_code = ""
        self._sent_language = ""
        self._changed_by: str | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._last_flush = 0.0

    @property
    def user_id(self) -> str | None:
        return None if self.participant is None else self.participant.id

    def rebind(self, participant: ParticipantRecord) -> None:
        self.participant = participant

    @property
    def actor(self) -> Actor:
        """Who this connection speaks for: its participant once it named one."""
        if self.participant is None:
            return Actor(Via.JSON, role=self._role, connection=self.id)
        role = role_of(self.participant.role)
        return Actor(Via.JSON, self.participant.id, role, self.id)

    # ------------------------------------------------------------ outgoing
    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self._outbox.send_text(dumps({"type": kind, "data": data}))

    def start(self) -> None:
        """The current state first: the full code, the language, then the cursors."""
        self._sent_code, self._sent_language = self.room.code, self.room.language
        self._bases.remember(self.room.base())
        stamp = now_ms()
        self._emit("code_change", {"code": self._sent_code, "userId": None, "timestamp": stamp})
        self._emit(
            "language_change",
            {"language": self._sent_language, "userId": None, "timestamp": stamp},
        )
        present = [Change(cid, e.state) for cid, e in self.room.awareness.entries.items()]
        self.awareness_changed(present, None)

    def document_changed(self, actor: Actor) -> None:
        if actor.connection == self.id:
            return
        self._changed_by = actor.participant_id
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_flush + COALESCE_S - loop.time())
            self._flush = loop.call_later(delay, self._send_changes)

    def _send_changes(self) -> None:
        self._flush = None
        self._last_flush = asyncio.get_running_loop().time()
        try:
            code, language, stamp = self.room.code, self.room.language, now_ms()
        except RoomReset:
            return  # the room was retired: its sockets, this one too, are being closed
        if code != self._sent_code:
            self._sent_code = code
            self._bases.remember(self.room.base())  # encoded once per version for everyone
            self._emit(
                "code_change", {"code": code, "userId": self._changed_by, "timestamp": stamp}
            )
        if language != self._sent_language:
            self._sent_language = language
            self._emit(
                "language_change",
                {"language": language, "userId": self._changed_by, "timestamp": stamp},
            )

    def awareness_changed(self, changes: list[Change], connection: int | None) -> None:
        if connection == self.id:
            return
        for change in changes:
            if change.state == NULL_STATE or change.client_id == self._awareness_id:
                continue
            seen = cursor_of(change.state)
            if seen is not None:  # else not a cursor this contract can express
                position, user_id = seen
                self._emit(
                    "cursor_position",
                    {"position": dict(position), "userId": user_id, "timestamp": now_ms()},
                )

    def presence_changed(self, participant: ParticipantRecord, online: bool) -> None:
        if online:
            self._emit("user_join", {"user": participant_json(participant), "timestamp": now_ms()})
        else:
            self._emit("user_leave", {"userId": participant.id, "timestamp": now_ms()})

    def notes_changed(self, notes: dict[str, Any]) -> None:
        self._emit("notes_change", notes)

    async def close(self, code: CloseCode, reason: str) -> None:
        self.stop()
        await self._outbox.close(code, reason)

    def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    # ------------------------------------------------------------ incoming
    async def receive(self, raw: str) -> None:
        """Handle one text frame; bad input gets an error event, a run of them closes 1008."""
        try:
            await self._dispatch(raw)
        except ProtocolError as exc:  # the room was reset: this client reconnects
            await self.close(exc.close_code, str(exc)[:120])
            return
        except BadEvent as exc:
            self._errors += 1
            self._emit("error", {"message": str(exc), "code": exc.code})
            if self._errors >= self._max_errors:
                await self.close(CloseCode.POLICY_VIOLATION, "too many invalid events")
            return
        self._errors = 0

    async def _dispatch(self, raw: str) -> None:
        try:
            message = loads(raw)
        except JsonRejected as exc:
            raise BadEvent("INVALID_JSON", f"the frame is not valid JSON: {exc}") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise BadEvent("INVALID_EVENT", 'expected {"type": string, "data": object}')
        model = EVENTS.get(message["type"])
        if model is None:
            raise BadEvent("UNKNOWN_TYPE", f"unknown event type {message['type']!r}")
        try:
            event = model.model_validate(message.get("data"), strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"])) or "data"
            raise BadEvent("INVALID_EVENT", f"{message['type']}: {where}: {first['msg']}") from None
        await self._check_user(event.user_id)
        editing = isinstance(event, CodeChange | LanguageChange)
        if editing and (self.room.ended or not allows(self.actor, Action.EDIT)):
            self._emit("error", {"message": "read-only: not applied", "code": "FORBIDDEN"})
            return  # not a malformed event: not counted towards closing the socket
        try:
            if isinstance(event, CodeChange):
                await self._code_change(event.code)
            elif isinstance(event, LanguageChange):
                self._language_change(event.language)
            elif isinstance(event, CursorPosition):
                self._cursor(event.position)
        except DocumentFull as exc:
            raise BadEvent("DOCUMENT_TOO_LARGE", str(exc)) from None
        except DocumentQuarantined as exc:
            raise BadEvent("DOCUMENT_DAMAGED", str(exc)) from None
        except SessionEnded:  # it ended while this edit was on its way
            self._emit(
                "error", {"message": "the interview ended: not applied", "code": "FORBIDDEN"}
            )

    async def _check_user(self, user_id: str | None) -> None:
        if user_id is None or user_id == self.user_id:
            return
        if self.participant is not None:
            raise BadEvent("FORBIDDEN", "userId is not this connection's participant")
        if not await self._bind(self, user_id):
            raise BadEvent("FORBIDDEN", f"userId {user_id!r} is not a participant of this session")

    async def _code_change(self, code: str) -> None:
        if len(code) > self._max_code:
            raise BadEvent("INVALID_EVENT", f"code_change: at most {self._max_code} characters")
        room = self.room
        await write_text(room, code, self.actor, self._bases)
        self._bases.drop_older_own()
        if room.code == code:
            self._sent_code = code
        else:  # merged with edits this client had not seen: it gets the result
            self._changed_by = self.user_id
            self._schedule_flush()

    def _language_change(self, language: str) -> None:
        def change(doc: YDoc) -> None:
            meta_map(doc)[LANGUAGE] = language

        if self.room.language != language:
            self._sent_language = language
            self.room.edit(change, self.actor)

    def _cursor(self, position: Position) -> None:
        user: dict[str, Any] = {"id": self.user_id}
        if self.participant is not None:
            user.update(name=self.participant.name, color=self.participant.color)
        state = {
            "user": user,
            "cursor": {"lineNumber": position.line_number, "column": position.column},
        }
        self.room.set_awareness(self.id, self._awareness_id, state)

"""The seed-000 JSON events, bridged to the room's CRDT.

A JSON client sends whole texts, possibly based on an older state than the
server's. Each connection remembers the last few texts it saw (sent to it or
by it) with the document state behind each. A new text is diffed against the
base it is closest to, as an edit of that base's state, and the resulting
CRDT update is applied to the room: it merges with edits the client had not
seen instead of reverting them, even when our ``code_change`` and its own
cross on the wire. Changes by others come back as ``code_change`` events,
coalesced to one per 50 ms, always ending with the latest text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, Protocol

from pycrdt import Doc, TransactionEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storage import ParticipantRecord

from .awareness import NULL_STATE, Change
from .connection import next_connection_id
from .document import LANGUAGE, LANGUAGES, YDoc, code_text, meta_map
from .room import Room
from .textdiff import diff, replace_text
from .update_log import now_ms

log = logging.getLogger(__name__)

COALESCE_S = 0.05
POLICY_VIOLATION = 1008


class Outbox(Protocol):
    def send_text(self, text: str) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    user_id: str | None = Field(None, alias="userId")


class CodeChange(_Event):
    code: str


class LanguageChange(_Event):
    language: Literal[LANGUAGES]  # type: ignore[valid-type]


class Position(BaseModel):
    line_number: Annotated[int, Field(ge=1, alias="lineNumber")]
    column: Annotated[int, Field(ge=1)]


class CursorPosition(_Event):
    position: Position


EVENTS: dict[str, type[_Event]] = {
    "code_change": CodeChange,
    "language_change": LanguageChange,
    "cursor_position": CursorPosition,
}


class Bases:
    """Texts a client may have based its next text on, each with the document state behind it."""

    def __init__(self, depth: int = 4) -> None:
        self._items: deque[tuple[str, bytes]] = deque(maxlen=depth)

    def remember(self, text: str, state: bytes) -> None:
        self._items.append((text, state))

    def closest(self, text: str) -> YDoc:
        """A document at the remembered base that ``text`` differs least from (latest on ties)."""
        best = min(reversed(self._items), key=lambda item: change_size(item[0], text))
        doc: YDoc = Doc()
        doc.apply_update(best[1])
        return doc


def change_size(old: str, new: str) -> int:
    return sum(len(e.insert) + e.end - e.start for e in diff(old, new))


class BadEvent(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
        bind: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.id = next_connection_id()
        self.room = room
        self.participant = participant
        self._outbox = outbox
        self._bind = bind
        self._max_errors = max_errors
        self._max_code = max_code_chars
        self._errors = 0
        self._awareness_id = random.getrandbits(30) | (1 << 30)
        self._bases = Bases()
        self._sent_code = ""
        self._sent_language = ""
        self._changed_by: str | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._last_flush = 0.0

    @property
    def user_id(self) -> str | None:
        return None if self.participant is None else self.participant.id

    # ------------------------------------------------------------ outgoing
    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self._outbox.send_text(json.dumps({"type": kind, "data": data}, ensure_ascii=False))

    def start(self) -> None:
        """The current state first: the full code, the language, then the cursors."""
        self._sent_code, self._sent_language = self.room.code, self.room.language
        self._bases.remember(self._sent_code, self.room.doc.get_update())
        stamp = now_ms()
        self._emit("code_change", {"code": self._sent_code, "userId": None, "timestamp": stamp})
        self._emit(
            "language_change",
            {"language": self._sent_language, "userId": None, "timestamp": stamp},
        )
        present = [Change(cid, e.state) for cid, e in self.room.awareness.entries.items()]
        self.awareness_changed(present, None)

    def document_changed(self, origin: object) -> None:
        if origin is self:
            return
        self._changed_by = getattr(origin, "user_id", None)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_flush + COALESCE_S - loop.time())
            self._flush = loop.call_later(delay, self._send_changes)

    def _send_changes(self) -> None:
        self._flush = None
        self._last_flush = asyncio.get_running_loop().time()
        code, language, stamp = self.room.code, self.room.language, now_ms()
        if code != self._sent_code:
            self._sent_code = code
            self._bases.remember(code, self.room.doc.get_update())
            self._emit(
                "code_change", {"code": code, "userId": self._changed_by, "timestamp": stamp}
            )
        if language != self._sent_language:
            self._sent_language = language
            self._emit(
                "language_change",
                {"language": language, "userId": self._changed_by, "timestamp": stamp},
            )

    def awareness_changed(self, changes: list[Change], origin: object) -> None:
        if origin is self:
            return
        for change in changes:
            if change.state == NULL_STATE or change.client_id == self._awareness_id:
                continue
            try:
                state = json.loads(change.state)
                cursor = state["cursor"]
                position = {
                    "lineNumber": int(cursor["lineNumber"]),
                    "column": int(cursor["column"]),
                }
            except (ValueError, KeyError, TypeError):
                continue  # not a cursor this contract can express
            user = state.get("user") if isinstance(state.get("user"), dict) else {}
            self._emit(
                "cursor_position",
                {"position": position, "userId": user.get("id"), "timestamp": now_ms()},
            )

    def presence_changed(self, participant: ParticipantRecord, online: bool) -> None:
        if online:
            self._emit("user_join", {"user": participant_json(participant), "timestamp": now_ms()})
        else:
            self._emit("user_leave", {"userId": participant.id, "timestamp": now_ms()})

    async def close(self, code: int, reason: str) -> None:
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
        except BadEvent as exc:
            self._errors += 1
            self._emit("error", {"message": str(exc), "code": exc.code})
            if self._errors >= self._max_errors:
                await self.close(POLICY_VIOLATION, "too many invalid events")
            return
        self._errors = 0

    async def _dispatch(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            raise BadEvent("INVALID_JSON", "the frame is not valid JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise BadEvent("INVALID_EVENT", 'expected {"type": string, "data": object}')
        model = EVENTS.get(message["type"])
        if model is None:
            raise BadEvent("UNKNOWN_TYPE", f"unknown event type {message['type']!r}")
        try:
            event = model.model_validate(message.get("data"))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"])) or "data"
            raise BadEvent("INVALID_EVENT", f"{message['type']}: {where}: {first['msg']}") from None
        await self._check_user(event.user_id)
        if isinstance(event, CodeChange):
            self._code_change(event.code)
        elif isinstance(event, LanguageChange):
            self._language_change(event.language)
        elif isinstance(event, CursorPosition):
            self._cursor(event.position)

    async def _check_user(self, user_id: str | None) -> None:
        if user_id is None or user_id == self.user_id:
            return
        if self.participant is not None:
            raise BadEvent("FORBIDDEN", "userId is not this connection's participant")
        if not await self._bind(user_id):
            raise BadEvent("FORBIDDEN", f"userId {user_id!r} is not a participant of this session")

    def _code_change(self, code: str) -> None:
        if len(code) > self._max_code:
            raise BadEvent("INVALID_EVENT", f"code_change: at most {self._max_code} characters")
        shadow = self._bases.closest(code)
        updates: list[bytes] = []

        def collect(event: TransactionEvent) -> None:
            updates.append(event.update)

        subscription = shadow.observe(collect)
        try:
            with shadow.transaction(origin="json"):
                replace_text(code_text(shadow), code)
        finally:
            shadow.unobserve(subscription)
        for update in updates:
            self.room.apply_update(update, self)
        if self.room.code == code:
            self._sent_code = code
            self._bases.remember(code, self.room.doc.get_update())
        else:  # merged with edits this client had not seen: it gets the result
            self._bases.remember(code, shadow.get_update())
            self._changed_by = self.user_id
            self.document_changed(None)

    def _language_change(self, language: str) -> None:
        def change(doc: YDoc) -> None:
            meta_map(doc)[LANGUAGE] = language

        if self.room.language != language:
            self._sent_language = language
            self.room.edit(change, self)

    def _cursor(self, position: Position) -> None:
        user: dict[str, Any] = {"id": self.user_id}
        if self.participant is not None:
            user.update(name=self.participant.name, color=self.participant.color)
        state = {
            "user": user,
            "cursor": {"lineNumber": position.line_number, "column": position.column},
        }
        self.room.set_awareness(self.id, self._awareness_id, state)

"""Session rules shared by the REST handlers: ids, expiry, names, colours, live code.

Handlers stay thin: they validate a body, call one of these functions and
serialise the result. The code and language always come from the live room.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, replace

from crdt_server.document import DEFAULT_LANGUAGE, LANGUAGE, code_text, meta_map, seed_update
from crdt_server.rooms import RoomManager
from crdt_server.settings import Settings
from crdt_server.textdiff import replace_text
from crdt_server.update_log import now_ms
from storage import (
    SESSION_ID,
    DuplicateSessionId,
    ParticipantExists,
    ParticipantRecord,
    SessionFullError,
    SessionGone,
    SessionRecord,
    Storage,
)

from .errors import ApiError, invalid, not_found
from .models import Participant, Session, UserInfo

_ID_ATTEMPTS = 20

_ADJECTIVES = (
    "Swift",
    "Clever",
    "Brave",
    "Calm",
    "Bright",
    "Bold",
    "Keen",
    "Witty",
    "Quiet",
    "Lucky",
    "Sunny",
    "Eager",
    "Gentle",
    "Happy",
    "Jolly",
    "Nimble",
    "Proud",
    "Quick",
    "Wise",
    "Zesty",
)
_ANIMALS = (
    "Otter",
    "Falcon",
    "Panda",
    "Fox",
    "Heron",
    "Lynx",
    "Koala",
    "Badger",
    "Dolphin",
    "Owl",
    "Tiger",
    "Raven",
    "Beaver",
    "Gecko",
    "Marten",
    "Puffin",
    "Walrus",
    "Yak",
    "Zebra",
    "Bison",
)
_HUE = re.compile(r"^hsla?\(\s*(-?[0-9.]+)")


@dataclass(frozen=True)
class Services:
    """What the handlers need, in one place."""

    settings: Settings
    storage: Storage
    rooms: RoomManager


def check_session_id(session_id: str) -> None:
    if not SESSION_ID.match(session_id):
        raise invalid("malformed session id: expected 8 lowercase hex characters")


async def live_session(services: Services, session_id: str) -> SessionRecord:
    """The session, or 400 (malformed id), 404 (unknown) or 410 (expired)."""
    check_session_id(session_id)
    record = await services.storage.get_session(session_id)
    if record is None:
        raise not_found("SESSION_NOT_FOUND", f"session {session_id} not found")
    if record.expires_at <= now_ms():
        raise ApiError(410, "SESSION_EXPIRED", f"session {session_id} has expired")
    return record


def participant_view(p: ParticipantRecord) -> Participant:
    return Participant.model_validate(
        {
            "id": p.id,
            "name": p.name,
            "role": p.role,
            "color": p.color,
            "joined_at": p.joined_at,
            "is_online": p.is_online,
        }
    )


async def session_view(services: Services, record: SessionRecord) -> Session:
    """The REST view of a session; pass a freshly read ``record`` after a write."""
    room = await services.rooms.get(record.id)
    participants = await services.storage.list_participants(record.id)
    return Session(
        id=record.id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        expires_at=record.expires_at,
        code=room.code,
        language=room.language,
        participants=[participant_view(p) for p in participants],
        creator_id=record.creator_id,
    )


# ---------------------------------------------------------------- names and colours
def pick_name(taken: set[str]) -> str:
    """A readable name nobody in the session has yet."""
    for _ in range(50):
        name = f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_ANIMALS)}"
        if name not in taken:
            return name
    return f"Guest {secrets.token_hex(2)}"


def pick_color(taken: list[str]) -> str:
    """An HSL colour whose hue is as far as possible from the session's other hues."""
    hues = sorted(float(m.group(1)) % 360 for c in taken if (m := _HUE.match(c)))
    if not hues:
        return f"hsl({secrets.randbelow(360)}, 70%, 50%)"
    best, gap = 0.0, -1.0
    for i, hue in enumerate(hues):
        following = hues[(i + 1) % len(hues)] + (360 if i + 1 == len(hues) else 0)
        if following - hue > gap:
            best, gap = (hue + (following - hue) / 2) % 360, following - hue
    return f"hsl({round(best)}, 70%, 50%)"


def new_participant(
    user: UserInfo | None, role: str, others: list[ParticipantRecord]
) -> ParticipantRecord:
    user = user or UserInfo()
    return ParticipantRecord(
        id=user.id or str(uuid.uuid4()),
        name=user.name or pick_name({p.name for p in others}),
        role=role,
        color=user.color or pick_color([p.color for p in others]),
        joined_at=now_ms(),
        is_online=False,  # online only while a socket with ?userId= is open
    )


# ---------------------------------------------------------------- operations
def check_code(services: Services, code: str | None) -> None:
    if code is not None and len(code) > services.settings.max_code_chars:
        raise invalid(f"code: at most {services.settings.max_code_chars} characters are allowed")


async def create_session(
    services: Services, creator: UserInfo | None, code: str | None, language: str | None
) -> SessionRecord:
    check_code(services, code)
    owner = new_participant(creator, "interviewer", [])
    document = seed_update(code or "", language or DEFAULT_LANGUAGE)
    ttl_ms = int(services.settings.session_ttl_seconds * 1000)
    for _ in range(_ID_ATTEMPTS):
        now = now_ms()
        record = SessionRecord(secrets.token_hex(4), now, now, now + ttl_ms, owner.id)
        try:
            await services.storage.create_session(record, replace(owner, joined_at=now), document)
        except DuplicateSessionId:
            continue
        return record
    raise ApiError(503, "SERVICE_UNAVAILABLE", "could not allocate a session id; try again")


async def write_code(
    services: Services, session_id: str, code: str | None, language: str | None
) -> None:
    """Apply a REST write to the live document as a minimal edit, durably."""
    check_code(services, code)
    room = await services.rooms.get(session_id)

    def change(doc: object) -> None:
        if code is not None:
            replace_text(code_text(room.doc), code)
        if language is not None and meta_map(room.doc).get(LANGUAGE) != language:
            meta_map(room.doc)[LANGUAGE] = language

    if room.edit(change, "rest"):
        await services.rooms.log.flush()


async def join(services: Services, session_id: str, user: UserInfo | None) -> ParticipantRecord:
    """Add a candidate, or update the participant who joins again with the same id."""
    storage = services.storage
    if user is not None and user.id is not None:
        existing = await storage.update_participant(
            session_id, user.id, name=user.name, color=user.color
        )
        if existing is not None:
            await storage.touch_session(session_id, now_ms())
            return existing
    others = await storage.list_participants(session_id)
    participant = new_participant(user, "candidate", others)
    try:
        await storage.add_participant(session_id, participant, services.settings.max_participants)
    except SessionFullError:
        raise ApiError(
            409,
            "SESSION_FULL",
            f"session is full ({services.settings.max_participants} participants)",
        ) from None
    except ParticipantExists:  # a concurrent join with the same id won the race
        return await join(services, session_id, user)
    except SessionGone:
        raise not_found("SESSION_NOT_FOUND", f"session {session_id} not found") from None
    return participant

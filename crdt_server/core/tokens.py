"""Signed role tokens (JWT, HS256): who a bearer is, in which session, until when.

Two kinds, told apart by their claims. A **participant** token (``pid``) is bound to one
participant: its role is read from storage on every use, so a role change applies at once
and removing the participant revokes it. An **invite** (``inv``, the invite's generation)
lets its bearer join as a candidate or an observer; rotating the invite bumps the session's
generation, which revokes every older invite. A **playback link** (``shr``) lets a reviewer
watch the session again, read-only, until it expires. No token outlives its session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import jwt

from storage import ParticipantRecord, SessionRecord

from .actor import Role
from .errors import Unauthorized

_ALGORITHM = "HS256"
INVITE_ROLES = (Role.CANDIDATE, Role.OBSERVER)


@dataclass(frozen=True, slots=True)
class Claims:
    session_id: str
    role: Role
    participant_id: str | None  # a participant token
    invite: int | None  # an invite: the generation it was issued for
    share: bool = False  # a playback link


def new_secret() -> str:
    return secrets.token_urlsafe(48)


class Tokens:
    """Issues and reads tokens with one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def _sign(
        self, session: SessionRecord, claims: dict[str, object], until: int | None = None
    ) -> str:
        expires = session.expires_at if until is None else min(until, session.expires_at)
        payload = {"sid": session.id, "exp": expires // 1000, **claims}
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM)

    def share(self, session: SessionRecord, until: int) -> str:
        """A playback link valid until ``until`` (Unix ms; never past the session)."""
        return self._sign(session, {"role": Role.REVIEWER.value, "shr": 1}, until)

    def participant(self, session: SessionRecord, participant: ParticipantRecord) -> str:
        return self._sign(session, {"role": participant.role, "pid": participant.id})

    def invite(self, session: SessionRecord, role: Role) -> str:
        generation = session.candidate_invite if role is Role.CANDIDATE else session.observer_invite
        return self._sign(session, {"role": role.value, "inv": generation})

    def read(self, token: str) -> Claims:
        """The claims of a well-signed, unexpired token; else Unauthorized (never saying
        more than why, and never echoing the token)."""
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sid"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid") from None
        try:
            role = Role(payload["role"])
            pid, inv, share = payload.get("pid"), payload.get("inv"), payload.get("shr")
            if not isinstance(payload["sid"], str) or [pid, inv, share].count(None) != 2:
                raise ValueError
            if (share is not None) != (role is Role.REVIEWER) or share not in (None, 1):
                raise ValueError
            if pid is not None and not isinstance(pid, str):
                raise ValueError
            if inv is not None and (not isinstance(inv, int) or role not in INVITE_ROLES):
                raise ValueError
        except (KeyError, ValueError):
            raise Unauthorized("the token is not valid") from None
        return Claims(payload["sid"], role, pid, inv, share is not None)

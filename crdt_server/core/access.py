"""Who is asking: a bearer token (or, on an open server, nobody in particular) becomes a
:class:`Grant` for one session, for every transport alike.

With ``--auth none`` every caller is an anonymous actor the permission table lets do
everything (the seed MVP). With ``--auth token`` a session is reached only with one of its
tokens (:mod:`crdt_server.core.tokens`), and a client address that fails too many token
checks is refused every check for the rest of the minute, so guessing is hopeless.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import NoReturn

from storage import ParticipantRecord, SessionRecord

from ..metrics import Metrics
from .actor import Actor, Role, Via
from .errors import (
    Forbidden,
    ParticipantNotFound,
    RateLimited,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
)
from .quota import WindowCounter
from .sessions import SessionCore, actor_for
from .tokens import Tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Grant:
    """What one caller may act as in one session."""

    session: SessionRecord
    actor: Actor
    participant: ParticipantRecord | None  # a participant token's participant
    invite: Role | None  # an invite's role: the bearer may join as it


class Access:
    """Token checks for one server; ``tokens`` is set once the secret is known (start-up)."""

    def __init__(
        self,
        mode: str,
        sessions: SessionCore,
        api_keys: list[str],
        failures_per_minute: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.mode = mode
        self._metrics = metrics
        self.tokens: Tokens | None = None
        self._sessions = sessions
        self._keys = [key.encode() for key in api_keys]
        self._failures = WindowCounter(failures_per_minute, 60.0)

    @property
    def open(self) -> bool:
        return self.mode == "none"

    def _check_client(self, client: str) -> None:
        wait = self._failures.blocked(client)
        if wait is not None:
            raise RateLimited("too many failed token checks; wait", retryAfter=wait)

    def _failed(self, client: str, why: Unauthorized | Forbidden, reason: str) -> NoReturn:
        self._count(reason)
        if self._failures.take(client) is None and self._failures.blocked(client) is not None:
            log.warning("client %s locked out for a minute after failed token checks", client)
        raise why

    def _count(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.auth_failures.labels(reason).inc()

    def _read(self, token: str | None, client: str) -> Tokens:
        self._check_client(client)
        if self.tokens is None:
            self._count("not_ready")
            raise Unauthorized("tokens are not available yet")
        if not token:
            self._count("missing")
            raise Unauthorized("a token is required (Authorization: Bearer, or ?token=)")
        return self.tokens

    async def grant(
        self,
        token: str | None,
        session_id: str,
        via: Via,
        client: str,
        connection: int | None = None,
        *,
        watching: bool = False,
    ) -> Grant:
        """The caller's grant in ``session_id``; Unauthorized, Forbidden or the session's
        own refusals (not found, expired) otherwise. A socket's grant (``via`` not REST)
        reads a loaded room's session without storage; REST reads it fresh. A playback
        link is taken only when ``watching`` (playback's own reads)."""
        anonymous = Actor(via, connection=connection)
        lookup = self._sessions.get if via is Via.REST else self._sessions.admitted
        if self.open:
            return Grant(await lookup(session_id), anonymous, None, None)
        tokens = self._read(token, client)
        assert token is not None
        try:
            claims = tokens.read(token)
        except Unauthorized as exc:
            self._failed(client, exc, "expired" if "expired" in exc.message else "invalid")
        if claims.session_id != session_id:
            self._failed(client, Forbidden("the token is for another session"), "wrong_session")
        if claims.share and not watching:
            self._count("wrong_use")
            raise Forbidden("a playback link only watches the playback")
        record = await lookup(session_id)
        if claims.share:
            return Grant(record, Actor(via, None, Role.REVIEWER, connection), None, None)
        if claims.invite is not None:
            current = (
                record.candidate_invite if claims.role is Role.CANDIDATE else record.observer_invite
            )
            if claims.invite != current:
                self._failed(
                    client, Unauthorized("the invite was rotated; ask for a new one"), "revoked"
                )
            return Grant(record, Actor(via, None, claims.role, connection), None, claims.role)
        assert claims.participant_id is not None
        try:
            participant = await self._sessions.participant(record.id, claims.participant_id)
        except ParticipantNotFound:
            self._failed(
                client, Unauthorized("the participant was removed from the session"), "revoked"
            )
        return Grant(record, actor_for(participant, anonymous), participant, None)

    def is_api_key(self, presented: str | None) -> bool:
        """Whether ``presented`` is one of the API keys (compared in constant time)."""
        if not presented:
            return False
        given = presented.encode()
        return any(hmac.compare_digest(given, key) for key in self._keys)

    async def is_key_or_interviewer(self, token: str | None, client: str) -> bool:
        """An API key, or the token of an interviewer of any live session: what running code
        outside a session and reading the question bank take."""
        if self.open or self.is_api_key(token):
            return True
        tokens = self._read(token, client)
        assert token is not None
        try:
            claims = tokens.read(token)
        except Unauthorized as exc:
            self._failed(client, exc, "expired" if "expired" in exc.message else "invalid")
        if claims.role is not Role.INTERVIEWER or claims.participant_id is None:
            return False
        try:
            grant = await self.grant(token, claims.session_id, Via.REST, client)
        except (SessionNotFound, SessionExpired):  # its session is gone: so is the token
            self._failed(
                client, Unauthorized("the token's session no longer exists"), "session_gone"
            )
        return grant.actor.role is Role.INTERVIEWER

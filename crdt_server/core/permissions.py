"""What each role may do: the one table every transport asks before acting."""

from __future__ import annotations

from enum import StrEnum

from .actor import Actor, Role
from .errors import Forbidden


class Action(StrEnum):
    READ = "read"  # the session, its participants, the live code and awareness
    EDIT = "edit"  # the code and the language, live or over REST
    RUN = "run"  # run the session's code
    READ_HISTORY = "read history"  # history snapshots and runs
    MANAGE = "manage"  # roles, removing participants, deleting the session
    NOTES = "take notes"  # the private notes and scorecards (interviewers only)
    WATCH = "watch the playback"  # the timeline, any moment's code, the raw log


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.INTERVIEWER: frozenset(Action),
    Role.CANDIDATE: frozenset({Action.READ, Action.EDIT, Action.RUN}),
    Role.OBSERVER: frozenset({Action.READ}),
    Role.REVIEWER: frozenset({Action.WATCH}),
}


def allows(actor: Actor, action: Action) -> bool:
    """Whether ``actor`` may do ``action``; an anonymous actor of an open server may."""
    return actor.role is None or action in PERMISSIONS[actor.role]


def require(actor: Actor, action: Action) -> None:
    """Raise :class:`Forbidden` unless ``actor`` may do ``action``."""
    if not allows(actor, action):
        raise Forbidden(f"a {actor.role} may not {action}")

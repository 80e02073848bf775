"""The session core's tables: what each role may do, and how each refusal reaches clients."""

from __future__ import annotations

import pytest

from crdt_server.close_codes import CloseCode, close_for
from crdt_server.core import (
    Action,
    Actor,
    Forbidden,
    Role,
    SessionError,
    Via,
    allows,
    require,
)
from rest.app import OPERATIONS
from rest.errors import problem_for
from rest.openapi import build_openapi


def refusals() -> list[type[SessionError]]:
    found, todo = [], [SessionError]
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return found[1:]


@pytest.mark.parametrize("kind", refusals(), ids=lambda kind: kind.__name__)
def test_every_refusal_has_one_rest_status_and_one_close_code(kind: type[SessionError]) -> None:
    problem = problem_for(kind)
    assert problem is not None and 400 <= problem.status < 600
    code, reason = close_for(kind("because"))
    assert reason == "because"
    assert 4400 <= code < 4500 or code in (CloseCode.TRY_AGAIN_LATER, CloseCode.MESSAGE_TOO_BIG)


@pytest.mark.parametrize("action", list(Action))
def test_an_interviewer_may_do_everything(action: Action) -> None:
    assert allows(Actor(Via.REST, "ada", Role.INTERVIEWER), action)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (Action.READ, True),
        (Action.EDIT, True),
        (Action.RUN, True),
        (Action.READ_HISTORY, False),
        (Action.MANAGE, False),
    ],
)
def test_a_candidate_may_read_edit_and_run_only(action: Action, allowed: bool) -> None:
    candidate = Actor(Via.YJS, "grace", Role.CANDIDATE, connection=7)
    assert allows(candidate, action) is allowed
    if not allowed:
        with pytest.raises(Forbidden, match="candidate"):
            require(candidate, action)


def test_an_anonymous_actor_of_an_open_server_may_do_everything() -> None:
    assert all(allows(Actor(Via.REST), action) for action in Action)


def test_openapi_lists_each_operations_machine_codes_under_their_status() -> None:
    spec = build_openapi(OPERATIONS)
    read = spec["paths"]["/api/v1/sessions/{sessionId}"]["get"]["responses"]
    assert "SESSION_NOT_FOUND" in read["404"]["description"]
    assert "SESSION_EXPIRED" in read["410"]["description"]
    patch = spec["paths"]["/api/v1/sessions/{sessionId}"]["patch"]["responses"]
    assert "VERSION_UNKNOWN" in patch["412"]["description"]
    join = spec["paths"]["/api/v1/sessions/{sessionId}/join"]["post"]["responses"]
    assert "SESSION_FULL" in join["409"]["description"]

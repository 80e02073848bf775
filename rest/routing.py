"""Operations declared as data: one table drives both the aiohttp router and OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: a value of this operation's answer that another operation takes, so
    a client (or schemathesis) chains them without guessing which field is which."""

    name: str
    method: str
    path: str  # the target operation, as in its Operation
    parameters: dict[str, str]  # its parameter -> runtime expression ($response.body#/...)


@dataclass(frozen=True)
class Operation:
    """One REST operation: its route, its handler and what it takes and returns."""

    method: str
    path: str  # below /api/v1, aiohttp syntax: /sessions/{sessionId}
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    #: What it may fail with: error types of :data:`rest.errors.PROBLEMS`, documented from it.
    errors: tuple[type[Exception], ...] = field(default=())
    links: tuple[Link, ...] = ()
    #: A body that works as it is (the docs' "Try it out" starts from it).
    example: dict[str, Any] | None = None
    description: str = ""


API_PREFIX = "/api/v1"


def register(app: web.Application, operations: list[Operation]) -> None:
    """Route every operation; a GET answers HEAD too (the same headers, no body)."""
    for op in operations:
        if op.method == "GET":
            app.router.add_get(API_PREFIX + op.path, op.handler)
        else:
            app.router.add_route(op.method, API_PREFIX + op.path, op.handler)

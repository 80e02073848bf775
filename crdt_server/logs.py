"""Logging: one set-up for text or JSON lines, the ids every line carries, and no secrets.

The ids (request, session, connection, role) live in context variables, set where a
request or a socket starts, so every line logged while serving it carries them without
passing them around. Long-lived jobs start in a context of their own (:func:`job_context`):
a task copies the context it is created in, and a room loaded by one request must not
log under that request's id for the rest of its life.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from contextvars import ContextVar
from typing import IO, Literal

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
SESSION_ID: ContextVar[str | None] = ContextVar("session_id", default=None)
CONNECTION_ID: ContextVar[int | None] = ContextVar("connection_id", default=None)
ROLE: ContextVar[str | None] = ContextVar("role", default=None)

_CONTEXT: tuple[tuple[str, ContextVar[str | None] | ContextVar[int | None]], ...] = (
    ("request_id", REQUEST_ID),
    ("session_id", SESSION_ID),
    ("connection_id", CONNECTION_ID),
    ("role", ROLE),
)

LogFormat = Literal["text", "json"]


def bind_request(request_id: str, session_id: str | None) -> None:
    """A request starts: its ids replace whatever the connection's last request left."""
    REQUEST_ID.set(request_id)
    SESSION_ID.set(session_id)
    CONNECTION_ID.set(None)
    ROLE.set(None)


def job_context(session_id: str | None = None) -> contextvars.Context:
    """A fresh context for a job that outlives the request creating it (a room's load,
    unload or flush): it names the session only."""
    context = contextvars.Context()
    if session_id is not None:
        context.run(SESSION_ID.set, session_id)
    return context


class ContextFilter(logging.Filter):
    """Copy the context's ids onto each record (an ``extra`` of the same name wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT:
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


#: What a secret looks like where it could reach a message: a signed token (a JWT), a
#: ``token=``/``key=`` query parameter, a bearer header, a webhook secret.
_SECRETS = (
    (re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]+"), "[redacted]"),
    (
        re.compile(r"(?i)\b(token|api_?key|key|secret|password|signature)=[^&\s'\"]+"),
        r"\1=[redacted]",
    ),
    (re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Scrub secrets from the message, whoever logged it (aiohttp quotes a bad request
    line, query string and all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = redact(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class TextFormatter(logging.Formatter):
    """The human format, with the context's ids after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={getattr(record, name)}" for name, _ in _CONTEXT if hasattr(record, name)]
        if not ids:
            return line
        head, newline, tail = line.partition("\n")  # after the message, before a traceback
        return f"{head} [{' '.join(ids)}]{newline}{tail}"


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time, level, logger, message, then the ids and extras."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        json_ensure_ascii=False,
    )


def configure(level: str, log_format: LogFormat, stream: IO[str] | None = None) -> None:
    """Send every logger's records to ``stream`` (stderr) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())

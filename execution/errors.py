"""Why a run could not happen; ``code`` is the REST envelope's machine code."""

from __future__ import annotations


class ExecutionError(Exception):
    """Base of every refusal the engine raises; the message is safe to show to clients."""

    code = "INTERNAL_ERROR"


class SandboxUnavailable(ExecutionError):
    """No sandbox on this host (or the engine is stopped), and no unsandboxed fallback."""

    code = "SANDBOX_UNAVAILABLE"


class QueueFull(ExecutionError):
    """Every slot is busy and the waiting line is full (or waited too long)."""

    code = "RATE_LIMITED"


class InvalidRunRequest(ExecutionError):
    """The request itself is wrong: bad timeout and the like."""

    code = "INVALID_REQUEST"


class UnsupportedLanguage(InvalidRunRequest):
    """The language is unknown, or its toolchain is not installed on this host."""

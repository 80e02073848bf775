"""Sandboxed code execution: bubblewrap + seccomp + rlimits, no HTTP in here.

Build one :class:`Executor` per process, ``await start()`` it at start-up (it probes the
host and never raises), ``await run(...)`` per request and ``await stop()`` at shutdown.
"""

from .errors import (
    ExecutionError,
    InvalidRunRequest,
    QueueFull,
    SandboxUnavailable,
    UnsupportedLanguage,
)
from .executor import Executor, Graded
from .model import ExecutionLimits, LanguageInfo, RunResult

__all__ = [
    "ExecutionError",
    "ExecutionLimits",
    "Executor",
    "Graded",
    "InvalidRunRequest",
    "LanguageInfo",
    "QueueFull",
    "RunResult",
    "SandboxUnavailable",
    "UnsupportedLanguage",
]

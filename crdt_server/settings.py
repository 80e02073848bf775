"""The one settings object: defaults and a line of help per field, read once.

Everything configurable lives here. ``Settings()`` reads ``CODEINTERVIEW_*``
environment variables; :func:`crdt_server.cli.parse_cli` layers command-line
flags on top. Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CODEINTERVIEW_"


class Settings(BaseSettings):
    """Service configuration; frozen once built."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port; 0 picks a free port.")
    db_path: str = Field(
        "codeinterview.db", description="SQLite database file; ':memory:' keeps nothing."
    )
    log_level: str = Field("info", description="Logging level: debug, info, warning, error.")
    session_ttl_seconds: float = Field(
        24 * 3600, gt=0, description="Lifetime of a session after its creation."
    )
    cleanup_interval_seconds: float = Field(
        300, gt=0, description="How often expired sessions are deleted."
    )
    max_participants: int = Field(10, ge=1, description="Participants allowed per session.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest accepted HTTP body.")
    max_code_chars: int = Field(
        512 * 1024, ge=1, description="Largest code text accepted over REST and JSON events."
    )
    cors_origins: str = Field(
        "localhost",
        description="Allowed CORS origins, comma-separated; 'localhost' allows any "
        "http(s)://localhost or 127.0.0.1 origin, '*' allows all.",
    )
    room_grace_seconds: float = Field(
        5.0,
        ge=0,
        description="How long an empty room stays loaded before it is flushed and unloaded.",
    )
    commit_interval_ms: int = Field(
        50, ge=1, le=100, description="Group-commit window for the update log."
    )
    compact_after_updates: int = Field(
        500, ge=1, description="Compact a document's log into its snapshot past this many updates."
    )
    compact_after_bytes: int = Field(
        1024 * 1024, ge=1, description="... or past this many bytes of logged updates."
    )
    max_message_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest WebSocket frame accepted (else close 1009)."
    )
    heartbeat_seconds: float = Field(
        30.0, gt=0, description="WebSocket ping interval; a peer silent past it is dropped."
    )
    history_interval_seconds: float = Field(
        30.0, gt=0, description="Timed snapshot of the code while a room is active."
    )
    json_max_errors: int = Field(
        10, ge=1, description="Consecutive bad JSON events before the socket is closed (1008)."
    )
    execution_max_concurrent: int = Field(
        0, ge=0, description="Code runs at once; 0 means one per CPU core."
    )
    execution_max_queue: int = Field(
        32, ge=0, description="Runs that may wait for a slot; beyond it: 429 RATE_LIMITED."
    )
    execution_default_timeout_ms: int = Field(
        5000, ge=1, description="Wall-time limit of a run that asks for none."
    )
    execution_max_timeout_ms: int = Field(
        10000, ge=1, description="Largest wall-time limit a run may ask for."
    )
    execution_memory_mb: int = Field(256, ge=16, description="Memory limit of a run.")
    execution_max_output_bytes: int = Field(
        64 * 1024, ge=1024, description="stdout and stderr kept per run; the rest is cut."
    )
    execution_esbuild_path: str = Field(
        "",
        description="esbuild binary for TypeScript runs; empty: where "
        "scripts/install-execution.sh installs it.",
    )
    execution_allow_unsandboxed: bool = Field(
        False,
        description="DANGER: run code WITHOUT the sandbox when bubblewrap is unusable. "
        "Only for a developer's own laptop.",
    )

    def cors_origin_list(self) -> list[str]:
        """The configured origins, split and trimmed."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


#: CLI flag names that differ from the field name (``--db`` reads better than ``--db-path``).
_FLAG_NAMES = {"db_path": "--db"}


def flag_for(field: str) -> str:
    """The command-line flag of a settings field."""
    return _FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def env_for(field: str) -> str:
    """The environment variable of a settings field."""
    return ENV_PREFIX + field.upper()

"""The one settings object: defaults and a line of help per field, read once.

Everything configurable lives here. ``Settings()`` reads ``CODEINTERVIEW_*``
environment variables; :func:`crdt_server.cli.parse_cli` layers command-line
flags on top. Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CODEINTERVIEW_"


class Settings(BaseSettings):
    """Service configuration; frozen once built."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port; 0 picks a free port.")
    db_path: str = Field(
        "codeinterview.db",
        description="SQLite database file (':memory:' keeps nothing), or a postgresql:// URL.",
    )
    redis_url: str = Field(
        "",
        description="redis:// URL of the Redis several processes share rooms through (with a "
        "postgresql:// --db); empty: this process serves its sessions alone.",
    )
    relay_check_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="With --redis-url: how often each loaded room's log head is read from the "
        "database, so an update whose Redis message was lost is caught up.",
    )
    log_level: str = Field("info", description="Logging level: debug, info, warning, error.")
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per record; json: one JSON object per line."
    )
    access_log: bool = Field(True, description="Log one line per answered HTTP request.")
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
    allowed_origins: str = Field(
        "localhost",
        description="Browser origins allowed for CORS and WebSocket upgrades, comma-separated; "
        "'localhost' allows any http(s)://localhost or 127.0.0.1 origin, '*' allows all.",
    )
    auth: Literal["", "none", "token"] = Field(
        "",
        description="none: anyone with a session id may do anything (for trying it out); token: "
        "signed role tokens. Empty: token when API keys are configured, else none.",
    )
    auth_secret: str = Field(
        "",
        description="Secret signing the tokens (HS256); empty: one generated on first start "
        "and kept in the database, so tokens survive restarts.",
    )
    api_keys: str = Field(
        "",
        description="Comma-separated bearer keys that may create sessions and run code "
        "outside a session (with --auth token).",
    )
    metrics_token: str = Field(
        "",
        description="Bearer token that GET /metrics requires; empty: /metrics answers "
        "loopback clients only.",
    )
    webhook_url: str = Field(
        "", description="One endpoint that receives every webhook event (with --webhook-secret)."
    )
    webhook_secret: str = Field(
        "",
        description="The --webhook-url endpoint's signing secret, whsec_ and base64 "
        "(Standard Webhooks).",
    )
    webhooks_file: str = Field(
        "",
        description="A TOML file of [[webhooks]] tables {url, secret, events}, for several "
        "endpoints with event filters.",
    )
    webhook_retry_base_ms: int = Field(
        1000,
        ge=1,
        description="First back-off step after a failed delivery; each next one doubles "
        "(at most an hour).",
    )
    webhook_retry_for_seconds: float = Field(
        24 * 3600,
        gt=0,
        description="How long an event is retried before it is given up and its endpoint "
        "marked failing.",
    )
    webhook_code_changed_seconds: float = Field(
        60.0,
        gt=0,
        description="code.changed is sent at most once per session in this window (and once "
        "more at its end if the code changed again).",
    )
    allow_open: bool = Field(
        False,
        description="Allow --auth none on a host other than loopback (anyone reaching the port "
        "may read and change every session).",
    )
    requests_per_second: float = Field(
        20.0, gt=0, description="REST requests one client address may make per second (bursts x2)."
    )
    max_sockets_per_client: int = Field(
        64, ge=1, description="Open sockets one client address may hold (else close 1013)."
    )
    client_loop_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Share of the event loop the sockets of one client address may use "
        "together; past it they are read more slowly (1: no bound).",
    )
    max_connections_per_client: int = Field(
        256,
        ge=1,
        description="Open TCP connections one client address may hold; one more is answered "
        "429 and closed as it is accepted.",
    )
    max_connections: int = Field(
        0,
        ge=0,
        description="Open TCP connections in all (one more is answered 503 and closed); 0: "
        "the open-file limit less 256 kept for the database, the sandbox and bursts.",
    )
    joins_per_session_per_minute: int = Field(
        30, ge=1, description="Participants that may join one session per minute (else 429)."
    )
    failed_auth_per_client_per_minute: int = Field(
        20,
        ge=1,
        description="Failed token checks one client address may make per minute; past it "
        "every check of that address is refused (429) for the rest of the minute.",
    )
    drain_seconds: float = Field(
        0.0,
        ge=0,
        le=600,
        description="On SIGTERM, how long /readyz answers 503 and new sockets are refused "
        "before the open ones are closed (1012): the load balancer's time to notice.",
    )
    room_grace_seconds: float = Field(
        5.0,
        ge=0,
        description="How long an empty room stays loaded before it is flushed and unloaded.",
    )
    commit_interval_ms: int = Field(
        50,
        ge=0,
        le=100,
        description="Group-commit window for the update log; 0: commit what queued while the "
        "last commit ran as soon as it is done. With --redis-url the default is 0: the other "
        "processes get an update only once it is committed.",
    )
    compact_after_updates: int = Field(
        500, ge=1, description="Compact a document's log into its snapshot past this many updates."
    )
    compact_after_bytes: int = Field(
        1024 * 1024, ge=1, description="... or past this many bytes of logged updates."
    )
    max_message_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Largest WebSocket frame accepted (else close 1009); one bigger than "
        "--max-document-bytes is refused from its header.",
    )
    max_sessions_per_client_per_hour: int = Field(
        60, ge=1, description="Sessions one client address may create per hour (else 429)."
    )
    max_sockets_per_session: int = Field(
        64, ge=2, description="Open sockets one session may have (else close 1013)."
    )
    max_storage_bytes: int = Field(
        0,
        ge=0,
        description="Storage high-water mark: past it new sessions get 507, existing ones "
        "keep working; 0: no mark.",
    )
    socket_messages_per_second: float = Field(
        100.0, gt=0, description="Messages one socket may send per second; past it it is slowed."
    )
    socket_bytes_per_second: float = Field(
        1024 * 1024,
        gt=0,
        description="Bytes one socket may send per second (bursts up to a whole document).",
    )
    max_document_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest document a session may grow to; updates past it are refused (1009).",
    )
    max_document_clients: int = Field(
        10_000,
        ge=16,
        description="Yjs client ids one document may hold (each browser tab is one); updates "
        "adding more are refused (1009). Rebuilding a document with 40k of them took 1.1 s.",
    )
    integrate_ms_per_mib: float = Field(
        40.0,
        gt=0,
        description="Event-loop time integrating content may take per MiB (plus 25 ms); "
        "a large update, room load or merge whose worker trial costs more is refused (1009, "
        "413; a load: read-only). Honest documents cost about 17 ms per MiB.",
    )
    max_awareness_states: int = Field(
        8, ge=1, description="Awareness states (cursors) one connection may publish."
    )
    max_awareness_state_bytes: int = Field(
        16 * 1024, ge=256, description="Largest awareness state (one cursor and name, as JSON)."
    )
    max_outbox_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024 * 1024,
        description="Bytes queued for a socket that does not read; past it the socket is "
        "closed (1013).",
    )
    handshake_timeout_seconds: float = Field(
        15.0,
        gt=0,
        description="An HTTP connection idle this long (no request, or half-sent headers, or "
        "between keep-alive requests) is closed.",
    )
    join_timeout_seconds: float = Field(
        10.0, gt=0, description="A socket that sends no first frame in this time is closed."
    )
    trusted_proxies: str = Field(
        "",
        description="Reverse proxies (addresses or networks, comma-separated, e.g. "
        "127.0.0.1,10.0.0.0/8) whose X-Forwarded-For names the client for rate limits, "
        "quotas and logs; empty: the peer address, and the header is ignored.",
    )
    allowed_hosts: str = Field(
        "",
        description="Host header values served, comma-separated ('*': any); empty: localhost, "
        "127.0.0.1, [::1] and --host (DNS-rebinding protection).",
    )
    heartbeat_seconds: float = Field(
        30.0, gt=0, description="WebSocket ping interval; a peer silent past it is dropped."
    )
    history_interval_seconds: float = Field(
        30.0, gt=0, description="Timed snapshot of the code while a room is active."
    )
    paste_chars: int = Field(
        200,
        ge=1,
        description="An update inserting more characters than this into the code is flagged "
        "as a paste on the playback timeline.",
    )
    idle_gap_seconds: float = Field(
        60.0, gt=0, description="A pause between edits this long is an idle gap on the timeline."
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

    @model_validator(mode="before")
    @classmethod
    def _no_window_when_shared(cls, values: Any) -> Any:
        """Processes sharing rooms deliver each other's updates once committed: a window
        would be added to every delivery across processes (bench/cluster_fanout.py)."""
        if isinstance(values, dict) and values.get("redis_url"):
            values.setdefault("commit_interval_ms", 0)
        return values

    def allowed_host_list(self) -> list[str]:
        """The Host names served; by default the loopback names and the bound host."""
        given = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        if given:
            return given
        if self.host in ("0.0.0.0", "::", ""):
            return ["*"]  # bound to every interface: the operator names the hosts
        return sorted({"localhost", "127.0.0.1", "[::1]", "::1", self.host.lower()})

    def origin_list(self) -> list[str]:
        """The allowed browser origins, split and trimmed."""
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]

    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    def auth_mode(self) -> Literal["none", "token"]:
        """The access mode in force: ``auth``, or token when API keys are configured."""
        if self.auth:
            return self.auth
        return "token" if self.api_key_list() else "none"


#: CLI flag names that differ from the field name (``--db`` reads better than ``--db-path``).
_FLAG_NAMES = {"db_path": "--db"}


def flag_for(field: str) -> str:
    """The command-line flag of a settings field."""
    return _FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def env_for(field: str) -> str:
    """The environment variable of a settings field."""
    return ENV_PREFIX + field.upper()

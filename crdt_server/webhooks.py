"""Webhooks: signed events, stored with the change they report, delivered until answered.

An event is built before the change is written and stored in the same transaction (the
outbox), one row per endpoint that wants it, so a change is never without its event nor
an event without its change, whatever crashes. One worker per endpoint posts the due
rows, signed per Standard Webhooks 1.0; a row is deleted once its endpoint answers 2xx,
so it is sent once in normal operation, and again with the same id after a crash between
the answer and the delete (receivers drop repeats by ``webhook-id``). A failure is
retried with exponential back-off for ``--webhook-retry-for-seconds`` (a day), then given
up and the endpoint logged and counted as failing.

``code.changed`` is throttled per session: the first change of a window is reported with
it, further ones leave a pending row (in the same commit as the updates) that becomes one
more event at the window's end. Updates that leave the code as last reported (a run's
result, the language) report nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from storage import OutboxEvent, StorageError, WebhookStore

from .clock import now_ms
from .metrics import Metrics
from .settings import Settings

log = logging.getLogger(__name__)

EventType = Literal[
    "session.created",
    "session.started",
    "session.ended",
    "session.deleted",
    "participant.joined",
    "participant.left",
    "code.changed",
    "run.completed",
    "tests.completed",
    "scorecard.submitted",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]

SECRET_PREFIX = "whsec_"
TIMEOUT_S = 5.0
MAX_BACKOFF_MS = 3600 * 1000
_BATCH = 32
_IDLE_POLL_S = 1.0  # a worker looks for due retries this often when nothing wakes it


class WebhookConfigError(ValueError):
    """A webhook setting or file that cannot be used, said in the operator's terms."""


def secret_key(secret: str) -> bytes:
    """The signing key of a ``whsec_<base64>`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookConfigError(f"a webhook secret starts with {SECRET_PREFIX}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:  # padded or not, as Standard Webhooks libraries accept both
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise WebhookConfigError("a webhook secret is whsec_ and base64") from None
    if len(key) < 24:
        raise WebhookConfigError("a webhook secret needs at least 24 bytes of key")
    return key


def sign(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,`` and the base64 HMAC-SHA256 of
    ``id.timestamp.body``."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    key: bytes = field(repr=False)
    events: frozenset[str]

    def wants(self, event_type: str) -> bool:
        return event_type in self.events


class _EndpointEntry(BaseModel):
    """One ``[[webhooks]]`` table of the webhooks file."""

    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str
    events: list[EventType] | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return url


class _WebhooksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhooks: list[_EndpointEntry]


def load_endpoints(settings: Settings) -> list[Endpoint]:
    """The endpoints of ``--webhook-url`` and ``--webhooks-file``; a clear error if not."""
    entries: list[_EndpointEntry] = []
    if settings.webhook_url or settings.webhook_secret:
        if not (settings.webhook_url and settings.webhook_secret):
            raise WebhookConfigError("--webhook-url and --webhook-secret go together")
        entries.append(_entry({"url": settings.webhook_url, "secret": settings.webhook_secret}))
    if settings.webhooks_file:
        entries.extend(_read_file(Path(settings.webhooks_file)))
    endpoints: dict[str, Endpoint] = {}
    for entry in entries:
        if entry.url in endpoints:
            raise WebhookConfigError(f"webhook endpoint {entry.url} is configured twice")
        wanted = frozenset(entry.events if entry.events is not None else EVENT_TYPES)
        endpoints[entry.url] = Endpoint(entry.url, secret_key(entry.secret), wanted)
    return list(endpoints.values())


def _entry(raw: dict[str, Any]) -> _EndpointEntry:
    try:
        return _EndpointEntry.model_validate(raw)
    except ValidationError as exc:
        raise WebhookConfigError(_describe(exc)) from None


def _read_file(path: Path) -> list[_EndpointEntry]:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise WebhookConfigError(f"--webhooks-file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WebhookConfigError(f"--webhooks-file {path}: not TOML: {exc}") from None
    try:
        return _WebhooksFile.model_validate(raw).webhooks
    except ValidationError as exc:
        raise WebhookConfigError(f"--webhooks-file {path}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "file"
    return f"{where}: {first['msg']}"


@dataclass(slots=True)
class CodeChanges:
    """What one commit reports: events for sessions outside their window, and the
    sessions left pending until their window ends (session, due time)."""

    events: list[OutboxEvent]
    pending: list[tuple[str, int]]
    opened: list[tuple[str, str | None]]  # sessions whose window opens, with their code


class Webhooks:
    """The events the server emits and their delivery; inert without endpoints."""

    def __init__(
        self,
        settings: Settings,
        endpoints: Sequence[Endpoint],
        store: WebhookStore,
        metrics: Metrics,
    ) -> None:
        self.endpoints = list(endpoints)
        self._store = store
        self._metrics = metrics
        self._base_ms = settings.webhook_retry_base_ms
        self._retry_for_ms = int(settings.webhook_retry_for_seconds * 1000)
        self._window_ms = int(settings.webhook_code_changed_seconds * 1000)
        self._windows: dict[str, int] = {}  # session -> end of its code.changed window
        self._reported: dict[str, int] = {}  # session -> hash of the code last reported
        #: The code of a loaded session (None: not loaded); set once the rooms exist.
        self.code_of: Callable[[str], str | None] = lambda _session_id: None
        self._wake = {endpoint.url: asyncio.Event() for endpoint in self.endpoints}
        self._failing: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------ building events
    def wants(self, event_type: str) -> bool:
        return any(endpoint.wants(event_type) for endpoint in self.endpoints)

    def events(
        self, event_type: EventType, session_id: str | None, data: dict[str, Any]
    ) -> list[OutboxEvent]:
        """One outbox row per endpoint that wants ``event_type``, sharing one event id."""
        targets = [e for e in self.endpoints if e.wants(event_type)]
        if not targets:
            return []
        at = now_ms()
        event_id = "evt_" + secrets.token_hex(12)
        payload = {
            "id": event_id,
            "type": event_type,
            "timestamp": datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="milliseconds"),
            "data": data,
        }
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return [
            OutboxEvent(target.url, event_id, event_type, session_id, body, at)
            for target in targets
        ]

    def wake(self) -> None:
        """Rows were just committed: the workers look now rather than at their next poll."""
        for event in self._wake.values():
            event.set()

    async def emit(
        self, event_type: EventType, session_id: str | None, data: dict[str, Any]
    ) -> None:
        """Store an event that has no other write to share a transaction with."""
        events = self.events(event_type, session_id, data)
        if events:
            await self._store.enqueue_events(events)
            self.wake()

    def code_changes(self, session_ids: Sequence[str], at: int) -> CodeChanges:
        """The code.changed rows of one commit touching ``session_ids``; call
        :meth:`committed` once it is stored (a failed commit leaves the windows as they were)."""
        plan = CodeChanges([], [], [])
        if not self.wants("code.changed"):
            return plan
        for session_id in dict.fromkeys(session_ids):
            code = self.code_of(session_id)
            if code is not None and self._reported.get(session_id) == hash(code):
                continue  # a run's result, the language, not the code
            window_end = self._windows.get(session_id, 0)
            if window_end <= at:
                plan.events += self.events("code.changed", session_id, _changed(session_id, at))
                plan.opened.append((session_id, code))
            else:
                plan.pending.append((session_id, window_end))
        return plan

    def committed(self, plan: CodeChanges, at: int) -> None:
        for session_id, code in plan.opened:
            self._windows[session_id] = at + self._window_ms
            self._note_reported(session_id, code)
        if plan.events:
            self.wake()

    def code_seeded(self, session_id: str, code: str) -> None:
        """A new session's code: what its first code.changed is compared with."""
        if self.wants("code.changed"):
            self._note_reported(session_id, code)

    def forget(self, session_id: str) -> None:
        self._windows.pop(session_id, None)
        self._reported.pop(session_id, None)

    def _note_reported(self, session_id: str, code: str | None) -> None:
        if code is None:
            self._reported.pop(session_id, None)
        else:
            self._reported[session_id] = hash(code)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if not self.endpoints:
            return
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            headers={"User-Agent": "codeinterview-webhooks/1"},
            cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies go nowhere
            trust_env=False,
        )
        for endpoint in self.endpoints:
            self._tasks.append(
                asyncio.create_task(self._deliver_forever(endpoint), name="webhooks")
            )
        if self.wants("code.changed"):
            self._tasks.append(asyncio.create_task(self._sweep_forever(), name="code-changed"))
        log.info("webhooks: %d endpoints", len(self.endpoints))

    async def stop(self) -> None:
        """Stop delivering: a post in flight is dropped and its row stays (sent again, same
        id, on the next start); the outbox is consistent at every step."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    # ------------------------------------------------------------ delivery
    async def _deliver_forever(self, endpoint: Endpoint) -> None:
        wake = self._wake[endpoint.url]
        while True:
            wake.clear()
            try:
                due = await self._store.due_events(endpoint.url, now_ms(), _BATCH)
                answered = True
                for event in due:
                    answered = await self._deliver(endpoint, event)
                    if not answered:
                        break  # the rest wait for their turn: no burst at a failing endpoint
            except StorageError:
                log.exception("webhooks: the outbox could not be read; retrying")
                due, answered = [], False
            if len(due) == _BATCH and answered:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), _IDLE_POLL_S)

    async def _deliver(self, endpoint: Endpoint, event: OutboxEvent) -> bool:
        error = await self._post(endpoint, event)
        if error is None:
            await self._store.event_delivered(endpoint.url, event.id)
            self._metrics.webhook_deliveries.labels("delivered").inc()
            if endpoint.url in self._failing:
                self._failing.discard(endpoint.url)
                self._metrics.webhook_endpoints_failing.set(len(self._failing))
                log.info("webhook endpoint %s answers again", endpoint.url)
            return True
        now = now_ms()
        first_failed = event.first_failed_at or now
        attempts = event.attempts + 1
        give_up = now - first_failed >= self._retry_for_ms
        delay = min(self._base_ms * 2 ** (attempts - 1), MAX_BACKOFF_MS)
        failed = replace(event, attempts=attempts, first_failed_at=first_failed)
        await self._store.event_failed(failed, now + delay, error, give_up=give_up)
        if give_up:
            self._metrics.webhook_deliveries.labels("given_up").inc()
            self._failing.add(endpoint.url)
            self._metrics.webhook_endpoints_failing.set(len(self._failing))
            log.error(
                "webhook endpoint %s is failing: gave up %s %s after %d attempts (%s)",
                endpoint.url,
                event.type,
                event.id,
                attempts,
                error,
                extra={"event": "webhook.given_up"},
            )
        else:
            self._metrics.webhook_deliveries.labels("failed").inc()
            log.info(
                "webhook %s %s to %s failed (%s); retry %d in %d ms",
                event.type,
                event.id,
                endpoint.url,
                error,
                attempts,
                delay,
            )
        return False

    async def _post(self, endpoint: Endpoint, event: OutboxEvent) -> str | None:
        """Post one event; None when the endpoint took it (2xx), else why not."""
        assert self._http is not None
        body = event.body.encode()
        timestamp = now_ms() // 1000
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(endpoint.key, event.id, timestamp, body),
        }
        try:
            async with self._http.post(
                endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return None
                return f"answered {response.status}"
        except TimeoutError:
            return f"no answer in {TIMEOUT_S:.0f} s"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"[:200]

    # ------------------------------------------------------------ code.changed windows
    async def _sweep_forever(self) -> None:
        """Turn the sessions whose window ended with changes pending into events."""
        while True:
            await asyncio.sleep(min(1.0, self._window_ms / 1000))
            try:
                now = now_ms()
                due = await self._store.due_code_changes(now)
                if not due:
                    continue
                events = [
                    event
                    for session_id, _ in due
                    for event in self.events("code.changed", session_id, _changed(session_id, now))
                ]
                await self._store.code_changes_sent(due, events)
            except StorageError:
                log.exception("webhooks: pending code changes could not be sent; retrying")
                continue
            for session_id, _ in due:
                self._windows[session_id] = now + self._window_ms
                self._note_reported(session_id, self.code_of(session_id))
            self.wake()


def _changed(session_id: str, at: int) -> dict[str, Any]:
    return {"sessionId": session_id, "changedAt": at}

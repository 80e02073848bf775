"""What the server counts for Prometheus, in one place (prometheus-client).

Each :class:`Metrics` has its own registry, so several apps in one process (tests) do not
share counters, and the process collector reports this process's CPU, memory and fds.
Labels are low-cardinality only: a protocol, a role, an outcome, a route template, a
language, a reason. Never a session, a user or a token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from execution import ExecutionError, QueueFull, RunResult, SandboxUnavailable
from execution.languages import KNOWN_NAMES

#: Seconds, from a fraction of a millisecond (a frame, a commit) to the longest run.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: Update sizes, from a keystroke to the largest document.
_BYTES = (16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Every instrument the server updates; :meth:`exposition` is the scrape."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        self.connections = Gauge(
            "codeinterview_connections",
            "Open WebSocket connections in a room.",
            ["protocol", "role"],
            registry=registry,
        )
        self.rooms_loaded = Gauge(
            "codeinterview_rooms_loaded", "Rooms held in memory.", registry=registry
        )
        self.updates = Counter(
            "codeinterview_updates",
            "Document updates by outcome: applied, refused (a role or a size limit), "
            "invalid (malformed or not applicable).",
            ["outcome"],
            registry=registry,
        )
        self.update_bytes = Histogram(
            "codeinterview_update_bytes",
            "Size of each applied document update.",
            buckets=_BYTES,
            registry=registry,
        )
        self.sync_seconds = Histogram(
            "codeinterview_sync_seconds",
            "From a y-websocket socket's upgrade to the server's sync step 2 sent to it.",
            buckets=_LATENCY,
            registry=registry,
        )
        self.persist_seconds = Histogram(
            "codeinterview_persist_seconds",
            "From an update's acceptance until it is committed to storage.",
            buckets=_LATENCY,
            registry=registry,
        )
        self.compactions = Counter(
            "codeinterview_compactions",
            "Documents compacted (their update log folded into a snapshot).",
            registry=registry,
        )
        self.http_requests = Counter(
            "codeinterview_http_requests",
            "REST requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "codeinterview_http_request_seconds",
            "Time to answer a REST request, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.runs = Counter(
            "codeinterview_execution_runs",
            "Sandboxed runs finished, by language and outcome.",
            ["language", "outcome"],
            registry=registry,
        )
        self.run_seconds = Histogram(
            "codeinterview_execution_run_seconds",
            "Wall time of a sandboxed run, queueing included, by language.",
            ["language"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.runs_waiting = Gauge(
            "codeinterview_execution_queue",
            "Runs admitted and not finished (running or queued).",
            registry=registry,
        )
        self.relay_dropped = Counter(
            "codeinterview_relay_dropped",
            "Messages to the other processes not published (Redis down, or the outbox full); "
            "their rooms catch up from the database.",
            registry=registry,
        )
        self.rate_limited = Counter(
            "codeinterview_rate_limited",
            "Refusals because a client passed one of its bounds, by transport.",
            ["transport"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "codeinterview_auth_failures",
            "Refused token checks, by reason.",
            ["reason"],
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "codeinterview_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, failed (retried later), "
            "given_up (failing past --webhook-retry-for-seconds).",
            ["outcome"],
            registry=registry,
        )
        self.webhook_endpoints_failing = Gauge(
            "codeinterview_webhook_endpoints_failing",
            "Webhook endpoints that have given up an event and not answered since.",
            registry=registry,
        )

        # the children the per-update path takes, looked up once
        self.applied = self.updates.labels("applied")
        self.refused = self.updates.labels("refused")
        self.invalid = self.updates.labels("invalid")

    def count_rooms(self, count: Callable[[], int]) -> None:
        """Read the loaded rooms at scrape time."""
        self.rooms_loaded.set_function(count)

    async def timed_run(self, language: str, run: Awaitable[RunResult]) -> RunResult:
        """Await a sandboxed run, counting it by language and outcome (a name the engine
        does not know is "other": the label never takes what a client typed)."""
        name = KNOWN_NAMES.get(language.strip().lower(), "other")
        started = time.perf_counter()
        self.runs_waiting.inc()
        try:
            result = await run
        except QueueFull:
            self.runs.labels(name, "refused").inc()
            raise
        except SandboxUnavailable:
            self.runs.labels(name, "unavailable").inc()
            raise
        except ExecutionError:
            self.runs.labels(name, "invalid").inc()
            raise
        finally:
            self.runs_waiting.dec()
        self.runs.labels(name, _outcome(result)).inc()
        self.run_seconds.labels(name).observe(time.perf_counter() - started)
        return result

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _outcome(result: RunResult) -> str:
    if result.timed_out:
        return "timeout"
    if result.memory_exceeded:
        return "memory"
    return "ok" if result.exit_code == 0 else "error"

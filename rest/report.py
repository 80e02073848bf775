"""``GET /sessions/{id}/report``: the interview's report, as JSON or as a page to read.

The page is built here with every value escaped (the code and the notes are anyone's
text) and served with a policy that runs no script at all.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from aiohttp import web

from crdt_server.core.errors import (
    Forbidden,
    InvalidInput,
    SessionExpired,
    SessionNotFound,
    Unauthorized,
    Unavailable,
)
from crdt_server.one_at_a_time import OneAtATime
from crdt_server.protocol import RoomReset
from crdt_server.workers import WORKERS, TooCostly

from .auth import grant
from .keys import LIVE, PDF_TURN
from .models import Model, respond
from .report_pdf import render_pdf
from .routing import Operation

#: How long building one report's PDF may take (its inputs are bounded: about a second).
PDF_DEADLINE_S = 15.0
#: Requests that may be in line to build a PDF (the one building included).
PDF_LINE = 8
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


class Report(Model):
    """Everything the hiring committee reads about one interview."""

    session_id: str
    """The session."""
    status: str
    """waiting, active or ended."""
    created_at: int
    """When the session was created (Unix ms)."""
    started_at: int | None
    """When the interview started."""
    ended_at: int | None
    """When it ended."""
    duration_ms: int | None
    """Its planned length."""
    participants: list[dict[str, Any]]
    """Who took part, with their roles."""
    question: dict[str, Any] | None
    """The question, whole (solution and hidden cases included)."""
    code: str
    """The final code."""
    language: str
    """Its language."""
    runs: list[Any]
    """Every run, with its output and the code it ran."""
    tests: list[Any]
    """Every grading, whole (hidden cases too), as the server kept it."""
    notes: dict[str, Any]
    """The interviewers' notes."""
    scorecards: list[dict[str, Any]]
    """Every interviewer's scorecard."""
    events: list[dict[str, Any]]
    """What happened, in time order: created, joined, online, left (a participant's first
    socket opened, their last closed), started, ran, tested, ended."""
    playback: str | None
    """The player's page for this session (add the caller's ``&token=``)."""


class ReportEnvelope(Model):
    success: Literal[True] = True
    """Always true here."""
    data: Report
    """The report."""


async def report(request: web.Request) -> web.StreamResponse:
    who = await grant(request, query_token=True)
    wants = request.query.get("format", "")
    if wants not in ("", "json", "html", "pdf"):
        raise InvalidInput("format: json, html or pdf")
    data = await request.app[LIVE].reports.build(who.actor, who.session)
    accept = request.headers.get("Accept", "")
    if wants == "pdf" or (not wants and "application/pdf" in accept):
        return await _pdf(request.app[PDF_TURN], data)
    if wants == "html" or (not wants and "text/html" in accept):
        pdf = request.rel_url.update_query(format="pdf")
        token = request.query.get("token")  # the page's own: the player takes it too
        player = data["playback"] + (f"&token={quote(token)}" if token else "")
        page = web.Response(text=render(data, str(pdf), player), content_type="text/html")
        page.headers["Content-Security-Policy"] = _PAGE_POLICY
        return page
    return respond(ReportEnvelope(data=Report.model_validate(data)))


async def _pdf(turns: OneAtATime, data: dict[str, Any]) -> web.StreamResponse:
    """Built in a worker, one at a time; refused while too many wait (each takes ~1 s)."""
    try:
        async with turns.turn():
            document = await WORKERS.run(PDF_DEADLINE_S, render_pdf, data)
    except (TooCostly, RoomReset):  # past its deadline, or its worker died
        raise Unavailable("the PDF could not be built; try again, or read the JSON") from None
    name = f"interview-{data['sessionId']}.pdf"
    return web.Response(
        body=document,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def render(data: dict[str, Any], pdf_href: str, playback_href: str) -> str:
    """The report as one self-contained page; ``pdf_href``: the same report as a PDF,
    ``playback_href``: the player on this session."""
    people = "".join(
        f"<tr><td>{_e(p['name'])}</td><td>{_e(p['role'])}</td><td>{_time(p['joinedAt'])}</td></tr>"
        for p in data["participants"]
    )
    events = "".join(
        f"<tr><td>{_time(e['at'])}</td><td>{_e(e['type'])}</td><td>{_e(e.get('user'))}</td>"
        f"<td>{_e(_detail(e))}</td></tr>"
        for e in data["events"]
    )
    runs = "".join(
        f"<tr><td>{_time(r.get('at'))}</td><td>{_e(r.get('language'))}</td>"
        f"<td>{_e(r.get('exitCode'))}</td><td><pre>{_e(r.get('stdout'))}</pre></td></tr>"
        for r in data["runs"]
        if isinstance(r, dict)
    )
    tests = "".join(
        f"<tr><td>{_time(g.get('at'))}</td><td>{_e((g.get('status') or {}).get('description'))}"
        f"</td><td>{_e((g.get('score') or {}).get('points'))} / "
        f"{_e((g.get('score') or {}).get('max'))}</td></tr>"
        for g in data["tests"]
    )
    names = {p["id"]: p["name"] for p in data["participants"]}
    cards = "".join(
        f"<li><b>{_e(c['recommendation'])}</b> by "
        f"{_e(names.get(c['interviewerId'], c['interviewerId']))}: {_e(c['notes'])}"
        "<ul>"
        + "".join(
            f"<li>{_e(k['name'])}: {_e(k['score'])}/4 {_e(k['notes'])}</li>"
            for k in c["competencies"]
        )  # fmt: skip
        + "</ul></li>"
        for c in data["scorecards"]
    )
    question = data["question"]
    title = question["title"] if question else "no question"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Interview report {_e(data["sessionId"])}</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top}}pre{{background:#f6f6f6;padding:.6rem;overflow:auto;margin:0}}
</style></head><body>
<h1>Interview report</h1>
<p><a id="pdf" href="{_e(pdf_href)}">Download as PDF</a> ·
<a id="playback" href="{_e(playback_href)}">Watch it again</a></p>
<p id="summary">Session <code>{_e(data["sessionId"])}</code>, {_e(data["status"])}.
Started {_time(data["startedAt"])}, ended {_time(data["endedAt"])}.
Question: <b id="question">{_e(title)}</b>.</p>
<h2>Participants</h2><table><tr><th>name</th><th>role</th><th>joined</th></tr>{people}</table>
<h2>Final code ({_e(data["language"])})</h2><pre id="code">{_e(data["code"])}</pre>
<h2>Gradings</h2><table id="tests"><tr><th>at</th><th>status</th><th>score</th></tr>{tests}
</table>
<h2>Runs</h2><table><tr><th>at</th><th>language</th><th>exit</th><th>output</th></tr>{runs}
</table>
<h2>Scorecards</h2><ul id="scorecards">{cards}</ul>
<h2>Notes</h2><pre id="notes">{_e(data["notes"]["notes"])}</pre>
<h2>Timeline</h2><table id="events"><tr><th>at</th><th>event</th><th>who</th><th></th></tr>
{events}</table>
</body></html>
"""


def _detail(event: dict[str, Any]) -> str:
    if event["type"] == "ran":
        return f"exit {event.get('exitCode')}"
    if event["type"] == "tested":
        status, score = event.get("status") or {}, event.get("score") or {}
        return f"{status.get('description')}, {score.get('points')}/{score.get('max')}"
    return ""


OPERATIONS = [
    Operation(
        "GET",
        "/sessions/{sessionId}/report",
        report,
        "The interview's report (interviewers): participants, final code, runs, gradings, "
        "question, notes, scorecards and timeline; `?format=html` (or Accept: text/html) "
        "for a page to read, `?format=pdf` (or Accept: application/pdf) for a PDF",
        "interview",
        response=ReportEnvelope,
        errors=(
            InvalidInput,
            Unauthorized,
            Forbidden,
            SessionNotFound,
            SessionExpired,
            Unavailable,
        ),
    ),  # fmt: skip
]

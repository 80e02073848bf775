"""The interview's report as a PDF, for the hiring packet (``?format=pdf``).

fpdf2 is pure Python and holds the GIL while it lays text out, so the PDF is built in one of
the worker processes (:mod:`crdt_server.workers`) under a deadline, one at a time per client.
Text is set in DejaVu (Latin, Greek, Cyrillic, Arabic, Hebrew, symbols; not CJK or emoji)
when the system has it (Debian's ``fonts-dejavu-core``), else in the PDF's own Latin-1 fonts;
a character the font has no glyph for shows as "?", and the report says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
#: What of the code and of each output goes into the PDF (the JSON report has it all).
MAX_CODE_CHARS = 100_000
MAX_OUTPUT_CHARS = 2_000
MAX_NOTES_CHARS = 50_000


def _time(ms: object) -> str:
    """A time from a record; "-" for anything that is not one (runs are anyone's to write)."""
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return "-"


#: Control characters have no glyph: tabs become spaces, the rest go (newlines stay).
_CONTROLS = {c: None for c in [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F]}


def _cut(text: object, limit: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[:limit] + f"\n[... {len(value) - limit} more]"


class _Writer:
    """The report's few kinds of block on an A4 page."""

    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(15, 15, 15)
        self.glyphs: dict[str, frozenset[int]] = {}
        self.unicode = self._dejavu()
        self.sans, self.mono = (
            ("DejaVu", "DejaVuMono") if self.unicode else ("Helvetica", "Courier")
        )
        self.replaced = False
        self.pdf.add_page()

    def _dejavu(self) -> bool:
        for folder in FONT_DIRS:
            faces = {
                ("DejaVu", ""): folder / "DejaVuSans.ttf",
                ("DejaVu", "B"): folder / "DejaVuSans-Bold.ttf",
                ("DejaVuMono", ""): folder / "DejaVuSansMono.ttf",
            }
            if all(path.is_file() for path in faces.values()):
                for (family, style), path in faces.items():
                    self.pdf.add_font(family, style, str(path))
                    if not style:
                        with TTFont(path, lazy=True) as font:
                            self.glyphs[family] = frozenset(font.getBestCmap())
                return True
        return False

    def _text(self, value: object, family: str) -> str:
        """``value`` as the font can show it: what it has no glyph for becomes "?"."""
        text = ("" if value is None else str(value)).expandtabs(4).translate(_CONTROLS)
        if self.unicode:
            glyphs = self.glyphs[family]
            shown = "".join(c if ord(c) in glyphs or c == "\n" else "?" for c in text)
        else:
            shown = text.encode("latin-1", "replace").decode("latin-1")
        self.replaced = self.replaced or shown != text
        return shown

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.set_font(self.sans, "B", size)
        self.pdf.ln(3)
        shown = self._text(text, self.sans)
        self.pdf.multi_cell(0, size * 0.6, shown, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def line(self, text: object, bold: bool = False) -> None:
        self.pdf.set_font(self.sans, "B" if bold else "", 10)
        self.pdf.multi_cell(0, 5, self._text(text, self.sans), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def block(self, text: object) -> None:
        """Code or output, monospaced, kept as it is (wrapped, not reflowed)."""
        self.pdf.set_font(self.mono, "", 8.5)
        self.pdf.set_fill_color(246, 246, 246)
        body = self._text(text, self.mono) or " "
        self.pdf.multi_cell(
            0, 4.2, body, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.CHAR
        )
        self.pdf.ln(1)


def render_pdf(data: dict[str, Any]) -> bytes:
    """The report (the JSON report's data) as a PDF document."""
    out = _Writer()
    question = data.get("question")
    out.heading("Interview report", 18)
    out.line(f"Session {data['sessionId']}, {data['status']}.")
    out.line(f"Started {_time(data.get('startedAt'))}, ended {_time(data.get('endedAt'))}.")
    out.line(f"Question: {question['title'] if question else 'none'}", bold=True)

    out.heading("Participants")
    for p in data["participants"]:
        out.line(f"{p['name']} ({p['role']}), joined {_time(p.get('joinedAt'))}")

    out.heading(f"Final code ({data['language']})")
    out.block(_cut(data["code"], MAX_CODE_CHARS))

    out.heading("Gradings")
    for g in data["tests"] or [{}]:
        if not g:
            out.line("none")
            break
        status, score = g.get("status") or {}, g.get("score") or {}
        out.line(
            f"{_time(g.get('at'))}: {status.get('description')}, "
            f"{score.get('points')}/{score.get('max')} points",
            bold=True,
        )
        for case in g.get("tests") or []:
            hidden = " (hidden)" if case.get("hidden") else ""
            verdict = "passed" if case.get("passed") else "failed"
            out.line(f"   {case.get('name') or case.get('id')}{hidden}: {verdict}, "
                     f"{case.get('timeMs')} ms")  # fmt: skip

    out.heading("Runs")
    for r in [r for r in data["runs"] if isinstance(r, dict)] or [{}]:
        if not r:
            out.line("none")
            break
        out.line(f"{_time(r.get('at'))}: {r.get('language')}, exit {r.get('exitCode')}", bold=True)
        if r.get("stdout"):
            out.block(_cut(r["stdout"], MAX_OUTPUT_CHARS))
        if r.get("stderr"):
            out.block(_cut(r["stderr"], MAX_OUTPUT_CHARS))

    out.heading("Scorecards")
    names = {p["id"]: p["name"] for p in data["participants"]}
    for card in data["scorecards"] or [{}]:
        if not card:
            out.line("none")
            break
        author = names.get(card["interviewerId"], card["interviewerId"])
        out.line(f"{card['recommendation']} by {author}", bold=True)
        for competency in card.get("competencies") or []:
            out.line(f"   {competency['name']}: {competency['score']}/4 "
                     f"{competency.get('notes') or ''}")  # fmt: skip
        if card.get("notes"):
            out.line(card["notes"])

    out.heading("Notes")
    out.block(_cut(data["notes"]["notes"], MAX_NOTES_CHARS))

    out.heading("Timeline")
    for event in data["events"]:
        who = f" {event['user']}" if event.get("user") else ""
        out.line(f"{_time(event.get('at'))}  {event['type']}{who}")

    if out.replaced:
        out.heading("Note")
        hint = "" if out.unicode else ": install fonts-dejavu-core on the server"
        out.line(f"Some characters have no glyph in this PDF's fonts and show as ?{hint}.")
    return bytes(out.pdf.output())

"""The report's PDF: every script in DejaVu, the PDF's own fonts as a fallback that says what
it could not show, and bounded however long the code is."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from rest import report_pdf
from rest.report_pdf import MAX_CODE_CHARS, render_pdf


def report(code: str) -> dict[str, Any]:
    return {
        "sessionId": "5e551011", "status": "ended", "startedAt": 1_800_000_000_000,
        "endedAt": 1_800_000_900_000, "question": {"title": "Zählen"}, "language": "python",
        "participants": [{"id": "p1", "name": "Zoë", "role": "candidate",
                          "joinedAt": 1_800_000_000_000}],
        "code": code, "tests": [], "runs": [], "scorecards": [], "notes": {"notes": "Ölig"},
        "events": [{"at": 1_800_000_000_000, "type": "joined", "user": "Zoë"}],
    }  # fmt: skip


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_pdf_shows_every_character_in_dejavu() -> None:
    if not any((folder / "DejaVuSans.ttf").is_file() for folder in report_pdf.FONT_DIRS):
        pytest.skip("fonts-dejavu-core is not installed")
    shown = text_of(render_pdf(report("print('Привет, Zoë → ∑')\n")))
    assert "Привет, Zoë → ∑" in shown and "Zählen" in shown
    assert "no glyph" not in shown
    tabs_and_cjk = text_of(render_pdf(report("if x:\n\tprint('漢')\x07\n")))
    assert "    print('?')" in tabs_and_cjk  # a tab is four spaces; no glyph: ?, and it says so
    assert "no glyph in this PDF's fonts" in tabs_and_cjk
    assert "install" not in tabs_and_cjk


def test_without_dejavu_the_pdf_replaces_what_it_cannot_show_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(report_pdf, "FONT_DIRS", (tmp_path,))
    shown = text_of(render_pdf(report("print('Привет')\n")))
    assert "print('??????')" in shown and "Zählen" in shown  # Latin-1 stays
    assert "install fonts-dejavu-core" in shown


def test_times_that_are_not_times_print_as_a_dash() -> None:
    data = report("x\n")
    data["runs"] = [{"at": 10**30, "language": "python", "exitCode": 0}, {"at": "soon"}]
    data["events"] += [{"at": float("nan"), "type": "ran"}, {"at": True, "type": "ran"}]
    assert render_pdf(data).startswith(b"%PDF")


def test_a_huge_program_is_cut_in_the_pdf_not_the_json() -> None:
    code = "x = 1\n" * (MAX_CODE_CHARS // 3)
    shown = text_of(render_pdf(report(code)))
    assert f"[... {len(code) - MAX_CODE_CHARS} more]" in shown

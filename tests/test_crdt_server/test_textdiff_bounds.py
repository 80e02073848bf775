"""The text diff stays correct and bounded whatever the texts: a search that would cost too
much settles for coarser edits instead of freezing the server."""

from __future__ import annotations

import difflib
import random

import pytest

from crdt_server.textdiff import DIFF_BUDGET, diff


def apply(old: str, new: str, budget: int = DIFF_BUDGET) -> str:
    out = old
    for edit in reversed(diff(old, new, budget)):
        out = out[: edit.start] + edit.insert + out[edit.end :]
    return out


@pytest.mark.parametrize("budget", [0, 5, 50, DIFF_BUDGET])
def test_every_budget_still_turns_the_old_text_into_the_new(budget: int) -> None:
    rng = random.Random(budget)
    alphabet = "ab\nxyé中😀 "
    for _ in range(1500):
        old = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        new = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        assert apply(old, new, budget) == new


def test_small_diffs_are_as_small_as_difflibs() -> None:
    rng = random.Random(5)
    for _ in range(1000):
        old = "".join(rng.choice("abc\n") for _ in range(rng.randrange(0, 30)))
        new = "".join(rng.choice("abc\n") for _ in range(rng.randrange(0, 30)))
        ours = sum(e.end - e.start + len(e.insert) for e in diff(old, new))
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        theirs = sum(
            (i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
        )
        assert ours <= theirs, (old, new)


def test_a_search_past_its_budget_falls_back_to_lines_both_texts_have_once() -> None:
    old = "".join(f"old {i}\n" if i % 2 else f"keep {i}\n" for i in range(4000))
    new = "".join(f"new {i}\n" if i % 2 else f"keep {i}\n" for i in range(4000))
    edits = diff(old, new, budget=100)  # far too little for 4000 changed lines
    assert apply(old, new, 100) == new
    assert len(edits) == 2000  # one per changed line: every kept line is left alone


def test_typing_gets_one_exact_edit() -> None:
    old = "".join(f"line {i}\n" for i in range(5000))
    new = old.replace("line 2500\n", "line 25x00\n")
    assert [(e.end - e.start, e.insert) for e in diff(old, new)] == [(0, "x")]

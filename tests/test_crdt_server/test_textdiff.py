"""Index conversions and minimal edits, with emoji and accents."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrdt import Doc, Text

from crdt_server.textdiff import (
    diff,
    index_to_utf16,
    replace_text,
    utf8_len,
    utf16_len,
    utf16_to_index,
)

SAMPLE = "a😀é中b"


def test_lengths_are_counted_in_each_unit() -> None:
    assert len(SAMPLE) == 5 and utf8_len(SAMPLE) == 11 and utf16_len(SAMPLE) == 6


@pytest.mark.parametrize(
    ("units", "index"), [(0, 0), (1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (99, 5)]
)
def test_a_utf16_offset_maps_to_a_code_point_and_never_splits_a_pair(
    units: int, index: int
) -> None:
    assert utf16_to_index(SAMPLE, units) == index


def test_code_point_indices_map_back_to_utf16() -> None:
    assert [index_to_utf16(SAMPLE, i) for i in range(6)] == [0, 1, 3, 4, 5, 6]


def apply(old: str, new: str) -> str:
    out = old
    for edit in reversed(diff(old, new)):
        out = out[: edit.start] + edit.insert + out[edit.end :]
    return out


def test_random_texts_always_diff_into_the_target() -> None:
    rng = random.Random(7)
    alphabet = "ab\nxyé中😀 "
    for _ in range(1500):
        old = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        new = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert apply(old, new) == new


def test_large_texts_are_diffed_by_lines_and_keep_unchanged_lines() -> None:
    old = "".join(f"line {i} 😀\n" for i in range(3000))
    new = old.replace("line 10 ", "line ten ").replace("line 2500 ", "")
    edits = diff(old, new)
    assert apply(old, new) == new and len(edits) == 2


def test_replace_text_edits_a_pycrdt_text_across_multibyte_characters() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    text.insert(0, "x = 'héllo 😀 wörld'\n")
    for target in ["x = 'héllo 😀😀 wörld'\n", "y = '😀'\n", "", "日本語 é"]:
        replace_text(text, target)
        assert str(text) == target


def test_an_unchanged_prefix_and_suffix_survive_a_concurrent_edit() -> None:
    server: Doc[Any] = Doc()
    text = server.get("code", type=Text)
    text.insert(0, "alpha\nbeta\ngamma\n")
    client: Doc[Any] = Doc()
    client.apply_update(server.get_update())
    ctext = client.get("code", type=Text)
    sv = client.get_state()
    ctext.insert(0, "# top\n")
    replace_text(text, "alpha\nBETA\ngamma\n")
    server.apply_update(client.get_update(sv))
    assert str(text) == "# top\nalpha\nBETA\ngamma\n"

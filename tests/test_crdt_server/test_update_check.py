"""The Yjs update validator: real updates pass, malformed and pycrdt-breaking ones are refused.

Updates that break pycrdt are only ever applied in a child process (they hang or crash it).
"""

from __future__ import annotations

import json
import queue
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText
from support.node_client import NODE_DIR, missing_deps_message, node_executable

from crdt_server import update_check
from crdt_server.update_check import UpdateRejected, UpdateStats, check_update, missing

BREAKERS = Path(__file__).resolve().parents[3] / "shared" / "repro" / "pycrdt-breakers.json"
CORPUS_SCRIPT = NODE_DIR / "update_corpus.mjs"
REFUSED_SCENARIOS = {"xml-hook": "XmlHook is not accepted"}  # valid Yjs that pycrdt misreads


# ----------------------------------------------------------------- a small v1 encoder


def uint(value: int) -> bytes:
    """lib0 writeVarUint (any size: tests write values past what is allowed)."""
    out = bytearray()
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return uint(len(raw)) + raw


def update(*clients: tuple[int, int, list[bytes]], deleted: bytes = b"\x00") -> bytes:
    """Struct section from (client, first clock, structs), then the delete set."""
    out = uint(len(clients))
    for client, clock, structs in clients:
        out += uint(len(structs)) + uint(client) + uint(clock) + b"".join(structs)
    return out + deleted


def deletes(*clients: tuple[int, list[tuple[int, int]]]) -> bytes:
    """A delete set from (client, [(clock, length), ...])."""
    out = uint(len(clients))
    for client, ranges in clients:
        out += uint(client) + uint(len(ranges))
        out += b"".join(uint(clock) + uint(length) for clock, length in ranges)
    return out


def root_item(
    content_ref: int, content: bytes, root: str = "code", key: str | bytes | None = None
) -> bytes:
    """An Item without origins, in a root type (under ``key`` for a map entry)."""
    info = content_ref | (0x20 if key is not None else 0)
    return bytes([info]) + uint(1) + string(root) + (string(key) if key else b"") + content


def child_item(content_ref: int, content: bytes, parent: tuple[int, int]) -> bytes:
    """An Item without origins whose parent is the type created at ``parent``."""
    return bytes([content_ref]) + uint(0) + uint(parent[0]) + uint(parent[1]) + content


def after(content_ref: int, content: bytes, origin: tuple[int, int]) -> bytes:
    """An Item inserted after ``origin``."""
    return bytes([0x80 | content_ref]) + uint(origin[0]) + uint(origin[1]) + content


def text(value: str | bytes) -> bytes:
    return root_item(4, string(value))


def any_item(*values: bytes) -> bytes:
    return root_item(8, uint(len(values)) + b"".join(values))


def nested_arrays(depth: int) -> bytes:
    """An Any value of ``depth`` arrays, each holding the next, the last holding null."""
    return b"\x75\x01" * depth + b"\x7e"


def rejected(data: bytes, *, max_depth: int = 64) -> str:
    with pytest.raises(UpdateRejected) as caught:
        check_update(data, max_depth=max_depth)
    return str(caught.value)


# ----------------------------------------------------------------- corpora


@pytest.fixture(scope="module")
def yjs_corpus() -> dict[str, bytes]:
    """Every update tests/node/update_corpus.mjs writes with real Yjs, by scenario name."""
    node = node_executable()
    if node is None or not (NODE_DIR / "node_modules" / "yjs").is_dir():
        pytest.fail(f"node with yjs is needed: {missing_deps_message()}")
    result = subprocess.run(
        [node, str(CORPUS_SCRIPT)], cwd=NODE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    corpus = {name: bytes.fromhex(hex_) for name, hex_ in json.loads(result.stdout).items()}
    assert len(corpus) > 100
    return corpus


def accepted_corpus(corpus: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in corpus.items() if k.split("/")[0] not in REFUSED_SCENARIOS}


def pycrdt_updates() -> Iterator[bytes]:
    """Updates pycrdt itself writes: every root and content kind, diffs, deletions, subdocs."""
    doc: Doc[Any] = Doc(client_id=2**40 + 3)
    emitted: list[bytes] = []
    doc.observe(lambda event: emitted.append(event.update))
    code = doc.get("code", type=Text)
    position = 0  # pycrdt indexes text by UTF-8 byte
    for char in "print('héllo 😀')\n":  # one update per keystroke
        code.insert(position, char)
        position += len(char.encode())
    state = doc.get_state()
    del code[0:3]
    code.insert(0, "x", attrs={"bold": True})
    code.format(1, 3, {"italic": True})
    code.insert_embed(2, {"image": "a.png"})
    meta = doc.get("meta", type=Map)
    meta.update({"language": "python", "n": 1, "f": 1.5, "none": None, "flag": True})
    meta["nested"] = Map({"list": Array([1, "two", {"three": [3]}]), "text": Text("t")})
    meta["bytes"] = b"\x00\x01"
    meta["sub"] = Doc()
    runs = doc.get("runs", type=Array)
    runs.extend([{"stdout": "1\n", "exitCode": 0}, [1, 2], "s"])
    del runs[0]
    xml = doc.get("xml", type=XmlFragment)
    xml.children.append(XmlElement("p", {"class": "c"}, [XmlText("inside")]))
    yield from emitted
    yield doc.get_update()
    yield doc.get_update(state)
    yield Doc().get_update()


# ----------------------------------------------------------------- real updates pass


@pytest.mark.node
def test_every_update_real_yjs_writes_passes(yjs_corpus: dict[str, bytes]) -> None:
    failures = {}
    for name, data in accepted_corpus(yjs_corpus).items():
        try:
            check_update(data)
        except UpdateRejected as exc:
            failures[name] = str(exc)
    assert failures == {}


@pytest.mark.node
def test_yjs_xml_hooks_are_refused_because_pycrdt_misreads_them(
    yjs_corpus: dict[str, bytes],
) -> None:
    refused = {k: v for k, v in yjs_corpus.items() if k.split("/")[0] in REFUSED_SCENARIOS}
    assert refused
    for name, data in refused.items():
        if name.endswith(("/state", "/update-0")):  # update-1 only sets a key on the hook
            assert REFUSED_SCENARIOS[name.split("/")[0]] in rejected(data)


@pytest.mark.node
def test_the_yjs_corpus_covers_every_struct_type_and_value_kind(
    yjs_corpus: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, set[int]] = {"struct info": set(), "type ref": set(), "value": set()}
    original = update_check._Reader.u8

    def recording_u8(reader: update_check._Reader, what: str) -> int:
        value = original(reader, what)
        seen.setdefault(what, set()).add(value)
        return value

    monkeypatch.setattr(update_check._Reader, "u8", recording_u8)
    for data in accepted_corpus(yjs_corpus).values():
        check_update(data)
    kinds = {info if info in (0, 10) else info & 0x1F for info in seen["struct info"]}
    assert kinds == {0, 10, 1, 3, 4, 5, 6, 7, 8, 9}  # all but legacy JSON (2), refused
    assert seen["struct info"] & {0x84, 0x44, 0xC4, 0x24, 0x28}  # origins, parent keys
    assert seen["type ref"] == {0, 1, 2, 3, 4, 6}  # XmlHook (5) is refused
    assert seen["value"] == set(range(116, 128))
    keystrokes = [v for k, v in yjs_corpus.items() if k.startswith("text-typing/update")]
    assert len(keystrokes) > 20 and max(len(data) for data in keystrokes) < 40


def test_updates_pycrdt_writes_pass() -> None:
    updates = list(pycrdt_updates())
    assert len(updates) > 20
    for data in updates:
        check_update(data)


def test_stats_count_clients_structs_content_typed_text_and_deleted_ranges() -> None:
    data = update(
        (7, 0, [text("héllo"), after(4, string("!"), (7, 4)), b"\x00" + uint(3)]),
        (8, 5, [b"\x0a" + uint(2), any_item(b"\x77" + string("ab"), b"\x7d\x05")]),
        deleted=deletes((7, [(0, 2), (4, 1)]), (8, [(6, 1)])),
    )
    assert check_update(data) == UpdateStats(
        size=len(data),
        clients=2,
        structs=5,
        content_bytes=7 + 2 + 7,
        deleted_ranges=3,
        cuts=((7, 5), (7, 0), (7, 2), (7, 4), (7, 5), (8, 6), (8, 7)),  # origin + 1, deletes
        runs=((7, 0, 9), (8, 7, 9)),  # client 8's Skip of 5-6 is not carried
        refs=((7, 4),),
        deleted_to=((7, 5), (8, 7)),
        objects=((8, 7, 2),),  # the two values; text and Skip are not objects
        text_chars=len("héllo!"),
        text_bytes=len("héllo!".encode()),
    )


def test_an_update_starting_past_the_documents_clock_or_citing_what_it_lacks_is_missing() -> None:
    data = update((7, 0, [text("ab")]), (8, 0, [after(4, string("!"), (7, 1))]))
    stats = check_update(data)
    assert missing(stats, {}) is None  # everything it needs, it carries
    gap = check_update(update((5, 5, [text("x")])))  # client 5 from clock 5
    assert missing(gap, {5: 5}) is None
    assert missing(gap, {5: 2}) == "client 5 starts at clock 5, the document has 2"
    cites = check_update(update((8, 0, [after(4, string("!"), (7, 3))])))
    assert missing(cites, {7: 4}) is None
    assert missing(cites, {7: 3}) == "it refers to (7, 3), which the document does not have"
    ahead = check_update(update(deleted=deletes((7, [(2, 3)]))))  # deletes 2..4 of client 7
    assert missing(ahead, {7: 5}) is None
    assert missing(ahead, {7: 4}) == "it deletes clocks of client 7 up to 5, the document has 4"
    own = check_update(update((7, 4, [text("ab")]), deleted=deletes((7, [(5, 1)]))))
    assert missing(own, {7: 4}) is None  # a deletion of what the update itself carries


def test_the_second_halves_of_surrogate_pairs_are_noted_with_their_ids() -> None:
    data = update((7, 3, [text("a😀é😀")]))  # clocks: a 3, 😀 4-5, é 6, 😀 7-8
    assert check_update(data).pair_halves == ((7, 5), (7, 8))


def test_an_empty_update_passes() -> None:
    assert check_update(b"\x00\x00") == UpdateStats(2, 0, 0, 0, 0)


# ----------------------------------------------------------------- known breakers


def breaker_updates() -> list[object]:
    sets = json.loads(BREAKERS.read_text())
    return [
        pytest.param(bytes.fromhex(hex_), id=f"{name}-{index}")
        for name in ("hang", "crash")
        for index, hex_ in enumerate(sets[name]["updates"])
    ]


@pytest.mark.parametrize("data", breaker_updates())
def test_every_known_pycrdt_breaker_is_rejected(data: bytes) -> None:
    assert "invalid Yjs update" in rejected(data)


def test_a_yjs_valid_xml_hook_cannot_smuggle_a_struct_past_the_check() -> None:
    """Yjs reads the hook name; yrs does not and parses the name as structs: here an Any
    nested 50,000 deep, which overflows pycrdt's stack. Yjs applies this update fine."""
    payload = b"\x00\x01" + nested_arrays(50_000)
    name = payload + b"a" * (100_104 - len(payload))  # a length whose varint yrs reads as info
    hook = root_item(7, b"\x05" + string(name), root="x")
    assert "XmlHook is not accepted" in rejected(update((5, 0, [hook, b"\x00\x01"])))


def test_legacy_json_content_is_refused_because_pycrdt_misreads_it() -> None:
    data = update((5, 0, [root_item(2, uint(1) + string('"x"'))]))
    assert "legacy JSON content" in rejected(data)


# ----------------------------------------------------------------- framing


def valid_samples(corpus: dict[str, bytes]) -> list[bytes]:
    small = [data for data in accepted_corpus(corpus).values() if len(data) <= 3000]
    return small + list(pycrdt_updates())


@pytest.mark.node
def test_truncations_at_every_offset_are_rejected(yjs_corpus: dict[str, bytes]) -> None:
    prefixes = accepted = 0
    for data in valid_samples(yjs_corpus):
        for cut in range(len(data)):
            prefixes += 1
            try:
                check_update(data[:cut])
                accepted += 1  # the prefix happens to be a whole update
            except UpdateRejected:
                pass
    large = yjs_corpus["large/state"]
    for cut in range(0, len(large), max(1, len(large) // 500)):
        with pytest.raises(UpdateRejected):
            check_update(large[:cut])
    assert prefixes > 5000
    assert accepted < prefixes / 1000


@pytest.mark.parametrize("tail", [b"\x00", b"\x01", b"\xff" * 3, b"\x00\x00"])
def test_trailing_bytes_are_rejected(tail: bytes) -> None:
    for data in pycrdt_updates():
        assert "left over" in rejected(data + tail)


# ----------------------------------------------------------------- limits

SAFE = 2**53
CLOCKS = 2**31


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        (update((SAFE - 1, 0, [text("a")])), True),
        (update((SAFE, 0, [text("a")])), False),
        (update((2**64 - 1, 0, [text("a")])), False),
        (update((5, 0, [text("a")]), deleted=deletes((SAFE - 1, [(0, 1)]))), True),
        (update((5, 0, [text("a")]), deleted=deletes((SAFE, [(0, 1)]))), False),
        (update((5, 0, [after(4, string("a"), (SAFE - 1, 0))])), True),
        (update((5, 0, [after(4, string("a"), (SAFE, 0))])), False),
        (update((5, 0, [child_item(4, string("a"), (SAFE, 0))])), False),
    ],
)
def test_client_ids_must_be_below_2_53(data: bytes, accepted: bool) -> None:
    if accepted:
        check_update(data)
    else:
        assert "not below 2**53" in rejected(data) or "longer than 8 bytes" in rejected(data)


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        (update((5, CLOCKS - 2, [text("a")])), True),  # runs to 2**31 - 1
        (update((5, CLOCKS - 1, [text("a")])), False),  # runs to 2**31
        (update((5, CLOCKS - 3, [text("😀")])), True),  # two UTF-16 units
        (update((5, CLOCKS - 3, [text("😀a")])), False),
        (update((5, CLOCKS, [text("a")])), False),
        (update((5, 2**32, [text("a")])), False),  # yrs would wrap it to clock 0
        (update((5, SAFE, [text("a")])), False),
        (update((5, 0, [b"\x00" + uint(CLOCKS - 1)])), True),
        (update((5, 0, [b"\x00" + uint(CLOCKS)])), False),
        (update((5, 0, [b"\x0a" + uint(SAFE)])), False),
        (update((5, 0, [root_item(1, uint(CLOCKS))])), False),
        (update((5, 0, [after(4, string("a"), (6, CLOCKS - 1))])), True),
        (update((5, 0, [after(4, string("a"), (6, CLOCKS))])), False),
        (update((5, 0, [child_item(4, string("a"), (6, CLOCKS))])), False),
        (update(deleted=deletes((5, [(CLOCKS - 2, 1)]))), True),
        (update(deleted=deletes((5, [(CLOCKS - 1, 1)]))), False),
        (update(deleted=deletes((5, [(0, SAFE)]))), False),
        (update(deleted=deletes((5, [(SAFE, 1)]))), False),
    ],
)
def test_clocks_and_lengths_stay_in_the_range_pycrdt_handles(data: bytes, accepted: bool) -> None:
    if accepted:
        check_update(data)
    else:
        assert "2**31" in rejected(data) or "2**53" in rejected(data)


@pytest.mark.parametrize(
    "data",
    [
        uint(SAFE) + b"\x00",
        uint(10**9) + b"\x00" * 28,
        b"\x01" + uint(10**9) + uint(5) + uint(0) + b"\x00" * 26,
        b"\x00" + uint(10**9) + b"\x00" * 28,
        b"\x00\x01\x05" + uint(10**9) + b"\x00" * 26,
        update((5, 0, [root_item(8, uint(10**9) + b"\x7e" * 20)])),
        update((5, 0, [any_item(b"\x75" + uint(10**9) + b"\x7e" * 20)])),
        update((5, 0, [any_item(b"\x76" + uint(20) + b"\x00\x7e" * 15)])),
        update((5, 0, [root_item(4, uint(10**9) + b"abc")])),
        update((5, 0, [root_item(3, uint(2**40) + b"abc")])),
    ],
)
def test_counts_and_lengths_that_cannot_fit_are_rejected_at_once(data: bytes) -> None:
    started = time.perf_counter()
    message = rejected(data)
    assert time.perf_counter() - started < 0.01
    assert "cannot fit" in message or "needs" in message or "2**53" in message


def test_varints_are_at_most_8_bytes() -> None:
    eight = bytes([0xFF] * 7 + [0x0F])  # 2**53 - 1
    assert check_update(b"\x01\x01" + eight + b"\x00" + text("a") + b"\x00").clients == 1
    overlong_zero = b"\x80" * 7 + b"\x00"
    assert check_update(b"\x01\x01\x05" + overlong_zero + text("a") + b"\x00").structs == 1
    assert "longer than 8 bytes" in rejected(b"\x01\x01" + b"\x80" * 8 + b"\x00" + b"\x00\x00")
    assert "truncated" in rejected(b"\x01\x01\x85\x80")


# ----------------------------------------------------------------- structs and content


@pytest.mark.parametrize(
    ("struct", "reason"),
    [
        (b"\x00" + uint(0), "length 0"),
        (b"\x0a" + uint(0), "length 0"),
        (root_item(1, uint(0)), "length 0"),
        (text(""), "length 0"),
        (any_item(), "length 0"),
        (b"\x20" + uint(3), "no known struct"),  # GC with a flag bit: yrs reads an Item
        (b"\x8a" + uint(3), "no known struct"),
        (b"\x4a" + uint(1) + uint(0) + uint(3), "no known struct"),
        (root_item(11, b"\x00"), "no known struct"),  # yrs's Move, not Yjs
        (root_item(20, string("ab")), "no known struct"),  # yrs would read a String
        (b"\x04" + uint(2) + string("code") + string("a"), "parent info 2"),
        (b"\x04" + uint(2**32 + 1) + string("code") + string("a"), "parent info"),
        (root_item(7, b"\x07"), "type ref 7"),
        (root_item(7, b"\x0f"), "type ref 15"),
        (root_item(7, b"\x80\x00"), "type ref 128"),
        (root_item(7, b"\x05" + string("hook")), "XmlHook"),
        (root_item(7, b"\x03"), "truncated"),
        (text(b"\xff\xfe"), "not valid UTF-8"),
        (text(b"\xed\xa0\x80"), "not valid UTF-8"),  # a UTF-16 surrogate
        (text(b"a\xc3"), "not valid UTF-8"),
        (b"\x04" + uint(1) + string(b"c\xc3\x28") + string("a"), "not valid UTF-8"),
        (root_item(4, string("a"), key=b"k\xc3"), "not valid UTF-8"),
        (root_item(5, string("{")), "not valid JSON"),
        (root_item(5, string("NaN")), "not valid JSON"),
        (root_item(5, string("undefined")), "not valid JSON"),
        (root_item(6, string("bold") + string("tru")), "not valid JSON"),
        (root_item(5, string("[" * 65 + "]" * 65)), "nested deeper"),
        (root_item(5, string("[" * 100_000)), "not valid JSON"),
        (root_item(9, string("guid") + b"\x7e"), "options are not an object"),
        (root_item(9, string("guid") + b"\x75\x00"), "options are not an object"),
        (root_item(9, string("guid")), "options are not an object"),
        (any_item(b"\x73"), "unknown type tag 115"),
        (any_item(b"\x80"), "unknown type tag 128"),
        (any_item(b"\x77" + string(b"\xc0\xaf")), "not valid UTF-8"),
        (any_item(b"\x76\x01" + string(b"\xff") + b"\x7e"), "not valid UTF-8"),
        (any_item(b"\x7c\x00\x00"), "truncated"),
        (any_item(b"\x7d" + b"\xff" * 8 + b"\x01"), "2**53"),
        (any_item(b"\x74" + uint(10)), "truncated"),
        (after(4, string("a"), (5, 0)), "not earlier than the item"),
        (b"\xc4" + uint(6) + uint(0) + uint(5) + uint(3) + string("a"), "not earlier"),
        (child_item(4, string("a"), (5, 1)), "not earlier than the item"),
    ],
)
def test_malformed_structs_are_rejected(struct: bytes, reason: str) -> None:
    assert reason in rejected(update((5, 0, [struct])))


def test_a_parent_in_the_same_update_must_be_a_type() -> None:
    typed = root_item(7, b"\x01", root="meta", key="m")  # a Y.Map at (5, 0)
    deleted = root_item(1, uint(2))  # (5, 1..2)
    gc = b"\x00" + uint(2)  # (5, 3..4)
    words = text("abc")  # (5, 5..7)
    structs = [typed, deleted, gc, words]
    for parent in [(5, 0), (5, 1), (5, 2), (5, 4), (7, 9), (5, 9)]:
        check_update(update((5, 0, structs), (6, 0, [child_item(4, string("x"), parent)])))
    for parent in [(5, 5), (5, 7)]:
        data = update((5, 0, structs), (6, 0, [child_item(4, string("x"), parent)]))
        assert "is not a type" in rejected(data)


def test_a_client_appears_once_in_the_structs_and_once_in_the_delete_set() -> None:
    twice = update((5, 0, [text("ab")]), (5, 2, [after(4, string("c"), (5, 1))]))
    assert "appears twice" in rejected(twice)
    twice_deleted = update(deleted=deletes((5, [(0, 1)]), (5, [(3, 1)])))
    assert "appears twice in the delete set" in rejected(twice_deleted)


@pytest.mark.parametrize(
    ("ranges", "reason"),
    [
        ([(0, 2), (2, 1), (9, 3)], ""),
        ([(3, 1), (0, 2)], "not sorted"),
        ([(0, 4), (3, 1)], "overlap"),
        ([(0, 0)], "empty"),
        ([], ""),
    ],
)
def test_deleted_ranges_are_sorted_disjoint_and_not_empty(
    ranges: list[tuple[int, int]], reason: str
) -> None:
    data = update((5, 0, [text("abcdefghijklm")]), deleted=deletes((5, ranges)))
    if reason:
        assert reason in rejected(data)
    else:
        assert check_update(data).deleted_ranges == len(ranges)


def test_any_nesting_is_bounded_by_max_depth_without_recursion() -> None:
    check_update(update((5, 0, [any_item(nested_arrays(64))])))
    assert "nested deeper than 64" in rejected(update((5, 0, [any_item(nested_arrays(65))])))
    objects = b"\x76\x01" + string("k")
    check_update(update((5, 0, [any_item(objects * 3 + b"\x78")])), max_depth=3)
    too_deep = update((5, 0, [any_item(objects * 4 + b"\x78")]))
    assert "deeper than 3" in rejected(too_deep, max_depth=3)
    started = time.perf_counter()
    assert "nested deeper" in rejected(update((5, 0, [any_item(nested_arrays(200_000))])))
    assert time.perf_counter() - started < 0.1
    options = b"\x76\x01" + string("k") + nested_arrays(99)
    assert "nested deeper" in rejected(update((5, 0, [root_item(9, string("g") + options)])))


def test_json_values_are_bounded_by_max_depth() -> None:
    check_update(update((5, 0, [root_item(5, string("[" * 64 + "]" * 64))])))
    embed = root_item(5, string('{"a": [[1]]}'))
    check_update(update((5, 0, [embed])), max_depth=3)
    assert "deeper than 2" in rejected(update((5, 0, [embed])), max_depth=2)


def test_every_any_value_kind_passes() -> None:
    values = [
        b"\x7f",
        b"\x7e",
        b"\x7d\x2a",
        b"\x7d\x40",  # -0
        b"\x7d\xff" + b"\xff" * 6 + b"\x1f",  # -(2**53 - 1)
        b"\x7c" + bytes(4),
        b"\x7b" + bytes(8),
        b"\x7a" + bytes(8),
        b"\x79",
        b"\x78",
        b"\x77" + string("ok 😀"),
        b"\x76\x02" + string("a") + b"\x7e" + string("") + b"\x75\x00",
        b"\x75\x02\x78\x74" + string(b"\x00\xff"),
        b"\x74\x00",
    ]
    assert check_update(update((5, 0, [any_item(*values)]))).structs == 1


# ----------------------------------------------------------------- fuzz


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """One to three byte-level mutations, a few of them aimed at varints and struct layout."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not out:
            out.append(rng.randrange(256))
            continue
        at, op = rng.randrange(len(out)), rng.randrange(9)
        if op == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at] = rng.choice((0, 1, 10, 0x20, 0x40, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
        elif op == 3:
            del out[at : at + rng.randrange(1, 4)]
        elif op == 4:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randrange(1, 24)]
        elif op == 5:
            out[at] = (out[at] + rng.choice((1, -1))) % 256
        elif op == 6:  # replace the varint at `at` with a boundary value
            end = at
            while end < len(out) - 1 and out[end] & 0x80:
                end += 1
            value = rng.choice((0, 1, 127, 2**31 - 2, 2**31, 2**32 - 1, 2**53 - 1, 2**53))
            out[at : end + 1] = uint(rng.choice((value, rng.randrange(2**33))))
        elif op == 7:  # graft the tail of another update
            other = rng.choice(others)
            out[at:] = other[rng.randrange(len(other)) :]
        else:
            out[at : at + 1] = b"\x80\x80\x80\x80\x10"
    return bytes(out)


APPLY_CHILD = """
import os, signal, sys
from pycrdt import Array, Doc, Map, Text
for line in sys.stdin:
    if not line.split():  # the harness's own check of its crash path: die as a segfault would
        os.kill(os.getpid(), signal.SIGSEGV)
    doc = Doc()
    try:
        for part in line.split():
            doc.apply_update(bytes.fromhex(part))
        str(doc.get("code", type=Text))
        doc.get("meta", type=Map).to_py()
        doc.get("runs", type=Array).to_py()
        doc.get_update()
        print("ok", flush=True)
    except BaseException as exc:  # pycrdt's PanicException is a BaseException
        print("raised", type(exc).__name__, str(exc).replace("\\n", " ")[:300], flush=True)
"""


def apply_in_child(batches: list[list[bytes]], timeout: float = 5.0) -> dict[int, str]:
    """Apply each batch of updates to a fresh pycrdt Doc in a child process.

    Returns what went wrong by batch index: a hang (no answer within ``timeout``), a crash
    (the child died; a new one takes the rest) or an exception from pycrdt. An empty batch
    kills the child, so the crash path can be proved without relying on heap corruption.
    """
    problems: dict[int, str] = {}
    start = 0
    while start < len(batches):
        child = subprocess.Popen(
            [sys.executable, "-c", APPLY_CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        todo = [" ".join(part.hex() for part in batch) + "\n" for batch in batches[start:]]
        feeder = threading.Thread(target=_feed, args=(child.stdin, todo), daemon=True)
        drainer = threading.Thread(target=_drain, args=(child.stdout, lines), daemon=True)
        feeder.start()
        drainer.start()
        index = start
        try:
            while index < len(batches):
                line = lines.get(timeout=timeout)
                if line is None:
                    problems[index] = f"crashed with exit status {child.wait()}"
                    break
                if not line.startswith("ok"):
                    problems[index] = line.strip()
                index += 1
        except queue.Empty:
            problems[index] = f"hung for more than {timeout} s"
        finally:
            child.kill()
            child.wait()
            feeder.join(timeout)
            drainer.join(timeout)
            child.stdin.close()
            child.stdout.close()
        start = index + 1
    return problems


def _feed(pipe: IO[str], lines: list[str]) -> None:
    try:
        pipe.writelines(lines)
        pipe.close()
    except OSError:
        pass  # the child died (BrokenPipeError): apply_in_child notices


def _drain(pipe: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in pipe:
        lines.put(line)
    lines.put(None)


def test_the_child_process_reports_hangs_crashes_and_exceptions() -> None:
    # The repro's crash set corrupts the heap: whether the process then dies depends on the
    # allocator's layout, which differs between machines, so a deliberate death stands in.
    hang = [bytes.fromhex(h) for h in json.loads(BREAKERS.read_text())["hang"]["updates"]]
    good = update((5, 0, [text("a")]))
    problems = apply_in_child([[good], [b"\x01"], hang, [], [good]], timeout=2.0)
    assert sorted(problems) == [1, 2, 3]
    assert problems[1].startswith("raised ValueError")
    assert problems[2] == "hung for more than 2.0 s"
    assert problems[3].startswith("crashed with exit status")


@pytest.mark.node
def test_mutations_raise_only_update_rejected_and_what_passes_is_safe_for_pycrdt(
    yjs_corpus: dict[str, bytes],
) -> None:
    rng = random.Random(20261203)
    seeds = valid_samples(yjs_corpus)
    accepted: list[tuple[bytes, bytes]] = []  # (seed, mutation of it)
    for _ in range(15_000):
        seed = rng.choice(seeds)
        mutated = mutate(rng, seed, seeds)
        try:
            check_update(mutated)
        except UpdateRejected:
            continue
        accepted.append((seed, mutated))
    assert 1000 < len(accepted) < 10_000
    # each alone on a fresh Doc, then with the update it was made from, in both orders
    batches = [[mutated] for _, mutated in accepted]
    batches += [[seed, mutated] for seed, mutated in accepted]
    batches += [[mutated, seed] for seed, mutated in accepted]
    problems = apply_in_child(batches)
    assert {" then ".join(u.hex() for u in batches[i]): why for i, why in problems.items()} == {}

"""Hostile y-websocket frames and JSON events for bench/fuzz_campaign.py.

Every generator takes a ``random.Random`` (the campaign's seed replays the same
inputs) and returns ``(kind, payload)``: ``kind`` names the generator for the
report, ``payload`` is the frame's bytes (binary) or text (JSON). Nothing here
talks to a server.

Binary frames are mutations of real frames (sync step 1/2, updates, awareness,
taken from a pool the campaign fills with what the server and the real clients
send) and crafted Yjs v1 updates, state vectors and awareness updates whose
client ids, clocks, counts and lengths sit at the bounds that matter to yrs
and to the server's structural check: 2^31, 2^32, 2^53 and 2^64.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from attack_kit import varuint
from pycrdt import Doc, Map, Text

# ------------------------------------------------------------------ lib0 encoding

#: Values around the bounds of yrs's u32/i32 clocks, JavaScript's safe integers and u64.
BOUNDARY = [
    0,
    1,
    2,
    127,
    128,
    255,
    256,
    16383,
    16384,
    2**31 - 2,
    2**31 - 1,
    2**31,
    2**31 + 1,
    2**32 - 1,
    2**32,
    2**32 + 1,
    2**53 - 2,
    2**53 - 1,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    2**70,
]


def varstring(raw: bytes | str) -> bytes:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return varuint(len(data)) + data


def frame(kind: int, subtype: int | None, payload: bytes) -> bytes:
    head = varuint(kind) + (b"" if subtype is None else varuint(subtype))
    return head + varuint(len(payload)) + payload


def sync_step1(sv: bytes) -> bytes:
    return frame(0, 0, sv)


def sync_step2(update: bytes) -> bytes:
    return frame(0, 1, update)


def sync_update(update: bytes) -> bytes:
    return frame(0, 2, update)


def awareness(update: bytes) -> bytes:
    return frame(1, None, update)


def awareness_update(entries: list[tuple[int, int, bytes | str]]) -> bytes:
    out = [varuint(len(entries))]
    for client, clock, state in entries:
        out += [varuint(client), varuint(clock), varstring(state)]
    return b"".join(out)


def _pick(rng: random.Random) -> int:
    return rng.choice(BOUNDARY) if rng.random() < 0.7 else rng.randrange(2 ** rng.randrange(1, 65))


# ------------------------------------------------------------------ seed frames


def seed_frames(rng: random.Random) -> list[bytes]:
    """Real frames from a pycrdt Doc: updates (text, meta), step 1, step 2, awareness."""
    doc: Doc[Any] = Doc()
    text = doc.get("code", type=Text)
    meta = doc.get("meta", type=Map)
    frames: list[bytes] = []
    for i in range(12):
        state = doc.get_state()
        if i % 4 == 3 and len(text) > 3:
            del text[1:3]
        elif i % 5 == 4:
            meta["language"] = rng.choice(["python", "go", "rust"])
        else:
            text.insert(len(text) if i % 2 else 0, rng.choice(["x = 1\n", "é😀", "ab", "\n"]))
        frames.append(sync_update(doc.get_update(state)))
    frames.append(sync_step1(doc.get_state()))
    frames.append(sync_step1(b"\x00"))
    frames.append(sync_step2(doc.get_update()))
    cursor = {"user": {"name": "Ada", "color": "#30bced"}, "cursor": {"lineNumber": 1, "column": 2}}
    frames.append(awareness(awareness_update([(doc.client_id, 3, json.dumps(cursor))])))
    frames.append(awareness(awareness_update([(doc.client_id, 4, "null")])))
    frames.append(b"\x03")  # query awareness
    return frames


# ------------------------------------------------------------------ crafted updates


def _item_string(
    text: bytes | str,
    origin: tuple[int, int] | None = None,
    right: tuple[int, int] | None = None,
    root: str = "code",
) -> bytes:
    info = 4 | (0x80 if origin else 0) | (0x40 if right else 0)
    out = bytes([info])
    if origin:
        out += varuint(origin[0]) + varuint(origin[1])
    if right:
        out += varuint(right[0]) + varuint(right[1])
    if not origin and not right:
        out += varuint(1) + varstring(root)
    return out + varstring(text)


def _item_map_any(key: str, value: bytes, root: str = "meta") -> bytes:
    """A ``root[key] = value`` item (ContentAny with one lib0 ``any`` value)."""
    return bytes([8 | 0x20]) + varuint(1) + varstring(root) + varstring(key) + varuint(1) + value


def _update(clients: list[tuple[int, int, list[bytes]]], deletes: bytes = b"\x00") -> bytes:
    out = [varuint(len(clients))]
    for client, clock, structs in clients:
        out += [varuint(len(structs)), varuint(client), varuint(clock), *structs]
    return b"".join(out) + deletes


def _delete_set(ranges: list[tuple[int, list[tuple[int, int]]]]) -> bytes:
    out = [varuint(len(ranges))]
    for client, spans in ranges:
        out += [varuint(client), varuint(len(spans))]
        out += [varuint(clock) + varuint(length) for clock, length in spans]
    return b"".join(out)


def _any_value(rng: random.Random, depth: int = 0) -> bytes:
    """A lib0 ``any`` value, sometimes a hostile one (deep, NaN, huge ints, bad UTF-8)."""
    pick = rng.random()
    if pick < 0.15:
        strings: list[bytes | str] = [b"python", b"\xff\xfe", b"\xed\xa0\x80", "😀"]
        return b"\x77" + varstring(rng.choice(strings))
    if pick < 0.25:
        return b"\x7d" + varuint(_pick(rng))  # varint (sign bit in the first byte)
    if pick < 0.35:  # float64: NaN, inf, -0.0
        return b"\x7b" + rng.choice(
            [b"\x7f\xf8" + b"\x00" * 6, b"\x7f\xf0" + b"\x00" * 6, b"\x80" + b"\x00" * 7]
        )
    if pick < 0.4:
        return b"\x7a" + bytes(rng.randrange(256) for _ in range(8))  # bigint64
    if pick < 0.5:
        nest = rng.choice([3, 63, 64, 65, 200, 5000])
        return b"\x75\x01" * nest + b"\x7e"  # arrays nested `nest` deep around null
    if pick < 0.55:
        return b"\x76" + varuint(_pick(rng))  # an object claiming a huge entry count
    if pick < 0.6:
        return bytes([rng.randrange(256)])  # an unknown tag
    return rng.choice([b"\x7e", b"\x7f", b"\x78", b"\x79"])  # null, undefined, false, true


def crafted_update(rng: random.Random) -> tuple[str, bytes]:
    """A Yjs v1 update with boundary ids, clocks and counts; some are valid and apply."""
    client, clock = _pick(rng), _pick(rng)
    small = rng.randrange(1, 2**31 - 1)
    shape = rng.randrange(9)
    if shape == 0:  # an insert at the root text by a boundary client id / clock
        text = rng.choice(["z", "😀", "é", "\u0301", "a" * rng.choice([1, 100, 5000])])
        return "upd:insert-boundary", _update([(client, clock, [_item_string(text)])])
    if shape == 1:  # origin / right origin at boundary ids (pending or refused)
        item = _item_string("q", origin=(_pick(rng), _pick(rng)), right=(_pick(rng), _pick(rng)))
        return "upd:origin-boundary", _update([(small, 0, [item])])
    if shape == 2:  # delete set at boundary clocks and lengths
        spans = [(_pick(rng), _pick(rng)) for _ in range(rng.randrange(1, 4))]
        return "upd:delete-boundary", _update([], _delete_set([(client, spans)]))
    if shape == 3:  # GC / Skip runs with boundary lengths
        struct = bytes([rng.choice([0, 10])]) + varuint(_pick(rng))
        return "upd:gc-skip-boundary", _update([(client, clock, [struct])])
    if shape == 4:  # huge counts: clients, structs, ranges
        where = rng.randrange(3)
        if where == 0:
            return "upd:count-clients", varuint(_pick(rng)) + b"\x01\x05\x00\x04\x01\x04code\x01x"
        if where == 1:
            return "upd:count-structs", b"\x01" + varuint(_pick(rng)) + b"\x05\x00" + b"\x00" * 8
        return "upd:count-ranges", b"\x00\x01\x05" + varuint(_pick(rng)) + b"\x00\x01" * 4
    if shape == 5:  # meta values of every lib0 tag
        item = _item_map_any(rng.choice(["language", "x", ""]), _any_value(rng))
        return "upd:meta-any", _update([(small, 0, [item])])
    if shape == 6:  # one client twice, or delete set not sorted / overlapping
        item = _item_string("d")
        if rng.random() < 0.5:
            return "upd:client-twice", _update([(small, 0, [item]), (small, 1, [item])])
        ds = _delete_set([(small, [(5, 3), (4, 3)]), (small, [(0, 1)])])
        return "upd:delete-unsorted", _update([], ds)
    if shape == 7:  # content refs and type refs Yjs does not know, or bad strings
        ref = rng.choice([2, 3, 5, 6, 7, 9, 11, 15, 31])
        body = (
            varuint(1)
            + varstring("code")
            + rng.choice(
                [varstring(b"\xff"), varuint(_pick(rng)), varuint(5) + varstring("h"), b""]
            )
        )
        return "upd:content-ref", _update([(small, 0, [bytes([ref]) + body])])
    raw = rng.choice([b"\xed\xa0\x80", b"\xc0\xaf", b"a\x00b", b"\xf4\x90\x80\x80", "😀".encode()])
    return "upd:string-bytes", _update([(small, 0, [_item_string(raw)])])


def surrogate_split(rng: random.Random) -> list[tuple[str, bytes]]:
    """Valid Yjs updates that cut an astral character in two (UTF-16 clocks): an emoji
    item, then an insert between its surrogates, or a delete of one half."""
    client = rng.randrange(1, 2**31 - 1)
    first = _update([(client, 0, [_item_string("a😀b")])])  # clocks 0..3, 😀 = 1..2
    follow = rng.randrange(3)
    if follow == 0:
        second = _update([(client, 4, [_item_string("Z", origin=(client, 1), right=(client, 2))])])
    elif follow == 1:
        second = _update([], _delete_set([(client, [(2, 1)])]))
    else:
        second = _update([], _delete_set([(client, [(1, 1)])]))
    return [
        ("upd:surrogate-emoji", sync_update(first)),
        ("upd:surrogate-split", sync_update(second)),
    ]


def crafted_state_vector(rng: random.Random) -> tuple[str, bytes]:
    pairs = [(_pick(rng), _pick(rng)) for _ in range(rng.randrange(0, 4))]
    count = len(pairs) if rng.random() < 0.8 else _pick(rng)
    body = varuint(count) + b"".join(varuint(c) + varuint(k) for c, k in pairs)
    return "sv:boundary", sync_step1(body)


_AWARENESS_STATES: list[bytes | str] = [
    "null",
    "{}",
    '{"user":{"name":"x"}}',
    "not json",
    "NaN",
    '{"a":1e400}',
    '"\\ud800"',
    b"\xff\xfe",
    b"\xed\xa0\x80",
    "[" * 500 + "]" * 500,
    '{"cursor":{"lineNumber":-1}}',
    '{"user":{"name":"' + "n" * 20000 + '"}}',
    "",
    '{"cursor":{"lineNumber":1,"column":1}}',
]


def crafted_awareness(rng: random.Random) -> tuple[str, bytes]:
    entries = [
        (_pick(rng), _pick(rng), rng.choice(_AWARENESS_STATES)) for _ in range(rng.randrange(1, 4))
    ]
    body = awareness_update(entries)
    if rng.random() < 0.2:
        body = varuint(_pick(rng)) + body[1:]  # a count that lies
    if rng.random() < 0.1:
        entries = [(rng.randrange(2**20), 1, "{}") for _ in range(rng.choice([9, 50, 300]))]
        return "aw:many-states", awareness(awareness_update(entries))
    return "aw:boundary", awareness(body)


# ------------------------------------------------------------------ mutations


def _bitflip(rng: random.Random, data: bytearray) -> None:
    for _ in range(rng.randrange(1, 9)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _set_byte(rng: random.Random, data: bytearray) -> None:
    if data:
        data[rng.randrange(len(data))] = rng.choice([0, 0x7F, 0x80, 0xFF, rng.randrange(256)])


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data) + 1) :]


def _insert(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))


def _delete(rng: random.Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at : at + rng.randrange(1, 9)]


def _duplicate(rng: random.Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        chunk = data[at : at + rng.randrange(1, 32)]
        data[at:at] = chunk * rng.randrange(1, 4)


def _varint(rng: random.Random, data: bytearray) -> None:
    """Replace the varint starting at a random byte with a boundary or overlong one."""
    if not data:
        return
    at = rng.randrange(len(data))
    end = at
    while end < len(data) and data[end] & 0x80:
        end += 1
    choice = rng.random()
    if choice < 0.6:
        new = varuint(_pick(rng))
    elif choice < 0.8:
        new = b"\xff" * rng.randrange(8, 12) + b"\x01"  # overlong
    else:
        new = b"\x80" * rng.randrange(1, 10) + b"\x00"  # zero padded
    data[at : end + 1] = new


MUTATIONS: list[tuple[str, Callable[[random.Random, bytearray], None]]] = [
    ("bitflip", _bitflip),
    ("set-byte", _set_byte),
    ("truncate", _truncate),
    ("insert", _insert),
    ("delete", _delete),
    ("duplicate", _duplicate),
    ("varint", _varint),
]


def _header_length(frame_: bytes) -> tuple[int, int] | None:
    """(start, end) of the payload length varint of a sync or awareness frame."""
    if not frame_:
        return None
    pos = 2 if frame_[0] == 0 else 1
    end = pos
    while end < len(frame_) and frame_[end] & 0x80:
        end += 1
    return (pos, end + 1) if end < len(frame_) else None


def corrupt_header(rng: random.Random, seed: bytes) -> tuple[str, bytes]:
    """Wrong message type or subtype, or a payload length that lies."""
    data = bytearray(seed)
    choice = rng.randrange(4)
    if choice == 0 and data:
        data[0:1] = varuint(rng.choice([2, 3, 4, 5, 99, 100, 127, 128, 2**31, 2**53, 2**64 - 1]))
        return "hdr:type", bytes(data)
    if choice == 1 and len(data) > 1 and data[0] == 0:
        data[1:2] = varuint(rng.choice([0, 1, 2, 3, 4, 127, 2**32]))
        return "hdr:subtype", bytes(data)
    span = _header_length(seed)
    if span is None:
        return "hdr:none", seed
    length = len(seed) - span[1]
    new = rng.choice([length + 1, length - 1, 0, length * 2, *BOUNDARY[9:]])
    data[span[0] : span[1]] = varuint(max(new, 0))
    return "hdr:length", bytes(data)


def rewrap(rng: random.Random, seed: bytes) -> tuple[str, bytes]:
    """A payload sent as another message: an update as a state vector, and so on."""
    span = _header_length(seed)
    payload = seed[span[1] :] if span else seed
    kind, sub = rng.choice([(0, 0), (0, 1), (0, 2), (1, None)])
    return "rewrap", frame(kind, sub, payload)


def mutate(rng: random.Random, seed: bytes) -> tuple[str, bytes]:
    data = bytearray(seed)
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        name, op = rng.choice(MUTATIONS)
        op(rng, data)
        names.append(name)
    return "mut:" + "+".join(sorted(set(names))), bytes(data)


def splice(rng: random.Random, a: bytes, b: bytes) -> tuple[str, bytes]:
    if rng.random() < 0.4:
        return "splice:concat", a + b  # two messages in one frame
    return "splice:cut", a[: rng.randrange(len(a) + 1)] + b[rng.randrange(len(b) + 1) :]


def random_bytes(rng: random.Random) -> tuple[str, bytes]:
    size = rng.choice([0, 1, 2, 3, 8, 40, 300, 4096])
    head = bytes([rng.choice([0, 1, 3])]) if rng.random() < 0.6 else b""
    return "random", head + bytes(rng.randrange(256) for _ in range(size))


def _read_varuint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos
    raise ValueError("truncated varuint")


def first_writer(frame_: bytes) -> tuple[int, int] | None:
    """(client id, clock) of the first client an update frame (sync step 2 or update) writes."""
    if len(frame_) < 3 or frame_[0] != 0 or frame_[1] not in (1, 2):
        return None
    try:
        _, pos = _read_varuint(frame_, 2)  # payload length
        clients, pos = _read_varuint(frame_, pos)
        if clients == 0:
            return None
        _, pos = _read_varuint(frame_, pos)  # structs
        client, pos = _read_varuint(frame_, pos)
        clock, _ = _read_varuint(frame_, pos)
    except ValueError:
        return None
    return client, clock


def impersonate(rng: random.Random, pool: list[bytes]) -> tuple[str, bytes]:
    """A well-formed insert under a client id a real client writes with (taken from the pool),
    at a clock at or past the one it was seen with: usually a gap, so the server and the real
    clients hold it pending until that client's own edits fill the gap."""
    writers = [w for f in rng.sample(pool, min(24, len(pool))) if (w := first_writer(f))]
    if not writers:
        return crafted_update(rng)
    client, clock = rng.choice(writers)
    clock += rng.choice([0, 1, 2, 3, 5, 8, 20, 60])
    text = rng.choice(["EVIL", "x", "😀", "\n"])
    return "upd:impersonate", sync_update(_update([(client, clock, [_item_string(text)])]))


def binary_frame(
    rng: random.Random, pool: list[bytes], impersonation: float = 0.0
) -> list[tuple[str, bytes]]:
    """One hostile binary frame (two for the surrogate-split pair); ``impersonation``: the
    share of frames that write under a real client's id (off by default: see impersonate)."""
    if impersonation and rng.random() < impersonation:
        return [impersonate(rng, pool)]
    pick = rng.random()
    if pick < 0.32:
        return [mutate(rng, rng.choice(pool))]
    if pick < 0.50:
        name, update = crafted_update(rng)
        wrap = sync_update if rng.random() < 0.8 else sync_step2
        data = wrap(update)
        if rng.random() < 0.15:
            name, data = name + "+mut", mutate(rng, data)[1]
        return [(name, data)]
    if pick < 0.54:
        return surrogate_split(rng)
    if pick < 0.60:
        return [crafted_state_vector(rng)]
    if pick < 0.68:
        return [crafted_awareness(rng)]
    if pick < 0.76:
        return [splice(rng, rng.choice(pool), rng.choice(pool))]
    if pick < 0.84:
        return [corrupt_header(rng, rng.choice(pool))]
    if pick < 0.88:
        return [rewrap(rng, rng.choice(pool))]
    if pick < 0.94:
        return [random_bytes(rng)]
    return [("replay", rng.choice(pool))]


# ------------------------------------------------------------------ JSON events

LANGUAGES = ["python", "javascript", "go", "rust", "plaintext"]
_TRICKY = ["😀", "👩‍💻", "é", "e\u0301", "\u200d", "\r\n", "\t", "\x00", "\ufeff", "𝕏", "\u2028"]


def _event(kind: Any, data: Any) -> str:
    return json.dumps({"type": kind, "data": data})


def _position(line: Any, column: Any) -> dict[str, Any]:
    return {"position": {"lineNumber": line, "column": column}}


def json_invalid(rng: random.Random) -> tuple[str, str]:
    valid = _event("code_change", {"code": "x = 1\n"})
    return "json:invalid", rng.choice(
        [
            valid[: rng.randrange(len(valid))],
            "",
            " ",
            "{",
            "}",
            "[",
            "nul",
            "{'type': 'x'}",
            valid + ",",
            valid + valid,
            '{"type":"code_change",}',
            "/* c */" + valid,
            "\ufeff" + valid,
            '{"type":"code_change","data":{"code":"a\\x41"}}',
            '{"a"::1}',
            "\x00",
            '{"type":"code_change","data":{"code":"\\u12"}}',
            "01",
            "+1",
            ".5",
        ]
    )


def json_wrong_type(rng: random.Random) -> tuple[str, str]:
    junk: list[Any] = [None, 1, -1, 1.5, True, "", [], {}, "x" * 300, [1, 2], {"a": None}]
    choice = rng.randrange(7)
    if choice == 0:
        return "json:top-level", json.dumps(rng.choice([None, 1, "code_change", [], [{}], True]))
    if choice == 1:
        return "json:type", json.dumps({"type": rng.choice(junk), "data": {"code": "x"}})
    if choice == 2:
        return "json:data", _event(
            rng.choice(["code_change", "cursor_position", "language_change"]), rng.choice(junk)
        )
    if choice == 3:
        return "json:code", _event("code_change", {"code": rng.choice(junk)})
    if choice == 4:
        return "json:language", _event(
            "language_change",
            {"language": rng.choice([*junk, "brainfuck", "PYTHON", "python ", "\u0000"])},
        )
    if choice == 5:
        line: Any = rng.choice(
            [0, -1, 1.5, "1", 2**31, 2**53, 2**64, 10**30, None, True, [], 10_000_001]
        )
        column = rng.choice([1, 0, -5, 2**53 + 1, "x", None, 1.0])
        return "json:cursor", _event("cursor_position", _position(line, column))
    return "json:user-id", _event(
        "cursor_position",
        {
            **_position(1, 1),
            "userId": rng.choice([*junk, "someone-else", "../../etc", "é" * 64, "a" * 10000]),
        },
    )


def json_nesting(rng: random.Random) -> tuple[str, str]:
    depth = rng.choice([64, 100, 1000, 10_000, 100_000, 500_000])
    if rng.random() < 0.5:
        return "json:deep-array", "[" * depth + "]" * depth
    inner = '{"a":' * depth + "1" + "}" * depth
    return "json:deep-data", '{"type":"code_change","data":{"code":"x","extra":' + inner + "}}"


def json_unicode(rng: random.Random) -> tuple[str, str]:
    bad = rng.choice(["\\ud800", "\\udfff", "\\udc00\\ud800", "a\\ud83d", "\\ud83d\\u0041"])
    where = rng.randrange(3)
    if where == 0:
        return "json:surrogate", '{"type":"code_change","data":{"code":"x' + bad + 'y"}}'
    if where == 1:
        return "json:surrogate", '{"type":"code_' + bad + '","data":{}}'
    return (
        "json:surrogate",
        '{"type":"cursor_position","data":{"' + bad + '":1,"position":'
        '{"lineNumber":1,"column":1}}}',
    )


def json_numbers(rng: random.Random) -> tuple[str, str]:
    number = rng.choice(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e400",
            "1e-400",
            "-0",
            "1" * 5000,
            "1.0",
            "1E2",
            "0x10",
            "9" * 400,
        ]
    )
    return (
        "json:number",
        '{"type":"cursor_position","data":{"position":{"lineNumber":'
        + number
        + ',"column":'
        + number
        + "}}}",
    )


def json_unknown(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(
        [
            "code_changes",
            "CODE_CHANGE",
            "",
            "__proto__",
            "constructor",
            "user_join",
            "user_leave",
            "error",
            "sync",
            "ping",
            "😀",
            "code_change\u0000",
            "t" * 9000,
        ]
    )
    return "json:unknown-type", _event(kind, {"code": "x"})


def json_huge(rng: random.Random) -> tuple[str, str]:
    size = rng.choice([100_000, 524_289, 700_000])
    if rng.random() < 0.3:
        return "json:huge-keys", json.dumps(
            {
                "type": "cursor_position",
                "data": {**{f"k{i}": i for i in range(50_000)}, **_position(1, 1)},
            }
        )
    return "json:huge-code", _event("code_change", {"code": "y" * size})


def json_valid(rng: random.Random, current: str) -> tuple[str, str]:
    """Events the server must accept: cursors, languages, and (rarely) small code edits with
    awkward Unicode, made on the text this attacker last saw."""
    pick = rng.random()
    if pick < 0.6:
        return "json:valid-cursor", _event(
            "cursor_position", _position(rng.randrange(1, 50), rng.randrange(1, 80))
        )
    if pick < 0.8:
        return "json:valid-language", _event("language_change", {"language": rng.choice(LANGUAGES)})
    points = list(current)
    at = rng.randrange(len(points) + 1)
    if points and rng.random() < 0.4:
        del points[at : at + rng.randrange(1, 3)]
    else:
        points[at:at] = rng.choice(_TRICKY)
    return "json:valid-code", _event("code_change", {"code": "".join(points)})


def json_frame(rng: random.Random, current: str) -> tuple[str, str]:
    pick = rng.random()
    if pick < 0.18:
        return json_invalid(rng)
    if pick < 0.46:
        return json_wrong_type(rng)
    if pick < 0.53:
        return json_nesting(rng)
    if pick < 0.63:
        return json_unicode(rng)
    if pick < 0.73:
        return json_numbers(rng)
    if pick < 0.83:
        return json_unknown(rng)
    if pick < 0.845:
        return json_huge(rng)
    return json_valid(rng, current)

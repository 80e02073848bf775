"""Strict structural check of a Yjs v1 update before pycrdt sees it.

pycrdt 0.14 (yrs 0.28) trusts its input: a malformed update can panic inside ``apply_update``,
leave the ``Doc`` corrupted, or make it spin forever. :func:`check_update` reads an update the way
Yjs does (``UpdateDecoderV1``, ``readClientsStructRefs``, ``readItemContent``, ``readDeleteSet``,
lib0 ``readAny``), in one pass, in time linear in its size, without recursion, and raises
:class:`UpdateRejected` for anything Yjs would not write or that yrs would read differently:

- the buffer is consumed exactly; every length stays within it; a varint has at most 8 bytes and
  every client id, count and length is below 2**53; counts must fit in the bytes left;
- clocks: yrs keeps them in a u32 (silently wrapping larger values) and subtracts them as i32
  (a clock more than 2**31 past the document's state panics), so every clock, and the end
  (clock + length) of a struct run or a deleted range, must stay below 2**31;
- a struct is GC (info 0), Skip (info 10) or an Item with content ref 1..9; GC, Skip, Deleted,
  String and Any have a length above 0; Item origins, the parent (root name or ID, parent info 0
  or 1) and the parent key are read as Yjs reads them, and a reference to the same client must
  point to an earlier clock; a parent ID that points into this update must name a type (or a
  deleted or garbage-collected struct); a client appears once in the structs and once in the
  delete set, whose ranges are sorted and do not overlap;
- content is decoded: strings are valid UTF-8, Embed and Format values are JSON, Any values use
  lib0's tags 116..127 with containers nested at most ``max_depth`` deep, a subdocument's options
  are an object, a type ref is one Yjs knows (0..6), with a name for XmlElement;
- two things Yjs writes are refused because yrs 0.28 frames them differently, so the bytes after
  them would mean something else to pycrdt than to the check (a Yjs-valid update built that way
  can hide a struct that segfaults pycrdt): legacy JSON content (ref 2, yrs reads one entry more
  than Yjs writes) and XmlHook types (type ref 5, yrs does not read the hook name).

A structural check cannot see the document: a parent ID that points to a non-type struct
already in the ``Doc`` still makes ``apply_update`` raise, so never read a ``Doc`` after it raised.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

__all__ = ["UpdateRejected", "UpdateStats", "check_state_vector", "check_update"]

SAFE_BOUND = 2**53
"""Client ids, counts and lengths must be below this (Number.MAX_SAFE_INTEGER + 1)."""
CLOCK_BOUND = 2**31
"""Clocks, and clock + length of a struct run or a deleted range, must be below this."""

_MAX_VARINT_BYTES = 8  # 8 * 7 = 56 bits: enough for every value below 2**53
_GC, _SKIP = 0, 10
_DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC = range(1, 10)
_XML_ELEMENT, _XML_HOOK, _LAST_TYPE_REF = 3, 5, 6
_ANY_SCALAR_SIZES = {127: 0, 126: 0, 124: 4, 123: 8, 122: 8, 121: 0, 120: 0}
_ANY_INT, _ANY_STRING, _ANY_OBJECT, _ANY_ARRAY, _ANY_BYTES = 125, 119, 118, 117, 116
_ANY_PARTS = ("key", "string", "integer", "entry count")
_ORIGIN = ("origin client", "origin clock", "origin")
_RIGHT_ORIGIN = ("right origin client", "right origin clock", "right origin")
_PARENT = ("parent client", "parent clock", "parent")
_ASTRAL = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
#: Large texts are looked at in pieces this big: one C call on 8 MB holds the interpreter
#: (and so the event loop, when the check runs in a thread) for several milliseconds.
_PIECE = 1024 * 1024


def _is_ascii(data: bytes, start: int, size: int) -> bool:
    """Whether ``data[start:start + size]`` is ASCII (and so valid UTF-8), piece by piece."""
    return all(
        data[at : min(at + _PIECE, start + size)].isascii()
        for at in range(start, start + size, _PIECE)
    )


class UpdateRejected(ValueError):
    """The update is malformed or unsafe for pycrdt; the message is safe to show a client."""


@dataclass(frozen=True, slots=True)
class UpdateStats:
    """What a valid update holds, for size limits."""

    size: int  # bytes in the update
    clients: int  # clients with structs
    structs: int  # GC, Skip and Item structs
    content_bytes: int  # bytes of Item content (text, binaries, values, type names)
    deleted_ranges: int  # (clock, length) ranges in the delete set
    #: The IDs of the second UTF-16 unit of every character past U+FFFF its text holds.
    pair_halves: tuple[tuple[int, int], ...] = ()
    #: The IDs it cuts text before: after an origin, at a right origin, a deleted range's ends.
    cuts: tuple[tuple[int, int], ...] = ()
    #: (client, first clock, clock after) of each run of structs it carries (a Skip ends one).
    runs: tuple[tuple[int, int, int], ...] = ()
    #: The IDs its items refer to: origins, right origins, parents.
    refs: tuple[tuple[int, int], ...] = ()
    #: (client, clock after its last deleted range) for each client of the delete set.
    deleted_to: tuple[tuple[int, int], ...] = ()
    #: (client, clock, length) of every Item that is neither text nor deleted nor a format:
    #: values, binaries, embeds, types, subdocuments (which must not land in the code text).
    objects: tuple[tuple[int, int, int], ...] = ()
    #: Characters (code points) and UTF-8 bytes of its string items: what it types.
    text_chars: int = 0
    text_bytes: int = 0


def check_update(update: bytes, *, max_depth: int = 64) -> UpdateStats:
    """Check a Yjs v1 update (the payload of a sync step 2 or update message).

    Raises :class:`UpdateRejected` saying what is wrong; returns counts for size limits.
    """
    data = update if type(update) is bytes else bytes(update)
    if len(data) >= 2**32 - 1:  # lengths inside must fit yrs's u32
        raise UpdateRejected(f"update of {len(data)} bytes is too large")
    reader = _Reader(data, max_depth)
    clients, structs = _read_structs(reader)
    deleted_ranges = _read_delete_set(reader)
    if reader.pos != len(data):
        reader.fail(f"{len(data) - reader.pos} bytes left over after the delete set")
    return UpdateStats(
        len(data),
        clients,
        structs,
        reader.content_bytes,
        deleted_ranges,
        tuple(reader.pair_halves),
        tuple(reader.cuts),
        tuple(reader.runs),
        tuple(reader.refs),
        tuple(reader.deleted_to),
        tuple(reader.objects),
        reader.text_chars,
        reader.text_bytes,
    )


def missing(stats: UpdateStats, clocks: Mapping[int, int]) -> str | None:
    """What the update needs that a document with state ``clocks`` (client -> next clock)
    lacks, or None. Yjs keeps such an update pending until the rest arrives; yrs integrates
    some of it at once, so the server and its clients would disagree: it is not applied."""
    reach = dict(clocks)
    for client, start, end in stats.runs:  # in order, so a run may extend the one before
        known = reach.get(client, 0)
        if start > known:
            return f"client {client} starts at clock {start}, the document has {known}"
        reach[client] = max(known, end)
    for client, clock in stats.refs:
        if clock >= reach.get(client, 0):
            return f"it refers to ({client}, {clock}), which the document does not have"
    for client, end in stats.deleted_to:
        # yrs keeps such a range and deletes whatever later takes those clocks, even half a
        # character (a zero-length text item the document then cannot load)
        known = reach.get(client, 0)
        if end > known:
            return f"it deletes clocks of client {client} up to {end}, the document has {known}"
    return None


def read_state_vector(state_vector: bytes) -> dict[int, int]:
    """A document's state vector (as pycrdt encodes it) as client -> next clock."""
    reader = _Reader(bytes(state_vector), 0)
    clocks: dict[int, int] = {}
    for _ in range(reader.count("client count", 2)):
        client = reader.uint("client id")
        clocks[client] = reader.uint("clock")
    return clocks


def check_state_vector(state_vector: bytes) -> int:
    """Check a sync step 1 state vector (client count, then (client, clock) pairs, each
    client once); returns the number of clients. Raises :class:`UpdateRejected`."""
    reader = _Reader(bytes(state_vector), 0)
    count = reader.count("client count", 2)
    seen: set[int] = set()
    for _ in range(count):
        client = reader.uint("client id")
        reader.clock("clock")
        if client in seen:
            reader.fail(f"client {client} appears twice in the state vector")
        seen.add(client)
    if reader.pos != len(reader.data):
        reader.fail(f"{len(reader.data) - reader.pos} bytes left over after the state vector")
    return count


class _Reader:
    """lib0 decoding over one buffer; every read checks its bounds."""

    __slots__ = (
        "data",
        "pos",
        "end",
        "max_depth",
        "content_bytes",
        "pair_halves",
        "cuts",
        "runs",
        "refs",
        "deleted_to",
        "objects",
        "text_chars",
        "text_bytes",
    )

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.max_depth = max_depth
        self.content_bytes = 0
        self.pair_halves: list[tuple[int, int]] = []
        self.cuts: list[tuple[int, int]] = []
        self.runs: list[tuple[int, int, int]] = []
        self.refs: list[tuple[int, int]] = []
        self.deleted_to: list[tuple[int, int]] = []
        self.objects: list[tuple[int, int, int]] = []
        self.text_chars = 0
        self.text_bytes = 0

    def fail(self, what: str) -> NoReturn:
        raise UpdateRejected(f"invalid Yjs update at byte {self.pos}: {what}")

    def u8(self, what: str) -> int:
        pos = self.pos
        if pos >= self.end:
            self.fail(f"truncated: {what} missing")
        self.pos = pos + 1
        return self.data[pos]

    def uint(self, what: str) -> int:
        """lib0 readVarUint, at most 8 bytes and below 2**53."""
        data, pos = self.data, self.pos
        if pos >= self.end:
            self.fail(f"truncated: {what} missing")
        byte = data[pos]
        if byte < 0x80:
            self.pos = pos + 1
            return byte
        value, shift, last = byte & 0x7F, 7, pos + _MAX_VARINT_BYTES - 1
        while True:
            pos += 1
            if pos >= self.end:
                self.fail(f"truncated: {what} missing")
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            if pos == last:
                self.fail(f"{what} is a varint longer than {_MAX_VARINT_BYTES} bytes")
            shift += 7
        if value >= SAFE_BOUND:
            self.fail(f"{what} {value} is not below 2**53")
        self.pos = pos + 1
        return value

    def clock(self, what: str) -> int:
        value = self.uint(what)
        if value >= CLOCK_BOUND:
            self.fail(f"{what} {value} is not below 2**31 (the clock range pycrdt handles)")
        return value

    def count(self, what: str, min_bytes: int) -> int:
        """A count of things that each take at least ``min_bytes`` of what is left."""
        value = self.uint(what)
        if value * min_bytes > self.end - self.pos:
            self.fail(f"{what} {value} cannot fit in the {self.end - self.pos} bytes left")
        return value

    def skip(self, size: int, what: str) -> None:
        if size > self.end - self.pos:
            self.fail(f"truncated: {what} needs {size} bytes, {self.end - self.pos} left")
        self.pos += size

    def string(self, what: str) -> str:
        return self._decode(self.uint(f"length of {what}"), what)

    def text_length(self, client: int, clock: int) -> int:
        """A string item's text at (client, clock); returns its length in UTF-16 units, the
        clocks it takes, and notes the ID of the second half of each surrogate pair in it."""
        size = self.uint("length of text")
        if size == 0:
            self.fail("text item of length 0")
        start = self.pos
        self.skip(size, "text")
        self.text_bytes += size
        if _is_ascii(self.data, start, size):  # most code: no need to decode it
            self.text_chars += size
            return size
        self.pos = start
        text = self._decode(size, "text")
        self.text_chars += len(text)
        # characters past U+FFFF take two units; in valid UTF-8 they are led by F0..F4
        astral = sum(self.data.count(lead, start, start + size) for lead in _ASTRAL)
        if astral:
            unit = clock
            for char in text:
                if char > "\uffff":
                    self.pair_halves.append((client, unit + 1))
                    unit += 2
                else:
                    unit += 1
        return len(text) + astral

    def _decode(self, size: int, what: str) -> str:
        pos = self.pos
        self.skip(size, what)
        try:
            return self.data[pos : pos + size].decode("utf-8")
        except UnicodeDecodeError:
            self.pos = pos
            self.fail(f"{what} is not valid UTF-8")

    def varint(self, what: str) -> None:
        """lib0 readVarInt (sign in the first byte), magnitude below 2**53."""
        first = self.u8(what)
        if first & 0x80:
            magnitude = (self.uint(what) << 6) | (first & 0x3F)
            if magnitude >= SAFE_BOUND:
                self.fail(f"{what} {magnitude} is not below 2**53")

    def json(self, what: str) -> None:
        """A JSON text as JSON.parse reads it, nested at most ``max_depth`` deep."""
        text = self.string(what)
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            self.fail(f"{what} is not valid JSON")
        if _json_depth(value, self.max_depth) > self.max_depth:
            self.fail(f"{what} is nested deeper than {self.max_depth}")

    def any(self, what: str) -> None:
        """lib0 readAny without recursion: containers nested at most ``max_depth`` deep."""
        key, string, integer, count = (f"{part} in {what}" for part in _ANY_PARTS)
        left = [1]  # values still to read, per open container
        in_object = [False]
        while left:
            if not left[-1]:
                left.pop()
                in_object.pop()
                continue
            left[-1] -= 1
            if in_object[-1]:
                self.string(key)
            tag = self.u8(what)
            size = _ANY_SCALAR_SIZES.get(tag)
            if size is not None:
                self.skip(size, what)
            elif tag == _ANY_STRING:
                self.string(string)
            elif tag == _ANY_INT:
                self.varint(integer)
            elif tag == _ANY_OBJECT or tag == _ANY_ARRAY:
                is_object = tag == _ANY_OBJECT
                left.append(self.count(count, 2 if is_object else 1))
                in_object.append(is_object)
                if len(left) > self.max_depth + 1:
                    self.fail(f"{what} is nested deeper than {self.max_depth}")
            elif tag == _ANY_BYTES:
                self.skip(self.uint(f"length of {what}"), what)
            else:
                self.fail(f"{what} has unknown type tag {tag}")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _json_depth(value: object, limit: int) -> int:
    """Deepest nesting of lists and dicts in a parsed JSON value (stops past ``limit``)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth) for child in children)
    return deepest


class _ClientRuns:
    """Where a client's structs in this update can be an Item's parent (types, deleted, GC)."""

    __slots__ = ("start", "end", "first_ok", "flips")

    def __init__(self, start: int, first_ok: bool, flips: list[int], end: int) -> None:
        self.start, self.first_ok, self.flips, self.end = start, first_ok, flips, end

    def can_parent(self, clock: int) -> bool:
        if not self.start <= clock < self.end:
            return True  # not in this update: pycrdt waits for it or looks it up
        return self.first_ok ^ (bisect_right(self.flips, clock) % 2 == 1)


def _read_structs(reader: _Reader) -> tuple[int, int]:
    """readClientsStructRefs; returns (clients, structs)."""
    runs: dict[int, _ClientRuns] = {}
    parent_refs: list[tuple[int, int, int]] = []  # (client, clock, byte offset)
    structs = 0
    for _ in range(reader.count("number of clients", 3)):
        count = reader.count("number of structs", 2)
        client = reader.uint("client id")
        if client in runs:
            reader.fail(f"client {client} appears twice")
        start = clock = reader.clock("first clock")
        run_start = start
        flips: list[int] = []
        first_ok = ok = True
        for index in range(count):
            if reader.pos < reader.end and reader.data[reader.pos] == _SKIP:
                if clock > run_start:
                    reader.runs.append((client, run_start, clock))
                run_start = -1  # what follows a Skip starts a run of its own
            elif run_start < 0:
                run_start = clock
            length, can_parent = _read_struct(reader, client, clock, parent_refs)
            if index == 0:
                first_ok = ok = can_parent
            elif can_parent is not ok:
                flips.append(clock)
                ok = can_parent
            clock += length
            if clock >= CLOCK_BOUND:
                reader.fail(f"client {client} clocks run to {clock}, not below 2**31")
        if run_start >= 0 and clock > run_start:
            reader.runs.append((client, run_start, clock))
        runs[client] = _ClientRuns(start, first_ok, flips, clock)
        structs += count
    for client, clock, offset in parent_refs:
        client_runs = runs.get(client)
        if client_runs is not None and not client_runs.can_parent(clock):
            reader.pos = offset
            reader.fail(f"parent ({client}, {clock}) is in this update but is not a type")
    return len(runs), structs


def _read_struct(
    reader: _Reader, client: int, clock: int, parent_refs: list[tuple[int, int, int]]
) -> tuple[int, bool]:
    """One struct; returns (length, whether it can be an Item's parent)."""
    info = reader.u8("struct info")
    if info == _GC or info == _SKIP:
        length = reader.uint("GC length" if info == _GC else "Skip length")
        if length == 0:
            reader.fail("GC or Skip of length 0")
        return length, True
    ref = info & 0x1F
    if not _DELETED <= ref <= _DOC:
        reader.fail(f"struct info {info} names no known struct (content ref {ref})")
    if info & 0x80:
        origin_client, origin_clock = _read_id(reader, _ORIGIN, client, clock)
        reader.cuts.append((origin_client, origin_clock + 1))  # inserted after the origin
    if info & 0x40:
        reader.cuts.append(_read_id(reader, _RIGHT_ORIGIN, client, clock))
    if not info & 0xC0:
        parent_info = reader.uint("parent info")
        if parent_info == 1:
            reader.string("root type name")
        elif parent_info == 0:
            offset = reader.pos
            parent_refs.append((*_read_id(reader, _PARENT, client, clock), offset))
        else:
            reader.fail(f"parent info {parent_info} is neither 0 (ID) nor 1 (root name)")
        if info & 0x20:
            reader.string("parent key")
    before = reader.pos
    length = reader.text_length(client, clock) if ref == _STRING else _read_content(reader, ref)
    if ref != _DELETED:
        reader.content_bytes += reader.pos - before
        if ref != _STRING and ref != _FORMAT:
            reader.objects.append((client, clock, length))
    return length, ref == _TYPE or ref == _DELETED


def _read_id(
    reader: _Reader, names: tuple[str, str, str], client: int, clock: int
) -> tuple[int, int]:
    """An ID an Item refers to; an ID of the item's own client must be earlier than it."""
    id_client = reader.uint(names[0])
    id_clock = reader.uint(names[1])
    if id_clock >= CLOCK_BOUND:
        reader.fail(f"{names[1]} {id_clock} is not below 2**31 (the clock range pycrdt handles)")
    if id_client == client and id_clock >= clock:
        reader.fail(f"{names[2]} ({id_client}, {id_clock}) is not earlier than the item")
    reader.refs.append((id_client, id_clock))
    return id_client, id_clock


def _read_content(reader: _Reader, ref: int) -> int:
    """readItemContent; returns the Item's length in clock units."""
    if ref == _DELETED:
        length = reader.uint("deleted length")
    elif ref == _ANY:
        length = reader.count("value count", 1)
        for _ in range(length):
            reader.any("value")
    elif ref == _JSON:
        reader.fail("legacy JSON content is not accepted (pycrdt 0.14 misreads it)")
    else:
        _read_single_content(reader, ref)
        return 1
    if length == 0:
        reader.fail("item of length 0")
    return length


def _read_single_content(reader: _Reader, ref: int) -> None:
    """Content of length 1: binary, embed, format, type, subdocument."""
    if ref == _BINARY:
        reader.skip(reader.uint("length of binary"), "binary")
    elif ref == _EMBED:
        reader.json("embed")
    elif ref == _FORMAT:
        reader.string("format key")
        reader.json("format value")
    elif ref == _TYPE:
        type_ref = reader.u8("type ref")  # a varuint in Yjs, a byte in yrs: the same below 128
        if type_ref > _LAST_TYPE_REF:
            reader.fail(f"type ref {type_ref} is not a Yjs type (0..6)")
        if type_ref == _XML_HOOK:  # yrs 0.28 reads no hook name: it would parse the name bytes
            reader.fail("XmlHook is not accepted (pycrdt 0.14 misreads it)")
        if type_ref == _XML_ELEMENT:
            reader.string("XML element name")
    else:  # _DOC
        reader.string("subdocument guid")
        if reader.pos >= reader.end or reader.data[reader.pos] != _ANY_OBJECT:
            reader.fail("subdocument options are not an object")
        reader.any("subdocument options")


def _read_delete_set(reader: _Reader) -> int:
    """readDeleteSet; returns the number of ranges."""
    seen: set[int] = set()
    ranges = 0
    for _ in range(reader.count("number of delete set clients", 2)):
        client = reader.uint("delete set client id")
        if client in seen:
            reader.fail(f"client {client} appears twice in the delete set")
        seen.add(client)
        end = 0
        for _ in range(reader.count("number of deleted ranges", 2)):
            clock = reader.clock("deleted clock")
            if clock < end:
                reader.fail(f"deleted ranges of client {client} overlap or are not sorted")
            length = reader.uint("deleted length")
            end = clock + length
            if length == 0 or end >= CLOCK_BOUND:
                reader.fail(f"deleted range ({clock}, {length}) is empty or ends past 2**31")
            reader.cuts += ((client, clock), (client, end))
            ranges += 1
        if end:
            reader.deleted_to.append((client, end))
    return ranges

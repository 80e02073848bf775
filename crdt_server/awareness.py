"""Awareness (presence) of a room: who is here, with which cursor, and which socket said so.

The server keeps the latest encoded state per awareness client id, as
y-protocols does, plus the connection that introduced the id. A joiner gets
every live state at once; when a socket closes, the states it introduced are
removed and the removal is broadcast immediately (no 30 s ghost cursors).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from .close_codes import CloseCode
from .limits import Limits
from .protocol import ProtocolError, awareness_message, encode_varuint, read_string, read_varuint
from .strict_json import JsonRejected, loads

#: What every Yjs client decodes exactly (Number.MAX_SAFE_INTEGER + 1).
_SAFE = 2**53

NULL_STATE = "null"


@dataclass(slots=True)
class Entry:
    clock: int
    state: str  # JSON text; "null" once removed
    owner: Hashable | None


@dataclass(frozen=True, slots=True)
class Change:
    """One client's entry as applied: what a JSON client may want to hear about."""

    client_id: int
    state: str


def decode_update(
    update: bytes, max_state_bytes: int = 1 << 30, max_entries: int = 1 << 30
) -> list[tuple[int, int, str]]:
    """(client id, clock, JSON state) per entry; raises ProtocolError when malformed,
    when a number is past what Yjs clients decode, a state is too large or not JSON, or
    the update holds more entries than a room may (checked before any is decoded)."""
    if len(update) > max_entries * 16 + 64 * max_state_bytes:
        raise ProtocolError(f"awareness update of {len(update)} bytes", CloseCode.MESSAGE_TOO_BIG)
    count, pos = read_varuint(update, 0)
    if count > max_entries:
        raise ProtocolError(
            f"{count} awareness entries in one update (a room holds {max_entries})",
            CloseCode.POLICY_VIOLATION,
        )
    if count * 3 > len(update) - pos:
        raise ProtocolError(f"{count} awareness entries cannot fit in {len(update)} bytes")
    entries = []
    seen: set[int] = set()
    for _ in range(count):
        client_id, pos = read_varuint(update, pos)
        if client_id in seen:
            raise ProtocolError(f"awareness client {client_id} twice in one update")
        seen.add(client_id)
        clock, pos = read_varuint(update, pos)
        size, _ = read_varuint(update, pos)
        if size > max_state_bytes:
            raise ProtocolError(
                f"awareness state of {size} bytes (at most {max_state_bytes})",
                CloseCode.MESSAGE_TOO_BIG,
            )
        state, pos = read_string(update, pos)
        if client_id >= _SAFE or clock >= _SAFE:
            raise ProtocolError("awareness client id or clock past 2**53")
        if state != NULL_STATE:
            try:
                loads(state)
            except JsonRejected as exc:
                raise ProtocolError(f"awareness state is not JSON: {exc}") from None
        entries.append((client_id, clock, state))
    if pos != len(update):
        raise ProtocolError("bytes left over after the awareness entries")
    return entries


def encode_update(entries: Iterable[tuple[int, int, str]]) -> bytes:
    items = list(entries)
    out = [encode_varuint(len(items))]
    for client_id, clock, state in items:
        raw = state.encode("utf-8")
        out += [encode_varuint(client_id), encode_varuint(clock), encode_varuint(len(raw)), raw]
    return b"".join(out)


class Awareness:
    """The awareness states of one room."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.entries: dict[int, Entry] = {}
        self._limits = limits or Limits()
        self._owned: dict[Hashable, set[int]] = {}  # client ids each connection introduced
        self._spoken: set[Hashable] = set()  # connections that sent awareness already

    def _effect(self, client_id: int, clock: int, state: str, first: bool) -> str | None:
        """What an incoming (client id, clock, state) does: "set" it, "revive" a removed
        state under a bumped clock, or nothing (None: stale or a repeat).

        A removed state comes back at the clock its removal used only in a connection's
        first message (a client reconnecting with its own state, y-websocket#122). Later,
        the same thing is a stock provider echoing a state it heard before the removal
        (y-websocket's provider sends back every change it hears): reviving that would
        resurrect a departed client's cursor under the echoer's name.
        """
        entry = self.entries.get(client_id)
        if entry is None or clock > entry.clock:
            return "set"
        if clock == entry.clock and state == NULL_STATE and entry.state != NULL_STATE:
            return "set"
        if clock == entry.clock and entry.state == NULL_STATE and state != NULL_STATE and first:
            return "revive"
        return None

    def _admit(
        self, decoded: list[tuple[int, int, str]], owner: Hashable | None, first: bool
    ) -> None:
        """Refuse an update whose new client ids would pass a bound (before any is applied)."""
        new = {cid for cid, _, _ in decoded if cid not in self.entries}
        # a connection claims the live states it sets that nobody owns
        claimed = {
            cid
            for cid, clock, state in decoded
            if state != NULL_STATE
            and (cid in new or self.entries[cid].owner is None)
            and self._effect(cid, clock, state, first) is not None
        }
        if owner is not None and claimed:
            owned = self._owned.get(owner, set())
            if len(owned | claimed) > self._limits.max_awareness_states:
                raise ProtocolError(
                    f"at most {self._limits.max_awareness_states} awareness states per connection",
                    CloseCode.POLICY_VIOLATION,
                )
        room = self._limits.max_awareness_entries
        if len(self.entries) + len(new) > room:
            gone = [cid for cid, e in self.entries.items() if e.state == NULL_STATE]
            for cid in gone[: len(self.entries) + len(new) - room]:
                del self.entries[cid]  # forget the oldest removed states first
            if len(self.entries) + len(new) > room:
                raise ProtocolError(
                    "too many awareness states in this room", CloseCode.POLICY_VIOLATION
                )

    def apply(self, update: bytes, owner: Hashable | None) -> tuple[list[Change], bytes | None]:
        """Apply a client's awareness update.

        Returns the entries that changed and, when the update has to be
        forwarded differently from how it came, the message to forward
        instead: a client that reconnects re-sends its state with the clock
        its removal already used, which peers would ignore, so the clock is
        bumped for them (y-websocket#122).
        """
        changes: list[Change] = []
        rewritten = False
        forward: list[tuple[int, int, str]] = []
        limits = self._limits
        decoded = decode_update(
            update, limits.max_awareness_state_bytes, limits.max_awareness_entries
        )
        first = owner is not None and owner not in self._spoken
        self._admit(decoded, owner, first)
        if owner is not None:
            self._spoken.add(owner)
        for client_id, clock, state in decoded:
            effect = self._effect(client_id, clock, state, first)
            if effect is None:
                continue
            entry = self.entries.get(client_id)
            if entry is None:
                entry = self.entries[client_id] = Entry(clock, state, None)
            elif effect == "revive":
                entry.clock, entry.state, rewritten = clock + 1, state, True
            else:
                entry.clock, entry.state = clock, state
            if entry.owner is None and state != NULL_STATE:  # as _admit counts claims
                entry.owner = owner
                if owner is not None:
                    self._owned.setdefault(owner, set()).add(client_id)
            forward.append((client_id, entry.clock, state))
            changes.append(Change(client_id, state))
        message = awareness_message(encode_update(forward)) if rewritten else None
        return changes, message

    def snapshot(self) -> bytes | None:
        """A message with every live state, for a joining client; None when nobody is here."""
        live = [(cid, e.clock, e.state) for cid, e in self.entries.items() if e.state != NULL_STATE]
        return awareness_message(encode_update(live)) if live else None

    def set_local(
        self, client_id: int, state: dict[str, Any] | None, owner: Hashable
    ) -> tuple[bytes, Change]:
        """Set a state on behalf of a non-Yjs connection; returns the message to broadcast."""
        entry = self.entries.get(client_id)
        clock = 1 if entry is None else entry.clock + 1  # Yjs ignores clock 0 from a newcomer
        encoded = NULL_STATE if state is None else json.dumps(state, separators=(",", ":"))
        self.entries[client_id] = Entry(clock, encoded, owner)
        message = awareness_message(encode_update([(client_id, clock, encoded)]))
        return message, Change(client_id, encoded)

    def remove_owned_by(self, owner: Hashable) -> tuple[bytes | None, list[Change]]:
        """Remove the states ``owner`` introduced; returns the removal message and changes.

        Entries stay as tombstones with their clock, so a late re-broadcast of
        an old state by another client cannot bring a ghost back.
        """
        removed = []
        self._owned.pop(owner, None)
        self._spoken.discard(owner)
        for client_id, entry in self.entries.items():
            if entry.owner == owner:
                entry.owner = None
                if entry.state != NULL_STATE:
                    entry.state = NULL_STATE
                    removed.append((client_id, entry.clock, NULL_STATE))
        if not removed:
            return None, []
        changes = [Change(client_id, NULL_STATE) for client_id, _, _ in removed]
        return awareness_message(encode_update(removed)), changes

    def owners(self) -> list[Hashable]:
        """Every connection (or remote owner) that introduced a state still kept."""
        return list(self._owned)

    def updates_by_owner(self, which: Callable[[Hashable], bool]) -> dict[Any, bytes]:
        """One awareness update per owner ``which`` picks, holding the live states it set."""
        picked: dict[Any, list[tuple[int, int, str]]] = {}
        for client_id, entry in self.entries.items():
            if entry.owner is not None and entry.state != NULL_STATE and which(entry.owner):
                picked.setdefault(entry.owner, []).append((client_id, entry.clock, entry.state))
        return {owner: encode_update(entries) for owner, entries in picked.items()}

    def live_states(self) -> dict[int, Any]:
        """Decoded live states, for tests and the JSON bridge."""
        out: dict[int, Any] = {}
        for cid, entry in self.entries.items():
            if entry.state != NULL_STATE:
                try:
                    out[cid] = json.loads(entry.state)
                except ValueError:
                    continue
        return out

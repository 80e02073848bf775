"""What reading a document state back costs, by the Yjs client ids it holds.

    .venv/bin/python bench/shadow_cost.py [--clients 1000 10000 40000] [--out FILE]

A whole-text write made from an older version (REST ``baseVersion``, a JSON ``code_change``
that crossed another edit) is merged in a shadow document built from that version's state,
and pycrdt holds the GIL while it integrates: a worker thread does not spare the event loop.
The cost grows faster than the state with the number of client ids (a hostile client can
write each character under a new one), which is why ``--max-document-clients`` exists.
The documents: a chain of one-character items, each by its own client id, 97 % of them
deleted (what a fuzzer's updates leave behind); the chain repeated in rounds, so each client
holds many blocks; for contrast, two honest typists.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from pycrdt import Doc, Text

from crdt_server.protocol import encode_varuint


def _string(text: str) -> bytes:
    raw = text.encode()
    return encode_varuint(len(raw)) + raw


def hostile_state(clients: int, seed: int = 1) -> bytes:
    """One update: ``clients`` ids, each one character after the previous one's."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 2**50), clients)
    structs, deleted, previous = bytearray(encode_varuint(clients)), [], None
    for client in ids:
        structs += encode_varuint(1) + encode_varuint(client) + encode_varuint(0)
        if previous is None:  # a string item in the root "code"
            structs += bytes([4]) + encode_varuint(1) + _string("code")
        else:  # a string item with a left origin, the previous client's character
            structs += bytes([0x84]) + encode_varuint(previous) + encode_varuint(0)
        structs += _string(rng.choice("xyz é\n"))
        previous = client
        if rng.random() < 0.97:
            deleted.append(client)
    deletes = bytearray(encode_varuint(len(deleted)))
    for client in deleted:
        deletes += encode_varuint(client) + encode_varuint(1) + encode_varuint(0)
        deletes += encode_varuint(1)
    doc: Doc = Doc()
    doc.apply_update(bytes(structs) + bytes(deletes))
    return doc.get_update()


def interleaved_rounds(
    clients: int, rounds: int, seed: int = 1, per_update: int = 0
) -> list[bytes]:
    """``rounds`` rounds of the chain as updates, in order: every client writes one character
    per round, after the previous client's, and deletes it again (so each client holds many
    blocks). ``per_update``: at most this many clients per update (0: a round each)."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 2**50), clients)
    step = per_update or clients
    updates: list[bytes] = []
    previous: tuple[int, int] | None = None
    for clock in range(rounds):
        for first in range(0, clients, step):
            chunk = ids[first : first + step]
            structs = bytearray(encode_varuint(len(chunk)))
            deletes = bytearray(encode_varuint(len(chunk)))
            for client in chunk:
                structs += encode_varuint(1) + encode_varuint(client) + encode_varuint(clock)
                if previous is None:
                    structs += bytes([4]) + encode_varuint(1) + _string("code")
                else:
                    structs += bytes([0x84]) + encode_varuint(previous[0])
                    structs += encode_varuint(previous[1])
                structs += _string("x")
                deletes += encode_varuint(client) + encode_varuint(1) + encode_varuint(clock)
                deletes += encode_varuint(1)
                previous = (client, clock)
            updates.append(bytes(structs) + bytes(deletes))
    return updates


def interleaved_state(clients: int, rounds: int, seed: int = 1) -> bytes:
    """The document :func:`interleaved_rounds` makes, as one state (what a load or a
    merge's shadow document reads back)."""
    doc: Doc = Doc()
    for update in interleaved_rounds(clients, rounds, seed):
        doc.apply_update(update)
    return doc.get_update()


def honest_state(keystrokes: int, seed: int = 1) -> bytes:
    """Two typists taking turns, 30 % of the keystrokes deletions."""
    rng = random.Random(seed)
    docs: list[Doc] = [Doc(), Doc()]
    texts = [d.get("code", type=Text) for d in docs]
    for i in range(keystrokes):
        who = (i // 50) % 2
        text = texts[who]
        if len(text) > 20 and rng.random() < 0.3:
            at = rng.randrange(len(text) - 1)
            del text[at : at + 1]
        else:
            text.insert(rng.randint(max(0, len(text) - 200), len(text)), rng.choice("ab c\n"))
        if i % 50 == 49:
            docs[1 - who].apply_update(docs[who].get_update(docs[1 - who].get_state()))
    return docs[0].get_update()


def rebuild_ms(state: bytes, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        Doc().apply_update(state)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 10_000, 20_000, 40_000])
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = [
        "| document | client ids | state bytes | rebuild ms (median of 3) |",
        "| --- " * 4 + "|",
    ]
    for clients in args.clients:
        state = hostile_state(clients)
        rows.append(f"| hostile chain | {clients} | {len(state)} | {rebuild_ms(state):.1f} |")
        print(rows[-1], flush=True)
    for clients, rounds in ((2000, 100), (10_000, 5), (10_000, 20)):
        state = interleaved_state(clients, rounds)
        rows.append(
            f"| interleaved, {rounds} rounds | {clients} | {len(state)} | {rebuild_ms(state):.1f} |"
        )
        print(rows[-1], flush=True)
    state = honest_state(40_000)
    rows.append(f"| two typists, 40k keystrokes | 2 | {len(state)} | {rebuild_ms(state):.1f} |")
    print(rows[-1])
    if args.out:
        header = f"# Shadow rebuild cost, {time.strftime('%Y-%m-%d %H:%M')}\n\n"
        sizes = " ".join(map(str, args.clients))
        command = f"`.venv/bin/python bench/shadow_cost.py --clients {sizes}"
        Path(args.out).write_text(header + f"- command: {command}`\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()

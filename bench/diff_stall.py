"""The worst event-loop stall a whole-text write can cause, per adversarial input and size.

    cd SNAPSHOT && /work/main/.venv/bin/python /work/main/bench/diff_stall.py \
        [--tree .] [--sizes 4K,8191,32K,128K,512K] [--inputs NAME,...] [--paths patch,put,json] \
        [--repeat 1] [--concurrent 8] [--out bench/results/2026-12-03-diff-stall.md]

Starts ``python -m crdt_server`` (default settings) from ``--tree`` and a ticker bystander
(bench/bystander.py --mode ticker: a sync step 1 -> step 2 round trip every 5 ms on an
idle session of its own, in its own process). For every write path (REST ``PATCH
/sessions/{id}``, REST ``PUT /sessions/{id}/code``, a JSON ``code_change``), input and size,
one session gets the input's base text, then the input's adversarial text; each write is
measured by the ticker's worst gap between answers (the longest the server answered
nobody) and its worst round trip, over the write's whole span. The write's own duration is
reported too. ``--concurrent N`` adds N writes of the worst-case input at the size limit
at once, each to a session of its own. Figures go to ``--out`` as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attack_kit import (  # noqa: E402
    Bystander,
    Server,
    attacker_http,
    commit_of,
    create_session,
    raise_own_fd_limit,
    uptime,
    worst_gap_ms,
    ws_url,
)

LIMIT = 512 * 1024  # --max-code-chars by default
TARGET_MS = 100.0


def _fit(text: str, n: int) -> str:
    return text[:n]


def _lines(rng: random.Random, n: int, lo: int = 20, hi: int = 60) -> list[str]:
    out, size = [], 0
    alphabet = "abcdefghijklmnopqrstuvwxyz_ ()=+-0123456789"
    while size < n:
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi))) + "\n"
        out.append(line)
        size += len(line)
    return out


def _repeat(unit: str, n: int) -> str:
    return _fit(unit * (n // len(unit) + 1), n)


def inp_repeated(n: int, rng: random.Random) -> tuple[str, str]:
    """Many copies of one line, then many copies of another (no line in common)."""
    return _repeat("    total = total + 1\n", n), _repeat("    count = count - 1\n", n)


def inp_repeated_interleaved(n: int, rng: random.Random) -> tuple[str, str]:
    """One line repeated, then the same with another line after every copy."""
    return _repeat("x\n", n), _repeat("x\ny\n", n)


def inp_alternating(n: int, rng: random.Random) -> tuple[str, str]:
    """Two lines alternating, then alternating the other way round."""
    return _repeat("a = 1\nb = 2\n", n), _repeat("b = 2\na = 1\n", n)


def inp_no_newlines(n: int, rng: random.Random) -> tuple[str, str]:
    """One line of random letters, then another."""
    letters = "abcdefghij"
    return (
        "".join(rng.choice(letters) for _ in range(n)),
        "".join(rng.choice(letters) for _ in range(n)),
    )


def inp_no_newlines_edited(n: int, rng: random.Random) -> tuple[str, str]:
    """One line of random letters, then the same with every 40th character changed."""
    base = [rng.choice("abcdefghij") for _ in range(n)]
    new = list(base)
    for i in range(0, n, 40):
        new[i] = "Z"
    return "".join(base), "".join(new)


def inp_random_lines(n: int, rng: random.Random) -> tuple[str, str]:
    """Random lines, then other random lines."""
    return _fit("".join(_lines(rng, n)), n), _fit("".join(_lines(rng, n)), n)


def inp_shuffled_lines(n: int, rng: random.Random) -> tuple[str, str]:
    """Random lines, then the same lines shuffled."""
    lines = _lines(rng, n)
    base = "".join(lines)
    rng.shuffle(lines)
    return _fit(base, n), _fit("".join(lines), n)


def inp_reverse(n: int, rng: random.Random) -> tuple[str, str]:
    """A text, then its reverse (character by character)."""
    base = _fit("".join(_lines(rng, n)), n)
    return base, base[::-1]


def inp_scattered(n: int, rng: random.Random) -> tuple[str, str]:
    """Random lines, then the same with one line in 20 edited (a realistic big write)."""
    lines = _lines(rng, n)
    new = [line if i % 20 else "# edited " + line for i, line in enumerate(lines)]
    return _fit("".join(lines), n), _fit("".join(new), n)


INPUTS: dict[str, Callable[[int, random.Random], tuple[str, str]]] = {
    "repeated": inp_repeated,
    "repeated-interleaved": inp_repeated_interleaved,
    "alternating": inp_alternating,
    "no-newlines": inp_no_newlines,
    "no-newlines-edited": inp_no_newlines_edited,
    "random-lines": inp_random_lines,
    "shuffled-lines": inp_shuffled_lines,
    "reverse": inp_reverse,
    "scattered": inp_scattered,
}


def parse_size(text: str) -> int:
    text = text.strip().upper()
    return int(text[:-1]) * 1024 if text.endswith("K") else int(text)


@dataclass
class Measure:
    path: str
    input: str
    size: int
    step: str  # "base" (the first write) or "attack"
    gap_ms: float
    tick_ms: float
    write_ms: float
    status: str
    repeat: int = 0
    retry: int = 0  # 0: the matrix's own measure; 1 and up: --retry-over

    def line(self) -> str:
        again = f" (retry {self.retry})" if self.retry else ""
        return (
            f"  {self.path:5} {self.input:22} {size_label(self.size):>5} {self.step:6} gap "
            f"{self.gap_ms:7.1f} ms tick {self.tick_ms:7.1f} ms write {self.write_ms:8.1f} ms "
            f"{self.status}{again}"
        )


class Writer:
    """Whole-text writes to one session over one path; ``write`` returns when applied."""

    def __init__(self, http: aiohttp.ClientSession, url: str, path: str, session_id: str) -> None:
        self.http, self.url, self.path, self.sid = http, url, path, session_id
        self.sender: aiohttp.ClientWebSocketResponse | None = None
        self.listener: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> None:
        if self.path == "json":
            url = ws_url(self.url, self.sid, "?protocol=json")
            self.sender = await self.http.ws_connect(url, max_msg_size=0)
            self.listener = await self.http.ws_connect(url, max_msg_size=0)

    async def write(self, text: str) -> str:
        api = f"{self.url}/api/v1/sessions/{self.sid}"
        if self.path == "patch":
            async with self.http.patch(api, json={"code": text}) as resp:
                await resp.read()
                return str(resp.status)
        if self.path == "put":
            async with self.http.put(api + "/code", json={"code": text}) as resp:
                await resp.read()
                return str(resp.status)
        assert self.sender is not None and self.listener is not None
        await self.sender.send_str(json.dumps({"type": "code_change", "data": {"code": text}}))
        async with asyncio.timeout(120):
            while True:  # the other JSON client hears it once it is applied
                message = await self.listener.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    return f"listener closed {self.listener.close_code}"
                event = json.loads(message.data)
                if event["type"] == "code_change" and event["data"].get("code") == text:
                    return "applied"
                if event["type"] == "error":
                    return f"error {event['data'].get('code', '')}"

    async def close(self) -> None:
        for ws in (self.sender, self.listener):
            if ws is not None:
                await ws.close()


async def measured(
    bystander: Bystander, action: Callable[[], Awaitable[Any]]
) -> tuple[float, float, float, Any]:
    """Run ``action``; the ticker's worst gap and round trip over its span, its duration."""
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    result = await action()
    t1 = time.monotonic()
    await asyncio.sleep(0.4)  # what the write set off (broadcast, log commit) lands here
    t2 = time.monotonic()
    samples = bystander.samples()
    ticks = [s["lat"] * 1000 for s in samples if s["k"] == "tick" and t0 <= s["t"] <= t2]
    return (
        worst_gap_ms(samples, t0, t2),
        round(max(ticks, default=0.0), 1),
        (t1 - t0) * 1000,
        result,
    )


async def run_matrix(
    url: str,
    bystander: Bystander,
    inputs: list[str],
    sizes: list[int],
    paths: list[str],
    repeat: int,
    source: str,
    log: Callable[[str], None],
) -> list[Measure]:
    out: list[Measure] = []
    async with attacker_http(source) as http:
        for path in paths:
            for name in inputs:
                sid = await create_session(http, url)
                writer = Writer(http, url, path, sid)
                await writer.open()
                rng = random.Random(f"{name}")
                for size in sizes:
                    base, new = INPUTS[name](size, rng)
                    for step, text in (("base", base), ("attack", new)):
                        gap, tick, took, status = await measured(
                            bystander, partial(writer.write, text)
                        )
                        m = Measure(
                            path, name, size, step, gap, tick, round(took, 1), status, repeat
                        )
                        out.append(m)
                        log(m.line())
                await writer.close()
    return out


@dataclass
class Concurrent:
    """N writes at once over one path, each to a session of its own."""

    path: str
    gap_ms: float
    tick_ms: float
    write_ms: float
    statuses: list[str]


async def gather_all(actions: Sequence[Callable[[], Awaitable[str]]]) -> list[str]:
    return list(await asyncio.gather(*(action() for action in actions)))


async def retry_over(
    url: str,
    bystander: Bystander,
    measures: list[Measure],
    retries: int,
    source: str,
    log: Callable[[str], None],
) -> list[Measure]:
    """Measure again each attack write over target, in a fresh session (base, then attack):
    a stall that comes back is the server's, one that does not was the machine's."""
    out: list[Measure] = []
    over = [m for m in measures if m.step == "attack" and m.gap_ms > TARGET_MS]
    async with attacker_http(source) as http:
        for first in over:
            for retry in range(1, retries + 1):
                writer = Writer(http, url, first.path, await create_session(http, url))
                await writer.open()
                base, new = INPUTS[first.input](first.size, random.Random(first.input))
                await writer.write(base)
                gap, tick, took, status = await measured(bystander, partial(writer.write, new))
                await writer.close()
                m = Measure(
                    first.path,
                    first.input,
                    first.size,
                    "attack",
                    gap,
                    tick,
                    round(took, 1),
                    str(status),
                    first.repeat,
                    retry,
                )
                out.append(m)
                log(m.line())
                if gap <= TARGET_MS:
                    break
    return out


async def run_concurrent(
    url: str, bystander: Bystander, n: int, name: str, source: str, log: Callable[[str], None]
) -> list[Concurrent]:
    rows: list[Concurrent] = []
    base, new = INPUTS[name](LIMIT, random.Random(name))
    async with attacker_http(source) as http:
        for path in ("patch", "json"):
            writers = []
            for _ in range(n):
                writer = Writer(http, url, path, await create_session(http, url))
                await writer.open()
                writers.append(writer)
            await asyncio.gather(*(w.write(base) for w in writers))
            writes = [partial(w.write, new) for w in writers]
            gap, tick, took, statuses = await measured(bystander, partial(gather_all, writes))
            rows.append(Concurrent(path, gap, tick, round(took, 1), sorted(set(statuses))))
            log(
                f"  {n} concurrent {path} {name} 512K: gap {gap} ms tick {tick} ms "
                f"all written in {took:.0f} ms {sorted(set(statuses))}"
            )
            for w in writers:
                await w.close()
    return rows


def report(
    measures: list[Measure],
    concurrent: list[Concurrent],
    meta: dict[str, str],
    n_concurrent: int,
    concurrent_input: str,
) -> str:
    lines = [
        "# Event-loop stall of whole-text writes, per adversarial input and size",
        "",
        f"Run {meta['date']} against `{meta['commit']}` (snapshot `{meta['tree']}`), default "
        "settings, `python -m crdt_server --host 127.0.0.1 --port 0 --db FILE`, under "
        "`flock /tmp/cpu-heavy.lock`.",
        f"Machine: {meta['cores']} cores; `uptime` before: `{meta['uptime_before']}`; after: "
        f"`{meta['uptime_after']}`.",
        f"Command: `{meta['command']}`",
        "",
        "Each cell: the ticker's **worst gap** between answers during the write (ms; the "
        "ticker asks every 5 ms, so ~5-10 ms is an idle server), then the write's own "
        "duration (ms). 8191 characters is the largest write diffed on the event loop itself "
        "(old + new text under 16K characters, `crdt_server/merge.py` OFF_LOOP_CHARS); "
        "larger ones are planned in a worker thread. Each input is first written as a base "
        "(from the previous size's text), then the adversarial text is written over it; "
        "the attack write is shown, the base write's worst gap is in the second table. "
        f"Target: worst gap < {TARGET_MS:.0f} ms. Several figures in a cell: the passes "
        "(`--repeat`) and the reruns of a write over target (`--retry-over`, a fresh session "
        "each), in order; **bold** when every one of them is over target.",
        "",
    ]
    sizes = sorted({m.size for m in measures})
    for step, title in (
        ("attack", "Attack write (base -> adversarial text)"),
        ("base", "Base write (previous text -> base)"),
    ):
        lines += [f"## {title}", ""]
        for path in dict.fromkeys(m.path for m in measures):
            lines += [
                f"### {path_title(path)}",
                "",
                "| input | " + " | ".join(size_label(s) for s in sizes) + " |",
                "| --- |" + " --- |" * len(sizes),
            ]
            for name in dict.fromkeys(m.input for m in measures):
                cells = []
                for size in sizes:
                    chosen = [
                        m
                        for m in measures
                        if (m.path, m.input, m.size, m.step) == (path, name, size, step)
                    ]
                    if not chosen:
                        cells.append("")
                        continue
                    best = min(m.gap_ms for m in chosen)
                    took = statistics.median(m.write_ms for m in chosen)
                    statuses = sorted(
                        {m.status for m in chosen if m.status not in ("200", "applied")}
                    )
                    text = "/".join(f"{m.gap_ms:.0f}" for m in chosen)
                    text = f"**{text}**" if best > TARGET_MS else text
                    cell = f"{text} / {took:.0f}"
                    if statuses:
                        cell += " " + ",".join(statuses)
                    cells.append(cell)
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
    if concurrent:
        lines += [
            f"## {n_concurrent} writes at once ({concurrent_input}, 512K characters, one "
            "session each)",
            "",
            "| path | worst gap ms | worst tick ms | all applied after ms | answers |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in concurrent:
            mark = "**" if c.gap_ms > TARGET_MS else ""
            lines.append(
                f"| {path_title(c.path)} | {mark}{c.gap_ms:.0f}{mark} | {c.tick_ms:.0f} | "
                f"{c.write_ms:.0f} | {', '.join(c.statuses)} |"
            )
        lines.append("")
    over = [m for m in measures if m.gap_ms > TARGET_MS]
    again = {(m.path, m.input, m.size) for m in measures if m.retry and m.gap_ms <= TARGET_MS}
    lines += ["## Over target", ""]
    if not over:
        lines.append(f"None: every write kept the worst gap under {TARGET_MS:.0f} ms.")
    for m in sorted(over, key=lambda m: -m.gap_ms):
        lines.append(
            f"- {path_title(m.path)}, {m.input}, {size_label(m.size)}, {m.step} write: "
            f"worst gap {m.gap_ms:.0f} ms (round trip {m.tick_ms:.0f} ms), the write "
            f"took {m.write_ms:.0f} ms (pass {m.repeat + 1}"
            + (f", retry {m.retry})" if m.retry else ")")
            + ("; under target when measured again" if (m.path, m.input, m.size) in again else "")
        )
    for c in concurrent:
        if c.gap_ms > TARGET_MS:
            lines.append(
                f"- {n_concurrent} concurrent {path_title(c.path)} writes: worst gap "
                f"{c.gap_ms:.0f} ms"
            )
    lines += ["", "Inputs:", ""]
    for name, fn in INPUTS.items():
        lines.append(f"- `{name}`: {(fn.__doc__ or '').strip()}")
    return "\n".join(lines) + "\n"


def size_label(size: int) -> str:
    return f"{size // 1024}K" if size % 1024 == 0 else str(size)


def path_title(path: str) -> str:
    return {
        "patch": "REST PATCH /sessions/{id}",
        "put": "REST PUT /sessions/{id}/code",
        "json": "JSON code_change",
    }[path]


def log(text: str) -> None:
    print(text, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tree", type=Path, default=Path.cwd())
    parser.add_argument("--sizes", default="4K,8191,32K,128K,512K")
    parser.add_argument("--inputs", default=",".join(INPUTS))
    parser.add_argument("--paths", default="patch,put,json")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the whole matrix")
    parser.add_argument(
        "--retry-over", type=int, default=2, help="reruns of an attack write over target"
    )
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--concurrent-input", default="shuffled-lines")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/diff-stall"))
    args = parser.parse_args()
    raise_own_fd_limit()
    sizes = [min(parse_size(s), LIMIT) for s in args.sizes.split(",")]
    inputs = [i for i in args.inputs.split(",") if i]
    paths = [p for p in args.paths.split(",") if p]
    args.work.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit_of(args.tree),
        "tree": str(args.tree),
        "cores": str(len(os.sched_getaffinity(0))),
        "uptime_before": uptime(),
        "command": " ".join(sys.argv),
    }
    log(f"uptime: {meta['uptime_before']}")
    server = await Server(args.tree.resolve(), args.work).launch()
    bystander = await Bystander(server.url, args.work / "ticker.jsonl", "ticker", 5).start()
    measures: list[Measure] = []
    concurrent: list[Concurrent] = []
    try:
        for r in range(args.repeat):
            source = f"127.0.0.{9 + r}"  # sessions per address per hour: a fresh address per pass
            log(f"pass {r + 1}/{args.repeat} from {source}")
            measures += await run_matrix(
                server.url, bystander, inputs, sizes, paths, r, source, log
            )
        if args.retry_over:
            measures += await retry_over(
                server.url, bystander, measures, args.retry_over, "127.0.0.29", log
            )
        if args.concurrent:
            concurrent = await run_concurrent(
                server.url, bystander, args.concurrent, args.concurrent_input, "127.0.0.30", log
            )
    finally:
        await bystander.stop()
        alive = server.alive()
        code = await server.stop()
        meta["uptime_after"] = uptime()
    text = report(measures, concurrent, meta, args.concurrent, args.concurrent_input)
    text += f"\nServer alive at the end: {alive}; exit status on SIGTERM: {code}.\n"
    if server.trouble:
        text += "\nServer log lines worth a look:\n\n"
        text += "\n".join(f"    {p}" for p in server.trouble[:20]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    asyncio.run(main())

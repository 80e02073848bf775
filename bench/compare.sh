#!/usr/bin/env bash
# Our server beside the anchors (Node y-websocket server, Hocuspocus, pycrdt-websocket) in one
# run of ../shared/bench/compare.sh. Persistence is on (a fresh SQLite file per server start);
# sessions are created over REST before each scenario. Extra environment (SCENARIOS, RUNS,
# FANOUT_ARGS, ...) passes through; see ../shared/bench/README.md.
#
#   bash bench/compare.sh                       # all anchors and scenarios, once
#   SERVERS=target SCENARIOS=fanout bash bench/compare.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="${SHARED_BENCH:-$root/../shared/bench}"
[[ -x "$root/.venv/bin/python" ]] || { echo "run scripts/test.sh (or pip install .) first" >&2; exit 1; }
scratch="$(mktemp -d "${TMPDIR:-/tmp}/codeinterview-bench.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

export TARGET_NAME="${TARGET_NAME:-codeinterview}"
# ybench is one address standing for hundreds of users: the per-address quotas are raised for
# it (per-socket and per-session limits stay at their defaults, as every user meets them).
per_address="--requests-per-second 100000 --max-sockets-per-client 100000 --max-connections-per-client 100000 --max-sessions-per-client-per-hour 1000000 --client-loop-share 1"
export TARGET_CMD="rm -f '$scratch'/bench.db*; exec '$root/.venv/bin/python' -m crdt_server --host 127.0.0.1 --port {port} --db '$scratch/bench.db' --log-level warning $per_address"
export TARGET_URL='ws://127.0.0.1:{port}/ws/sessions/{room}'
export TARGET_CREATE_URL='http://127.0.0.1:{port}/api/v1/sessions'
exec bash "$shared/compare.sh" "$@"

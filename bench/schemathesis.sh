#!/usr/bin/env bash
# Schemathesis over /api/v1/openapi.json: every operation, every check (5xx, status codes,
# content types, response schemas and headers, positive/negative data, methods, ...).
#
#   bash bench/schemathesis.sh [--tree DIR] [--seed N] [--max-examples N] [--work DIR]
#                              [--modes "none token"] [--no-deep]
#
# Installs schemathesis (pinned) into its own venv, .venv-schemathesis/ beside .venv/, starts
# the server the way a user does (`python -m crdt_server --port 0 --db FILE`, from --tree, a
# checkout or a snapshot worktree, with this checkout's .venv) once per pass, stops it on exit,
# and prints a Markdown summary (operations, cases, status codes, failures with a curl each).
#
# Passes, each against a fresh server and database:
#   none        --auth none (the default), the document as served
#   token       --auth token --api-keys KEY, every request with `Authorization: Bearer KEY`
#               (session-scoped operations can only answer 401/403/404 to an API key)
#   none-deep   (unless --no-deep) the same document with its path parameters narrowed by a
#               schemathesis hook to ids that exist (sessions created first), so requests reach
#               the handlers instead of stopping at "malformed session id"; DELETE /sessions/{id}
#               gets sessions of its own so the others stay. Failures here are the next layer.
#   token-deep  (unless --no-deep) likewise, with the interviewer token of the one session.
#
# The server's abuse limits are raised so the run measures the contract, not the limiter
# (schemathesis sends ~100 requests/s from one address and creates hundreds of sessions):
#   --requests-per-second 100000, --max-sessions-per-client-per-hour 1000000,
#   --joins-per-session-per-minute 1000000, --failed-auth-per-client-per-minute 1000000,
# and runs of fuzzed code are capped at 2 s (--execution-{default,max}-timeout-ms 2000).
# positive_data_acceptance also accepts 410 and 412: both documented, and what a schema-valid
# request must get when the state differs (a `baseVersion` matching ^[0-9a-f]{16}$ that this
# server never issued is 412 VERSION_UNKNOWN; an expired session 410), which no schema can say;
# negative_data_rejection also accepts 413: a string past its maxLength that also takes the body
# past --max-body-bytes is refused before validation, with the documented 413 PAYLOAD_TOO_LARGE.
# A rerun with the same --seed and --max-examples generates the same cases (the example
# database is off). Takes ~2-6 minutes on 2 cores; on a shared machine run it under
# `flock /tmp/cpu-heavy.lock`. Exit status: 0 when no pass found a failure, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TREE=$ROOT
SEED=1
MAX_EXAMPLES=150
WORK=
MODES="none token"
DEEP=1
ST_VERSION=4.32.5
API_KEY=schemathesis-bench-key
while [ $# -gt 0 ]; do
  case $1 in
    --tree) TREE=$(cd "$2" && pwd); shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --max-examples) MAX_EXAMPLES=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --no-deep) DEEP=0; shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
PY=$ROOT/.venv/bin/python
STVENV=$ROOT/.venv-schemathesis
WORK=${WORK:-$(mktemp -d /tmp/schemathesis.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# ------------------------------------------------------------------ schemathesis, pinned
if ! "$STVENV/bin/st" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  python3 -m venv "$STVENV"
  "$STVENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

cat >"$WORK/schemathesis.toml" <<'EOF'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "412", "429", "5xx"]
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
EOF

# ------------------------------------------------------------------ the server, per pass
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server NAME AUTH: sets PORT; log in $WORK/NAME.server.log, database $WORK/NAME.db
start_server() {
  local name=$1 auth=$2 log=$WORK/$1.server.log
  local -a flags=(--port 0 --db "$WORK/$name.db" --log-level info
    --requests-per-second 100000 --max-sessions-per-client-per-hour 1000000
    --joins-per-session-per-minute 1000000 --failed-auth-per-client-per-minute 1000000
    --execution-default-timeout-ms 2000 --execution-max-timeout-ms 2000)
  if [ "$auth" = token ]; then flags+=(--auth token --api-keys "$API_KEY"); else flags+=(--auth none); fi
  rm -f "$WORK/$name.db"*
  (cd "$TREE" && exec "$PY" -m crdt_server "${flags[@]}") >"$log" 2>&1 &
  SERVER_PID=$!
  PORT=
  for _ in $(seq 300); do
    PORT=$(sed -n 's|^LISTENING http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$log")
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; echo "server exited" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "no LISTENING line in 30 s" >&2; exit 1; }
  echo "$name: ${flags[*]}" >>"$WORK/servers.txt"
}

# The deep passes' hook: path parameters narrowed to ids that exist ($ST_IDS, a JSON file).
cat >"$WORK/deep_hook.py" <<'EOF'
import json
import os

import schemathesis

IDS = json.load(open(os.environ["ST_IDS"]))
PARTICIPANT = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"}
SESSION = "/api/v1/sessions/{sessionId}"


@schemathesis.hook
def before_load_schema(context, raw_schema):
    for path, item in raw_schema["paths"].items():
        for method, operation in item.items():
            for param in operation.get("parameters", []):
                name = param["name"]
                if name == "sessionId" and (path, method) == (SESSION, "delete"):
                    param["schema"] = {"type": "string", "enum": IDS["victims"]}
                elif name == "sessionId":
                    param["schema"] = {"type": "string", "enum": IDS["sessions"]}
                elif name in ("participantId", "userId"):
                    param["schema"] = {"anyOf": [{"enum": IDS["participants"]}, PARTICIPANT]}
                elif name == "n":
                    param["schema"] = {"type": "string", "pattern": "^[0-9]{1,3}$"}
EOF

# make_sessions AUTH: three sessions (one with tokens) with a participant each; writes ids.json
make_sessions() {
  "$STVENV/bin/python" - "$1" "http://127.0.0.1:$PORT/api/v1" "$API_KEY" "$WORK/ids.json" <<'EOF'
import json, sys, urllib.request
auth, base, key, out = sys.argv[1:]
def call(method, path, body, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        return json.load(r)["data"]
ids = {"sessions": [], "participants": [], "token": None, "victims": []}
for i in range(1 if auth == "token" else 3):
    s = call("POST", "/sessions", {"creator": {"name": "Ada"}, "code": f"print({i})\n",
                                   "language": "python"}, key if auth == "token" else None)
    j = call("POST", f"/sessions/{s['id']}/join", {"user": {"name": "Grace"}},
             s["tokens"]["candidate"] if auth == "token" else None)
    ids["sessions"].append(s["id"])
    # with tokens, not the creator: removing the interviewer would revoke the pass's token
    ids["participants"] += [p["id"] for p in j["participants"]
                            if auth != "token" or p["id"] != s["creatorId"]]
    if auth == "token":
        ids["token"] = s["tokens"]["interviewer"]
# DELETE /sessions/{id} gets sessions of its own (with tokens, one the token cannot delete)
if auth == "token":
    ids["victims"].append("ffffffff")
else:
    for _ in range(2):
        ids["victims"].append(call("POST", "/sessions", {})["id"])
json.dump(ids, open(out, "w"))
EOF
}

# ------------------------------------------------------------------ the passes
run_pass() {
  local name=$1 auth=$2 deep=$3
  start_server "$name" "$auth"
  local url="http://127.0.0.1:$PORT/api/v1/openapi.json"
  local -a args=(--config-file "$WORK/schemathesis.toml" run "$url" --checks all --seed "$SEED" --max-examples "$MAX_EXAMPLES"
    --workers 1 --continue-on-failure --generation-database none --request-timeout 30
    --no-color --report ndjson --report-ndjson-path "$WORK/$name.ndjson")
  local bearer=
  if [ "$deep" = 1 ]; then
    make_sessions "$auth"
    [ "$auth" = token ] && bearer=$("$STVENV/bin/python" -c 'import json,sys;print(json.load(open(sys.argv[1]))["token"])' "$WORK/ids.json")
    cp "$WORK/ids.json" "$WORK/$name.ids.json"
  elif [ "$auth" = token ]; then
    bearer=$API_KEY
  fi
  [ -n "$bearer" ] && args+=(-H "Authorization: Bearer $bearer")
  echo "== $name: st ${args[*]}" | sed "s/Bearer [^ ]*/Bearer \$TOKEN/" >>"$WORK/commands.txt"
  local started=$SECONDS rc=0
  (
    cd "$WORK"
    if [ "$deep" = 1 ]; then
      export SCHEMATHESIS_HOOKS=deep_hook ST_IDS="$WORK/$name.ids.json" PYTHONPATH="$WORK"
    fi
    exec "$STVENV/bin/st" "${args[@]}"
  ) >"$WORK/$name.log" 2>&1 || rc=$?
  echo "$name $rc $((SECONDS - started))" >>"$WORK/passes.txt"
  stop_server
}

: >"$WORK/passes.txt"; : >"$WORK/commands.txt"; : >"$WORK/servers.txt"
for mode in $MODES; do run_pass "$mode" "$mode" 0; done
if [ "$DEEP" = 1 ]; then for mode in $MODES; do run_pass "$mode-deep" "$mode" 1; done; fi

# ------------------------------------------------------------------ the summary
"$STVENV/bin/python" - "$WORK" "$TREE" "$SEED" "$MAX_EXAMPLES" "$ST_VERSION" <<'EOF' | tee "$WORK/summary.md"
import base64, collections, json, re, shlex, subprocess, sys
from pathlib import Path

work, tree, seed, max_examples, version = sys.argv[1:]
work = Path(work)
commit = subprocess.run(["git", "-C", tree, "log", "-1", "--format=%h %s"],
                        capture_output=True, text=True).stdout.strip()
SKIP = {"user-agent", "accept-encoding", "accept", "connection", "content-length"}


BODIES = work / "bodies"


def curl(request, name):
    parts = ["curl", "-sS", "-i", "-X", request["method"]]
    for header, values in request["headers"].items():
        if header.lower() not in SKIP:
            for value in values:
                if header.lower() == "authorization":
                    value = "Bearer $TOKEN"
                parts += ["-H", f"{header}: {value}"]
    body, note = request.get("body"), ""
    if body is not None:
        raw = base64.b64decode(body["$base64"])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(text) <= 1000:
            parts += ["--data-binary", text]
        else:  # long or not UTF-8: the exact bytes in a file beside the logs
            BODIES.mkdir(exist_ok=True)
            (BODIES / f"{name}.body").write_bytes(raw)
            parts += ["--data-binary", f"@{BODIES / name}.body"]
            note = f"  # the body: {len(raw)} bytes"
    path = re.sub(r"^http://127\.0\.0\.1:\d+", "", request["uri"])
    line = " ".join(shlex.quote(p) for p in parts) + ' "http://127.0.0.1:$PORT"' + shlex.quote(path)
    return line.replace("'Authorization: Bearer $TOKEN'", '"Authorization: Bearer $TOKEN"') + note


def response_text(response):
    body = base64.b64decode(response["content"]["$base64"]).decode("utf-8", "replace")
    if len(body) > 300:
        body = body[:300] + "..."
    headers = ", ".join(f"{k}: {v[0]}" for k, v in response["headers"].items()
                        if k.lower() not in {"content-length", "server", "x-request-id", "date"})
    return f"{response['status_code']} ({headers}) {body}"


print(f"# schemathesis summary\n\n- tree: `{tree}` at {commit}\n- schemathesis {version}, "
      f"seed {seed}, --max-examples {max_examples}, all checks\n")
total_failures = 0
for line in (work / "passes.txt").read_text().split("\n"):
    if not line.strip():
        continue
    name, rc, seconds = line.split()
    events = [json.loads(l) for l in (work / f"{name}.ndjson").read_text().splitlines()]
    selected = next(e["LoadingFinished"]["statistic"]["operations"]
                    for e in events if "LoadingFinished" in e)
    per_op = collections.defaultdict(collections.Counter)   # label -> status counts
    by_phase = collections.Counter()
    failures = collections.defaultdict(list)                 # (check, code, label, status)
    cases = set()
    for e in events:
        s = e.get("ScenarioFinished")
        if not s:
            continue
        r = s["recorder"]
        for cid, inter in r.get("interactions", {}).items():
            cases.add(cid)
            by_phase[s["phase"]] += 1
            label = r["label"]
            if label == "Stateful tests":
                value = r["cases"].get(cid, {}).get("value", {})
                label = f"{value.get('method')} {value.get('path')}"
            resp = inter.get("response")
            per_op[label][resp["status_code"] if resp else "no response"] += 1
            for check in r.get("checks", {}).get(cid, []):
                if check["status"] == "success":
                    continue
                info = (check.get("failure_info") or {}).get("failure", {})
                key = (check["name"], info.get("code", "?"), label,
                       resp["status_code"] if resp else None)
                failures[key].append((info, inter))
    log = (work / f"{name}.log").read_text()
    summary = re.search(r"Test cases:\n\s*(.*)", log)
    server_log = (work / f"{name}.server.log").read_text()
    tracebacks = server_log.count("Traceback (most recent call last)")
    nul_probe = server_log.count("X-Schemathesis-Probe-Null")
    errors = len(re.findall(r"^\S+ \S+ ERROR ", server_log, re.M))
    total_failures += sum(len(v) for v in failures.values())
    print(f"## pass `{name}` ({seconds} s, st exit {rc})\n")
    print(f"- operations: {selected['selected']} selected of {selected['total']}; "
          f"requests: {sum(by_phase.values())} "
          f"({', '.join(f'{p} {n}' for p, n in sorted(by_phase.items()))})")
    print(f"- schemathesis: {summary.group(1).strip() if summary else '?'}")
    print(f"- server log: {errors} ERROR lines, {tracebacks} tracebacks "
          f"({nul_probe} of them lines naming the NUL-byte header probe)")
    five = sum(n for c in per_op.values() for s, n in c.items() if isinstance(s, int) and s >= 500)
    print(f"- 5xx responses: {five}\n")
    print("| operation | responses by status |\n| --- | --- |")
    for label in sorted(per_op, key=lambda l: (l.split(" ", 1)[1], l)):
        counts = ", ".join(f"{s}: {n}" for s, n in sorted(per_op[label].items(), key=str))
        print(f"| `{label}` | {counts} |")
    print()
    if not failures:
        print("No failed checks.\n")
        continue
    print("| check | code | operation | status | cases |\n| --- | --- | --- | --- | --- |")
    for (check, code, label, status), items in sorted(failures.items(), key=str):
        print(f"| {check} | {code} | `{label}` | {status} | {len(items)} |")
    print()
    for (check, code, label, status), items in sorted(failures.items(), key=str):
        info, inter = items[0]
        message = info.get("message", "").replace("\n", " / ")
        print(f"### {code} {check}: `{label}` -> {status} ({len(items)} cases)\n")
        print(f"{info.get('title', '')}: {message}\n")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{name} {code} {label} {status}").strip("-")
        print("```\n" + curl(inter["request"], slug) + "\n```\n")
        if inter.get("response"):
            print("response: `" + response_text(inter["response"]).replace("`", "'") + "`\n")
print(f"failing cases, all passes (a case counted once per check it failed): {total_failures}")
print(f"artifacts (logs, ndjson, server logs): {work}")
EOF
! grep -qv ' 0 [0-9]*$' "$WORK/passes.txt"

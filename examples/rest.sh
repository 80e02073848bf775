#!/usr/bin/env bash
# The whole REST contract with curl, one request per line of output; stops with status 1 at the
# first unexpected status code or error envelope.
#
#   bash examples/rest.sh http://127.0.0.1:8000
#
# Needs curl and python3 (to read JSON). History snapshots are taken when a room unloads, so
# the script waits (up to $HISTORY_WAIT seconds, default 20) for the first one: start the
# server with a short --room-grace-seconds to make that quick.
set -euo pipefail

BASE="${1:?usage: rest.sh BASE_URL (e.g. http://127.0.0.1:8000)}"
API="${BASE%/}/api/v1"
HISTORY_WAIT="${HISTORY_WAIT:-20}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
  printf 'FAIL %s\n' "$*" >&2
  exit 1
}

# call EXPECTED_STATUS METHOD PATH [JSON_BODY | @FILE] : the body lands in $tmp/body
call() {
  local expected="$1" method="$2" path="$3" body="${4-}"
  local args=(-sS -X "$method" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}')
  if [[ -n "$body" ]]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$body")
  fi
  local status
  status="$(curl "${args[@]}" "$API$path")" || fail "$method $path: curl failed"
  if [[ "$status" != "$expected" ]]; then
    fail "$method $path: expected $expected, got $status: $(head -c 300 "$tmp/body")"
  fi
  grep -qi '^x-request-id: ' "$tmp/headers" || fail "$method $path: no X-Request-Id header"
  printf 'ok  %s %-6s %s\n' "$status" "$method" "$path"
}

# json EXPR : evaluate a Python expression over the last body, bound to `d`
json() {
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$tmp/body"
}

# error EXPECTED_STATUS MACHINE_CODE METHOD PATH [BODY] : a failure in the one envelope shape
error() {
  local expected="$1" code="$2"
  shift 2
  call "$expected" "$@"
  local shape
  shape="$(json "d.get('success') is False and isinstance(d.get('error'), str) and d.get('code')")"
  [[ "$shape" == "$code" ]] || fail "$2: expected an error envelope with code $code: $(cat "$tmp/body")"
}

check() { # check PYTHON_CONDITION DESCRIPTION
  [[ "$(json "bool($1)")" == True ]] || fail "$2: $(head -c 300 "$tmp/body")"
}

# --- health -----------------------------------------------------------------------------------
call 200 GET /health
check "d['status'] == 'ok' and d['database'] == 'ok'" "health"

# --- sessions ---------------------------------------------------------------------------------
call 201 POST /sessions '{"creator":{"name":"Ada"},"code":"print(1)\n","language":"python"}'
ID="$(json "d['data']['id']")"
ADA="$(json "d['data']['creatorId']")"
check "d['data']['participants'][0]['role'] == 'interviewer'" "the creator is the interviewer"

call 200 GET "/sessions/$ID"
check "d['data']['code'] == 'print(1)\n' and d['data']['language'] == 'python'" "session read"

call 200 PATCH "/sessions/$ID" '{"code":"print(2)\n"}'
check "d['data']['code'] == 'print(2)\n'" "code patched"

call 200 PUT "/sessions/$ID/code" '{"code":"console.log(3)\n","language":"javascript"}'
check "d['data']['code'] == 'console.log(3)\n' and d['data']['language'] == 'javascript'" "code put"

# --- participants -----------------------------------------------------------------------------
call 200 POST "/sessions/$ID/join" '{"user":{"id":"grace-1","name":"Grace"}}'
check "[p['role'] for p in d['data']['participants']] == ['interviewer', 'candidate']" "joined"
call 200 POST "/sessions/$ID/join" '{"user":{"id":"grace-1","name":"Grace Hopper"}}'
check "len(d['data']['participants']) == 2" "joining again updates that participant"

call 200 GET "/sessions/$ID/participants"
check "[p['name'] for p in d['participants']] == ['Ada', 'Grace Hopper']" "participants in join order"

call 200 PATCH "/sessions/$ID/participants/grace-1" '{"color":"#336699"}'
check "d['color'] == '#336699'" "participant patched"

call 200 POST "/sessions/$ID/users" '{"id":"seed-1","name":"Seed"}'
call 200 GET "/sessions/$ID/users"
check "'seed-1' in [p['id'] for p in d['participants']]" "seed-002 join"
call 204 DELETE "/sessions/$ID/users/seed-1"
call 204 DELETE "/sessions/$ID/participants/grace-1"
error 404 PARTICIPANT_NOT_FOUND DELETE "/sessions/$ID/participants/grace-1"
call 200 GET "/sessions/$ID/participants"
check "[p['id'] for p in d['participants']] == ['$ADA']" "only the creator is left"

# --- history (a snapshot is taken when the room unloads) --------------------------------------
deadline=$((SECONDS + HISTORY_WAIT))
while :; do
  call 200 GET "/sessions/$ID/history" >/dev/null
  [[ "$(json "len(d['data'])")" != 0 ]] && break
  ((SECONDS < deadline)) || fail "no history snapshot after ${HISTORY_WAIT}s"
  sleep 0.2 # poll interval, bounded by the deadline above
done
call 200 GET "/sessions/$ID/history"
N="$(json "d['data'][-1]['n']")"
call 200 GET "/sessions/$ID/history/$N"
check "d['data']['code'] == 'console.log(3)\n'" "snapshot"
error 404 NOT_FOUND GET "/sessions/$ID/history/999999"

# --- errors -----------------------------------------------------------------------------------
error 400 INVALID_REQUEST GET /sessions/not-an-id
error 404 SESSION_NOT_FOUND GET /sessions/00000000
error 400 INVALID_REQUEST POST /sessions 'not json'
error 400 INVALID_REQUEST POST /sessions '[1, 2]'
error 400 INVALID_REQUEST PATCH "/sessions/$ID" '{"language":"cobol"}'
check "any(f['field'].endswith('language') for f in d['fields'])" "validation names the field"
error 405 METHOD_NOT_ALLOWED PUT "/sessions/$ID" '{}'
grep -qi '^allow: ' "$tmp/headers" || fail "405 without Allow"
error 404 NOT_FOUND GET /no/such/route
python3 -c "import json; print(json.dumps({'code': 'x' * 1_200_000}))" > "$tmp/big.json"
error 413 PAYLOAD_TOO_LARGE POST /sessions "@$tmp/big.json"

call 201 POST /sessions '{}'
FULL="$(json "d['data']['id']")"
for i in $(seq 1 50); do
  status="$(curl -sS -o "$tmp/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "{\"user\":{\"id\":\"extra-$i\"}}" "$API/sessions/$FULL/join")"
  [[ "$status" == 200 ]] && continue
  [[ "$status" == 409 && "$(json "d['code']")" == SESSION_FULL ]] || fail "join $i: $status"
  printf 'ok  409 POST   /sessions/%s/join (participant %d: SESSION_FULL)\n' "$FULL" "$((i + 1))"
  break
done
[[ "$status" == 409 ]] || fail "a session never filled up"

# --- delete -----------------------------------------------------------------------------------
call 204 DELETE "/sessions/$FULL"
call 204 DELETE "/sessions/$ID"
error 404 SESSION_NOT_FOUND GET "/sessions/$ID"
error 404 SESSION_NOT_FOUND POST "/sessions/$ID/join" '{}'
echo "all REST checks passed"

#!/usr/bin/env bash
# Install the Node packages the test suite needs, exactly as locked in tests/node: the stock
# y-websocket clients (yclient.mjs) and the reference server the client harness is checked on.
# Idempotent: `npm ci` runs only when node_modules is missing or older than the lockfile.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# npm ci wipes and rebuilds node_modules; skip it when the install is current.
ensure_npm_ci() {
  local dir="$1"
  local modules="$dir/node_modules"
  if [[ -d "$modules" && ! "$dir/package-lock.json" -nt "$modules" ]]; then
    echo "node deps up to date: $modules"
    return
  fi
  echo "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund)
  # npm ci may leave the directory mtime older than the lockfile; mark the install as current
  touch "$modules"
}

command -v node >/dev/null || { echo "node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }

ensure_npm_ci "$repo/tests/node"

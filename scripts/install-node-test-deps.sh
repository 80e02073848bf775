#!/usr/bin/env bash
# Install the Node packages the test suite needs, exactly as locked in tests/node: the stock
# y-websocket clients (yclient.mjs) and the reference server the client harness is checked on.
# Idempotent: `npm ci` runs only when node_modules is missing or older than the lockfile.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# shellcheck source=scripts/lib-npm.sh
source "$repo/scripts/lib-npm.sh"

command -v node >/dev/null || { echo "node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }

ensure_npm_ci "$repo/tests/node"

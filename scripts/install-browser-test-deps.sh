#!/usr/bin/env bash
# Install what the browser tests (tests/test_browser) and the example tests (tests/test_examples)
# need, on Debian:
#   chromium                 Debian's package, only when /usr/bin/chromium is missing (needs root;
#                            `apt-get update` runs first). Playwright's own browser download is
#                            not used: playwright-core drives this binary.
#   tests/browser            playwright-core, exactly as locked in package-lock.json
#   examples                 yjs, y-websocket and ws for examples/node_client.mjs, as locked
# Idempotent: nothing is installed twice, and `npm ci` only runs when node_modules is missing or
# older than its lockfile. Building the demo page (examples/monaco/build.sh) is not needed for
# the tests: its output is committed in rest/static/demo/.
# Usage: bash scripts/install-browser-test-deps.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

command -v node >/dev/null || { echo "node (20.x) is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed" >&2; exit 1; }

if [[ -x /usr/bin/chromium ]]; then
  echo "chromium present: /usr/bin/chromium"
else
  [[ "$(id -u)" == 0 ]] || { echo "/usr/bin/chromium is missing; run me as root to install it" >&2; exit 1; }
  echo "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y chromium
fi

# shellcheck source=scripts/lib-npm.sh
source "$repo/scripts/lib-npm.sh"

ensure_npm_ci "$repo/tests/browser"
ensure_npm_ci "$repo/examples"

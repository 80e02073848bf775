#!/usr/bin/env bash
# Install what the browser tests (tests/test_browser) and the example tests (tests/test_examples)
# need, on Debian:
#   chromium                 Debian's package, only when /usr/bin/chromium is missing (as root
#                            or through sudo; `apt-get update` runs first). Playwright's own browser download is
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

# shellcheck source=scripts/lib-apt.sh
source "$repo/scripts/lib-apt.sh"
if [[ -x /usr/bin/chromium ]]; then
  echo "chromium present: /usr/bin/chromium"
else
  apt_install_missing chromium  # as root, or through sudo
fi

# shellcheck source=scripts/lib-npm.sh
source "$repo/scripts/lib-npm.sh"

ensure_npm_ci "$repo/tests/browser"
ensure_npm_ci "$repo/examples"

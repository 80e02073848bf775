#!/usr/bin/env bash
# Install what the deployment tests (tests/test_deploy) need, on Debian: nginx, which they run
# in front of the server on loopback with a private configuration, and systemd-analyze, which
# checks the unit in deploy/. Their services are not started (the tests start their own).
# Idempotent. Usage: bash scripts/install-deploy-test-deps.sh (as root, or a user with sudo)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib-apt.sh
source "$repo/scripts/lib-apt.sh"

NO_SERVICE_START=1 apt_install_missing nginx systemd
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { echo "nginx missing after install" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing after install" >&2; exit 1; }
echo "deploy test deps present: $(/usr/sbin/nginx -v 2>&1), $(systemd-analyze --version | head -n1)"

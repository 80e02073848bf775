#!/usr/bin/env bash
# Install what the scale-out tests need, on Debian: PostgreSQL (the second storage engine) and
# Redis (cross-process rooms). Their services are not started: the tests run private instances
# (their own data directory and a free port, stopped afterwards), never the system's.
# Idempotent. Usage: bash scripts/install-scaleout-test-deps.sh (as root, or a user with sudo)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib-apt.sh
source "$repo/scripts/lib-apt.sh"

NO_SERVICE_START=1 apt_install_missing postgresql redis-server
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)
[[ -x "$initdb" ]] || { echo "PostgreSQL's initdb missing after install" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server missing after install" >&2; exit 1; }
echo "scale-out test deps present: $("$initdb" --version), $(redis-server --version | cut -d' ' -f1-3)"

#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine (Python 3.11, Node 20; as root
# or as a user with sudo, which the Debian packages and the sandbox set-up ask for), then run
# the whole suite: lint, format check, type checks and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
bash scripts/install-node-test-deps.sh
bash scripts/install-execution.sh
bash scripts/install-browser-test-deps.sh
bash scripts/install-deploy-test-deps.sh
bash scripts/install-scaleout-test-deps.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Runs examples/quickstart.py against the bundled emulator: no account, no network.
# Creates ./.venv on first use and installs the project with the emulator extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet -e '.[emulator,cli]'
exec .venv/bin/python examples/quickstart.py

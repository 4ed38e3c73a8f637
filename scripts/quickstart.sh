#!/usr/bin/env bash
# Runs the quickstarts against the bundled emulator, no account, no network:
# examples/quickstart.py (the platform API), then examples/atlas_quickstart.py (Atlas).
# Creates ./.venv on first use and installs the project with the emulator extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet -e '.[emulator,cli]'
echo "== the platform API (examples/quickstart.py)"
.venv/bin/python examples/quickstart.py
echo
echo "== FluidStack Atlas (examples/atlas_quickstart.py)"
exec .venv/bin/python examples/atlas_quickstart.py

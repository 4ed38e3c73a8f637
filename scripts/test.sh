#!/usr/bin/env bash
# The whole test suite and every static check, exactly as CI runs it.
# Creates ./.venv on first use and installs the project with its dev extras and the Ray
# extra (which installs Ray on Python 3.10+ and nothing on 3.9, where its tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Re-install when the project metadata changed since the last install.
stamp=.venv/.fluidstack-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev,ray]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff";   ruff check src tests bench scripts examples
echo "== ruff format"; ruff format --check src tests bench scripts examples
echo "== generated"; python scripts/unasync.py --check && python scripts/gen_reference.py --check
echo "== mypy";   mypy
# The tests run in parallel processes (pytest-xdist): scripts/test_workers.py says how
# many; `-n 0` among the arguments runs them in this process (e.g. for `--pdb`).
workers="$(python scripts/test_workers.py)"
echo "== pytest ($workers workers)"; python -m pytest -n "$workers" "$@"

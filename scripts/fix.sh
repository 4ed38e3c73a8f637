#!/usr/bin/env bash
# Regenerate what is generated and tidy the code: run before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/.venv/bin:$PATH"
paths=("${@:-src tests bench scripts examples}")
# shellcheck disable=SC2068
ruff check --fix --quiet ${paths[@]} || true
# shellcheck disable=SC2068
ruff format --quiet ${paths[@]}
python scripts/unasync.py
python scripts/gen_reference.py >/dev/null

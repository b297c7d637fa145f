#!/usr/bin/env bash
# Run the test suite: creates .venv (pinned dependencies) when missing, then lint, types and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"

#!/usr/bin/env bash
# Run the test suite: creates .venv (pinned dependencies) when missing, then lint, types and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
# The compiled data plane is the product: tests/test_native_build.py checks it is current and loaded.
[ -n "${MESHGATE_PURE:-}" ] || export MESHGATE_REQUIRE_NATIVE=1
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"

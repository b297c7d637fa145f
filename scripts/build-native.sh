#!/usr/bin/env bash
# (Re)build the mypyc-compiled data-plane modules in place (native-modules.txt), only when their
# sources, setup.py or mypy changed. An extension module shadows its .py file, so a stale build
# would run old code: scripts/test.sh calls this before every run, and tests/test_native_build.py
# fails when the build does not match the sources.
# MESHGATE_PURE=1 removes the compiled modules instead: everything then runs interpreted.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${MESHGATE_PURE:-}" ]; then
  find src -name '*.so' -delete
  rm -f build/native.stamp
  exit 0
fi
want="$(.venv/bin/python scripts/native_stamp.py)"
if [ -f build/native.stamp ] && [ "$(cat build/native.stamp)" = "$want" ] \
  && [ -n "$(find src/meshgate -name '*.so' -print -quit)" ]; then
  exit 0
fi
echo "building the compiled data-plane modules (mypyc, about 2 minutes)..." >&2
find src -name '*.so' -delete
.venv/bin/python setup.py -q build_ext --inplace >build/native.log 2>&1 || {
  tail -40 build/native.log >&2
  exit 1
}
echo "$want" >build/native.stamp

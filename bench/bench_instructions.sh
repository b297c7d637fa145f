#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind (callgrind): repeatable to a fraction of a
# percent whatever else the machine does, unlike req/s on a shared VM whose speed drifts. Counts the
# user-space instructions inside the two entry points uvloop calls per request (the downstream and
# the upstream `data_received`) in bench/bench_hotpath.py's socket-free setup, for the access-log
# and stats settings given (default: the three access-log settings with stats on).
#
#   bench/bench_instructions.sh [REQUESTS] [wrk|browser]   # needs valgrind (Debian: valgrind)
#
# The second argument picks bench_hotpath's request: wrk's (one header line) or a browser's (12).
#
# The compiled build is what it measures when present (scripts/build-native.sh); MESHGATE_PURE=1
# builds have no C entry points to toggle on, so it refuses them.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-3000}"
request="${2:-wrk}"
command -v valgrind >/dev/null || { echo "bench_instructions: valgrind not found" >&2; exit 2; }
if [ -z "$(find src/meshgate -name 'http1.*.so' -print -quit)" ]; then
  echo "bench_instructions: no compiled data plane (run scripts/build-native.sh)" >&2
  exit 2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for args in "--access-log off" "--access-log text" "--access-log json" "--access-log off --stats off"; do
  # shellcheck disable=SC2086 # word splitting of $args is intended
  valgrind --tool=callgrind --collect-atstart=no \
    --toggle-collect='CPyPy_http1___HttpProtocol___data_received' \
    --toggle-collect='CPyPy_upstream_conn___UpstreamConnection___data_received' \
    --callgrind-out-file="$out/cg.out" \
    .venv/bin/python bench/bench_hotpath.py --requests "$requests" --repeat 1 --request "$request" $args >"$out/log" 2>&1
  total="$(grep -o 'refs: *[0-9,]*' "$out/log" | tr -dc 0-9)"
  printf '%-32s %8d instructions/request\n' "$args" "$((total / (requests + 1)))"  # + bench_hotpath's warm-up request
done

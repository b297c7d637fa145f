#!/usr/bin/env bash
# Start the demo: small backends on 127.0.0.1:9001-9004 and the gateway on examples/seed/ (HTTP on
# 127.0.0.1:8080, HTTPS on 127.0.0.1:8443, admin on 127.0.0.1:15000). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec .venv/bin/meshgate demo -f examples/seed "$@"

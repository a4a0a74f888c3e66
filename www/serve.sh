#!/usr/bin/env bash
# Builds the release wasm and serves the demo on http://127.0.0.1:8080/ (PORT=… to change).
#   bash www/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash www/build.sh
exec node www/serve.mjs "${PORT:-8080}"

#!/usr/bin/env bash
# The browser benchmark, or the wasm soak: builds the release wasm, installs the peers, runs in
# headless Chromium.
#   bash bench/browser/run.sh          benchmark (N=100000 M=10000 ROUNDS=5 by default)
#   bash bench/browser/run.sh soak     soak (N=1000000 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/tools.sh
ensure_chromium
bash www/build.sh
[ -d bench/browser/node_modules ] || (cd bench/browser && npm ci --no-audit --no-fund)
node bench/browser/run.mjs "$@"

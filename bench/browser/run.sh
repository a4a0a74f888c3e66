#!/usr/bin/env bash
# The browser benchmark: builds the release wasm, installs the peers, runs in headless Chromium.
#   bash bench/browser/run.sh          (N=100000 M=10000 ROUNDS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/tools.sh
ensure_chromium
bash www/build.sh
[ -d bench/browser/node_modules ] || (cd bench/browser && npm ci --no-audit --no-fund)
node bench/browser/run.mjs

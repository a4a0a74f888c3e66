#!/usr/bin/env bash
# Builds the npm package into www/pkg for the demo (size-optimised: opt-level z, LTO, wasm-opt).
#   bash www/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash npm/build.sh www/pkg

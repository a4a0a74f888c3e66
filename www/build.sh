#!/usr/bin/env bash
# Builds the demo's release wasm into www/pkg (size-optimised: opt-level z, LTO, wasm-opt).
#   bash www/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/tools.sh
ensure_targets wasm32-unknown-unknown
ensure_wasm_bindgen
ensure_wasm_opt

step "cargo rustc --crate-type cdylib --profile wasm-release --features web (wasm32)"
# A cdylib only here: declared in Cargo.toml it would break the no_std builds.
cargo rustc --lib --crate-type cdylib --target wasm32-unknown-unknown --profile wasm-release \
  --features web
rm -rf www/pkg
wasm-bindgen --target web --out-dir www/pkg target/wasm32-unknown-unknown/wasm-release/workcrew.wasm
wasm=www/pkg/workcrew_bg.wasm
if command -v wasm-opt >/dev/null; then
  # The features rustc enables by default for wasm32-unknown-unknown, and no others.
  wasm-opt -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext \
    "$wasm" -o "$wasm.opt" && mv "$wasm.opt" "$wasm"
fi
raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "www/pkg/workcrew_bg.wasm: $raw bytes, $gz bytes gzipped"

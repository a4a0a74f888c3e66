#!/usr/bin/env bash
# Builds the npm package: the core in WebAssembly (wasm-bindgen, size-optimised with wasm-opt
# when present) and the package's JavaScript, types, README and package.json.
#
#   bash npm/build.sh [OUT_DIR]        # default: target/npm/workcrew
#   cd target/npm/workcrew && npm pack # the tarball
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/tools.sh
out=${1:-target/npm/workcrew}
ensure_targets wasm32-unknown-unknown
ensure_wasm_bindgen
ensure_wasm_opt

crate_version=$(awk -F'"' '/^version/ { print $2; exit }' Cargo.toml)
npm_version=$(awk -F'"' '/"version"/ { print $4; exit }' npm/package.json)
if [ "$crate_version" != "$npm_version" ]; then
  echo "npm/package.json has version $npm_version, Cargo.toml $crate_version" >&2
  exit 1
fi

step "cargo rustc --crate-type cdylib --profile wasm-release --features web (wasm32)"
# A cdylib only here: declared in Cargo.toml it would break the no_std builds.
cargo rustc --quiet --lib --crate-type cdylib --target wasm32-unknown-unknown \
  --profile wasm-release --features web
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-name workcrew_core --out-dir "$out" \
  target/wasm32-unknown-unknown/wasm-release/workcrew.wasm
wasm=$out/workcrew_core_bg.wasm
if has wasm-opt; then
  # The features rustc enables by default for wasm32-unknown-unknown, and no others.
  wasm-opt -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext \
    "$wasm" -o "$wasm.opt" && mv "$wasm.opt" "$wasm"
fi
cp npm/index.js npm/node.js npm/index.d.ts npm/README.md npm/package.json LICENSE-MIT LICENSE-APACHE "$out/"

gz() { gzip -9 -c "$1" | wc -c; }
wasm_gz=$(gz "$wasm")
js_gz=$(cat "$out"/index.js "$out"/workcrew_core.js | gzip -9 | wc -c)
echo "$wasm: $(wc -c <"$wasm") bytes, $wasm_gz bytes gzipped"
echo "$out: wasm + JavaScript $((wasm_gz + js_gz)) bytes gzipped (the JavaScript: $js_gz)"

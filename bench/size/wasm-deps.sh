#!/usr/bin/env bash
# Code bytes per crate in the npm package's .wasm (the `web` build, after wasm-bindgen, before
# wasm-opt, with its name section kept), from a snapshot of a commit (default HEAD), by
# bench/size/wasm_funcs.py. Uncompressed code bytes, not gzipped; generic code is named after
# the crate that defines it, and inlined code counts for the function it was inlined into.
#   bash bench/size/wasm-deps.sh [COMMIT]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
sha=$(git rev-parse --short "${1:-HEAD}")
tree=target/deps/snap-$sha
if [ ! -f "$tree/Cargo.toml" ]; then
  rm -rf "$tree" && mkdir -p "$tree"
  git archive "$sha" | tar -x -C "$tree"
fi
(cd "$tree" && CARGO_PROFILE_WASM_RELEASE_STRIP=false cargo rustc --quiet --lib --crate-type cdylib \
  --target wasm32-unknown-unknown --profile wasm-release --features web --target-dir target/names)
out=target/deps/wasm-names-$sha
rm -rf "$out" && mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-name workcrew_core --out-dir "$out" \
  "$tree/target/names/wasm32-unknown-unknown/wasm-release/workcrew.wasm"
echo "### Code bytes per crate in the .wasm (names kept, before wasm-opt), on $sha ($(date -u +%F))"
echo
python3 - "$out/workcrew_core_bg.wasm" <<'PY'
import re, sys
from collections import defaultdict
# bench/size/wasm_funcs.py's parser (its functions, not its report, which lists the top 40).
src = open("bench/size/wasm_funcs.py").read()
exec(src[:src.index("args = [")])
by = defaultdict(int)
fs = funcs(sys.argv[1])
for name, size in fs.items():
    name = name.strip().lstrip("<&*_ ")
    crate = re.sub(r"\[[0-9a-f]+\]$", "", re.split(r"::| |<", name)[0])
    if crate.startswith("poolcore_") or crate.startswith("__wbindgen") or crate.startswith("externref"):
        crate = "(wasm-bindgen exports and glue)"
    elif crate.startswith("RNv") or crate.startswith("ZN") or crate.startswith("func"):
        crate = "(unnamed or mangled)"
    by[crate] += size
print(f"total code bytes: {sum(fs.values())}\n")
print("| crate | code bytes |")
print("|---|---:|")
for c, v in sorted(by.items(), key=lambda kv: -kv[1]):
    print(f"| {c} | {v} |")
PY

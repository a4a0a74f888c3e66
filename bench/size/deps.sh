#!/usr/bin/env bash
# Code and read-only data per crate in the minimal no_std user (bench/size/src/lib.rs, the same
# build as bench/size/measure.sh: thumbv7em-none-eabihf, opt-level "z", LTO), from a snapshot of
# a commit (default HEAD). Symbols of the LTO'd object, by `llvm-nm --size-sort --demangle`,
# summed by their path's first segment (crate). Generic code is named after the crate that
# defines it, and code inlined into another crate's function counts for that one.
#   bash bench/size/deps.sh [COMMIT]
#   FEATURES=portable-atomic bash bench/size/deps.sh [COMMIT]   (workcrew's features, comma-separated)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
sha=$(git rev-parse --short "${1:-HEAD}")
tree=target/deps/snap-$sha size=target/deps/size-$sha
if [ ! -f "$tree/Cargo.toml" ]; then
  rm -rf "$tree" && mkdir -p "$tree"
  git archive "$sha" | tar -x -C "$tree"
fi
rm -rf "$size" && mkdir -p "$size"
cp -r bench/size/src bench/size/Cargo.lock "$size/"
sed 's|^workcrew = { path = "../.."|workcrew = { path = "../snap-'"$sha"'"|' bench/size/Cargo.toml >"$size/Cargo.toml"
grep -q "snap-$sha" "$size/Cargo.toml"
if [ -n "${FEATURES:-}" ]; then
  sed -i "s|default-features = false|default-features = false, features = [\"${FEATURES//,/\\\",\\\"}\"]|" "$size/Cargo.toml"
fi
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
(cd "$size" && cargo build --quiet --release --target thumbv7em-none-eabihf --target-dir "$root/target/deps/size-target${FEATURES:+-$FEATURES}")
lib=$root/target/deps/size-target${FEATURES:+-$FEATURES}/thumbv7em-none-eabihf/release/libworkcrew_size.a
bin=$(dirname "$(rustc --print target-libdir)")/bin
obj=$(mktemp -d)
(cd "$obj" && "$bin/llvm-ar" x "$lib")
lto=$(ls "$obj"/workcrew_size*.o | head -1)
echo "### Code per crate, minimal no_std user, thumbv7em-none-eabihf${FEATURES:+, features $FEATURES}, on $sha ($(date -u +%F))"
echo
"$bin/llvm-size" -A "$lto" | awk '$1 ~ /^\.text/ { t += $2 } $1 ~ /^\.rodata/ { r += $2 } END { printf "whole object: .text %d B, .rodata %d B\n\n", t, r }'
echo "| crate | code (t) | read-only data (r) | symbols |"
echo "|---|---:|---:|---:|"
"$bin/llvm-nm" --size-sort --demangle --print-size "$lto" | python3 -c '
import re, sys
from collections import defaultdict
code, ro, n = defaultdict(int), defaultdict(int), defaultdict(int)
for line in sys.stdin:
    f = line.split(None, 3)
    if len(f) < 4:
        continue
    size, kind, name = int(f[1], 16), f[2].lower(), f[3]
    name = name.replace("$LT$", "<").replace("..", "::").lstrip("_<&* ")
    name = name.strip()
    crate = re.split(r"::|\$| ", name)[0] or "?"
    if crate.startswith("OUTLINED_FUNCTION"): crate = "(outlined code, any crate)"
    if kind == "t": code[crate] += size
    elif kind == "r": ro[crate] += size
    else: continue
    n[crate] += 1
for c in sorted(n, key=lambda c: -code[c]):
    print(f"| {c} | {code[c]} | {ro[c]} | {n[c]} |")
'
rm -rf "$obj"

#!/usr/bin/env bash
# The npm package's `.wasm`, gzipped (gzip -9, as npm/build.sh prints it), built from a snapshot
# of a commit (default HEAD), so that uncommitted edits in the shared tree are not measured and
# the build stays out of everyone else's target directory.
#   bash bench/size/wasm.sh [COMMIT]
# The snapshot is target/ab/new-SHA (the one bench/ab.sh measures); the package lands in its
# www/pkg, where bench/targets.sh's browser run serves it from.
set -euo pipefail
cd "$(dirname "$0")/../.."
sha=$(git rev-parse --short "${1:-HEAD}")
tree=target/ab/new-$sha
if [ ! -f "$tree/Cargo.toml" ]; then
  rm -rf "$tree" && mkdir -p "$tree"
  git archive "$sha" | tar -x -C "$tree"
fi
(cd "$tree" && bash npm/build.sh www/pkg >&2)
wasm=$tree/www/pkg/workcrew_core_bg.wasm
raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
verdict=$([ "$gz" -le 32768 ] && echo met || echo '**missed**')
echo
echo "### The package's .wasm ($sha)"
echo
echo "| .wasm | gzipped (gzip -9) | target | |"
echo "|---:|---:|---:|---|"
echo "| $raw B | $gz B | ≤ 32 KB (32,768 B) | $verdict |"

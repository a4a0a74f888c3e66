#!/usr/bin/env bash
# Every target of the scheduler (issue 18), from one run of one commit (default HEAD, against
# the code before the scheduler, 27a47d0):
#   bash bench/targets.sh                     everything (native A/B, waiting, .wasm, browser)
#   SKIP_BROWSER=1 bash bench/targets.sh      without the browser
# Knobs: NEW, BASE, ROUNDS, N (bench/ab.sh); BROWSER_ROUNDS, BROWSER_N, ONLY (the browser's
# groups, default a,e: plain and random priorities; `ONLY=` runs all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
NEW=${NEW:-HEAD}
sha=$(git rev-parse --short "$NEW")
echo "## The scheduler's targets, on $sha ($(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
NEW=$sha bash bench/ab.sh
bash bench/size/wasm.sh "$sha"
if [ -z "${SKIP_BROWSER:-}" ]; then
  source .ci/tools.sh
  ensure_chromium
  tree=target/ab/new-$sha # built by bench/size/wasm.sh, www/pkg included
  # This tree's benchmark page (the snapshot's may be older), the peers installed here.
  cp bench/browser/bench.mjs bench/browser/run.mjs bench/browser/bench.html "$tree/bench/browser/"
  [ -d bench/browser/node_modules ] || (cd bench/browser && npm ci --no-audit --no-fund)
  rm -rf "$tree/bench/browser/node_modules"
  ln -s "$root/bench/browser/node_modules" "$tree/bench/browser/node_modules"
  (cd "$tree" && N=${BROWSER_N:-100000} ROUNDS=${BROWSER_ROUNDS:-5} ONLY=${ONLY-a,e} node bench/browser/run.mjs)
fi

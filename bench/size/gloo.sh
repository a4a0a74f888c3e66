#!/usr/bin/env bash
# The npm package's .wasm, gzipped (gzip -9, as npm/build.sh prints it), with the web sleeper
# on a hand-bound setTimeout (bench/size/gloo/binding.rs, src/web/timer.rs before gloo-timers)
# and on gloo-timers' callback::Timeout (bench/size/gloo/timer.rs, gloo-timers in the `web`
# feature), each built by npm/build.sh from a snapshot of a commit (default HEAD) with that
# sleeper put in. docs/dependencies.md.
#   GLOO_VERSION=0.4 bash bench/size/gloo.sh     (another gloo-timers; default 0.3)
#   bash bench/size/gloo.sh [COMMIT]
set -euo pipefail
cd "$(dirname "$0")/../.."
sha=$(git rev-parse --short "${1:-HEAD}")
gloo_version=${GLOO_VERSION:-0.3}
measure() { # TREE: prints raw and gzipped sizes of the package's .wasm
  (cd "$1" && bash npm/build.sh target/npm/workcrew >&2)
  local wasm=$1/target/npm/workcrew/workcrew_core_bg.wasm
  echo "$(wc -c <"$wasm") $(gzip -9 -c "$wasm" | wc -c)"
}
for v in binding gloo; do
  tree=target/deps/$v-$sha
  rm -rf "$tree" && mkdir -p "$tree"
  git archive "$sha" | tar -x -C "$tree"
  # Each variant's sleeper, whichever the commit has; gloo-timers in Cargo.toml only for gloo.
  sed -i '/^# `web`: the sleeper/,/^gloo-timers = /d; /"dep:gloo-timers",/d' "$tree/Cargo.toml"
  if [ $v = gloo ]; then
    cp bench/size/gloo/timer.rs "$tree/src/web/timer.rs"
    # The dependency, and the `web` feature turning it on.
    sed -i "s|^js-sys = { version = \"0.3\", optional = true }|&\ngloo-timers = { version = \"$gloo_version\", optional = true }|" "$tree/Cargo.toml"
    sed -i 's|^    "dep:js-sys",|&\n    "dep:gloo-timers",|' "$tree/Cargo.toml"
    grep -q '"dep:gloo-timers"' "$tree/Cargo.toml"
  else
    cp bench/size/gloo/binding.rs "$tree/src/web/timer.rs"
    if grep -q 'gloo' "$tree/Cargo.toml" "$tree/src/web/timer.rs"; then echo "gloo left in $tree" >&2; exit 1; fi
  fi
  read -r raw gz < <(measure "$tree")
  eval "${v}_raw=$raw ${v}_gz=$gz"
done
locked=$(awk '$0 == "name = \"gloo-timers\"" { getline; gsub(/version = |"/, ""); print }' "target/deps/gloo-$sha/Cargo.lock")
echo
echo "### The package's .wasm: the web sleeper's two bindings, on $sha ($(date -u +%F))"
echo
echo "| web sleeper | .wasm | gzipped (gzip -9) |"
echo "|---|---:|---:|"
echo "| hand-bound setTimeout (bench/size/gloo/binding.rs) | $binding_raw B | $binding_gz B |"
echo "| gloo-timers $locked callback::Timeout (bench/size/gloo/timer.rs) | $gloo_raw B | $gloo_gz B |"
echo "| difference | $((gloo_raw - binding_raw)) B | $((gloo_gz - binding_gz)) B |"
verdict=$([ $((gloo_gz - binding_gz)) -le 512 ] && echo "within 512 B: adopt" || echo "over 512 B: keep the binding")
echo
echo "gloo-timers costs $((gloo_gz - binding_gz)) B gzipped: $verdict"

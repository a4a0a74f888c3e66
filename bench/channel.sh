#!/usr/bin/env bash
# workcrew's pool against a pool core on async-channel, plain jobs, in alternating rounds
# (bench/src/bin/channel.rs; docs/dependencies.md), built against a snapshot of a commit
# (default HEAD), so that uncommitted edits in the shared tree are not measured.
#   bash bench/channel.sh [COMMIT]                 ROUNDS=7 N=1000000 by default
#   CALLGRIND=1 bash bench/channel.sh [COMMIT]     instructions per job under callgrind instead
#                                                  (CG_N jobs, default 20000, and twice that;
#                                                  the difference over CG_N jobs is per job)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sha=$(git rev-parse --short "${1:-HEAD}")
tree=target/deps/snap-$sha bench=target/deps/snap-$sha-bench
if [ ! -f "$tree/Cargo.toml" ]; then
  rm -rf "$tree" && mkdir -p "$tree"
  git archive "$sha" | tar -x -C "$tree"
fi
rm -rf "$bench" && mkdir -p "$bench/src/bin"
cp bench/src/main.rs "$bench/src/"
cp bench/src/bin/channel.rs "$bench/src/bin/"
cp bench/Cargo.lock "$bench/"
sed "s|^workcrew = { path = \"..\" }|workcrew = { path = \"../snap-$sha\" }|" bench/Cargo.toml >"$bench/Cargo.toml"
grep -q "path = \"../snap-$sha\"" "$bench/Cargo.toml"
(cd "$bench" && cargo build --quiet --release --bin channel --target-dir "$root/target/deps/bench" >&2)
bin=$root/target/deps/bench/release/channel
echo "## async-channel core vs workcrew's pool, on $sha ($(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [ -z "${CALLGRIND:-}" ]; then
  "$bin"
  exit
fi
command -v valgrind >/dev/null || { source .ci/tools.sh; ensure_valgrind; }
cg_n=${CG_N:-20000}
# instructions NAME JOBS: the whole program's instruction count (every thread) for one run.
instructions() {
  local out=target/deps/callgrind.out
  N=$2 valgrind --tool=callgrind --callgrind-out-file=$out "$bin" once "$1" >/dev/null 2>target/deps/callgrind.log
  awk '/^summary:|^totals:/ { print $2; exit }' $out
}
echo
echo "### Instructions per job under callgrind (every thread; (I(2n) − I(n)) / n, n = $cg_n)"
echo
echo "| variant | instructions per job | vs workcrew Pool (same W) |"
echo "|---|---:|---:|"
declare -A per
for name in "workcrew Pool, W=2" "async-channel core, handles, W=2" "async-channel core, no results, W=2" "workcrew Pool, W=8" "async-channel core, handles, W=8"; do
  a=$(instructions "$name" "$cg_n")
  b=$(instructions "$name" $((2 * cg_n)))
  per[$name]=$(( (b - a) / cg_n ))
  case $name in *W=8) base=${per["workcrew Pool, W=8"]} ;; *) base=${per["workcrew Pool, W=2"]} ;; esac
  echo "| $name | ${per[$name]} | $(awk -v x="${per[$name]}" -v y="$base" 'BEGIN { printf "%.2f", x / y }') |"
done

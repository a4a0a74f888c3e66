#!/usr/bin/env bash
# Every target of the policies (issue 19), from one run of one commit (default HEAD):
#   bash bench/policies.sh                    everything, then one table
#   SKIP_BROWSER=1 bash bench/policies.sh     without the browser
#   SKIP_CALLGRIND=1 bash bench/policies.sh   without the instruction counts
#
# 1-3. hedging, the circuit breaker and the retry budget on simulated services
#      (bench/src/bin/policies.rs, built against NEW);
# 4.   no cost when unused: plain jobs (bench/src/main.rs's "workcrew, W=2", N jobs, no policy
#      set) built against BASE (default 88efb84, the code before the policies) and NEW, each
#      run in a fresh process, alternately (which goes first alternates), ROUNDS rounds; the
#      median of each round's ratio. With callgrind: instructions per job on both builds
#      (the difference between a run of CG_N2 and one of CG_N1 jobs, over CG_N2 - CG_N1, so
#      the start-up is not counted);
# 5.   hedging in the browser against the demo's server (bench/browser/hedge.run.mjs).
#
# Knobs: NEW, BASE, ROUNDS (15), N (1000000), CG_N1 (20000), CG_N2 (120000), HEDGE_ROUNDS,
# HEDGE_JOBS, HEDGE_WORKERS, BREAKER_ROUNDS, BUDGET_ROUNDS (bench/src/bin/policies.rs),
# BROWSER_ROUNDS, BROWSER_JOBS (bench/browser/hedge.run.mjs).
#
# Both builds are `git archive` snapshots under target/policies/ (committed code only: another
# engineer's uncommitted edits in src/ are not measured); the bench copies point their
# `workcrew = { path = ... }` at them and build into target/policies/build-*.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BASE=${BASE:-88efb84}
NEW=${NEW:-HEAD}
ROUNDS=${ROUNDS:-15}
export N=${N:-1000000}
CG_N1=${CG_N1:-20000}
CG_N2=${CG_N2:-120000}
base_sha=$(git rev-parse --short "$BASE")
new_sha=$(git rev-parse --short "$NEW")
out=target/policies/run-$new_sha
mkdir -p "$out"

# snapshot NAME SHA BINS...: builds the bench (these of its binaries) against SHA; prints the
# directory of the binaries.
snapshot() {
  local name=$1 sha=$2
  shift 2
  local tree=target/policies/tree-$sha bench=target/policies/bench-$name-$sha
  if [ ! -f "$tree/Cargo.toml" ]; then
    rm -rf "$tree" && mkdir -p "$tree"
    git archive "$sha" | tar -x -C "$tree"
  fi
  rm -rf "$bench" && mkdir -p "$bench/src/bin"
  cp bench/src/main.rs "$bench/src/"
  cp bench/src/bin/policies.rs "$bench/src/bin/"
  cp bench/Cargo.lock "$bench/"
  sed "s|^workcrew = { path = \"..\" }|workcrew = { path = \"../tree-$sha\" }|" bench/Cargo.toml >"$bench/Cargo.toml"
  grep -q "path = \"../tree-$sha\"" "$bench/Cargo.toml"
  local bins=()
  for b in "$@"; do bins+=(--bin "$b"); done
  (cd "$bench" && cargo build --quiet --release "${bins[@]}" --target-dir "$root/target/policies/build-$name" >&2)
  echo "$root/target/policies/build-$name/release"
}

echo "building the bench against $BASE ($base_sha) and $NEW ($new_sha)" >&2
base_dir=$(snapshot base "$base_sha" workcrew-bench)
new_dir=$(snapshot new "$new_sha" workcrew-bench policies)

echo "## The policies' targets, on $new_sha ($(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"

# 1-3 ---------------------------------------------------------------------------------------------
"$new_dir/policies" all | tee "$out/native.md" | grep -v '^#T'

# 4 -----------------------------------------------------------------------------------------------
log=$out/ab-$base_sha-$new_sha.tsv
: >"$log"
echo "plain jobs: $N per run, $ROUNDS rounds, $base_sha against $new_sha, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order=(base new); else order=(new base); fi
  for b in "${order[@]}"; do
    dir=$base_dir
    [ "$b" = new ] && dir=$new_dir
    ns=$("$dir/workcrew-bench" once "workcrew, W=2" | cut -f2)
    printf '%s\t%s\t%s\n' "$r" "$b" "$ns" | tee -a "$log" >&2
  done
done

cg=$out/callgrind-$base_sha-$new_sha.tsv
: >"$cg"
if [ -z "${SKIP_CALLGRIND:-}" ]; then
  command -v valgrind >/dev/null || { echo "no valgrind: apt-get install -y valgrind" >&2; exit 1; }
  # instructions BIN JOBS: the instructions of one run of JOBS plain jobs (every thread).
  instructions() {
    N=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1/workcrew-bench" once "workcrew, W=2" 2>&1 >/dev/null |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  }
  for b in base new; do
    dir=$base_dir
    [ "$b" = new ] && dir=$new_dir
    for rep in 1 2 3; do
      i1=$(instructions "$dir" "$CG_N1")
      i2=$(instructions "$dir" "$CG_N2")
      printf '%s\t%s\t%s\t%s\n' "$b" "$rep" "$i1" "$i2" | tee -a "$cg" >&2
    done
  done
fi

python3 - "$log" "$cg" "$base_sha" "$new_sha" "$N" "$CG_N1" "$CG_N2" >"$out/ab.md" <<'EOF'
import sys, statistics as st
log, cg, base, new, n, n1, n2 = sys.argv[1:]
t = {}
for line in open(log):
    r, b, ns = line.split()
    t[(int(r), b)] = float(ns)
R = sorted({r for r, _ in t})
ratios = [t[(r, "new")] / t[(r, "base")] for r in R]
m = st.median(ratios)
print(f"\n### No cost when unused: plain jobs, {new} (new) against {base} (base)\n")
print(f"`workcrew, W=2` of bench/src/main.rs: {n} plain jobs per run (no policy set), each run a fresh process, builds alternating (which goes first alternates).\n")
print("| round | base ns/job | new ns/job | new / base |")
print("|---:|---:|---:|---:|")
for r, x in zip(R, ratios):
    print(f"| {r} | {t[(r, 'base')]:.1f} | {t[(r, 'new')]:.1f} | {x:.3f} |")
print(f"\nMedian ratio {m:.3f}× (range {min(ratios):.3f}–{max(ratios):.3f}); median ns/job base {st.median(t[(r, 'base')] for r in R):.1f}, new {st.median(t[(r, 'new')] for r in R):.1f}.")
print(f"#T\tno cost when unused: plain jobs, time per job new / base ({len(R)} rounds)\t{m:.3f}× (range {min(ratios):.3f}–{max(ratios):.3f})\t≤ 1.03×\t{'PASS' if m <= 1.03 else 'MISS'}")
rows = [line.split() for line in open(cg)]
if rows:
    per = {"base": [], "new": []}
    print(f"\nCallgrind (all threads): instructions per job = (Ir of {n2} jobs − Ir of {n1} jobs) / {int(n2) - int(n1)}\n")
    print("| build | rep | Ir, N1 | Ir, N2 | per job |")
    print("|---|---:|---:|---:|---:|")
    for b, rep, i1, i2 in rows:
        x = (int(i2) - int(i1)) / (int(n2) - int(n1))
        per[b].append(x)
        print(f"| {b} | {rep} | {int(i1):,} | {int(i2):,} | {x:.1f} |")
    mb, mn = st.median(per["base"]), st.median(per["new"])
    print(f"\nMedian instructions per job: base {mb:.1f}, new {mn:.1f}: {mn / mb:.3f}×.")
    print(f"#T\tno cost when unused: instructions per plain job (callgrind) new / base\t{mn:.0f} / {mb:.0f} = {mn / mb:.3f}×\t≤ 1.03×\t{'PASS' if mn / mb <= 1.03 else 'MISS'}")
EOF
grep -v '^#T' "$out/ab.md"

# 5 -----------------------------------------------------------------------------------------------
: >"$out/browser.md"
if [ -z "${SKIP_BROWSER:-}" ]; then
  source .ci/tools.sh
  ensure_chromium
  [ -d bench/browser/node_modules ] || (cd bench/browser && npm ci --no-audit --no-fund)
  # The page and its runner run in the snapshot's tree, with its www/pkg (built from NEW).
  tree=target/policies/tree-$new_sha
  if [ ! -f "$tree/www/pkg/index.js" ]; then
    (cd "$tree" && bash www/build.sh >&2)
  fi
  mkdir -p "$tree/bench/browser"
  cp bench/browser/hedge.html bench/browser/hedge.mjs bench/browser/hedge.run.mjs "$tree/bench/browser/"
  rm -rf "$tree/bench/browser/node_modules"
  ln -s "$root/bench/browser/node_modules" "$tree/bench/browser/node_modules"
  (cd "$tree" && ROUNDS=${BROWSER_ROUNDS:-5} JOBS=${BROWSER_JOBS:-400} node bench/browser/hedge.run.mjs) | tee "$out/browser.md" | grep -v '^#T' || true
fi

# The table ---------------------------------------------------------------------------------------
echo -e "\n### The targets, on $new_sha\n"
echo "| target | measured | limit | |"
echo "|---|---|---|---|"
cat "$out/native.md" "$out/ab.md" "$out/browser.md" | grep '^#T' | awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5 }'
if [ -n "${SKIP_BROWSER:-}" ]; then
  echo "| hedging in the browser | not run (SKIP_BROWSER) | | |"
elif ! grep -q '^#T' "$out/browser.md"; then
  echo "| hedging in the browser | not measured: see above | | |"
fi

#!/usr/bin/env bash
# The native targets of the scheduler (issue 18), from one run: the same benchmark (bench/src)
# built against the code before the scheduler (BASE, default 27a47d0) and against the new code
# (NEW, default HEAD), each from its own snapshot of the commit, run alternately.
#
#   bash bench/ab.sh                      ROUNDS=7 N=1000000 WAITS=1000 by default
#   ROUNDS=3 N=300000 SKIP_WAITING=1 bash bench/ab.sh        (quicker)
#   EXP_PATCH=bench/proposals/sched-wake-baton.patch bash bench/ab.sh
#       a third build, NEW with the patch applied (a proposal for the core), in the same rounds
#
# Each round runs, each in a fresh process: plain W=2 on both builds (which goes first
# alternates), plain W=8 on both (informational), then the new build's plain, async-executor,
# 8 random priorities and 16 keys with per_key(2) in one process (their order rotates), so every
# ratio is taken within one round. Reported: every round, and the median of each time and of
# each round's ratio. Then the waiting submitter on both builds (1 worker, queue 100, 10 ms jobs).
#
# The snapshots are `git archive` copies under target/ab/ (committed code only: another
# helper's uncommitted edits in src/ are not measured); the bench copies point their
# `workcrew = { path = ... }` at them and build into target/bench/ab-*. The base build has no
# Job::priority or Job::key, so it is built without the bench's `sched` feature.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BASE=${BASE:-27a47d0}
NEW=${NEW:-HEAD}
ROUNDS=${ROUNDS:-7}
export N=${N:-1000000}
base_sha=$(git rev-parse --short "$BASE")
new_sha=$(git rev-parse --short "$NEW")

# snapshot NAME SHA FEATURES: prints the path of the bench binary built against SHA.
snapshot() {
  local name=$1 sha=$2 features=$3
  local tree=target/ab/$name-$sha bench=target/ab/$name-$sha-bench
  if [ ! -f "$tree/Cargo.toml" ] || [ "$name" = exp ]; then
    rm -rf "$tree" && mkdir -p "$tree"
    git archive "$sha" | tar -x -C "$tree"
    if [ "$name" = exp ]; then patch -s -p1 -d "$tree" <"$EXP_PATCH" >&2; fi
  fi
  rm -rf "$bench" && mkdir -p "$bench/src"
  cp bench/src/main.rs "$bench/src/"
  cp bench/Cargo.lock "$bench/"
  sed "s|^workcrew = { path = \"..\" }|workcrew = { path = \"../$name-$sha\" }|" bench/Cargo.toml >"$bench/Cargo.toml"
  grep -q "path = \"../$name-$sha\"" "$bench/Cargo.toml"
  (cd "$bench" && cargo build --quiet --release $features --target-dir "$root/target/bench/ab-$name" >&2)
  echo "$root/target/bench/ab-$name/release/workcrew-bench"
}

echo "building the bench against $BASE ($base_sha) and $NEW ($new_sha)" >&2
base_bin=$(snapshot base "$base_sha" --no-default-features)
new_bin=$(snapshot new "$new_sha" "")
builds=(base new)
if [ -n "${EXP_PATCH:-}" ]; then
  EXP_PATCH=$(realpath "$EXP_PATCH")
  exp_bin=$(snapshot exp "$new_sha" "")
  builds=(base new exp)
fi
bin_of() { case $1 in base) echo "$base_bin" ;; new) echo "$new_bin" ;; exp) echo "$exp_bin" ;; esac; }

log=target/ab/rounds-$base_sha-$new_sha.tsv
: >"$log"
# run ROUND BUILD BIN VARIANT...: one process, its lines "ROUND BUILD VARIANT ns" into the log.
run() {
  local round=$1 build=$2 bin=$3
  shift 3
  "$bin" once "$@" | while IFS=$'\t' read -r variant ns; do
    printf '%s\t%s\t%s\t%s\n' "$round" "$build" "$variant" "$ns" | tee -a "$log" >&2
  done
}

mix=("workcrew, W=2" "async-executor (2 threads)" "workcrew, 8 random priorities, W=2"
  "workcrew, 16 keys, per_key(2), W=2")
echo "$N jobs per run, $ROUNDS rounds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$ROUNDS"); do
  for w in 2 8; do
    # Which build goes first rotates from round to round.
    nb=${#builds[@]}
    for j in $(seq 0 $((nb - 1))); do
      b=${builds[$(((j + r) % nb))]}
      run "$r" "$b" "$(bin_of "$b")" "workcrew, W=$w"
    done
  done
  k=$(((r - 1) % ${#mix[@]}))
  run "$r" mix "$new_bin" "${mix[@]:k}" "${mix[@]:0:k}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$log" "$base_sha" "$new_sha" "$ROUNDS" "$N" "${EXP_PATCH:-}" <<'EOF'
import sys, statistics as st
log, base, new, rounds, n, exp = sys.argv[1:]
t = {}
for line in open(log):
    r, build, variant, ns = line.rstrip("\n").split("\t")
    t[(int(r), build, variant)] = float(ns)
R = range(1, int(rounds) + 1)
med = lambda xs: st.median(xs)
def ratio(a, b):
    return [t[(r,) + a] / t[(r,) + b] for r in R]
rows = [
    ("plain W=2: new / base", ("new", "workcrew, W=2"), ("base", "workcrew, W=2"), 1.05, "<="),
    ("plain W=2: new / async-executor (2 threads)", ("mix", "workcrew, W=2"), ("mix", "async-executor (2 threads)"), 1.0, "<="),
    ("8 random priorities / plain, W=2 (new)", ("mix", "workcrew, 8 random priorities, W=2"), ("mix", "workcrew, W=2"), 1.3, "<="),
    ("16 keys, per_key(2) / plain, W=2 (new)", ("mix", "workcrew, 16 keys, per_key(2), W=2"), ("mix", "workcrew, W=2"), 1.3, "<="),
    ("(plain W=8: new / base)", ("new", "workcrew, W=8"), ("base", "workcrew, W=8"), None, ""),
]
if exp:
    rows += [
        ("(plain W=2: new + patch / base)", ("exp", "workcrew, W=2"), ("base", "workcrew, W=2"), None, ""),
        ("(plain W=8: new + patch / base)", ("exp", "workcrew, W=8"), ("base", "workcrew, W=8"), None, ""),
        ("(plain W=2: new + patch / new)", ("exp", "workcrew, W=2"), ("new", "workcrew, W=2"), None, ""),
    ]
print(f"\n### Native A/B: {new} (new) against {base} (base), {n} jobs per run, {rounds} rounds\n")
print("| round | " + " | ".join(f"{b} {v}" for b, v in [("base", "W=2"), ("new", "W=2"), ("base", "W=8"), ("new", "W=8")]) + " | new: plain | async-executor | 8 priorities | 16 keys |")
print("|---:|" + "---:|" * 8)
for r in R:
    cells = [t[(r, "base", "workcrew, W=2")], t[(r, "new", "workcrew, W=2")], t[(r, "base", "workcrew, W=8")], t[(r, "new", "workcrew, W=8")],
             t[(r, "mix", "workcrew, W=2")], t[(r, "mix", "async-executor (2 threads)")], t[(r, "mix", "workcrew, 8 random priorities, W=2")], t[(r, "mix", "workcrew, 16 keys, per_key(2), W=2")]]
    print(f"| {r} | " + " | ".join(f"{c:.0f}" for c in cells) + " |")
if exp:
    print("\n| round | new + patch W=2 | new + patch W=8 |\n|---:|---:|---:|")
    for r in R:
        print(f"| {r} | {t[(r, 'exp', 'workcrew, W=2')]:.0f} | {t[(r, 'exp', 'workcrew, W=8')]:.0f} |")
    print(f"\n(new + patch: {new} with {exp.split('/bench/')[-1]} applied)")
print("\n(ns per job; base/new W=2 and W=8 each in its own process, alternating which goes first; the last four in one process of the new build, order rotating)\n")
print("| target | per round | median | |")
print("|---|---|---:|---|")
for name, a, b, lim, op in rows:
    rs = ratio(a, b)
    m = med(rs)
    verdict = "" if lim is None else ("met" if m <= lim else "**missed**") + f" (≤ {lim:g}×)"
    print(f"| {name} | {' '.join(f'{x:.2f}' for x in rs)} | {m:.2f}× | {verdict} |")
EOF

if [ -z "${SKIP_WAITING:-}" ]; then
  echo "the waiting submitter, base then new (about $((${WAITS:-1000} / 100 + 2)) s each)" >&2
  echo -e "\n### The waiting submitter, $base_sha (base)"
  N= "$base_bin" waiting | tail -n +3
  echo -e "\n### The waiting submitter, $new_sha (new)"
  N= "$new_bin" waiting | tail -n +3
fi

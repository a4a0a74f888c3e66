#!/usr/bin/env bash
# Where a plain job's instructions go, by crate and module (callgrind's self cost, every thread),
# for workcrew's pool and the async-channel core (bench/src/bin/channel.rs). Run bench/channel.sh
# first (it builds target/deps/bench/release/channel from a snapshot).
#   bash bench/channel-profile.sh ["workcrew Pool, W=2"] [N]        N = 40000 by default
# Inlined code counts for the function it was inlined into.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-workcrew Pool, W=2}
n=${2:-40000}
out=target/deps/profile.out
N=$n valgrind --tool=callgrind --callgrind-out-file=$out target/deps/bench/release/channel once "$name" >/dev/null 2>target/deps/profile.log
echo "### $name: instructions per job by crate::module (callgrind self cost / $n jobs)"
echo
echo "| crate::module | instructions per job |"
echo "|---|---:|"
callgrind_annotate --auto=no --threshold=100 --inclusive=no "$out" 2>/dev/null | python3 -c '
import re, sys
from collections import defaultdict
by = defaultdict(int)
total = 0
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+?):(.*)$", line)
    if not m:
        continue
    ir, fn = int(m.group(1).replace(",", "")), m.group(3).strip()
    fn = re.sub(r"\s*\[[^\]]*\]$", "", fn).lstrip("<&*_ ")
    parts = [p for p in re.split(r"::", fn) if p]
    key = "::".join(parts[:2]) if parts and parts[0] in ("workcrew", "async_channel", "event_listener", "concurrent_queue", "futures_lite", "atomic_waker", "spin", "channel") else (parts[0] if parts else fn)
    key = re.sub(r"<.*", "", key)
    by[key] += ir
    total += ir
n = int(sys.argv[1])
for k, v in sorted(by.items(), key=lambda kv: -kv[1])[:30]:
    print(f"| {k} | {v / n:.0f} |")
print(f"| (all, including start-up) | {total / n:.0f} |")
' "$n"

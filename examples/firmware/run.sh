#!/usr/bin/env bash
# Builds the firmware for both boards, runs each in QEMU under a time limit, and checks what it
# prints over semihosting and its exit status. Then prints the size figures.
#
#   bash examples/firmware/run.sh
#
# Needs: the thumbv7m-none-eabi and thumbv6m-none-eabi targets, rustup's llvm-tools, and
# qemu-system-arm (Debian: apt-get install qemu-system-arm). `.ci/test` installs them.
set -euo pipefail
cd "$(dirname "$0")"

BOARDS=("thumbv7m-none-eabi lm3s6965evb Cortex-M3" "thumbv6m-none-eabi microbit Cortex-M0")
bin_dir="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host/ { print $2 }')/bin"
failures=0
declare -A figures

run() { # target, features: prints the output, returns QEMU's exit status
  local target=$1 features=$2
  timeout 60 cargo run --quiet --release --locked --target "$target" ${features:+--features "$features"} 2>&1
}

expect() { # name, condition
  if eval "$2"; then echo "  ok: $1"; else echo "  FAILED: $1"; failures=$((failures + 1)); fi
}

for board in "${BOARDS[@]}"; do
  read -r target machine core <<<"$board"
  echo "== $machine ($core, $target)"
  status=0
  out=$(run "$target" "") || status=$?
  echo "$out" | sed 's/^/  | /'
  figures[$target]=$(grep "^figures:" <<<"$out" || true)
  expect "exit status 0" '[ "$status" = 0 ]'
  expect "the verdict" 'grep -q "^verdict: every outcome and the metrics as expected" <<<"$out"'
  expect "the balanced metrics" 'grep -q "^metrics: submitted 8 = succeeded 4 + failed 2 + cancelled 2; retried 3, timed out 2, workers 0" <<<"$out"'
  expect "no panic" '! grep -q "^panic" <<<"$out"'

  echo "== $machine, out of heap on purpose (--features oom)"
  status=0
  out=$(run "$target" oom) || status=$?
  echo "$out" | tail -n 3 | sed 's/^/  | /'
  expect "a failed exit, not a hang" '[ "$status" = 1 ]'
  expect "the allocation failure reported" 'grep -q "memory allocation of [0-9]* bytes failed" <<<"$out"'
done

echo
echo "== sizes (release, opt-level s, LTO)"
echo "| board | flash (text + rodata + data) | workcrew's symbols in .text | static RAM (data + bss) | of which heap | stack high-water |"
echo "|---|---:|---:|---:|---:|---:|"
for board in "${BOARDS[@]}"; do
  read -r target machine core <<<"$board"
  elf="target/$target/release/workcrew-firmware"
  sizes=$("$bin_dir/llvm-size" -A "$elf")
  sect() { awk -v s="$1" '$1 == s { print $2 }' <<<"$sizes"; }
  flash=$(( $(sect .vector_table) + $(sect .text) + $(sect .rodata) + $(sect .data) ))
  ram=$(( $(sect .data) + $(sect .bss) + $(sect .uninit) ))
  ours=$("$bin_dir/llvm-nm" -C --print-size --size-sort --radix=d "$elf" |
    awk '$3 ~ /^[tT]$/ && /workcrew::/ && !/workcrew_firmware::/ { s += $2 } END { print s + 0 }')
  heap=$(grep -o "heap [0-9]* B;" <<<"${figures[$target]}" | awk '{ print $2 }')
  stack=$(grep -o "stack high-water [0-9]* B" <<<"${figures[$target]}" | awk '{ print $3 }')
  echo "| $machine ($core) | $flash B | $ours B | $ram B | $heap B | $stack B |"
done

[ "$failures" = 0 ] || { echo "$failures checks failed"; exit 1; }
echo "firmware: every check passed"

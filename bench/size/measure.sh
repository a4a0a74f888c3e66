#!/usr/bin/env bash
# Prints the code size of a minimal no_std user of workcrew, for thumbv7em-none-eabihf.
#   bash bench/size/measure.sh
set -euo pipefail
cd "$(dirname "$0")"
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
cargo build --quiet --release --target thumbv7em-none-eabihf
lib=target/thumbv7em-none-eabihf/release/libworkcrew_size.a
bin=$(dirname "$(rustc --print target-libdir)")/bin
# The LTO'd object holds workcrew, its dependencies and the parts of core and alloc it uses;
# compiler_builtins members are left out (a firmware links them anyway).
"$bin/llvm-size" -A "$lib" | awk '
  /\(ex / { lto = ($1 ~ /^workcrew_size/); next }
  lto && $1 ~ /^\.text/ { text += $2 }
  lto && $1 ~ /^\.rodata/ { rodata += $2 }
  END { printf "thumbv7em-none-eabihf, minimal user: .text %d bytes, .rodata %d bytes\n", text, rodata }'

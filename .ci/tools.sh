# Installs what the tests and the demo need, when missing. Sourced by .ci/test and www/build.sh.
# Everything comes from the package registries: rustup targets and toolchains, crates.io
# (wasm-pack and the wasm-bindgen-cli that matches Cargo.lock), Debian (chromium,
# chromium-driver, binaryen, valgrind, qemu-system-arm), npm.
#
# Every probe here must survive a missing tool under `set -euo pipefail`: a probe that fails
# stops the script before it installs anything. `.ci/tools-test.sh` runs each `ensure_*` with
# its tool hidden and the installers replaced by recorders, and CI runs it first.

step() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Where `cargo install` puts binaries; on PATH so a tool installed here is found at once.
CARGO_BIN_DIR="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
case ":$PATH:" in *":$CARGO_BIN_DIR:"*) ;; *) PATH="$CARGO_BIN_DIR:$PATH" ;; esac

# Debian's browser and driver; overridable for the installer's own test.
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

has() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  step "apt-get install $*"
  if [ -z "${APT_UPDATED:-}" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_targets() {
  local installed t
  installed=$(rustup target list --installed 2>/dev/null || true)
  for t in "$@"; do
    grep -qx "$t" <<<"$installed" || { step "rustup target add $t"; rustup target add "$t"; }
  done
}

ensure_components() {
  local installed c
  installed=$(rustup component list --installed 2>/dev/null || true)
  for c in "$@"; do
    grep -q "^$c" <<<"$installed" || { step "rustup component add $c"; rustup component add "$c"; }
  done
}

# A toolchain (e.g. the MSRV, or nightly for Miri) with extra components, when missing.
ensure_toolchain() {
  local tc=$1 installed
  shift
  installed=$(rustup toolchain list 2>/dev/null || true)
  if ! grep -q "^$tc" <<<"$installed"; then
    step "rustup toolchain install $tc --profile minimal${*:+ --component $*}"
    rustup toolchain install "$tc" --profile minimal ${*:+--component "$@"}
  elif [ $# -gt 0 ]; then
    installed=$(rustup component list --installed --toolchain "$tc" 2>/dev/null || true)
    local c
    for c in "$@"; do
      grep -q "^$c" <<<"$installed" || { step "rustup component add --toolchain $tc $c"; rustup component add --toolchain "$tc" "$c"; }
    done
  fi
}

# The version of a package locked in Cargo.lock.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# The version a tool prints as `tool X.Y.Z`, or nothing when the tool is missing.
tool_version() {
  has "$1" || return 0
  { "$1" --version 2>/dev/null || true; } | awk '{ print $2; exit }'
}

ensure_wasm_bindgen() {
  local want have
  want=$(locked_version wasm-bindgen)
  have=$(tool_version wasm-bindgen)
  if [ "$have" != "$want" ]; then
    step "cargo install --locked wasm-bindgen-cli --version $want (found: ${have:-none})"
    cargo install --locked --force wasm-bindgen-cli --version "$want"
  fi
}

ensure_wasm_pack() {
  has wasm-pack || { step "cargo install --locked wasm-pack"; cargo install --locked wasm-pack; }
}

ensure_chromium() {
  if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    apt_install chromium chromium-driver
  fi
}

# wasm-opt, for a smaller .wasm; the build works without it.
ensure_wasm_opt() {
  has wasm-opt || apt_install binaryen || echo "(no wasm-opt: building without it)"
}

ensure_valgrind() {
  has valgrind || apt_install valgrind
}

# QEMU's Arm system emulator, for the firmware (examples/firmware).
ensure_qemu_arm() {
  has qemu-system-arm || apt_install qemu-system-arm
}

# Debian's Redis 7 server, for the tests of workcrew-redis (redis/), which start their own;
# openssl makes the certificates of its TLS test.
ensure_redis() {
  { has redis-server && has openssl; } || apt_install redis-server openssl
}

# npm packages of a folder with a package-lock.json, when missing or stale.
ensure_npm_packages() {
  local dir
  for dir in "$@"; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      step "npm ci ($dir)"
      (cd "$dir" && npm ci --no-audit --no-fund)
    fi
  done
}

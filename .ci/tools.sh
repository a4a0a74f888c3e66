# Installs what the tests and the demo need, when missing. Sourced by .ci/test and www/build.sh.
# Everything comes from the package registries: rustup targets, crates.io (wasm-pack and the
# wasm-bindgen-cli that matches Cargo.lock), Debian (chromium, chromium-driver, binaryen), npm.

step() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  step "apt-get install $*"
  if [ -z "${APT_UPDATED:-}" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_targets() {
  local installed t
  installed=$(rustup target list --installed)
  for t in "$@"; do
    grep -qx "$t" <<<"$installed" || { step "rustup target add $t"; rustup target add "$t"; }
  done
}

ensure_components() {
  local c
  for c in "$@"; do
    rustup component list --installed | grep -q "^$c" || { step "rustup component add $c"; rustup component add "$c"; }
  done
}

# The wasm-bindgen version locked in Cargo.lock.
locked_wasm_bindgen() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_bindgen() {
  local want have
  want=$(locked_wasm_bindgen)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')
  if [ "$have" != "$want" ]; then
    step "cargo install --locked wasm-bindgen-cli --version $want (found: ${have:-none})"
    cargo install --locked --force wasm-bindgen-cli --version "$want"
  fi
}

ensure_wasm_pack() {
  command -v wasm-pack >/dev/null || { step "cargo install --locked wasm-pack"; cargo install --locked wasm-pack; }
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver
  fi
}

# wasm-opt, for a smaller .wasm; the build works without it.
ensure_wasm_opt() {
  command -v wasm-opt >/dev/null || apt_install binaryen || echo "(no wasm-opt: building without it)"
}

# npm packages of a folder with a package-lock.json (www, bench/browser), when missing or stale.
ensure_npm_packages() {
  local dir
  for dir in "$@"; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      step "npm ci ($dir)"
      (cd "$dir" && npm ci --no-audit --no-fund)
    fi
  done
}

ensure_valgrind() {
  command -v valgrind >/dev/null || apt_install valgrind
}

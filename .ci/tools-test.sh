#!/usr/bin/env bash
# Tests .ci/tools.sh itself, in a second or two: every `ensure_*` runs with its tool hidden
# (PATH holds only basic utilities and recorders), the installers (rustup, cargo, apt-get, npm,
# sudo) replaced by recorders, and the test asserts the exact install commands that would run.
# Last, `.ci/test`'s own install section runs in the same sandbox (TOOLS_ONLY=1) and must reach
# its end. This is how CI proves the fresh-machine path without a fresh machine.
#
#   bash .ci/tools-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sandbox=$(mktemp -d)
trap 'rm -rf "$sandbox"' EXIT
bin=$sandbox/bin
mkdir -p "$bin"
export LOG=$sandbox/log

# The basic utilities the scripts may use; nothing that is installed by them.
for tool in bash sh awk grep sed cat env id dirname mktemp rm mkdir touch head tail tr wc sort; do
  path=$(command -v "$tool") || { echo "tools-test: $tool not found" >&2; exit 1; }
  ln -s "$path" "$bin/$tool"
done

# A recorder logs its command line; `rustup ... list` prints what the test says is installed.
recorder() {
  cat >"$bin/$1" <<REC
#!$(command -v bash)
case "\$*" in
  "target list --installed") printf '%s\n' \${FAKE_TARGETS:-} ;;
  "component list --installed"*) printf '%s\n' \${FAKE_COMPONENTS:-} ;;
  "toolchain list") printf '%s\n' \${FAKE_TOOLCHAINS:-} ;;
  *) echo "$1 \$*" >>"\$LOG" ;;
esac
REC
  chmod +x "$bin/$1"
}
for r in rustup cargo apt-get npm sudo; do recorder "$r"; done

# A stand-in for an installed tool that prints a version.
fake_tool() { printf '#!%s\necho "%s"\n' "$(command -v bash)" "$2" >"$bin/$1"; chmod +x "$bin/$1"; }

passed=0 failed=0
# check NAME EXPECTED-LOG COMMAND...: runs COMMAND in a fresh shell that sourced tools.sh.
check() {
  local name=$1 want=$2 got
  shift 2
  : >"$LOG"
  if ! (cd "$repo" && PATH=$bin HOME=$sandbox/home CARGO_INSTALL_ROOT= CARGO_HOME= \
    CHROMIUM=$sandbox/no-chromium CHROMEDRIVER=$sandbox/no-chromedriver \
    "$bin/bash" -c 'set -euo pipefail; source .ci/tools.sh; "$@"' _ "$@" >/dev/null 2>&1); then
    echo "FAIL $name: the command stopped with an error"; failed=$((failed + 1)); return
  fi
  got=$(cat "$LOG")
  if [ "$got" = "$want" ]; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    printf 'FAIL %s\n  want: %s\n  got:  %s\n' "$name" "${want//$'\n'/ | }" "${got//$'\n'/ | }"
    failed=$((failed + 1))
  fi
}

msrv=$(cd "$repo" && awk -F'"' '/^rust-version/ { print $2; exit }' Cargo.toml)
wb=$(cd "$repo" && awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
apt="apt-get install -y -qq"
# As root the installer runs apt-get directly; otherwise through sudo, which the recorder logs.
if [ "$(id -u)" = 0 ]; then pre=""; else pre="sudo "; fi

check "targets: both missing" "rustup target add a
rustup target add b" ensure_targets a b
FAKE_TARGETS=a check "targets: one installed" "rustup target add b" ensure_targets a b
FAKE_COMPONENTS="clippy-x86_64" check "components" "rustup component add rustfmt" \
  ensure_components rustfmt clippy
check "toolchain missing" "rustup toolchain install 1.81 --profile minimal" ensure_toolchain 1.81
check "toolchain with a component" "rustup toolchain install nightly --profile minimal --component miri" \
  ensure_toolchain nightly miri
FAKE_TOOLCHAINS="nightly-x86_64" check "toolchain present, component missing" \
  "rustup component add --toolchain nightly miri" ensure_toolchain nightly miri
check "wasm-bindgen missing" "cargo install --locked --force wasm-bindgen-cli --version $wb" \
  ensure_wasm_bindgen
fake_tool wasm-bindgen "wasm-bindgen 0.0.1"
check "wasm-bindgen of another version" \
  "cargo install --locked --force wasm-bindgen-cli --version $wb" ensure_wasm_bindgen
fake_tool wasm-bindgen "wasm-bindgen $wb"
check "wasm-bindgen of the locked version" "" ensure_wasm_bindgen
rm "$bin/wasm-bindgen"
check "wasm-pack missing" "cargo install --locked wasm-pack" ensure_wasm_pack
check "chromium missing" "${pre}apt-get update -qq
${pre}$apt chromium chromium-driver" ensure_chromium
check "valgrind missing" "${pre}apt-get update -qq
${pre}$apt valgrind" ensure_valgrind
check "qemu-system-arm missing" "${pre}apt-get update -qq
${pre}$apt qemu-system-arm" ensure_qemu_arm
check "redis-server missing" "${pre}apt-get update -qq
${pre}$apt redis-server openssl" ensure_redis
fake_tool redis-server "Redis server v=7.0.15"
check "redis-server present, openssl missing" "${pre}apt-get update -qq
${pre}$apt redis-server openssl" ensure_redis
fake_tool openssl "OpenSSL 3.0.17"
check "redis-server and openssl present" "" ensure_redis
rm "$bin/redis-server" "$bin/openssl"
check "wasm-opt missing" "${pre}apt-get update -qq
${pre}$apt binaryen" ensure_wasm_opt
mkdir -p "$sandbox/npmdir"
touch "$sandbox/npmdir/package-lock.json"
check "npm packages missing" "npm ci --no-audit --no-fund" ensure_npm_packages "$sandbox/npmdir"
mkdir -p "$sandbox/npmdir/node_modules"
check "npm packages present" "" ensure_npm_packages "$sandbox/npmdir"
touch -d '+1 minute' "$sandbox/npmdir/package-lock.json"
check "npm packages stale" "npm ci --no-audit --no-fund" ensure_npm_packages "$sandbox/npmdir"

# The real install section of the test command, on a machine that has none of the tools.
: >"$LOG"
if (cd "$repo" && PATH=$bin HOME=$sandbox/home CARGO_INSTALL_ROOT= CARGO_HOME= TOOLS_ONLY=1 \
  CHROMIUM=$sandbox/no-chromium CHROMEDRIVER=$sandbox/no-chromedriver \
  "$bin/bash" .ci/test >/dev/null 2>&1); then
  for want in "rustup target add wasm32-unknown-unknown" "cargo install --locked wasm-pack" \
    "wasm-bindgen-cli --version $wb" "apt-get install -y -qq chromium chromium-driver" \
    "apt-get install -y -qq valgrind" "apt-get install -y -qq qemu-system-arm" \
    "apt-get install -y -qq redis-server openssl" \
    "rustup target add thumbv7m-none-eabi" "rustup component add llvm-tools" \
    "rustup toolchain install $msrv --profile minimal" \
    "rustup toolchain install nightly --profile minimal"; do
    # (npm ci runs only where node_modules is missing: checked above, not here, since this
    # checkout may have them.)
    if grep -qF -- "$want" "$LOG"; then
      echo "ok   .ci/test installs: $want"; passed=$((passed + 1))
    else
      echo "FAIL .ci/test installs: $want (not in: $(tr '\n' '|' <"$LOG"))"; failed=$((failed + 1))
    fi
  done
else
  echo "FAIL .ci/test's install section stopped with an error on a machine without the tools"
  failed=$((failed + 1))
fi

echo "tools-test: $passed passed, $failed failed"
[ "$failed" = 0 ]

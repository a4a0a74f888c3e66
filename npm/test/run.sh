#!/usr/bin/env bash
# The npm package, tested as a user gets it: build it, `npm pack` it, install the tarball into a
# fresh temporary project, then run the same checks (checks.mjs) in Node and, bundled by esbuild,
# in a page in Chromium; both with gc() exposed, for the memory checks (pools collected).
#
#   bash npm/test/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/tools.sh
ensure_npm_packages npm/test
bash npm/build.sh target/npm/workcrew

step "npm pack"
rm -f target/npm/workcrew-*.tgz
(cd target/npm/workcrew && npm pack --silent --pack-destination ..)
tarball=$(ls "$PWD"/target/npm/workcrew-*.tgz)
echo "$tarball: $(wc -c <"$tarball") bytes"
listing=$(tar -tzf "$tarball")
sed 's/^/  /' <<<"$listing"
# From a variable: `tar | grep -q` fails under pipefail when grep exits before tar has written all.
for f in LICENSE-MIT LICENSE-APACHE; do
  grep -qx "package/$f" <<<"$listing" || { echo "the npm package lacks $f" >&2; exit 1; }
done

project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
step "npm install the tarball into a fresh project ($project)"
printf '{ "name": "try-workcrew", "private": true, "type": "module" }\n' >"$project/package.json"
(cd "$project" && npm install --silent --no-audit --no-fund "$tarball")
cp npm/test/checks.mjs npm/test/policies.mjs npm/test/node-check.mjs npm/test/page.js "$project/"

step "Node $(node --version): the checks against the installed package"
(cd "$project" && node --expose-gc node-check.mjs)

step "esbuild bundles a page that imports the package; Chromium runs the checks"
mkdir -p "$project/dist"
npm/test/node_modules/.bin/esbuild "$project/page.js" --bundle --format=esm --platform=browser \
  --log-level=warning --outfile="$project/dist/page.js"
cp "$project/node_modules/workcrew/workcrew_core_bg.wasm" "$project/dist/"
printf '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>\n' \
  >"$project/dist/index.html"
(cd npm/test && node browser-check.mjs "$project/dist")

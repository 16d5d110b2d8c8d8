#!/usr/bin/env bash
# SDK benchmark (not a test): the gzip size of what an app loads, and the time
# to fetch, parse and page a 1,000-entry searchset, @flare/smart vs fhirclient
# 2.6.3, bundled and minified by the repository's esbuild, in the same headless
# Chromium. fhirclient is installed from npm into target/sdk-bench/ (not into
# the repository's lock file: its optional react-native/expo tree is large).
# Figures go to stdout and target/sdk-bench/.
#   scripts/bench-sdk.sh [RUNS]      (default 30 timed runs per case)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bench-sdk] %s\n' "$*" >&2; }
runs=${1:-30}
out=${CARGO_TARGET_DIR:-target}/sdk-bench
mkdir -p "$out"

[ -f pkg/dist/flare_sdk_bg.wasm ] || scripts/build-sdk.sh
esbuild=node_modules/.bin/esbuild
fhirclient_version=2.6.3
if [ ! -f "$out/fhirclient/node_modules/fhirclient/package.json" ]; then
  log "npm install fhirclient@$fhirclient_version into $out/fhirclient"
  npm install --prefix "$out/fhirclient" --no-save --no-package-lock --omit=optional --no-audit --no-fund \
    "fhirclient@$fhirclient_version" >&2
fi
# esbuild finds fhirclient through NODE_PATH.
export NODE_PATH="$PWD/$out/fhirclient/node_modules"
case "$out" in /*) NODE_PATH="$out/fhirclient/node_modules" ;; esac
gz() { gzip -9c "$1" | wc -c; }

log "sizes (esbuild --bundle --minify, gzip -9)"
# Entries on stdin: esbuild resolves them from the repository root.
echo 'export * from "@flare/smart";' | "$esbuild" --bundle --minify --format=esm --platform=browser \
  --alias:@flare/smart=./pkg/index.js --outfile="$out/sdk.min.js" --log-level=warning
echo 'export { default } from "fhirclient";' | "$esbuild" --bundle --minify --format=esm --platform=browser \
  --outfile="$out/fhirclient.min.js" --log-level=warning
sdk_js=$(gz "$out/sdk.min.js"); sdk_wasm=$(gz pkg/dist/flare_sdk_bg.wasm)
fc_js=$(gz "$out/fhirclient.min.js")
fc_version=$(node -p "require('$NODE_PATH/fhirclient/package.json').version")
printf '%-44s %8s %8s\n' "what an app loads" "raw B" "gzip B"
printf '%-44s %8s %8s\n' "@flare/smart JS (bundled, minified)" "$(wc -c < "$out/sdk.min.js")" "$sdk_js"
printf '%-44s %8s %8s\n' "@flare/smart wasm" "$(wc -c < pkg/dist/flare_sdk_bg.wasm)" "$sdk_wasm"
printf '%-44s %8s %8s\n' "@flare/smart total" "" "$((sdk_js + sdk_wasm))"
printf '%-44s %8s %8s\n' "fhirclient $fc_version (bundled, minified)" "$(wc -c < "$out/fhirclient.min.js")" "$fc_js"
for f in "$NODE_PATH"/fhirclient/build/fhir-client.min.js "$NODE_PATH"/fhirclient/dist/build/fhir-client.min.js; do
  [ -f "$f" ] && printf '%-44s %8s %8s\n' "fhirclient browser build ($(basename "$f"))" "$(wc -c < "$f")" "$(gz "$f")"
done

log "paging benchmark page"
mkdir -p "$out/page/dist"
"$esbuild" scripts/bench/sdk/bench.js --bundle --minify --format=esm --platform=browser \
  --alias:@flare/smart=./pkg/index.js --outfile="$out/page/bench.js" --log-level=warning
cp pkg/dist/flare_sdk_bg.wasm "$out/page/dist/"
printf '<!doctype html><meta charset="utf-8"><title>SDK bench</title><script type="module" src="bench.js"></script>\n' \
  > "$out/page/index.html"
node scripts/bench/sdk/run.mjs "$out/page" "$runs" | tee "$out/paging.json"

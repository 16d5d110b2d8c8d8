#!/usr/bin/env bash
# SDK benchmark (not a test, not part of .ci/run): @flare/smart vs fhirclient 2.6.3.
#   scripts/bench-sdk.sh [RUNS]      (default 30 timed runs per case)
# Prints, and writes as JSON into target/sdk-bench/:
#   1. sizes.json   gzip (-9) and brotli (11) bytes of what an app loads (the SDK's
#                   bundled JS + its wasm; fhirclient bundled the same way), and the
#                   target: JS + wasm <= 64 KB gzip, PASS/FAIL;
#   2. wasm.json    where the wasm goes: its sections, the top items (twiggy) and the
#                   code bytes per crate (flare_sdk, flare_core, core, core::fmt, alloc,
#                   std, wasm_bindgen, …) from a copy of the same build with its name section;
#   3. launch.json  a real SMART launch of each SDK against a local SMART server
#                   (scripts/bench/sdk/smart-server.mjs): on the redirect page, ms from
#                   navigation start to ready() resolved and to the first search rendered,
#                   median / p90, both SDKs alternating in one headless Chromium;
#   4. paging.json  fetch, parse and page a 1,000-entry searchset (in-memory responses);
#   and all.json    the four together with the git commit, date and machine load.
# It rebuilds pkg/ first (scripts/build-sdk.sh; BENCH_SDK_NO_BUILD=1 uses pkg/dist as it is),
# installs twiggy 0.8.0 from crates.io into target/tools/ when missing (about 80 s on
# 2 cores) and fhirclient@2.6.3 from npm into target/sdk-bench/fhirclient/ (kept out of
# the repository's lock file: its optional react-native/expo tree is large).
# Needs: scripts/setup.sh done (cargo, wasm-bindgen, npm ci, Debian chromium), python3.
# BENCH_SDK_ONLY=launch|paging runs one browser part; CHROMIUM overrides /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bench-sdk] %s\n' "$*" >&2; }
runs=${1:-30}
case "$runs" in '' | *[!0-9]* | 0) echo "usage: scripts/bench-sdk.sh [RUNS]  (RUNS a positive integer)" >&2; exit 2 ;; esac
target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/sdk-bench
mkdir -p "$out"
out=$(cd "$out" && pwd)
bench=scripts/bench/sdk
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ build
if [ "${BENCH_SDK_NO_BUILD:-}" = 1 ]; then
  [ -f pkg/dist/flare_sdk_bg.wasm ] || { log "BENCH_SDK_NO_BUILD=1 but pkg/dist is not built"; exit 1; }
  log "using pkg/dist as it is (BENCH_SDK_NO_BUILD=1)"
else
  scripts/build-sdk.sh
fi
wasm=pkg/dist/flare_sdk_bg.wasm

# The same build kept with its name section, for the per-crate figures: the cargo
# command of build-sdk.sh (already built, so nothing is compiled again) and
# wasm-bindgen --keep-debug. wasm_sizes.py checks its code equals the shipped wasm.
log "names copy: wasm-bindgen --keep-debug of the same cargo build"
cargo build --quiet -p flare-sdk --lib --features npm --target wasm32-unknown-unknown --profile sdk
rm -rf "$out/names"
wasm-bindgen --target web --keep-debug --out-dir "$out/names" "$target_dir/wasm32-unknown-unknown/sdk/flare_sdk.wasm"

# ------------------------------------------------------------------ tools
twiggy_version=0.8.0
twiggy=$target_dir/tools/bin/twiggy
if [ "$("$twiggy" --version 2>/dev/null | awk '{print $NF}')" != "$twiggy_version" ]; then
  log "installing twiggy $twiggy_version from crates.io into $target_dir/tools (once; about 80 s on 2 cores)"
  t0=$(date +%s)
  if cargo install --quiet --locked --version "$twiggy_version" --root "$target_dir/tools" twiggy >&2; then
    log "twiggy installed in $(($(date +%s) - t0)) s"
  else
    log "twiggy could not be installed: the per-crate figures come from wasm_sizes.py's own reading of the name section"
  fi
fi

fhirclient_version=2.6.3
if [ "$(node -p "try { require('$out/fhirclient/node_modules/fhirclient/package.json').version } catch { '' }")" != "$fhirclient_version" ]; then
  log "npm install fhirclient@$fhirclient_version into $out/fhirclient"
  npm install --prefix "$out/fhirclient" --no-save --no-package-lock --omit=optional --no-audit --no-fund \
    "fhirclient@$fhirclient_version" >&2
fi
# esbuild finds fhirclient through NODE_PATH.
export NODE_PATH="$out/fhirclient/node_modules"

# ------------------------------------------------------------------ bundles
# Both SDKs bundled and minified by the repository's esbuild, as an app's build would.
esbuild() { node_modules/.bin/esbuild --bundle --minify --format=esm --platform=browser \
  --alias:@flare/smart=./pkg/index.js --log-level=warning "$@"; }
log "bundles (esbuild --bundle --minify --format=esm --platform=browser)"
# Entries on stdin: esbuild resolves them from the repository root.
echo 'export * from "@flare/smart";' | esbuild --outfile="$out/sdk.min.js"
echo 'export { default } from "fhirclient";' | esbuild --outfile="$out/fhirclient.min.js"
www=$out/www
rm -rf "$www"
mkdir -p "$www/flare/dist" "$www/fhirclient" "$www/paging/dist"
page() { printf '<!doctype html><meta charset="utf-8"><title>%s</title><script type="module" src="%s"></script>\n' "$1" "$2"; }
esbuild "$bench/app-flare.js" --outfile="$www/flare/app.js"
esbuild "$bench/app-fhirclient.js" --outfile="$www/fhirclient/app.js"
esbuild "$bench/bench.js" --outfile="$www/paging/bench.js"
cp "$wasm" "$www/flare/dist/"
cp "$wasm" "$www/paging/dist/"
page "@flare/smart launch" app.js > "$www/flare/index.html"
page "fhirclient launch" app.js > "$www/fhirclient/index.html"
page "SDK paging bench" bench.js > "$www/paging/index.html"

# ------------------------------------------------------------------ 1. sizes
fc_build=
for f in "$NODE_PATH"/fhirclient/build/fhir-client.min.js "$NODE_PATH"/fhirclient/dist/build/fhir-client.min.js; do
  [ -f "$f" ] && fc_build=$f && break
done
node "$bench/sizes.mjs" "$out/sizes.json" "$out/sdk.min.js" "$wasm" "$out/fhirclient.min.js" $fc_build

# ------------------------------------------------------------------ 2. where the wasm goes
twiggy_json=()
if [ -x "$twiggy" ]; then
  "$twiggy" top -f json -o "$out/twiggy-top.json" "$out/names/flare_sdk_bg.wasm"
  twiggy_json=(--twiggy "$out/twiggy-top.json")
fi
python3 "$bench/wasm_sizes.py" --shipped "$wasm" --names "$out/names/flare_sdk_bg.wasm" "${twiggy_json[@]}" \
  --top 20 --json "$out/wasm.json"

# ------------------------------------------------------------------ 3. launch and 4. paging (Chromium)
rm -f "$out/launch.json" "$out/paging.json"
node "$bench/run.mjs" "$www" "$out" "$runs"

# ------------------------------------------------------------------ all.json
node - "$out" "$runs" "$load_before" <<'EOF'
const [out, runs, loadBefore] = process.argv.slice(2);
const fs = require("node:fs"), os = require("node:os"), { execSync } = require("node:child_process");
const read = (f) => (fs.existsSync(`${out}/${f}`) ? JSON.parse(fs.readFileSync(`${out}/${f}`, "utf8")) : null);
const git = (c) => { try { return execSync(`git ${c}`, { encoding: "utf8" }).trim(); } catch { return null; } };
const all = {
  date: new Date().toISOString(), commit: git("rev-parse HEAD"), dirty: git("status --porcelain -- sdk core pkg") !== "",
  runs: +runs, machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, loadavgBefore: loadBefore,
    loadavgAfter: os.loadavg().map((x) => x.toFixed(2)).join(" "), node: process.version },
  sizes: read("sizes.json"), wasm: read("wasm.json"), launch: read("launch.json"), paging: read("paging.json"),
};
fs.writeFileSync(`${out}/all.json`, JSON.stringify(all, null, 2) + "\n");
console.log(`\nload average before ${loadBefore}, after ${all.machine.loadavgAfter} (${all.machine.cpus} cores); ` +
  `JSON in ${out}/{sizes,wasm,launch,paging,all}.json`);
EOF

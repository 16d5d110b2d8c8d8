#!/usr/bin/env bash
# Builds the npm package in pkg/: the SDK crate for wasm32 with the `npm`
# feature (the wasm-bindgen exports of the JavaScript API, sdk/src/npm)
# (profile `sdk`: opt-level z, LTO, one codegen unit, panic=abort),
# wasm-bindgen (--target web, name section removed) into pkg/dist (the glue
# pkg/index.js imports), then the TypeScript declarations of the API, the
# search parameters (from the registry) and resources (from the FHIR R4
# StructureDefinitions); then the example Rust web app (sdk/examples/rust_app.rs,
# same profile, without `npm`) with wasm-bindgen and its page into
# target/sdk-rust-app. Uses only tools scripts/setup.sh installs from the registries.
#   scripts/build-sdk.sh            build pkg/dist and target/sdk-rust-app
#   scripts/build-sdk.sh --pack     also `npm pack` into target/sdk-pack/
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[build-sdk] %s\n' "$*" >&2; }

target_dir=${CARGO_TARGET_DIR:-target}
out=pkg/dist
rm -rf "$out"
mkdir -p "$out"

log "cargo build -p flare-sdk --features npm --target wasm32-unknown-unknown --profile sdk"
cargo build -p flare-sdk --lib --features npm --target wasm32-unknown-unknown --profile sdk
wasm="$target_dir/wasm32-unknown-unknown/sdk/flare_sdk.wasm"

log "wasm-bindgen --target web"
wasm-bindgen --target web --out-dir "$out" --remove-name-section --remove-producers-section "$wasm"

# No wasm-opt: measured with npm binaryen@132 -Oz it shrinks the raw wasm by 12 %
# but the gzip transfer grows by 2 % (see /work/notes/sdk-bench.md).
# The glue's own declarations are internal (index.js is the API; its types
# are dist/smart.d.ts, written below).
rm -f "$out/flare_sdk_bg.wasm.d.ts" "$out/flare_sdk.d.ts"

log "TypeScript declarations (flare-sdk-dts): API, search parameters, resources"
cargo run --quiet -p flare-sdk --bin flare-sdk-dts -- "$out"

wasm_gz=$(gzip -9c "$out/flare_sdk_bg.wasm" | wc -c)
js_gz=$(cat "$out/flare_sdk.js" pkg/index.js | gzip -9c | wc -c)
log "pkg/dist: wasm $(wc -c < "$out/flare_sdk_bg.wasm") B ($wasm_gz B gzip), JS ($js_gz B gzip)"

# The example Rust web app (sdk/examples/rust_app.rs: the crate without `npm`,
# its own page and no JavaScript of its own), run in Chromium by tests/sdk/main.rs.
app_out=target/sdk-rust-app
log "cargo build -p flare-sdk --example rust_app --target wasm32-unknown-unknown --profile sdk"
cargo build -p flare-sdk --example rust_app --target wasm32-unknown-unknown --profile sdk
rm -rf "$app_out"
mkdir -p "$app_out"
log "wasm-bindgen --target web (rust_app) into $app_out"
wasm-bindgen --target web --out-dir "$app_out" --no-typescript --remove-name-section --remove-producers-section \
  "$target_dir/wasm32-unknown-unknown/sdk/examples/rust_app.wasm"
cp sdk/examples/rust_app/index.html "$app_out/"
app_wasm_gz=$(gzip -9c "$app_out/rust_app_bg.wasm" | wc -c)
app_js_gz=$(gzip -9c "$app_out/rust_app.js" | wc -c)
log "$app_out: wasm $(wc -c < "$app_out/rust_app_bg.wasm") B ($app_wasm_gz B gzip), JS glue ($app_js_gz B gzip)"

if [ "${1:-}" = "--pack" ]; then
  mkdir -p "$target_dir/sdk-pack"
  dest=$(cd "$target_dir/sdk-pack" && pwd)
  (cd pkg && npm pack --silent --pack-destination "$dest") >&2
  ls "$dest"/*.tgz >&2
fi

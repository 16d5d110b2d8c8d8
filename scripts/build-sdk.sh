#!/usr/bin/env bash
# Builds the npm package in pkg/: the SDK crate for wasm32 (profile `sdk`:
# opt-level z, LTO, one codegen unit, panic=abort), wasm-bindgen (--target web,
# name section removed) into pkg/dist, then the TypeScript declarations of the
# search parameters (from the registry) and resources (from the US Core
# examples). Uses only tools scripts/setup.sh installs from the registries.
#   scripts/build-sdk.sh            build pkg/dist
#   scripts/build-sdk.sh --pack     also `npm pack` into target/sdk-pack/
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[build-sdk] %s\n' "$*" >&2; }

target_dir=${CARGO_TARGET_DIR:-target}
out=pkg/dist
rm -rf "$out"
mkdir -p "$out"

log "cargo build -p flare-sdk --target wasm32-unknown-unknown --profile sdk"
cargo build -p flare-sdk --lib --target wasm32-unknown-unknown --profile sdk
wasm="$target_dir/wasm32-unknown-unknown/sdk/flare_sdk.wasm"

log "wasm-bindgen --target web"
wasm-bindgen --target web --out-dir "$out" --remove-name-section --remove-producers-section "$wasm"

# No wasm-opt: measured with npm binaryen@132 -Oz it shrinks the raw wasm by 12 %
# but the gzip transfer grows by 2 % (see /work/notes/sdk-bench.md).
rm -f "$out/flare_sdk_bg.wasm.d.ts"
# wasm-bindgen declares `[Symbol.dispose]()` on classes: make the declaration
# file load the lib that defines it, so apps compiling with an ES2022 lib and
# without skipLibCheck still type-check.
sed -i '1i /// <reference lib="esnext.disposable" />' "$out/flare_sdk.d.ts"

log "TypeScript declarations (flare-sdk-dts)"
cargo run --quiet -p flare-sdk --bin flare-sdk-dts -- "$out"

wasm_gz=$(gzip -9c "$out/flare_sdk_bg.wasm" | wc -c)
js_gz=$(cat "$out/flare_sdk.js" pkg/index.js | gzip -9c | wc -c)
log "pkg/dist: wasm $(wc -c < "$out/flare_sdk_bg.wasm") B ($wasm_gz B gzip), JS ($js_gz B gzip)"

if [ "${1:-}" = "--pack" ]; then
  mkdir -p "$target_dir/sdk-pack"
  dest=$(cd "$target_dir/sdk-pack" && pwd)
  (cd pkg && npm pack --silent --pack-destination "$dest") >&2
  ls "$dest"/*.tgz >&2
fi

#!/usr/bin/env bash
# Installs what Flare needs, from the package registries only, idempotently:
# the wasm32 target, wasm-bindgen-cli at the exact version in Cargo.lock,
# worker-build, the npm tools from package-lock.json (wrangler, esbuild, and for
# the SDK: typescript, playwright-core), and Debian's chromium + chromium-driver
# for the browser tests.
# Nothing downloads binaries from anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $NF}')" != "$wb_version" ]; then
  log "installing wasm-bindgen-cli $wb_version (the wasm-bindgen version in Cargo.lock)"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

worker_build_version=0.8.7
if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$worker_build_version" ]; then
  log "installing worker-build $worker_build_version"
  cargo install worker-build --version "$worker_build_version" --locked --force
fi

# The SDK's browser tests: wasm-bindgen-test-runner drives chromedriver, the
# end-to-end launch drives chromium through playwright-core.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  log "installing chromium and chromium-driver (Debian)"
  apt-get update >&2
  apt-get install -y chromium chromium-driver >&2
fi

stamp=node_modules/.flare-npm-ci
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
  touch "$stamp"
fi

if [ ! -f edge/.dev.vars ]; then
  log "creating edge/.dev.vars (local secrets) from edge/.dev.vars.example"
  cp edge/.dev.vars.example edge/.dev.vars
fi
if ! command -v openssl >/dev/null; then
  log "installing openssl (generates the local signing key)"
  apt-get install -y openssl >&2
fi
if ! grep -q '^SIGNING_KEY=' edge/.dev.vars; then
  # The RSA key that signs id_tokens: PKCS#8 DER, base64 on one line.
  log "generating a local id_token signing key in edge/.dev.vars"
  printf 'SIGNING_KEY=%s\n' "$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null \
    | openssl pkcs8 -topk8 -nocrypt -outform DER | base64 -w0)" >> edge/.dev.vars
fi

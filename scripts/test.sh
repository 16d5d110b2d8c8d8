#!/usr/bin/env bash
# Runs every Flare test: formatting and lints, the registry check against
# ../shared/reference, native tests (core, edge over SQLite, sdk, synth), the
# SDK build and its browser-platform tests in headless Chromium, and the
# end-to-end suites against a real `wrangler dev` (workerd + local D1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (native and wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p flare-edge --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p flare-sdk --all-targets --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p flare-sdk --all-targets --features npm --target wasm32-unknown-unknown -- -D warnings

step "native tests"
# The generated resource types are type-checked with the repository's tsc
# (npm ci ran in set-up): here a missing tsc fails instead of being skipped.
FLARE_REQUIRE_TSC=1 cargo test --workspace --exclude flare-tests

step "SDK: build pkg/ (scripts/build-sdk.sh)"
scripts/build-sdk.sh

step "SDK: browser platform in headless Chromium (wasm-bindgen-test)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
  WASM_BINDGEN_TEST_TIMEOUT=120 cargo test -p flare-sdk --features npm --target wasm32-unknown-unknown --test browser

step "end-to-end tests against wrangler dev"
cargo test -p flare-tests --test e2e

step "SDK end-to-end: launch against wrangler dev in Chromium, npm pack + tsc + vite"
cargo test -p flare-tests --test sdk
step "developer portal end-to-end: sign-up to launch, approvals and error paths in Chromium"; cargo test -p flare-tests --test portal
step "demo app, EHR simulator and portal end-to-end in Chromium"; cargo test -p flare-tests --test demo

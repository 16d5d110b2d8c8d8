#!/usr/bin/env bash
# Runs every Flare test: formatting and lints, native tests (core, edge over
# SQLite, sdk, synth, and xtask's check of the registry against
# ../shared/reference), the SDK build and its browser-platform tests in headless
# Chromium, and the end-to-end suites against a real `wrangler dev` (workerd +
# local D1). Set-up stays here (it installs cargo tools); the steps are
# `cargo xtask test` (xtask/src/test.rs): `scripts/test.sh --dry-run` lists
# them, `scripts/test.sh --only STEP` runs one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo xtask test "$@"

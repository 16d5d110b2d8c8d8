#!/usr/bin/env bash
# Runs Flare locally: installs what is missing, builds the Worker, applies the
# D1 migrations, seeds demo data on first start, and serves the edge on
# http://127.0.0.1:8787 (FHIR base http://127.0.0.1:8787/fhir) until Ctrl-C.
# State persists in .flare/state; scripts/reset.sh wipes it. Set-up stays here
# (it installs cargo tools); the rest is `cargo xtask run` (xtask/src/run.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo xtask run

#!/usr/bin/env bash
# Wipes Flare's local state (the D1/KV data under .flare/state and the demo
# data files). The next scripts/run.sh starts from an empty database and seeds again.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .flare
echo "local state removed (.flare/)"

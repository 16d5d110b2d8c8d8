#!/usr/bin/env bash
# Benchmarks the edge on real workerd + local D1 (wrangler dev), loopback only:
#   scripts/bench.sh [--patients N] [--duration SECONDS] [--keep-data] [--only REGEX]
# (--only: just the shapes whose name matches the extended regex, beside the
# floors; for a quick look at a change, never for the recorded figures)
# 1. generates N patients (default 10,000) with flare-synth,
# 2. imports them through POST /admin/import (2 uploaders) and reports resources/s,
# 3. runs wrk at concurrency 1 and 8 against, side by side in one run: the
#    two floors (a route doing nothing, a route running one D1 SELECT 1),
#    reads, and every US Core 6.1.0 SHALL search shape (+ declared includes),
#    with paths built from the generated data (`xtask bench-queries`: the
#    SHALL combinations come from flare_core::registry), each shape twice:
#    as an app sends it (the headline: a patient-context access token of the
#    patient the path names for the patient shapes, the backend service's
#    `system/` token for the others; token check and access history
#    included) and with ADMIN_TOKEN. The SELECT 1 floor is measured again
#    on every restarted server (every 12 runs); each shape's ratio is to the
#    floor measured last before it.
# The per-client rate limit is raised for the run (a copy of wrangler.toml,
# `edge/.wrangler-bench.toml`): every app request still goes through the
# limiter, but a shape's thousands of requests from one app are not refused.
# Results: bench-out/results.md (tables) and bench-out/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
patients=10000 duration=5 keep=0 only=
while [ $# -gt 0 ]; do
  case "$1" in
    --patients) patients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keep-data) keep=1; shift ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: scripts/bench.sh [--patients N] [--duration S] [--keep-data] [--only REGEX]" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# The xtask helpers (queries, token field, report), built once in release: they
# parse the whole generated ndjson, which an unoptimised build does slowly.
cargo build -q --release -p xtask
xtask() { "$FLARE_ROOT/target/release/xtask" "$@"; }

# The bench's copy of the configuration: the per-client limit raised.
bench_config=.wrangler-bench.toml
sed 's/^simple = { limit = 3000, period = 60 }$/simple = { limit = 100000000, period = 60 }/' edge/wrangler.toml \
  > "edge/$bench_config"
grep -q 'limit = 100000000' "edge/$bench_config" || { echo "could not raise the per-client limit in the bench config" >&2; exit 1; }
export FLARE_WRANGLER_CONFIG=$bench_config

port=${FLARE_BENCH_PORT:-8790}
base=http://127.0.0.1:$port
out=$FLARE_ROOT/bench-out
data=$FLARE_ROOT/.flare/bench-data-$patients
state=$FLARE_ROOT/.flare/bench-state-$patients
mkdir -p "$out"
token=$(sed -n 's/^ADMIN_TOKEN=//p' edge/.dev.vars)

if [ ! -f "$data/practices.json" ]; then
  echo "generating $patients patients..." >&2
  cargo run --release -q -p flare-synth -- --patients "$patients" --out "$data"
fi
fresh=1
if [ "$keep" = 1 ] && [ -d "$state" ]; then fresh=0; else rm -rf "$state"; mkdir -p "$state"; migrate "$state"; fi
start_edge "$state" "$port" "$out/wrangler.log"
pid=$EDGE_PID
trap 'stop_edge "$pid"' EXIT INT TERM

resources=$(cat "$data"/*.ndjson | wc -l)
import_seconds=0
if [ "$fresh" = 1 ]; then
  for key in northside lakeshore; do
    curl -sf -X PUT -H "Authorization: Bearer $token" \
      --data "{\"name\":\"$key\",\"organizationId\":\"$key-org\",\"npi\":\"1234567893\",\"address\":{\"line\":[\"1 Bench Way\"],\"city\":\"Springfield\",\"state\":\"IL\",\"postalCode\":\"62701\"}}" \
      "$base/admin/practices/$key" >/dev/null
  done
  echo "importing $resources resources..." >&2
  start=$(date +%s.%N)
  FLARE_URL=$base bash scripts/import.sh --practice northside "$data/northside.ndjson" >&2 &
  a=$!
  FLARE_URL=$base bash scripts/import.sh --practice lakeshore "$data/lakeshore.ndjson" >&2 &
  b=$!
  wait $a; wait $b
  import_seconds=$(echo "$(date +%s.%N) - $start" | bc)
  echo "imported $resources resources in $import_seconds s" >&2
fi

xtask bench-queries "$data/northside.ndjson" "$out/queries"
printf '/admin/bench/noop\n' > "$out/queries/floor-noop.txt"
printf '/admin/bench/select1\n' > "$out/queries/floor-select1.txt"

results="$out/results.tsv"
: > "$results"
run() { # run NAME CONNECTIONS [PATHS_FILE TOKEN]: the operator's paths and token by default
  local file=${3:-$out/queries/$1.txt} bearer=${4:-$token} threads=$(( $2 > 1 ? 2 : 1 ))
  local line
  line=$(wrk -t"$threads" -c"$2" -d"${duration}s" --latency -s scripts/bench/paths.lua "$base" -- "$file" "$bearer" | grep '^RESULT')
  printf '%s\t%s\t%s\n' "$1" "$2" "$line" | tee -a "$results" >&2
}
# The apps: the demo apps (a patient app, a backend service) and a
# patient-context token per app patient; the backend service's system token
# is minted anew for each shape (it lives five minutes, as SMART advises).
node scripts/seed-auth.mjs "$base" "$token" "$out/demo-apps.json" 2>/dev/null
system_token() {
  FLARE_DEMO_APPS="$out/demo-apps.json" node scripts/backend-token.mjs "$base" flare-demo-backend-service 'system/*.rs' \
    | xtask json-get access_token
}
xtask bench-app-paths "$base" "$token" "$out/queries"
# Warm up the isolate and SQLite's page cache once.
wrk -t1 -c1 -d2s -s scripts/bench/paths.lua "$base" -- "$out/queries/read-Patient.txt" "$token" >/dev/null
# wrangler dev's inspector proxy keeps every request's network events in
# memory (it reached V8's heap limit after ~150,000 requests here), so the
# server is restarted, on the same data, every few shapes.
runs=0
shapes=$(cd "$out/queries" && ls | grep -v '^floor-' | grep '\.txt$' | sed 's/\.txt$//' | sort | grep -E "${only:-.}")
for name in floor-noop floor-select1 $shapes; do
  if [ "$runs" -ge 12 ]; then
    stop_edge "$pid"; start_edge "$state" "$port" "$out/wrangler.log"; pid=$EDGE_PID; runs=0
    wrk -t1 -c1 -d2s -s scripts/bench/paths.lua "$base" -- "$out/queries/read-Patient.txt" "$token" >/dev/null
    # The floor again, on this server: the shapes that follow are compared
    # with it (bench-report), not with a sample taken minutes before.
    run floor-select1 1; run floor-select1 8
  fi
  for c in 1 8; do
    run "$name" "$c"
    runs=$((runs + 1))
    if [ -f "$out/queries/app-tokens/$name.txt" ]; then
      run "app:$name" "$c" "$out/queries/app-tokens/$name.txt" "$(system_token)"
      runs=$((runs + 1))
    fi
  done
done
rm -f "edge/$bench_config"
xtask bench-report "$results" "$resources" "$import_seconds" "$patients" > "$out/results.md"
cat "$out/results.md"

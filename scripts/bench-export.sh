#!/usr/bin/env bash
# Bulk Data export benchmark on real workerd + local D1 + local R2 + local
# queues (wrangler dev), loopback only:
#   scripts/bench-export.sh [--patients N]
# 1. generates N patients (default 10,000), all in practice northside,
# 2. imports them into a separate state directory, plus Groups of the first
#    100 and 1,000 patients (the generator's northside-group-all has all N),
# 3. for each group, acts as a bulk client (scripts/bench/export-bench.mjs):
#    backend-services token (RS384 assertion), kick-off, polls honoring
#    Retry-After, manifest; and samples the RSS of the workerd process.
# Results: bench-out/export.md
set -euo pipefail
cd "$(dirname "$0")/.."
patients=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --patients) patients=$2; shift 2 ;;
    *) echo "usage: scripts/bench-export.sh [--patients N]" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# The report helper (xtask), built once in release like bench.sh's.
cargo build -q --release -p xtask
xtask() { "$FLARE_ROOT/target/release/xtask" "$@"; }

port=${FLARE_BENCH_PORT:-8790}
base=http://127.0.0.1:$port
out=$FLARE_ROOT/bench-out
data=$FLARE_ROOT/.flare/export-data-$patients
state=$FLARE_ROOT/.flare/export-state-$patients
mkdir -p "$out"
token=$(sed -n 's/^ADMIN_TOKEN=//p' edge/.dev.vars)

if [ ! -f "$data/practices.json" ]; then
  echo "generating $patients patients in one practice..." >&2
  cargo run --release -q -p flare-synth -- --patients "$patients" --practices 1 --out "$data"
fi
fresh=0
if [ ! -d "$state" ]; then fresh=1; mkdir -p "$state"; migrate "$state"; fi
start_edge "$state" "$port" "$out/wrangler-export.log"
pid=$EDGE_PID
trap 'stop_edge "$pid"' EXIT INT TERM

if [ "$fresh" = 1 ]; then
  curl -sf -X PUT -H "Authorization: Bearer $token" \
    --data '{"name":"Northside Oncology","organizationId":"northside-org","npi":"1234567893","address":{"line":["1 Bench Way"],"city":"Springfield","state":"IL","postalCode":"62701"}}' \
    "$base/admin/practices/northside" >/dev/null
  echo "importing $(wc -l < "$data/northside.ndjson") resources..." >&2
  FLARE_URL=$base bash scripts/import.sh --practice northside "$data/northside.ndjson" >&2
  for n in 100 1000; do
    node -e '
      const n = +process.argv[1];
      const member = Array.from({ length: n }, (_, i) => ({ entity: { reference: `Patient/northside-pat-${i + 1}` } }));
      console.log(JSON.stringify({ resourceType: "Group", id: `bench-${n}`, type: "person", actual: true, member }));
    ' "$n" | curl -sf -X POST -H "Authorization: Bearer $token" -H 'content-type: application/fhir+json' \
      --data-binary @- "$base/admin/import?practice=northside" >/dev/null
  done
fi
node scripts/seed-auth.mjs "$base" "$token" "$out/export-apps.json" 2>/dev/null

results="$out/export.tsv"
: > "$results"
for group in bench-100 bench-1000 northside-group-all; do
  # Peak RSS of the workerd processes (summed) while this export runs, sampled every 0.5 s.
  rss_file=$(mktemp)
  ( while kill -0 "$pid" 2>/dev/null; do
      pgrep -g "$pid" -x workerd | xargs -r ps -o rss= -p | awk '{s += $1} END {print s + 0}' >> "$rss_file"
      sleep 0.5
    done ) &
  sampler=$!
  line=$(node scripts/bench/export-bench.mjs "$base" "$group" "$out/export-apps.json")
  kill "$sampler" 2>/dev/null || true
  peak=$(sort -n "$rss_file" | tail -1); rm -f "$rss_file"
  printf '%s\t%s\t%s\n' "$group" "$line" "$peak" | tee -a "$results" >&2
done
xtask bench-export-report "$results" "$patients" > "$out/export.md"
cat "$out/export.md"

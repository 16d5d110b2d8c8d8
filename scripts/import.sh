#!/usr/bin/env bash
# Imports FHIR files into a running Flare edge:
#   scripts/import.sh [--practice KEY] [--url http://127.0.0.1:8787] FILE...
# .ndjson files are sent in chunks (application/fhir+ndjson) so each request
# stays well under the Worker's limits; .json files (a resource or a Bundle)
# are sent whole. The token is $ADMIN_TOKEN or the one in edge/.dev.vars.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
url=${FLARE_URL:-http://127.0.0.1:8787}
practice=""
lines_per_chunk=${FLARE_IMPORT_CHUNK_LINES:-2000}
while [ $# -gt 0 ]; do
  case "$1" in
    --practice) practice=$2; shift 2 ;;
    --url) url=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: scripts/import.sh [--practice KEY] [--url URL] FILE..." >&2; exit 2; }
token=${ADMIN_TOKEN:-$(sed -n 's/^ADMIN_TOKEN=//p' "$root/edge/.dev.vars" 2>/dev/null)}
[ -n "$token" ] || { echo "no ADMIN_TOKEN (set it or create edge/.dev.vars)" >&2; exit 2; }
endpoint="$url/admin/import${practice:+?practice=$practice}"

post() { # post FILE CONTENT_TYPE
  local out status
  out=$(mktemp)
  status=$(curl -sS -o "$out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
    -H "Content-Type: $2" --data-binary "@$1" "$endpoint")
  if [ "$status" != 200 ]; then
    echo "import of $1 failed with HTTP $status:" >&2; cat "$out" >&2; echo >&2; rm -f "$out"; return 1
  fi
  cat "$out"; echo; rm -f "$out"
}

for f in "$@"; do
  case "$f" in
    *.ndjson)
      tmp=$(mktemp -d)
      split -l "$lines_per_chunk" "$f" "$tmp/chunk."
      for c in "$tmp"/chunk.*; do post "$c" application/fhir+ndjson >/dev/null; done
      rm -rf "$tmp"
      echo "imported $f ($(wc -l < "$f") resources)" ;;
    *) post "$f" application/fhir+json ;;
  esac
done

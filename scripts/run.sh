#!/usr/bin/env bash
# Runs Flare locally: installs what is missing, builds the Worker, applies the
# D1 migrations, seeds demo data on first start, and serves the edge on
# http://127.0.0.1:8787 (FHIR base http://127.0.0.1:8787/fhir) until Ctrl-C.
# State persists in .flare/state; scripts/reset.sh wipes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

port=${FLARE_PORT:-8787}
app_port=${FLARE_DEMO_PORT:-8788}
state=$FLARE_ROOT/.flare/state
demo=$FLARE_ROOT/.flare/demo
mkdir -p "$state"
migrate "$state"

echo "building and starting the edge (the first build takes a few minutes)..." >&2
start_edge "$state" "$port" "$FLARE_ROOT/.flare/wrangler.log"
pid=$EDGE_PID
trap 'stop_edge "$pid"' EXIT INT TERM
base="http://127.0.0.1:$port"
token=$(sed -n 's/^ADMIN_TOKEN=//p' edge/.dev.vars)

practices=$(curl -sf -H "Authorization: Bearer $token" "$base/admin/practices")
if [ "$practices" = '{"practices":[]}' ]; then
  patients=${FLARE_DEMO_PATIENTS:-24}
  echo "seeding demo data: $patients generated patients in two practices..." >&2
  cargo run --release -q -p flare-synth -- --patients "$patients" --out "$demo" 2>/dev/null
  node -e '
    const p = require(process.argv[1]);
    for (const x of p) console.log([x.key, x.organizationId, x.name].join("\t"));
  ' "$demo/practices.json" | while IFS=$'\t' read -r key org name; do
    body=$(node -e 'console.log(JSON.stringify({name: process.argv[1], organizationId: process.argv[2]}))' "$name" "$org")
    curl -sf -X PUT -H "Authorization: Bearer $token" -H 'content-type: application/json' \
      --data "$body" "$base/admin/practices/$key" >/dev/null
    FLARE_URL=$base bash scripts/import.sh --practice "$key" "$demo/$key.ndjson" >&2
  done
fi

# Idempotent: adds what is missing (users, practice administrators, PINs, apps).
echo "seeding demo users, practice PINs and apps..." >&2
FLARE_DEMO_APP_ORIGIN="http://127.0.0.1:$app_port" node scripts/seed-auth.mjs "$base" "$token" "$FLARE_ROOT/.flare/demo-apps.json"
pins=$(node -e '
  const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).pins ?? {};
  console.log(Object.entries(p).map(([k, v]) => `${k} ${v}`).join(", "));
' "$FLARE_ROOT/.flare/demo-apps.json")

# The demo patient app: built on the SDK package (pkg/) with esbuild, served
# from its own origin (port 8788, the redirect URI of flare-demo-patient-app).
if [ ! -f pkg/dist/flare_sdk_bg.wasm ]; then
  echo "building the SDK (pkg/dist) for the demo app..." >&2
  scripts/build-sdk.sh >&2
fi
node demo-app/build.mjs
FLARE_ISS="$base/fhir" node demo-app/serve.mjs --port "$app_port" >"$FLARE_ROOT/.flare/demo-app.log" 2>&1 &
app_pid=$!
trap 'kill "$app_pid" 2>/dev/null; stop_edge "$pid"' EXIT INT TERM
app="http://127.0.0.1:$app_port"

cat <<INFO

Flare is running.
  FHIR base:        $base/fhir   (CapabilityStatement: $base/fhir/metadata)
  Service base:     $base/fhir   (Endpoint + Organization per practice, no token)
  Admin token:      $token   (edge/.dev.vars; also a system-level read token)
  SMART discovery:  $base/fhir/.well-known/smart-configuration
  Demo sign-ins:    northside-clinician, northside-patient1, northside-patient2 (and lakeshore-…),
                    password Flare-demo-2026
  Demo apps:        flare-demo-patient-app (public), flare-demo-confidential-app (secret),
                    flare-demo-asymmetric-app (ES384 key), flare-demo-backend-service (RS384 key);
                    secrets and private keys in .flare/demo-apps.json
  Patient portal:   $base/portal   (connected apps, Revoke, access history)
  Developer portal: $base/developer   (sign up, register an app with a practice PIN)
  Practice PINs:    $pins
  Practice admin:   $base/practice   (northside-admin, lakeshore-admin; password Flare-demo-2026)
  Demo app:         $app/   (sign in as northside-patient1, or as northside-clinician and pick a patient)
  EHR simulator:    $base/ehr   (sign in as northside-clinician, pick a patient and the demo app: it opens in a frame)
  Practices:        $(curl -sf -H "Authorization: Bearer $token" "$base/admin/practices")
  Try:              curl -H 'Authorization: Bearer $token' '$base/fhir/Patient?_count=5'
  Logs:             .flare/wrangler.log      Stop: Ctrl-C      Wipe: scripts/reset.sh
INFO
while kill -0 "$pid" 2>/dev/null; do sleep 1; done

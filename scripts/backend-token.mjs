// Prints a SMART Backend Services token response for a demo app.
//
// Usage: node scripts/backend-token.mjs [BASE_URL] [CLIENT_ID] [SCOPE]
//   defaults: http://127.0.0.1:8787, flare-demo-backend-service, system/*.rs
//   FLARE_DEMO_APPS: the demo-apps.json to read keys from (default .flare/demo-apps.json)
import { backendToken } from "./lib/smart-backend.mjs";

const base = process.argv[2] ?? "http://127.0.0.1:8787";
const clientId = process.argv[3] ?? "flare-demo-backend-service";
const scope = process.argv[4] ?? "system/*.rs";
const file = process.env.FLARE_DEMO_APPS ?? new URL("../.flare/demo-apps.json", import.meta.url);
try {
  console.log(JSON.stringify(await backendToken(base, clientId, scope, file)));
} catch (e) {
  console.error(e.message);
  process.exit(1);
}

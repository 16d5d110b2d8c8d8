// Seeds the demo users (a practice administrator among them), each
// practice's registration PIN, and one approved demo app of each client type
// into a running edge, and writes what a developer needs to try them (client
// ids, the client secret, the private keys, the PINs) to .flare/demo-apps.json.
//
// Usage: node scripts/seed-auth.mjs BASE_URL ADMIN_TOKEN OUT_FILE
// Idempotent: users and apps that already exist are left alone; a PIN on
// file is set again (the server keeps only its hash), else a new one is made.
import { generateKeyPairSync, randomInt, randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const [base, token, out] = process.argv.slice(2);
if (!base || !token || !out) {
  console.error("usage: node scripts/seed-auth.mjs BASE_URL ADMIN_TOKEN OUT_FILE");
  process.exit(2);
}
const PASSWORD = "Flare-demo-2026";
const DEMO_APP_ORIGIN = process.env.FLARE_DEMO_APP_ORIGIN ?? "http://127.0.0.1:8788";
const admin = { authorization: `Bearer ${token}`, "content-type": "application/json" };

async function call(method, path, body) {
  const res = await fetch(base + path, { method, headers: admin, body: body && JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

const saved = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : { users: [], apps: {} };
saved.pins ??= {};
const practices = (await call("GET", "/admin/practices")).json.practices;

for (const { key } of practices) {
  const users = [
    { username: `${key}-clinician`, fhirUser: `Practitioner/${key}-prac-1`, name: `Demo clinician (${key})` },
    { username: `${key}-admin`, fhirUser: `Practitioner/${key}-prac-1`, name: `Demo practice administrator (${key})`, role: "practice_admin" },
    // Synthetic records: shown to developers of the practice's approved apps.
    { username: `${key}-patient1`, fhirUser: `Patient/${key}-pat-1`, name: `Demo patient 1 (${key})`, role: "test_patient" },
    { username: `${key}-patient2`, fhirUser: `Patient/${key}-pat-2`, name: `Demo patient 2 (${key})`, role: "test_patient" },
  ];
  for (const u of users) {
    const r = await call("POST", "/admin/users", { ...u, password: PASSWORD, practice: key });
    if (r.status === 201 && !saved.users.some((x) => x.username === u.username)) {
      saved.users.push({ ...u, practice: key, password: PASSWORD });
    } else if (r.status === 400 && /does not exist/.test(r.text)) {
      console.error(`skipping ${u.username}: ${u.fhirUser} is not in ${key} (not a demo practice)`);
    } else if (r.status !== 201 && r.status !== 409) {
      throw new Error(`POST /admin/users ${u.username}: ${r.status} ${r.text}`);
    }
  }
  const pin = saved.pins[key] ?? String(randomInt(0, 100_000_000)).padStart(8, "0");
  const r = await call("PUT", `/admin/practices/${key}/pin`, { pin });
  if (r.status !== 200) throw new Error(`PUT /admin/practices/${key}/pin: ${r.status} ${r.text}`);
  saved.pins[key] = pin;
}

function jwk(kind) {
  const { publicKey, privateKey } =
    kind === "ES384"
      ? generateKeyPairSync("ec", { namedCurve: "P-384" })
      : generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  return {
    public: { ...publicKey.export({ format: "jwk" }), kid, alg: kind, use: "sig" },
    private: { ...privateKey.export({ format: "jwk" }), kid, alg: kind },
  };
}

const practice = practices.some((p) => p.key === "northside") ? "northside" : practices[0]?.key;
const userScopes = "openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.rs user/*.rs";
const apps = [
  {
    client_id: "flare-demo-patient-app",
    client_name: "Flare demo patient app",
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    redirect_uris: [`${DEMO_APP_ORIGIN}/`, `${DEMO_APP_ORIGIN}/index.html`],
    launch_uri: `${DEMO_APP_ORIGIN}/launch.html`,
    scope: userScopes,
  },
  {
    client_id: "flare-demo-confidential-app",
    client_name: "Flare demo confidential app (client secret)",
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["authorization_code", "refresh_token"],
    redirect_uris: ["http://127.0.0.1:8789/callback"],
    scope: userScopes,
  },
  {
    client_id: "flare-demo-asymmetric-app",
    client_name: "Flare demo confidential app (private key JWT)",
    token_endpoint_auth_method: "private_key_jwt",
    grant_types: ["authorization_code", "refresh_token"],
    redirect_uris: ["http://127.0.0.1:8789/callback"],
    scope: userScopes,
    key: "ES384",
  },
  {
    client_id: "flare-demo-backend-service",
    client_name: "Flare demo backend service",
    token_endpoint_auth_method: "private_key_jwt",
    grant_types: ["client_credentials"],
    scope: "system/*.rs",
    key: "RS384",
  },
];

for (const { key, ...app } of apps) {
  // The server is the truth: details on file for a client it lacks (a wiped
  // state) are stale, and a client it has but we have no details of stays.
  const existing = await call("GET", `/admin/clients/${app.client_id}`);
  if (existing.status === 200) continue;
  delete saved.apps[app.client_id];
  const keys = key ? jwk(key) : null;
  const body = { ...app, practice, ...(keys ? { jwks: { keys: [keys.public] } } : {}) };
  const r = await call("POST", "/register", body);
  if (r.status !== 201) throw new Error(`POST /register ${app.client_id}: ${r.status} ${r.text}`);
  const approved = await call("POST", `/admin/clients/${app.client_id}/approve`);
  if (approved.status !== 200) throw new Error(`approve ${app.client_id}: ${approved.status} ${approved.text}`);
  saved.apps[app.client_id] = {
    client_name: app.client_name,
    practice,
    token_endpoint_auth_method: app.token_endpoint_auth_method,
    scope: app.scope,
    redirect_uris: app.redirect_uris ?? [],
    ...(r.json.client_secret ? { client_secret: r.json.client_secret } : {}),
    ...(keys ? { private_jwk: keys.private } : {}),
  };
}

writeFileSync(out, JSON.stringify(saved, null, 2) + "\n", { mode: 0o600 });
console.error(`demo users and apps: ${out}`);

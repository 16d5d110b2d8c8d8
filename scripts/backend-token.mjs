// Gets a SMART Backend Services access token: signs a client assertion
// (RS384 or ES384, by the key's alg) with a demo app's private key from
// .flare/demo-apps.json and posts it to the token endpoint.
//
// Usage: node scripts/backend-token.mjs [BASE_URL] [CLIENT_ID] [SCOPE]
//   defaults: http://127.0.0.1:8787, flare-demo-backend-service, system/*.rs
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";

const base = process.argv[2] ?? "http://127.0.0.1:8787";
const clientId = process.argv[3] ?? "flare-demo-backend-service";
const scope = process.argv[4] ?? "system/*.rs";
const file = process.env.FLARE_DEMO_APPS ?? new URL("../.flare/demo-apps.json", import.meta.url);
const app = JSON.parse(readFileSync(file, "utf8")).apps[clientId];
if (!app?.private_jwk) throw new Error(`${clientId} has no private key in ${file}`);

const config = await (await fetch(`${base}/fhir/.well-known/smart-configuration`)).json();
const jwk = app.private_jwk;
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const input = `${b64({ alg: jwk.alg, typ: "JWT", kid: jwk.kid })}.${b64({
  iss: clientId, sub: clientId, aud: config.token_endpoint, exp: now + 240, jti: randomUUID(),
})}`;
const key = createPrivateKey({ key: jwk, format: "jwk" });
const signature = jwk.alg === "ES384"
  ? sign("sha384", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
  : sign("sha384", Buffer.from(input), key);
const res = await fetch(config.token_endpoint, {
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({
    grant_type: "client_credentials",
    scope,
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: `${input}.${signature.toString("base64url")}`,
  }),
});
console.log(await res.text());
process.exit(res.ok ? 0 : 1);

// SMART Backend Services token for a demo app: signs a client assertion
// (RS384 or ES384, by the key's alg) with the app's private key from a
// demo-apps.json written by scripts/seed-auth.mjs.
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";

/** Returns the token response (JSON) or throws with the server's answer. */
export async function backendToken(base, clientId, scope, appsFile) {
  const app = JSON.parse(readFileSync(appsFile, "utf8")).apps[clientId];
  if (!app?.private_jwk) throw new Error(`${clientId} has no private key in ${appsFile}`);
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
  const text = await res.text();
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

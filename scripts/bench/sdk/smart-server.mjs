// The SMART server of the SDK benchmark: a small Node HTTP server that both
// SDKs launch against for real, on its own origin (so every request is a
// cross-origin fetch with CORS, as against an EHR):
//   GET  /fhir/.well-known/smart-configuration   discovery (PKCE S256 advertised)
//   GET  /fhir/metadata                          a minimal CapabilityStatement (fhirclient's fallback)
//   GET  /authorize?…                            302 to redirect_uri?code=…&state=… (no sign-in page)
//   POST /token                                  authorization_code grant: checks client, redirect_uri
//                                                and the PKCE verifier; returns a Bearer token with patient
//   GET  /fhir/Patient/p1                        the patient
//   GET  /fhir/Observation?patient=p1[&category=laboratory]
//                                                a fixed searchset Bundle of OBSERVATIONS entries
// FHIR reads need the issued token. Counts every request per route (`stats()`).
//
// Used by run.mjs; on its own, `node scripts/bench/sdk/smart-server.mjs [PORT]`
// serves until interrupted (to try an app page by hand).
import { createServer } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { patient, searchset, PATIENT_ID } from "./fixtures.mjs";

export const OBSERVATIONS = 50;
export const CLIENT_ID = "bench-app";

const b64url = (buf) => buf.toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

export async function startSmartServer({ port = 0, host = "127.0.0.1" } = {}) {
  const codes = new Map(); // code → { client_id, redirect_uri, code_challenge, scope }
  const tokens = new Set();
  const counts = {};
  let base = "";
  // The search result is the same for every run: serialised once.
  let bundleText = null;

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const origin = req.headers.origin;
    const cors = origin
      ? { "Access-Control-Allow-Origin": origin, Vary: "Origin", "Access-Control-Expose-Headers": "Location, Retry-After" }
      : {};
    const send = (status, body, headers = {}) => {
      const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "Cache-Control": "no-store", ...cors, ...headers });
      res.end(text);
    };
    const json = (status, body, type = "application/json") => send(status, body, { "Content-Type": type });
    const route = req.method === "OPTIONS" ? "OPTIONS (CORS preflight)" : `${req.method} ${url.pathname}`;
    counts[route] = (counts[route] || 0) + 1;

    if (req.method === "OPTIONS") {
      return send(204, undefined, {
        "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] || "",
        "Access-Control-Max-Age": "600",
      });
    }
    const fhir = `${base}/fhir`;
    if (req.method === "GET" && url.pathname === "/fhir/.well-known/smart-configuration") {
      return json(200, {
        issuer: fhir,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        grant_types_supported: ["authorization_code"],
        code_challenge_methods_supported: ["S256"],
        scopes_supported: ["launch/patient", "patient/*.rs", "offline_access"],
        response_types_supported: ["code"],
        capabilities: ["launch-standalone", "client-public", "context-standalone-patient", "permission-patient", "permission-v2"],
      });
    }
    if (req.method === "GET" && url.pathname === "/fhir/metadata") {
      return json(200, {
        resourceType: "CapabilityStatement", status: "active", kind: "instance", fhirVersion: "4.0.1", format: ["json"],
        rest: [{ mode: "server", security: { extension: [{ url: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
          extension: [{ url: "authorize", valueUri: `${base}/authorize` }, { url: "token", valueUri: `${base}/token` }] }] } }],
      }, "application/fhir+json");
    }
    if (req.method === "GET" && url.pathname === "/authorize") {
      const q = url.searchParams;
      const redirect = q.get("redirect_uri");
      if (q.get("response_type") !== "code" || q.get("client_id") !== CLIENT_ID || !redirect || !q.get("state")) {
        return json(400, { error: "invalid_request", error_description: "response_type, client_id, redirect_uri and state are required" });
      }
      if (q.get("code_challenge_method") !== "S256" || !q.get("code_challenge")) {
        return json(400, { error: "invalid_request", error_description: "PKCE S256 is required" });
      }
      if (q.get("aud") && q.get("aud") !== fhir) return json(400, { error: "invalid_request", error_description: "aud" });
      const code = b64url(randomBytes(18));
      codes.set(code, { client_id: CLIENT_ID, redirect_uri: redirect, code_challenge: q.get("code_challenge"), scope: q.get("scope") || "" });
      const to = new URL(redirect);
      to.searchParams.set("code", code);
      to.searchParams.set("state", q.get("state"));
      return send(302, undefined, { Location: to.href });
    }
    if (req.method === "POST" && url.pathname === "/token") {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      const grant = codes.get(form.get("code") || "");
      const invalid = (why) => json(400, { error: "invalid_grant", error_description: why });
      if (form.get("grant_type") !== "authorization_code") return json(400, { error: "unsupported_grant_type" });
      if (!grant) return invalid("unknown or used code");
      codes.delete(form.get("code"));
      if (form.get("client_id") !== grant.client_id) return invalid("client_id");
      if (form.get("redirect_uri") !== grant.redirect_uri) return invalid("redirect_uri");
      const verifier = form.get("code_verifier") || "";
      if (b64url(createHash("sha256").update(verifier).digest()) !== grant.code_challenge) return invalid("PKCE verifier");
      const token = b64url(randomBytes(24));
      tokens.add(token);
      return json(200, {
        access_token: token, token_type: "Bearer", expires_in: 3600, scope: grant.scope, patient: PATIENT_ID,
        need_patient_banner: true,
      });
    }
    if (req.method === "GET" && url.pathname.startsWith("/fhir/")) {
      const auth = req.headers.authorization || "";
      if (!auth.startsWith("Bearer ") || !tokens.has(auth.slice(7))) {
        return json(401, { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "login" }] }, "application/fhir+json");
      }
      if (url.pathname === `/fhir/Patient/${PATIENT_ID}`) return json(200, patient(), "application/fhir+json");
      if (url.pathname === "/fhir/Observation") {
        const category = url.searchParams.get("category");
        if (url.searchParams.get("patient") !== PATIENT_ID || (category && category !== "laboratory")) {
          return json(200, searchset(fhir, `${fhir}/Observation${url.search}`, 0, 0, null, 0), "application/fhir+json");
        }
        bundleText ??= JSON.stringify(searchset(fhir, `${fhir}/Observation?patient=${PATIENT_ID}&category=laboratory`, 0, OBSERVATIONS, null, OBSERVATIONS));
        return json(200, bundleText, "application/fhir+json");
      }
    }
    return json(404, { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found" }] }, "application/fhir+json");
  });
  await new Promise((resolve) => server.listen(port, host, resolve));
  base = `http://${host}:${server.address().port}`;
  return {
    iss: `${base}/fhir`,
    stats: () => ({ ...counts }),
    resetStats: () => Object.keys(counts).forEach((k) => delete counts[k]),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const s = await startSmartServer({ port: Number(process.argv[2] || 0) });
  console.log(`SMART server: iss ${s.iss} (client_id ${CLIENT_ID}); Ctrl-C to stop`);
}

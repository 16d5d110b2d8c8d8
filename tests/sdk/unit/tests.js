// The npm package's JavaScript API (pkg/index.js over the wasm exports of sdk/src/npm), in headless
// Chromium: real fetch (answered by a stub on window.fetch), real
// sessionStorage, history, WebCrypto (an RSA key made here signs the
// id_tokens), timers and windows. Each test throws on a failed check;
// window.__unit holds [{ name, ok, error }] when all have run.
import { authorize, ready, load, client, storageAvailable, byCode } from "/pkg/index.js";

const BASE = "https://ehr.test/fhir";
const out = document.getElementById("out");
let key = null;
const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const enc = (obj) => b64u(new TextEncoder().encode(JSON.stringify(obj)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(ok, message) {
  if (!ok) throw new Error(message);
}
function eq(actual, expected, what) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  assert(a === e, `${what}: expected ${e}, got ${a}`);
}
async function rejects(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Routes: [{ match, status, body, headers, times, delay }]; every call is recorded. */
function installFetch(routes, w = window) {
  const calls = [];
  // The SDK fetches with a Request (gloo-net): seen here as (url, init) with the header names capitalised.
  const canonical = (name) => name.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());
  w.fetch = async (input, init = {}) => {
    let url = String(input);
    if (typeof input === "object" && input !== null && "url" in input) {
      const headers = {};
      input.headers.forEach((v, k) => (headers[canonical(k)] = v));
      const body = input.method === "GET" || input.method === "HEAD" ? null : await input.clone().text();
      url = input.url;
      init = { method: input.method, headers, body, signal: input.signal };
    }
    const headers = Object.fromEntries(Object.entries(init.headers || {}));
    calls.push({ url, method: init.method || "GET", headers, body: init.body ?? null });
    if (init.signal && init.signal.aborted) throw new DOMException("aborted", "AbortError");
    const route = routes.find((r) => url.includes(r.match) && (r.times === undefined || r.times > 0));
    if (!route) return new w.Response(JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found", diagnostics: "no route " + url }] }), { status: 404 });
    if (route.times !== undefined) route.times -= 1;
    if (route.delay) await sleep(route.delay);
    let body = typeof route.body === "function" ? await route.body(url, init) : route.body;
    if (typeof body !== "string") body = JSON.stringify(body);
    const status = typeof route.status === "function" ? route.status(url, init) : route.status || 200;
    // A 204 or 304 has no body.
    return new w.Response(status === 204 || status === 304 ? null : body, { status, headers: route.headers || {} });
  };
  return calls;
}
const route = (match, status, body, extra) => ({ match, status, body, ...extra });

const discovery = () => ({ issuer: BASE, jwks_uri: "https://ehr.test/jwks", authorization_endpoint: "https://ehr.test/authorize",
  token_endpoint: "https://ehr.test/token", code_challenge_methods_supported: ["S256"] });

async function jwks() {
  key = key || await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", key.publicKey);
  return { keys: [{ kty: "EC", kid: "k1" }, { kty: "RSA", kid: "k1", alg: "RS256", use: "sig", n: jwk.n, e: jwk.e }] };
}

async function idToken(claims, tamper) {
  await jwks();
  const input = enc({ alg: "RS256", kid: "k1", typ: "JWT" }) + "." + enc(claims);
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.privateKey, new TextEncoder().encode(input));
  return tamper ? enc({ alg: "RS256", kid: "k1" }) + "." + enc({ ...claims, sub: "someone-else" }) + "." + b64u(sig) : input + "." + b64u(sig);
}

const setUrl = (url) => history.replaceState(null, "", url);
const query = (url, name) => new URL(url).searchParams.get(name);
let savedStorage = null;
function blockStorage() {
  savedStorage = Object.getOwnPropertyDescriptor(window, "sessionStorage") || null;
  Object.defineProperty(window, "sessionStorage", { configurable: true, get() { throw new DOMException("blocked", "SecurityError"); } });
}
function restoreStorage() {
  if (savedStorage) Object.defineProperty(window, "sessionStorage", savedStorage);
}
const bundle = (entry, next) => ({ resourceType: "Bundle", type: "searchset", link: next ? [{ relation: "next", url: next }] : [], entry });
const nowSeconds = () => Math.floor(Date.now() / 1000);
const tokenClient = (expiresIn, refresh) =>
  client({ serverUrl: BASE, accessToken: "t1", tokenEndpoint: "https://ehr.test/token", clientId: "app", expiresIn, ...(refresh ? { refreshToken: "r1" } : {}) });

/** A stand-in for a popup window: records its name, where it was sent, and closing. */
function fakeWindow(name) {
  const w = { name, closed: false, location: { href: "about:blank" }, close: () => void (w.closed = true) };
  return w;
}
/** Replaces window.open; each call records whether it came while a test had set `__inCall` (inside a synchronous call). */
function watchPopups() {
  window.__popups = [];
  window.__inCall = false;
  window.open = (url, name, features) => {
    const w = fakeWindow(String(name));
    window.__popups.push({ w, openedWith: String(url ?? ""), features: String(features), sync: window.__inCall });
    return w;
  };
}
async function until(check, what) {
  for (let i = 0; i < 300; i++) {
    const v = check();
    if (v) return v;
    await sleep(10);
  }
  throw new Error("timed out waiting for " + what);
}
/** The popup authorize() opened once it has been sent to the authorization page: `url` is that page. */
async function openedPopup() {
  const p = await until(() => window.__popups[0]?.w.location.href.startsWith("https://"), "the popup to be sent to the authorization page");
  const popup = window.__popups[0];
  return { ...popup, url: popup.w.location.href, name: popup.w.name };
}
/** An iframe of unit/frame.html (the package loaded) at `search`; resolves once the package is there. */
async function frame(search = "") {
  const f = document.createElement("iframe");
  f.src = "/unit/frame.html" + search;
  document.body.append(f);
  await until(() => f.contentWindow?.smart, "the frame to load the package");
  return f;
}
/** Reloads a frame and waits for its new document's package. */
async function reloadFrame(f) {
  f.contentWindow.__before = true;
  f.contentWindow.location.reload();
  await until(() => !f.contentWindow.__before && f.contentWindow.smart, "the frame to reload");
}
const postRedirect = (url) =>
  window.dispatchEvent(new MessageEvent("message", { data: { type: "flare-smart:redirect", url }, origin: location.origin }));

const startLaunch = (scope, storage) =>
  authorize({ iss: BASE, clientId: "app", scope, redirectUri: "https://app.test/cb", noRedirect: true, ...(storage ? { storage } : {}) });

function memoryStore() {
  const m = new Map();
  return { map: m, getItem: async (k) => (m.has(k) ? m.get(k) : null), setItem: async (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
}

const tests = {
  async "search attaches includes and sends the token only to the server"() {
    const entries = [
      { fullUrl: BASE + "/MedicationRequest/m1", search: { mode: "match" }, resource: { resourceType: "MedicationRequest", id: "m1", medicationReference: { reference: "Medication/x" } } },
      { fullUrl: BASE + "/Medication/x", search: { mode: "include" }, resource: { resourceType: "Medication", id: "x" } },
      { search: { mode: "include" }, resource: { resourceType: "Provenance", id: "p", target: [{ reference: "MedicationRequest/m1" }] } },
      { search: { mode: "outcome" }, resource: { resourceType: "OperationOutcome" } },
    ];
    const calls = installFetch([route("/MedicationRequest?", 200, { ...bundle(entries, "https://evil.test/fhir/next"), total: 1 })]);
    const c = tokenClient(3600, false);
    const page = await c.search("MedicationRequest", { patient: "p1", _include: ["MedicationRequest:medication"], status: ["active", "completed"], _count: 5 });
    eq(calls[0].url, BASE + "/MedicationRequest?patient=p1&_include=MedicationRequest%3Amedication&status=active&status=completed&_count=5", "search URL");
    eq(calls[0].headers.Authorization, "Bearer t1", "bearer token");
    eq([page.resources.length, page.included.length, page.outcomes.length, page.total], [1, 2, 1, 1], "page parts");
    const rx = page.resources[0];
    eq(rx.$refs["Medication/x"].id, "x", "_include attached");
    eq(rx.$revincluded[0].resourceType, "Provenance", "_revinclude attached");
    assert(!JSON.stringify(rx).includes("$refs"), "attachments are hidden from JSON");
    const e = await rejects(c.nextPage(page));
    eq(e.kind, "protocol", "a next link to another host is refused");
    eq(calls.length, 1, "no request to the other host");
    eq(await c.nextPage({ next: null }), null, "no next page");
  },

  async "throttling is retried after Retry-After and errors are typed"() {
    const outcome = { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "throttled", diagnostics: "slow down" }] };
    const calls = installFetch([
      route("/Patient/1", 429, outcome, { times: 1, headers: { "Retry-After": "0" } }),
      route("/Patient/1", 200, { resourceType: "Patient", id: "1" }),
      route("/Patient/2", 404, { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found", diagnostics: "Patient/2 is not known", expression: ["id"] }] }),
      route("/Patient/3", 503, outcome, { headers: { "Retry-After": "120" } }),
    ]);
    const c = tokenClient(3600, false);
    eq((await c.read("Patient", "1")).id, "1", "read after a 429");
    eq(calls.length, 2, "one retry");
    const e = await rejects(c.read("Patient", "2"));
    eq([e.name, e.kind, e.status, e.issues[0].diagnostics, e.issues[0].expression], ["FlareError", "fhir", 404, "Patient/2 is not known", ["id"]], "typed FHIR error");
    assert(e instanceof Error && e.message.includes("Patient/2 is not known"), "message carries diagnostics");
    const long = await rejects(c.read("Patient", "3"));
    eq([long.status, long.retryAfter], [503, 120], "a long Retry-After is reported, not waited for");
    const c2 = new AbortController();
    c2.abort();
    eq((await rejects(c.read("Patient", "1", { signal: c2.signal }))).kind, "aborted", "AbortSignal");
    eq((await rejects(c.read("Patient", "a/b"))).kind, "launch", "bad ids never leave");
  },

  async "concurrent 401s share one refresh"() {
    const unauthorized = { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "login", diagnostics: "expired" }] };
    // The stub answers 401 to t1 and 200 to t2.
    const fresh = (url, init) => init.headers.Authorization === "Bearer t2";
    const calls = installFetch([
      route("/token", 200, { access_token: "t2", token_type: "Bearer", expires_in: 3600, scope: "patient/*.rs" }, { delay: 50 }),
      route("/Patient/1", (u, i) => (fresh(u, i) ? 200 : 401), (u, i) => (fresh(u, i) ? { resourceType: "Patient", id: "1" } : unauthorized)),
    ]);
    const c = tokenClient(3600, true);
    const reads = await Promise.all([1, 2, 3].map(() => c.read("Patient", "1")));
    eq(reads.map((r) => r.id), ["1", "1", "1"], "all reads succeed");
    const refreshes = calls.filter((x) => x.url.endsWith("/token"));
    eq(refreshes.length, 1, "one refresh for three 401s");
    eq(c.accessToken, "t2", "new token");
    assert(refreshes[0].body.includes("grant_type=refresh_token&refresh_token=r1&client_id=app"), "refresh body: " + refreshes[0].body);
    assert(c.canRefresh, "the unrotated refresh token is kept");
    const noRefresh = tokenClient(3600, false);
    const e = await rejects(noRefresh.refresh());
    eq([e.kind, e.oauthError], ["oauth", "no_refresh_token"], "refresh without a refresh token");
  },

  async "expiring tokens refresh before the request"() {
    const calls = installFetch([
      route("/token", 200, { access_token: "t2", token_type: "Bearer", expires_in: 3600 }),
      route("/Patient/1", 200, { resourceType: "Patient", id: "1" }),
    ]);
    const c = tokenClient(1, true);
    await sleep(950); // inside the last tenth of the lifetime: refresh first
    await c.read("Patient", "1");
    assert(calls[0].url.endsWith("/token"), "refreshed first");
    eq(calls[1].headers.Authorization, "Bearer t2", "with the new token");
    assert(c.expiresAt > Date.now() + 3000 * 1000, "expiresAt moved");
  },

  async "standalone launch completes once and verifies the id_token"() {
    sessionStorage.clear();
    const original = location.href;
    const page = original.split(/[?#]/)[0];
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    installFetch([disc]);
    const url = await startLaunch("openid fhirUser launch/patient patient/*.rs");
    eq([query(url, "code_challenge_method"), query(url, "aud"), query(url, "response_type")], ["S256", BASE, "code"], "authorize URL");
    const state = query(url, "state");
    eq(state.length, 43, "256-bit state");
    const claims = { iss: BASE, aud: "app", sub: "u1", nonce: query(url, "nonce"), fhirUser: BASE + "/Patient/p1", exp: nowSeconds() + 300 };
    const response = { access_token: "a1", token_type: "Bearer", expires_in: 3600, scope: "openid fhirUser patient/*.rs", patient: "p1",
      need_patient_banner: false, fhirContext: [{ reference: "Encounter/e1" }], id_token: await idToken(claims, false) };
    const calls = installFetch([disc, route("/token", 200, response, { delay: 30 }), route("/jwks", 200, await jwks())]);
    setUrl(`${page}?keep=1&code=c1&state=${state}`);
    // Two ready() calls (React StrictMode): one code exchange.
    const [a, b] = await Promise.all([ready(), ready()]);
    eq([a.patient, b.accessToken, a.user, a.fhirUser, a.needPatientBanner, a.fhirContext, a.scopes, a.serverUrl],
      ["p1", "a1", "Patient/p1", BASE + "/Patient/p1", false, [{ reference: "Encounter/e1" }], ["openid", "fhirUser", "patient/*.rs"], BASE], "client context");
    const exchanges = calls.filter((c) => c.url.endsWith("/token"));
    eq(exchanges.length, 1, "one code exchange");
    const body = new URLSearchParams(exchanges[0].body);
    eq([body.get("code"), body.get("redirect_uri"), body.get("client_id")], ["c1", "https://app.test/cb", "app"], "exchange body");
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body.get("code_verifier")));
    eq(b64u(digest), query(url, "code_challenge"), "the verifier matches the S256 challenge");
    eq(location.href, `${page}?keep=1`, "code and state gone from the address bar");
    const stored = Object.keys(sessionStorage).filter((k) => k.startsWith("flare-smart:"));
    assert(!stored.some((k) => k.includes(":launch:")), "the launch record is consumed");
    const restored = await ready();
    eq(restored.accessToken, "a1", "a reload restores the session");
    eq((await ready({ state })).patient, "p1", "ready({ state }) restores that launch");
    setUrl(original);
  },

  async "an id_token whose signature starts with byte 0x01 verifies"() {
    // The core hands decoded bytes back as text; 0x01 first is also its failure marker.
    sessionStorage.clear();
    const page = location.href.split(/[?#]/)[0];
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    installFetch([disc]);
    const url = await startLaunch("openid fhirUser launch/patient patient/*.rs");
    let token;
    for (let jti = 0; !token; jti++) {
      const claims = { iss: BASE, aud: "app", sub: "u1", nonce: query(url, "nonce"), exp: nowSeconds() + 300, jti: String(jti) };
      const candidate = await idToken(claims, false);
      const sig = atob(candidate.split(".")[2].replace(/-/g, "+").replace(/_/g, "/"));
      if (sig.charCodeAt(0) === 1) token = candidate;
    }
    installFetch([disc, route("/token", 200, { access_token: "a1", token_type: "Bearer", id_token: token }), route("/jwks", 200, await jwks())]);
    setUrl(`${page}?code=c1&state=${query(url, "state")}`);
    eq((await ready()).accessToken, "a1", "verified");
    setUrl(page);
  },

  async "the code exchange and a refresh are not sent again after a 503, only after a 429"() {
    sessionStorage.clear();
    const page = location.href.split(/[?#]/)[0];
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    const ok = { access_token: "a1", token_type: "Bearer", expires_in: 3600 };
    installFetch([disc]);
    const first = query(await startLaunch("patient/*.rs"), "state");
    const second = query(await startLaunch("patient/*.rs"), "state");
    // 503: the server may have spent the code; sending it again would replay it.
    let calls = installFetch([disc, route("/token", 503, { error: "temporarily_unavailable" }, { times: 1, headers: { "Retry-After": "0" } }), route("/token", 200, ok)]);
    setUrl(`${page}?code=A&state=${first}`);
    const e = await rejects(ready());
    eq([e.kind, e.status, e.oauthError], ["oauth", 503, "temporarily_unavailable"], "the 503 is reported");
    eq(calls.filter((c) => c.url.endsWith("/token")).length, 1, "one code exchange after a 503");
    // 429: refused before the server acted, so the exchange is retried.
    calls = installFetch([disc, route("/token", 429, { error: "slow_down" }, { times: 1, headers: { "Retry-After": "0" } }), route("/token", 200, ok)]);
    setUrl(`${page}?code=B&state=${second}`);
    eq((await ready()).accessToken, "a1", "completed after a 429");
    eq(calls.filter((c) => c.url.endsWith("/token")).length, 2, "the exchange retried once after a 429");
    setUrl(page);
    // A refresh (a POST spending a rotating refresh token) follows the same rule.
    calls = installFetch([route("/token", 503, { error: "temporarily_unavailable" }, { times: 1, headers: { "Retry-After": "0" } }), route("/token", 200, ok)]);
    eq((await rejects(tokenClient(3600, true).refresh())).status, 503, "a refresh answered 503 is reported");
    eq(calls.length, 1, "one refresh request after a 503");
  },

  async "two launches in one tab keep their own state"() {
    sessionStorage.clear();
    const page = location.href.split(/[?#]/)[0];
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    installFetch([disc]);
    const first = query(await startLaunch("patient/*.rs"), "state");
    const second = query(await startLaunch("user/*.rs"), "state");
    assert(first !== second, "distinct states");
    installFetch([disc, route("/token", 200, (u, init) => ({ access_token: "tok-" + new URLSearchParams(init.body).get("code"), token_type: "Bearer" }))]);
    setUrl(`${page}?code=A&state=${first}`);
    const a = await ready();
    setUrl(`${page}?code=B&state=${second}`);
    const b = await ready();
    eq([a.accessToken, b.accessToken], ["tok-A", "tok-B"], "each launch completes with its own record");
    eq([(await ready({ state: first })).accessToken, (await ready({ state: second })).accessToken], ["tok-A", "tok-B"], "both sessions restorable");
    setUrl(page);
  },

  async "a forged id_token fails and unknown states fail fast"() {
    sessionStorage.clear();
    const page = location.href.split(/[?#]/)[0];
    const store = memoryStore();
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    installFetch([disc]);
    const url = await startLaunch("openid fhirUser patient/*.rs", store);
    const state = query(url, "state");
    const forged = await idToken({ iss: BASE, aud: "app", sub: "u1", exp: 9999999999, nonce: query(url, "nonce") }, true);
    installFetch([disc, route("/token", 200, { access_token: "a1", token_type: "Bearer", expires_in: 3600, id_token: forged }), route("/jwks", 200, await jwks())]);
    setUrl(`${page}?code=c1&state=${state}`);
    const e = await rejects(ready({ storage: store }));
    eq(e.kind, "id_token", "forged signature: " + e.message);
    setUrl(`${page}?code=c1&state=${state}x`);
    eq((await rejects(ready({ storage: store }))).kind, "storage_unavailable", "unknown state fails at once");
    setUrl(`${page}?error=access_denied&error_description=denied&state=${state}`);
    const denied = await rejects(ready());
    eq([denied.kind, denied.oauthError, denied.message], ["oauth", "access_denied", "access_denied: denied"], "an error redirect");
    eq(location.href, page, "error parameters removed");
    // A wrong nonce fails the claim checks in the core.
    const url2 = await startLaunch("openid fhirUser patient/*.rs", store);
    const bad = await idToken({ iss: BASE, aud: "app", sub: "u1", exp: 9999999999, nonce: "not-it" }, false);
    installFetch([disc, route("/token", 200, { access_token: "a1", token_type: "Bearer", id_token: bad }), route("/jwks", 200, await jwks())]);
    setUrl(`${page}?code=c2&state=${query(url2, "state")}`);
    const n = await rejects(ready({ storage: store }));
    assert(n.kind === "id_token" && n.message.includes("nonce"), "nonce mismatch: " + n.message);
    setUrl(page);
  },

  async "blocked storage fails before leaving the page"() {
    installFetch([route("/.well-known/smart-configuration", 200, discovery())]);
    blockStorage();
    let result, available;
    try {
      result = await rejects(authorize({ iss: BASE, clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb" }));
      available = storageAvailable();
    } finally {
      restoreStorage();
    }
    eq(result.kind, "storage_unavailable", "kind");
    assert(result.message.includes("popup"), "the message names the fallback");
    eq([available, storageAvailable()], [false, true], "storageAvailable()");
    const e = await rejects(authorize({ iss: BASE, clientId: "app", scope: "patient/Observation.reed", redirectUri: "/" }));
    assert(e.kind === "launch" && e.message.includes("bad scope"), "malformed scopes fail before the redirect: " + e.message);
    const plain = { ...discovery(), code_challenge_methods_supported: ["plain"] };
    installFetch([route("/.well-known/smart-configuration", 200, plain)]);
    const p = await rejects(startLaunch("patient/*.rs"));
    assert(p.kind === "launch" && p.message.includes("S256"), "no launch without PKCE S256");
  },

  async "pages iterate until the last next link"() {
    const p1 = bundle([{ resource: { resourceType: "Patient", id: "1" } }, { resource: { resourceType: "Patient", id: "2" } }], BASE + "/Patient?_cursor=2");
    const p2 = bundle([{ resource: { resourceType: "Patient", id: "3" } }]);
    installFetch([route("_cursor=2", 200, p2), route("/Patient?", 200, p1)]);
    const c = tokenClient(3600, false);
    eq((await c.searchAll("Patient", { name: "a" })).map((p) => p.id), ["1", "2", "3"], "searchAll");
    eq((await c.searchAll("Patient", { name: "a" }, { limit: 2 })).length, 2, "limit");
    eq((await c.searchAll("Patient", { name: "a" }, { maxPages: 1 })).length, 2, "maxPages");
    const sizes = [];
    for await (const page of c.pages("Patient", { name: "a" })) sizes.push(page.resources.length);
    eq(sizes, [2, 1], "for await over pages");
    eq(await c.request("Patient?_cursor=2").then((b) => b.entry.length), 1, "raw request under the base");
  },

  async "references resolve from contained, the page, then batched server searches"() {
    const calls = installFetch([route("/Practitioner?", 200, bundle([{ resource: { resourceType: "Practitioner", id: "d1" } }, { resource: { resourceType: "Practitioner", id: "d2" } }]))]);
    const c = tokenClient(3600, false);
    const a = { resourceType: "MedicationRequest", id: "1", contained: [{ resourceType: "Medication", id: "m" }], medicationReference: { reference: "#m" },
      subject: { reference: "Patient/p" }, requester: { reference: BASE + "/Practitioner/d1" }, recorder: { reference: "http://other/fhir/Practitioner/x" } };
    const b = { resourceType: "MedicationRequest", id: "2", subject: { reference: "Patient/p" }, requester: { reference: "Practitioner/d2" } };
    const page = { resources: [], included: [{ resourceType: "Patient", id: "p" }] };
    eq(await c.resolveReferences([a, b], { page }), 5, "resolved count");
    eq([a.$refs["#m"].id, a.$refs["Patient/p"].id, a.$refs[BASE + "/Practitioner/d1"].id, b.$refs["Practitioner/d2"].id], ["m", "p", "d1", "d2"], "targets");
    eq(calls.length, 1, "one batched search");
    eq(new URL(calls[0].url).searchParams.get("_id"), "d1,d2", "batched ids");
    const only = { resourceType: "Observation", id: "o", subject: { reference: "Patient/p" }, performer: [{ reference: "Practitioner/d1" }] };
    eq(await c.resolveReferences(only, { page, paths: ["subject"] }), 1, "paths limit the references");
  },

  async "popup launch completes in the opener without storage"() {
    const calls = installFetch([route("/.well-known/smart-configuration", 200, discovery()),
      route("/token", 200, { access_token: "pop1", token_type: "Bearer", expires_in: 3600, patient: "p9" })]);
    watchPopups();
    blockStorage(); // as in an EHR iframe that blocks third-party storage
    let launch, popup;
    try {
      launch = authorize({ iss: BASE, clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb", target: "popup" });
      eq(window.__popups.length, 1, "window.open was called inside authorize(), before its first await");
      popup = await openedPopup();
      const state = query(popup.url, "state");
      eq(popup.name, "flare-smart-popup:" + state, "popup name");
      postRedirect("https://app.test/cb?code=wrong&state=other"); // another launch's: ignored
      postRedirect(`https://app.test/cb?code=c9&state=${state}`);
      const c = await launch;
      eq([c.accessToken, c.patient], ["pop1", "p9"], "the client of the popup launch");
    } finally {
      restoreStorage();
      popup?.w.close();
    }
    assert(calls.find((c) => c.url.endsWith("/token")).body.includes("code=c9"), "exchanged our code");
  },

  async "a closed popup rejects instead of hanging"() {
    installFetch([route("/.well-known/smart-configuration", 200, discovery())]);
    watchPopups();
    const launch = authorize({ iss: BASE, clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb", target: "popup" });
    (await openedPopup()).w.close();
    const e = await rejects(launch);
    assert(e.kind === "popup" && e.message.includes("closed"), "popup closed: " + e.message);
  },

  async "an abort interrupts a Retry-After wait at once"() {
    const calls = installFetch([route("/Patient/1", 429, { resourceType: "OperationOutcome", issue: [] }, { headers: { "Retry-After": "5" } })]);
    const c = tokenClient(3600, false);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const t0 = performance.now();
    const e = await rejects(c.read("Patient", "1", { signal: ctl.signal }));
    const took = performance.now() - t0;
    eq(e.kind, "aborted", "kind");
    assert(took < 1000, `rejected ${Math.round(took)} ms after the read began, not at the abort (100 ms) during the 5 s Retry-After`);
    eq(calls.length, 1, "not sent again");
  },

  async "an abort stops waiting for a shared refresh, which still completes for others"() {
    const unauthorized = { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "login", diagnostics: "expired" }] };
    const fresh = (url, init) => init.headers.Authorization === "Bearer t2";
    const calls = installFetch([
      route("/token", 200, { access_token: "t2", token_type: "Bearer", expires_in: 3600 }, { delay: 1500 }),
      route("/Patient/1", (u, i) => (fresh(u, i) ? 200 : 401), (u, i) => (fresh(u, i) ? { resourceType: "Patient", id: "1" } : unauthorized)),
    ]);
    const c = tokenClient(3600, true);
    const patient = c.read("Patient", "1");
    const ctl = new AbortController();
    const waiting = c.read("Patient", "1", { signal: ctl.signal });
    await sleep(100);
    ctl.abort();
    const t0 = performance.now();
    const e = await rejects(waiting);
    const took = performance.now() - t0;
    eq(e.kind, "aborted", "kind");
    assert(took < 500, `rejected ${Math.round(took)} ms after the abort, not at once (the refresh takes 1.5 s)`);
    eq((await patient).id, "1", "the other caller's read completes after the refresh");
    eq(calls.filter((x) => x.url.endsWith("/token")).length, 1, "one refresh");
    eq(c.accessToken, "t2", "refreshed");
  },

  async "two same-origin EHR frames in one tab each restore their own patient after a reload"() {
    sessionStorage.clear();
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    const frames = [];
    try {
      for (const patient of ["frame-a", "frame-b"]) {
        const f = await frame();
        frames.push(f);
        const w = f.contentWindow;
        installFetch([disc], w);
        const url = await w.smart.authorize({ iss: BASE, clientId: "app", scope: "launch/patient patient/*.rs", redirectUri: "https://app.test/cb", noRedirect: true });
        installFetch([disc, route("/token", 200, { access_token: "tok-" + patient, token_type: "Bearer", expires_in: 3600, patient })], w);
        w.history.replaceState(null, "", "/unit/frame.html?code=c&state=" + query(url, "state"));
        eq((await w.smart.ready()).patient, patient, "launch in " + patient);
      }
      for (const [i, patient] of ["frame-a", "frame-b"].entries()) {
        await reloadFrame(frames[i]);
        eq((await frames[i].contentWindow.smart.ready()).patient, patient, "the reloaded frame restores its own launch");
      }
    } finally {
      frames.forEach((f) => f.remove());
    }
  },

  async "the popup opens synchronously inside the click and is then sent to the authorization page"() {
    sessionStorage.clear();
    installFetch([route("/.well-known/smart-configuration", 200, discovery(), { delay: 20 }), route("/token", 200, { access_token: "pop2", token_type: "Bearer" })]);
    watchPopups();
    window.__inCall = true;
    const launch = authorize({ iss: BASE, clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb", target: "popup" });
    window.__inCall = false;
    // Browsers allow a popup only while the click's user activation lasts: open() must not wait for discovery or the wasm.
    eq(window.__popups.map((p) => p.sync), [true], "window.open called in the caller's task, before authorize() returned");
    const popup = await openedPopup();
    eq([popup.name, popup.features], ["flare-smart-popup:" + query(popup.url, "state"), "popup,width=520,height=720"], "name and features");
    postRedirect(`https://app.test/cb?code=c2&state=${query(popup.url, "state")}`);
    eq((await launch).accessToken, "pop2", "completed");
    // A launch that fails before the popup has somewhere to go closes it.
    installFetch([route("/.well-known/smart-configuration", 500, "down")]);
    watchPopups();
    const failed = authorize({ iss: BASE, clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb", target: "popup" });
    eq(window.__popups.length, 1, "opened at once");
    eq((await rejects(failed)).kind, "protocol", "discovery failed");
    assert(window.__popups[0].w.closed, "the empty popup is closed");
  },

  async "target _top from a frame without storage restarts the launch in the whole tab"() {
    const launchQuery = "?iss=" + encodeURIComponent(BASE) + "&launch=l1";
    const f = await frame(launchQuery);
    try {
      const w = f.contentWindow;
      const calls = installFetch([route("/.well-known/smart-configuration", 200, discovery())], w);
      Object.defineProperty(w, "sessionStorage", { configurable: true, get() { throw new DOMException("blocked", "SecurityError"); } });
      const opened = [];
      w.open = (url, target) => (opened.push([String(url), String(target)]), {});
      const result = await w.smart.authorize({ clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb", target: "_top" });
      const page = location.origin + "/unit/frame.html" + launchQuery;
      eq(opened, [[page, "_top"]], "the top window loads the launch page, where storage is first-party");
      eq(result, page, "authorize() resolves to that page");
      eq(calls.length, 0, "nothing started in the frame");
    } finally {
      f.remove();
    }
    // At the top level there is no frame to leave: blocked storage still fails, naming what works.
    installFetch([route("/.well-known/smart-configuration", 200, discovery())]);
    blockStorage();
    let e;
    try {
      e = await rejects(authorize({ iss: BASE, clientId: "app", scope: "patient/*.rs", redirectUri: "https://app.test/cb", target: "_top" }));
    } finally {
      restoreStorage();
    }
    assert(e.kind === "storage_unavailable" && e.message.includes('"popup"'), "top-level _top without storage: " + e.message);
  },

  async "the README's patient read rejects with a clear error when no patient is in context"() {
    const calls = installFetch([]);
    const c = tokenClient(3600, false);
    const e = await rejects(c.read("Patient", c.patient));
    assert(e.kind === "launch" && e.message.includes("no patient"), "read(type, undefined): " + e.message);
    eq(calls.length, 0, "nothing sent");
  },

  async "custom storage and noRedirect"() {
    const store = memoryStore();
    installFetch([route("/.well-known/smart-configuration", 200, discovery())]);
    const url = await startLaunch("patient/*.rs", store);
    assert(url.startsWith("https://ehr.test/authorize?"), "noRedirect returns the URL");
    const keys = [...store.map.keys()];
    eq(keys, ["flare-smart:launch:" + query(url, "state")], "the launch record lives in the app's store");
    const rec = new URLSearchParams(store.map.get(keys[0]));
    assert(!rec.has("access_token") && rec.has("code_verifier"), "only what a public client needs");
  },

  async "the token response's own fields, the id_token's claims and the session as one object"() {
    sessionStorage.clear();
    const page = location.href.split(/[?#]/)[0];
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    installFetch([disc]);
    const url = await startLaunch("openid fhirUser launch/patient patient/*.rs offline_access");
    const claims = { iss: BASE, aud: "app", sub: "u1", nonce: query(url, "nonce"), fhirUser: BASE + "/Practitioner/d1", exp: nowSeconds() + 300, name: "Dr Who" };
    const response = { access_token: "a1", token_type: "Bearer", expires_in: 3600, scope: "openid fhirUser patient/*.rs", patient: "p1",
      refresh_token: "r1", intent: "reconcile-medications", tenant: "practice-7", "x-vendor": { tier: 2 }, id_token: await idToken(claims, false) };
    installFetch([disc, route("/token", 200, response), route("/jwks", 200, await jwks())]);
    setUrl(`${page}?code=c1&state=${query(url, "state")}`);
    const c = await ready();
    eq([c.tokenResponse.intent, c.tokenResponse.tenant, c.tokenResponse["x-vendor"]], ["reconcile-medications", "practice-7", { tier: 2 }], "extra token response fields");
    eq([c.idTokenClaims.sub, c.idTokenClaims.name, c.idTokenClaims.fhirUser], ["u1", "Dr Who", BASE + "/Practitioner/d1"], "id_token claims");
    eq(c.state, query(url, "state"), "the launch state the session is kept under");
    const st = c.getState();
    eq([st.serverUrl, st.clientId, st.tokenEndpoint, st.accessToken, st.refreshToken, st.patient, st.key, st.tokenResponse.tenant],
      [BASE, "app", "https://ehr.test/token", "a1", "r1", "p1", query(url, "state"), "practice-7"], "getState()");
    // A refresh merges its response over the first: the launch's fields stay.
    installFetch([route("/token", 200, { access_token: "a2", token_type: "Bearer", expires_in: 3600, "x-refreshed": true })]);
    await c.refresh();
    eq([c.accessToken, c.tokenResponse.intent, c.tokenResponse["x-refreshed"]], ["a2", "reconcile-medications", true], "after a refresh");
    eq((await ready()).tokenResponse["x-refreshed"], true, "kept for a reload");
    setUrl(page);
  },

  async "an open server (fhirServiceUrl) is read without a token"() {
    const calls = installFetch([route("/Patient/1", 200, { resourceType: "Patient", id: "1" })]);
    const c = await authorize({ fhirServiceUrl: BASE });
    eq([c.serverUrl, c.accessToken, (await c.read("Patient", "1")).id], [BASE, "", "1"], "open client");
    eq(calls[0].headers.Authorization, undefined, "no Authorization header");
  },

  async "byCode groups Observations by code and system|code"() {
    const loinc = "http://loinc.org";
    const obs = [
      { resourceType: "Observation", id: "a", code: { coding: [{ system: loinc, code: "8867-4" }] } },
      { resourceType: "Observation", id: "b", code: { coding: [{ system: loinc, code: "8867-4" }, { code: "HR" }] } },
      { resourceType: "Observation", id: "c", code: { coding: [{ system: loinc, code: "8310-5" }] } },
    ];
    const m = byCode(obs);
    eq([m["8867-4"].map((o) => o.id), m[loinc + "|8867-4"].map((o) => o.id), m.HR.map((o) => o.id)], [["a", "b"], ["a", "b"], ["b"]], "groups");
    assert(m["8867-4"][0] === obs[0], "the app's own objects");
  },

  async "searchAll calls onPage per page and request sends the app's headers"() {
    const p1 = bundle([{ resource: { resourceType: "Patient", id: "1" } }], BASE + "/Patient?_cursor=2");
    const p2 = bundle([{ resource: { resourceType: "Patient", id: "2" } }]);
    const calls = installFetch([route("_cursor=2", 200, p2), route("/Patient?", 200, p1),
      route("/Patient/1", 304, "", { headers: { ETag: 'W/"3"' } }), route("/Observation", 201, { resourceType: "Observation", id: "new" })]);
    const c = tokenClient(3600, false);
    const seen = [];
    const all = await c.searchAll("Patient", { name: "a" }, { onPage: (page) => seen.push(page.resources.map((p) => p.id)) });
    eq([all.length, seen], [2, [["1"], ["2"]]], "onPage saw each page");
    const e = await rejects(c.searchAll("Patient", { name: "a" }, { onPage: () => { throw new Error("stop here"); } }));
    assert(e.message.includes("stop here"), "a throw in onPage ends the search: " + e.message);
    eq(await c.request("Patient/1", { headers: { "If-None-Match": 'W/"3"' } }), null, "304 without a body");
    eq(calls.at(-1).headers["If-None-Match"], 'W/"3"', "conditional header sent");
    const created = await c.request("Observation", { method: "POST", body: { resourceType: "Observation", status: "final" }, headers: { Prefer: "return=representation" } });
    const post = calls.at(-1);
    eq([created.id, post.method, post.headers["Content-Type"], post.headers.Prefer, JSON.parse(post.body).status],
      ["new", "POST", "application/fhir+json", "return=representation", "final"], "a write with Prefer");
  },

  async "a path past a reference is followed into the resolved resource (encounter.serviceProvider)"() {
    const calls = installFetch([
      route("/Encounter?", 200, bundle([{ resource: { resourceType: "Encounter", id: "e1", serviceProvider: { reference: "Organization/org1" } } }])),
      route("/Organization?", 200, bundle([{ resource: { resourceType: "Organization", id: "org1", name: "Northside" } }])),
    ]);
    const c = tokenClient(3600, false);
    const obs = [{ resourceType: "Observation", id: "o1", encounter: { reference: "Encounter/e1" } },
                 { resourceType: "Observation", id: "o2", encounter: { reference: "Encounter/e1" } }];
    eq(await c.resolveReferences(obs, { paths: ["encounter.serviceProvider"] }), 4, "two encounters and their organizations");
    const enc = obs[0].$refs["Encounter/e1"];
    eq([enc.id, enc.$refs["Organization/org1"].name, obs[1].$refs["Encounter/e1"].$refs["Organization/org1"].id], ["e1", "Northside", "org1"], "attached along the path");
    eq(calls.map((x) => new URL(x.url).pathname), ["/fhir/Encounter", "/fhir/Organization"], "one batched search per level");
  },

  async "a searchset without entries is an empty page"() {
    installFetch([route("/Goal?", 200, { resourceType: "Bundle", type: "searchset", total: 0 })]);
    const c = tokenClient(3600, false);
    const page = await c.search("Goal", { patient: "p1" });
    eq([page.resources, page.included, page.outcomes, page.next, page.total], [[], [], [], null, 0], "empty page");
    eq(await c.searchAll("Goal", { patient: "p1" }), [], "searchAll of nothing");
  },

  async "two servers in one tab: each client keeps its own server, token and session"() {
    sessionStorage.clear();
    const page = location.href.split(/[?#]/)[0];
    const OTHER = "https://other.test/fhir";
    const disc = route("/.well-known/smart-configuration", 200, discovery());
    const otherDisc = route("other.test/fhir/.well-known/smart-configuration", 200, { ...discovery(), issuer: OTHER, token_endpoint: "https://other.test/token" });
    installFetch([otherDisc, disc]);
    const s1 = query(await startLaunch("patient/*.rs"), "state");
    const s2 = query(await authorize({ iss: OTHER, clientId: "app2", scope: "patient/*.rs", redirectUri: "https://app.test/cb", noRedirect: true }), "state");
    installFetch([route("other.test/token", 200, { access_token: "o1", token_type: "Bearer", patient: "x" }), route("ehr.test/token", 200, { access_token: "e1", token_type: "Bearer", patient: "p1" }),
      route("other.test/fhir/Patient/x", 200, { resourceType: "Patient", id: "x" }), route("ehr.test/fhir/Patient/p1", 200, { resourceType: "Patient", id: "p1" })]);
    setUrl(`${page}?code=A&state=${s1}`);
    const a = await ready();
    setUrl(`${page}?code=B&state=${s2}`);
    const b = await ready();
    eq([a.serverUrl, a.accessToken, b.serverUrl, b.accessToken], [BASE, "e1", OTHER, "o1"], "two clients");
    eq([(await a.read("Patient", a.patient)).id, (await b.read("Patient", b.patient)).id], ["p1", "x"], "each reads its own server");
    eq([(await ready({ state: s1 })).serverUrl, (await ready({ state: s2 })).serverUrl], [BASE, OTHER], "each restored by its state");
    setUrl(page);
  },
};

// The package instantiates its wasm lazily; client() is synchronous, so load it first.
await load();
const results = [];
for (const [name, test] of Object.entries(tests)) {
  try {
    await test();
    results.push({ name, ok: true });
  } catch (e) {
    results.push({ name, ok: false, error: String(e && e.stack || e) });
  }
}
out.textContent = results.map((r) => (r.ok ? "ok   " : "FAIL ") + r.name + (r.ok ? "" : "\n     " + r.error)).join("\n");
window.__unit = results;

// @flare/smart: SMART on FHIR for browser apps.
//
// Every protocol decision is made by the Rust core compiled to WebAssembly
// (sdk/src/bridge.rs, tested natively): launch plans, PKCE, state-keyed
// launch records, authorization URLs, discovery checks, redirect handling,
// token-response and id_token claim checks, refresh timing and the 401 rule,
// retry/backoff, search URLs, the token boundary, `_include` attachment,
// reference-resolution plans, `_top` from a frame and which launch a reload
// restores. This file is the I/O around it: fetch, storage,
// WebCrypto, history, windows and frames, and walking the objects JSON.parse
// returns. Records cross the boundary as form text, lists joined by \0 and \1.
//
// Importing this module does no I/O (Node and server-side rendering import it
// without a DOM): the wasm is instantiated by the first authorize()/ready(),
// or by load().
import init, { call } from "./dist/flare_sdk.js";

let loading = null;
let loaded = false;

/** Instantiates the core's wasm once (see index.d.ts); a failed load is tried again by the next call. */
export function load(source) {
  loading ??= init({ module_or_path: source ?? new URL("./dist/flare_sdk_bg.wasm", import.meta.url) }).then(
    () => void (loaded = true),
    (e) => {
      loading = null;
      throw fail("network", "cannot load the SDK's WebAssembly: " + (e?.message ?? e));
    },
  );
  return loading;
}

/** Argument text: absent as "", bytes as chars U+0000..U+00FF, numbers as JS prints them. */
const arg = (v) => (v == null ? "" : v instanceof Uint8Array ? String.fromCharCode(...v) : String(v));
/** Operation `op` of the core (bridge::Op), its string result passed through `out`. */
const op =
  (n, out = (r) => r) =>
  (...args) => {
    const a = args.map(arg);
    while (a.length < 7) a.push("");
    // Only client() can get here before a load: it is synchronous.
    if (!loaded) throw fail("launch", "the SDK's WebAssembly is not loaded yet: `await load()` before client()");
    return out(call(n, ...a));
  };
const ms = (r) => (r === "" ? -1 : +r);
/** The core's decisions (sdk/src/bridge.rs). */
const core = {
  plan: op(0),
  discoveryUrl: op(1),
  pending: op(2),
  authorizeUrl: op(3),
  redirect: op(4),
  stripRedirect: op(5),
  tokenRequest: op(6),
  session: op(7),
  applyToken: op(8),
  due: op(9, Number),
  after401: op(10, Number),
  refreshRequest: op(11),
  jwsParts: op(12),
  base64url: op(13, (r) => Uint8Array.from(check(r).slice(1), (c) => c.charCodeAt(0))),
  pickKey: op(14),
  checkClaims: op(15),
  userReference: op(16, (r) => r || undefined),
  underBase: op(17, Boolean),
  retryDelay: op(18, ms),
  retryAfterSeconds: op(19, (r) => (r === "" ? -1 : r / 1000)),
  readUrl: op(20),
  searchUrl: op(21),
  absoluteUrl: op(22),
  planAttachments: op(23, (r) => (r ? r.split(",").map(Number) : [])),
  planResolution: op(24),
  restartsAtTop: op(25, Boolean),
  restoreState: op(26, (r) => r || undefined),
};
const flag = (b) => (b ? "1" : "");

const PREFIX = "flare-smart:";
const CURRENT = PREFIX + "current";
const PROBE = PREFIX + "probe";
/** The sign-in popup's window name starts with this; its ready() hands the redirect to the opener. */
const POPUP = "flare-smart-popup:";
const MESSAGE = PREFIX + "redirect";
/** The key of this page's launch `state` in `history.state` (per frame and per history entry, kept over a reload). */
const PAGE_STATE = PREFIX + "state";
const FHIR_JSON = "application/fhir+json";

const now = () => Date.now();
const isObject = (v) => v !== null && typeof v === "object";
const list = (v) => (Array.isArray(v) ? v : []);
const text = (v) => (typeof v === "string" ? v : undefined);
const lines = (items, sep) => items.join(sep);

/** A `FlareError` (see index.d.ts). */
function fail(kind, message, extra) {
  const e = new Error(message);
  e.name = "FlareError";
  e.kind = kind;
  e.issues = [];
  e.oauthError = undefined;
  return Object.assign(e, extra);
}

/** The value of a core call, or its failure (`\1kind\1message`) thrown. */
function check(result) {
  if (result.charCodeAt(0) !== 1) return result;
  const [, kind, message] = result.split("\u0001");
  throw fail(kind, message, kind === "oauth" ? { oauthError: message.split(":")[0] } : undefined);
}

/** Form text of an object's members: arrays repeated, scalars as JS prints them, objects and null left out. */
function form(o) {
  const p = new URLSearchParams();
  if (isObject(o)) {
    for (const k in o) {
      for (const v of Array.isArray(o[k]) ? o[k] : [o[k]]) if (v != null && typeof v !== "object") p.append(k, v);
    }
  }
  return p.toString();
}

/** The record a core call returned (form text) as an object. */
const record = (t) => Object.fromEntries(new URLSearchParams(t));

/** A string that may cross as a list field (the separators are not allowed inside). */
const field = (s) => (typeof s !== "string" ? "" : /[\0\u0001]/.test(s) ? "%" : s);

// ---------------------------------------------------------------- storage

const memory = new Map();
const memoryStore = {
  getItem: (k) => memory.get(k) ?? null,
  setItem: (k, v) => void memory.set(k, v),
  removeItem: (k) => void memory.delete(k),
};

const unavailable = (detail) =>
  fail(
    "storage_unavailable",
    "sessionStorage is unavailable (" + detail + "), as in an EHR iframe that blocks third-party storage. " +
      'Launch with target "popup" (completes without storage) or, from a frame, "_top" (the launch restarts in the ' +
      "whole tab), or pass your own `storage`",
  );

/** The store `options.storage` asks for; sessionStorage is probed with a write, so a blocked one fails now. */
function storeOf(options) {
  const s = options?.storage;
  if (s === undefined || s === null || s === "session") {
    try {
      const ss = sessionStorage;
      ss.setItem(PROBE, "1");
      ss.removeItem(PROBE);
      return ss;
    } catch (e) {
      throw unavailable((e?.name ?? "") + " " + (e?.message ?? ""));
    }
  }
  if (s === "memory") return memoryStore;
  if (isObject(s)) return s;
  throw fail("launch", 'storage must be "session", "memory" or an object');
}

async function stored(store, method, ...args) {
  try {
    return await store[method](...args);
  } catch (e) {
    throw unavailable(method + ": " + (e?.message ?? e));
  }
}

// ---------------------------------------------------------------- HTTP

const aborted = (what) => fail("aborted", what + ": aborted");

/** Waits `ms`; an abort of `signal` rejects at once (the timer is cleared). */
function sleep(ms, signal, what) {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `promise` as this caller sees it: an abort of `signal` rejects at once. The work itself goes on (a shared
 * refresh finishes for the callers still waiting on it).
 */
function abortable(promise, signal, what) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(aborted(what));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(aborted(what));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * fetch with the core's retry rule (429, 503 for idempotent methods only, Retry-After, bounded backoff); the
 * body parsed as JSON when it is JSON. The core sees the method: a POST (the one-time code exchange, a refresh,
 * a create) is not sent again after a 503, which may come after the server acted on it.
 */
async function send(url, init, signal) {
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw aborted(url);
    let response, body;
    try {
      response = await fetch(url, { ...init, signal });
      body = await response.text();
    } catch (e) {
      throw e?.name === "AbortError"
        ? aborted(url)
        : fail("network", (url + ": " + (e?.name ?? "") + " " + (e?.message ?? "")).trim());
    }
    const retryAfter = response.headers.get("Retry-After");
    const wait = core.retryDelay(response.status, retryAfter, attempt, now(), Math.random(), init.method ?? "GET");
    if (wait < 0) {
      if (body === "") body = null;
      else {
        try {
          body = JSON.parse(body);
        } catch {}
      }
      return { status: response.status, ok: response.ok, body, retryAfter };
    }
    await sleep(wait, signal, url);
  }
}

const formPost = (body) => ({
  method: "POST",
  headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
  body,
});

/** GET JSON from a public endpoint (discovery, JWKS). */
async function publicJson(url) {
  const a = await send(url, { headers: { Accept: "application/json" } });
  if (a.ok && isObject(a.body)) return a.body;
  throw fail("protocol", "GET " + url + " answered HTTP " + a.status + " without JSON", { status: a.status });
}

function oauthError(a) {
  const code = text(a.body?.error);
  if (code === undefined) return fail("oauth", "token endpoint answered HTTP " + a.status, { status: a.status });
  const d = text(a.body.error_description);
  return fail("oauth", d === undefined ? code : code + ": " + d, { status: a.status, oauthError: code });
}

function fhirError(a) {
  const b = a.body;
  const issues = [];
  if (b?.resourceType === "OperationOutcome") {
    for (const i of list(b.issue)) {
      issues.push({
        severity: text(i?.severity) ?? "",
        code: text(i?.code) ?? "",
        diagnostics: text(i?.diagnostics) ?? text(i?.details?.text),
        expression: list(i?.expression).filter((x) => typeof x === "string"),
      });
    }
  }
  const detail = issues.find((i) => i.diagnostics !== undefined)?.diagnostics ?? "no OperationOutcome";
  const e = fail("fhir", "HTTP " + a.status + ": " + detail, { status: a.status, issues });
  const seconds = a.retryAfter === null ? -1 : core.retryAfterSeconds(a.retryAfter, now());
  if (seconds >= 0) e.retryAfter = seconds;
  return e;
}

// ---------------------------------------------------------------- launch

/** Launches started in this document (the popup flow completes from here), by state. */
const started = new Map();
/** Code exchanges in progress by state: a second ready() joins the first instead of replaying the code. */
const exchanging = new Map();
/** The state of the latest completion started here: a ready() after the address bar was cleaned joins it. */
let latest = null;

function subtle() {
  if (!globalThis.crypto?.subtle) throw fail("launch", "WebCrypto is unavailable (a secure context is required)");
  return crypto.subtle;
}

const randomBytes = () => crypto.getRandomValues(new Uint8Array(32));
const utf8 = (s) => new TextEncoder().encode(s);

function absolute(url, base) {
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

const POPUP_FEATURES = "popup,width=520,height=720";

/** True in a frame (an EHR iframe), where a `_top` launch leaves the frame. */
function inFrame() {
  try {
    return globalThis.top !== globalThis.self;
  } catch {
    return true;
  }
}

export function authorize(options) {
  const first = Array.isArray(options) ? options[0] : options;
  // The sign-in popup is opened here, in the caller's task: browsers allow a popup only while the click's user
  // activation lasts, and the launch awaits the wasm and discovery first. It is sent to the authorization page
  // once that is known, and closed if the launch fails before.
  let popup = null;
  if (isObject(first) && first.target === "popup" && first.noRedirect !== true) {
    popup = open("", "_blank", POPUP_FEATURES);
    if (!popup) return Promise.reject(fail("popup", "the popup was blocked: call authorize() from a click handler"));
  }
  return startLaunch(options, popup).catch((e) => {
    try {
      popup?.close();
    } catch {}
    throw e;
  });
}

async function startLaunch(options, popupWindow) {
  await load();
  const page = location.href;
  const entries = Array.isArray(options) ? options : [options];
  const first = entries[0];
  if (!isObject(first)) throw fail("launch", "authorize() needs options");
  const plan = check(
    core.plan(
      lines(
        entries.map((o) =>
          form({
            client_id: text(o?.clientId),
            scope: text(o?.scope),
            redirect_uri: text(o?.redirectUri) === undefined ? page.split(/[?#]/)[0] : absolute(o.redirectUri, page),
            iss: text(o?.iss),
            launch: text(o?.launch),
          }),
        ),
        "\u0001",
      ),
      page,
    ),
  );
  const target = text(first.target) ?? "_self";
  const popup = target === "popup";
  if (core.restartsAtTop(target, flag(inFrame()), flag(isObject(first.storage)), flag(first.noRedirect === true))) {
    // The top level loads this page (with its `iss` and `launch`), where this authorize() runs again with
    // first-party storage (launch::restarts_at_top says why).
    if (!open(page, "_top")) throw fail("popup", "cannot open the launch in _top");
    return page;
  }
  let store;
  try {
    store = storeOf(first);
  } catch (e) {
    // The popup hand-over needs no storage: the launch waits in this document.
    if (!popup || e.kind !== "storage_unavailable") throw e;
    store = memoryStore;
  }
  const config = await publicJson(core.discoveryUrl(record(plan).server));
  const pending = check(core.pending(plan, form(config), randomBytes(), randomBytes(), randomBytes(), now()));
  const { state, code_verifier } = record(pending);
  const digest = new Uint8Array(await subtle().digest("SHA-256", utf8(code_verifier)));
  const url = check(core.authorizeUrl(pending, digest));
  await stored(store, "setItem", PREFIX + "launch:" + state, pending);
  started.set(state, pending);
  if (first.noRedirect === true) return url;
  if (target === "_self") {
    location.href = url;
    return url;
  }
  if (popup) {
    const w = popupWindow;
    // Its name tells its ready() that it is the sign-in popup (it is still this origin's about:blank here).
    w.name = POPUP + state;
    w.location.href = url;
    return complete(store, await popupRedirect(w, state), false);
  }
  if (!open(url, target)) throw fail("popup", "cannot open the launch in " + target);
  return url;
}

/** The redirect URL the popup's ready() posts back, or a rejection once the popup is closed. Never waits forever. */
function popupRedirect(popup, state) {
  return new Promise((resolve, reject) => {
    const done = () => {
      removeEventListener("message", onMessage);
      clearInterval(timer);
    };
    const onMessage = (event) => {
      const url = text(event.data?.url) ?? "";
      if (event.origin === location.origin && event.data?.type === MESSAGE && record(core.redirect(url)).state === state) {
        done();
        resolve(url);
      }
    };
    const timer = setInterval(() => {
      if (popup.closed) {
        done();
        reject(fail("popup", "the sign-in popup was closed before the launch completed"));
      }
    }, 500);
    addEventListener("message", onMessage);
  });
}

function cleanAddressBar(page) {
  const clean = core.stripRedirect(page);
  try {
    if (clean !== page) history.replaceState(history.state, "", clean);
  } catch {}
}

/**
 * Keeps the launch's `state` with this page's history entry. sessionStorage is shared by every same-origin frame
 * of the tab, so its "current" key names whichever frame completed last; history.state belongs to this frame and
 * survives a reload, so each frame restores its own launch. An app's own non-object state is left alone.
 */
function rememberLaunch(state) {
  try {
    const s = history.state;
    if (s === null || s === undefined) history.replaceState({ [PAGE_STATE]: state }, "");
    else if (isObject(s) && !Array.isArray(s)) history.replaceState({ ...s, [PAGE_STATE]: state }, "");
  } catch {}
}

/** The launch `state` kept with this page's history entry, if any. */
function rememberedLaunch() {
  try {
    return text(history.state?.[PAGE_STATE]);
  } catch {
    return undefined;
  }
}

export async function ready(options) {
  await load();
  const page = location.href;
  const redirect = record(core.redirect(page));
  const back = redirect.code !== undefined || redirect.error !== undefined;
  // In the sign-in popup: hand the redirect to the opener and close.
  if (back && name.startsWith(POPUP) && opener) {
    try {
      opener.postMessage({ type: MESSAGE, url: page }, location.origin);
    } catch {
      throw fail("launch", "cannot reach the opener");
    }
    close();
    throw fail("popup", "the launch completes in the window that opened this popup");
  }
  let store, storeError;
  try {
    store = storeOf(options);
  } catch (e) {
    storeError = e;
  }
  if (redirect.error !== undefined) {
    cleanAddressBar(page);
    if (redirect.state !== undefined && store) await stored(store, "removeItem", PREFIX + "launch:" + redirect.state);
    throw fail("oauth", redirect.message, { oauthError: redirect.error });
  }
  if (storeError) throw storeError;
  if (redirect.code !== undefined) return complete(store, page);
  if (latest !== null && exchanging.has(latest)) return finish(store, latest, exchanging.get(latest));
  // This page's own launch before the tab's latest (launch::restore_state).
  const state = core.restoreState(text(options?.state), rememberedLaunch(), await stored(store, "getItem", CURRENT));
  const session = state ? await stored(store, "getItem", PREFIX + "session:" + state) : null;
  if (typeof session === "string" && record(session).access_token !== undefined) {
    return makeClient(session, store, PREFIX + "session:" + state);
  }
  throw fail("launch", "no launch to complete and no session to restore: call authorize() first");
}

/** Exchanges the code of redirect URL `page` once per state, even if ready() runs twice; `page` is this document's address unless a popup posted it. */
function complete(store, page, here = true) {
  const { code, state } = record(core.redirect(page));
  if (code === undefined) throw fail("launch", "the redirect carries no code");
  let running = exchanging.get(state);
  if (!running) {
    running = exchange(store, state, code).finally(() => exchanging.delete(state));
    exchanging.set(state, running);
    latest = state;
    if (here) cleanAddressBar(page);
  }
  return finish(store, state, running);
}

async function finish(store, state, running) {
  return makeClient(await running, store, PREFIX + "session:" + state);
}

async function exchange(store, state, code) {
  const key = PREFIX + "launch:" + state;
  const pending = (await stored(store, "getItem", key)) ?? started.get(state);
  if (typeof pending !== "string") {
    throw fail(
      "storage_unavailable",
      "no pending launch for this `state`: it expired, was already completed, or was started where this page " +
        "cannot read its storage (an EHR iframe with partitioned storage); launch with target \"popup\" or \"_top\"",
    );
  }
  await stored(store, "removeItem", key);
  started.delete(state);
  const body = check(core.tokenRequest(pending, code, now()));
  const launch = record(pending);
  const a = await send(launch.token_endpoint, formPost(body));
  if (!a.ok) throw oauthError(a);
  const token = form(a.body);
  const context = isObject(a.body?.fhirContext) ? JSON.stringify(a.body.fhirContext) : undefined;
  const session = (fhirUser) =>
    check(core.session(launch.server, launch.client_id, launch.token_endpoint, token, context, fhirUser, now()));
  session(); // the token response is checked before the id_token
  const idToken = text(a.body.id_token);
  const result = session(idToken === undefined ? undefined : await verifyIdToken(idToken, pending, launch));
  await stored(store, "setItem", PREFIX + "session:" + state, result);
  await stored(store, "setItem", CURRENT, state);
  rememberLaunch(state);
  return result;
}

const parseJson = (s) => {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
};

/** Verifies an id_token (RS256 against the server's JWKS in WebCrypto, then the claims in the core); its fhirUser. */
async function verifyIdToken(token, pending, launch) {
  const [header, claims] = check(core.jwsParts(token)).split("\0").map(parseJson);
  if (!launch.jwks_uri) throw fail("id_token", "the server lists no jwks_uri to verify the id_token");
  const keys = list((await publicJson(launch.jwks_uri)).keys);
  const key = keys[+check(core.pickKey(form(header), lines(keys.map(form), "\u0001")))];
  if (typeof key.n !== "string" || typeof key.e !== "string") throw fail("id_token", "JWKS key lacks n or e");
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  let verified;
  try {
    const k = await subtle().importKey("jwk", { kty: "RSA", n: key.n, e: key.e }, algorithm, false, ["verify"]);
    const dot = token.lastIndexOf(".");
    verified = await subtle().verify(algorithm, k, core.base64url(token.slice(dot + 1)), utf8(token.slice(0, dot)));
  } catch {
    throw fail("id_token", "JWKS key does not import");
  }
  if (!verified) throw fail("id_token", "id_token signature does not verify");
  return record(check(core.checkClaims(form(claims), pending, now()))).fhir_user;
}

export function storageAvailable() {
  try {
    storeOf();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- client

/** The state behind each Client: session text and record, store, key, context, shared refresh. */
const inner = new WeakMap();

function makeClient(session, store, key) {
  const c = Object.create(Client.prototype);
  const o = record(session);
  inner.set(c, { t: session, o, store, key, refreshing: null, context: parseJson(o.fhir_context ?? "[]") ?? [] });
  return c;
}

function setSession(st, session) {
  st.t = session;
  st.o = record(session);
}

function refreshShared(st) {
  st.refreshing ??= refreshNow(st).finally(() => (st.refreshing = null));
  return st.refreshing;
}

async function refreshNow(st) {
  const body = check(core.refreshRequest(st.t));
  const a = await send(st.o.token_endpoint, formPost(body));
  if (!a.ok) throw oauthError(a);
  setSession(st, check(core.applyToken(st.t, form(a.body), now())));
  if (st.key) await stored(st.store, "setItem", st.key, st.t);
}

/** Sends with the bearer token: refreshes first when due, after a 401 retries once. The token only goes under the FHIR base. */
async function authorized(st, url, method, body, contentType, signal) {
  const base = st.o.server;
  if (!core.underBase(url, base)) {
    throw fail("protocol", url + " is not under the FHIR base " + base + "; the access token is only sent there");
  }
  if (core.due(st.t, now()) & 1) {
    try {
      await abortable(refreshShared(st), signal, url);
    } catch (e) {
      if (e.kind === "aborted" || core.due(st.t, now()) & 2) throw e;
    }
  }
  for (let retried = false; ; retried = true) {
    const token = st.o.access_token;
    const headers = { Accept: FHIR_JSON, Authorization: "Bearer " + token };
    if (contentType) headers["Content-Type"] = contentType;
    const a = await send(url, { method, headers, body }, signal);
    if (a.status === 401) {
      const next = core.after401(st.t, token, retried ? "1" : "");
      if (next === 1) continue;
      if (next === 2) {
        await abortable(refreshShared(st), signal, url);
        continue;
      }
    }
    return a;
  }
}

async function fhirJson(st, url, signal, method = "GET", body, contentType) {
  const a = await authorized(st, url, method, body, contentType, signal);
  if (a.ok) return a.body;
  throw fhirError(a);
}

/** Every `reference` string of a resource, outside its `contained` resources. */
function references(value, out) {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (isObject(value)) {
    for (const k in value) {
      if (k === "reference") {
        if (typeof value[k] === "string") out.push(value[k]);
      } else if (k !== "contained") references(value[k], out);
    }
  }
  return out;
}

function hidden(o, key, empty) {
  const current = o[key];
  if (Array.isArray(empty) ? Array.isArray(current) : isObject(current)) return current;
  Object.defineProperty(o, key, { value: empty, configurable: true });
  return empty;
}

/** A Bundle as a SearchPage, with `_include`/`_revinclude` results attached as the core plans. */
function searchPage(bundle, base) {
  if (bundle?.resourceType !== "Bundle") throw fail("protocol", "search answer is not a Bundle");
  let next = null;
  for (const l of list(bundle.link)) if (l?.relation === "next") next = text(l.url) ?? null;
  const resources = [], included = [], outcomes = [], matchEntries = [], includeEntries = [];
  for (const e of list(bundle.entry)) {
    const r = e?.resource;
    if (r == null) continue;
    const mode = e.search?.mode;
    if (mode === "include") {
      included.push(r);
      includeEntries.push(e);
    } else if (mode === "outcome") outcomes.push(r);
    else {
      resources.push(r);
      matchEntries.push(e);
    }
  }
  if (included.length) {
    const refs = [];
    const describe = (entries, keep) =>
      lines(
        entries.map((e) => {
          const r = e.resource;
          const found = references(r, []).map(field);
          keep?.push(found);
          return lines([field(r.resourceType), field(r.id), field(e.fullUrl), ...found], "\0");
        }),
        "\u0001",
      );
    const plan = core.planAttachments(base, describe(includeEntries), describe(matchEntries, refs));
    for (let i = 0; i < plan.length; i += 4) {
      const [kind, of, target, n] = plan.slice(i, i + 4);
      const m = resources[of];
      if (kind === 2) hidden(m, "$revincluded", []).push(included[target]);
      else hidden(m, "$refs", {})[refs[of][n]] = kind ? included[target] : resources[target];
    }
  }
  return { resources, included, outcomes, next, total: typeof bundle.total === "number" ? bundle.total : undefined, bundle };
}

async function fetchPage(st, url, signal) {
  return searchPage(await fhirJson(st, url, signal), st.o.server);
}

function searchUrl(st, type, params) {
  return check(core.searchUrl(st.o.server, type, form(params)));
}

const bound = (options, key, fallback) => {
  const v = options?.[key];
  return typeof v === "number" && v >= 0 ? Math.floor(v) : fallback;
};

function referencesAt(resource, path, out) {
  let nodes = [resource];
  for (const step of path.split(".").filter(Boolean)) {
    const next = [];
    for (const n of nodes) {
      const child = isObject(n) ? n[step] : undefined;
      if (child == null) continue;
      if (Array.isArray(child) && child.length) next.push(...child);
      else next.push(child);
    }
    nodes = next;
  }
  for (const n of nodes) references(n, out);
  return out;
}

export class Client {
  /** The FHIR base URL. */
  get serverUrl() {
    return inner.get(this).o.server;
  }
  get patient() {
    return inner.get(this).o.patient;
  }
  get encounter() {
    return inner.get(this).o.encounter;
  }
  get fhirUser() {
    return inner.get(this).o.fhir_user;
  }
  get user() {
    const o = inner.get(this).o;
    return o.fhir_user === undefined ? undefined : core.userReference(o.fhir_user, o.server);
  }
  get needPatientBanner() {
    return inner.get(this).o.need_patient_banner !== "false";
  }
  get smartStyleUrl() {
    return inner.get(this).o.smart_style_url;
  }
  get fhirContext() {
    return inner.get(this).context;
  }
  get scopes() {
    return (inner.get(this).o.scope ?? "").split(/\s+/).filter(Boolean);
  }
  get accessToken() {
    return inner.get(this).o.access_token;
  }
  get expiresAt() {
    const e = inner.get(this).o.expires_at_ms;
    return e === undefined ? undefined : +e;
  }
  get canRefresh() {
    return inner.get(this).o.refresh_token !== undefined;
  }

  async read(type, id, options) {
    const st = inner.get(this);
    return fhirJson(st, check(core.readUrl(st.o.server, type, id)), options?.signal);
  }

  async search(type, params, options) {
    const st = inner.get(this);
    return fetchPage(st, searchUrl(st, type, params), options?.signal);
  }

  async nextPage(page, options) {
    const next = typeof page === "string" ? page : text(page?.next);
    return next === undefined ? null : fetchPage(inner.get(this), next, options?.signal);
  }

  async searchAll(type, params, options) {
    const st = inner.get(this);
    const limit = bound(options, "limit", 10000);
    const maxPages = bound(options, "maxPages", 1000);
    const all = [];
    let url = searchUrl(st, type, params);
    for (let pages = 0; url && pages < maxPages && all.length < limit; pages++) {
      const page = await fetchPage(st, url, options?.signal);
      for (const r of page.resources) if (all.length < limit) all.push(r);
      url = page.next;
    }
    return all;
  }

  pages(type, params, options) {
    const st = inner.get(this);
    let url = searchUrl(st, type, params);
    let left = bound(options, "maxPages", 1000);
    const it = Object.create(PageIterator.prototype);
    it.next = async () => {
      if (left <= 0) url = null;
      const u = url;
      url = null;
      if (!u) return { done: true, value: undefined };
      const page = await fetchPage(st, u, options?.signal);
      left -= 1;
      url = page.next;
      return { done: false, value: page };
    };
    return it;
  }

  async resolveReferences(resources, options) {
    const st = inner.get(this);
    const all = Array.isArray(resources) ? resources : [resources];
    const paths = list(options?.paths).filter((p) => typeof p === "string");
    const keyOf = (r) =>
      typeof r?.resourceType === "string" && typeof r.id === "string" ? r.resourceType + "/" + r.id : null;
    const add = (map, r) => {
      const k = keyOf(r);
      if (k !== null && !map.has(k)) map.set(k, r);
    };
    const atHand = new Map();
    all.forEach((r) => add(atHand, r));
    for (const k of ["resources", "included"]) list(options?.page?.[k]).forEach((r) => add(atHand, r));
    const refs = all.map((r) =>
      (paths.length ? paths.flatMap((p) => referencesAt(r, p, [])) : references(r, [])).map(field),
    );
    const described = all.map(
      (r, i) => lines(refs[i], "\0") + "\0\0" + lines(list(r?.contained).map((c) => field(c?.id)), "\0"),
    );
    const plan = core.planResolution(st.o.server, lines(described, "\u0001"), lines([...atHand.keys()].map(field), "\0"));
    const items = plan ? plan.split("\u0001").map((x) => x.split("\0")) : [];
    const fetched = new Map();
    for (const [tag, url] of items) {
      if (tag === "u") for (const r of (await fetchPage(st, url, options?.signal)).resources) add(fetched, r);
    }
    let resolved = 0;
    for (const [tag, i, n, source] of items) {
      if (tag === "u") continue;
      const target = tag === "c" ? list(all[i].contained)[source] : (tag === "h" ? atHand : fetched).get(source);
      if (target) {
        hidden(all[i], "$refs", {})[refs[i][n]] = target;
        resolved++;
      }
    }
    return resolved;
  }

  async request(path, options) {
    const st = inner.get(this);
    const b = options?.body;
    const body = b == null ? undefined : typeof b === "string" ? b : JSON.stringify(b);
    const contentType = text(options?.contentType) ?? (body === undefined ? undefined : FHIR_JSON);
    const method = text(options?.method) ?? "GET";
    return fhirJson(st, core.absoluteUrl(st.o.server, path), options?.signal, method, body, contentType);
  }

  async refresh() {
    await refreshShared(inner.get(this));
  }

  async forget() {
    const st = inner.get(this);
    if (st.key) await stored(st.store, "removeItem", st.key);
  }

  /** Kept for compatibility with the wasm-bindgen classes of 0.1: nothing to free. */
  free() {}
}

/** The pages of a search (`client.pages(…)`): an async iterator. */
export class PageIterator {
  [Symbol.asyncIterator]() {
    return this;
  }
  free() {}
}

if (Symbol.dispose) Client.prototype[Symbol.dispose] = PageIterator.prototype[Symbol.dispose] = function () {};

export function client(options) {
  const get = (k) => text(options?.[k]);
  const server = get("serverUrl");
  if (server === undefined) throw fail("launch", "serverUrl is required");
  const token = form({
    access_token: get("accessToken"),
    token_type: "Bearer",
    expires_in: options.expiresIn,
    refresh_token: get("refreshToken"),
    scope: get("scope"),
    patient: get("patient"),
    encounter: get("encounter"),
  });
  const session = check(
    core.session(server, get("clientId") ?? "", get("tokenEndpoint") ?? "", token, undefined, undefined, now()),
  );
  return makeClient(session, memoryStore, null);
}

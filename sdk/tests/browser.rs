//! The browser glue in headless Chromium (`wasm-bindgen-test`): real
//! `fetch` (answered by a stub installed on `window.fetch`), real
//! `sessionStorage`, `history`, WebCrypto (an RSA key generated in the page
//! signs the id_tokens) and timers.
//!
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p flare-sdk --target wasm32-unknown-unknown --test browser`
#![cfg(target_arch = "wasm32")]

use flare_sdk::browser::{authorize, client, ready, Client};
use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
const BASE = "https://ehr.test/fhir";
let key = null;
const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const enc = (obj) => b64u(new TextEncoder().encode(JSON.stringify(obj)));

export function base() { return BASE; }

// Routes: [{ match, status, body, headers, times }]; every call is recorded.
export function installFetch(routes) {
  const calls = [];
  window.fetch = async (url, init = {}) => {
    url = String(url);
    const headers = Object.fromEntries(Object.entries(init.headers || {}));
    calls.push({ url, method: init.method || "GET", headers, body: init.body ?? null });
    if (init.signal && init.signal.aborted) throw new DOMException("aborted", "AbortError");
    const route = routes.find((r) => url.includes(r.match) && (r.times === undefined || r.times > 0));
    if (!route) return new Response(JSON.stringify({ resourceType: "OperationOutcome", issue: [{ severity: "error", code: "not-found", diagnostics: "no route " + url }] }), { status: 404 });
    if (route.times !== undefined) route.times -= 1;
    if (route.delay) await new Promise((r) => setTimeout(r, route.delay));
    let body = typeof route.body === "function" ? await route.body(url, init) : route.body;
    if (typeof body !== "string") body = JSON.stringify(body);
    return new Response(body, { status: route.status || 200, headers: route.headers || {} });
  };
  return calls;
}

export function discovery() {
  return { issuer: BASE, jwks_uri: "https://ehr.test/jwks", authorization_endpoint: "https://ehr.test/authorize",
           token_endpoint: "https://ehr.test/token", code_challenge_methods_supported: ["S256"] };
}

export async function jwks() {
  key = key || await crypto.subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", key.publicKey);
  return { keys: [{ kty: "RSA", kid: "k1", alg: "RS256", use: "sig", n: jwk.n, e: jwk.e }] };
}

export async function idToken(claims, tamper) {
  await jwks();
  const input = enc({ alg: "RS256", kid: "k1", typ: "JWT" }) + "." + enc(claims);
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.privateKey, new TextEncoder().encode(input));
  const token = input + "." + b64u(sig);
  return tamper ? enc({ alg: "RS256", kid: "k1" }) + "." + enc({ ...claims, sub: "someone-else" }) + "." + b64u(sig) : token;
}

export function setUrl(url) { history.replaceState(null, "", url); }
export function currentUrl() { return location.href; }
export function query(url, name) { return new URL(url).searchParams.get(name); }
let savedStorage = null;
export function defineBlockedStorage() {
  savedStorage = Object.getOwnPropertyDescriptor(window, "sessionStorage") || null;
  Object.defineProperty(window, "sessionStorage", { configurable: true, get() { throw new DOMException("blocked", "SecurityError"); } });
}
export function restoreStorage() {
  if (savedStorage) Object.defineProperty(window, "sessionStorage", savedStorage); else delete window.sessionStorage;
}
export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
// Records the windows authorize() opens (chromedriver disables the popup blocker).
export function watchPopups() {
  window.__popups = [];
  if (!window.__realOpen) window.__realOpen = window.open.bind(window);
  window.open = (url, name, features) => {
    const w = window.__realOpen("about:blank", name, features);
    window.__popups.push({ w, url: String(url), name: String(name) });
    return w;
  };
}
export function popupUrl() { const p = (window.__popups || [])[0]; return p ? p.url : null; }
export function popupName() { const p = (window.__popups || [])[0]; return p ? p.name : null; }
export function closePopup() { window.__popups[0].w.close(); }
// What the popup's ready() posts to its opener.
export function postRedirect(url) {
  window.dispatchEvent(new MessageEvent("message", { data: { type: "flare-smart:redirect", url }, origin: location.origin }));
}
export function clearStorage() { try { sessionStorage.clear(); } catch (e) {} }
export function bundle(entries, next) {
  return { resourceType: "Bundle", type: "searchset", link: next ? [{ relation: "next", url: next }] : [], entry: entries };
}
export function nowSeconds() { return Math.floor(Date.now() / 1000); }
export function abortedSignal() { const c = new AbortController(); c.abort(); return c.signal; }
export function memoryStore() {
  const m = new Map();
  return { map: m, getItem: async (k) => (m.has(k) ? m.get(k) : null), setItem: async (k, v) => { m.set(k, v); }, removeItem: (k) => { m.delete(k); } };
}
"#)]
extern "C" {
    fn base() -> String;
    #[wasm_bindgen(js_name = installFetch)]
    fn install_fetch(routes: &JsValue) -> Array;
    fn discovery() -> JsValue;
    async fn jwks() -> JsValue;
    #[wasm_bindgen(js_name = idToken)]
    async fn id_token(claims: &JsValue, tamper: bool) -> JsValue;
    #[wasm_bindgen(js_name = setUrl)]
    fn set_url(url: &str);
    #[wasm_bindgen(js_name = currentUrl)]
    fn current_url() -> String;
    fn query(url: &str, name: &str) -> Option<String>;
    #[wasm_bindgen(js_name = defineBlockedStorage)]
    fn define_blocked_storage();
    #[wasm_bindgen(js_name = restoreStorage)]
    fn restore_storage();
    #[wasm_bindgen(js_name = clearStorage)]
    fn clear_storage();
    fn bundle(entries: &JsValue, next: Option<String>) -> JsValue;
    #[wasm_bindgen(js_name = nowSeconds)]
    fn now_seconds() -> f64;
    #[wasm_bindgen(js_name = abortedSignal)]
    fn aborted_signal() -> JsValue;
    #[wasm_bindgen(js_name = memoryStore)]
    fn memory_store() -> JsValue;
    async fn sleep(ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = watchPopups)]
    fn watch_popups();
    #[wasm_bindgen(js_name = popupUrl)]
    fn popup_url() -> Option<String>;
    #[wasm_bindgen(js_name = popupName)]
    fn popup_name() -> Option<String>;
    #[wasm_bindgen(js_name = closePopup)]
    fn close_popup();
    #[wasm_bindgen(js_name = postRedirect)]
    fn post_redirect(url: &str);
}

fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).expect("test JSON")
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn route(matching: &str, status: u16, body: &JsValue) -> JsValue {
    let r = js_sys::Object::new();
    Reflect::set(&r, &"match".into(), &matching.into()).unwrap();
    Reflect::set(&r, &"status".into(), &JsValue::from(status)).unwrap();
    Reflect::set(&r, &"body".into(), body).unwrap();
    r.into()
}

fn with(r: JsValue, key: &str, value: JsValue) -> JsValue {
    Reflect::set(&r, &key.into(), &value).unwrap();
    r
}

async fn done(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

fn token_client(expires_in: f64, refresh: bool) -> Client {
    let o = js_sys::Object::new();
    for (k, v) in [
        ("serverUrl", base()),
        ("accessToken", "t1".into()),
        ("tokenEndpoint", "https://ehr.test/token".into()),
        ("clientId", "app".into()),
    ] {
        Reflect::set(&o, &k.into(), &v.into()).unwrap();
    }
    Reflect::set(&o, &"expiresIn".into(), &expires_in.into()).unwrap();
    if refresh {
        Reflect::set(&o, &"refreshToken".into(), &"r1".into()).unwrap();
    }
    client(o.into()).unwrap()
}

fn error_kind(e: &JsValue) -> String {
    get(e, "kind").as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn search_attaches_includes_and_sends_the_token_only_to_the_server() {
    let entries = json(
        r#"[{"fullUrl":"https://ehr.test/fhir/MedicationRequest/m1","search":{"mode":"match"},
            "resource":{"resourceType":"MedicationRequest","id":"m1","medicationReference":{"reference":"Medication/x"}}},
           {"fullUrl":"https://ehr.test/fhir/Medication/x","search":{"mode":"include"},"resource":{"resourceType":"Medication","id":"x"}},
           {"search":{"mode":"include"},"resource":{"resourceType":"Provenance","id":"p","target":[{"reference":"MedicationRequest/m1"}]}}]"#,
    );
    let routes = Array::of1(&route(
        "/MedicationRequest?",
        200,
        &bundle(&entries, Some("https://evil.test/fhir/next".into())),
    ));
    let calls = install_fetch(&routes);
    let c = token_client(3600.0, false);
    let params = json(
        r#"{"patient":"p1","_include":["MedicationRequest:medication"],"status":["active","completed"]}"#,
    );
    let page = done(c.search("MedicationRequest".into(), params, JsValue::UNDEFINED))
        .await
        .unwrap();
    let call = calls.get(0);
    assert_eq!(
        get(&call, "url").as_string().unwrap(),
        "https://ehr.test/fhir/MedicationRequest?patient=p1&_include=MedicationRequest%3Amedication&status=active&status=completed"
    );
    assert_eq!(
        get(&get(&call, "headers"), "Authorization").as_string().unwrap(),
        "Bearer t1"
    );
    let rx = get(&page, "resources").dyn_into::<Array>().unwrap().get(0);
    let med = get(&get(&rx, "$refs"), "Medication/x");
    assert_eq!(get(&med, "id").as_string().unwrap(), "x");
    let rev = get(&rx, "$revincluded").dyn_into::<Array>().unwrap();
    assert_eq!(
        get(&rev.get(0), "resourceType").as_string().unwrap(),
        "Provenance"
    );
    // Hidden from JSON: the resource serialises as it came.
    assert!(!js_sys::JSON::stringify(&rx)
        .unwrap()
        .as_string()
        .unwrap()
        .contains("$refs"));
    // A next link to another host is refused before any request.
    let err = done(c.next_page(page, JsValue::UNDEFINED)).await.unwrap_err();
    assert_eq!(error_kind(&err), "protocol");
    assert_eq!(calls.length(), 1);
}

#[wasm_bindgen_test]
async fn throttling_is_retried_after_retry_after_and_errors_are_typed() {
    let outcome = json(
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"throttled","diagnostics":"slow down"}]}"#,
    );
    let throttled = with(route("/Patient/1", 429, &outcome), "times", 1.into());
    let throttled = with(throttled, "headers", json(r#"{"Retry-After":"0"}"#));
    let ok = route("/Patient/1", 200, &json(r#"{"resourceType":"Patient","id":"1"}"#));
    let gone = route(
        "/Patient/2",
        404,
        &json(
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Patient/2 is not known"}]}"#,
        ),
    );
    let calls = install_fetch(&Array::of3(&throttled, &ok, &gone));
    let c = token_client(3600.0, false);
    let patient = done(c.read("Patient".into(), "1".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&patient, "id").as_string().unwrap(), "1");
    assert_eq!(calls.length(), 2);
    let err = done(c.read("Patient".into(), "2".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(error_kind(&err), "fhir");
    assert_eq!(get(&err, "status").as_f64(), Some(404.0));
    assert_eq!(get(&err, "name").as_string().unwrap(), "FlareError");
    let issue = get(&err, "issues").dyn_into::<Array>().unwrap().get(0);
    assert_eq!(
        get(&issue, "diagnostics").as_string().unwrap(),
        "Patient/2 is not known"
    );
    // An aborted signal rejects as aborted.
    let options = js_sys::Object::new();
    Reflect::set(&options, &"signal".into(), &aborted_signal()).unwrap();
    let err = done(c.read("Patient".into(), "1".into(), options.into()))
        .await
        .unwrap_err();
    assert_eq!(error_kind(&err), "aborted");
}

#[wasm_bindgen_test]
async fn concurrent_401s_share_one_refresh() {
    let refreshed = json(
        r#"{"access_token":"t2","token_type":"Bearer","expires_in":3600,"refresh_token":"r2","scope":"patient/*.rs"}"#,
    );
    let token = with(route("/token", 200, &refreshed), "delay", 50.into());
    let unauthorized = json(
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"expired"}]}"#,
    );
    // The stub answers 401 to t1 and 200 to t2.
    let patient = js_sys::Function::new_with_args(
        "url, init",
        "return init.headers.Authorization === 'Bearer t2' ? {resourceType:'Patient',id:'1'} : null",
    );
    let r401 = with(route("/Patient/1", 401, &unauthorized), "times", 3.into());
    let ok = route("/Patient/1", 200, &patient);
    let calls = install_fetch(&Array::of3(&token, &r401, &ok));
    let c = token_client(3600.0, true);
    let reads: Vec<Promise> = (0..3)
        .map(|_| c.read("Patient".into(), "1".into(), JsValue::UNDEFINED))
        .collect();
    for p in reads {
        assert_eq!(get(&done(p).await.unwrap(), "id").as_string().unwrap(), "1");
    }
    let token_calls = calls
        .iter()
        .filter(|c| get(c, "url").as_string().unwrap().ends_with("/token"))
        .count();
    assert_eq!(token_calls, 1, "one refresh for three 401s");
    assert_eq!(c.access_token(), "t2");
    let body = get(
        &calls
            .iter()
            .find(|c| get(c, "url").as_string().unwrap().ends_with("/token"))
            .unwrap(),
        "body",
    );
    assert!(body
        .as_string()
        .unwrap()
        .contains("grant_type=refresh_token&refresh_token=r1&client_id=app"));
}

#[wasm_bindgen_test]
async fn expiring_tokens_refresh_before_the_request() {
    let refreshed = json(r#"{"access_token":"t2","token_type":"Bearer","expires_in":3600}"#);
    let calls = install_fetch(&Array::of2(
        &route("/token", 200, &refreshed),
        &route("/Patient/1", 200, &json(r#"{"resourceType":"Patient","id":"1"}"#)),
    ));
    let c = token_client(1.0, true);
    let _ = sleep(950.0).await; // inside the last tenth of the lifetime: refresh first
    done(c.read("Patient".into(), "1".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert!(get(&calls.get(0), "url").as_string().unwrap().ends_with("/token"));
    assert_eq!(
        get(&get(&calls.get(1), "headers"), "Authorization")
            .as_string()
            .unwrap(),
        "Bearer t2"
    );
    assert!(c.can_refresh(), "the unrotated refresh token is kept");
}

async fn start_launch(scope: &str, storage: Option<JsValue>) -> String {
    let o = js_sys::Object::new();
    for (k, v) in [
        ("iss", base()),
        ("clientId", "app".to_string()),
        ("scope", scope.to_string()),
        ("redirectUri", "https://app.test/cb".to_string()),
    ] {
        Reflect::set(&o, &k.into(), &v.into()).unwrap();
    }
    Reflect::set(&o, &"noRedirect".into(), &JsValue::TRUE).unwrap();
    if let Some(s) = storage {
        Reflect::set(&o, &"storage".into(), &s).unwrap();
    }
    authorize(o.into()).await.unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
async fn standalone_launch_completes_once_and_verifies_the_id_token() {
    clear_storage();
    let original = current_url();
    let page = original.split(['?', '#']).next().unwrap().to_string();
    let discovery_route = route("/.well-known/smart-configuration", 200, &discovery());
    install_fetch(&Array::of1(&discovery_route));
    let url = start_launch("openid fhirUser launch/patient patient/*.rs", None).await;
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(&url, "aud").as_deref(), Some("https://ehr.test/fhir"));
    let state = query(&url, "state").unwrap();
    assert_eq!(state.len(), 43);
    let nonce = query(&url, "nonce").unwrap();
    let challenge = query(&url, "code_challenge").unwrap();

    let claims = js_sys::Object::new();
    for (k, v) in [
        ("iss", JsValue::from(base())),
        ("aud", "app".into()),
        ("sub", "u1".into()),
        ("nonce", nonce.into()),
        ("fhirUser", "https://ehr.test/fhir/Patient/p1".into()),
        ("exp", (now_seconds() + 300.0).into()),
    ] {
        Reflect::set(&claims, &k.into(), &v).unwrap();
    }
    let token = id_token(&claims.into(), false).await;
    let response = json(
        r#"{"access_token":"a1","token_type":"Bearer","expires_in":3600,"scope":"openid fhirUser patient/*.rs",
        "patient":"p1","need_patient_banner":false,"fhirContext":[{"reference":"Encounter/e1"}]}"#,
    );
    Reflect::set(&response, &"id_token".into(), &token).unwrap();
    let token_route = with(route("/token", 200, &response), "delay", 30.into());
    let calls = install_fetch(&Array::of3(
        &discovery_route,
        &token_route,
        &route("/jwks", 200, &jwks().await),
    ));

    set_url(&format!("{page}?keep=1&code=c1&state={state}"));
    // Two ready() calls (React StrictMode): one code exchange.
    let (a, b) = futures_join(ready(JsValue::UNDEFINED), ready(JsValue::UNDEFINED)).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.patient().as_deref(), Some("p1"));
    assert_eq!(b.access_token(), "a1");
    assert_eq!(a.user().as_deref(), Some("Patient/p1"));
    assert!(!a.need_patient_banner());
    assert_eq!(
        get(&Array::from(&a.fhir_context()).get(0), "reference")
            .as_string()
            .unwrap(),
        "Encounter/e1"
    );
    let token_calls: Vec<JsValue> = calls
        .iter()
        .filter(|c| get(c, "url").as_string().unwrap().ends_with("/token"))
        .collect();
    assert_eq!(token_calls.len(), 1);
    let body = get(&token_calls[0], "body").as_string().unwrap();
    assert!(body.contains("code=c1") && body.contains("code_verifier="));
    // The verifier matches the challenge sent (S256).
    let verifier = body
        .split("code_verifier=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let digest = JsFuture::from(
        web_sys::window()
            .unwrap()
            .crypto()
            .unwrap()
            .subtle()
            .digest_with_str_and_u8_array("SHA-256", verifier.as_bytes())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        flare_sdk::pkce::challenge(&js_sys::Uint8Array::new(&digest).to_vec()),
        challenge
    );
    // code and state are gone from the address bar, other parameters stay.
    assert_eq!(current_url(), format!("{page}?keep=1"));
    // A reload restores the session from storage.
    let restored = ready(JsValue::UNDEFINED).await.unwrap();
    assert_eq!(restored.access_token(), "a1");
    set_url(&original);
}

async fn futures_join<A, B>(a: A, b: B) -> (A::Output, B::Output)
where
    A: std::future::Future + 'static,
    B: std::future::Future + 'static,
    A::Output: 'static,
    B::Output: 'static,
{
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let mut ra = None;
    let mut rb = None;
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

#[wasm_bindgen_test]
async fn a_forged_id_token_fails_and_unknown_states_fail_fast() {
    clear_storage();
    let original = current_url();
    let page = original.split(['?', '#']).next().unwrap().to_string();
    let store = memory_store();
    let discovery_route = route("/.well-known/smart-configuration", 200, &discovery());
    install_fetch(&Array::of1(&discovery_route));
    let url = start_launch("openid fhirUser patient/*.rs", Some(store.clone())).await;
    let state = query(&url, "state").unwrap();
    let claims = json(r#"{"aud":"app","sub":"u1","exp":9999999999}"#);
    Reflect::set(&claims, &"iss".into(), &base().into()).unwrap();
    Reflect::set(&claims, &"nonce".into(), &query(&url, "nonce").unwrap().into()).unwrap();
    let forged = id_token(&claims, true).await;
    let response = json(r#"{"access_token":"a1","token_type":"Bearer","expires_in":3600}"#);
    Reflect::set(&response, &"id_token".into(), &forged).unwrap();
    install_fetch(&Array::of3(
        &discovery_route,
        &route("/token", 200, &response),
        &route("/jwks", 200, &jwks().await),
    ));
    set_url(&format!("{page}?code=c1&state={state}"));
    let options = js_sys::Object::new();
    Reflect::set(&options, &"storage".into(), &store).unwrap();
    let err = ready(options.clone().into()).await.err().unwrap();
    assert_eq!(error_kind(&err), "id_token", "{:?}", get(&err, "message"));
    // The pending launch was consumed: the same redirect again is an unknown state, at once.
    set_url(&format!("{page}?code=c1&state={state}x"));
    let err = ready(options.into()).await.err().unwrap();
    assert_eq!(error_kind(&err), "storage_unavailable");
    // An error redirect is reported as the OAuth error.
    set_url(&format!("{page}?error=access_denied&state={state}"));
    let err = ready(JsValue::UNDEFINED).await.err().unwrap();
    assert_eq!(
        get(&err, "oauthError").as_string().as_deref(),
        Some("access_denied")
    );
    assert_eq!(current_url(), page);
    set_url(&original);
}

#[wasm_bindgen_test]
async fn blocked_storage_fails_before_leaving_the_page() {
    install_fetch(&Array::of1(&route(
        "/.well-known/smart-configuration",
        200,
        &discovery(),
    )));
    define_blocked_storage();
    let o = json(r#"{"clientId":"app","scope":"patient/*.rs","redirectUri":"https://app.test/cb"}"#);
    Reflect::set(&o, &"iss".into(), &base().into()).unwrap();
    let result = authorize(o).await;
    let available = flare_sdk::browser::storage_available();
    restore_storage();
    let err = result.err().unwrap();
    assert_eq!(error_kind(&err), "storage_unavailable");
    assert!(get(&err, "message").as_string().unwrap().contains("popup"));
    assert!(!available);
    assert!(flare_sdk::browser::storage_available());
}

#[wasm_bindgen_test]
async fn pages_iterate_until_the_last_next_link() {
    let p1 = bundle(
        &json(
            r#"[{"resource":{"resourceType":"Patient","id":"1"}},{"resource":{"resourceType":"Patient","id":"2"}}]"#,
        ),
        Some(format!("{}/Patient?_cursor=2", base())),
    );
    let p2 = bundle(
        &json(r#"[{"resource":{"resourceType":"Patient","id":"3"}}]"#),
        None,
    );
    install_fetch(&Array::of2(
        &route("_cursor=2", 200, &p2),
        &route("/Patient?", 200, &p1),
    ));
    let c = token_client(3600.0, false);
    let all = done(c.search_all("Patient".into(), json(r#"{"name":"a"}"#), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(Array::from(&all).length(), 3);
    let limited = done(c.search_all("Patient".into(), json(r#"{"name":"a"}"#), json(r#"{"limit":2}"#)))
        .await
        .unwrap();
    assert_eq!(Array::from(&limited).length(), 2);
    let it = c
        .pages("Patient".into(), json(r#"{"name":"a"}"#), JsValue::UNDEFINED)
        .unwrap();
    let mut sizes = Vec::new();
    loop {
        let step = done(it.next()).await.unwrap();
        if get(&step, "done").as_bool() == Some(true) {
            break;
        }
        sizes.push(Array::from(&get(&get(&step, "value"), "resources")).length());
    }
    assert_eq!(sizes, vec![2, 1]);
}

fn popup_options() -> JsValue {
    let o = json(
        r#"{"clientId":"app","scope":"patient/*.rs","redirectUri":"https://app.test/cb","target":"popup"}"#,
    );
    Reflect::set(&o, &"iss".into(), &base().into()).unwrap();
    o
}

async fn opened_popup_url() -> String {
    for _ in 0..100 {
        if let Some(url) = popup_url() {
            return url;
        }
        let _ = sleep(10.0).await;
    }
    panic!("authorize() opened no popup");
}

#[wasm_bindgen_test]
async fn popup_launch_completes_in_the_opener_without_storage() {
    let response = json(r#"{"access_token":"pop1","token_type":"Bearer","expires_in":3600,"patient":"p9"}"#);
    let calls = install_fetch(&Array::of2(
        &route("/.well-known/smart-configuration", 200, &discovery()),
        &route("/token", 200, &response),
    ));
    watch_popups();
    // As in an EHR iframe that blocks third-party storage.
    define_blocked_storage();
    let launch = wasm_bindgen_futures::future_to_promise(authorize(popup_options()));
    let url = opened_popup_url().await;
    let state = query(&url, "state").unwrap();
    assert_eq!(popup_name().unwrap(), format!("flare-smart-popup:{state}"));
    // A message from another launch is ignored; ours completes the launch.
    post_redirect("https://app.test/cb?code=wrong&state=other");
    post_redirect(&format!("https://app.test/cb?code=c9&state={state}"));
    let result = JsFuture::from(launch).await;
    restore_storage();
    close_popup();
    let client = result.unwrap_or_else(|e| panic!("popup launch failed: {:?}", get(&e, "message")));
    assert_eq!(get(&client, "accessToken").as_string().as_deref(), Some("pop1"));
    assert_eq!(get(&client, "patient").as_string().as_deref(), Some("p9"));
    let exchange = calls
        .iter()
        .find(|c| get(c, "url").as_string().unwrap().ends_with("/token"))
        .unwrap();
    assert!(get(&exchange, "body").as_string().unwrap().contains("code=c9"));
}

#[wasm_bindgen_test]
async fn a_closed_popup_rejects_instead_of_hanging() {
    install_fetch(&Array::of1(&route(
        "/.well-known/smart-configuration",
        200,
        &discovery(),
    )));
    watch_popups();
    let launch = wasm_bindgen_futures::future_to_promise(authorize(popup_options()));
    opened_popup_url().await;
    close_popup();
    let err = JsFuture::from(launch).await.err().unwrap();
    assert_eq!(error_kind(&err), "popup");
    assert!(get(&err, "message").as_string().unwrap().contains("closed"));
}

#[wasm_bindgen_test]
async fn the_rust_api_checks_parameters_against_the_registry() {
    let calls = install_fetch(&Array::of1(&route(
        "/Observation?",
        200,
        &bundle(
            &json(r#"[{"resource":{"resourceType":"Observation","id":"o1"}}]"#),
            None,
        ),
    )));
    let c = token_client(3600.0, false);
    let bad = [("colour".to_string(), "red".to_string())];
    let err = c.search_checked("Observation", &bad).await.unwrap_err();
    assert!(err.message.contains("colour"), "{}", err.message);
    assert_eq!(calls.length(), 0, "an unknown parameter never reaches the server");
    let good = [
        ("patient".to_string(), "p1".to_string()),
        ("code:text".to_string(), "a1c".to_string()),
    ];
    let page = c.search_checked("Observation", &good).await.unwrap();
    assert_eq!(Array::from(&get(&page, "resources")).length(), 1);
    // No route for the read: the stub answers 404 with an OperationOutcome.
    let err = c.read_resource("Observation", "o1").await.unwrap_err();
    assert_eq!((err.kind, err.status), (flare_sdk::ErrorKind::Fhir, Some(404)));
}

//! The runtime (launch, code exchange, id_token, refresh, retries, abort,
//! paging, includes, reference resolution, errors) natively, on a scripted
//! platform: a fake clock, deterministic randomness, SHA-256 and RS256 from
//! RustCrypto, and a FHIR + OAuth server written as a closure. This is the
//! code the browser runs; only the platform differs.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use flare_sdk::error::ErrorKind;
use flare_sdk::launch::{self, LaunchOptions, UrlParams};
use flare_sdk::runtime::{
    AbortHandle, FhirRequest, HttpRequest, HttpResponse, Limits, MemoryStore, Platform, Runtime, Store,
};
use flare_sdk::{base64url, SdkError};
use futures_executor::block_on;
use futures_util::StreamExt;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BASE: &str = "https://ehr.test/fhir";
const T0: f64 = 1_765_000_000_000.0;

type Handler = Box<dyn FnMut(&HttpRequest, f64) -> HttpResponse>;

struct Scripted {
    now: Cell<f64>,
    seed: Cell<u8>,
    handler: RefCell<Handler>,
    log: RefCell<Vec<HttpRequest>>,
    /// Sleeps never end (to test aborts during a retry wait).
    stuck_sleeps: Cell<bool>,
    slept: RefCell<Vec<f64>>,
}

impl Scripted {
    fn new(handler: impl FnMut(&HttpRequest, f64) -> HttpResponse + 'static) -> Scripted {
        Scripted {
            now: Cell::new(T0),
            seed: Cell::new(1),
            handler: RefCell::new(Box::new(handler)),
            log: RefCell::default(),
            stuck_sleeps: Cell::new(false),
            slept: RefCell::default(),
        }
    }
    fn requests(&self, path_part: &str) -> Vec<HttpRequest> {
        self.log
            .borrow()
            .iter()
            .filter(|r| r.url.contains(path_part))
            .cloned()
            .collect()
    }
}

impl Platform for Scripted {
    fn now_ms(&self) -> f64 {
        self.now.get()
    }
    fn jitter(&self) -> f64 {
        0.0
    }
    fn random_bytes(&self) -> Result<[u8; 32], SdkError> {
        self.seed.set(self.seed.get().wrapping_add(1));
        Ok([self.seed.get(); 32])
    }
    fn fetch(
        &self,
        request: &HttpRequest,
        _abort: &AbortHandle,
    ) -> impl Future<Output = Result<HttpResponse, SdkError>> {
        self.log.borrow_mut().push(request.clone());
        let response = (self.handler.borrow_mut())(request, self.now.get());
        async move { Ok(response) }
    }
    fn sleep(&self, ms: f64) -> impl Future<Output = ()> {
        self.slept.borrow_mut().push(ms);
        let stuck = self.stuck_sleeps.get();
        if !stuck {
            self.now.set(self.now.get() + ms);
        }
        async move {
            if stuck {
                futures_util::future::pending::<()>().await
            }
        }
    }
    fn sha256(&self, data: &[u8]) -> impl Future<Output = Result<Vec<u8>, SdkError>> {
        let d = Sha256::digest(data).to_vec();
        async move { Ok(d) }
    }
    fn verify_rs256(
        &self,
        n: &str,
        e: &str,
        signed: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, SdkError>> {
        let key = RsaPublicKey::new(
            BigUint::from_bytes_be(&base64url::decode(n).unwrap()),
            BigUint::from_bytes_be(&base64url::decode(e).unwrap()),
        )
        .unwrap();
        let ok = Signature::try_from(signature)
            .map(|s| VerifyingKey::<Sha256>::new(key).verify(signed, &s).is_ok())
            .unwrap_or(false);
        async move { Ok(ok) }
    }
}

fn json_response(status: u16, body: Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

fn form_of(body: &Option<String>) -> Vec<(String, String)> {
    flare_sdk::form::decode(body.as_deref().unwrap_or(""))
}

fn field(body: &Option<String>, name: &str) -> Option<String> {
    flare_sdk::form::first(&form_of(body), name)
}

thread_local! {
    static KEY: RsaPrivateKey = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
}

fn jwks() -> Value {
    KEY.with(|k| {
        let p = k.to_public_key();
        json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": base64url::encode(&p.n().to_bytes_be()), "e": base64url::encode(&p.e().to_bytes_be())}]})
    })
}

fn id_token(claims: &Value, alg: &str) -> String {
    let header = base64url::encode(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
    let payload = base64url::encode(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let sig = KEY.with(|k| {
        SigningKey::<Sha256>::new(k.clone())
            .sign(input.as_bytes())
            .to_vec()
    });
    format!("{input}.{}", base64url::encode(&sig))
}

/// The state a scripted SMART server keeps.
#[derive(Default)]
struct Server {
    nonce: Option<String>,
    tampered_signature: bool,
    expires_in: i64,
    token_serial: u32,
}

/// A SMART server: discovery, JWKS, token (code and refresh grants), and a
/// FHIR API whose answers `fhir` gives.
fn smart_server(
    server: Rc<RefCell<Server>>,
    mut fhir: impl FnMut(&HttpRequest) -> HttpResponse + 'static,
) -> impl FnMut(&HttpRequest, f64) -> HttpResponse {
    move |r, now| {
        let mut s = server.borrow_mut();
        if r.url.ends_with("/.well-known/smart-configuration") {
            return json_response(
                200,
                json!({
                "issuer": "https://ehr.test", "authorization_endpoint": "https://ehr.test/authorize",
                "token_endpoint": "https://ehr.test/token", "jwks_uri": "https://ehr.test/jwks",
                "code_challenge_methods_supported": ["S256"]}),
            );
        }
        if r.url == "https://ehr.test/jwks" {
            return json_response(200, jwks());
        }
        if r.url == "https://ehr.test/token" {
            s.token_serial += 1;
            let grant = field(&r.body, "grant_type").unwrap_or_default();
            let mut body = json!({"access_token": format!("at{}", s.token_serial), "token_type": "Bearer",
                "expires_in": s.expires_in, "scope": "openid fhirUser launch/patient patient/*.rs offline_access",
                "refresh_token": format!("rt{}", s.token_serial)});
            if grant == "authorization_code" {
                body["patient"] = json!("p1");
                body["intent"] = json!("reconcile-medications");
                body["tenant"] = json!("practice-7");
                body["fhirContext"] = json!([{"reference": "Encounter/e1"}]);
                let claims = json!({"iss": "https://ehr.test", "aud": "app", "sub": "u1",
                    "exp": (now / 1000.0) as i64 + 300, "iat": (now / 1000.0) as i64,
                    "nonce": s.nonce.clone(), "fhirUser": format!("{BASE}/Patient/p1")});
                let mut t = id_token(&claims, "RS256");
                if s.tampered_signature {
                    t.replace_range(t.len() - 4.., "AAAA");
                }
                body["id_token"] = json!(t);
            }
            return json_response(200, body);
        }
        drop(s);
        fhir(r)
    }
}

fn options() -> Vec<LaunchOptions> {
    vec![LaunchOptions {
        client_id: "app".into(),
        scope: "openid fhirUser launch/patient patient/*.rs offline_access".into(),
        redirect_uri: "https://app.test/".into(),
        iss: Some(BASE.into()),
        launch: None,
    }]
}

/// A standalone launch to the end: the client, the store, the platform.
fn launched(
    server: Rc<RefCell<Server>>,
    fhir: impl FnMut(&HttpRequest) -> HttpResponse + 'static,
) -> (
    flare_sdk::runtime::Client<Scripted>,
    Rc<MemoryStore>,
    Rc<Runtime<Scripted>>,
) {
    let runtime = Runtime::new(Scripted::new(smart_server(server.clone(), fhir)));
    let store = Rc::new(MemoryStore::new());
    let plan = launch::plan(&options(), &UrlParams::default()).unwrap();
    let started = block_on(runtime.start(&plan, &*store, &AbortHandle::new())).unwrap();
    let params = launch::url_params(&started.url);
    server.borrow_mut().nonce = flare_sdk::form::first(
        &flare_sdk::form::decode(flare_sdk::form::query_of(&started.url)),
        "nonce",
    );
    let session =
        block_on(runtime.complete(store.clone(), "code1".into(), params.state.clone().unwrap())).unwrap();
    let key = launch::session_key(&started.state);
    let client = runtime.client(session, Some((store.clone() as Rc<dyn Store>, key)));
    (client, store, runtime)
}

fn bundle(entries: Vec<Value>, next: Option<&str>) -> HttpResponse {
    let mut b = json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
    if let Some(n) = next {
        b["link"] = json!([{"relation": "next", "url": n}]);
    }
    json_response(200, b)
}

fn obs(id: &str) -> Value {
    json!({"fullUrl": format!("{BASE}/Observation/{id}"), "resource": {"resourceType": "Observation", "id": id,
        "subject": {"reference": "Patient/p1"}, "status": "final"}, "search": {"mode": "match"}})
}

#[test]
fn a_standalone_launch_exchanges_once_verifies_the_id_token_and_keeps_the_session() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 3600,
        ..Server::default()
    }));
    let runtime = Runtime::new(Scripted::new(smart_server(server.clone(), |_| {
        json_response(404, json!({}))
    })));
    let store = Rc::new(MemoryStore::new());
    let plan = launch::plan(&options(), &UrlParams::default()).unwrap();
    let started = block_on(runtime.start(&plan, &*store, &AbortHandle::new())).unwrap();
    let query = flare_sdk::form::decode(flare_sdk::form::query_of(&started.url));
    let get = |n: &str| flare_sdk::form::first(&query, n).unwrap();
    assert!(started.url.starts_with("https://ehr.test/authorize?"));
    assert_eq!(get("aud"), BASE);
    assert_eq!(get("state"), started.state);
    assert_eq!(get("code_challenge_method"), "S256");
    server.borrow_mut().nonce = Some(get("nonce"));
    // The pending launch is in the store, PKCE verifier included.
    let pending = block_on(store.get(&launch::launch_key(&started.state)))
        .unwrap()
        .unwrap();
    let pending = launch::PendingLaunch::decode(&pending).unwrap();
    assert_eq!(
        get("code_challenge"),
        base64url::encode(&Sha256::digest(pending.code_verifier.as_bytes()))
    );

    // Two ready() calls for one redirect: one exchange.
    let a = runtime.complete(store.clone(), "code1".into(), started.state.clone());
    let b = runtime.complete(store.clone(), "code1".into(), started.state.clone());
    let (a, b) = block_on(futures_util::future::join(a, b));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    let posts = runtime.platform().requests("/token");
    assert_eq!(posts.len(), 1, "the code is exchanged once");
    assert_eq!(
        field(&posts[0].body, "code_verifier").as_deref(),
        Some(pending.code_verifier.as_str())
    );
    assert_eq!(field(&posts[0].body, "code").as_deref(), Some("code1"));
    assert_eq!(a.patient.as_deref(), Some("p1"));
    assert_eq!(a.fhir_user.as_deref(), Some("https://ehr.test/fhir/Patient/p1"));
    // The pending launch is gone; the session and the tab's pointer are kept.
    assert!(block_on(store.get(&launch::launch_key(&started.state)))
        .unwrap()
        .is_none());
    assert_eq!(
        block_on(store.get(launch::CURRENT_SESSION_KEY)).unwrap(),
        Some(started.state.clone())
    );

    let client = runtime.client(
        a,
        Some((
            store.clone() as Rc<dyn Store>,
            launch::session_key(&started.state),
        )),
    );
    assert_eq!(client.token_response()["intent"], "reconcile-medications");
    assert_eq!(client.token_response()["tenant"], "practice-7");
    assert_eq!(client.id_token_claims().unwrap()["sub"], "u1");
    assert_eq!(client.fhir_context(), json!([{"reference": "Encounter/e1"}]));
    assert_eq!(client.user().as_deref(), Some("Patient/p1"));
    assert_eq!(client.state().as_deref(), Some(started.state.as_str()));

    // A replayed code for a completed state finds no launch.
    let e = block_on(runtime.complete(store.clone(), "code1".into(), started.state.clone())).unwrap_err();
    assert_eq!(e.kind, ErrorKind::StorageUnavailable);

    // A reload restores: the page's own launch before the tab's latest.
    let restored = block_on(runtime.restore(&*store, None, None)).unwrap().unwrap();
    assert_eq!(restored.0, started.state);
    assert!(block_on(runtime.restore(&*store, None, Some("other")))
        .unwrap()
        .is_none());
}

#[test]
fn a_forged_id_token_fails_the_launch() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 3600,
        tampered_signature: true,
        ..Server::default()
    }));
    let runtime = Runtime::new(Scripted::new(smart_server(server.clone(), |_| {
        json_response(404, json!({}))
    })));
    let store = Rc::new(MemoryStore::new());
    let plan = launch::plan(&options(), &UrlParams::default()).unwrap();
    let started = block_on(runtime.start(&plan, &*store, &AbortHandle::new())).unwrap();
    server.borrow_mut().nonce = launch::url_params(&started.url).state.map(|_| "wrong".into());
    let e = block_on(runtime.complete(store.clone(), "c".into(), started.state)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::IdToken, "{e}");
    assert!(e.message.contains("signature"), "{e}");
}

#[test]
fn one_refresh_serves_concurrent_requests_and_a_401_refreshes_once() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 600,
        ..Server::default()
    }));
    let accepted = Rc::new(RefCell::new("Bearer at2".to_string()));
    let now_accepted = accepted.clone();
    let (client, store, runtime) = launched(server.clone(), move |r| {
        let token = r.header("Authorization").unwrap_or_default().to_string();
        if r.url.ends_with("/Patient/p1") && token == *now_accepted.borrow() {
            json_response(200, json!({"resourceType": "Patient", "id": "p1"}))
        } else if r.url.ends_with("/Patient/p1") {
            json_response(401, json!({}))
        } else {
            json_response(404, json!({}))
        }
    });
    let p = runtime.platform();
    // Near expiry: both reads wait for one refresh.
    p.now.set(p.now.get() + 590_000.0);
    let (a, b) = block_on(futures_util::future::join(
        client.read("Patient", "p1"),
        client.read("Patient", "p1"),
    ));
    assert_eq!(a.unwrap()["id"], "p1");
    assert_eq!(b.unwrap()["id"], "p1");
    assert_eq!(p.requests("/token").len(), 2, "the code exchange and one refresh");
    // The refreshed session is saved where ready() restores it.
    let kept = block_on(store.get(&launch::session_key(&client.state().unwrap())))
        .unwrap()
        .unwrap();
    assert!(kept.contains("access_token=at2"), "{kept}");
    // The server revokes at2: a 401 refreshes once (at3 is refused too), then the error.
    *accepted.borrow_mut() = "none".into();
    let e = block_on(client.read("Patient", "p1")).unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Fhir, Some(401)));
    assert_eq!(p.requests("/token").len(), 3);
}

#[test]
fn throttling_is_waited_out_a_503_post_is_not_resent_and_an_abort_ends_the_wait() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 3600,
        ..Server::default()
    }));
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let (client, _, runtime) = launched(server, move |r| {
        c.set(c.get() + 1);
        if r.method == "POST" {
            return json_response(503, json!({}));
        }
        if c.get() == 1 {
            HttpResponse {
                status: 429,
                headers: vec![("retry-after".into(), "2".into())],
                body: String::new(),
            }
        } else {
            json_response(200, json!({"resourceType": "Patient", "id": "p1"}))
        }
    });
    let p = runtime.platform();
    assert_eq!(block_on(client.read("Patient", "p1")).unwrap()["id"], "p1");
    assert_eq!(*p.slept.borrow(), vec![2000.0]);
    let e = block_on(client.create(&json!({"resourceType": "Observation"}))).unwrap_err();
    assert_eq!(e.status, Some(503));
    assert_eq!(
        p.requests("/Observation").len(),
        1,
        "a POST answered 503 is not sent again"
    );

    calls.set(0);
    p.stuck_sleeps.set(true);
    let abort = AbortHandle::new();
    let view = client.with_abort(&abort);
    let read = view.read("Patient", "p1");
    let mut read = Box::pin(read);
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(read.as_mut().poll(&mut cx).is_pending(), "waiting out the 429");
    abort.abort();
    match read.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(e)) => assert_eq!(e.kind, ErrorKind::Aborted),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pages_limits_includes_and_the_token_boundary() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 3600,
        ..Server::default()
    }));
    let (client, _, runtime) = launched(server, |r| {
        if r.url.contains("page=2") {
            bundle(
                vec![obs("o3")],
                Some("https://elsewhere.test/fhir/Observation?page=3"),
            )
        } else if r.url.contains("/Observation?") {
            let mut inc = json!({"fullUrl": format!("{BASE}/Patient/p1"),
                "resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}});
            inc["search"]["mode"] = json!("include");
            bundle(
                vec![obs("o1"), obs("o2"), inc],
                Some(&format!("{BASE}/Observation?page=2")),
            )
        } else {
            json_response(404, json!({}))
        }
    });
    let pairs = vec![
        ("patient".to_string(), "p1".to_string()),
        ("_include".to_string(), "Observation:patient".to_string()),
    ];
    let page = block_on(client.search_pairs("Observation", &pairs)).unwrap();
    assert_eq!(page.resources().count(), 2);
    assert_eq!(page.included().count(), 1);
    assert_eq!(page.referenced(0, "Patient/p1").unwrap()["id"], "p1");
    // search_all stops at the limit; on_page sees each page.
    let mut seen = 0;
    let all = block_on(client.search_all(
        "Observation",
        &pairs,
        Limits {
            max_resources: 3,
            max_pages: 10,
        },
        |_| seen += 1,
    ))
    .unwrap();
    assert_eq!((all.len(), seen), (3, 2));
    // The next link of page 2 leaves the server: the token is not sent there.
    let pages: Vec<_> = block_on(client.pages("Observation", &pairs, 10).collect::<Vec<_>>());
    assert_eq!(pages.len(), 3);
    assert!(pages[0].is_ok() && pages[1].is_ok());
    let e = pages[2].as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(runtime.platform().requests("elsewhere").is_empty());
    // max_pages bounds the stream.
    assert_eq!(block_on(client.pages("Observation", &pairs, 1).count()), 1);
    // The typed builders (generated from the registry) build the same search.
    use flare_sdk::params::{MedicationRequestSearch, ObservationSearch, Raw};
    let typed = ObservationSearch::new()
        .patient("p1")
        .category("laboratory")
        .count(5);
    let page = block_on(client.search(typed)).unwrap();
    assert_eq!(page.resources().count(), 2);
    assert!(
        block_on(client.search(Raw::new("Observation").param("colour", "red"))).is_err(),
        "Raw is checked"
    );
    let typed_pages = block_on(
        client
            .pages_of(MedicationRequestSearch::new().patient("p1"), 1)
            .collect::<Vec<_>>(),
    );
    assert_eq!(typed_pages.len(), 1);
    // Parameters given as pairs go to the server as written (other servers
    // support other parameters); the typed builders are checked at compile time.
    let raw = vec![("_elements".to_string(), "id".to_string())];
    assert!(block_on(client.search_pairs("Observation", &raw)).is_ok());
    assert!(
        block_on(client.search_pairs("observation", &raw)).is_err(),
        "not a type name"
    );
}

#[test]
fn references_resolve_from_contained_then_at_hand_then_one_batch_per_type() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 3600,
        ..Server::default()
    }));
    let (client, _, runtime) = launched(server, |r| {
        if r.url.contains("/Practitioner?") {
            bundle(
                vec![
                    json!({"resource": {"resourceType": "Practitioner", "id": "d1"}}),
                    json!({"resource": {"resourceType": "Practitioner", "id": "d2"}}),
                ],
                None,
            )
        } else if r.url.contains("/Encounter?") {
            let e = json!({"resourceType": "Encounter", "id": "e1", "serviceProvider": {"reference": "Organization/org1"}});
            bundle(vec![json!({ "resource": e })], None)
        } else if r.url.contains("/Organization?") {
            bundle(
                vec![json!({"resource": {"resourceType": "Organization", "id": "org1"}})],
                None,
            )
        } else {
            json_response(404, json!({}))
        }
    });
    let resources = vec![
        json!({"resourceType": "MedicationRequest", "id": "m1", "contained": [{"resourceType": "Medication", "id": "med"}],
            "medicationReference": {"reference": "#med"}, "subject": {"reference": "Patient/p1"},
            "requester": {"reference": "Practitioner/d1"}}),
        json!({"resourceType": "MedicationRequest", "id": "m2", "subject": {"reference": "Patient/p1"},
            "requester": {"reference": "Practitioner/d2"}, "encounter": {"reference": "https://other.test/Encounter/1"}}),
    ];
    let patient = json!({"resourceType": "Patient", "id": "p1"});
    let resolved = block_on(client.resolve(&resources, &[], &[&patient])).unwrap();
    let target = |i: usize, r: &str| {
        resolved
            .iter()
            .find(|x| x.resource == i && x.reference == r)
            .map(|x| x.target["id"].clone())
    };
    assert_eq!(target(0, "#med"), Some(json!("med")));
    assert_eq!(target(0, "Patient/p1"), Some(json!("p1")));
    assert_eq!(target(1, "Practitioner/d2"), Some(json!("d2")));
    assert_eq!(target(1, "https://other.test/Encounter/1"), None);
    let searches = runtime.platform().requests("/Practitioner");
    assert_eq!(searches.len(), 1, "one batched search for both practitioners");
    assert!(
        searches[0].url.contains("_id=d1%2Cd2") || searches[0].url.contains("_id=d1,d2"),
        "{}",
        searches[0].url
    );
    // A path past a reference is followed into the resolved resource.
    let with_encounter = vec![json!({"resourceType": "Observation", "id": "o9",
        "encounter": {"reference": "Encounter/e1"}, "performer": [{"reference": "Practitioner/d1"}]})];
    let deep =
        block_on(client.resolve(&with_encounter, &["encounter.serviceProvider".to_string()], &[])).unwrap();
    let found: Vec<(Vec<String>, String, Value)> = deep
        .iter()
        .map(|r| (r.via.clone(), r.reference.clone(), r.target["id"].clone()))
        .collect();
    assert_eq!(
        found,
        vec![
            (vec![], "Encounter/e1".to_string(), json!("e1")),
            (
                vec!["Encounter/e1".to_string()],
                "Organization/org1".to_string(),
                json!("org1")
            ),
        ]
    );
    // A nested path resolves only what lies under it.
    let only = block_on(client.resolve(&resources[..1], &["medicationReference".to_string()], &[])).unwrap();
    assert_eq!(only.len(), 1);
}

#[test]
fn errors_carry_status_issues_and_retry_after_and_requests_carry_headers() {
    let server = Rc::new(RefCell::new(Server {
        expires_in: 3600,
        ..Server::default()
    }));
    let (client, _, runtime) = launched(server, |r| {
        if r.url.ends_with("/Patient/gone") {
            json_response(
                404,
                json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                "code": "not-found", "diagnostics": "Patient/gone is not known", "expression": ["Patient.id"]}]}),
            )
        } else if r.header("If-None-Match") == Some("W/\"1\"") {
            HttpResponse {
                status: 304,
                headers: vec![("etag".into(), "W/\"1\"".into())],
                body: String::new(),
            }
        } else {
            json_response(200, json!({"resourceType": "Patient", "id": "p1"}))
        }
    });
    let e = block_on(client.read("Patient", "gone")).unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Fhir, Some(404)));
    assert_eq!(e.issues[0].code, "not-found");
    assert_eq!(e.message, "HTTP 404: Patient/gone is not known");
    let r =
        block_on(client.request(FhirRequest::get("Patient/p1").header("If-None-Match", "W/\"1\""))).unwrap();
    assert_eq!(
        (r.status, r.body.clone(), r.header("ETag")),
        (304, None, Some("W/\"1\""))
    );
    let sent = runtime.platform().requests("/Patient/p1");
    assert_eq!(sent[0].header("Authorization"), Some("Bearer at1"));
    assert_eq!(sent[0].header("Accept"), Some("application/fhir+json"));
    assert!(block_on(client.request(FhirRequest::get("https://other.test/fhir/Patient/1"))).is_err());
}

//! Authentication hygiene (issue 12, findings 5, 6, 8, 9 and 11), natively:
//! a 500 names an incident id and never the storage error; `jwks_uri` rules;
//! body caps per route and search parameter bounds; sign-in failures the same
//! for real and unknown names, throttled per name and address with growing
//! waits; registration PINs counted per practice.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::{admin, app, call, request, TestApp, NOW};
use flare_edge::oauth::jwks_uri::check;
use flare_edge::oauth::jwks_uri::REFUSED;
use flare_edge::store::{Database, Statement};
use serde_json::{json, Value};

const DEV_PASSWORD: &str = "Dev-portal-2026!";

fn text(r: &common::HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn drop_table(app: &TestApp, table: &str) {
    pollster::block_on(
        app.shards
            .directory_db()
            .batch(vec![Statement::new(format!("DROP TABLE {table}"), vec![])]),
    )
    .unwrap();
}

/// Finding 11: a storage error answered 500 with the SQL and SQLite's text.
#[test]
fn internal_errors_name_an_incident_not_the_cause() {
    let app = app();
    drop_table(&app, "access_tokens");
    // FHIR: an OperationOutcome.
    let r = call(
        &app,
        request("GET", "/fhir/Patient").header("authorization", "Bearer some-token-value"),
    );
    assert_eq!(r.status, 500, "{}", text(&r));
    let body = text(&r);
    let oo = r.json_body();
    assert_eq!(oo["resourceType"], "OperationOutcome", "{body}");
    let diag = oo["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(diag.starts_with("internal error (id "), "{body}");
    for leak in ["access_tokens", "no such table", "SELECT", "FROM"] {
        assert!(!body.contains(leak), "the answer carries {leak:?}: {body}");
    }
    // OAuth: server_error, the same incident wording.
    drop_table(&app, "clients");
    let r = call(
        &app,
        request("POST", "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=abcdefgh&client_secret=x"),
    );
    let body = text(&r);
    assert_eq!(r.status, 500, "{body}");
    assert_eq!(r.json_body()["error"], "server_error", "{body}");
    assert!(
        r.json_body()["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("internal error (id ")),
        "{body}"
    );
    for leak in ["clients", "no such table", "SELECT"] {
        assert!(!body.contains(leak), "the answer carries {leak:?}: {body}");
    }
    // Two failures, two ids.
    let again = call(
        &app,
        request("GET", "/fhir/Patient").header("authorization", "Bearer some-token-value"),
    );
    assert_ne!(
        again.json_body()["issue"][0]["diagnostics"],
        oo["issue"][0]["diagnostics"]
    );
}

/// Finding 6: which `jwks_uri` values may be fetched.
#[test]
fn jwks_uri_rules() {
    for ok in [
        "https://app.example.com/.well-known/jwks.json",
        "https://keys.example.org:8443/jwks",
        "https://8.8.8.8/jwks",
        "https://[2606:4700::1111]/jwks",
    ] {
        assert!(check(ok, false).is_ok(), "{ok} refused: {:?}", check(ok, false));
    }
    for bad in [
        "http://app.example.com/jwks",
        "ftp://app.example.com/jwks",
        "https://localhost/jwks",
        "https://keys.localhost/jwks",
        "https://intranet/jwks",
        "https://127.0.0.1/jwks",
        "https://2130706433/jwks",
        "https://0x7f000001/jwks",
        "https://10.1.2.3/jwks",
        "https://172.16.0.1/jwks",
        "https://192.168.1.1/jwks",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/jwks",
        "https://0.0.0.0/jwks",
        "https://[::1]/jwks",
        "https://[::ffff:127.0.0.1]/jwks",
        "https://[::ffff:10.0.0.1]/jwks",
        "https://[fd00::1]/jwks",
        "https://[fe80::1]/jwks",
        "https://user:pw@app.example.com/jwks",
        "not a url",
    ] {
        assert!(check(bad, false).is_err(), "{bad} allowed");
    }
    // The development flag allows loopback, http included, and nothing else.
    for ok in [
        "http://127.0.0.1:8787/jwks",
        "http://localhost:9000/k",
        "http://[::1]:1/k",
    ] {
        assert!(check(ok, true).is_ok(), "{ok} refused with the flag");
    }
    for bad in [
        "http://10.0.0.1/jwks",
        "http://app.example.com/jwks",
        "https://192.168.0.1/k",
    ] {
        assert!(check(bad, true).is_err(), "{bad} allowed with the flag");
    }
}

/// The operator's registration refuses a loopback `jwks_uri` with the generic text.
#[test]
fn registration_refuses_jwks_uri_generically() {
    let app = app();
    let r = call(
        &app,
        admin("POST", "/register")
            .header("content-type", "application/json")
            .body(
                json!({"client_name": "b", "redirect_uris": [], "token_endpoint_auth_method": "private_key_jwt",
                       "grant_types": ["client_credentials"], "scope": "system/Patient.rs",
                       "jwks_uri": "http://127.0.0.1:8787/fhir/metadata"})
                .to_string(),
            ),
    );
    assert_eq!(r.status, 400, "{}", text(&r));
    assert_eq!(r.json_body()["error"], "invalid_client_metadata");
    assert_eq!(r.json_body()["error_description"], REFUSED);
}

fn post(path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> common::HttpRequest {
    request("POST", path)
        .header("content-type", content_type)
        .header("cf-connecting-ip", "203.0.113.9")
        .body(body)
}

/// Finding 9: bodies capped per route, in the route's error shape.
#[test]
fn bodies_are_capped_per_route() {
    let app = app();
    let form = |n: usize| format!("grant_type=x&f={}", "a".repeat(n));
    let r = call(
        &app,
        post("/token", "application/x-www-form-urlencoded", form(16 * 1024)),
    );
    assert_eq!(r.status, 413, "{}", text(&r));
    assert_eq!(r.json_body()["error"], "invalid_request");
    let r = call(
        &app,
        post("/token", "application/x-www-form-urlencoded", form(1000)),
    );
    assert_eq!(r.status, 400, "under the cap: {}", text(&r));
    // The declared length is enough (the Worker adapter does not read such a body).
    let r = call(
        &app,
        post("/token", "application/x-www-form-urlencoded", "grant_type=x")
            .header("content-length", "999999"),
    );
    assert_eq!(r.status, 413, "{}", text(&r));
    let big_json =
        json!({"email": "a@b.example", "name": "x".repeat(70 * 1024), "password": "p"}).to_string();
    let r = call(&app, post("/developer/api/signup", "application/json", big_json));
    assert_eq!(r.status, 413, "{}", text(&r));
    assert_eq!(r.json_body()["error"], "invalid_request");
    let r = call(
        &app,
        admin("POST", "/fhir/Patient/_search")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name={}", "a".repeat(17 * 1024))),
    );
    assert_eq!(r.status, 413, "{}", text(&r));
    assert_eq!(r.json_body()["resourceType"], "OperationOutcome");
    let r = call(
        &app,
        post(
            "/portal/signin",
            "application/x-www-form-urlencoded",
            form(17 * 1024),
        ),
    );
    assert_eq!(r.status, 413, "{}", text(&r));
    assert!(r
        .header_value("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    // The operator's import has its own, larger cap.
    let patient = json!({"resourceType": "Patient", "id": "big", "name": [{"family": "Big"}],
        "text": {"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", "b".repeat(2 << 20))}});
    let r = call(
        &app,
        admin("POST", "/admin/import?practice=northside")
            .header("content-type", "application/fhir+json")
            .body(patient.to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
}

/// Finding 9: repeated parameters and `_elements` are bounded.
#[test]
fn search_parameters_are_bounded() {
    let app = app();
    let pairs = |n: usize| vec!["_pretty=false"; n].join("&");
    let r = call(&app, admin("GET", &format!("/fhir/Patient?{}", pairs(101))));
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("at most 100"), "{}", text(&r));
    let r = call(&app, admin("GET", &format!("/fhir/Patient?{}", pairs(100))));
    assert_eq!(r.status, 200, "{}", text(&r));
    let names = |n: usize| (0..n).map(|i| format!("e{i}")).collect::<Vec<_>>().join(",");
    let r = call(
        &app,
        admin("GET", &format!("/fhir/Patient?_elements={}", names(51))),
    );
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("at most 50"), "{}", text(&r));
    let r = call(
        &app,
        admin("GET", &format!("/fhir/Patient?_elements={}", names(50))),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
}

fn signup(app: &TestApp, email: &str) {
    let r = call(
        app,
        post(
            "/developer/api/signup",
            "application/json",
            json!({"email": email, "name": "Dev", "password": DEV_PASSWORD}).to_string(),
        ),
    );
    assert_eq!(r.status, 201, "{}", text(&r));
}

/// `POST /developer/api/token` from `ip`: (status, Retry-After).
fn dev_token(app: &TestApp, email: &str, password: &str, ip: &str) -> (u16, Option<i64>) {
    let r = call(
        app,
        request("POST", "/developer/api/token")
            .header("content-type", "application/json")
            .header("cf-connecting-ip", ip)
            .body(json!({"email": email, "password": password}).to_string()),
    );
    (
        r.status,
        r.header_value("retry-after").and_then(|v| v.parse().ok()),
    )
}

fn advance(app: &TestApp, ms: i64) {
    app.platform.now.set(app.platform.now.get() + ms);
}

/// Finding 8: the same answers for a real and an unknown name, per (name,
/// address), with growing waits; a stranger cannot lock the real user out.
#[test]
fn sign_in_is_uniform_and_throttled_per_name_and_address() {
    let app = app();
    signup(&app, "real@dev.example");
    let run = |email: &str, ip: &str| -> Vec<(u16, Option<i64>)> {
        (0..7)
            .map(|_| dev_token(&app, email, "Wrong-pass-1!", ip))
            .collect()
    };
    let real = run("real@dev.example", "198.51.100.1");
    let unknown = run("nobody@dev.example", "198.51.100.2");
    assert_eq!(real, unknown);
    assert_eq!(real[..5], [(401, None); 5]);
    assert_eq!(real[5..], [(429, Some(1)); 2]);
    // The real developer, elsewhere: not locked out.
    assert_eq!(
        dev_token(&app, "real@dev.example", DEV_PASSWORD, "198.51.100.3").0,
        200
    );
    // The same /64 is one address; another /64 is not.
    let v6 = run("real@dev.example", "2001:db8:1:2::1");
    assert_eq!(v6[5], (429, Some(1)));
    assert_eq!(
        dev_token(&app, "real@dev.example", DEV_PASSWORD, "2001:db8:1:2::ffff").0,
        429
    );
    assert_eq!(
        dev_token(&app, "real@dev.example", DEV_PASSWORD, "2001:db8:1:3::1").0,
        200
    );
    // Waits double: 1 s, 2 s, 4 s … at the stranger's address.
    let mut waits = Vec::new();
    for _ in 0..5 {
        let (_, wait) = dev_token(&app, "real@dev.example", DEV_PASSWORD, "198.51.100.1");
        let wait = wait.expect("throttled");
        waits.push(wait);
        advance(&app, wait * 1000);
        assert_eq!(
            dev_token(&app, "real@dev.example", "Wrong-pass-1!", "198.51.100.1").0,
            401
        );
    }
    assert_eq!(waits, [1, 2, 4, 8, 16]);
    // At most 15 minutes, and forgotten an hour after the last failure.
    for _ in 0..12 {
        let (_, wait) = dev_token(&app, "real@dev.example", DEV_PASSWORD, "198.51.100.1");
        let wait = wait.expect("throttled");
        assert!(wait <= 15 * 60, "{wait}");
        advance(&app, wait * 1000);
        dev_token(&app, "real@dev.example", "Wrong-pass-1!", "198.51.100.1");
    }
    advance(&app, 61 * 60 * 1000);
    assert_eq!(
        dev_token(&app, "real@dev.example", "Wrong-pass-1!", "198.51.100.1").0,
        401
    );
    // A right password at an address forgets its failures there.
    assert_eq!(
        dev_token(&app, "real@dev.example", DEV_PASSWORD, "198.51.100.1").0,
        200
    );
    for _ in 0..4 {
        assert_eq!(
            dev_token(&app, "real@dev.example", "Wrong-pass-1!", "198.51.100.1").0,
            401
        );
    }
    assert!(app.platform.now.get() > NOW);
}

fn set_pin(app: &TestApp, pin: &str) {
    let r = call(
        app,
        admin("PUT", "/admin/practices/northside/pin")
            .header("content-type", "application/json")
            .body(json!({"pin": pin}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
}

fn dev_api_token(app: &TestApp, email: &str) -> String {
    signup(app, email);
    let r = call(
        app,
        post(
            "/developer/api/token",
            "application/json",
            json!({"email": email, "password": DEV_PASSWORD}).to_string(),
        ),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json_body()["access_token"].as_str().unwrap().to_string()
}

fn register(app: &TestApp, token: &str, name: &str, pin: &str) -> common::HttpResponse {
    let meta: Value = json!({"client_name": name, "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
        "scope": "launch/patient patient/Patient.rs", "practice": "northside", "practice_pin": pin});
    call(
        app,
        post("/register", "application/json", meta.to_string())
            .header("authorization", &format!("Bearer {token}")),
    )
}

/// Finding 5: ten wrong PINs for a practice, from ten new accounts, hold its
/// registrations for 15 minutes; right PINs do not count.
#[test]
fn pin_guesses_are_counted_per_practice() {
    let app = app();
    set_pin(&app, "north-123456");
    // Right PINs are not guesses: twelve registrations in a row.
    let owner = dev_api_token(&app, "owner@dev.example");
    for i in 0..12 {
        let r = register(&app, &owner, &format!("app{i}"), "north-123456");
        assert_eq!(r.status, 201, "{}", text(&r));
    }
    for i in 0..10 {
        let t = dev_api_token(&app, &format!("guess{i}@dev.example"));
        let r = register(&app, &t, "guess", &format!("wrong-{i:06}"));
        assert_eq!(r.status, 400, "guess {i}: {}", text(&r));
    }
    let t = dev_api_token(&app, "guess10@dev.example");
    let r = register(&app, &t, "guess", "wrong-000010");
    assert_eq!(r.status, 429, "{}", text(&r));
    let wait: i64 = r.header_value("retry-after").unwrap().parse().unwrap();
    assert!((14 * 60..=15 * 60).contains(&wait), "{wait}");
    let r = register(&app, &owner, "right", "north-123456");
    assert_eq!(r.status, 429, "the practice is held: {}", text(&r));
    advance(&app, 15 * 60 * 1000 + 1000);
    let r = register(&app, &owner, "right", "north-123456");
    assert_eq!(r.status, 201, "{}", text(&r));
}

/// Finding 9: a Bulk Data kick-off's parameters are bounded the same way.
#[test]
fn export_parameters_are_bounded() {
    use flare_edge::fhir::bulk::parse_params;
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let names = |n: usize| (0..n).map(|i| format!("e{i}")).collect::<Vec<_>>().join(",");
    let e = parse_params(&[pair("_elements", &names(51))]).unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.contains("at most 50"), "{}", e.message);
    assert!(parse_params(&[pair("_elements", &names(50))]).is_ok());
    let many: Vec<_> = (0..101).map(|_| pair("_outputFormat", "ndjson")).collect();
    let e = parse_params(&many).unwrap_err();
    assert!(e.message.contains("at most 100"), "{}", e.message);
    assert!(parse_params(&many[..100]).is_ok());
}

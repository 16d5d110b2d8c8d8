//! The developer portal and practice administration, natively: developer
//! accounts (password rule, lockout), practice PINs, registration through
//! the pages and RFC 7591/7592 JSON, practice administrators seeing and
//! deciding only their own practice's apps, the client secret shown once,
//! scope changes that leave the old grant working until approved,
//! ownership transfers confirmed by both sides, and CSRF on every form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::{
    admin, app, call, challenge, form_body, hidden, import_puts, location, query_param, request, text,
    Browser, TestApp, BASE,
};
use serde_json::{json, Value};

const PASSWORD: &str = "Flare-demo-2026";
const DEV_PASSWORD: &str = "Dev-portal-2026!";
const REDIRECT: &str = "http://127.0.0.1:9000/cb";
const VERIFIER: &str = "a-perfectly-fine-code-verifier-of-enough-length-0123456789";

/// Practices with patients, users (a practice admin in each) and PINs.
fn world() -> TestApp {
    let app = app();
    for (practice, ids) in [("northside", ["a", "b"]), ("lakeshore", ["c", "d"])] {
        let resources = ids
            .iter()
            .map(|id| json!({"resourceType": "Patient", "id": id, "name": [{"family": id.to_uppercase()}]}))
            .chain([json!({"resourceType": "Practitioner", "id": format!("{practice}-doc")})])
            .chain([
                json!({"resourceType": "Observation", "id": format!("{}-obs", ids[0]), "status": "final",
                "code": {"text": "x"}, "subject": {"reference": format!("Patient/{}", ids[0])}}),
            ]);
        import_puts(&app, practice, resources);
    }
    for (username, practice, fhir_user, role) in [
        ("ann", "northside", "Patient/a", "test_patient"),
        ("bob", "northside", "Patient/b", "member"),
        ("doc", "northside", "Practitioner/northside-doc", "member"),
        (
            "north-admin",
            "northside",
            "Practitioner/northside-doc",
            "practice_admin",
        ),
        ("cat", "lakeshore", "Patient/c", "member"),
        (
            "lake-admin",
            "lakeshore",
            "Practitioner/lakeshore-doc",
            "practice_admin",
        ),
    ] {
        let r = call(
            &app,
            admin("POST", "/admin/users").body(
                json!({"username": username, "password": PASSWORD, "practice": practice, "fhirUser": fhir_user, "role": role})
                    .to_string(),
            ),
        );
        assert_eq!(r.status, 201, "{}", text(&r));
        assert_eq!(r.json_body()["role"], role);
    }
    for (practice, pin) in [("northside", "north-123456"), ("lakeshore", "lake-654321")] {
        let r = call(
            &app,
            admin("PUT", &format!("/admin/practices/{practice}/pin")).body(json!({"pin": pin}).to_string()),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(r.header_value("cache-control"), Some("no-store"));
    }
    app
}

fn signed_up<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut b = Browser::at(app, "/developer");
    b.get("/developer/signup");
    let r = b.post_csrf(
        "/developer/signup",
        &[("email", email), ("name", "Dana Dev"), ("password", DEV_PASSWORD)],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    assert!(b.jar.get("flare_dev_session").is_some());
    b
}

fn practice_admin<'a>(app: &'a TestApp, username: &str) -> Browser<'a> {
    let mut b = Browser::at(app, "/developer");
    b.get("/practice");
    let r = b.post_csrf(
        "/practice/signin",
        &[("username", username), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    b
}

fn registration<'a>(use_case: &'a str, name: &'a str, pin: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("use_case", use_case),
        ("client_name", name),
        ("practice", "northside"),
        ("practice_pin", pin),
        ("token_endpoint_auth_method", "none"),
        ("redirect_uris", REDIRECT),
        ("scope", "launch/patient patient/*.rs"),
        ("offline_access", "1"),
    ]
}

/// Registers through the form; returns the new client id.
fn register(b: &mut Browser, pairs: &[(&str, &str)]) -> String {
    let r = b.post_csrf("/developer/apps", pairs);
    assert_eq!(r.status, 303, "{}", text(&r));
    location(&r).rsplit('/').next().unwrap().to_string()
}

fn client(app: &TestApp, id: &str) -> Value {
    call(app, admin("GET", &format!("/admin/clients/{id}"))).json_body()
}

#[test]
fn sign_up_enforces_the_password_rule_and_sign_in_locks_out() {
    let app = world();
    let mut b = Browser::at(&app, "/developer");
    let page = text(&b.get("/developer/signup"));
    assert!(page.contains("<script src=\"/developer/password-rule.js\""));
    assert!(page.contains("data-check=\"symbol\""));
    let weak = b.post_csrf(
        "/developer/signup",
        &[
            ("email", "dana@example.com"),
            ("name", "Dana <Dev>"),
            ("password", "password1"),
        ],
    );
    assert_eq!(weak.status, 400);
    let html = text(&weak);
    assert!(
        html.contains("an upper-case letter") && html.contains("a symbol"),
        "{html}"
    );
    assert!(html.contains("value=\"dana@example.com\""), "the e-mail is kept");
    assert!(
        html.contains("value=\"Dana &lt;Dev&gt;\""),
        "the name is kept, escaped"
    );
    assert!(!html.contains("password1"), "the password is not echoed");
    let csp = weak.header_value("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline'; script"));
    let js = b.get("/developer/password-rule.js");
    assert_eq!(js.status, 200);
    assert!(text(&js).contains("check_password_rule"));

    let mut dana = signed_up(&app, "dana@example.com");
    let again = Browser::at(&app, "/developer").post(
        "/developer/signup",
        &[
            ("email", "DANA@example.com"),
            ("name", "x"),
            ("password", DEV_PASSWORD),
        ],
    );
    assert_eq!(again.status, 403, "no CSRF token");
    let mut other = Browser::at(&app, "/developer");
    let again = other.post_csrf(
        "/developer/signup",
        &[
            ("email", "DANA@example.com"),
            ("name", "x"),
            ("password", DEV_PASSWORD),
        ],
    );
    assert_eq!(
        again.status, 409,
        "e-mail addresses are unique, case-insensitively"
    );

    // Sign out, sign in; wrong passwords slow down (per e-mail and address).
    assert_eq!(dana.post_csrf("/developer/signout", &[]).status, 303);
    assert!(text(&dana.get("/developer")).contains("action=\"/developer/signin\""));
    let mut b = Browser::at(&app, "/developer");
    for i in 1..=5 {
        let r = b.post_csrf(
            "/developer/signin",
            &[("email", "dana@example.com"), ("password", "Wrong-pass-1")],
        );
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = b.post_csrf(
        "/developer/signin",
        &[("email", "dana@example.com"), ("password", DEV_PASSWORD)],
    );
    assert_eq!(r.status, 429, "slowed down after 5 failures: {}", text(&r));
    assert!(r.header_value("retry-after").is_some());
    app.platform.now.set(app.platform.now.get() + 60_000);
    for _ in 0..5 {
        app.platform.now.set(app.platform.now.get() + 120_000);
        let r = b.post_csrf(
            "/developer/signin",
            &[("email", "dana@example.com"), ("password", "Wrong-pass-1")],
        );
        assert_eq!(r.status, 401);
    }
    let r = b.post_csrf(
        "/developer/signin",
        &[("email", "dana@example.com"), ("password", DEV_PASSWORD)],
    );
    assert_eq!(r.status, 429, "slowed down after 10 failures");
    app.platform.now.set(app.platform.now.get() + 16 * 60_000);
    let r = b.post_csrf(
        "/developer/signin",
        &[("email", "dana@example.com"), ("password", DEV_PASSWORD)],
    );
    assert_eq!(r.status, 303, "the wait ends: {}", text(&r));

    // Password change: the current one is checked, the new one must pass the rule.
    let bad = b.post_csrf(
        "/developer/password",
        &[("current_password", "nope"), ("new_password", "New-pass-2026!")],
    );
    assert_eq!(bad.status, 401);
    let weak = b.post_csrf(
        "/developer/password",
        &[("current_password", DEV_PASSWORD), ("new_password", "short")],
    );
    assert_eq!(weak.status, 400);
    let ok = b.post_csrf(
        "/developer/password",
        &[
            ("current_password", DEV_PASSWORD),
            ("new_password", "New-pass-2026!"),
        ],
    );
    assert_eq!(ok.status, 200, "{}", text(&ok));
    assert!(
        text(&b.get("/developer")).contains("Your apps"),
        "this session goes on"
    );
    let mut fresh = Browser::at(&app, "/developer");
    let r = fresh.post_csrf(
        "/developer/signin",
        &[("email", "dana@example.com"), ("password", DEV_PASSWORD)],
    );
    assert_eq!(r.status, 401, "the old password is gone");
    let r = fresh.post_csrf(
        "/developer/signin",
        &[("email", "dana@example.com"), ("password", "New-pass-2026!")],
    );
    assert_eq!(r.status, 303);
}

#[test]
fn forms_need_the_csrf_token_of_this_browser() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let pairs = registration("patient", "No CSRF", "north-123456");
    let r = dana.post("/developer/apps", &pairs);
    assert_eq!(r.status, 403, "no token");
    assert!(text(&r).contains("CSRF"));
    let mut wrong = pairs.clone();
    wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(dana.post("/developer/apps", &wrong).status, 403, "wrong token");
    let mut admin_b = practice_admin(&app, "north-admin");
    assert_eq!(admin_b.post("/practice/signout", &[]).status, 403);
    assert_eq!(
        call(&app, admin("GET", "/admin/clients?practice=northside")).json_body()["clients"],
        json!([]),
        "nothing was registered"
    );
}

#[test]
fn registration_needs_the_practice_pin_and_valid_metadata() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let form = text(&dana.get("/developer/apps/new?use=provider"));
    assert!(form.contains("Register a provider app") && form.contains("user/*.rs"));

    let r = dana.post_csrf("/developer/apps", &registration("patient", "My <app>", "000000"));
    assert_eq!(r.status, 400);
    let html = text(&r);
    assert!(
        html.contains("The PIN is not right for practice northside"),
        "{html}"
    );
    assert!(
        html.contains("value=\"My &lt;app&gt;\""),
        "input kept and escaped"
    );
    assert!(html.contains(REDIRECT));

    let mut dup = registration("patient", "Dup", "north-123456");
    let two = format!("{REDIRECT}\n{REDIRECT}");
    dup.retain(|(k, _)| *k != "redirect_uris");
    dup.push(("redirect_uris", &two));
    let r = dup_post(&mut dana, &dup);
    assert!(r.contains("is listed twice"), "{r}");

    let mut pk = registration("provider", "Keys", "north-123456");
    pk.retain(|(k, _)| *k != "token_endpoint_auth_method");
    pk.push(("token_endpoint_auth_method", "private_key_jwt"));
    let mut bad_json = pk.clone();
    bad_json.push(("jwks", "{not json"));
    assert!(dup_post(&mut dana, &bad_json).contains("The pasted JWKS is not JSON"));
    let mut private = pk.clone();
    let private_jwks =
        json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "x", "y": "y", "d": "secret", "kid": "k"}]})
            .to_string();
    private.push(("jwks", &private_jwks));
    assert!(dup_post(&mut dana, &private).contains("contains private key material"));
    let mut unreachable = pk.clone();
    unreachable.push(("jwks_uri", "https://keys.invalid/jwks.json"));
    assert!(dup_post(&mut dana, &unreachable).contains("jwks_uri could not be used"));
    let mut unknown_scope = registration("patient", "Scopes", "north-123456");
    unknown_scope.retain(|(k, _)| *k != "scope");
    unknown_scope.push(("scope", "patient/*.rs bogus/scope"));
    assert!(dup_post(&mut dana, &unknown_scope).contains("Unknown scopes"));

    // A wrong PIN is reported before a JWKS URL is fetched.
    let mut unreachable_wrong_pin = pk.clone();
    unreachable_wrong_pin.retain(|(k, _)| *k != "practice_pin");
    unreachable_wrong_pin.push(("practice_pin", "999999"));
    unreachable_wrong_pin.push(("jwks_uri", "https://keys.invalid/jwks.json"));
    assert!(dup_post(&mut dana, &unreachable_wrong_pin).contains("The PIN is not right"));
    app.platform.now.set(app.platform.now.get() + 60_000);

    // A backend service: private key JWT with a pasted public key, system scopes only.
    let form = text(&dana.get("/developer/apps/new?use=backend"));
    assert!(form.contains("Register a backend service") && !form.contains("redirect_uris"));
    let public_jwks = json!({"keys": [{"kty": "RSA", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw", "e": "AQAB", "kid": "k1", "alg": "RS384"}]}).to_string();
    let backend = vec![
        ("use_case", "backend"),
        ("client_name", "Nightly export"),
        ("practice", "northside"),
        ("practice_pin", "north-123456"),
        ("jwks", public_jwks.as_str()),
        ("scope", "system/*.rs"),
    ];
    let id = register(&mut dana, &backend);
    let c = client(&app, &id);
    assert_eq!(c["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(c["grant_types"], json!(["client_credentials"]));
    assert_eq!(c["scope"], "system/*.rs");
    let mut user_scopes = backend.clone();
    user_scopes.retain(|(k, _)| *k != "scope");
    user_scopes.push(("scope", "patient/*.rs"));
    assert!(dup_post(&mut dana, &user_scopes).contains("only hold system/ scopes"));

    // The right PIN: a pending app owned by Dana, with no secret yet.
    let id = register(&mut dana, &registration("patient", "Good app", "north-123456"));
    let page = text(&dana.get(&format!("/developer/apps/{id}")));
    assert!(page.contains("Pending Review"), "{page}");
    let c = client(&app, &id);
    assert_eq!(c["status"], "pending");
    assert_eq!(c["scope"], "launch/patient patient/*.rs offline_access");
    assert_eq!(c["grant_types"], json!(["authorization_code", "refresh_token"]));

    // Repeated wrong PINs lock registrations for a while (no guessing).
    for _ in 0..3 {
        dana.post_csrf("/developer/apps", &registration("patient", "Guess", "111111"));
    }
    let r = dana.post_csrf(
        "/developer/apps",
        &registration("patient", "Now right", "north-123456"),
    );
    assert_eq!(r.status, 429, "{}", text(&r));
    assert!(text(&r).contains("Too many wrong practice PINs"));
    app.platform.now.set(app.platform.now.get() + 60_000);
    assert_eq!(
        dana.post_csrf(
            "/developer/apps",
            &registration("patient", "Later", "north-123456")
        )
        .status,
        303
    );

    // A practice without a PIN takes no registrations; a bad PIN value is refused by the admin API.
    let r = call(
        &app,
        admin("PUT", "/admin/practices/northside/pin").body(r#"{"pin":"12"}"#),
    );
    assert_eq!(r.status, 400);
    let r = call(&app, admin("PUT", "/admin/practices/nowhere/pin").body("{}"));
    assert_eq!(r.status, 404);
    let r = call(&app, admin("PUT", "/admin/practices/northside/pin").body("{}"));
    let generated = r.json_body()["pin"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 8);
    assert!(generated.bytes().all(|b| b.is_ascii_digit()));
    let r = dana.post_csrf(
        "/developer/apps",
        &registration("patient", "Old PIN", "north-123456"),
    );
    assert_eq!(r.status, 400, "the rotated PIN replaces the old one");
    app.platform.now.set(app.platform.now.get() + 60_000);
    assert_eq!(
        dana.post_csrf("/developer/apps", &registration("patient", "New PIN", &generated))
            .status,
        303
    );
}

fn dup_post(b: &mut Browser, pairs: &[(&str, &str)]) -> String {
    let r = b.post_csrf("/developer/apps", pairs);
    assert_eq!(r.status, 400, "{}", text(&r));
    text(&r)
}

#[test]
fn practice_admins_decide_only_for_their_practice() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let north = register(
        &mut dana,
        &registration("patient", "North <b>app</b>", "north-123456"),
    );
    let mut lake_form = registration("patient", "Lake app", "lake-654321");
    lake_form.retain(|(k, _)| *k != "practice");
    lake_form.push(("practice", "lakeshore"));
    let lake = register(&mut dana, &lake_form);

    // Members are not practice administrators.
    let mut member = Browser::at(&app, "/developer");
    let r = member.post_csrf("/practice/signin", &[("username", "doc"), ("password", PASSWORD)]);
    assert_eq!(r.status, 403);
    let r = call(
        &app,
        admin("POST", "/admin/users").body(
            json!({"username": "x", "password": PASSWORD, "practice": "northside", "fhirUser": "Patient/a", "role": "practice_admin"})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 400, "a practice administrator is a practitioner");
    let r = call(
        &app,
        admin("POST", "/admin/users").body(
            json!({"username": "y", "password": PASSWORD, "practice": "northside", "fhirUser": "Patient/a", "role": "owner"})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 400);
    let r = call(
        &app,
        admin("POST", "/admin/users").body(
            json!({"username": "z", "password": PASSWORD, "practice": "northside", "fhirUser": "Practitioner/northside-doc", "role": "test_patient"})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 400, "a test patient is a patient");

    let mut nadmin = practice_admin(&app, "north-admin");
    let page = text(&nadmin.get("/practice"));
    assert!(page.contains("North &lt;b&gt;app&lt;/b&gt;"), "{page}");
    assert!(page.contains("Dana Dev &lt;dana@example.com&gt;"));
    assert!(
        !page.contains("Lake app"),
        "another practice's registration is not shown"
    );
    // Deciding another practice's app is refused as if it did not exist.
    for decision in ["approve", "reject"] {
        let r = nadmin.post_csrf(
            &format!("/practice/clients/{lake}/decide"),
            &[("decision", decision)],
        );
        assert_eq!(r.status, 404);
    }
    assert_eq!(client(&app, &lake)["status"], "pending");
    // A session of a non-admin cannot decide either.
    let mut patient = Browser::at(&app, "/developer");
    patient.get("/portal");
    patient.post_csrf("/portal/signin", &[("username", "ann"), ("password", PASSWORD)]);
    let r = patient.post_csrf(
        &format!("/practice/clients/{north}/decide"),
        &[("decision", "approve")],
    );
    assert_eq!(r.status, 401);

    let r = nadmin.post_csrf(
        &format!("/practice/clients/{north}/decide"),
        &[("decision", "reject"), ("reason", "Needs a <privacy> policy")],
    );
    assert_eq!(r.status, 303);
    let c = client(&app, &north);
    assert_eq!(
        (c["status"].as_str(), c["status_reason"].as_str()),
        (Some("rejected"), Some("Needs a <privacy> policy"))
    );
    let page = text(&dana.get(&format!("/developer/apps/{north}")));
    assert!(page.contains("Rejected") && page.contains("Needs a &lt;privacy&gt; policy"));
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{north}/decide"),
        &[("decision", "approve")],
    );
    assert_eq!(r.status, 409, "only pending registrations are approved");

    let mut ladmin = practice_admin(&app, "lake-admin");
    assert!(text(&ladmin.get("/practice")).contains("Lake app"));
    assert_eq!(
        ladmin
            .post_csrf(
                &format!("/practice/clients/{lake}/decide"),
                &[("decision", "approve")]
            )
            .status,
        303
    );
    assert_eq!(client(&app, &lake)["status"], "approved");
    let r = ladmin.post_csrf(
        &format!("/practice/clients/{lake}/decide"),
        &[("decision", "disable"), ("reason", "paused")],
    );
    assert_eq!(r.status, 303);
    assert_eq!(client(&app, &lake)["status"], "disabled");
    assert_eq!(
        ladmin
            .post_csrf(
                &format!("/practice/clients/{lake}/decide"),
                &[("decision", "enable")]
            )
            .status,
        303
    );
    assert_eq!(client(&app, &lake)["status"], "approved");
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// 401 for bad client credentials, 400 (a bad grant) once they are right.
fn client_authenticates(app: &TestApp, id: &str, secret: &str) -> bool {
    let r = call(
        app,
        request("POST", "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", &basic(id, secret))
            .body("grant_type=refresh_token&refresh_token=nope"),
    );
    assert!(matches!(r.status, 400 | 401), "{}", text(&r));
    r.status == 400
}

fn secret_of(html: &str) -> String {
    html.split("<code id=\"client-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("a secret on the page")
        .to_string()
}

#[test]
fn the_client_secret_is_shown_once_then_only_rotated() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let mut form = registration("provider", "Server app", "north-123456");
    form.retain(|(k, _)| *k != "token_endpoint_auth_method");
    form.push(("token_endpoint_auth_method", "client_secret_basic"));
    let id = register(&mut dana, &form);
    let r = dana.post_csrf(&format!("/developer/apps/{id}/secret"), &[]);
    assert_eq!(r.status, 409, "no secret before approval");
    let mut nadmin = practice_admin(&app, "north-admin");
    assert_eq!(
        nadmin
            .post_csrf(
                &format!("/practice/clients/{id}/decide"),
                &[("decision", "approve")]
            )
            .status,
        303
    );
    let page = text(&dana.get(&format!("/developer/apps/{id}")));
    assert!(page.contains("Show the client secret") && !page.contains("client-secret"));

    let r = dana.post_csrf(&format!("/developer/apps/{id}/secret"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header_value("cache-control"), Some("no-store"));
    let first = secret_of(&text(&r));
    assert!(client_authenticates(&app, &id, &first));
    let again = dana.post_csrf(&format!("/developer/apps/{id}/secret"), &[]);
    assert_eq!(again.status, 409, "shown once");
    assert!(!text(&again).contains(&first));
    let page = text(&dana.get(&format!("/developer/apps/{id}")));
    assert!(!page.contains(&first) && page.contains("Rotate the client secret"));

    let r = dana.post_csrf(&format!("/developer/apps/{id}/secret"), &[("rotate", "1")]);
    assert_eq!(r.status, 200);
    let second = secret_of(&text(&r));
    assert_ne!(first, second);
    assert!(!client_authenticates(&app, &id, &first), "the old secret stops");
    assert!(client_authenticates(&app, &id, &second));

    // Another developer cannot see or touch the app.
    let mut eve = signed_up(&app, "eve@example.com");
    assert_eq!(eve.get(&format!("/developer/apps/{id}")).status, 404);
    assert_eq!(
        eve.post_csrf(&format!("/developer/apps/{id}/secret"), &[("rotate", "1")])
            .status,
        404
    );
    assert!(client_authenticates(&app, &id, &second));
}

fn authorize(b: &mut Browser, client_id: &str, scope: &str) -> String {
    let ch = challenge(VERIFIER);
    let fhir = format!("{BASE}/fhir");
    let url = format!(
        "/authorize?{}",
        form_body(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "s"),
            ("aud", &fhir),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ])
    );
    let page = b.get(&url);
    assert_eq!(page.status, 200, "{}", text(&page));
    let mut f = hidden(&text(&page));
    f.push(("username".into(), "ann".into()));
    f.push(("password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post("/authorize/signin", &pairs);
    assert_eq!(r.status, 303, "{}", text(&r));
    let consent = text(&b.get(&location(&r)));
    let mut f = hidden(&consent);
    for part in consent.split("name=\"scope\" value=\"").skip(1) {
        let (v, rest) = part.split_once('"').unwrap();
        if rest.starts_with(" checked") {
            f.push(("scope".into(), v.to_string()));
        }
    }
    f.push(("decision".into(), "allow".into()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post("/authorize/consent", &pairs);
    assert_eq!(r.status, 302, "{}", text(&r));
    let code = query_param(&location(&r), "code").unwrap();
    let t = call(
        b.app,
        request("POST", "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", client_id),
                ("code_verifier", VERIFIER),
            ])),
    );
    assert_eq!(t.status, 200, "{}", text(&t));
    t.json_body()["access_token"].as_str().unwrap().to_string()
}

fn read(app: &TestApp, token: &str, path: &str) -> u16 {
    call(
        app,
        request("GET", path).header("authorization", &format!("Bearer {token}")),
    )
    .status
}

#[test]
fn scope_changes_wait_for_approval_while_the_old_grant_works() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let mut form = registration("patient", "Reader", "north-123456");
    form.retain(|(k, _)| *k != "scope" && *k != "offline_access");
    form.push(("scope", "launch/patient patient/Patient.rs"));
    let id = register(&mut dana, &form);
    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[("scope", "patient/*.rs")],
    );
    assert_eq!(r.status, 409, "only approved apps change scopes");
    let mut nadmin = practice_admin(&app, "north-admin");
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "approve")],
    );

    let mut patient = Browser::at(&app, "/developer");
    let token = authorize(
        &mut patient,
        &id,
        "launch/patient patient/Patient.rs patient/Observation.rs",
    );
    assert_eq!(read(&app, &token, "/fhir/Patient/a"), 200);
    assert_eq!(read(&app, &token, "/fhir/Observation/a-obs"), 403, "not granted");

    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[
            (
                "scope",
                "launch/patient patient/Patient.rs patient/Observation.rs",
            ),
            ("offline_access", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    let c = client(&app, &id);
    assert_eq!(c["scope"], "launch/patient patient/Patient.rs");
    assert_eq!(
        c["pending_scope"],
        "launch/patient patient/Patient.rs patient/Observation.rs offline_access"
    );
    assert_eq!(
        read(&app, &token, "/fhir/Patient/a"),
        200,
        "the old grant keeps working"
    );
    assert!(text(&dana.get(&format!("/developer/apps/{id}"))).contains("pending review"));
    assert!(text(&nadmin.get("/practice")).contains("patient/Observation.rs"));
    // Lakeshore's admin cannot approve it.
    let mut ladmin = practice_admin(&app, "lake-admin");
    assert_eq!(
        ladmin
            .post_csrf(
                &format!("/practice/clients/{id}/scope"),
                &[("decision", "approve")]
            )
            .status,
        404
    );

    // A backend-only rule still applies to requested scopes.
    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[("scope", "patient/*.rs nonsense")],
    );
    assert_eq!(r.status, 400);

    let shown = client(&app, &id)["pending_scope"].as_str().unwrap().to_string();
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{id}/scope"),
        &[
            ("decision", "reject"),
            ("reason", "too broad"),
            ("pending_scope", &shown),
        ],
    );
    assert_eq!(r.status, 303);
    let c = client(&app, &id);
    assert!(c.get("pending_scope").is_none());
    assert!(text(&dana.get(&format!("/developer/apps/{id}"))).contains("Rejected: too broad"));

    dana.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[
            (
                "scope",
                "launch/patient patient/Patient.rs patient/Observation.rs",
            ),
            ("offline_access", "1"),
        ],
    );
    let shown = client(&app, &id)["pending_scope"].as_str().unwrap().to_string();
    assert_eq!(
        nadmin
            .post_csrf(
                &format!("/practice/clients/{id}/scope"),
                &[("decision", "approve"), ("pending_scope", &shown)]
            )
            .status,
        303
    );
    assert_eq!(
        client(&app, &id)["scope"],
        "launch/patient patient/Patient.rs patient/Observation.rs offline_access"
    );
    let mut patient = Browser::at(&app, "/developer");
    let wider = authorize(
        &mut patient,
        &id,
        "launch/patient offline_access patient/Patient.rs patient/Observation.rs",
    );
    assert_eq!(read(&app, &wider, "/fhir/Observation/a-obs"), 200);
    assert_eq!(
        read(&app, &token, "/fhir/Patient/a"),
        200,
        "the earlier token still holds its own scope"
    );

    // The practice disables the app: every token stops at once.
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "disable"), ("reason", "stop")],
    );
    assert_eq!(read(&app, &wider, "/fhir/Patient/a"), 401);
    assert_eq!(read(&app, &token, "/fhir/Patient/a"), 401);

    // Approved apps list the practice's test patients (not another practice's).
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "enable")],
    );
    let page = text(&dana.get(&format!("/developer/apps/{id}")));
    let table = page.split("id=\"test-patients\"").nth(1).unwrap();
    assert!(table.contains(">ann<") && table.contains("Patient/a"));
    // Only the practice's test patients: a real patient (bob) never shows.
    assert!(!table.contains(">bob<") && !table.contains("Patient/b"));
    assert!(!table.contains(">cat<") && !table.contains(">doc<") && !table.contains("north-admin"));
}

/// The practice approves the scope change it saw: a developer who swaps in
/// broader scopes after the practice opened its page gets nothing approved.
#[test]
fn a_scope_change_swapped_after_review_is_not_approved() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let mut form = registration("patient", "Swapper", "north-123456");
    form.retain(|(k, _)| *k != "scope" && *k != "offline_access");
    form.push(("scope", "launch/patient patient/Patient.rs"));
    let id = register(&mut dana, &form);
    let mut nadmin = practice_admin(&app, "north-admin");
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "approve")],
    );
    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[("scope", "launch/patient patient/Patient.rs patient/Condition.rs")],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    // The admin's page shows the modest change, with its scopes in the form.
    let page = text(&nadmin.get("/practice"));
    let form_html = page
        .split(&format!("action=\"/practice/clients/{id}/scope\""))
        .nth(1)
        .unwrap();
    let shown = hidden(form_html)
        .into_iter()
        .find(|(k, _)| k == "pending_scope")
        .map(|(_, v)| v)
        .expect("the scope decision names the scopes shown");
    assert_eq!(shown, "launch/patient patient/Patient.rs patient/Condition.rs");
    // Meanwhile the developer asks for everything.
    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[("scope", "launch/patient patient/*.cruds")],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{id}/scope"),
        &[("decision", "approve"), ("pending_scope", &shown)],
    );
    assert_eq!(r.status, 409, "{}", text(&r));
    assert!(text(&r).contains("review it again"));
    let c = client(&app, &id);
    assert_eq!(c["scope"], "launch/patient patient/Patient.rs");
    assert_eq!(c["pending_scope"], "launch/patient patient/*.cruds");
    // A form without the reviewed scopes decides nothing either.
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{id}/scope"),
        &[("decision", "approve")],
    );
    assert_eq!(r.status, 400);
    assert_eq!(client(&app, &id)["scope"], "launch/patient patient/Patient.rs");
    // Deciding on what is really pending works.
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{id}/scope"),
        &[
            ("decision", "reject"),
            ("pending_scope", "launch/patient patient/*.cruds"),
        ],
    );
    assert_eq!(r.status, 303);
    assert_eq!(client(&app, &id)["scope"], "launch/patient patient/Patient.rs");
}

/// Parallel PIN guesses: every request read the developer's failure count
/// before any of them failed. Each guess must still count, so the lock stops
/// the burst (here: the same stale account state is used for every guess,
/// as concurrent requests would).
#[test]
fn parallel_pin_guesses_are_counted_and_locked_out() {
    use flare_edge::pages::developer::register_app;
    use flare_edge::store::developer::developer_by_email;
    let app = world();
    signed_up(&app, "guesser@example.com");
    let stale = pollster::block_on(developer_by_email(app.auth_db(), "guesser@example.com"))
        .unwrap()
        .unwrap();
    let meta = |pin: &str| {
        json!({"client_name": "Guess", "practice": "northside", "practice_pin": pin,
               "token_endpoint_auth_method": "none", "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code"], "scope": "launch/patient patient/*.rs"})
    };
    let mut checked = 0;
    for i in 0..30 {
        let r = pollster::block_on(register_app(&app, &stale, &meta(&format!("guess-{i:06}"))));
        match r {
            Err(e) if e.status == 400 => checked += 1,
            Err(e) => assert_eq!(e.status, 429, "{}", e.message),
            Ok(_) => panic!("a wrong PIN registered an app"),
        }
    }
    assert!(checked <= 3, "{checked} parallel guesses were checked");
    // Even the right PIN waits for the lock to pass.
    let r = pollster::block_on(register_app(&app, &stale, &meta("north-123456")));
    assert_eq!(r.map(|c| c.client_id).unwrap_err().status, 429);
}

/// The same for passwords: parallel sign-in guesses (users of /authorize,
/// /portal, /ehr, /practice, and developers) each count against their
/// (name, address) counter, whatever count their request read.
#[test]
fn parallel_password_guesses_are_counted_and_slowed_down() {
    use flare_edge::store::auth::user_by_name;
    use flare_edge::store::developer::developer_by_email;
    use flare_edge::web::attempts::PasswordCheck;
    use flare_edge::web::attempts::{check_sign_in, sign_in_key, SignInKind};
    let app = world();
    signed_up(&app, "guesser@example.com");
    let ann = pollster::block_on(user_by_name(app.auth_db(), "ann"))
        .unwrap()
        .unwrap();
    let dev = pollster::block_on(developer_by_email(app.auth_db(), "guesser@example.com"))
        .unwrap()
        .unwrap();
    // The requests below carry no CF-Connecting-IP: one address ("unknown").
    let here = request("POST", "/");
    for (kind, name, hash, right) in [
        (SignInKind::User, "ann", ann.password_hash.as_str(), PASSWORD),
        (
            SignInKind::Developer,
            "guesser@example.com",
            dev.password_hash.as_str(),
            DEV_PASSWORD,
        ),
    ] {
        let key = sign_in_key(kind, name, &here);
        let mut checked = 0;
        for i in 0..30 {
            match pollster::block_on(check_sign_in(&app, &key, Some(hash), &format!("Wrong-guess-{i}")))
                .unwrap()
            {
                PasswordCheck::Wrong => checked += 1,
                PasswordCheck::Throttled(s) => assert!(s >= 1),
                PasswordCheck::Right => panic!("a wrong password was taken"),
            }
        }
        assert!(checked <= 5, "{kind:?}: {checked} parallel guesses were checked");
        assert!(matches!(
            pollster::block_on(check_sign_in(&app, &key, Some(hash), right)).unwrap(),
            PasswordCheck::Throttled(_)
        ));
    }
    // The real sign-ins from that address wait too.
    let mut b = Browser::at(&app, "/developer");
    b.get("/practice");
    let r = b.post_csrf("/practice/signin", &[("username", "ann"), ("password", PASSWORD)]);
    assert_eq!(r.status, 429);
    let r = call(
        &app,
        request("POST", "/developer/api/token")
            .body(json!({"email": "guesser@example.com", "password": DEV_PASSWORD}).to_string()),
    );
    assert_eq!(r.status, 429);
}

/// A developer who withdraws an app the practice never approved (RFC 7592
/// DELETE) must not leave it one "Enable" click away from approval.
#[test]
fn a_withdrawn_unreviewed_app_cannot_be_enabled() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let id = register(&mut dana, &registration("patient", "Withdrawn", "north-123456"));
    let r = dana.post_csrf("/developer/token", &[]);
    let page = text(&r);
    let token = page
        .split("id=\"api-token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap()
        .to_string();
    let r = call(
        &app,
        request("DELETE", &format!("/register/{id}")).header("authorization", &format!("Bearer {token}")),
    );
    assert_eq!(r.status, 204);
    assert_eq!(client(&app, &id)["status"], "rejected");
    let mut nadmin = practice_admin(&app, "north-admin");
    let dashboard = text(&nadmin.get("/practice"));
    assert!(!dashboard.contains("aria-label=\"Enable Withdrawn\""));
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "enable")],
    );
    assert_eq!(r.status, 409);
    assert_eq!(client(&app, &id)["status"], "rejected");
}

/// Registration metadata is stored whole: an overlong one (which a D1 row
/// cannot hold: a 500 there) is refused before it is parsed, with a 413 in
/// the route's shape (the body caps of `app::limits`), through the form, the
/// JSON API and a scope change; so is an overlong rejection reason.
#[test]
fn overlong_registrations_and_reasons_are_refused() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let many: String = (0..3000)
        .map(|i| format!("http://app{i}.example/callback\n"))
        .collect();
    let mut form = registration("patient", "Huge", "north-123456");
    form.retain(|(k, _)| *k != "redirect_uris");
    form.push(("redirect_uris", &many));
    let r = dana.post_csrf("/developer/apps", &form);
    assert_eq!(
        r.status,
        413,
        "{}",
        text(&r).chars().take(300).collect::<String>()
    );
    assert!(text(&r).contains("over the 64 KiB limit"));
    let token = text(&dana.post_csrf("/developer/token", &[]))
        .split("id=\"api-token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap()
        .to_string();
    let meta = json!({"client_name": "Huge", "practice": "northside", "practice_pin": "north-123456",
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "scope": "patient/*.rs",
        "logo_uri": "x".repeat(3_000_000)});
    let r = call(
        &app,
        request("POST", "/register")
            .header("authorization", &format!("Bearer {token}"))
            .body(meta.to_string()),
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json_body()["error"], "invalid_request");

    let id = register(&mut dana, &registration("patient", "Fine", "north-123456"));
    let mut nadmin = practice_admin(&app, "north-admin");
    let long_reason = "r".repeat(100_000);
    let r = nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "reject"), ("reason", &long_reason)],
    );
    assert_eq!(r.status, 413);
    assert_eq!(client(&app, &id)["status"], "pending");
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "approve")],
    );
    let scope: String = (0..3000)
        .map(|i| format!("patient/Observation.rs?code=http://loinc.org|{i}-0 "))
        .collect();
    let r = dana.post_csrf(&format!("/developer/apps/{id}/scope"), &[("scope", &scope)]);
    assert_eq!(r.status, 413);
    assert!(client(&app, &id).get("pending_scope").is_none());
}

/// The practice page labels an app by its use case: a developer cannot
/// present a backend service (system-wide access) as a patient app.
#[test]
fn the_use_case_must_match_the_grants() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let token = text(&dana.post_csrf("/developer/token", &[]))
        .split("id=\"api-token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap()
        .to_string();
    let backend = json!({"client_name": "Harmless", "practice": "northside", "practice_pin": "north-123456",
        "token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
        "jwks": {"keys": [{"kty": "EC", "crv": "P-384", "kid": "k", "x": "AAAA", "y": "AAAA"}]},
        "scope": "system/*.rs"});
    let post = |meta: &Value| {
        call(
            &app,
            request("POST", "/register")
                .header("authorization", &format!("Bearer {token}"))
                .body(meta.to_string()),
        )
    };
    for use_case in [json!("patient"), json!("provider"), json!("<b>x</b>"), json!(7)] {
        let mut meta = backend.clone();
        meta["use_case"] = use_case.clone();
        let r = post(&meta);
        assert_eq!(r.status, 400, "{use_case}: {}", text(&r));
        assert_eq!(r.json_body()["error"], "invalid_client_metadata");
    }
    let mut meta = backend.clone();
    meta["use_case"] = json!("backend");
    assert_eq!(post(&meta).status, 201);
    assert_eq!(post(&backend).status, 201, "use_case is optional");
    let mut web = json!({"client_name": "Web", "practice": "northside", "practice_pin": "north-123456",
        "token_endpoint_auth_method": "none", "redirect_uris": [REDIRECT], "scope": "patient/*.rs",
        "use_case": "backend"});
    assert_eq!(post(&web).status, 400);
    web["use_case"] = json!("patient");
    assert_eq!(post(&web).status, 201);
}

#[test]
fn ownership_moves_only_when_both_developers_agree() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let mut fred = signed_up(&app, "fred@example.com");
    let mut eve = signed_up(&app, "eve@example.com");
    let id = register(&mut dana, &registration("patient", "Handed over", "north-123456"));

    assert_eq!(
        fred.post_csrf(
            &format!("/developer/apps/{id}/transfer"),
            &[("to", "eve@example.com")]
        )
        .status,
        404
    );
    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "nobody@example.com")],
    );
    assert_eq!(r.status, 400);
    let r = dana.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "fred@example.com")],
    );
    assert_eq!(r.status, 303);
    assert!(text(&dana.get(&format!("/developer/apps/{id}")))
        .contains("Waiting for <strong>fred@example.com</strong>"));
    assert!(text(&fred.get("/developer")).contains("Apps offered to you"));
    // Someone else cannot accept it; the owner cannot accept for the recipient.
    assert_eq!(
        eve.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[])
            .status,
        409
    );
    assert_eq!(
        dana.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[])
            .status,
        409
    );
    // The recipient declines; the owner offers again and cancels; then again and accepted.
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/transfer/cancel"), &[])
            .status,
        303
    );
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[])
            .status,
        409
    );
    dana.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "fred@example.com")],
    );
    assert_eq!(
        dana.post_csrf(&format!("/developer/apps/{id}/transfer/cancel"), &[])
            .status,
        303
    );
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[])
            .status,
        409
    );
    dana.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "fred@example.com")],
    );
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[])
            .status,
        303
    );
    assert_eq!(
        dana.get(&format!("/developer/apps/{id}")).status,
        404,
        "Dana no longer owns it"
    );
    let page = text(&fred.get(&format!("/developer/apps/{id}")));
    assert!(page.contains("Handed over") && page.contains("Offer the transfer"));
}

#[test]
fn a_transfer_retires_the_previous_owners_client_secret() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let mut fred = signed_up(&app, "fred@example.com");
    let mut form = registration("provider", "Sold app", "north-123456");
    form.retain(|(k, _)| *k != "token_endpoint_auth_method");
    form.push(("token_endpoint_auth_method", "client_secret_basic"));
    let id = register(&mut dana, &form);
    let mut nadmin = practice_admin(&app, "north-admin");
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "approve")],
    );
    let old = secret_of(&text(
        &dana.post_csrf(&format!("/developer/apps/{id}/secret"), &[]),
    ));
    assert!(client_authenticates(&app, &id, &old));
    dana.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "fred@example.com")],
    );
    assert!(client_authenticates(&app, &id, &old), "offered, not yet accepted");
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[])
            .status,
        303
    );
    assert!(
        !client_authenticates(&app, &id, &old),
        "the old owner's secret stops"
    );
    let page = text(&fred.get(&format!("/developer/apps/{id}")));
    assert!(page.contains("Show the client secret"), "the new owner gets one");
    let new = secret_of(&text(
        &fred.post_csrf(&format!("/developer/apps/{id}/secret"), &[]),
    ));
    assert_ne!(new, old);
    assert!(client_authenticates(&app, &id, &new));
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/secret"), &[])
            .status,
        409,
        "once"
    );
}

#[test]
fn a_transfer_retires_the_previous_owners_keys_and_the_new_owner_registers_theirs() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let mut fred = signed_up(&app, "fred@example.com");
    let key = |kid: &str| json!({"keys": [{"kty": "RSA", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw", "e": "AQAB", "kid": kid, "alg": "RS384"}]});
    let danas = key("dana-key").to_string();
    let id = register(
        &mut dana,
        &[
            ("use_case", "backend"),
            ("client_name", "Nightly export"),
            ("practice", "northside"),
            ("practice_pin", "north-123456"),
            ("jwks", danas.as_str()),
            ("scope", "system/*.rs"),
        ],
    );
    practice_admin(&app, "north-admin").post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "approve")],
    );
    assert_eq!(client(&app, &id)["jwks"], key("dana-key"));
    dana.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "fred@example.com")],
    );
    fred.post_csrf(&format!("/developer/apps/{id}/transfer/accept"), &[]);
    let c = client(&app, &id);
    assert!(
        c["jwks"].is_null() && c["jwks_uri"].is_null(),
        "Dana's key no longer verifies: {c}"
    );
    assert!(text(&fred.get(&format!("/developer/apps/{id}"))).contains("This app has no public keys"));
    // The token endpoint refuses its assertions until Fred registers keys.
    let r = call(
        &app,
        request("POST", "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&scope=system%2FPatient.rs&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
                unsigned_assertion(&id)
            )),
    );
    assert_eq!(r.status, 401, "{}", text(&r));
    assert!(text(&r).contains("no registered keys"), "{}", text(&r));

    // Dana cannot touch it any more; Fred's bad input is refused with the form kept.
    assert_eq!(
        dana.post_csrf(&format!("/developer/apps/{id}/keys"), &[("jwks", danas.as_str())])
            .status,
        404
    );
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/keys"), &[("jwks", "{nope")])
            .status,
        400
    );
    assert_eq!(
        fred.post_csrf(&format!("/developer/apps/{id}/keys"), &[]).status,
        400
    );
    let private =
        json!({"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB", "e": "AQAB", "d": "AQAB"}]}).to_string();
    assert_eq!(
        fred.post_csrf(
            &format!("/developer/apps/{id}/keys"),
            &[("jwks", private.as_str())]
        )
        .status,
        400
    );
    let freds = key("fred-key").to_string();
    let r = fred.post_csrf(&format!("/developer/apps/{id}/keys"), &[("jwks", freds.as_str())]);
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(client(&app, &id)["jwks"], key("fred-key"));
    // The same through the JSON API, for the owner only.
    let token_of = |email: &str| {
        let r = call(
            &app,
            request("POST", "/developer/api/token")
                .body(json!({"email": email, "password": DEV_PASSWORD}).to_string()),
        );
        r.json_body()["access_token"].as_str().unwrap().to_string()
    };
    let put = |token: &str, body: Value| {
        call(
            &app,
            request("PUT", &format!("/developer/api/apps/{id}/keys"))
                .header("authorization", &format!("Bearer {token}"))
                .body(body.to_string()),
        )
        .status
    };
    let (fred_token, dana_token) = (token_of("fred@example.com"), token_of("dana@example.com"));
    assert_eq!(put(&dana_token, json!({"jwks": key("dana-key")})), 404);
    assert_eq!(put(&fred_token, json!({})), 400);
    assert_eq!(put(&fred_token, json!({"jwks": key("api-key")})), 200);
    assert_eq!(client(&app, &id)["jwks"], key("api-key"));
    // Only private key JWT apps have keys.
    let public_id = register(&mut fred, &registration("patient", "Public", "north-123456"));
    assert_eq!(
        fred.post_csrf(
            &format!("/developer/apps/{public_id}/keys"),
            &[("jwks", freds.as_str())]
        )
        .status,
        400
    );
}

/// A well-formed but unsigned client assertion for `client_id` (the key
/// lookup happens before the signature check).
fn unsigned_assertion(client_id: &str) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = common::NOW / 1000;
    format!(
        "{}.{}.AAAA",
        b64(&json!({"alg": "RS384", "kid": "dana-key", "typ": "JWT"})),
        b64(
            &json!({"iss": client_id, "sub": client_id, "aud": format!("{BASE}/token"),
            "exp": now + 120, "jti": "j1"})
        )
    )
}

#[test]
fn the_json_api_does_what_the_pages_do() {
    let app = world();
    let post = |path: &str, auth: Option<&str>, body: Value| {
        let mut r = request("POST", path).body(body.to_string());
        if let Some(t) = auth {
            r = r.header("authorization", &format!("Bearer {t}"));
        }
        call(&app, r)
    };
    let r = post(
        "/developer/api/signup",
        None,
        json!({"email": "api@example.com", "name": "Api", "password": "weak"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json_body()["error"], "invalid_request");
    let r = post(
        "/developer/api/signup",
        None,
        json!({"email": "api@example.com", "name": "Api", "password": DEV_PASSWORD}),
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = post(
        "/developer/api/token",
        None,
        json!({"email": "api@example.com", "password": "Wrong-1!x"}),
    );
    assert_eq!(r.status, 401);
    let r = post(
        "/developer/api/token",
        None,
        json!({"email": "api@example.com", "password": DEV_PASSWORD}),
    );
    assert_eq!(r.status, 200);
    let token = r.json_body()["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("fdt_"));

    let meta = json!({"client_name": "API app", "practice": "northside", "practice_pin": "north-123456",
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "launch/patient patient/*.rs"});
    let mut wrong = meta.clone();
    wrong["practice_pin"] = json!("wrong-pin");
    let r = post("/register", Some(&token), wrong);
    assert_eq!(r.status, 400);
    assert_eq!(r.json_body()["error"], "invalid_client_metadata");
    let r = post("/register", Some("fdt_not-a-token"), meta.clone());
    assert_eq!(r.status, 401, "an unknown developer token is no admin token");
    let r = post("/register", Some(&token), meta.clone());
    assert_eq!(r.status, 201, "{}", text(&r));
    let body = r.json_body();
    assert_eq!(body["status"], "pending");
    assert!(
        body.get("client_secret").is_none(),
        "the secret comes after approval"
    );
    let id = body["client_id"].as_str().unwrap().to_string();
    assert_eq!(body["registration_client_uri"], format!("{BASE}/register/{id}"));

    let get = |path: &str, auth: &str| {
        call(
            &app,
            request("GET", path).header("authorization", &format!("Bearer {auth}")),
        )
    };
    assert_eq!(
        get(&format!("/register/{id}"), &token).json_body()["status"],
        "pending"
    );
    assert_eq!(get(&format!("/register/{id}"), "fdt_other").status, 401);
    let listed = get("/developer/api/apps", &token).json_body();
    assert_eq!(listed["apps"][0]["client_id"], id.as_str());

    // The practice side through the admin API.
    let pending = call(
        &app,
        admin("GET", "/admin/clients?practice=northside&status=pending"),
    )
    .json_body();
    assert_eq!(pending["clients"][0]["client_id"], id.as_str());
    assert_eq!(
        call(&app, admin("POST", &format!("/admin/clients/{id}/approve"))).status,
        200
    );

    let r = post(
        &format!("/developer/api/apps/{id}/secret"),
        Some(&token),
        json!({}),
    );
    assert_eq!(r.status, 200);
    let secret = r.json_body()["client_secret"].as_str().unwrap().to_string();
    assert!(client_authenticates(&app, &id, &secret));
    assert_eq!(
        post(
            &format!("/developer/api/apps/{id}/secret"),
            Some(&token),
            json!({})
        )
        .status,
        409
    );
    let r = post(
        &format!("/developer/api/apps/{id}/secret"),
        Some(&token),
        json!({"rotate": true}),
    );
    assert_eq!(r.status, 200);
    assert!(!client_authenticates(&app, &id, &secret));

    // RFC 7592 update: only the scope changes, and only through approval.
    let put = |body: Value| {
        call(
            &app,
            request("PUT", &format!("/register/{id}"))
                .header("authorization", &format!("Bearer {token}"))
                .body(body.to_string()),
        )
    };
    let r = put(json!({"client_id": id, "redirect_uris": ["http://evil.example/cb"]}));
    assert_eq!(r.status, 400);
    let r = put(
        json!({"client_id": id, "client_name": "API app", "scope": "launch/patient patient/*.rs offline_access"}),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let b = r.json_body();
    assert_eq!(b["scope"], "launch/patient patient/*.rs");
    assert_eq!(b["pending_scope"], "launch/patient patient/*.rs offline_access");
    assert_eq!(
        b["test_patients"],
        json!([{"username": "ann", "name": null, "fhirUser": "Patient/a"}]),
        "only the test patient, not bob"
    );
    assert_eq!(
        call(
            &app,
            admin("POST", &format!("/admin/clients/{id}/scope-change/approve"))
        )
        .status,
        200
    );
    assert_eq!(
        get(&format!("/register/{id}"), &token).json_body()["scope"],
        "launch/patient patient/*.rs offline_access"
    );

    // Transfer by JSON, then the password change ends the old token.
    post(
        "/developer/api/signup",
        None,
        json!({"email": "b@example.com", "name": "B", "password": DEV_PASSWORD}),
    );
    let other = post(
        "/developer/api/token",
        None,
        json!({"email": "b@example.com", "password": DEV_PASSWORD}),
    )
    .json_body()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post(
            &format!("/developer/api/apps/{id}/transfer"),
            Some(&token),
            json!({"to": "b@example.com"})
        )
        .status,
        202
    );
    assert_eq!(
        post(
            &format!("/developer/api/apps/{id}/transfer/accept"),
            Some(&other),
            json!({})
        )
        .status,
        200
    );
    assert_eq!(get(&format!("/register/{id}"), &token).status, 404);
    assert_eq!(
        get(&format!("/register/{id}"), &other).json_body()["owner"],
        "b@example.com"
    );
    let r = call(
        &app,
        request("DELETE", &format!("/register/{id}")).header("authorization", &format!("Bearer {other}")),
    );
    assert_eq!(r.status, 204);
    assert_eq!(client(&app, &id)["status"], "disabled");

    let second = post(
        "/developer/api/token",
        None,
        json!({"email": "api@example.com", "password": DEV_PASSWORD}),
    )
    .json_body()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        "/developer/api/password",
        Some(&second),
        json!({"current_password": DEV_PASSWORD, "new_password": "Another-2026!"}),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(
        get("/developer/api/apps", &token).status,
        401,
        "other tokens end with a password change"
    );
    assert_eq!(get("/developer/api/apps", &second).status, 200);
}

/// Hostile input never gets a 500: every route of the portal, the practice
/// pages, the EHR and RFC 7592 with every method, empty, non-UTF-8, overlong,
/// mistyped and repeated input, signed in and not.
#[test]
fn hostile_input_gets_4xx_not_500() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let id = register(&mut dana, &registration("patient", "Fuzzed", "north-123456"));
    let token = {
        let page = text(&dana.post_csrf("/developer/token", &[]));
        page.split("id=\"api-token\">")
            .nth(1)
            .and_then(|t| t.split('<').next())
            .unwrap()
            .to_string()
    };
    let mut nadmin = practice_admin(&app, "north-admin");
    let mut doc = Browser::at(&app, "/developer");
    doc.get("/ehr");
    doc.post_csrf("/ehr/signin", &[("username", "doc"), ("password", PASSWORD)]);
    let long = "x".repeat(300_000);
    let paths = [
        "/developer".to_string(),
        "/developer/signup".into(),
        "/developer/signin".into(),
        "/developer/signout".into(),
        "/developer/password".into(),
        "/developer/token".into(),
        "/developer/apps".into(),
        "/developer/apps/new?use=%FF".into(),
        format!("/developer/apps/{id}"),
        format!("/developer/apps/{id}/secret"),
        format!("/developer/apps/{id}/scope"),
        format!("/developer/apps/{id}/transfer"),
        format!("/developer/apps/{id}/transfer/accept"),
        format!("/developer/apps/{id}/transfer/cancel"),
        "/developer/apps/%00/secret".into(),
        "/developer/api/signup".into(),
        "/developer/api/token".into(),
        "/developer/api/password".into(),
        "/developer/api/apps".into(),
        format!("/developer/api/apps/{id}/secret"),
        format!("/developer/api/apps/{id}/transfer"),
        format!("/developer/api/apps/{id}/transfer/accept"),
        format!("/register/{id}"),
        "/register/nope".into(),
        "/register".into(),
        "/practice".into(),
        "/practice/signin".into(),
        format!("/practice/clients/{id}/decide"),
        format!("/practice/clients/{id}/scope"),
        "/ehr".into(),
        "/ehr?patient=%FF%FE&name=%00".into(),
        "/ehr/launch".into(),
        "/ehr/signin".into(),
    ];
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xff, 0xfe, b'=', 0xc3],
        b"csrf=a&csrf=b&email=&password=".to_vec(),
        format!("email={long}&name={long}&password={long}&scope={long}&to={long}&reason={long}").into_bytes(),
        br#"{"email": 1, "password": [], "rotate": "yes", "to": {}, "scope": 5, "practice_pin": 7}"#.to_vec(),
        br#"[1,2,3]"#.to_vec(),
        br#"{"client_name": "x", "practice": "northside", "practice_pin": "north-123456", "redirect_uris": ["http://a.example/cb"], "scope": "patient/*.rs", "jwks_uri": "http://[::1"}"#.to_vec(),
    ];
    for path in &paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            for body in &bodies {
                for who in 0..4 {
                    let mut req = request(method, path).body(body.clone());
                    if who == 1 {
                        req = req.header("authorization", &format!("Bearer {token}"));
                    }
                    let browser = match who {
                        2 => Some(&mut dana),
                        3 => Some(&mut nadmin),
                        _ => None,
                    };
                    let r = match browser {
                        Some(b) => {
                            // With the browser's cookies and a right CSRF token.
                            let mut with_csrf = format!("csrf={}&", b.csrf()).into_bytes();
                            with_csrf.extend_from_slice(body);
                            b.send(
                                request(method, path)
                                    .header("content-type", "application/x-www-form-urlencoded")
                                    .body(with_csrf),
                            )
                        }
                        None => call(&app, req),
                    };
                    assert!(
                        r.status < 500,
                        "{method} {path} ({who}) with {:?}: {} {}",
                        String::from_utf8_lossy(&body[..body.len().min(80)]),
                        r.status,
                        text(&r).chars().take(300).collect::<String>()
                    );
                }
            }
        }
    }
    let csrf = doc.csrf();
    for patient in ["a", "c", "%FF", ""] {
        let r = doc.send(
            request("POST", "/ehr/launch")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "csrf={csrf}&patient={patient}&client_id={id}&encounter=c-obs"
                )),
        );
        assert!(r.status < 500 && r.status != 200, "{patient}: {}", r.status);
    }
}

/// Markup in every field a developer or practice controls (display name,
/// e-mail, app name, redirect and launch URIs, reasons, pasted JWKS) is
/// shown as text on every page that renders it.
#[test]
fn markup_in_every_field_is_shown_as_text() {
    let app = world();
    let evil_name = "<img src=x onerror=alert(1)>";
    let evil_email = "<svg/onload=alert(2)>@evil.example";
    let mut mallory = Browser::at(&app, "/developer");
    mallory.get("/developer/signup");
    let r = mallory.post_csrf(
        "/developer/signup",
        &[
            ("email", evil_email),
            ("name", evil_name),
            ("password", DEV_PASSWORD),
        ],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    let redirect = "http://127.0.0.1:9000/cb?q=\"><img src=x onerror=alert(3)>";
    let launch = "http://127.0.0.1:9000/launch?q=\"><svg onload=alert(4)>";
    let app_name = "\"><script>alert(5)</script>";
    let form = vec![
        ("use_case", "provider"),
        ("client_name", app_name),
        ("practice", "northside"),
        ("practice_pin", "north-123456"),
        ("token_endpoint_auth_method", "none"),
        ("redirect_uris", redirect),
        ("launch_uri", launch),
        ("scope", "launch openid fhirUser user/*.rs"),
    ];
    let id = register(&mut mallory, &form);
    // A failed registration echoes the pasted JWKS and the error as text.
    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "token_endpoint_auth_method");
    bad.push(("token_endpoint_auth_method", "private_key_jwt"));
    bad.push((
        "jwks",
        "{\"keys\": [{\"kty\": \"<img src=x onerror=alert(6)>\"}]}",
    ));
    let failed = text(&mallory.post_csrf("/developer/apps", &bad));
    let mut dana = signed_up(&app, "dana@example.com");
    let mut nadmin = practice_admin(&app, "north-admin");
    let mut pages = vec![
        ("failed registration", failed),
        ("practice pending", text(&nadmin.get("/practice"))),
    ];
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "approve")],
    );
    mallory.post_csrf(
        &format!("/developer/apps/{id}/scope"),
        &[("scope", "launch openid fhirUser user/*.rs patient/*.rs")],
    );
    mallory.post_csrf(
        &format!("/developer/apps/{id}/transfer"),
        &[("to", "dana@example.com")],
    );
    let shown = client(&app, &id)["pending_scope"].as_str().unwrap().to_string();
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/scope"),
        &[
            ("decision", "reject"),
            ("reason", "<img src=x onerror=alert(7)>"),
            ("pending_scope", &shown),
        ],
    );
    let mut doc = Browser::at(&app, "/developer");
    doc.get("/ehr");
    doc.post_csrf("/ehr/signin", &[("username", "doc"), ("password", PASSWORD)]);
    pages.push(("ehr chart", text(&doc.get("/ehr?patient=a"))));
    let launched = doc.post_csrf(
        "/ehr/launch",
        &[("patient", "a"), ("client_id", &id), ("smart_style_url", "true")],
    );
    assert_eq!(launched.status, 200, "{}", text(&launched));
    let csp = launched
        .header_value("content-security-policy")
        .unwrap_or_default()
        .to_string();
    assert!(
        !csp.contains('<') && !csp.contains('"') && !csp.contains('\n'),
        "{csp}"
    );
    pages.push(("ehr launch", text(&launched)));
    pages.push(("owner dashboard", text(&mallory.get("/developer"))));
    pages.push((
        "owner app page",
        text(&mallory.get(&format!("/developer/apps/{id}"))),
    ));
    pages.push(("recipient dashboard", text(&dana.get("/developer"))));
    pages.push((
        "recipient app page",
        text(&dana.get(&format!("/developer/apps/{id}"))),
    ));
    nadmin.post_csrf(
        &format!("/practice/clients/{id}/decide"),
        &[("decision", "disable"), ("reason", "<svg onload=alert(8)>")],
    );
    pages.push(("practice apps", text(&nadmin.get("/practice"))));
    pages.push((
        "owner disabled page",
        text(&mallory.get(&format!("/developer/apps/{id}"))),
    ));
    for (what, page) in &pages {
        for markup in ["<img", "<svg", "<script>"] {
            assert!(!page.contains(markup), "{what} has raw {markup}");
        }
    }
    let page = |what: &str| {
        pages
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, p)| p.as_str())
            .unwrap()
    };
    // Each value reached its page (as text).
    assert!(page("practice pending")
        .contains("&lt;img src=x onerror=alert(1)&gt; &lt;&lt;svg/onload=alert(2)&gt;@evil.example&gt;"));
    assert!(page("practice pending").contains("alert(3)") && page("practice pending").contains("alert(4)"));
    assert!(page("failed registration").contains("alert(6)"));
    assert!(page("owner app page").contains("Rejected: &lt;img src=x onerror=alert(7)&gt;"));
    assert!(page("recipient dashboard").contains("&lt;svg/onload=alert(2)&gt;@evil.example"));
    assert!(page("ehr launch").contains("alert(5)") && page("ehr launch").contains("<iframe"));
    assert!(page("owner disabled page").contains("&lt;svg onload=alert(8)&gt;"));
}

/// What the developer portal, its API and practice administration answer
/// for paths and methods they have no endpoint for, and in which order they
/// check: a page needs sign-in before its 404, a form the CSRF token before
/// sign-in, and practice administration's unknown forms need no sign-in.
#[test]
fn unknown_pages_forms_and_methods_keep_their_answers() {
    let app = world();
    let mut dana = signed_up(&app, "dana@example.com");
    let id = register(&mut dana, &registration("patient", "Routed", "north-123456"));
    let mut nadmin = practice_admin(&app, "north-admin");
    let mut visitor = Browser::at(&app, "/developer");
    let said = |r: &common::HttpResponse, status: u16, words: &str| {
        assert_eq!(r.status, status, "{}", text(r));
        assert!(text(r).contains(words), "{words}: {}", text(r));
    };
    // The developer portal's pages.
    said(
        &visitor.get("/developer/nope"),
        401,
        "sign in to the developer portal first",
    );
    said(&dana.get("/developer/nope"), 404, "no such page");
    said(&dana.get("/developer/apps"), 404, "no such page");
    said(
        &dana.get(&format!("/developer/apps/{id}/keys")),
        404,
        "no such page",
    );
    said(
        &dana.get("/developer/apps/new?use=bogus"),
        404,
        "no such registration form",
    );
    said(&visitor.post("/developer/nope", &[]), 403, "CSRF");
    said(
        &visitor.post_csrf("/developer/nope", &[]),
        401,
        "sign in to the developer portal first",
    );
    said(&dana.post_csrf("/developer/nope", &[]), 404, "no such form");
    said(&dana.post_csrf("/developer", &[]), 404, "no such form");
    said(
        &dana.post_csrf(&format!("/developer/apps/{id}/transfer/other"), &[]),
        404,
        "no such form",
    );
    for method in ["PUT", "DELETE", "PATCH", "HEAD"] {
        said(
            &dana.send(request(method, &format!("/developer/apps/{id}/keys"))),
            405,
            "this page takes GET or a form POST",
        );
    }
    let script = call(&app, request("GET", "/developer/password-rule.js"));
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header_value("set-cookie"),
        None,
        "no CSRF cookie with the script"
    );
    // The developer API.
    for (method, path, rest) in [
        ("POST", "/developer/api/nope/x", "nope/x"),
        ("GET", "/developer/api/token", "token"),
        ("PUT", "/developer/api/apps/x/secret", "apps/x/secret"),
        ("POST", "/developer/api", ""),
    ] {
        let r = call(&app, request(method, path));
        assert_eq!(r.status, 404, "{method} {path}: {}", text(&r));
        assert_eq!(r.json_body()["error"], "not_found");
        assert_eq!(
            r.json_body()["error_description"],
            format!("no developer API route {method} /developer/api/{rest}")
        );
    }
    let r = call(&app, request("GET", "/developer/api/apps"));
    assert_eq!(r.status, 401);
    assert_eq!(r.json_body()["error"], "invalid_token");
    // Practice administration.
    said(&nadmin.get("/practice/nope"), 404, "no such page");
    said(&nadmin.send(request("PUT", "/practice")), 404, "no such page");
    said(&visitor.post("/practice/nope", &[]), 403, "CSRF");
    said(&visitor.post_csrf("/practice/nope", &[]), 404, "no such form");
    said(&nadmin.post_csrf("/practice/nope", &[]), 404, "no such form");
    let other = format!("/practice/clients/{id}/other");
    said(
        &visitor.post_csrf(&other, &[]),
        401,
        "sign in as a practice administrator first",
    );
    said(
        &nadmin.post_csrf(&other, &[("decision", "approve")]),
        409,
        "cannot be approved now",
    );
    said(
        &nadmin.post_csrf("/practice/clients/nope/other", &[]),
        404,
        "no such app in your practice",
    );
}

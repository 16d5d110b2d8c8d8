//! The token endpoint beyond the first exchange: refresh rotation (with two
//! concurrent refreshes), reuse after the 30 s window revoking the family,
//! introspection, revocation, token lifetime.

use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use flare_tests::oauth::{jwt_decode, now, ClientAuth, Pkce};
use flare_tests::{check, check_eq};

use super::launch::{registered_scope, PATIENT_SCOPE};
use super::{code_of, expect_401, expect_403_scope, oauth_err, scopes, token_ok, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::token::refresh_rotation_and_concurrent_refresh",
        refresh_rotation,
    ),
    (
        "smart::token::refresh_reuse_after_window_revokes_family",
        reuse_after_window,
    ),
    ("smart::token::introspection", introspection),
    ("smart::token::revocation", revocation),
    ("smart::token::lifetime_and_expiry", lifetime),
    ("smart::token::authorization_code_errors", code_errors),
    ("smart::token::code_expires_after_60s", code_expiry),
];

/// Codes live 60 s: one redeemed after 62 s is invalid_grant.
fn code_expiry(ctx: &Ctx) {
    let w = World::new(ctx, "auth-codeexp");
    let app = w.app("expapp", "none", &registered_scope());
    let pkce = Pkce::new();
    let code = w.code(
        &app,
        "launch/patient patient/Patient.rs",
        Some(&pkce),
        &w.alice,
        None,
    );
    thread::sleep(Duration::from_secs(62));
    oauth_err(&w.exchange(&app, &code, Some(&pkce)), 400, "invalid_grant");
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// Rotation: each refresh gives a new refresh token; the previous one still
/// works inside the window; two concurrent refreshes both succeed; a
/// narrower scope is honoured, a wider one refused; garbage is invalid_grant.
fn refresh_rotation(ctx: &Ctx) {
    let w = World::new(ctx, "auth-refresh");
    let app = w.app("refapp", "none", &registered_scope());
    let t0 = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let rt0 = s(&t0, "refresh_token");
    check!(!rt0.is_empty(), "no refresh token: {t0}");

    let t1 = token_ok(&w.refresh(&app, &rt0, None));
    let rt1 = s(&t1, "refresh_token");
    check!(!rt1.is_empty() && rt1 != rt0, "refresh did not rotate: {t1}");
    check!(
        s(&t1, "access_token") != s(&t0, "access_token"),
        "same access token"
    );
    check_eq!(
        scopes(&t1["scope"]),
        scopes(&t0["scope"]),
        "refresh without scope keeps the scope"
    );
    check_eq!(
        t1["patient"],
        w.a.id.as_str(),
        "refresh keeps the launch context: {t1}"
    );
    w.fhir(&s(&t1, "access_token"), &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    // Inside the window the previous refresh token still works.
    let again = token_ok(&w.refresh(&app, &rt0, None));
    check!(s(&again, "refresh_token") != rt0, "{again}");

    // Two refreshes at once with the same token: both succeed.
    let results: Vec<flare_tests::http::Resp> = thread::scope(|sc| {
        let hs: Vec<_> = (0..2).map(|_| sc.spawn(|| w.refresh(&app, &rt1, None))).collect();
        hs.into_iter()
            .map(|h| h.join().expect("refresh thread"))
            .collect()
    });
    for r in &results {
        let t = token_ok(r);
        w.fhir(&s(&t, "access_token"), &format!("/fhir/Patient/{}", w.a.id))
            .expect_status(200);
    }
    let rt2 = s(&results[0].json(), "refresh_token");

    // Narrower scope on refresh.
    let narrow = token_ok(&w.refresh(&app, &rt2, Some("patient/Patient.rs")));
    let granted = scopes(&narrow["scope"]);
    check!(granted.contains(&"patient/Patient.rs".to_string()), "{granted:?}");
    check!(
        !granted.contains(&"patient/Observation.rs".to_string()),
        "not narrowed: {granted:?}"
    );
    let at = s(&narrow, "access_token");
    w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    expect_403_scope(&w.fhir(&at, &format!("/fhir/Observation?patient={}", w.a.id)));
    // Wider: refused.
    let rt3 = s(&narrow, "refresh_token");
    let r = w.refresh(&app, &rt3, Some("patient/Patient.rs patient/Immunization.rs"));
    oauth_err(&r, 400, "invalid_scope");
    super::no_store(&r);
    // Garbage and a missing refresh token.
    oauth_err(
        &w.refresh(&app, "garbage-refresh-token", None),
        400,
        "invalid_grant",
    );
    let r = w.oauth("/token", &[("grant_type", "refresh_token")], &app.auth());
    oauth_err(&r, 400, "invalid_request");

    // online_access also yields a refresh token.
    let t = w.login(
        &app,
        "launch/patient online_access patient/Patient.rs",
        &w.alice,
        None,
    );
    check!(
        t["refresh_token"].is_string(),
        "online_access without refresh_token: {t}"
    );
    token_ok(&w.refresh(&app, &s(&t, "refresh_token"), None));
}

/// Reuse of a rotated refresh token after the 30 s window revokes the family:
/// every refresh token and access token of it stops working.
fn reuse_after_window(ctx: &Ctx) {
    let w = World::new(ctx, "auth-reuse");
    let app = w.app("reuseapp", "none", &registered_scope());
    let t0 = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let (rt0, at0) = (s(&t0, "refresh_token"), s(&t0, "access_token"));
    let t1 = token_ok(&w.refresh(&app, &rt0, None));
    let (rt1, at1) = (s(&t1, "refresh_token"), s(&t1, "access_token"));
    // An unrelated grant of the same user and app must survive.
    let other = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let started = now();
    thread::sleep(Duration::from_secs(32));
    check!(now() - started >= 31, "slept too little");
    w.fhir(&at1, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    oauth_err(&w.refresh(&app, &rt0, None), 400, "invalid_grant");
    oauth_err(&w.refresh(&app, &rt1, None), 400, "invalid_grant");
    expect_401(&w.fhir(&at1, &format!("/fhir/Patient/{}", w.a.id)));
    expect_401(&w.fhir(&at0, &format!("/fhir/Patient/{}", w.a.id)));
    w.fhir(&s(&other, "access_token"), &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    token_ok(&w.refresh(&app, &s(&other, "refresh_token"), None));
}

/// SMART App Launch 2.2's introspection of an active token `i` issued by the
/// token response `t`: each launch context parameter exactly as the response
/// sent it (absent when it was absent), and, when the response carried an
/// id_token, that id_token's `iss`, `sub` and `fhirUser`.
pub fn check_echoes(i: &Value, t: &Value) {
    for k in [
        "patient",
        "encounter",
        "fhirContext",
        "need_patient_banner",
        "smart_style_url",
        "intent",
        "tenant",
    ] {
        check_eq!(
            i.get(k),
            t.get(k),
            "introspection's {k} differs from the token response's: {i} vs {t}"
        );
    }
    if let Some(id_token) = t["id_token"].as_str() {
        match jwt_decode(id_token) {
            Ok((_, claims)) => {
                for k in ["iss", "sub", "fhirUser"] {
                    check_eq!(
                        i.get(k),
                        claims.get(k),
                        "introspection's {k} differs from the id_token's: {i} vs {claims}"
                    );
                }
            }
            Err(e) => check!(false, "the id_token does not decode: {e}"),
        }
    }
}

/// RFC 7662: caller authentication, the active answer's members (SMART App
/// Launch 2.2: the launch context and id_token claims of the token
/// response), and `{"active": false}` for anything else.
fn introspection(ctx: &Ctx) {
    let w = World::new(ctx, "auth-intro");
    let app = w.app("introapp", "client_secret_basic", &registered_scope());
    let t = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let at = s(&t, "access_token");
    let r = w.oauth("/introspect", &[("token", &at)], &ClientAuth::Nothing);
    check_eq!(r.status, 401, "introspection without authentication: {}", r.body);
    let r = w.oauth(
        "/introspect",
        &[("token", &at)],
        &ClientAuth::Basic(app.client_id.clone(), "wrong-secret".into()),
    );
    check_eq!(r.status, 401, "introspection with a bad secret: {}", r.body);
    let r = w.oauth(
        "/introspect",
        &[("token", &at)],
        &ClientAuth::Bearer("garbage".into()),
    );
    check_eq!(r.status, 401, "introspection with a garbage bearer: {}", r.body);

    for auth in [
        app.auth(),
        ClientAuth::Bearer(w.client.token.clone()),
        ClientAuth::Bearer(at.clone()),
    ] {
        let r = w
            .oauth("/introspect", &[("token", &at)], &auth)
            .expect_status(200);
        let i = r.json();
        check_eq!(i["active"], true, "{auth:?}: {i}");
        check_eq!(i["client_id"], app.client_id.as_str(), "{i}");
        check_eq!(scopes(&i["scope"]), scopes(&t["scope"]), "{i}");
        let n = now();
        check!(
            i["exp"].as_i64().is_some_and(|e| e > n && e <= n + 3600 + 5),
            "exp: {i}"
        );
        check!(i["iat"].as_i64().is_some_and(|x| x <= n + 5), "iat: {i}");
        check_eq!(i["iss"], w.aud().as_str(), "{i}");
        check!(i["sub"].as_str().is_some_and(|x| !x.is_empty()), "sub: {i}");
        check_eq!(i["patient"], w.a.id.as_str(), "{i}");
        check!(
            i["fhirUser"]
                .as_str()
                .is_some_and(|f| f.ends_with(&w.alice.fhir_user)),
            "fhirUser: {i}"
        );
        check!(
            i["token_type"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case("bearer")),
            "token_type: {i}"
        );
        check_echoes(&i, &t);
    }
    check!(t["id_token"].is_string(), "openid was granted: {t}");
    for token in ["garbage", &format!("{at}x")] {
        let r = w
            .oauth("/introspect", &[("token", token)], &app.auth())
            .expect_status(200);
        check_eq!(r.json(), json!({"active": false}), "introspection of {token:?}");
    }
    // Revoked: inactive.
    w.oauth("/revoke", &[("token", &at)], &app.auth())
        .expect_status(200);
    let r = w
        .oauth(
            "/introspect",
            &[("token", &at)],
            &ClientAuth::Bearer(w.client.token.clone()),
        )
        .expect_status(200);
    check_eq!(r.json(), json!({"active": false}), "a revoked token is inactive");
}

/// RFC 7009: revoking an access token ends it (its refresh token lives on);
/// revoking a refresh token ends the family and its access tokens; 200
/// for unknown tokens.
fn revocation(ctx: &Ctx) {
    let w = World::new(ctx, "auth-revoke");
    let app = w.app("revapp", "none", &registered_scope());
    let t = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let (at, rt) = (s(&t, "access_token"), s(&t, "refresh_token"));
    let path = format!("/fhir/Patient/{}", w.a.id);

    let r = w.oauth(
        "/revoke",
        &[("token", &at), ("token_type_hint", "access_token")],
        &app.auth(),
    );
    check_eq!(r.status, 200, "{}", r.body);
    expect_401(&w.fhir(&at, &path));
    let t2 = token_ok(&w.refresh(&app, &rt, None));
    let (at2, rt2) = (s(&t2, "access_token"), s(&t2, "refresh_token"));
    w.fhir(&at2, &path).expect_status(200);

    // Revoking the (rotated) refresh token, with a wrong hint: the family and its access tokens end.
    let r = w.oauth(
        "/revoke",
        &[("token", &rt2), ("token_type_hint", "access_token")],
        &app.auth(),
    );
    check_eq!(r.status, 200, "{}", r.body);
    oauth_err(&w.refresh(&app, &rt2, None), 400, "invalid_grant");
    oauth_err(&w.refresh(&app, &rt, None), 400, "invalid_grant");
    expect_401(&w.fhir(&at2, &path));

    // Unknown tokens: still 200.
    for token in ["never-issued", "x"] {
        let r = w.oauth("/revoke", &[("token", token)], &app.auth());
        check_eq!(r.status, 200, "revoke {token:?}: {}", r.body);
    }
}

/// `access_token_lifetime`: expires_in honours it, and the token stops
/// working (401, inactive) after it.
fn lifetime(ctx: &Ctx) {
    let w = World::new(ctx, "auth-life2");
    let app = w.register_approved(json!({
        "client_name": "shortlived",
        "redirect_uris": ["http://shortlived.example:8400/cb"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": registered_scope(),
        "access_token_lifetime": 2,
    }));
    let t = w.login(
        &app,
        "launch/patient patient/Patient.rs offline_access",
        &w.alice,
        None,
    );
    check!(
        t["expires_in"].as_u64().is_some_and(|e| (1..=2).contains(&e)),
        "expires_in: {t}"
    );
    let at = s(&t, "access_token");
    let path = format!("/fhir/Patient/{}", w.a.id);
    thread::sleep(Duration::from_millis(3200));
    expect_401(&w.fhir(&at, &path));
    let i = w
        .oauth(
            "/introspect",
            &[("token", &at)],
            &ClientAuth::Bearer(w.client.token.clone()),
        )
        .expect_status(200)
        .json();
    check_eq!(i, json!({"active": false}), "an expired token is inactive");
    // The refresh token outlives the access token.
    let t2 = token_ok(&w.refresh(&app, &s(&t, "refresh_token"), None));
    w.fhir(&s(&t2, "access_token"), &path).expect_status(200);
}

/// /token errors for the authorization_code grant: unsupported grant type,
/// missing parameters, redirect_uri mismatch, a code of another client.
fn code_errors(ctx: &Ctx) {
    let w = World::new(ctx, "auth-codeerr");
    let app = w.app("codeapp", "none", &registered_scope());
    let other = w.app("otherapp", "none", &registered_scope());
    let pub_auth = app.auth();

    let r = w.oauth(
        "/token",
        &[("grant_type", "password"), ("username", "x"), ("password", "y")],
        &pub_auth,
    );
    oauth_err(&r, 400, "unsupported_grant_type");
    super::no_store(&r);
    let r = w.oauth("/token", &[("code", "x")], &pub_auth);
    oauth_err(&r, 400, "invalid_request");
    let r = w.oauth("/token", &[("grant_type", "authorization_code")], &pub_auth);
    oauth_err(&r, 400, "invalid_request");
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "bogus"),
            ("redirect_uri", &app.redirect_uri),
            ("code_verifier", &Pkce::new().verifier),
        ],
        &pub_auth,
    );
    oauth_err(&r, 400, "invalid_grant");
    let r = w.oauth(
        "/token",
        &[("grant_type", "authorization_code"), ("code", "bogus")],
        &ClientAuth::Public("no-such-client".into()),
    );
    check!(
        r.status == 401 && super::oauth::oauth_error(&r) == "invalid_client",
        "unknown client: {} {}",
        r.status,
        r.body
    );

    // redirect_uri mismatch at /token.
    let pkce = Pkce::new();
    let code = w.code(
        &app,
        "launch/patient patient/Patient.rs",
        Some(&pkce),
        &w.alice,
        None,
    );
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://codeapp.evil.example/cb"),
            ("code_verifier", &pkce.verifier),
        ],
        &pub_auth,
    );
    oauth_err(&r, 400, "invalid_grant");

    // A code issued to `app`, redeemed by `other`.
    let pkce = Pkce::new();
    let params = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&pkce));
    let mut b = w.browser();
    let loc = w.authorize(&mut b, &params, &w.alice, None, &super::allow);
    let code = code_of(&loc, &app, &params);
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri),
            ("code_verifier", &pkce.verifier),
        ],
        &other.auth(),
    );
    oauth_err(&r, 400, "invalid_grant");
}

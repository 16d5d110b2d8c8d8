//! Backend services: `client_credentials` with `private_key_jwt`, keys made
//! here (RS384 from the test key, ES384 generated), JWKS registration and
//! replacement, system scopes (intersection with the registered ones), and a
//! pending scope change that only takes effect once approved.

use serde_json::{json, Value};

use flare_tests::fhir::{search_all, Method};
use flare_tests::oauth::{
    assertion_claims, ec_jwk, ec_key, rsa_jwk, rsa_key, sign_es384, sign_rs384, ClientAuth,
};
use flare_tests::{check, check_eq};

use super::{expect_401, expect_403_scope, oauth_err, scopes, token_ok, App, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::backend::client_credentials_rs384_and_es384",
        client_credentials,
    ),
    (
        "smart::backend::jwks_replacement_and_scope_change",
        jwks_and_scope_change,
    ),
];

/// Registers and approves a backend client with `jwks` and `scope`.
pub fn backend_app(w: &World, name: &str, jwks: Value, scope: &str) -> App {
    w.register_approved(json!({
        "client_name": format!("{name} ({})", w.key),
        "redirect_uris": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": scope,
        "jwks": jwks,
    }))
}

/// `client_credentials` for `scope` authenticated by `assertion`.
pub fn cc(w: &World, scope: &str, assertion: String) -> flare_tests::http::Resp {
    w.oauth(
        "/token",
        &[("grant_type", "client_credentials"), ("scope", scope)],
        &ClientAuth::Assertion(assertion),
    )
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// RS384 and ES384 clients get system tokens that read their practice.
fn client_credentials(ctx: &Ctx) {
    let w = World::new(ctx, "auth-backend");
    let rs = backend_app(
        &w,
        "rsback",
        json!({"keys": [rsa_jwk(rsa_key(0), "rs-1", "RS384")]}),
        "system/Patient.rs system/Observation.rs",
    );
    let ec = ec_key();
    let es = backend_app(
        &w,
        "esback",
        json!({"keys": [ec_jwk(&ec, "es-1")]}),
        "system/Patient.rs system/Observation.rs",
    );
    let aud = w.token_url();
    let rs_assert = || sign_rs384(rsa_key(0), "rs-1", &assertion_claims(&rs.client_id, &aud, 240));
    let es_assert = || sign_es384(&ec, "es-1", &assertion_claims(&es.client_id, &aud, 240));

    for (name, assert, app) in [
        ("RS384", &rs_assert as &dyn Fn() -> String, &rs),
        ("ES384", &es_assert as &dyn Fn() -> String, &es),
    ] {
        let r = cc(
            &w,
            "system/Patient.rs system/Observation.rs system/Condition.rs",
            assert(),
        );
        let t = token_ok(&r);
        let granted = scopes(&t["scope"]);
        check!(
            granted.contains(&"system/Patient.rs".to_string())
                && granted.contains(&"system/Observation.rs".to_string()),
            "{name}: {granted:?}"
        );
        check!(
            !granted.iter().any(|g| g.contains("Condition")),
            "{name}: granted beyond the registration: {granted:?}"
        );
        check!(
            t.get("refresh_token").is_none(),
            "{name}: a refresh token for a backend: {t}"
        );
        check!(
            t.get("id_token").is_none(),
            "{name}: an id_token for a backend: {t}"
        );
        let at = s(&t, "access_token");
        let c = w.as_token(&at);
        let patients = search_all(&c, None, "Patient", &[], Method::Get);
        check_eq!(
            patients.id_set(),
            [w.a.id.clone(), w.b.id.clone()].into_iter().collect(),
            "{name}: a system token sees its practice's patients"
        );
        w.fhir(&at, &format!("/fhir/Observation/{}", w.b.obs_vital))
            .expect_status(200);
        expect_403_scope(&w.fhir(&at, &format!("/fhir/Condition/{}", w.a.condition)));
        // Introspection and revocation authenticated by assertion.
        let i = w
            .oauth("/introspect", &[("token", &at)], &ClientAuth::Assertion(assert()))
            .expect_status(200)
            .json();
        check_eq!(i["active"], true, "{name}: {i}");
        check_eq!(i["client_id"], app.client_id.as_str(), "{name}: {i}");
        let r = w.oauth("/revoke", &[("token", &at)], &ClientAuth::Assertion(assert()));
        check_eq!(r.status, 200, "{name}: revoke: {}", r.body);
        expect_401(&w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id)));
    }

    // Only system/ scopes.
    for bad in [
        "patient/Patient.rs",
        "user/Patient.rs",
        "system/Patient.rs patient/Observation.rs",
        "openid",
    ] {
        oauth_err(&cc(&w, bad, rs_assert()), 400, "invalid_scope");
    }
    // A wrong assertion type is invalid_request; a missing assertion invalid_client.
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &rs_assert()),
        ],
        &ClientAuth::Nothing,
    );
    oauth_err(&r, 400, "invalid_request");
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs"),
        ],
        &ClientAuth::Public(rs.client_id.clone()),
    );
    oauth_err(&r, 401, "invalid_client");
    // A backend client cannot use authorization_code.
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", "https://x.example/cb"),
        ],
        &ClientAuth::Assertion(rs_assert()),
    );
    check!(
        r.status == 400 || r.status == 401,
        "authorization_code by a client_credentials-only client: {} {}",
        r.status,
        r.body
    );
    check!(
        ["unauthorized_client", "invalid_grant", "invalid_client"]
            .contains(&super::oauth::oauth_error(&r).as_str()),
        "{}",
        r.body
    );
}

/// `PUT /admin/clients/{id}/jwks` replaces the keys (the old key stops
/// working); a scope change is pending until approved.
fn jwks_and_scope_change(ctx: &Ctx) {
    let w = World::new(ctx, "auth-jwks");
    let app = backend_app(
        &w,
        "rotback",
        json!({"keys": [rsa_jwk(rsa_key(0), "k-old", "RS384")]}),
        "system/Patient.rs",
    );
    let aud = w.token_url();
    let old = || sign_rs384(rsa_key(0), "k-old", &assertion_claims(&app.client_id, &aud, 120));
    let new = || sign_rs384(rsa_key(1), "k-new", &assertion_claims(&app.client_id, &aud, 120));
    token_ok(&cc(&w, "system/Patient.rs", old()));
    oauth_err(&cc(&w, "system/Patient.rs", new()), 401, "invalid_client");
    let c = &w.client;
    c.put_json(
        &format!("/admin/clients/{}/jwks", app.client_id),
        &json!({"jwks": {"keys": [rsa_jwk(rsa_key(1), "k-new", "RS384")]}}),
    )
    .send()
    .expect_status(200);
    oauth_err(&cc(&w, "system/Patient.rs", old()), 401, "invalid_client");
    token_ok(&cc(&w, "system/Patient.rs", new()));

    // Scope change: pending until approved.
    let r = w
        .admin_post(
            &format!("/admin/clients/{}/scope-change", app.client_id),
            &json!({"scope": "system/Patient.rs system/Observation.rs"}),
        )
        .expect_status(202)
        .json();
    check!(
        scopes(&r["pending_scope"]).contains(&"system/Observation.rs".to_string()),
        "pending_scope: {r}"
    );
    let t = token_ok(&cc(&w, "system/Patient.rs system/Observation.rs", new()));
    check_eq!(
        scopes(&t["scope"]),
        vec!["system/Patient.rs"],
        "a pending scope was granted"
    );
    expect_403_scope(&w.fhir(s(&t, "access_token").as_str(), "/fhir/Observation"));
    let list = c
        .get(&format!("/admin/clients?practice={}", w.key))
        .send()
        .expect_status(200)
        .json();
    let me = list["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["client_id"] == app.client_id.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    check!(
        scopes(&me["pending_scope"]).contains(&"system/Observation.rs".to_string()),
        "{me}"
    );
    let r = w
        .admin_post(
            &format!("/admin/clients/{}/scope-change/approve", app.client_id),
            &json!({}),
        )
        .expect_status(200)
        .json();
    check!(
        scopes(&r["scope"]).contains(&"system/Observation.rs".to_string()),
        "{r}"
    );
    let t = token_ok(&cc(&w, "system/Patient.rs system/Observation.rs", new()));
    let granted = scopes(&t["scope"]);
    check!(
        granted.contains(&"system/Observation.rs".to_string()),
        "{granted:?}"
    );
    w.fhir(
        s(&t, "access_token").as_str(),
        &format!("/fhir/Observation/{}", w.a.obs_lab),
    )
    .expect_status(200);

    // A rejected scope change leaves the scope as it was.
    w.admin_post(
        &format!("/admin/clients/{}/scope-change", app.client_id),
        &json!({"scope": "system/Patient.rs system/Observation.rs system/Condition.rs"}),
    )
    .expect_status(202);
    w.admin_post(
        &format!("/admin/clients/{}/scope-change/reject", app.client_id),
        &json!({}),
    )
    .expect_status(200);
    let t = token_ok(&cc(&w, "system/Patient.rs system/Condition.rs", new()));
    check_eq!(
        scopes(&t["scope"]),
        vec!["system/Patient.rs"],
        "rejected scope change granted"
    );
}

//! Registration (RFC 7591 with the admin token as initial access token) and
//! the admin API around clients and users: approval, rejection, disabling,
//! secret rotation, and the password policy.

use serde_json::{json, Value};

use flare_tests::fhir::expect_outcome;
use flare_tests::oauth::{ClientAuth, Pkce};
use flare_tests::{check, check_eq};

use super::{oauth_err, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::registration::register_validates_and_starts_pending",
        register_and_validate,
    ),
    (
        "smart::registration::approve_reject_disable_rotate_secret",
        lifecycle,
    ),
    ("smart::registration::users_password_policy_and_duplicates", users),
];

fn meta(w: &World, name: &str, method: &str) -> Value {
    json!({
        "client_name": name,
        "redirect_uris": [format!("https://{name}.example/cb")],
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid fhirUser launch/patient patient/Patient.rs offline_access",
        "practice": w.key,
    })
}

/// `/token` with a random refresh token: tells client authentication apart
/// (a good client gets 400 invalid_grant, a bad one 401 invalid_client).
fn probe(w: &World, auth: &ClientAuth) -> flare_tests::http::Resp {
    w.oauth(
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-refresh-token"),
        ],
        auth,
    )
}

/// 401 without/with a wrong initial access token, 400 for bad metadata, 201
/// pending for good metadata (secret only for client_secret_basic), and a
/// pending client can do nothing.
fn register_and_validate(ctx: &Ctx) {
    let w = World::new(ctx, "auth-reg");
    let c = &w.client;
    let good = meta(&w, "regapp", "none");

    let r = c
        .post("/register", "application/json", good.to_string())
        .no_auth()
        .header("CF-Connecting-IP", &w.ip)
        .send();
    oauth_err(&r, 401, "invalid_token");
    let r = c
        .post("/register", "application/json", good.to_string())
        .token("not-the-admin-token")
        .header("CF-Connecting-IP", &w.ip)
        .send();
    oauth_err(&r, 401, "invalid_token");

    let bad: Vec<(&str, Value, &[&str])> = vec![
        (
            "fragment in redirect_uri",
            json!({"redirect_uris": ["https://regapp.example/cb#frag"]}),
            &["invalid_redirect_uri"],
        ),
        (
            "relative redirect_uri",
            json!({"redirect_uris": ["/cb"]}),
            &["invalid_redirect_uri"],
        ),
        (
            "non-http redirect_uri",
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            &["invalid_redirect_uri"],
        ),
        (
            "duplicate redirect_uris",
            json!({"redirect_uris": ["https://regapp.example/cb", "https://regapp.example/cb"]}),
            &["invalid_redirect_uri", "invalid_client_metadata"],
        ),
        (
            "unknown auth method",
            json!({"token_endpoint_auth_method": "client_secret_jwt"}),
            &["invalid_client_metadata"],
        ),
        (
            "private_key_jwt without keys",
            json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
                   "scope": "system/Patient.rs", "redirect_uris": []}),
            &["invalid_client_metadata"],
        ),
        (
            "access_token_lifetime 0",
            json!({"access_token_lifetime": 0}),
            &["invalid_client_metadata"],
        ),
        (
            "access_token_lifetime 3601",
            json!({"access_token_lifetime": 3601}),
            &["invalid_client_metadata"],
        ),
        (
            "a scope that does not parse",
            json!({"scope": "patient/Observation.xyz"}),
            &["invalid_client_metadata"],
        ),
    ];
    for (what, patch, errors) in bad {
        let mut m = good.clone();
        for (k, v) in patch.as_object().into_iter().flatten() {
            m[k] = v.clone();
        }
        let r = w.register(&m);
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        check!(
            r.status == 400 && body["error"].as_str().is_some_and(|e| errors.contains(&e)),
            "{what}: POST /register answered {} {} (expected 400 {errors:?})",
            r.status,
            r.body
        );
        check!(
            body["error_description"].is_string(),
            "{what}: no error_description: {body}"
        );
    }

    // Public client: 201 pending, no secret, metadata echoed.
    let r = w.register(&good).expect_status(201);
    let body = r.json();
    let id = body["client_id"].as_str().unwrap_or_default().to_string();
    check!(!id.is_empty(), "no client_id: {body}");
    check_eq!(body["status"], "pending");
    check!(
        body.get("client_secret").is_none(),
        "a public client got a secret: {body}"
    );
    check!(
        body["client_id_issued_at"].is_u64(),
        "client_id_issued_at: {body}"
    );
    check_eq!(body["client_name"], "regapp");
    check_eq!(body["redirect_uris"], good["redirect_uris"]);
    check_eq!(body["token_endpoint_auth_method"], "none");

    // Symmetric client: a secret, and two registrations get two ids.
    let r = w
        .register(&meta(&w, "regapp2", "client_secret_basic"))
        .expect_status(201);
    let conf = r.json();
    let secret = conf["client_secret"].as_str().unwrap_or_default().to_string();
    check!(secret.len() >= 20, "client_secret too short or missing: {conf}");
    check_eq!(conf["client_secret_expires_at"], 0, "{conf}");
    check!(
        conf["client_id"] != body["client_id"],
        "two registrations, one client_id"
    );

    // Pending: /authorize shows an error page (never a redirect), /token says invalid_client.
    let pkce = Pkce::new();
    let params = vec![
        ("response_type", "code".to_string()),
        ("client_id", id.clone()),
        ("redirect_uri", "https://regapp.example/cb".to_string()),
        ("scope", "openid patient/Patient.rs launch/patient".to_string()),
        ("state", "s1".to_string()),
        ("aud", w.aud()),
        ("code_challenge", pkce.challenge.clone()),
        ("code_challenge_method", "S256".to_string()),
    ];
    let mut b = w.browser();
    let r = b.get(&format!(
        "/authorize?{}",
        flare_tests::http::encode_pairs(&params)
    ));
    check_eq!(r.status, 400, "pending client at /authorize: {}", r.body);
    check!(
        r.header("location").is_none(),
        "pending client redirected: {:?}",
        r.header("location")
    );
    check!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "the error page is not HTML: {:?}",
        r.header("content-type")
    );
    let conf_id = conf["client_id"].as_str().unwrap_or_default().to_string();
    oauth_err(
        &probe(&w, &ClientAuth::Basic(conf_id.clone(), secret.clone())),
        401,
        "invalid_client",
    );
    oauth_err(&probe(&w, &ClientAuth::Public(id.clone())), 401, "invalid_client");

    // Approved: the same request shows the sign-in page.
    let r = w
        .admin_post(&format!("/admin/clients/{id}/approve"), &json!({}))
        .expect_status(200)
        .json();
    check_eq!(r["client_id"], id.as_str());
    check_eq!(r["status"], "approved");
    let r = b.get(&format!(
        "/authorize?{}",
        flare_tests::http::encode_pairs(&params)
    ));
    check_eq!(r.status, 200, "approved client at /authorize: {}", r.body);
    check!(
        r.body.contains("/authorize/signin"),
        "no sign-in form: {}",
        r.body
    );

    // The admin listing shows both, with their statuses.
    let list = c
        .get(&format!("/admin/clients?practice={}", w.key))
        .send()
        .expect_status(200)
        .json();
    let find = |cid: &str| {
        list["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["client_id"] == cid)
            .cloned()
            .unwrap_or(Value::Null)
    };
    check_eq!(find(&id)["status"], "approved", "{list}");
    check_eq!(find(&conf_id)["status"], "pending", "{list}");
    let pending = c
        .get(&format!("/admin/clients?practice={}&status=pending", w.key))
        .send()
        .expect_status(200)
        .json();
    let ids: Vec<&Value> = pending["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| &x["client_id"])
        .collect();
    check!(
        ids.contains(&&json!(conf_id)),
        "status=pending lacks the pending client: {pending}"
    );
    check!(
        !ids.contains(&&json!(id)),
        "status=pending lists an approved client: {pending}"
    );
    // Not an admin: no listing.
    let r = c.get("/admin/clients").token("nope").send();
    check_eq!(r.status, 401);
}

/// Approve, disable, enable, rotate-secret and reject, each observable at /token.
fn lifecycle(ctx: &Ctx) {
    let w = World::new(ctx, "auth-life");
    let app = w.register_approved(meta(&w, "lifeapp", "client_secret_basic"));
    let id = app.client_id.clone();
    let secret = app.secret.clone().unwrap_or_default();
    let good = ClientAuth::Basic(id.clone(), secret.clone());
    oauth_err(&probe(&w, &good), 400, "invalid_grant");
    oauth_err(
        &probe(&w, &ClientAuth::Basic(id.clone(), format!("{secret}x"))),
        401,
        "invalid_client",
    );
    check!(
        probe(&w, &ClientAuth::Basic(id.clone(), "wrong".into()))
            .header("www-authenticate")
            .is_some(),
        "invalid_client with Basic must carry WWW-Authenticate (RFC 6749 §5.2)"
    );

    let r = w
        .admin_post(&format!("/admin/clients/{id}/disable"), &json!({}))
        .expect_status(200)
        .json();
    check_eq!(r["status"], "disabled");
    oauth_err(&probe(&w, &good), 401, "invalid_client");
    let r = w
        .admin_post(&format!("/admin/clients/{id}/enable"), &json!({}))
        .expect_status(200)
        .json();
    check_eq!(r["status"], "approved");
    oauth_err(&probe(&w, &good), 400, "invalid_grant");

    let r = w
        .admin_post(&format!("/admin/clients/{id}/rotate-secret"), &json!({}))
        .expect_status(200)
        .json();
    let new_secret = r["client_secret"].as_str().unwrap_or_default().to_string();
    check!(
        new_secret.len() >= 20 && new_secret != secret,
        "rotate-secret: {r}"
    );
    oauth_err(&probe(&w, &good), 401, "invalid_client");
    oauth_err(
        &probe(&w, &ClientAuth::Basic(id.clone(), new_secret)),
        400,
        "invalid_grant",
    );

    // Reject a pending registration: it never works.
    let r = w
        .register(&meta(&w, "rejapp", "client_secret_basic"))
        .expect_status(201)
        .json();
    let rid = r["client_id"].as_str().unwrap_or_default().to_string();
    let rsecret = r["client_secret"].as_str().unwrap_or_default().to_string();
    let r = w
        .admin_post(
            &format!("/admin/clients/{rid}/reject"),
            &json!({"reason": "e2e test"}),
        )
        .expect_status(200)
        .json();
    check_eq!(r["status"], "rejected");
    oauth_err(
        &probe(&w, &ClientAuth::Basic(rid.clone(), rsecret)),
        401,
        "invalid_client",
    );
    // Unknown client ids on the admin API: 404.
    let r = w.admin_post("/admin/clients/no-such-client/approve", &json!({}));
    check_eq!(r.status, 404, "approve of an unknown client: {}", r.body);
}

/// Password policy (400 OperationOutcome) and duplicate usernames (409).
fn users(ctx: &Ctx) {
    let w = World::new(ctx, "auth-users");
    for weak in [
        "Sh0rt!",
        "alllower1!x",
        "ALLUPPER1!X",
        "NoDigits!!ab",
        "NoSymbol1abc",
    ] {
        let r = w.admin_post(
            "/admin/users",
            &json!({"username": format!("{}-weak", w.key), "password": weak, "practice": w.key,
                    "fhirUser": format!("Patient/{}", w.a.id)}),
        );
        expect_outcome(&r, 400);
    }
    let r = w.admin_post(
        "/admin/users",
        &json!({"username": w.alice.username, "password": super::PASSWORD, "practice": w.key,
                "fhirUser": format!("Patient/{}", w.b.id)}),
    );
    check_eq!(r.status, 409, "duplicate username: {}", r.body);
    // Usernames compare case-insensitively.
    let r = w.admin_post(
        "/admin/users",
        &json!({"username": w.alice.username.to_uppercase(), "password": super::PASSWORD,
                "practice": w.key, "fhirUser": format!("Patient/{}", w.b.id)}),
    );
    check_eq!(r.status, 409, "duplicate username in other case: {}", r.body);
    let r = w
        .client
        .post(
            "/admin/users",
            "application/json",
            json!({"username": "x", "password": super::PASSWORD, "practice": w.key,
                   "fhirUser": "Patient/x"})
            .to_string(),
        )
        .token("not-admin")
        .send();
    check_eq!(r.status, 401);
}

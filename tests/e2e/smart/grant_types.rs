//! Scopes by grant type and the app's approval today (issue 12, findings 3,
//! 4 and 7): `system/` scopes only for backend services; a practice's
//! narrowing of an app's scopes and a disable reach every existing token and
//! refresh at once (enabling again revives nothing); an EHR launch context is
//! made for one app and accepted by `/authorize` once.

use serde_json::json;

use flare_tests::check;
use flare_tests::http::encode_pairs;
use flare_tests::oauth::{query_param, Step};

use super::launch::registered_scope;
use super::{access_token, allow, code_of, expect_401, expect_403_scope, oauth_err, scopes, token_ok, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::grant_types::system_scopes_only_for_backend_services",
        system_scopes_backend_only,
    ),
    (
        "smart::grant_types::approval_changes_reach_existing_grants",
        approval_reaches_grants,
    ),
    (
        "smart::grant_types::launch_contexts_single_use_and_bound",
        launch_single_use,
    ),
];

/// Finding 3: a public `authorization_code` app registered and approved with
/// `system/*.rs` was granted it when a patient clicked Allow, and read the
/// whole practice. Now no path gives a user-present app a `system/` scope.
fn system_scopes_backend_only(ctx: &Ctx) {
    let w = World::new(ctx, "gt-system");
    let meta = |scope: &str| {
        json!({"client_name": "System through consent", "practice": w.key,
            "redirect_uris": [format!("http://sys.{}.app.example:8400/cb", w.key)],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "scope": scope})
    };
    // Registration refuses what its grant types can never grant.
    let r = w.register(&meta("launch/patient openid fhirUser patient/*.rs system/*.rs"));
    oauth_err(&r, 400, "invalid_client_metadata");
    check!(
        r.body.contains("system/*.rs"),
        "the refusal names the scope: {}",
        r.body
    );
    // So does a scope change of an approved app, requested or approved.
    let app = w.app("gtsys", "none", &registered_scope());
    let change = w.admin_post(
        &format!("/admin/clients/{}/scope-change", app.client_id),
        &json!({"scope": "launch/patient openid patient/*.rs system/Patient.rs"}),
    );
    check!(
        change.status == 400,
        "a scope change to system/ for a user-facing app: {} {}",
        change.status,
        change.body
    );
    // Asking for system/ at /authorize never yields it, even next to what is granted.
    let t = w.login(
        &app,
        "launch/patient openid fhirUser patient/Patient.rs system/*.rs",
        &w.alice,
        None,
    );
    check!(
        !t["scope"].as_str().unwrap_or_default().contains("system/"),
        "a patient's consent granted a system scope: {t}"
    );
    let at = access_token(&t);
    // The patient context holds: B is not readable, the roster search is not practice-wide.
    w.fhir(&at, &format!("/fhir/Patient/{}", w.b.id))
        .expect_status(404);
    let all = w.fhir(&at, "/fhir/Patient").expect_status(200).json();
    let ids: Vec<&str> = all["entry"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["resource"]["id"].as_str()).collect())
        .unwrap_or_default();
    check!(
        ids == [w.a.id.as_str()],
        "Patient search with the patient token: {ids:?}"
    );
}

/// Finding 4: after a practice approved narrowing an app from `patient/*.rs`
/// to `patient/Patient.rs`, the old token still read everything and a
/// refresh still yielded `patient/*.rs`; disable then enable revived all
/// the old tokens.
fn approval_reaches_grants(ctx: &Ctx) {
    let w = World::new(ctx, "gt-narrow");
    let wide = "launch/patient openid fhirUser offline_access patient/*.rs";
    let app = w.app("gtnarrow", "none", wide);
    let t = w.login(&app, wide, &w.alice, None);
    let (at, rt) = (
        access_token(&t),
        t["refresh_token"].as_str().unwrap_or_default().to_string(),
    );
    let obs = format!("/fhir/Observation/{}", w.a.obs_lab);
    w.fhir(&at, &obs).expect_status(200);

    let narrow = "launch/patient openid fhirUser offline_access patient/Patient.rs";
    w.admin_post(
        &format!("/admin/clients/{}/scope-change", app.client_id),
        &json!({"scope": narrow}),
    )
    .expect_status(202);
    // Pending: the old scope keeps working.
    w.fhir(&at, &obs).expect_status(200);
    w.admin_post(
        &format!("/admin/clients/{}/scope-change/approve", app.client_id),
        &json!({}),
    )
    .expect_status(200);
    // Approved: the existing token is held to it at once.
    expect_403_scope(&w.fhir(&at, &obs));
    w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    // And a refresh of the old grant yields the narrowed scope.
    let r = token_ok(&w.refresh(&app, &rt, None));
    let got = scopes(&r["scope"]);
    check!(
        got.contains(&"patient/Patient.rs".to_string()) && !got.contains(&"patient/*.rs".to_string()),
        "the refresh after the narrowing answered scope {:?}",
        r["scope"]
    );
    let at2 = access_token(&r);
    expect_403_scope(&w.fhir(&at2, &obs));
    // Asking a refresh for the old width is refused.
    let rt2 = r["refresh_token"].as_str().unwrap_or_default().to_string();
    oauth_err(&w.refresh(&app, &rt2, Some("patient/*.rs")), 400, "invalid_scope");

    // Disable, then enable: no old token or refresh works again.
    let t = w.login(&app, narrow, &w.alice, None);
    let (at3, rt3) = (
        access_token(&t),
        t["refresh_token"].as_str().unwrap_or_default().to_string(),
    );
    let pat = format!("/fhir/Patient/{}", w.a.id);
    w.fhir(&at3, &pat).expect_status(200);
    w.admin_post(&format!("/admin/clients/{}/disable", app.client_id), &json!({}))
        .expect_status(200);
    expect_401(&w.fhir(&at3, &pat));
    w.admin_post(&format!("/admin/clients/{}/enable", app.client_id), &json!({}))
        .expect_status(200);
    expect_401(&w.fhir(&at3, &pat));
    expect_401(&w.fhir(&at2, &pat));
    oauth_err(&w.refresh(&app, &rt3, None), 400, "invalid_grant");
    // The patient's portal no longer lists the revoked authorizations as live;
    // a new sign-in works.
    let t = w.login(&app, narrow, &w.alice, None);
    w.fhir(&access_token(&t), &pat).expect_status(200);
}

/// Finding 7: one `/admin/launch` value was accepted by `/authorize` twice,
/// by two different apps.
fn launch_single_use(ctx: &Ctx) {
    let w = World::new(ctx, "gt-launch");
    let app = w.app("gtlaunch", "client_secret_basic", &registered_scope());
    let other = w.app("gtother", "client_secret_basic", &registered_scope());
    // A launch is made for one app.
    let r = w.admin_post(
        "/admin/launch",
        &json!({"username": w.doctor.username, "patient": w.a.id}),
    );
    check!(
        r.status == 400,
        "a launch without client_id: {} {}",
        r.status,
        r.body
    );
    let launch_for = |client_id: &str| {
        let r = w
            .admin_post(
                "/admin/launch",
                &json!({"username": w.doctor.username, "client_id": client_id, "patient": w.a.id}),
            )
            .expect_status(201)
            .json();
        r["launch"].as_str().unwrap_or_default().to_string()
    };
    let scope = "launch openid fhirUser patient/Patient.rs";
    let with_launch = |app: &super::App, launch: &str| {
        let mut p = w.auth_params(app, scope, None);
        p.push(("launch".into(), launch.to_string()));
        p
    };
    // Another app cannot use it (and trying does not use it up).
    let launch = launch_for(&app.client_id);
    let params = with_launch(&other, &launch);
    let mut b = w.browser();
    match b.open(&format!("/authorize?{}", encode_pairs(&params))) {
        Step::Away { location, .. } => check!(
            query_param(&location, "error").as_deref() == Some("invalid_request")
                && query_param(&location, "code").is_none(),
            "another app's /authorize with the launch ended in {location}"
        ),
        Step::Page(p) => panic!(
            "another app's /authorize accepted the launch: {} {}",
            p.status,
            flare_tests::http::excerpt(&p.body)
        ),
    }
    // The app it was made for: accepted once, with its context.
    let params = with_launch(&app, &launch);
    let mut b = w.browser();
    let loc = w.authorize(&mut b, &params, &w.doctor, None, &allow);
    let t = token_ok(&w.exchange(&app, &code_of(&loc, &app, &params), None));
    check!(t["patient"] == w.a.id.as_str(), "launch context: {t}");
    // A second /authorize with the same launch is refused.
    let params = with_launch(&app, &launch);
    let mut b = w.browser();
    match b.open(&format!("/authorize?{}", encode_pairs(&params))) {
        Step::Away { location, .. } => check!(
            query_param(&location, "error").as_deref() == Some("invalid_request"),
            "a used launch ended in {location}"
        ),
        Step::Page(p) => panic!(
            "a used launch was accepted again: {} {}",
            p.status,
            flare_tests::http::excerpt(&p.body)
        ),
    }
    // A launch made for an app of another practice is refused at creation.
    let r = w.admin_post(
        "/admin/launch",
        &json!({"username": w.doctor.username, "client_id": "no-such-app", "patient": w.a.id}),
    );
    check!(
        r.status == 400,
        "a launch for an unknown app: {} {}",
        r.status,
        r.body
    );
}

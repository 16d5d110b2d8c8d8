//! The patient portal: a patient sees the apps they authorized and revokes
//! one; that grant's access token is 401 at once and its refresh token
//! invalid_grant, while the patient's other grants keep working.

use flare_tests::http::{excerpt, Resp};
use flare_tests::oauth::{forms, the_form, Browser, Form};
use flare_tests::{check, check_eq};

use super::launch::registered_scope;
use super::{expect_401, oauth_err, token_ok, User, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[("smart::portal::patient_revokes_an_app", revoke)];

/// Signs `user` in at /portal; returns the page listing the grants.
pub fn sign_in(w: &World, b: &mut Browser, user: &User) -> Resp {
    let page = b.get("/portal");
    check_eq!(page.status, 200, "GET /portal: {}", excerpt(&page.body));
    let form = the_form(&page);
    check!(
        form.action.ends_with("/portal/signin"),
        "portal sign-in action {:?}",
        form.action
    );
    check!(
        form.hidden("csrf").is_some_and(|c| !c.is_empty()),
        "portal sign-in without csrf"
    );
    let mut p = form.hidden_pairs();
    p.push(("username".into(), user.username.clone()));
    p.push(("password".into(), user.password.clone()));
    let r = b.post(&form.action, &p);
    check!(
        matches!(r.status, 302 | 303),
        "portal sign-in of {}: {} {}",
        user.username,
        r.status,
        excerpt(&r.body)
    );
    let _ = w;
    let page = b.follow(r).page();
    check_eq!(page.status, 200, "portal after sign-in: {}", excerpt(&page.body));
    page
}

/// The revoke forms of a portal page.
pub fn revoke_forms(page: &Resp) -> Vec<Form> {
    forms(&page.body)
        .into_iter()
        .filter(|f| f.method == "post" && f.action.ends_with("/portal/revoke"))
        .collect()
}

/// The grant id of the first revoke form after `name` on the page.
fn grant_after(page: &Resp, name: &str) -> String {
    let at = page
        .body
        .find(name)
        .unwrap_or_else(|| panic!("{name} not on the portal: {}", excerpt(&page.body)));
    revoke_forms(page)
        .into_iter()
        .filter_map(|f| f.hidden("grant").map(str::to_string))
        .filter_map(|g| page.body[at..].find(&g).map(|i| (i, g)))
        .min()
        .map(|(_, g)| g)
        .unwrap_or_else(|| panic!("no revoke form after {name}"))
}

fn s(v: &serde_json::Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// Patient-directed revocation.
fn revoke(ctx: &Ctx) {
    let w = World::new(ctx, "auth-portal");
    let one = w.app("portalone", "none", &registered_scope());
    let two = w.app("portaltwo", "none", &registered_scope());
    let scope = "launch/patient offline_access patient/Patient.rs patient/Observation.rs";
    let t1 = w.login(&one, scope, &w.alice, None);
    let t2 = w.login(&two, scope, &w.alice, None);
    let path = format!("/fhir/Patient/{}", w.a.id);
    w.fhir(&s(&t1, "access_token"), &path).expect_status(200);

    let mut b = w.browser();
    let page = sign_in(&w, &mut b, &w.alice);
    let name_one = format!("portalone ({})", w.key);
    let name_two = format!("portaltwo ({})", w.key);
    check!(
        page.body.contains(&name_one) && page.body.contains(&name_two),
        "apps not listed: {}",
        excerpt(&page.body)
    );
    check!(
        page.body.contains("patient/Observation.rs"),
        "scopes not shown: {}",
        excerpt(&page.body)
    );
    let forms_before = revoke_forms(&page);
    check!(
        forms_before.len() >= 2,
        "expected a revoke form per grant, got {}",
        forms_before.len()
    );
    for f in &forms_before {
        check!(
            f.hidden("grant").is_some_and(|g| !g.is_empty())
                && f.hidden("csrf").is_some_and(|c| !c.is_empty()),
            "revoke form without grant/csrf: {f:?}"
        );
    }
    let grant = grant_after(&page, &name_one);
    let form = forms_before
        .iter()
        .find(|f| f.hidden("grant") == Some(grant.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("no form for {grant}"));
    let r = b.post(&form.action, &form.hidden_pairs());
    check_eq!(r.status, 303, "POST /portal/revoke: {}", excerpt(&r.body));
    check!(
        r.header("location").is_some_and(|l| l.ends_with("/portal")),
        "revoke Location {:?}",
        r.header("location")
    );

    // At once: the access token is 401, the refresh token invalid_grant.
    expect_401(&w.fhir(&s(&t1, "access_token"), &path));
    oauth_err(
        &w.refresh(&one, &s(&t1, "refresh_token"), None),
        400,
        "invalid_grant",
    );
    // The other app's grant lives on.
    w.fhir(&s(&t2, "access_token"), &path).expect_status(200);
    token_ok(&w.refresh(&two, &s(&t2, "refresh_token"), None));

    let page = b.follow(r).page();
    check!(
        !revoke_forms(&page)
            .iter()
            .any(|f| f.hidden("grant") == Some(grant.as_str())),
        "the revoked grant {grant} is still listed: {}",
        page.body
    );
    check!(page.body.contains(&name_two), "the other app disappeared");

    // The app can be authorized again afterwards (a new grant).
    let t3 = w.login(&one, scope, &w.alice, None);
    w.fhir(&s(&t3, "access_token"), &path).expect_status(200);

    // The audit log has the revocation.
    let audit = super::audit_until(&w, &w.a.id, &|events| {
        events.iter().any(|e| e["action"] == "revoke")
    });
    check!(
        audit["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["action"] == "revoke"),
        "no revoke event in the audit: {audit}"
    );
}

//! The launches: patient standalone (public client, PKCE), provider
//! standalone with the patient picker (confidential symmetric client), EHR
//! launch from `POST /admin/launch`, the consent page (unticked types,
//! granular category scopes), deny, and the id_token.

use serde_json::{json, Value};

use flare_tests::fhir::{entries, pairs, search_all, Method};
use flare_tests::http::{encode_pairs, excerpt};
use flare_tests::oauth::{now, query_param, the_form, verify_rs256, Form, Pkce, Step};
use flare_tests::{check, check_eq};

use super::{
    allow, code_of, deny, error_of, expect_403_scope, scopes, token_ok, App, World, COND_CAT, OBS_CAT,
};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::launch::patient_standalone_public_pkce",
        patient_standalone,
    ),
    (
        "smart::launch::provider_standalone_with_picker",
        provider_standalone,
    ),
    ("smart::launch::ehr_launch", ehr_launch),
    (
        "smart::launch::consent_untick_and_granular_scopes",
        consent_granular,
    ),
    ("smart::launch::deny_gives_access_denied", deny_consent),
];

/// What the patient apps request.
pub const PATIENT_SCOPE: &str = "launch/patient openid fhirUser offline_access patient/Patient.rs \
    patient/Observation.rs patient/Condition.rs patient/Encounter.rs patient/MedicationRequest.rs \
    patient/Medication.rs patient/Practitioner.rs patient/Organization.rs patient/Provenance.rs \
    patient/CareTeam.rs";

/// What the test apps may ask for (registered scope).
pub fn registered_scope() -> String {
    format!(
        "{PATIENT_SCOPE} launch online_access user/Patient.rs user/Observation.rs user/Condition.rs \
         user/Encounter.rs user/Practitioner.rs"
    )
}

/// The JWKS of the edge.
pub fn jwks(w: &World) -> Value {
    w.client
        .get("/.well-known/jwks.json")
        .no_auth()
        .send()
        .expect_status(200)
        .json()
}

/// Verifies an id_token: RS256 signature against the JWKS, iss, aud, sub,
/// exp, iat, nonce and fhirUser; and that fhirUser is readable with `access`.
pub fn check_id_token(
    w: &World,
    app: &App,
    id_token: &str,
    nonce: Option<&str>,
    fhir_user: &str,
    access: &str,
) {
    let (header, claims) =
        verify_rs256(&jwks(w), id_token).unwrap_or_else(|e| panic!("id_token: {e}: {id_token}"));
    check_eq!(header["alg"], "RS256");
    check_eq!(claims["iss"], w.aud().as_str(), "id_token iss: {claims}");
    let aud_ok = claims["aud"] == app.client_id.as_str()
        || claims["aud"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(app.client_id)));
    check!(aud_ok, "id_token aud is not the client_id: {claims}");
    check!(
        claims["sub"].as_str().is_some_and(|s| !s.is_empty()),
        "id_token sub: {claims}"
    );
    let t = now();
    check!(
        claims["exp"].as_i64().is_some_and(|e| e > t),
        "id_token exp: {claims}"
    );
    check!(
        claims["iat"].as_i64().is_some_and(|i| i <= t + 5 && i > t - 600),
        "id_token iat: {claims}"
    );
    if let Some(n) = nonce {
        check_eq!(claims["nonce"], n, "id_token nonce: {claims}");
    }
    let url = format!("{}/{fhir_user}", w.aud());
    check_eq!(claims["fhirUser"], url.as_str(), "id_token fhirUser: {claims}");
    let r = w.client.get(&url).token(access).send();
    check_eq!(
        r.status,
        200,
        "fhirUser {url} is not readable with the access token: {}",
        r.body
    );
    let (rtype, id) = fhir_user.split_once('/').unwrap_or_default();
    let res = r.json();
    check_eq!(res["resourceType"], rtype);
    check_eq!(res["id"], id);
}

/// Patient standalone launch: sign-in page, wrong password, session cookie,
/// consent defaults, code, token response, id_token, reads; a second
/// authorization (by POST) skips sign-in.
fn patient_standalone(ctx: &Ctx) {
    let w = World::new(ctx, "auth-pat");
    let app = w.app("patapp", "none", &registered_scope());
    let pkce = Pkce::new();
    let mut params = w.auth_params(&app, PATIENT_SCOPE, Some(&pkce));
    params.push(("nonce".into(), "n-0S6_WzA2Mj".into()));
    let mut b = w.browser();

    // Sign-in page.
    let r = b.get(&format!("/authorize?{}", encode_pairs(&params)));
    check_eq!(r.status, 200, "GET /authorize: {}", excerpt(&r.body));
    check!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let csrf_cookie = b.jar.raw.get("flare_csrf").cloned().unwrap_or_default();
    let lc = csrf_cookie.to_ascii_lowercase();
    check!(
        lc.contains("httponly") && lc.contains("samesite=lax") && lc.contains("path=/"),
        "flare_csrf cookie attributes: {csrf_cookie:?}"
    );
    let form = the_form(&r);
    check!(
        form.action.ends_with("/authorize/signin"),
        "sign-in action {:?}",
        form.action
    );
    for h in ["request", "csrf"] {
        check!(
            form.hidden(h).is_some_and(|v| !v.is_empty()),
            "sign-in form lacks hidden {h}"
        );
    }
    check!(form.has_input("username") && form.has_input("password"));

    // Wrong password: 401 and the form again, no session.
    let mut creds = form.hidden_pairs();
    creds.push(("username".into(), w.alice.username.clone()));
    creds.push(("password".into(), "Wrong-pass-1!".into()));
    let r = b.post(&form.action, &creds);
    check_eq!(r.status, 401, "wrong password: {}", excerpt(&r.body));
    check!(
        b.jar.get("flare_session").is_none(),
        "a session after a wrong password"
    );
    let form = the_form(&r);
    check!(form.action.ends_with("/authorize/signin"));

    // Right password: 303 to /authorize/continue?request=…, session cookie.
    let mut creds = form.hidden_pairs();
    creds.push(("username".into(), w.alice.username.clone()));
    creds.push(("password".into(), w.alice.password.clone()));
    let r = b.post(&form.action, &creds);
    check_eq!(r.status, 303, "sign-in: {}", excerpt(&r.body));
    let loc = r.header("location").unwrap_or_default().to_string();
    check!(
        loc.contains("/authorize/continue?request="),
        "sign-in Location {loc:?}"
    );
    let session = b.jar.raw.get("flare_session").cloned().unwrap_or_default();
    check!(
        session.to_ascii_lowercase().contains("httponly"),
        "flare_session cookie: {session:?}"
    );
    let consent = b.follow(r).page();
    let form = the_form(&consent);
    check!(
        form.action.ends_with("/authorize/consent"),
        "after sign-in: {:?}",
        form.action
    );
    for h in ["request", "csrf"] {
        check!(
            form.hidden(h).is_some_and(|v| !v.is_empty()),
            "consent form lacks hidden {h}"
        );
    }
    let boxes = form.checkboxes("scope");
    let checked: Vec<&str> = boxes
        .iter()
        .filter(|(_, c)| *c)
        .map(|(v, _)| v.as_str())
        .collect();
    for s in PATIENT_SCOPE.split_whitespace() {
        let plain = ["openid", "fhirUser", "launch/patient", "launch"].contains(&s);
        if plain {
            check!(
                !boxes.iter().any(|(v, _)| v == s),
                "{s} must be granted without a checkbox"
            );
        } else {
            check!(
                checked.contains(&s),
                "requested {s} is not a checked box: {boxes:?}"
            );
        }
    }
    let lab = format!("patient/Observation.rs?category={OBS_CAT}|laboratory");
    check!(
        boxes.iter().any(|(v, c)| *v == lab && !c),
        "no unchecked granular {lab}: {boxes:?}"
    );
    let problem = format!("patient/Condition.rs?category={COND_CAT}|problem-list-item");
    check!(
        boxes.iter().any(|(v, c)| *v == problem && !c),
        "no unchecked granular {problem}: {boxes:?}"
    );
    check!(
        !boxes.iter().any(|(v, _)| v.starts_with("patient/Patient.rs?")),
        "granular alternatives for Patient (no categories): {boxes:?}"
    );
    // Discovery lists every scope the consent page offers (one source for both).
    let supported = w
        .client
        .get("/.well-known/smart-configuration")
        .no_auth()
        .send()
        .json()["scopes_supported"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (v, _) in &boxes {
        check!(
            supported.iter().any(|s| s == v.as_str()),
            "the consent page offers {v}, scopes_supported does not list it"
        );
    }
    check!(
        form.buttons.contains(&("decision".into(), "allow".into()))
            && form.buttons.contains(&("decision".into(), "deny".into())),
        "consent buttons: {:?}",
        form.buttons
    );
    let loc = b.submit(&form, &allow(&form)).away();
    let code = code_of(&loc, &app, &params);

    let r = w.exchange(&app, &code, Some(&pkce));
    let t = token_ok(&r);
    check_eq!(t["patient"], w.a.id.as_str(), "token patient: {t}");
    check!(t["need_patient_banner"].is_boolean(), "need_patient_banner: {t}");
    check!(
        t["refresh_token"].is_string(),
        "offline_access granted but no refresh_token: {t}"
    );
    let granted = scopes(&t["scope"]);
    for s in PATIENT_SCOPE.split_whitespace() {
        check!(granted.iter().any(|g| g == s), "{s} not granted: {granted:?}");
    }
    let access = t["access_token"].as_str().unwrap_or_default();
    check_id_token(
        &w,
        &app,
        t["id_token"].as_str().unwrap_or_default(),
        Some("n-0S6_WzA2Mj"),
        &w.alice.fhir_user,
        access,
    );
    let p = w
        .fhir(access, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200)
        .json();
    check_eq!(p["id"], w.a.id.as_str());
    let obs = search_all(
        &w.as_token(access),
        None,
        "Observation",
        &pairs(&[("patient", &w.a.id)]),
        Method::Get,
    );
    check_eq!(
        obs.id_set(),
        [w.a.obs_lab.clone(), w.a.obs_vital.clone()].into_iter().collect(),
        "A's observations"
    );

    // The browser is signed in: a second authorization (this time by form
    // POST to /authorize) goes straight to consent.
    let pkce2 = Pkce::new();
    let params2 = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&pkce2));
    let r = b.post("/authorize", &params2);
    let page = b.follow(r).page();
    check_eq!(page.status, 200, "POST /authorize: {}", excerpt(&page.body));
    let form = the_form(&page);
    check!(
        form.action.ends_with("/authorize/consent"),
        "signed-in browser was not taken to consent: {:?}",
        form.action
    );
    let loc = b.submit(&form, &allow(&form)).away();
    let code = code_of(&loc, &app, &params2);
    let t2 = token_ok(&w.exchange(&app, &code, Some(&pkce2)));
    check_eq!(scopes(&t2["scope"]), vec!["launch/patient", "patient/Patient.rs"]);
    check!(
        t2.get("refresh_token").is_none(),
        "no offline/online access, yet a refresh token: {t2}"
    );
    check!(t2.get("id_token").is_none(), "no openid, yet an id_token: {t2}");
}

/// A practitioner's standalone launch with launch/patient: the picker (with
/// its name filter), the chosen patient in the token, Basic client auth
/// without PKCE.
fn provider_standalone(ctx: &Ctx) {
    let w = World::new(ctx, "auth-prov");
    let app = w.app("provapp", "client_secret_basic", &registered_scope());
    let scope = "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs";
    let params = w.auth_params(&app, scope, None);
    let mut b = w.browser();
    let step = b.open(&format!("/authorize?{}", encode_pairs(&params)));
    let signin = the_form(&step.page());
    let mut pairs_in = signin.hidden_pairs();
    pairs_in.push(("username".into(), w.doctor.username.clone()));
    pairs_in.push(("password".into(), w.doctor.password.clone()));
    let r = b.post(&signin.action, &pairs_in);
    check_eq!(r.status, 303, "sign-in: {}", excerpt(&r.body));
    let cont = r.header("location").unwrap_or_default().to_string();
    let picker = b.follow(r).page();
    let form = the_form(&picker);
    check!(
        form.action.ends_with("/authorize/patient"),
        "expected the picker: {:?}",
        form.action
    );
    let radios = form.radios("patient");
    check!(
        radios.contains(&w.a.id) && radios.contains(&w.b.id),
        "picker radios {radios:?}"
    );
    let request = query_param(&cont, "request").unwrap_or_default();
    check!(!request.is_empty(), "continue URL without request: {cont}");
    let filtered = b.get(&format!(
        "/authorize/continue?{}",
        encode_pairs(&[("request", request.as_str()), ("name", &w.b.family[..6])])
    ));
    check_eq!(filtered.status, 200, "picker filter: {}", excerpt(&filtered.body));
    let form = the_form(&filtered);
    let radios = form.radios("patient");
    check!(
        radios.contains(&w.b.id) && !radios.contains(&w.a.id),
        "filter name={} gives {radios:?}",
        &w.b.family[..6]
    );
    let mut pick = form.hidden_pairs();
    pick.push(("patient".into(), w.b.id.clone()));
    let step = b.submit(&form, &pick);
    let loc = w.drive(&mut b, step, &w.doctor, None, &allow);
    let code = code_of(&loc, &app, &params);
    let t = token_ok(&w.exchange(&app, &code, None));
    check_eq!(t["patient"], w.b.id.as_str(), "picked patient: {t}");
    let access = t["access_token"].as_str().unwrap_or_default();
    w.fhir(access, &format!("/fhir/Patient/{}", w.b.id))
        .expect_status(200);
    flare_tests::fhir::expect_outcome(&w.fhir(access, &format!("/fhir/Patient/{}", w.a.id)), 404);
    let obs = search_all(&w.as_token(access), None, "Observation", &[], Method::Get);
    check_eq!(
        obs.id_set(),
        [w.b.obs_lab.clone(), w.b.obs_vital.clone()].into_iter().collect(),
        "Observation search with patient B in context"
    );
    // The id_token's fhirUser (the practitioner) is readable with the token.
    check_id_token(
        &w,
        &app,
        t["id_token"].as_str().unwrap_or_default(),
        None,
        &w.doctor.fhir_user,
        access,
    );
}

/// EHR launch: `POST /admin/launch`, the launch's context in the token
/// (patient, encounter, banner, style, fhirContext items in SMART 2.2's
/// forms) and in its introspection, the style URL serving JSON; a launch
/// cannot be used by another user; a bad launch is an error.
fn ehr_launch(ctx: &Ctx) {
    let w = World::new(ctx, "auth-ehr");
    let app = w.app("ehrapp", "client_secret_basic", &registered_scope());
    let enc_ref = format!("Encounter/{}", w.a.encounter);
    let questionnaire = json!({"canonical": "http://example.org/Questionnaire/phq-9|1.0", "type": "Questionnaire",
        "role": "http://example.org/roles/to-fill"});
    let list =
        json!({"identifier": {"system": "http://example.org/lists", "value": "worklist-7"}, "type": "List"});
    // SMART 2.2's items are checked: one kind each, a type for canonical and identifier, no Patient.
    for bad in [
        json!({"reference": enc_ref, "canonical": "http://example.org/Questionnaire/x"}),
        json!({"canonical": "http://example.org/Questionnaire/x"}),
        json!({"identifier": {"value": "no-system"}, "type": "List"}),
        json!({"reference": enc_ref, "type": "Observation"}),
        json!({"reference": format!("Patient/{}", w.a.id)}),
        json!({"reference": enc_ref, "role": "not a uri"}),
        json!(42),
    ] {
        let r = w.admin_post(
            "/admin/launch",
            &json!({"username": w.doctor.username, "client_id": app.client_id, "patient": w.a.id, "fhirContext": [bad]}),
        );
        check_eq!(r.status, 400, "fhirContext item {bad}: {}", r.body);
    }
    let r = w
        .admin_post(
            "/admin/launch",
            &json!({"username": w.doctor.username, "client_id": app.client_id, "patient": w.a.id, "encounter": w.a.encounter,
                    "smart_style_url": true, "fhirContext": [enc_ref, questionnaire, list]}),
        )
        .expect_status(201)
        .json();
    let launch = r["launch"].as_str().unwrap_or_default().to_string();
    check!(!launch.is_empty(), "no launch: {r}");
    check_eq!(r["expires_in"], 300);

    let scope = "launch openid fhirUser patient/Patient.rs patient/Encounter.rs patient/Observation.rs";
    let mut params = w.auth_params(&app, scope, None);
    params.push(("launch".into(), launch.clone()));
    let mut b = w.browser();
    let loc = w.authorize(&mut b, &params, &w.doctor, None, &allow);
    let code = code_of(&loc, &app, &params);
    let t = token_ok(&w.exchange(&app, &code, None));
    check_eq!(t["patient"], w.a.id.as_str(), "{t}");
    check_eq!(t["encounter"], w.a.encounter.as_str(), "{t}");
    check_eq!(t["need_patient_banner"], true, "{t}");
    check_eq!(
        t["fhirContext"],
        json!([{"reference": enc_ref, "type": "Encounter"}, questionnaire, list]),
        "fhirContext in SMART 2.2's form: {t}"
    );
    // Introspection echoes the launch context and the id_token's claims.
    let i = w
        .oauth(
            "/introspect",
            &[("token", t["access_token"].as_str().unwrap_or_default())],
            &app.auth(),
        )
        .expect_status(200)
        .json();
    check_eq!(i["active"], true, "{i}");
    super::token::check_echoes(&i, &t);
    let style = t["smart_style_url"].as_str().unwrap_or_default().to_string();
    check!(style.starts_with("http"), "smart_style_url: {t}");
    let s = w.client.get(&style).no_auth().send();
    check_eq!(s.status, 200, "GET {style}: {}", s.body);
    check!(s.json().is_object(), "the style is not a JSON object");
    let access = t["access_token"].as_str().unwrap_or_default();
    w.fhir(access, &format!("/fhir/Encounter/{}", w.a.encounter))
        .expect_status(200);
    flare_tests::fhir::expect_outcome(
        &w.fhir(access, &format!("/fhir/Encounter/{}", w.b.encounter)),
        404,
    );

    // A launch with a custom style and no banner.
    let r = w
        .admin_post(
            "/admin/launch",
            &json!({"username": w.doctor.username, "client_id": app.client_id, "patient": w.b.id, "need_patient_banner": false,
                    "smart_style_url": "https://style.example/flare.json"}),
        )
        .expect_status(201)
        .json();
    let mut params = w.auth_params(&app, "launch patient/Patient.rs", None);
    params.push((
        "launch".into(),
        r["launch"].as_str().unwrap_or_default().to_string(),
    ));
    let loc = w.authorize(&mut b, &params, &w.doctor, None, &allow);
    let t = token_ok(&w.exchange(&app, &code_of(&loc, &app, &params), None));
    check_eq!(t["patient"], w.b.id.as_str(), "{t}");
    check_eq!(t["need_patient_banner"], false, "{t}");
    check_eq!(t["smart_style_url"], "https://style.example/flare.json", "{t}");

    // Another user cannot take over a launch: alice signs in for the doctor's launch.
    let r = w
        .admin_post(
            "/admin/launch",
            &json!({"username": w.doctor.username, "client_id": app.client_id, "patient": w.a.id}),
        )
        .expect_status(201)
        .json();
    let mut params = w.auth_params(&app, "launch patient/Patient.rs", None);
    params.push((
        "launch".into(),
        r["launch"].as_str().unwrap_or_default().to_string(),
    ));
    let mut fresh = w.browser();
    let step = fresh.open(&format!("/authorize?{}", encode_pairs(&params)));
    let form = the_form(&step.page());
    let mut p = form.hidden_pairs();
    p.push(("username".into(), w.alice.username.clone()));
    p.push(("password".into(), w.alice.password.clone()));
    match fresh.submit(&form, &p) {
        Step::Away { location, .. } => {
            check!(
                query_param(&location, "code").is_none() && query_param(&location, "error").is_some(),
                "another user's EHR launch ended in {location}"
            );
        }
        Step::Page(page) => {
            let forms = flare_tests::oauth::forms(&page.body);
            check!(
                !forms
                    .iter()
                    .any(|f: &Form| f.action.ends_with("/authorize/consent")),
                "alice reached consent for the doctor's launch: {}",
                excerpt(&page.body)
            );
        }
    }

    // An unknown launch value: error redirect invalid_request.
    let mut params = w.auth_params(&app, "launch patient/Patient.rs", None);
    params.push(("launch".into(), "no-such-launch".into()));
    let loc = fresh
        .open(&format!("/authorize?{}", encode_pairs(&params)))
        .away();
    check_eq!(error_of(&loc, &app, &params), "invalid_request", "{loc}");
}

/// Consent with Condition unticked and Observation narrowed to laboratory:
/// the token's scope says so and the FHIR API enforces it.
fn consent_granular(ctx: &Ctx) {
    let w = World::new(ctx, "auth-consent");
    let app = w.app("consentapp", "none", &registered_scope());
    let scope =
        "launch/patient patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/Encounter.rs";
    let pkce = Pkce::new();
    let params = w.auth_params(&app, scope, Some(&pkce));
    let lab = format!("patient/Observation.rs?category={OBS_CAT}|laboratory");
    let lab2 = lab.clone();
    let decide = move |form: &Form| {
        let mut p: Vec<(String, String)> = form
            .submission()
            .into_iter()
            .filter(|(k, v)| {
                !(k == "scope" && (v == "patient/Condition.rs" || v == "patient/Observation.rs"))
            })
            .collect();
        p.push(("scope".into(), lab2.clone()));
        p.push(("decision".into(), "allow".into()));
        p
    };
    let mut b = w.browser();
    let loc = w.authorize(&mut b, &params, &w.alice, None, &decide);
    let t = token_ok(&w.exchange(&app, &code_of(&loc, &app, &params), Some(&pkce)));
    let granted = scopes(&t["scope"]);
    check!(granted.contains(&lab), "granular scope not granted: {granted:?}");
    check!(
        granted.contains(&"patient/Encounter.rs".to_string()),
        "{granted:?}"
    );
    check!(granted.contains(&"patient/Patient.rs".to_string()), "{granted:?}");
    check!(
        !granted.iter().any(|s| s.starts_with("patient/Condition")),
        "unticked Condition granted: {granted:?}"
    );
    check!(
        !granted.contains(&"patient/Observation.rs".to_string()),
        "unticked Observation.rs granted: {granted:?}"
    );
    let access = t["access_token"].as_str().unwrap_or_default();
    let c = w.as_token(access);
    let obs = search_all(
        &c,
        None,
        "Observation",
        &pairs(&[("patient", &w.a.id)]),
        Method::Get,
    );
    check_eq!(obs.ids(), vec![w.a.obs_lab.clone()], "laboratory only");
    let obs = search_all(
        &c,
        None,
        "Observation",
        &pairs(&[("patient", &w.a.id), ("category", "vital-signs")]),
        Method::Get,
    );
    check!(
        obs.matches.is_empty(),
        "vital-signs visible under a laboratory scope: {:?}",
        obs.matches
    );
    w.fhir(access, &format!("/fhir/Observation/{}", w.a.obs_lab))
        .expect_status(200);
    let r = w.fhir(access, &format!("/fhir/Observation/{}", w.a.obs_vital));
    flare_tests::fhir::expect_outcome(&r, 403);
    expect_403_scope(&w.fhir(access, &format!("/fhir/Condition?patient={}", w.a.id)));
    expect_403_scope(&w.fhir(access, &format!("/fhir/Condition/{}", w.a.condition)));
    let enc = w
        .fhir(access, &format!("/fhir/Encounter?patient={}", w.a.id))
        .expect_status(200)
        .json();
    check_eq!(entries(&enc).len(), 1, "{enc}");

    // Condition narrowed to problem-list-item works too.
    let problem = format!("patient/Condition.rs?category={COND_CAT}|problem-list-item");
    let pkce = Pkce::new();
    let params = w.auth_params(&app, "launch/patient patient/Condition.rs", Some(&pkce));
    let problem2 = problem.clone();
    let decide = move |form: &Form| {
        let mut p: Vec<(String, String)> = form
            .submission()
            .into_iter()
            .filter(|(k, _)| k != "scope")
            .collect();
        p.push(("scope".into(), problem2.clone()));
        p.push(("decision".into(), "allow".into()));
        p
    };
    let loc = w.authorize(&mut b, &params, &w.alice, None, &decide);
    let t = token_ok(&w.exchange(&app, &code_of(&loc, &app, &params), Some(&pkce)));
    check!(scopes(&t["scope"]).contains(&problem), "{t}");
    let access = t["access_token"].as_str().unwrap_or_default();
    let cond = search_all(&w.as_token(access), None, "Condition", &[], Method::Get);
    check_eq!(cond.ids(), vec![w.a.condition.clone()]);
}

/// Deny: `error=access_denied` with the state, no code.
fn deny_consent(ctx: &Ctx) {
    let w = World::new(ctx, "auth-deny");
    let app = w.app("denyapp", "none", &registered_scope());
    let pkce = Pkce::new();
    let params = w.auth_params(&app, PATIENT_SCOPE, Some(&pkce));
    let mut b = w.browser();
    let loc = w.authorize(&mut b, &params, &w.alice, None, &deny);
    check_eq!(error_of(&loc, &app, &params), "access_denied", "{loc}");
}

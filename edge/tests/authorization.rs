//! The authorization server and its enforcement, natively: the same
//! application code as in workerd, driven through its pages and endpoints
//! with a cookie-keeping "browser" and a movable clock. Signatures (id_token,
//! client assertions) and the rate limiters are tested in `signing.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::{
    admin, app, call, challenge, checkboxes, entry, form_body, hidden, import, import_puts, location,
    query_param, request, text, unescape, Browser, TestApp, BASE, NOW,
};
use flare_edge::http::HttpResponse;
use serde_json::{json, Value};

const PASSWORD: &str = "Flare-demo-2026";
const REDIRECT: &str = "http://127.0.0.1:9000/cb";

const VERIFIER: &str = "a-perfectly-fine-code-verifier-of-enough-length-0123456789";

fn obs(id: &str, patient: &str, category: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
        "code": {"text": "test"}, "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": "Practitioner/doc"}]})
}

/// Two patients with records in northside, one in lakeshore, users and an approved public app.
fn world() -> TestApp {
    let app = app();
    let resources = vec![
        json!({"resourceType": "Patient", "id": "a", "name": [{"family": "Alpha", "given": ["Ann"]}]}),
        json!({"resourceType": "Patient", "id": "b", "name": [{"family": "Beta", "given": ["Bob"]}]}),
        json!({"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Doc"}]}),
        json!({"resourceType": "Practitioner", "id": "other", "name": [{"family": "Other"}]}),
        obs("a-lab", "a", "laboratory"),
        obs("a-vs", "a", "vital-signs"),
        obs("b-lab", "b", "laboratory"),
        json!({"resourceType": "Provenance", "id": "prov-a", "target": [{"reference": "Observation/a-lab"}], "recorded": "2026-01-01T00:00:00Z",
            "patient": {"reference": "Patient/a"}, "agent": [{"who": {"reference": "Practitioner/doc"}}]}),
        json!({"resourceType": "Provenance", "id": "prov-b", "target": [{"reference": "Observation/b-lab"}], "recorded": "2026-01-01T00:00:00Z",
            "patient": {"reference": "Patient/b"}, "agent": [{"who": {"reference": "Practitioner/doc"}}]}),
        json!({"resourceType": "Encounter", "id": "enc-a", "status": "finished", "class": {"code": "AMB"}, "subject": {"reference": "Patient/a"}}),
    ];
    import_puts(&app, "northside", resources);
    import_puts(
        &app,
        "lakeshore",
        [
            json!({"resourceType": "Patient", "id": "c", "name": [{"family": "Gamma"}]}),
            obs("c-lab", "c", "laboratory"),
        ],
    );
    for (username, practice, fhir_user) in [
        ("ann", "northside", "Patient/a"),
        ("bob", "northside", "Patient/b"),
        ("doc", "northside", "Practitioner/doc"),
        ("cat", "lakeshore", "Patient/c"),
    ] {
        let r = call(
            &app,
            admin("POST", "/admin/users")
                .body(json!({"username": username, "password": PASSWORD, "practice": practice, "fhirUser": fhir_user}).to_string()),
        );
        assert_eq!(r.status, 201, "{}", text(&r));
    }
    register(
        &app,
        json!({"client_id": "public-app", "client_name": "Public <app>", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
        "scope": "launch launch/patient offline_access online_access patient/*.rs user/*.rs"}),
    );
    app
}

/// Registers and approves a client; returns the registration response.
fn register(app: &TestApp, meta: Value) -> Value {
    let r = call(app, admin("POST", "/register").body(meta.to_string()));
    assert_eq!(r.status, 201, "{}", text(&r));
    let body = r.json_body();
    let id = body["client_id"].as_str().unwrap();
    assert_eq!(
        call(app, admin("POST", &format!("/admin/clients/{id}/approve"))).status,
        200
    );
    body
}

fn authorize_url(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let fhir = format!("{BASE}/fhir");
    let ch = challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("aud", fhir.as_str()),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(n, _)| n != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    format!("/authorize?{}", form_body(&pairs))
}

/// Drives sign-in, the picker (if shown) and consent; `ticked` None keeps the defaults.
fn consent_flow(
    b: &mut Browser,
    url: &str,
    user: &str,
    pick: Option<&str>,
    ticked: Option<&[&str]>,
) -> HttpResponse {
    let mut page = b.get(url);
    if text(&page).contains("action=\"/authorize/signin\"") {
        let mut f = hidden(&text(&page));
        f.push(("username".into(), user.into()));
        f.push(("password".into(), PASSWORD.into()));
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = b.post("/authorize/signin", &pairs);
        assert_eq!(r.status, 303, "{}", text(&r));
        page = b.get(&location(&r));
    }
    if text(&page).contains("action=\"/authorize/patient\"") {
        let html = text(&page);
        let form = html.split("action=\"/authorize/patient\"").nth(1).unwrap();
        let mut f = hidden(form);
        f.push(("patient".into(), pick.expect("the picker was shown").into()));
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = b.post("/authorize/patient", &pairs);
        assert_eq!(r.status, 303, "{}", text(&r));
        page = b.get(&location(&r));
    }
    let html = text(&page);
    assert!(
        html.contains("action=\"/authorize/consent\""),
        "expected consent, got {}: {html}",
        page.status
    );
    let mut f: Vec<(String, String)> = hidden(&html);
    match ticked {
        None => f.extend(
            checkboxes(&html)
                .into_iter()
                .filter(|(_, c)| *c)
                .map(|(s, _)| ("scope".to_string(), s)),
        ),
        Some(list) => f.extend(list.iter().map(|s| ("scope".to_string(), s.to_string()))),
    }
    f.push(("decision".into(), "allow".into()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post("/authorize/consent", &pairs)
}

fn token(app: &TestApp, pairs: &[(&str, &str)]) -> HttpResponse {
    call(
        app,
        request("POST", "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(pairs)),
    )
}

fn exchange(app: &TestApp, client_id: &str, code: &str) -> HttpResponse {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ],
    )
}

/// A full patient standalone launch; returns the token response.
fn patient_token(app: &TestApp, user: &str, scope: &str, ticked: Option<&[&str]>) -> Value {
    let mut b = Browser::new(app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", scope, &[]),
        user,
        None,
        ticked,
    );
    assert_eq!(r.status, 302, "{}", text(&r));
    let loc = location(&r);
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-1"));
    let code = query_param(&loc, "code").expect("a code");
    let t = exchange(app, "public-app", &code);
    assert_eq!(t.status, 200, "{}", text(&t));
    assert_eq!(t.header_value("cache-control"), Some("no-store"));
    t.json_body()
}

fn fhir(app: &TestApp, token: &str, path: &str) -> HttpResponse {
    call(
        app,
        request("GET", path).header("authorization", &format!("Bearer {token}")),
    )
}

fn ids(r: &HttpResponse) -> Vec<String> {
    let b = r.json_body();
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn patient_token_sees_only_its_patient() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs offline_access", None);
    assert_eq!(t["patient"], "a");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["need_patient_banner"], true);
    let at = t["access_token"].as_str().unwrap();
    let ok = |p: &str| {
        let r = fhir(&app, at, p);
        assert_eq!(r.status, 200, "{p}: {}", text(&r));
        ids(&r)
    };
    let status = |p: &str| fhir(&app, at, p).status;
    assert_eq!(status("/fhir/Patient/a"), 200);
    assert_eq!(status("/fhir/Observation/a-lab"), 200);
    // Attacks: B by id, by search parameter, by _id, by includes, by chain; another practice.
    assert_eq!(status("/fhir/Patient/b"), 404);
    assert_eq!(status("/fhir/Observation/b-lab"), 404);
    assert_eq!(status("/fhir/Patient/c"), 404);
    assert_eq!(status("/fhir/Observation/c-lab"), 404);
    assert!(ok("/fhir/Observation?patient=b").is_empty());
    assert!(ok("/fhir/Observation?patient=Patient/b").is_empty());
    assert!(ok(&format!("/fhir/Observation?patient={BASE}/fhir/Patient/b")).is_empty());
    assert!(ok("/fhir/Observation?_id=b-lab").is_empty());
    assert!(ok("/fhir/Patient?_id=b").is_empty());
    assert!(ok("/fhir/Patient?name=Beta").is_empty());
    assert!(ok("/fhir/Observation?patient.name=Beta").is_empty());
    assert_eq!(ok("/fhir/Observation?patient.name=Alpha").len(), 2);
    let mut own = ok("/fhir/Observation?category=laboratory");
    own.sort();
    assert_eq!(
        own,
        vec!["a-lab"],
        "no patient parameter: the token's patient is implied"
    );
    let with_prov = ok("/fhir/Observation?patient=a&_revinclude=Provenance:target");
    assert!(with_prov.contains(&"prov-a".to_string()) && !with_prov.contains(&"prov-b".to_string()));
    assert!(ok("/fhir/Provenance?_id=prov-b").is_empty());
    assert_eq!(
        ok("/fhir/Provenance"),
        vec!["prov-a"],
        "a Provenance of the patient's record is the patient's"
    );
    assert_eq!(status("/fhir/Provenance/prov-a"), 200);
    assert_eq!(status("/fhir/Provenance/prov-b"), 404);
    let pats = ok("/fhir/Patient?_revinclude=Provenance:target");
    assert!(
        !pats.contains(&"b".to_string()) && !pats.contains(&"prov-b".to_string()),
        "{pats:?}"
    );
    // Non-compartment resources: only what the patient's records reference.
    assert_eq!(status("/fhir/Practitioner/doc"), 200);
    assert_eq!(status("/fhir/Practitioner/other"), 404);
    assert_eq!(ok("/fhir/Practitioner"), vec!["doc"]);
    // The audit trail records who read what.
    let audit = call(&app, admin("GET", "/admin/audit?practice=northside&patient=a")).json_body();
    let events = audit["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["action"] == "read" && e["what"] == "Patient/a" && e["client_id"] == "public-app"));
    assert!(events.iter().any(|e| e["action"] == "token"));
}

#[test]
fn user_token_with_picker_sees_its_practice_only() {
    let app = world();
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch/patient user/*.rs", &[]),
        "doc",
        Some("b"),
        None,
    );
    let code = query_param(&location(&r), "code").expect("code");
    let t = exchange(&app, "public-app", &code).json_body();
    assert_eq!(t["patient"], "b", "the picked patient is in context");
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Observation/a-lab").status, 200);
    assert_eq!(fhir(&app, at, "/fhir/Observation/b-lab").status, 200);
    assert_eq!(
        fhir(&app, at, "/fhir/Observation/c-lab").status,
        404,
        "another practice"
    );
    assert!(ids(&fhir(&app, at, "/fhir/Observation?patient=c")).is_empty());
    // A picked patient outside the practice is refused.
    let mut b = Browser::new(&app);
    let page = b.get(&authorize_url("public-app", "launch/patient user/*.rs", &[]));
    let mut f = hidden(&text(&page));
    f.extend([
        ("username".to_string(), "doc".to_string()),
        ("password".to_string(), PASSWORD.to_string()),
    ]);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post("/authorize/signin", &pairs);
    let picker = text(&b.get(&location(&r)));
    assert!(
        picker.contains("value=\"a\"") && picker.contains("value=\"b\"") && !picker.contains("value=\"c\"")
    );
    let form = picker.split("action=\"/authorize/patient\"").nth(1).unwrap();
    let mut f = hidden(form);
    f.push(("patient".into(), "c".into()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(b.post("/authorize/patient", &pairs).status, 400);
}

#[test]
fn granular_scopes_filter_search_and_read() {
    let app = world();
    let lab = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
    let t = patient_token(
        &app,
        "ann",
        "launch/patient patient/Observation.rs patient/Patient.rs",
        Some(&[lab, "patient/Patient.rs"]),
    );
    assert_eq!(t["scope"], format!("launch/patient {lab} patient/Patient.rs"));
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(ids(&fhir(&app, at, "/fhir/Observation?patient=a")), vec!["a-lab"]);
    assert_eq!(fhir(&app, at, "/fhir/Observation/a-lab").status, 200);
    let denied = fhir(&app, at, "/fhir/Observation/a-vs");
    assert_eq!(denied.status, 403);
    assert!(denied
        .header_value("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));
    assert_eq!(denied.json_body()["resourceType"], "OperationOutcome");
    let cond = fhir(&app, at, "/fhir/Condition?patient=a");
    assert_eq!(cond.status, 403, "unticked type");
    assert_eq!(fhir(&app, at, "/fhir/Encounter/enc-a").status, 403);
    assert!(ids(&fhir(
        &app,
        at,
        "/fhir/Observation?patient=a&category=vital-signs"
    ))
    .is_empty());
}

#[test]
fn codes_are_single_use_and_pkce_is_enforced() {
    let app = world();
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch/patient patient/*.rs offline_access", &[]),
        "ann",
        None,
        None,
    );
    let code = query_param(&location(&r), "code").unwrap();
    let tok = |v: Option<&str>| {
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "public-app"),
        ];
        if let Some(v) = v {
            p.push(("code_verifier", v));
        }
        token(&app, &p)
    };
    let ch = challenge(VERIFIER);
    // Failed PKCE attempts burn the code (single use), so try them on fresh codes.
    for bad in [
        None,
        Some(""),
        Some("wrong-verifier-wrong-verifier-wrong-verifier-0"),
        Some(ch.as_str()),
    ] {
        let mut b = Browser::new(&app);
        let r = consent_flow(
            &mut b,
            &authorize_url("public-app", "launch/patient patient/*.rs", &[]),
            "ann",
            None,
            None,
        );
        let c = query_param(&location(&r), "code").unwrap();
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "public-app"),
        ];
        if let Some(v) = bad {
            p.push(("code_verifier", v));
        }
        let r = token(&app, &p);
        assert_eq!(r.status, 400, "verifier {bad:?}");
        assert_eq!(r.json_body()["error"], "invalid_grant");
    }
    let first = tok(Some(VERIFIER));
    assert_eq!(first.status, 200);
    let at = first.json_body()["access_token"].as_str().unwrap().to_string();
    assert_eq!(fhir(&app, &at, "/fhir/Patient/a").status, 200);
    let replay = tok(Some(VERIFIER));
    assert_eq!(
        (replay.status, replay.json_body()["error"].clone()),
        (400, json!("invalid_grant"))
    );
    assert_eq!(
        fhir(&app, &at, "/fhir/Patient/a").status,
        401,
        "a replayed code revokes its tokens"
    );
    // Unknown code, wrong redirect_uri, expired code.
    assert_eq!(
        token(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", REDIRECT),
                ("client_id", "public-app"),
                ("code_verifier", VERIFIER)
            ]
        )
        .json_body()["error"],
        "invalid_grant"
    );
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch/patient patient/*.rs", &[]),
        "ann",
        None,
        None,
    );
    let c = query_param(&location(&r), "code").unwrap();
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", "http://127.0.0.1:9000/cb/"),
            ("client_id", "public-app"),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(r.json_body()["error"], "invalid_grant");
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch/patient patient/*.rs", &[]),
        "ann",
        None,
        None,
    );
    let c = query_param(&location(&r), "code").unwrap();
    app.platform.now.set(NOW + 61_000);
    assert_eq!(
        exchange(&app, "public-app", &c).json_body()["error"],
        "invalid_grant",
        "codes live a minute"
    );
}

#[test]
fn authorize_errors_redirect_only_to_registered_uris() {
    let app = world();
    let mut b = Browser::new(&app);
    for variant in [
        "http://127.0.0.1:9000/cb/",
        "http://127.0.0.1:9001/cb",
        "http://127.0.0.1:9000/cb?x=1",
        "http://127.0.0.1:9000/CB",
        "https://127.0.0.1:9000/cb",
        "http://evil.example/cb",
    ] {
        let r = b.get(&authorize_url(
            "public-app",
            "patient/*.rs",
            &[("redirect_uri", variant)],
        ));
        assert_eq!(r.status, 400, "{variant}");
        assert!(r.header_value("location").is_none());
        assert!(text(&r).contains("redirect_uri"));
    }
    let r = b.get(&authorize_url("nobody", "patient/*.rs", &[]));
    assert_eq!((r.status, r.header_value("location")), (400, None));
    for (extra, error) in [
        (("aud", "http://evil.example/fhir"), "invalid_request"),
        (("aud", ""), "invalid_request"),
        (("code_challenge_method", "plain"), "invalid_request"),
        (("code_challenge_method", ""), "invalid_request"),
        (("code_challenge", ""), "invalid_request"),
        (("response_type", "token"), "unsupported_response_type"),
        (("scope", "system/*.rs"), "invalid_scope"),
        (("launch", "forged"), "invalid_request"),
    ] {
        let r = b.get(&authorize_url(
            "public-app",
            "launch/patient patient/*.rs",
            &[extra],
        ));
        assert_eq!(r.status, 302, "{extra:?}: {}", text(&r));
        let loc = location(&r);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(query_param(&loc, "error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(query_param(&loc, "state").as_deref(), Some("st-1"));
        assert!(query_param(&loc, "code").is_none());
    }
    // Pending and disabled clients are refused before any redirect.
    register_pending(&app);
    let r = b.get(&authorize_url("pending-app", "patient/*.rs", &[]));
    assert_eq!((r.status, r.header_value("location")), (400, None));
}

fn register_pending(app: &TestApp) {
    let r = call(
        app,
        admin("POST", "/register").body(
            json!({"client_id": "pending-app", "client_name": "Pending",
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
            .to_string(),
        ),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json_body()["status"], "pending");
}

#[test]
fn consent_forms_need_the_csrf_token_and_cookie() {
    let app = world();
    let mut b = Browser::new(&app);
    let page = b.get(&authorize_url("public-app", "launch/patient patient/*.rs", &[]));
    let f = hidden(&text(&page));
    let request_id = f.iter().find(|(k, _)| k == "request").unwrap().1.clone();
    let csrf = f.iter().find(|(k, _)| k == "csrf").unwrap().1.clone();
    // Sign-in from another browser (no cookie), or with a wrong token: refused.
    let mut other = Browser::new(&app);
    let r = other.post(
        "/authorize/signin",
        &[
            ("request", &request_id),
            ("csrf", &csrf),
            ("username", "ann"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403);
    let r = b.post(
        "/authorize/signin",
        &[
            ("request", &request_id),
            ("csrf", "forged-forged-forged-forged"),
            ("username", "ann"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403);
    let r = b.post(
        "/authorize/signin",
        &[
            ("request", &request_id),
            ("csrf", &csrf),
            ("username", "ann"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 303);
    // A forged consent from a page the attacker controls (no cookie) gets no code.
    let r = other.post(
        "/authorize/consent",
        &[
            ("request", &request_id),
            ("csrf", &csrf),
            ("scope", "patient/*.rs"),
            ("decision", "allow"),
        ],
    );
    assert_eq!(r.status, 403);
    assert!(r.header_value("location").is_none());
    let r = b.post(
        "/authorize/consent",
        &[("request", &request_id), ("csrf", &csrf), ("decision", "deny")],
    );
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );
    let again = b.post(
        "/authorize/consent",
        &[("request", &request_id), ("csrf", &csrf), ("decision", "allow")],
    );
    assert_eq!(again.status, 400, "a finished request cannot be replayed");
}

#[test]
fn pages_escape_what_they_show() {
    let app = world();
    let mut b = Browser::new(&app);
    let page = text(&b.get(&authorize_url("public-app", "patient/*.rs", &[])));
    assert!(page.contains("Public &lt;app&gt;") && !page.contains("Public <app>"));
    let r = b.get("/authorize?client_id=%3Cscript%3E");
    assert!(!text(&r).contains("<script>"));
}

#[test]
fn refresh_rotates_with_a_reuse_window_and_never_widens() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs offline_access", None);
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: &str, scope: Option<&str>| {
        let mut p = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-app"),
        ];
        if let Some(s) = scope {
            p.push(("scope", s));
        }
        token(&app, &p)
    };
    let wide = refresh(&rt1, Some("patient/*.rs user/*.rs"));
    assert_eq!(
        (wide.status, wide.json_body()["error"].clone()),
        (400, json!("invalid_scope"))
    );
    let narrow = refresh(&rt1, Some("patient/Observation.rs"));
    assert_eq!(narrow.status, 200, "{}", text(&narrow));
    let n = narrow.json_body();
    assert_eq!(n["scope"], "patient/Observation.rs");
    assert_eq!(
        fhir(&app, n["access_token"].as_str().unwrap(), "/fhir/Encounter/enc-a").status,
        403
    );
    // rt1 was rotated; within the window a concurrent twin still works.
    let twin = refresh(&rt1, None);
    assert_eq!(twin.status, 200);
    let rt2 = n["refresh_token"].as_str().unwrap().to_string();
    let widened_back = refresh(&rt2, None);
    assert_eq!(
        widened_back.json_body()["scope"],
        "launch/patient patient/*.rs offline_access",
        "back to the grant, never beyond"
    );
    let rt3 = widened_back.json_body()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let at3 = widened_back.json_body()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Past the window, reuse of rt1 (stolen) revokes the whole family.
    app.platform.now.set(NOW + 31_000);
    let stolen = refresh(&rt1, None);
    assert_eq!(
        (stolen.status, stolen.json_body()["error"].clone()),
        (400, json!("invalid_grant"))
    );
    assert_eq!(refresh(&rt3, None).json_body()["error"], "invalid_grant");
    assert_eq!(fhir(&app, &at3, "/fhir/Patient/a").status, 401);
    assert_eq!(refresh("random-token", None).status, 400);
}

#[test]
fn online_access_ends_with_the_session_and_tokens_expire() {
    let app = world();
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch/patient patient/*.rs online_access", &[]),
        "ann",
        None,
        None,
    );
    let code = query_param(&location(&r), "code").unwrap();
    let t = exchange(&app, "public-app", &code).json_body();
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let ok = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "public-app"),
        ],
    );
    assert_eq!(ok.status, 200);
    let rt2 = ok.json_body()["refresh_token"].as_str().unwrap().to_string();
    // Signing out of the portal ends the session.
    let portal = text(&b.get("/portal"));
    let f = hidden(&portal);
    let csrf = f.iter().find(|(k, _)| k == "csrf").unwrap().1.clone();
    assert_eq!(b.post("/portal/signout", &[("csrf", &csrf)]).status, 303);
    let after = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", "public-app"),
        ],
    );
    assert_eq!(after.json_body()["error"], "invalid_grant");
    // Access tokens expire.
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    app.platform.now.set(NOW + 3_601_000);
    let expired = fhir(&app, at, "/fhir/Patient/a");
    assert_eq!(expired.status, 401);
    assert!(expired
        .header_value("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
}

#[test]
fn portal_revocation_stops_tokens_at_once() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs offline_access", None);
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    let mut b = Browser::new(&app);
    let page = text(&b.get("/portal"));
    let csrf = hidden(&page).into_iter().find(|(k, _)| k == "csrf").unwrap().1;
    let r = b.post(
        "/portal/signin",
        &[("csrf", &csrf), ("username", "ann"), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 303);
    let list = text(&b.get("/portal"));
    assert!(
        list.contains("Public &lt;app&gt;") && list.contains("Revoke"),
        "{list}"
    );
    assert!(list.contains("Patient/a"), "the access history lists the read");
    let grant = list
        .split("name=\"grant\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // Bob cannot revoke Ann's grant.
    let mut bob = Browser::new(&app);
    let bp = text(&bob.get("/portal"));
    let bcsrf = hidden(&bp).into_iter().find(|(k, _)| k == "csrf").unwrap().1;
    bob.post(
        "/portal/signin",
        &[("csrf", &bcsrf), ("username", "bob"), ("password", PASSWORD)],
    );
    assert_eq!(
        bob.post("/portal/revoke", &[("csrf", &bcsrf), ("grant", &grant)])
            .status,
        404
    );
    assert_eq!(
        b.post(
            "/portal/revoke",
            &[("csrf", "wrong-wrong-wrong-wrong-wrong"), ("grant", &grant)]
        )
        .status,
        403
    );
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    assert_eq!(
        b.post("/portal/revoke", &[("csrf", &csrf), ("grant", &grant)])
            .status,
        303
    );
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 401);
    let r = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-app"),
        ],
    );
    assert_eq!(r.json_body()["error"], "invalid_grant");
    assert!(!text(&b.get("/portal")).contains("name=\"grant\""));
}

#[test]
fn disabled_clients_and_unknown_tokens_get_401() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app, admin("POST", "/admin/clients/public-app/disable")).status,
        200
    );
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 401);
    assert_eq!(
        call(&app, admin("POST", "/admin/clients/public-app/enable")).status,
        200
    );
    // Disabling revoked the token for good: enabling revives nothing.
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 401);
    let again = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at2 = again["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at2, "/fhir/Patient/a").status, 200);
    for bad in ["", "x", &"y".repeat(300)] {
        assert_eq!(fhir(&app, bad, "/fhir/Patient/a").status, 401);
    }
    let none = call(&app, request("GET", "/fhir/Patient/a"));
    assert_eq!(none.status, 401);
    assert!(none.header_value("www-authenticate").is_some());
    assert_eq!(none.json_body()["resourceType"], "OperationOutcome");
    // An app token is not an admin token.
    let r = call(
        &app,
        request("GET", "/admin/practices").header("authorization", &format!("Bearer {at2}")),
    );
    assert_eq!(r.status, 403);
}

/// A change made by another isolate (here: straight in the store, past this
/// application's router) reaches this one once its cached copy of the token
/// is [`TOKEN_CACHE_TTL_MS`] old: a revoked token, or one whose client was
/// disabled, is refused from then on.
#[test]
fn a_revocation_made_elsewhere_is_refused_within_the_token_cache_bound() {
    use flare_edge::app::token_cache::TOKEN_CACHE_TTL_MS;
    use flare_edge::store::auth::{revoke_access_token, set_client_status, ClientStatus};

    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    let hash = flare_edge::crypto::sha256_b64(at);
    // The first use asks the store and is remembered.
    let checked = app.platform.now.get();
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    assert!(!app.token_cache().is_empty());
    pollster::block_on(revoke_access_token(app.auth_db(), &hash, checked)).unwrap();
    // Until the bound, the isolate still trusts what the store said ...
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    app.platform.now.set(checked + TOKEN_CACHE_TTL_MS - 1);
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    // ... and at the bound it asks again: refused.
    app.platform.now.set(checked + TOKEN_CACHE_TTL_MS);
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 401);
    app.platform.now.set(checked);
    assert_eq!(
        fhir(&app, at, "/fhir/Patient/a").status,
        401,
        "a refusal is not cached away"
    );

    // A client disabled elsewhere: the same bound.
    let t2 = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at2 = t2["access_token"].as_str().unwrap();
    let checked = app.platform.now.get() + 5_000;
    app.platform.now.set(checked);
    assert_eq!(fhir(&app, at2, "/fhir/Patient/a").status, 200);
    pollster::block_on(set_client_status(
        app.auth_db(),
        "public-app",
        ClientStatus::Disabled,
        Some("test"),
        &[],
        checked,
    ))
    .unwrap();
    app.platform.now.set(checked + TOKEN_CACHE_TTL_MS / 2);
    assert_eq!(fhir(&app, at2, "/fhir/Patient/a").status, 200);
    app.platform.now.set(checked + TOKEN_CACHE_TTL_MS);
    assert_eq!(fhir(&app, at2, "/fhir/Patient/a").status, 401);
}

/// Within the isolate that makes the change, a revocation needs no wait: any
/// request that is not a read forgets the cached tokens.
#[test]
fn a_revocation_through_this_isolate_is_refused_at_once() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    let r = call(
        &app,
        request("POST", "/revoke")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("token", at), ("client_id", "public-app")])),
    );
    assert_eq!(r.status, 200);
    assert!(app.token_cache().is_empty());
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 401);
}

#[test]
fn ehr_launch_carries_its_context() {
    let app = world();
    let new_launch = || {
        let launch = call(
            &app,
            admin("POST", "/admin/launch").body(
                json!({"username": "doc", "client_id": "public-app", "patient": "a", "encounter": "enc-a",
            "need_patient_banner": false, "smart_style_url": true, "fhirContext": ["Encounter/enc-a"]})
                .to_string(),
            ),
        );
        assert_eq!(launch.status, 201, "{}", text(&launch));
        let l = launch.json_body();
        assert_eq!(l["expires_in"], 300);
        l["launch"].as_str().unwrap().to_string()
    };
    let first = new_launch();
    let value = first.as_str();
    let mut b = Browser::new(&app);
    // Signing in as someone else than the launch's user is refused.
    let page = b.get(&authorize_url(
        "public-app",
        "launch user/*.rs",
        &[("launch", value)],
    ));
    let mut f = hidden(&text(&page));
    f.extend([
        ("username".to_string(), "ann".to_string()),
        ("password".to_string(), PASSWORD.to_string()),
    ]);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(b.post("/authorize/signin", &pairs).status, 403);
    // That launch is used up; a launch is accepted by /authorize once.
    let r = b.get(&authorize_url(
        "public-app",
        "launch user/*.rs",
        &[("launch", value)],
    ));
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    let second = new_launch();
    let value = second.as_str();
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch user/*.rs", &[("launch", value)]),
        "doc",
        None,
        None,
    );
    let code = query_param(&location(&r), "code").expect("code");
    let t = exchange(&app, "public-app", &code).json_body();
    assert_eq!(t["patient"], "a");
    assert_eq!(t["encounter"], "enc-a");
    assert_eq!(t["need_patient_banner"], false);
    assert_eq!(t["smart_style_url"], format!("{BASE}/smart-style/default.json"));
    assert_eq!(
        t["fhirContext"],
        json!([{"reference": "Encounter/enc-a", "type": "Encounter"}])
    );
    // Launch contexts expire after five minutes.
    let third = new_launch();
    app.platform.now.set(NOW + 301_000);
    let r = b.get(&authorize_url(
        "public-app",
        "launch user/*.rs",
        &[("launch", third.as_str())],
    ));
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
}

#[test]
fn confidential_clients_authenticate_with_basic_and_rotate_secrets() {
    let app = world();
    let reg = register(
        &app,
        json!({"client_id": "secret-app", "client_name": "Secret", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["authorization_code"], "scope": "launch/patient patient/*.rs"}),
    );
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let basic = |s: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("secret-app:{s}"))
        )
    };
    let mut b = Browser::new(&app);
    // No PKCE needed for a confidential client.
    let url = authorize_url(
        "secret-app",
        "launch/patient patient/*.rs",
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let r = consent_flow(&mut b, &url, "ann", None, None);
    let code = query_param(&location(&r), "code").unwrap();
    let send = |auth: &str, code: &str| {
        call(
            &app,
            request("POST", "/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", auth)
                .body(form_body(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                ])),
        )
    };
    let wrong = send(&basic("wrong"), &code);
    assert_eq!(
        (wrong.status, wrong.json_body()["error"].clone()),
        (401, json!("invalid_client"))
    );
    assert!(wrong.header_value("www-authenticate").is_some());
    // Only the client id, no secret: refused.
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "secret-app"),
        ],
    );
    assert_eq!(r.status, 401);
    let ok = send(&basic(&secret), &code);
    assert_eq!(ok.status, 200, "{}", text(&ok));
    let at = ok.json_body()["access_token"].as_str().unwrap().to_string();
    // Introspection by the client itself.
    let intro = |tok: &str, auth: &str| {
        call(
            &app,
            request("POST", "/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", auth)
                .body(form_body(&[("token", tok)])),
        )
        .json_body()
    };
    let i = intro(&at, &basic(&secret));
    assert_eq!(
        (i["active"].clone(), i["client_id"].clone(), i["patient"].clone()),
        (json!(true), json!("secret-app"), json!("a"))
    );
    assert!(i["exp"].as_i64().unwrap() > NOW / 1000);
    assert_eq!(intro("garbage", &basic(&secret)), json!({"active": false}));
    let unauth = call(
        &app,
        request("POST", "/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("token", &at)])),
    );
    assert_eq!(unauth.status, 401);
    // Rotation: the old secret stops working.
    let rotated = call(&app, admin("POST", "/admin/clients/secret-app/rotate-secret")).json_body();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(
        intro(&at, &basic(&secret))["active"],
        json!(null),
        "old secret refused"
    );
    assert_eq!(intro(&at, &basic(new_secret))["active"], true);
    // Revocation (RFC 7009).
    let rev = call(
        &app,
        request("POST", "/revoke")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", &basic(new_secret))
            .body(form_body(&[("token", &at)])),
    );
    assert_eq!(rev.status, 200);
    assert_eq!(intro(&at, &basic(new_secret)), json!({"active": false}));
    assert_eq!(fhir(&app, &at, "/fhir/Patient/a").status, 401);
}

#[test]
fn token_endpoint_errors_are_oauth_json() {
    let app = world();
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], 400, "invalid_request"),
        (vec![("grant_type", "password")], 400, "unsupported_grant_type"),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "nobody"),
                ("code", "x"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "authorization_code"), ("client_id", "public-app")],
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", "public-app")],
            400,
            "unauthorized_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:bogus"),
                ("client_assertion", "x"),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", "not.a.jwt"),
            ],
            401,
            "invalid_client",
        ),
    ];
    for (pairs, status, error) in cases {
        let r = token(&app, &pairs);
        assert_eq!(r.status, status, "{pairs:?}: {}", text(&r));
        assert_eq!(r.json_body()["error"], error, "{pairs:?}");
        assert_eq!(r.header_value("cache-control"), Some("no-store"));
    }
    let json_body = call(
        &app,
        request("POST", "/token")
            .header("content-type", "application/json")
            .body("{}"),
    );
    assert_eq!(json_body.status, 400);
    assert_eq!(call(&app, request("GET", "/token")).status, 405);
}

#[test]
fn sign_in_slows_down_per_name_and_address() {
    let app = world();
    let attempt_from = |ip: &'static str, password: &str| {
        let mut b = Browser::new(&app);
        b.ip = Some(ip);
        let page = b.get(&authorize_url("public-app", "launch/patient patient/*.rs", &[]));
        let mut f = hidden(&text(&page));
        f.extend([
            ("username".to_string(), "bob".to_string()),
            ("password".to_string(), password.to_string()),
        ]);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/authorize/signin", &pairs).status
    };
    let attempt = |password: &str| attempt_from("198.51.100.7", password);
    for _ in 0..5 {
        assert_eq!(attempt("nope"), 401);
    }
    assert_eq!(
        attempt(PASSWORD),
        429,
        "slowed down: even the right password waits"
    );
    assert_eq!(
        attempt_from("198.51.100.8", PASSWORD),
        303,
        "from another address the user is not slowed down"
    );
    app.platform.now.set(NOW + 1_100);
    assert_eq!(
        attempt(PASSWORD),
        303,
        "after the wait the right password works and resets"
    );
    // Waits grow to at most 15 minutes; there is no lock of the account.
    for i in 0..20 {
        let now = app.platform.now.get();
        app.platform.now.set(now + 15 * 60_000);
        assert_eq!(attempt("nope"), 401, "failure {i}");
    }
    assert_eq!(attempt(PASSWORD), 429);
    assert_eq!(attempt_from("198.51.100.8", PASSWORD), 303);
    app.platform.now.set(app.platform.now.get() + 15 * 60_000);
    assert_eq!(attempt(PASSWORD), 303);
}

#[test]
fn registration_is_pending_until_approved_and_scope_changes_need_approval() {
    let app = world();
    let r = call(
        &app,
        request("POST", "/register")
            .body(json!({"client_name": "x", "redirect_uris": [REDIRECT]}).to_string()),
    );
    assert_eq!(r.status, 401, "the initial access token is required");
    register_pending(&app);
    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "pending-app"),
        ],
    );
    assert_eq!(r.json_body()["error"], "invalid_client");
    let pending = call(&app, admin("GET", "/admin/clients?status=pending")).json_body();
    assert_eq!(pending["clients"][0]["client_id"], "pending-app");
    // A scope change waits for approval; the old scope keeps working.
    let r = call(
        &app,
        admin("POST", "/admin/clients/public-app/scope-change")
            .body(r#"{"scope":"launch/patient patient/Patient.rs"}"#),
    );
    assert_eq!(r.status, 202);
    let t = patient_token(&app, "ann", "launch/patient patient/Observation.rs", None);
    assert_eq!(t["scope"], "launch/patient patient/Observation.rs");
    assert_eq!(
        call(
            &app,
            admin("POST", "/admin/clients/public-app/scope-change/approve")
        )
        .status,
        200
    );
    let mut b = Browser::new(&app);
    let r = b.get(&authorize_url(
        "public-app",
        "launch/patient patient/Observation.rs",
        &[],
    ));
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_scope")
    );
}

#[test]
fn cors_allows_registered_origins_only() {
    let app = world();
    let pre = |origin: &str, path: &str| {
        call(
            &app,
            request("OPTIONS", path)
                .header("origin", origin)
                .header("access-control-request-method", "GET"),
        )
    };
    let ok = pre("http://127.0.0.1:9000", "/fhir/Patient/a");
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header_value("access-control-allow-origin"),
        Some("http://127.0.0.1:9000")
    );
    let evil = pre("http://evil.example", "/fhir/Patient/a");
    assert_eq!(evil.header_value("access-control-allow-origin"), None);
    let disc = call(
        &app,
        request("GET", "/fhir/metadata").header("origin", "http://evil.example"),
    );
    assert_eq!(disc.header_value("access-control-allow-origin"), Some("*"));
    let tok = call(
        &app,
        request("POST", "/token").header("origin", "http://127.0.0.1:9000"),
    );
    assert_eq!(
        tok.header_value("access-control-allow-origin"),
        Some("http://127.0.0.1:9000")
    );
}

#[test]
fn user_scopes_of_a_patient_user_stay_in_its_record() {
    let app = world();
    let t = patient_token(&app, "ann", "user/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Patient/a").status, 200);
    assert_eq!(fhir(&app, at, "/fhir/Patient/b").status, 404);
    assert!(ids(&fhir(&app, at, "/fhir/Observation?patient=b")).is_empty());
    assert_eq!(ids(&fhir(&app, at, "/fhir/Patient")), vec!["a"]);
}

#[test]
fn the_fhir_user_is_readable_with_the_token() {
    let app = world();
    // A practitioner with patient-level scopes still reads its own Practitioner resource.
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url(
            "public-app",
            "launch/patient patient/Observation.rs fhirUser",
            &[],
        ),
        "doc",
        Some("a"),
        None,
    );
    let code = query_param(&location(&r), "code").expect("code");
    let t = exchange(&app, "public-app", &code).json_body();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Practitioner/doc").status, 200);
    assert_eq!(fhir(&app, at, "/fhir/Practitioner/other").status, 403);
}

#[test]
fn authorize_accepts_a_form_post() {
    let app = world();
    let mut b = Browser::new(&app);
    let url = authorize_url("public-app", "launch/patient patient/*.rs", &[]);
    let query = url.strip_prefix("/authorize?").unwrap().to_string();
    let r = b.send(
        request("POST", "/authorize")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query),
    );
    assert_eq!(r.status, 200);
    assert!(text(&r).contains("action=\"/authorize/signin\""));
    assert!(r.header_value("set-cookie").unwrap().starts_with("flare_csrf="));
}

#[test]
fn consent_needs_the_browser_signed_in_as_the_requests_user() {
    let app = world();
    let mut alice = Browser::new(&app);
    let page = alice.get(&authorize_url("public-app", "launch/patient patient/*.rs", &[]));
    let f = hidden(&text(&page));
    let get = |k: &str| f.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let (request_id, csrf) = (get("request"), get("csrf"));
    let r = alice.post(
        "/authorize/signin",
        &[
            ("request", &request_id),
            ("csrf", &csrf),
            ("username", "ann"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 303);
    // Bob, signed in himself, somehow holding Alice's CSRF cookie and request id.
    let mut bob = Browser::new(&app);
    let bp = bob.get(&authorize_url("public-app", "launch/patient patient/*.rs", &[]));
    let bf = hidden(&text(&bp));
    let bget = |k: &str| bf.iter().find(|(n, _)| n == k).unwrap().1.clone();
    bob.post(
        "/authorize/signin",
        &[
            ("request", &bget("request")),
            ("csrf", &bget("csrf")),
            ("username", "bob"),
            ("password", PASSWORD),
        ],
    );
    bob.jar.set("flare_csrf", &csrf);
    let r = bob.post(
        "/authorize/consent",
        &[("request", &request_id), ("csrf", &csrf), ("decision", "allow")],
    );
    assert_eq!(r.status, 403);
    assert!(r.header_value("location").is_none());
    // The pages may be framed by this origin only.
    assert!(page
        .header_value("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'self'"));
}

/// The statuses of the public app's events about `what` in `patient`'s access history, sorted.
fn history_of(app: &TestApp, patient: &str, what: &str) -> Vec<i64> {
    let audit = call(
        app,
        admin(
            "GET",
            &format!("/admin/audit?practice=northside&patient={patient}"),
        ),
    )
    .json_body();
    let mut statuses: Vec<i64> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["what"] == what && e["client_id"] == "public-app")
        .map(|e| e["status"].as_i64().unwrap())
        .collect();
    statuses.sort();
    statuses
}

#[test]
fn the_access_history_records_each_answer_with_its_status() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    // A read: 200; conditional reads: 304 when the tag names the version
    // (weakly, or `*`), 200 when it does not; another patient's record: 404,
    // recorded for the patient in context (whose it was is not revealed).
    assert_eq!(fhir(&app, at, "/fhir/Observation/a-lab").status, 200);
    let conditional = |tag: &str| {
        call(
            &app,
            request("GET", "/fhir/Observation/a-lab")
                .header("authorization", &format!("Bearer {at}"))
                .header("if-none-match", tag),
        )
        .status
    };
    assert_eq!(conditional("W/\"1\""), 304);
    assert_eq!(conditional("*"), 304);
    assert_eq!(conditional("W/\"7\""), 200);
    assert_eq!(
        history_of(&app, "a", "Observation/a-lab"),
        vec![200, 200, 304, 304]
    );
    assert_eq!(fhir(&app, at, "/fhir/Observation/b-lab").status, 404);
    assert_eq!(history_of(&app, "a", "Observation/b-lab"), vec![404]);
    assert!(history_of(&app, "b", "Observation/b-lab").is_empty());
    // A search: one event per patient whose records the page carried.
    let r = fhir(&app, at, "/fhir/Observation?category=laboratory");
    assert_eq!(ids(&r), vec!["a-lab"]);
    assert_eq!(
        history_of(&app, "a", "Observation?category=laboratory"),
        vec![200]
    );
}

#[test]
fn fhir_answers_are_revalidated_not_reused_from_browser_caches() {
    let app = world();
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    for path in ["/fhir/Patient/a", "/fhir/Observation?patient=a"] {
        let r = fhir(&app, at, path);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_value("cache-control"),
            Some("private, no-cache"),
            "{path}: a revoked token's data must not come back from a cache"
        );
    }
}

#[test]
fn patients_read_the_binaries_their_documents_link() {
    let app = world();
    let doc = |id: &str, patient: &str, url: &str| {
        json!({"resourceType": "DocumentReference", "id": id, "status": "current", "subject": {"reference": format!("Patient/{patient}")},
               "content": [{"attachment": {"contentType": "text/plain", "url": url}}]})
    };
    let bin =
        |id: &str| json!({"resourceType": "Binary", "id": id, "contentType": "text/plain", "data": "aGk="});
    import(
        &app,
        "northside",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry(bin("bin-a")), entry(bin("bin-a2")), entry(bin("bin-b")),
            entry(doc("doc-a", "a", "Binary/bin-a")),
            entry(doc("doc-a2", "a", &format!("{BASE}/fhir/Binary/bin-a2"))),
            entry(doc("doc-b", "b", "Binary/bin-b")),
        ]}),
    );
    let t = patient_token(&app, "ann", "launch/patient patient/*.rs", None);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/Binary/bin-a").status, 200);
    assert_eq!(
        fhir(&app, at, "/fhir/Binary/bin-a2").status,
        200,
        "absolute URL under this base"
    );
    assert_eq!(
        fhir(&app, at, "/fhir/Binary/bin-b").status,
        404,
        "another patient's document"
    );
    // Without Binary in the grant, no Binary at all.
    let t = patient_token(&app, "ann", "launch/patient patient/DocumentReference.rs", None);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, at, "/fhir/DocumentReference/doc-a").status, 200);
    assert_eq!(fhir(&app, at, "/fhir/Binary/bin-a").status, 403);
}

/// Signs `user` in to the EHR simulator; returns the browser and the CSRF token.
fn ehr_signin<'a>(app: &'a TestApp, user: &str) -> (Browser<'a>, String) {
    let mut b = Browser::new(app);
    let page = b.get("/ehr");
    assert_eq!(page.status, 200);
    let html = text(&page);
    assert!(html.contains("action=\"/ehr/signin\""), "{html}");
    let csrf = hidden(&html).into_iter().find(|(k, _)| k == "csrf").unwrap().1;
    let r = b.post(
        "/ehr/signin",
        &[("csrf", &csrf), ("username", user), ("password", PASSWORD)],
    );
    assert_eq!(r.status, 303, "{}", text(&r));
    (b, csrf)
}

fn register_launchable(app: &TestApp) {
    register(
        app,
        json!({"client_id": "ehr-launch-app", "client_name": "EHR <app>", "redirect_uris": ["http://127.0.0.1:9100/"],
        "launch_uri": "http://127.0.0.1:9100/launch.html", "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "launch patient/*.rs"}),
    );
}

#[test]
fn ehr_simulator_launches_an_app_in_a_frame() {
    let app = world();
    register_launchable(&app);
    let (mut b, csrf) = ehr_signin(&app, "doc");
    let home = text(&b.get("/ehr"));
    assert!(
        home.contains("href=\"/ehr?patient=a\"") && home.contains("Ann Alpha"),
        "{home}"
    );
    assert!(
        !home.contains("href=\"/ehr?patient=c\""),
        "another practice's patient"
    );
    let chart = b.get("/ehr?patient=a");
    let html = text(&chart);
    assert!(
        html.contains("value=\"enc-a\""),
        "the patient's encounter: {html}"
    );
    assert!(
        html.contains("value=\"ehr-launch-app\"") && html.contains("EHR &lt;app&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("value=\"public-app\""),
        "no launch URL: not offered"
    );
    let r = b.post(
        "/ehr/launch",
        &[
            ("csrf", &csrf),
            ("patient", "a"),
            ("encounter", "enc-a"),
            ("client_id", "ehr-launch-app"),
            ("smart_style_url", "true"),
        ],
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let html = text(&r);
    let src = html
        .split("<iframe")
        .nth(1)
        .and_then(|f| f.split("src=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .map(unescape)
        .expect("an iframe");
    assert!(src.starts_with("http://127.0.0.1:9100/launch.html?iss="), "{src}");
    // The framed app may not navigate the EHR window away.
    let frame = html
        .split("<iframe")
        .nth(1)
        .and_then(|f| f.split('>').next())
        .unwrap();
    assert!(
        frame.contains("sandbox=\"allow-scripts") && !frame.contains("allow-top-navigation"),
        "{frame}"
    );
    assert_eq!(
        query_param(&src, "iss").as_deref(),
        Some(&*format!("{BASE}/fhir"))
    );
    let csp = r.header_value("content-security-policy").unwrap();
    assert!(
        csp.contains("frame-src 'self' http://127.0.0.1:9100") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    // The launch works at /authorize for the signed-in practitioner: straight to consent.
    let launch = query_param(&src, "launch").unwrap();
    let verifier = "v".repeat(50);
    let url = format!(
        "/authorize?response_type=code&client_id=ehr-launch-app&redirect_uri={}&scope=launch%20patient%2F*.rs&state=s&aud={}&code_challenge={}&code_challenge_method=S256&launch={launch}",
        form_urlencoded::byte_serialize(b"http://127.0.0.1:9100/").collect::<String>(),
        form_urlencoded::byte_serialize(format!("{BASE}/fhir").as_bytes()).collect::<String>(),
        challenge(&verifier),
    );
    let page = text(&b.get(&url));
    assert!(page.contains("action=\"/authorize/consent\""), "{page}");
    let mut f = hidden(&page);
    f.extend(
        checkboxes(&page)
            .into_iter()
            .filter(|(_, c)| *c)
            .map(|(s, _)| ("scope".to_string(), s)),
    );
    f.push(("decision".into(), "allow".into()));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post("/authorize/consent", &pairs);
    let code = query_param(&location(&r), "code").expect("a code");
    let t = call(
        &app,
        request("POST", "/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9100/"),
                ("client_id", "ehr-launch-app"),
                ("code_verifier", &verifier),
            ])),
    )
    .json_body();
    assert!(t["access_token"].is_string(), "{t}");
    assert_eq!(t["patient"], "a");
    assert_eq!(t["encounter"], "enc-a");
    assert_eq!(t["need_patient_banner"], false);
    assert!(t["smart_style_url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/smart-style/default.json")));
    assert_eq!(
        t["fhirContext"],
        json!([{"reference": "Encounter/enc-a", "type": "Encounter"}])
    );
}

#[test]
fn ehr_simulator_refuses_what_it_must() {
    let app = world();
    register_launchable(&app);
    // Signed out: the sign-in page, and no launch.
    let mut anon = Browser::new(&app);
    let page = text(&anon.get("/ehr?patient=a"));
    assert!(page.contains("action=\"/ehr/signin\"") && !page.contains("Ann Alpha"));
    let csrf = hidden(&page).into_iter().find(|(k, _)| k == "csrf").unwrap().1;
    let r = anon.post(
        "/ehr/launch",
        &[("csrf", &csrf), ("patient", "a"), ("client_id", "ehr-launch-app")],
    );
    assert_eq!(r.status, 401);
    // A patient is not a clinician.
    let (mut patient, pcsrf) = ehr_signin(&app, "ann");
    assert_eq!(patient.get("/ehr").status, 403);
    assert_eq!(
        patient
            .post(
                "/ehr/launch",
                &[
                    ("csrf", &pcsrf),
                    ("patient", "a"),
                    ("client_id", "ehr-launch-app")
                ]
            )
            .status,
        401
    );
    let (mut b, csrf) = ehr_signin(&app, "doc");
    let launch = |b: &mut Browser, pairs: &[(&str, &str)]| b.post("/ehr/launch", pairs).status;
    // CSRF: a missing or foreign token.
    assert_eq!(
        launch(&mut b, &[("patient", "a"), ("client_id", "ehr-launch-app")]),
        403
    );
    assert_eq!(
        launch(
            &mut b,
            &[
                ("csrf", "x".repeat(32).as_str()),
                ("patient", "a"),
                ("client_id", "ehr-launch-app")
            ]
        ),
        403
    );
    // Another practice's patient, an unknown one, another patient's encounter, an app without a launch URL.
    assert_eq!(
        launch(
            &mut b,
            &[("csrf", &csrf), ("patient", "c"), ("client_id", "ehr-launch-app")]
        ),
        400
    );
    assert_eq!(
        launch(
            &mut b,
            &[
                ("csrf", &csrf),
                ("patient", "../a"),
                ("client_id", "ehr-launch-app")
            ]
        ),
        400
    );
    assert_eq!(
        launch(
            &mut b,
            &[
                ("csrf", &csrf),
                ("patient", "b"),
                ("encounter", "enc-a"),
                ("client_id", "ehr-launch-app")
            ]
        ),
        400
    );
    assert_eq!(
        launch(
            &mut b,
            &[("csrf", &csrf), ("patient", "a"), ("client_id", "public-app")]
        ),
        400
    );
    assert_eq!(
        launch(
            &mut b,
            &[
                ("csrf", &csrf),
                ("patient", "a"),
                ("client_id", "ehr-launch-app"),
                ("client_id", "ehr-launch-app")
            ]
        ),
        400
    );
    // Names are escaped.
    import(
        &app,
        "northside",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry(json!({"resourceType": "Patient", "id": "x", "name": [{"family": "<script>alert(1)</script>"}]}))]}),
    );
    let html = text(&b.get("/ehr?patient=x"));
    assert!(
        !html.contains("<script>") && html.contains("&lt;script&gt;"),
        "{html}"
    );
    // Signing out ends the session.
    assert_eq!(b.post("/ehr/signout", &[("csrf", &csrf)]).status, 303);
    assert!(text(&b.get("/ehr")).contains("action=\"/ehr/signin\""));
}

/// `POST /introspect` of `tok` by the operator (a resource server's view).
fn introspect(app: &TestApp, tok: &str) -> Value {
    let r = call(
        app,
        admin("POST", "/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[("token", tok)])),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.header_value("cache-control"), Some("no-store"));
    r.json_body()
}

/// The claims of a compact JWS (its signature is `signing.rs`'s to check).
fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// SMART App Launch 2.2's introspection of an active token: the required
/// fields, and exactly what its token response said of the launch context
/// and its id_token's `iss`, `sub` and `fhirUser`.
fn assert_echoes(intro: &Value, t: &Value, now_ms: i64) {
    assert_eq!(intro["active"], true, "{intro}");
    assert_eq!(intro["scope"], t["scope"]);
    assert_eq!(intro["token_type"], "Bearer");
    assert_eq!(intro["iat"], json!(now_ms / 1000));
    assert_eq!(
        intro["exp"],
        json!(now_ms / 1000 + t["expires_in"].as_i64().unwrap())
    );
    assert_eq!(intro["aud"], format!("{BASE}/fhir"));
    for k in [
        "patient",
        "encounter",
        "fhirContext",
        "need_patient_banner",
        "smart_style_url",
    ] {
        assert_eq!(intro.get(k), t.get(k), "{k}: {intro} vs the token response {t}");
    }
    match t.get("id_token").and_then(Value::as_str) {
        Some(id_token) => {
            let claims = jwt_claims(id_token);
            for k in ["iss", "sub", "fhirUser"] {
                assert_eq!(
                    intro.get(k),
                    claims.get(k),
                    "{k}: {intro} vs the id_token {claims}"
                );
            }
        }
        None => assert!(intro.get("fhirUser").is_none(), "{intro}"),
    }
}

#[test]
fn introspection_echoes_the_launch_context_and_id_token_claims() {
    let app = world();
    register(
        &app,
        json!({"client_id": "intro-app", "client_name": "Intro", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
        "scope": "launch launch/patient openid fhirUser offline_access patient/*.rs user/*.rs"}),
    );
    // An EHR launch with every kind of context, openid and fhirUser.
    let launch = call(
        &app,
        admin("POST", "/admin/launch").body(
            json!({"username": "doc", "client_id": "intro-app", "patient": "a", "encounter": "enc-a",
            "need_patient_banner": false, "smart_style_url": true, "fhirContext": ["Encounter/enc-a"]})
            .to_string(),
        ),
    );
    assert_eq!(launch.status, 201, "{}", text(&launch));
    let launch = launch.json_body()["launch"].as_str().unwrap().to_string();
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url(
            "intro-app",
            "launch openid fhirUser offline_access user/*.rs",
            &[("launch", &launch)],
        ),
        "doc",
        None,
        None,
    );
    let code = query_param(&location(&r), "code").expect("code");
    let t = exchange(&app, "intro-app", &code);
    assert_eq!(t.status, 200, "{}", text(&t));
    let t = t.json_body();
    assert!(t["id_token"].is_string() && t["fhirContext"].is_array(), "{t}");
    let intro = introspect(&app, t["access_token"].as_str().unwrap());
    assert_echoes(&intro, &t, NOW);
    assert_eq!(intro["client_id"], "intro-app");
    assert_eq!(intro["fhirUser"], format!("{BASE}/fhir/Practitioner/doc"));
    assert_eq!(
        intro["fhirContext"],
        json!([{"reference": "Encounter/enc-a", "type": "Encounter"}])
    );
    // A refreshed token echoes its own response (a new id_token, the same context).
    app.platform.now.set(NOW + 60_000);
    let r = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", "intro-app"),
        ],
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let t2 = r.json_body();
    let intro2 = introspect(&app, t2["access_token"].as_str().unwrap());
    assert_echoes(&intro2, &t2, NOW + 60_000);
    assert_eq!(intro2["encounter"], "enc-a");

    // A standalone patient launch without openid: its context, no id_token claims.
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("intro-app", "launch/patient patient/*.rs", &[]),
        "ann",
        None,
        None,
    );
    let code = query_param(&location(&r), "code").expect("code");
    let t3 = exchange(&app, "intro-app", &code).json_body();
    let intro3 = introspect(&app, t3["access_token"].as_str().unwrap());
    assert_echoes(&intro3, &t3, NOW + 60_000);
    assert_eq!(
        (intro3["patient"].clone(), intro3["need_patient_banner"].clone()),
        (json!("a"), json!(true))
    );
    assert!(
        intro3.get("encounter").is_none() && intro3.get("fhirContext").is_none(),
        "{intro3}"
    );
    // Without an id_token, sub is still the user.
    assert!(
        intro3["sub"].is_string() && intro3["sub"] != intro["sub"],
        "ann is not doc: {intro3}"
    );

    // Anything not a live access token: exactly {"active": false}.
    let inactive = json!({"active": false});
    assert_eq!(introspect(&app, "no-such-token"), inactive, "unknown");
    assert_eq!(
        introspect(&app, t2["refresh_token"].as_str().unwrap()),
        inactive,
        "a refresh token"
    );
    let revoked = call(
        &app,
        request("POST", "/revoke")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("token", t3["access_token"].as_str().unwrap()),
                ("client_id", "intro-app"),
            ])),
    );
    assert_eq!(revoked.status, 200, "{}", text(&revoked));
    assert_eq!(
        introspect(&app, t3["access_token"].as_str().unwrap()),
        inactive,
        "revoked"
    );
    // The first token expires; the refreshed one a minute later.
    let expires = t["expires_in"].as_i64().unwrap() * 1000;
    app.platform.now.set(NOW + expires);
    assert_eq!(
        introspect(&app, t["access_token"].as_str().unwrap()),
        inactive,
        "expired"
    );
    assert_eq!(
        introspect(&app, t2["access_token"].as_str().unwrap())["active"],
        true
    );
    app.platform.now.set(NOW + 60_000 + expires);
    assert_eq!(
        introspect(&app, t2["access_token"].as_str().unwrap()),
        inactive,
        "expired"
    );
}

#[test]
fn fhir_context_items_take_smart_2_2_forms() {
    let app = world();
    let launch = |fhir_context: Value| {
        call(
            &app,
            admin("POST", "/admin/launch").body(
                json!({"username": "doc", "client_id": "public-app", "patient": "a", "fhirContext": fhir_context})
                    .to_string(),
            ),
        )
    };
    let canonical = json!({"canonical": "http://example.org/Questionnaire/phq-9|1.0", "type": "Questionnaire",
        "role": "http://example.org/roles/to-fill"});
    let identifier =
        json!({"identifier": {"system": "http://example.org/lists", "value": "w-7"}, "type": "List"});
    for (bad, why) in [
        (
            json!({"reference": "Encounter/enc-a", "canonical": "http://example.org/Q/x"}),
            "exactly one of",
        ),
        (json!({}), "exactly one of"),
        (json!({"canonical": "http://example.org/Q/x"}), "names its type"),
        (
            json!({"canonical": "not a url", "type": "Questionnaire"}),
            "absolute URL",
        ),
        (
            json!({"identifier": {"value": "v"}, "type": "List"}),
            "system and a value",
        ),
        (
            json!({"identifier": {"system": "s", "value": "v"}}),
            "names its type",
        ),
        (
            json!({"reference": "Encounter/enc-a", "type": "Observation"}),
            "differs",
        ),
        (
            json!({"reference": "http://elsewhere/fhir/Encounter/1"}),
            "relative reference",
        ),
        (
            json!({"reference": "Encounter/enc-a", "type": "NotAType"}),
            "resource type",
        ),
        (json!({"reference": "Patient/a"}), "patient parameter"),
        (
            json!({"reference": "Encounter/enc-a", "role": "not a uri"}),
            "absolute URI",
        ),
        (
            json!({"reference": "Encounter/enc-a", "extra": 1}),
            "unknown member extra",
        ),
        (json!(7), "relative reference or an object"),
    ] {
        let r = launch(json!([bad]));
        assert_eq!(r.status, 400, "{bad}: {}", text(&r));
        assert!(text(&r).contains(why), "{bad}: {}", text(&r));
    }
    assert_eq!(launch(json!("Encounter/enc-a")).status, 400, "not an array");
    let r = launch(json!(["Encounter/enc-a", canonical, identifier]));
    assert_eq!(r.status, 201, "{}", text(&r));
    let value = r.json_body()["launch"].as_str().unwrap().to_string();
    let mut b = Browser::new(&app);
    let r = consent_flow(
        &mut b,
        &authorize_url("public-app", "launch user/*.rs", &[("launch", &value)]),
        "doc",
        None,
        None,
    );
    let code = query_param(&location(&r), "code").expect("code");
    let t = exchange(&app, "public-app", &code).json_body();
    assert_eq!(
        t["fhirContext"],
        json!([{"reference": "Encounter/enc-a", "type": "Encounter"}, canonical, identifier])
    );
    assert_eq!(
        introspect(&app, t["access_token"].as_str().unwrap())["fhirContext"],
        t["fhirContext"]
    );
}

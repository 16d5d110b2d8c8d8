//! Attacks: requests an attacker (or a buggy app) would try. Every case must
//! be refused; each trial counts its cases and notes the count, and the last
//! group to finish notes the total ("smart attacks: N cases tried, all
//! refused") — printed only if every group passed.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use flare_tests::fhir::{entries, expect_outcome, pairs, search_all, Method};
use flare_tests::http::{encode_pairs, excerpt, Resp};
use flare_tests::oauth::{
    assertion_claims, ec_jwk, ec_key, now, query_param, random_string, rsa_jwk, rsa_key, rsa_public_pem,
    sign_es384, sign_hs384, sign_rs256, sign_rs384, tamper_claims, the_form, unsigned_jwt, Browser,
    ClientAuth, Form, Pkce, Step,
};
use flare_tests::{check, check_eq};

use super::backend::{backend_app, cc};
use super::launch::{registered_scope, PATIENT_SCOPE};
use super::portal;
use super::{allow, error_of, expect_401, oauth_err, scopes, token_ok, World};
use crate::context::{Ctx, NORTHSIDE};
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::attacks::patient_token_reaching_other_patient",
        data_access,
    ),
    ("smart::attacks::authorize_request_tampering", authorize_requests),
    ("smart::attacks::codes_pkce_and_refresh", codes_and_refresh),
    ("smart::attacks::client_assertions", client_assertions),
    ("smart::attacks::csrf_picker_and_portal", csrf_and_portal),
    (
        "smart::attacks::cross_practice_and_disabled_clients",
        cross_practice,
    ),
];

/// Query pairs.
type Params = Vec<(String, String)>;
/// What verifier to send for a PKCE pair.
type VerifierOf = Box<dyn Fn(&Pkce) -> Option<String>>;

static TOTAL: AtomicUsize = AtomicUsize::new(0);
static GROUPS_DONE: AtomicUsize = AtomicUsize::new(0);

/// Counts the cases of one group.
struct Tally<'a> {
    ctx: &'a Ctx,
    group: &'static str,
    n: usize,
    /// Cases that were not refused (reported all together by `done`).
    failures: Vec<String>,
}

impl<'a> Tally<'a> {
    fn new(ctx: &'a Ctx, group: &'static str) -> Tally<'a> {
        Tally {
            ctx,
            group,
            n: 0,
            failures: Vec::new(),
        }
    }
    /// One more case tried and refused (called after its assertions passed).
    fn refused(&mut self) {
        self.n += 1;
    }
    /// A case checked without stopping the trial: `refused` or a failure
    /// with `detail` (all failures fail the trial in `done`).
    fn soft(&mut self, refused: bool, detail: String) {
        flare_tests::check::count();
        if refused {
            self.n += 1;
        } else {
            self.failures.push(detail);
        }
    }
    fn done(self) {
        assert!(
            self.failures.is_empty(),
            "smart attacks, {}: {} of {} cases NOT refused:\n  {}",
            self.group,
            self.failures.len(),
            self.failures.len() + self.n,
            self.failures.join("\n  ")
        );
        self.ctx.note(format!(
            "smart attacks, {}: {} cases tried, all refused",
            self.group, self.n
        ));
        let total = TOTAL.fetch_add(self.n, Ordering::SeqCst) + self.n;
        if GROUPS_DONE.fetch_add(1, Ordering::SeqCst) + 1 == TRIALS.len() {
            self.ctx
                .note(format!("smart attacks: {total} cases tried, all refused"));
        }
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// What is wrong with a search answer that must be a 200 Bundle without any
/// entry of `forbidden` ids (`None`: nothing).
fn leaks(r: &Resp, forbidden: &[&str]) -> Option<String> {
    if r.status != 200 {
        return Some(format!("{} {}", r.status, excerpt(&r.body)));
    }
    let b: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    if b["resourceType"] != "Bundle" {
        return Some(format!("not a Bundle: {}", excerpt(&r.body)));
    }
    let leaked: Vec<String> = entries(&b)
        .iter()
        .map(|e| &e["resource"])
        .filter(|res| forbidden.contains(&res["id"].as_str().unwrap_or_default()))
        .map(|res| {
            format!(
                "{}/{}",
                res["resourceType"].as_str().unwrap_or_default(),
                res["id"].as_str().unwrap_or_default()
            )
        })
        .collect();
    (!leaked.is_empty()).then(|| format!("leaked {leaked:?}"))
}

/// A search answering 200 with no entry of `forbidden` ids (match or include).
fn no_leak(r: &Resp, forbidden: &[&str]) {
    check_eq!(r.status, 200, "{}: {}", r.request, excerpt(&r.body));
    let b = r.json();
    check_eq!(b["resourceType"], "Bundle", "{}", r.request);
    for e in entries(&b) {
        let id = e["resource"]["id"].as_str().unwrap_or_default();
        check!(
            !forbidden.contains(&id),
            "{} leaked {}/{id}",
            r.request,
            e["resource"]["resourceType"]
        );
    }
}

/// Patient A's token trying to reach patient B's data by id, search,
/// chains, `_include` and `_revinclude`.
fn data_access(ctx: &Ctx) {
    let w = World::new(ctx, "auth-atk-data");
    let mut t = Tally::new(ctx, "data access");
    let app = w.app("atkdata", "none", &registered_scope());
    let tok = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let at = s(&tok, "access_token");
    let (a, b) = (&w.a, &w.b);
    let b_ids: Vec<&str> = vec![
        &b.id,
        &b.obs_lab,
        &b.obs_vital,
        &b.condition,
        &b.encounter,
        &b.med_request,
        &b.provenance,
        &w.practitioner_b,
    ];

    // Reads by id: 404, as if it did not exist.
    for path in [
        format!("Patient/{}", b.id),
        format!("Observation/{}", b.obs_lab),
        format!("Observation/{}", b.obs_vital),
        format!("Condition/{}", b.condition),
        format!("Encounter/{}", b.encounter),
        format!("MedicationRequest/{}", b.med_request),
        format!("Provenance/{}", b.provenance),
        format!("Practitioner/{}", w.practitioner_b),
    ] {
        let r = w.fhir(&at, &format!("/fhir/{path}"));
        let refused = r.status == 404 && r.json()["resourceType"] == "OperationOutcome";
        t.soft(refused, format!("read {path}: {} {}", r.status, excerpt(&r.body)));
    }
    // Searches naming B.
    let base = w.aud();
    let searches: Vec<String> = vec![
        format!("Observation?patient={}", b.id),
        format!("Observation?patient=Patient/{}", b.id),
        format!("Observation?patient={base}/Patient/{}", b.id),
        format!("Observation?subject=Patient/{}", b.id),
        format!("Observation?subject:Patient={}", b.id),
        format!("Observation?patient={},{}", a.id, b.id),
        format!("Observation?_id={}", b.obs_lab),
        format!("Observation?_id={},{}", a.obs_lab, b.obs_lab),
        format!("Observation?patient.name={}", b.family),
        format!("Observation?subject:Patient.family={}", b.family),
        format!("Observation?performer={}", w.practitioner_b),
        format!("Patient?_id={}", b.id),
        format!("Patient?name={}", b.family),
        format!("Condition?patient={}", b.id),
        format!("Encounter?patient={}", b.id),
        format!(
            "MedicationRequest?patient={}&_include=MedicationRequest:medication",
            b.id
        ),
        format!("MedicationRequest?_include=MedicationRequest:medication"),
        format!("MedicationRequest?medication={}", w.medication),
        format!("Provenance?target=Observation/{}", b.obs_lab),
        format!("Provenance?_id={}", b.provenance),
        format!("Provenance?agent=Practitioner/{}", w.practitioner_b),
        format!("Patient?_id={}&_revinclude=Provenance:target", b.id),
        format!("Observation?_revinclude=Provenance:target"),
        format!(
            "Observation?_id={},{}&_revinclude=Provenance:target",
            a.obs_lab, b.obs_lab
        ),
        format!("Observation?patient={}&_revinclude=Provenance:target", b.id),
        format!("CareTeam?patient={}&_include=CareTeam:participant:Patient", a.id),
        format!("CareTeam?_include=CareTeam:participant:Patient&_include=CareTeam:participant:Practitioner"),
        format!(
            "CareTeam?participant=Patient/{}&_include=CareTeam:participant:Patient",
            b.id
        ),
        format!("CareTeam?patient={}", b.id),
        format!("Practitioner?_id={}", w.practitioner_b),
        format!("Practitioner?name=Drwhy"),
        format!("Observation?_has:Provenance:target:_id={}", b.provenance),
    ];
    let mut unsupported = Vec::new();
    for q in &searches {
        let r = w.fhir(&at, &format!("/fhir/{q}"));
        if r.status == 400 {
            // An unsupported parameter is refused whole: no data either way.
            expect_outcome(&r, 400);
            unsupported.push(q.clone());
            t.refused();
        } else {
            let leak = leaks(&r, &b_ids);
            t.soft(
                leak.is_none(),
                format!("search {q}: {}", leak.unwrap_or_default()),
            );
        }
    }
    // The same by POST _search.
    let r = w
        .client
        .post(
            "/fhir/Observation/_search",
            "application/x-www-form-urlencoded",
            encode_pairs(&[("patient", b.id.as_str())]),
        )
        .token(&at)
        .send();
    no_leak(&r, &b_ids);
    t.refused();
    // A's care team names B: it is in B's compartment too, so it is not
    // returned, and its include cannot reach B.
    let ct = search_all(
        &w.as_token(&at),
        None,
        "CareTeam",
        &pairs(&[("patient", &a.id), ("_include", "CareTeam:participant:Patient")]),
        Method::Get,
    );
    check!(ct.ids().is_empty(), "CareTeam naming B: {:?}", ct.ids());
    check!(
        !ct.includes.contains(&format!("Patient/{}", b.id)),
        "CareTeam include leaked Patient B: {:?}",
        ct.includes
    );
    t.refused();
    if !unsupported.is_empty() {
        ctx.note(format!(
            "smart attacks, data access: {} searches refused as unsupported (400): {}",
            unsupported.len(),
            unsupported.join(" | ")
        ));
    }
    // Compartment-style URLs and history for B.
    for path in [
        format!("/fhir/Patient/{}/Observation", b.id),
        format!("/fhir/Patient/{}/_history", b.id),
        format!("/fhir/Observation/{}/_history/1", b.obs_lab),
        format!("/fhir/Patient/{}/$everything", b.id),
    ] {
        let r = w.fhir(&at, &path);
        let refused = if r.status == 200 {
            !b_ids.iter().any(|id| r.body.contains(id))
        } else {
            r.status >= 400 && r.json()["resourceType"] == "OperationOutcome"
        };
        t.soft(refused, format!("{path}: {} {}", r.status, excerpt(&r.body)));
    }
    // The token in the query string is not a credential.
    let r = w
        .client
        .get(&format!("/fhir/Patient/{}?access_token={at}", a.id))
        .no_auth()
        .send();
    expect_401(&r);
    t.refused();
    // A well-formed but unknown token.
    expect_401(&w.fhir(&format!("{at}0"), &format!("/fhir/Patient/{}", a.id)));
    t.refused();
    t.done();
}

/// GET /authorize; asserts a 400 HTML error page and no redirect.
fn error_page(b: &mut Browser, params: &[(String, String)], what: &str) {
    let r = b.get(&format!("/authorize?{}", encode_pairs(params)));
    check_eq!(r.status, 400, "{what}: {} {}", r.status, excerpt(&r.body));
    check!(
        r.header("location").is_none(),
        "{what}: redirected to {:?}",
        r.header("location")
    );
    check!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{what}: error page content-type {:?}",
        r.header("content-type")
    );
}

fn with(params: &[(String, String)], key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = params.iter().filter(|(k, _)| k != key).cloned().collect();
    if let Some(v) = value {
        p.push((key.to_string(), v.to_string()));
    }
    p
}

/// redirect_uri variants (error page, never a redirect), unknown client,
/// aud mismatch, PKCE missing or plain, implicit flow, scope tampering.
fn authorize_requests(ctx: &Ctx) {
    let w = World::new(ctx, "auth-atk-authz");
    let mut t = Tally::new(ctx, "authorize");
    let app = w.app("atkauthz", "none", &registered_scope());
    let pkce = Pkce::new();
    let params = w.auth_params(&app, PATIENT_SCOPE, Some(&pkce));
    let mut b = w.browser();
    let ru = app.redirect_uri.clone(); // http://atkauthz.auth-atk-authz.app.example:8400/cb
    let variants = vec![
        format!("{ru}/"),
        ru.replace(":8400", ":8401"),
        ru.replace(":8400", ""),
        format!("{ru}?x=1"),
        format!("{ru}#frag"),
        ru.replace("/cb", "/CB"),
        ru.replace("atkauthz", "ATKAUTHZ"),
        ru.replace("http://", "https://"),
        ru.replace("/cb", "/cb/../cb"),
        ru.replace("/cb", "/c%62"),
        ru.replace("http://", "http://evil.example@"),
        ru.replace("app.example", "app.example.evil.example"),
        "https://evil.example/cb".to_string(),
        String::new(),
    ];
    for v in &variants {
        let p = with(&params, "redirect_uri", if v.is_empty() { None } else { Some(v) });
        error_page(&mut b, &p, &format!("redirect_uri {v:?}"));
        t.refused();
    }
    for (what, p) in [
        (
            "unknown client",
            with(&params, "client_id", Some("no-such-client")),
        ),
        ("no client", with(&params, "client_id", None)),
    ] {
        error_page(&mut b, &p, what);
        t.refused();
    }

    // Errors after the client and redirect are known: back to the app with error + state, no code.
    let cases: Vec<(&str, Params, &[&str])> = vec![
        (
            "aud of another server",
            with(&params, "aud", Some("https://evil.example/fhir")),
            &["invalid_request"],
        ),
        (
            "aud = the origin",
            with(&params, "aud", Some(&w.client.origin)),
            &["invalid_request"],
        ),
        ("aud missing", with(&params, "aud", None), &["invalid_request"]),
        (
            "no PKCE for a public client",
            with(
                &with(&params, "code_challenge", None),
                "code_challenge_method",
                None,
            ),
            &["invalid_request"],
        ),
        (
            "PKCE plain",
            with(
                &with(&params, "code_challenge", Some(&pkce.verifier)),
                "code_challenge_method",
                Some("plain"),
            ),
            &["invalid_request"],
        ),
        (
            "PKCE method missing (defaults to plain)",
            with(&params, "code_challenge_method", None),
            &["invalid_request"],
        ),
        (
            "PKCE method S512",
            with(&params, "code_challenge_method", Some("S512")),
            &["invalid_request"],
        ),
        (
            "implicit flow",
            with(&params, "response_type", Some("token")),
            &["unsupported_response_type"],
        ),
        (
            "hybrid flow",
            with(&params, "response_type", Some("code token")),
            &["unsupported_response_type"],
        ),
        (
            "scope not registered",
            with(&params, "scope", Some("launch/patient patient/Immunization.crud")),
            &["invalid_scope"],
        ),
    ];
    for (what, p, errors) in cases {
        let mut fresh = w.browser();
        let loc = w.authorize(&mut fresh, &p, &w.alice, None, &allow);
        let err = error_of(&loc, &app, &p);
        check!(
            errors.contains(&err.as_str()),
            "{what}: error {err:?}, expected {errors:?}"
        );
        t.refused();
    }

    // Markup in what the pages echo: escaped, never raw.
    let xss = "<script>alert(1)</script>";
    let p = with(
        &params,
        "redirect_uri",
        Some("https://evil.example/\"><script>alert(1)</script>"),
    );
    let r = b.get(&format!("/authorize?{}", encode_pairs(&p)));
    check!(
        !r.body.contains(xss),
        "error page reflects markup raw: {}",
        excerpt(&r.body)
    );
    t.refused();
    let xss_name = w.register_approved(json!({
        "client_name": format!("Evil {xss} app"),
        "redirect_uris": [format!("http://xss.{}.app.example:8400/cb", w.key)],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "scope": registered_scope(),
    }));
    let mut p = w.auth_params(&xss_name, "launch/patient patient/Patient.rs", Some(&pkce));
    p = with(&p, "state", Some(&format!("\"><b>{xss}")));
    let mut xb = w.browser();
    let first = xb.open(&format!("/authorize?{}", encode_pairs(&p))).page();
    let form = the_form(&first);
    let mut creds = form.hidden_pairs();
    creds.push(("username".into(), w.alice.username.clone()));
    creds.push(("password".into(), w.alice.password.clone()));
    let consent = xb.submit(&form, &creds).page();
    for page in [&first, &consent] {
        check!(
            !page.body.contains(xss),
            "a page shows markup raw: {}",
            excerpt(&page.body)
        );
    }
    let form = the_form(&consent);
    let loc = xb.submit(&form, &allow(&form)).away();
    check_eq!(
        query_param(&loc, "state"),
        Some(format!("\"><b>{xss}")),
        "state changed"
    );
    t.refused();

    // Consent tampering: posting scopes that were never offered.
    let p = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&pkce));
    let tamper = |form: &Form| {
        let mut v = allow(form);
        for extra in [
            "patient/Observation.rs",
            "user/Patient.rs",
            "system/Patient.rs",
            "patient/*.rs",
        ] {
            v.push(("scope".into(), extra.into()));
        }
        v
    };
    let loc = w.authorize(&mut b, &p, &w.alice, None, &tamper);
    match query_param(&loc, "code") {
        Some(code) => {
            let tk = token_ok(&w.exchange(&app, &code, Some(&pkce)));
            check_eq!(
                scopes(&tk["scope"]),
                vec!["launch/patient", "patient/Patient.rs"],
                "consent tampering widened the grant"
            );
            expect_403(&w.fhir(
                &s(&tk, "access_token"),
                &format!("/fhir/Observation?patient={}", w.a.id),
            ));
        }
        None => check!(query_param(&loc, "error").is_some(), "{loc}"),
    }
    t.refused();
    t.done();
}

fn expect_403(r: &Resp) {
    super::expect_403_scope(r);
}

/// PKCE at /token, code replay, refresh-token abuse, revocation by another client.
fn codes_and_refresh(ctx: &Ctx) {
    let w = World::new(ctx, "auth-atk-code");
    let mut t = Tally::new(ctx, "codes and refresh");
    let app = w.app("atkcode", "none", &registered_scope());
    let conf = w.app("atkconf", "client_secret_basic", &registered_scope());
    let scope = "launch/patient offline_access patient/Patient.rs patient/Observation.rs";
    let exchange_with = |code: &str, verifier: Option<&str>| {
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", app.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            p.push(("code_verifier", v));
        }
        w.oauth("/token", &p, &app.auth())
    };
    // Each PKCE failure on a fresh code.
    let cases: Vec<(&str, VerifierOf, &[&str])> = vec![
        (
            "wrong verifier",
            Box::new(|_| Some(Pkce::new().verifier)),
            &["invalid_grant"],
        ),
        (
            "verifier = challenge",
            Box::new(|p: &Pkce| Some(p.challenge.clone())),
            &["invalid_grant"],
        ),
        (
            "missing verifier",
            Box::new(|_| None),
            &["invalid_grant", "invalid_request"],
        ),
        (
            "blank verifier",
            Box::new(|_| Some(String::new())),
            &["invalid_grant", "invalid_request"],
        ),
        (
            "verifier with a character changed",
            Box::new(|p: &Pkce| {
                let mut v = p.verifier.clone();
                let last = if v.ends_with('A') { 'B' } else { 'A' };
                v.pop();
                v.push(last);
                Some(v)
            }),
            &["invalid_grant"],
        ),
    ];
    for (what, verifier, errors) in cases {
        let pkce = Pkce::new();
        let code = w.code(&app, scope, Some(&pkce), &w.alice, None);
        let r = exchange_with(&code, verifier(&pkce).as_deref());
        check!(
            r.status == 400 && errors.contains(&super::oauth::oauth_error(&r).as_str()),
            "{what}: {} {}",
            r.status,
            r.body
        );
        t.refused();
    }
    // A confidential client that sent a challenge must send the verifier.
    let pkce = Pkce::new();
    let code = w.code(&conf, scope, Some(&pkce), &w.alice, None);
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &conf.redirect_uri),
        ],
        &conf.auth(),
    );
    check!(
        r.status == 400,
        "confidential client skipped its PKCE verifier: {} {}",
        r.status,
        r.body
    );
    t.refused();

    // Code replay: the second use fails and revokes what the first gave.
    let pkce = Pkce::new();
    let code = w.code(&app, scope, Some(&pkce), &w.alice, None);
    let first = token_ok(&exchange_with(&code, Some(&pkce.verifier)));
    let at = s(&first, "access_token");
    w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    oauth_err(&exchange_with(&code, Some(&pkce.verifier)), 400, "invalid_grant");
    t.refused();
    expect_401(&w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id)));
    t.refused();
    oauth_err(
        &w.refresh(&app, &s(&first, "refresh_token"), None),
        400,
        "invalid_grant",
    );
    t.refused();

    // Two redemptions of one code at the same moment: at most one succeeds,
    // and (a replay) what it gave is revoked.
    let pkce = Pkce::new();
    let code = w.code(&app, scope, Some(&pkce), &w.alice, None);
    let results: Vec<Resp> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|_| sc.spawn(|| exchange_with(&code, Some(&pkce.verifier))))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("exchange thread"))
            .collect()
    });
    let wins: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    check!(
        wins.len() <= 1,
        "one code redeemed twice: {:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        oauth_err(r, 400, "invalid_grant");
    }
    if let Some(win) = wins.first() {
        expect_401(&w.fhir(
            &s(&win.json(), "access_token"),
            &format!("/fhir/Patient/{}", w.a.id),
        ));
    }
    t.refused();

    // Refresh abuse.
    let tk = w.login(&app, scope, &w.alice, None);
    let rt = s(&tk, "refresh_token");
    for wider in [
        "patient/Patient.rs patient/Observation.rs patient/Condition.rs",
        "user/Patient.rs",
        "system/Patient.rs",
        "patient/*.rs",
        "patient/Patient.cruds",
    ] {
        oauth_err(&w.refresh(&app, &rt, Some(wider)), 400, "invalid_scope");
        t.refused();
    }
    // Another client's refresh token.
    oauth_err(&w.refresh(&conf, &rt, None), 400, "invalid_grant");
    t.refused();
    // An access token is no refresh token.
    oauth_err(
        &w.refresh(&app, &s(&tk, "access_token"), None),
        400,
        "invalid_grant",
    );
    t.refused();
    // Revocation by another client does not end the token.
    let r = w.oauth("/revoke", &[("token", &s(&tk, "access_token"))], &conf.auth());
    check!(
        r.status == 200 || r.status == 400 || r.status == 401,
        "{} {}",
        r.status,
        r.body
    );
    w.fhir(&s(&tk, "access_token"), &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    let r = w.oauth("/revoke", &[("token", &rt)], &conf.auth());
    check!(
        r.status == 200 || r.status == 400 || r.status == 401,
        "{} {}",
        r.status,
        r.body
    );
    token_ok(&w.refresh(&app, &rt, None));
    t.refused();
    // A bogus code in any shape.
    for code in ["", "x", &"A".repeat(4000)] {
        let r = exchange_with(code, Some(&Pkce::new().verifier));
        check!(
            r.status == 400,
            "code {:?}: {} {}",
            &code[..code.len().min(8)],
            r.status,
            r.body
        );
        t.refused();
    }
    t.done();
}

/// Client assertions that must be refused, each against a client whose
/// genuine assertion works.
fn client_assertions(ctx: &Ctx) {
    let w = World::new(ctx, "auth-atk-jwt");
    let mut t = Tally::new(ctx, "client assertions");
    let ec = ec_key();
    let rs = backend_app(
        &w,
        "atkrs",
        json!({"keys": [rsa_jwk(rsa_key(0), "rs-1", "RS384")]}),
        "system/Patient.rs",
    );
    let es = backend_app(
        &w,
        "atkes",
        json!({"keys": [ec_jwk(&ec, "es-1")]}),
        "system/Patient.rs",
    );
    let aud = w.token_url();
    let claims = |id: &str| assertion_claims(id, &aud, 240);
    token_ok(&cc(
        &w,
        "system/Patient.rs",
        sign_rs384(rsa_key(0), "rs-1", &claims(&rs.client_id)),
    ));
    token_ok(&cc(
        &w,
        "system/Patient.rs",
        sign_es384(&ec, "es-1", &claims(&es.client_id)),
    ));

    let id = rs.client_id.clone();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(&id);
        f(&mut c);
        c
    };
    let n = now();
    let pem = rsa_public_pem(rsa_key(0));
    let jwk = rsa_jwk(rsa_key(0), "rs-1", "RS384");
    let other_ec = ec_key();
    let genuine = sign_rs384(rsa_key(0), "rs-1", &claims(&id));
    let mut tampered_claims = flare_tests::oauth::jwt_decode(&genuine)
        .map(|(_, c)| c)
        .unwrap_or_default();
    tampered_claims["sub"] = json!(es.client_id);
    tampered_claims["iss"] = json!(es.client_id);
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned_jwt("rs-1", &claims(&id))),
        (
            "HS384 keyed with the public key PEM",
            sign_hs384(pem.as_bytes(), "rs-1", &claims(&id)),
        ),
        (
            "HS384 keyed with the JWK JSON",
            sign_hs384(jwk.to_string().as_bytes(), "rs-1", &claims(&id)),
        ),
        (
            "RS256 (not allowed)",
            sign_rs256(rsa_key(0), "rs-1", &claims(&id)),
        ),
        ("unknown kid", sign_rs384(rsa_key(0), "rs-2", &claims(&id))),
        ("no kid", {
            let h = json!({"alg": "RS384", "typ": "JWT"});
            let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha384>::new(rsa_key(0).clone());
            flare_tests::oauth::jwt(&h, &claims(&id), |m| {
                use rsa::signature::{SignatureEncoding, Signer};
                signer.sign(m).to_vec()
            })
        }),
        (
            "right kid, another key",
            sign_rs384(rsa_key(1), "rs-1", &claims(&id)),
        ),
        (
            "expired",
            sign_rs384(
                rsa_key(0),
                "rs-1",
                &edit(&|c| {
                    c["exp"] = json!(n - 10);
                    c["iat"] = json!(n - 100);
                }),
            ),
        ),
        (
            "exp 10 minutes ahead",
            sign_rs384(rsa_key(0), "rs-1", &edit(&|c| c["exp"] = json!(n + 600))),
        ),
        (
            "no exp",
            sign_rs384(
                rsa_key(0),
                "rs-1",
                &edit(&|c| {
                    c.as_object_mut().map(|o| o.remove("exp"));
                }),
            ),
        ),
        (
            "nbf in the future",
            sign_rs384(rsa_key(0), "rs-1", &edit(&|c| c["nbf"] = json!(n + 120))),
        ),
        (
            "iat in the future",
            sign_rs384(rsa_key(0), "rs-1", &edit(&|c| c["iat"] = json!(n + 120))),
        ),
        (
            "aud = the FHIR base",
            sign_rs384(rsa_key(0), "rs-1", &edit(&|c| c["aud"] = json!(w.aud()))),
        ),
        (
            "aud of another server",
            sign_rs384(
                rsa_key(0),
                "rs-1",
                &edit(&|c| c["aud"] = json!("https://evil.example/token")),
            ),
        ),
        (
            "iss ≠ sub",
            sign_rs384(rsa_key(0), "rs-1", &edit(&|c| c["sub"] = json!(es.client_id))),
        ),
        (
            "no jti",
            sign_rs384(
                rsa_key(0),
                "rs-1",
                &edit(&|c| {
                    c.as_object_mut().map(|o| o.remove("jti"));
                }),
            ),
        ),
        (
            "unknown iss and sub",
            sign_rs384(rsa_key(0), "rs-1", &claims("no-such-client")),
        ),
        (
            "another client's iss/sub with my key",
            sign_rs384(rsa_key(0), "rs-1", &claims(&es.client_id)),
        ),
        (
            "ES384 by another EC key",
            sign_es384(&other_ec, "es-1", &claims(&es.client_id)),
        ),
        (
            "ES384 with the RSA client's kid",
            sign_es384(&ec, "rs-1", &claims(&id)),
        ),
        (
            "claims tampered after signing",
            tamper_claims(&genuine, &tampered_claims),
        ),
        ("signature stripped", {
            let (head, _) = genuine.rsplit_once('.').unwrap_or_default();
            format!("{head}.")
        }),
        ("not a JWT", "not.a.jwt".to_string()),
        ("empty", String::new()),
    ];
    for (what, jwt) in cases {
        let r = cc(&w, "system/Patient.rs", jwt);
        let refused = r.status == 401 && super::oauth::oauth_error(&r) == "invalid_client"
            || (r.status == 400 && super::oauth::oauth_error(&r) == "invalid_request" && what == "empty");
        t.soft(
            refused,
            format!("client assertion {what}: {} {}", r.status, excerpt(&r.body)),
        );
    }
    // jti replay: the same assertion twice.
    let once = sign_rs384(rsa_key(0), "rs-1", &claims(&id));
    token_ok(&cc(&w, "system/Patient.rs", once.clone()));
    oauth_err(&cc(&w, "system/Patient.rs", once), 401, "invalid_client");
    t.refused();
    // An access token as client credentials.
    let tk = token_ok(&cc(
        &w,
        "system/Patient.rs",
        sign_rs384(rsa_key(0), "rs-1", &claims(&id)),
    ));
    let at = s(&tk, "access_token");
    oauth_err(&cc(&w, "system/Patient.rs", at.clone()), 401, "invalid_client");
    t.refused();
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs"),
        ],
        &ClientAuth::Basic(id.clone(), at.clone()),
    );
    oauth_err(&r, 401, "invalid_client");
    t.refused();
    let r = w.oauth(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs"),
        ],
        &ClientAuth::Bearer(at.clone()),
    );
    check!(
        r.status == 401 || r.status == 400,
        "bearer as client auth: {} {}",
        r.status,
        r.body
    );
    check!(r.status != 200);
    t.refused();
    // A client assertion used as an access token.
    expect_401(&w.fhir(
        &sign_rs384(rsa_key(0), "rs-1", &claims(&id)),
        &format!("/fhir/Patient/{}", w.a.id),
    ));
    t.refused();
    t.done();
}

/// Consent CSRF (missing cookie, wrong token, another request's token),
/// sign-in CSRF, picker tampering, and the portal's CSRF and ownership.
fn csrf_and_portal(ctx: &Ctx) {
    let w = World::new(ctx, "auth-atk-csrf");
    let mut t = Tally::new(ctx, "csrf, picker, portal");
    let app = w.app("atkcsrf", "none", &registered_scope());

    // Reach the consent page; returns the browser and the form.
    let to_consent = |user: &super::User| -> (Browser, Form, Vec<(String, String)>) {
        let pkce = Pkce::new();
        let params = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&pkce));
        let mut b = w.browser();
        let mut step = b.open(&format!("/authorize?{}", encode_pairs(&params)));
        for _ in 0..3 {
            let page = step.clone().page();
            let form = the_form(&page);
            if form.action.ends_with("/authorize/consent") {
                return (b, form, params);
            }
            let mut p = form.hidden_pairs();
            p.push(("username".into(), user.username.clone()));
            p.push(("password".into(), user.password.clone()));
            step = b.submit(&form, &p);
        }
        panic!("no consent page: {:?}", b.trail);
    };
    let refused_403 = |r: &Resp, what: &str| {
        check_eq!(r.status, 403, "{what}: {} {}", r.status, excerpt(&r.body));
        check!(
            r.header("location").is_none_or(|l| !l.contains("code=")),
            "{what}: a code was issued: {:?}",
            r.header("location")
        );
    };

    let (mut b, form, _) = to_consent(&w.alice);
    let csrf_cookie = b.jar.get("flare_csrf").unwrap_or_default().to_string();
    b.jar.remove("flare_csrf");
    let r = b.post(&form.action, &allow(&form));
    refused_403(&r, "consent without the csrf cookie");
    t.refused();
    b.jar.set("flare_csrf", &csrf_cookie);
    let forged: Vec<(String, String)> = allow(&form)
        .into_iter()
        .map(|(k, v)| {
            if k == "csrf" {
                (k, random_string(16))
            } else {
                (k, v)
            }
        })
        .collect();
    refused_403(&b.post(&form.action, &forged), "consent with a wrong csrf");
    t.refused();
    let no_field: Vec<(String, String)> = allow(&form).into_iter().filter(|(k, _)| k != "csrf").collect();
    refused_403(&b.post(&form.action, &no_field), "consent without the csrf field");
    t.refused();
    // The attacker's own csrf pair (cookie and field) with the victim's request id.
    let (mut evil, evil_form, _) = to_consent(&w.bob);
    let mixed: Vec<(String, String)> = allow(&form)
        .into_iter()
        .map(|(k, v)| {
            if k == "csrf" {
                (k, evil_form.hidden("csrf").unwrap_or_default().to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    refused_403(
        &evil.post(&form.action, &mixed),
        "consent with another request's csrf",
    );
    t.refused();
    // Sign-in without the csrf cookie.
    let pkce = Pkce::new();
    let params = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&pkce));
    let mut b = w.browser();
    let page = b.open(&format!("/authorize?{}", encode_pairs(&params))).page();
    let signin = the_form(&page);
    b.jar.remove("flare_csrf");
    let mut p = signin.hidden_pairs();
    p.push(("username".into(), w.alice.username.clone()));
    p.push(("password".into(), w.alice.password.clone()));
    let r = b.post(&signin.action, &p);
    check_eq!(
        r.status,
        403,
        "sign-in without the csrf cookie: {}",
        excerpt(&r.body)
    );
    check!(b.jar.get("flare_session").is_none(), "a session without csrf");
    t.refused();

    // Picker tampering: a patient of another practice, and a made-up id.
    let lake = "auth-atk-csrf-lake";
    w.client.import_ok(
        crate::context::LAKESHORE,
        &json!({"resourceType": "Patient", "id": lake, "name": [{"family": "Lakeside"}]}),
    );
    for bad in [lake, "no-such-patient"] {
        let params = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&pkce));
        let mut b = w.browser();
        let mut step = b.open(&format!("/authorize?{}", encode_pairs(&params)));
        let mut outcome = None;
        for _ in 0..3 {
            let page = step.clone().page();
            let form = the_form(&page);
            if form.action.ends_with("/authorize/patient") {
                let mut p = form.hidden_pairs();
                p.push(("patient".into(), bad.to_string()));
                outcome = Some(b.submit(&form, &p));
                break;
            }
            let mut p = form.hidden_pairs();
            p.push(("username".into(), w.doctor.username.clone()));
            p.push(("password".into(), w.doctor.password.clone()));
            step = b.submit(&form, &p);
        }
        match outcome.unwrap_or_else(|| panic!("no picker: {:?}", b.trail)) {
            Step::Page(r) => {
                let forms = flare_tests::oauth::forms(&r.body);
                check!(
                    r.status >= 400 || !forms.iter().any(|f| f.action.ends_with("/authorize/consent")),
                    "picking {bad} reached consent: {} {}",
                    r.status,
                    excerpt(&r.body)
                );
            }
            Step::Away { location, .. } => {
                check!(
                    query_param(&location, "code").is_none(),
                    "picking {bad} gave a code: {location}"
                );
            }
        }
        t.refused();
    }

    // Portal: bob cannot revoke alice's grant; a wrong csrf is 403.
    let tk = w.login(
        &app,
        "launch/patient patient/Patient.rs offline_access",
        &w.alice,
        None,
    );
    let at = s(&tk, "access_token");
    let mut alice_portal = w.browser();
    let page = portal::sign_in(&w, &mut alice_portal, &w.alice);
    let grant = portal::revoke_forms(&page)
        .into_iter()
        .next()
        .and_then(|f| f.hidden("grant").map(str::to_string))
        .unwrap_or_else(|| panic!("no revoke form on alice's portal: {}", excerpt(&page.body)));
    let mut bob_portal = w.browser();
    let bob_page = portal::sign_in(&w, &mut bob_portal, &w.bob);
    check!(
        !bob_page.body.contains(&grant),
        "bob's portal shows alice's grant"
    );
    let bob_csrf = flare_tests::oauth::forms(&bob_page.body)
        .iter()
        .find_map(|f| f.hidden("csrf").map(str::to_string))
        .unwrap_or_default();
    let r = bob_portal.post(
        "/portal/revoke",
        &[("grant".into(), grant.clone()), ("csrf".into(), bob_csrf)],
    );
    check!(
        r.status == 303 || r.status >= 400,
        "bob's revoke of alice's grant: {}",
        r.status
    );
    w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    t.refused();
    let r = alice_portal.post(
        "/portal/revoke",
        &[
            ("grant".into(), grant.clone()),
            ("csrf".into(), random_string(16)),
        ],
    );
    check_eq!(
        r.status,
        403,
        "portal revoke with a wrong csrf: {}",
        excerpt(&r.body)
    );
    w.fhir(&at, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    t.refused();
    t.done();
}

/// A northside system token cannot read this practice; disabled clients'
/// tokens stop working; a patient token cannot cross practices either.
fn cross_practice(ctx: &Ctx) {
    let w = World::new(ctx, "auth-atk-cross");
    let mut t = Tally::new(ctx, "cross-practice and disabled");
    let north = w.register_approved(json!({
        "client_name": "northside backend (auth-atk-cross)",
        "redirect_uris": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": "system/Patient.rs system/Observation.rs",
        "jwks": {"keys": [rsa_jwk(rsa_key(1), "north-1", "RS384")]},
        "practice": NORTHSIDE,
    }));
    let aud = w.token_url();
    let tk = token_ok(&cc(
        &w,
        "system/Patient.rs system/Observation.rs",
        sign_rs384(
            rsa_key(1),
            "north-1",
            &assertion_claims(&north.client_id, &aud, 120),
        ),
    ));
    let at = s(&tk, "access_token");
    for path in [
        format!("/fhir/Patient/{}", w.a.id),
        format!("/fhir/Observation/{}", w.a.obs_lab),
    ] {
        expect_outcome(&w.fhir(&at, &path), 404);
        t.refused();
    }
    for q in [
        format!("Patient?_id={}", w.a.id),
        format!("Observation?patient={}", w.a.id),
        format!("Patient?name={}", w.a.family),
    ] {
        no_leak(
            &w.fhir(&at, &format!("/fhir/{q}")),
            &[&w.a.id, &w.a.obs_lab, &w.a.obs_vital],
        );
        t.refused();
    }
    let r = w
        .client
        .get(&format!("/fhir/Patient/{}", w.a.id))
        .token(&at)
        .practice(&w.key)
        .send();
    check!(
        r.status == 404 || r.status == 403,
        "X-Flare-Practice moved a system token: {} {}",
        r.status,
        r.body
    );
    t.refused();

    // A patient token of this practice cannot read northside data by the header either.
    let app = w.app("atkcross", "none", &registered_scope());
    let ptk = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let pat = s(&ptk, "access_token");
    w.client.import_ok(
        NORTHSIDE,
        &json!({"resourceType": "Patient", "id": "auth-atk-cross-north", "name": [{"family": "Northonly"}]}),
    );
    let r = w
        .client
        .get("/fhir/Patient/auth-atk-cross-north")
        .token(&pat)
        .practice(NORTHSIDE)
        .send();
    check!(
        r.status == 404 || r.status == 403,
        "a patient token read northside: {} {}",
        r.status,
        r.body
    );
    t.refused();

    // Disabled client: its tokens are 401, refresh is invalid_client.
    let conf = w.app("atkdis", "client_secret_basic", &registered_scope());
    let ctk = w.login(
        &conf,
        "launch/patient offline_access patient/Patient.rs",
        &w.alice,
        None,
    );
    let cat = s(&ctk, "access_token");
    w.fhir(&cat, &format!("/fhir/Patient/{}", w.a.id))
        .expect_status(200);
    w.admin_post(&format!("/admin/clients/{}/disable", conf.client_id), &json!({}))
        .expect_status(200);
    expect_401(&w.fhir(&cat, &format!("/fhir/Patient/{}", w.a.id)));
    t.refused();
    oauth_err(
        &w.refresh(&conf, &s(&ctk, "refresh_token"), None),
        401,
        "invalid_client",
    );
    t.refused();
    let i = w
        .oauth(
            "/introspect",
            &[("token", &cat)],
            &ClientAuth::Bearer(w.client.token.clone()),
        )
        .expect_status(200)
        .json();
    check_eq!(
        i,
        json!({"active": false}),
        "a disabled client's token is inactive"
    );
    t.refused();
    // Disabled backend client: assertion refused, token 401.
    w.admin_post(&format!("/admin/clients/{}/disable", north.client_id), &json!({}))
        .expect_status(200);
    expect_401(&w.fhir(&at, "/fhir/Patient"));
    t.refused();
    oauth_err(
        &cc(
            &w,
            "system/Patient.rs",
            sign_rs384(
                rsa_key(1),
                "north-1",
                &assertion_claims(&north.client_id, &aud, 120),
            ),
        ),
        401,
        "invalid_client",
    );
    t.refused();
    t.done();
}

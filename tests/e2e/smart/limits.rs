//! Limits: per-client FHIR throttling, per-IP throttling of the OAuth and
//! portal endpoints (each trial sends its own `CF-Connecting-IP`), CORS for
//! approved apps' origins, and the sign-in slow-down per name and address.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use flare_tests::fhir::expect_outcome;
use flare_tests::http::{encode_pairs, excerpt, Resp};
use flare_tests::oauth::{
    assertion_claims, post_oauth, rsa_jwk, rsa_key, sign_rs384, the_form, ClientAuth, Form,
};
use flare_tests::{check, check_eq};

use super::backend::{backend_app, cc};
use super::launch::registered_scope;
use super::{fresh_ip, token_ok, User, World, PASSWORD};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("smart::limits::client_fhir_throttle_429", client_throttle),
    ("smart::limits::ip_throttle_429", ip_throttle),
    ("smart::limits::cors_for_approved_origins", cors),
    ("smart::limits::signin_slowdown_per_name_and_address", lockout),
];

fn retry_after(r: &Resp) -> u64 {
    let v = r.header("retry-after").unwrap_or_default();
    v.trim().parse().unwrap_or_else(|_| {
        panic!(
            "{}: 429 without a numeric Retry-After ({v:?}): {}",
            r.request, r.body
        )
    })
}

/// A backend token for `name` in practice `w`.
fn system_token(w: &World, name: &str, kid: &str) -> String {
    let app = backend_app(
        w,
        name,
        json!({"keys": [rsa_jwk(rsa_key(0), kid, "RS384")]}),
        "system/Patient.rs",
    );
    let t = token_ok(&cc(
        w,
        "system/Patient.rs",
        sign_rs384(
            rsa_key(0),
            kid,
            &assertion_claims(&app.client_id, &w.token_url(), 120),
        ),
    ));
    t["access_token"].as_str().unwrap_or_default().to_string()
}

/// FHIR requests a client may make per 60 s (the contract's number).
const CLIENT_LIMIT: usize = 3000;

/// [`CLIENT_LIMIT`] FHIR requests per 60 s per client, then 429 + Retry-After
/// (OperationOutcome); another client is not affected.
fn client_throttle(ctx: &Ctx) {
    let w = World::new(ctx, "auth-throttle");
    let busy = system_token(&w, "busy", "busy-1");
    let calm = system_token(&w, "calm", "calm-1");
    let path = format!("/fhir/Patient/{}", w.a.id);
    let ok = AtomicUsize::new(0);
    let sent = AtomicUsize::new(0);
    let first_429: std::sync::Mutex<Option<Resp>> = std::sync::Mutex::new(None);
    let started = Instant::now();
    thread::scope(|sc| {
        for _ in 0..8 {
            sc.spawn(|| loop {
                if sent.fetch_add(1, Ordering::SeqCst) >= 2 * CLIENT_LIMIT + 400
                    || first_429.lock().map(|g| g.is_some()).unwrap_or(true)
                {
                    break;
                }
                let r = w.fhir(&busy, &path);
                match r.status {
                    200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    429 => {
                        if let Ok(mut g) = first_429.lock() {
                            g.get_or_insert(r);
                        }
                    }
                    other => panic!("{}: {other} {}", r.request, excerpt(&r.body)),
                }
            });
        }
    });
    let r = first_429
        .into_inner()
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no 429 after {} requests", sent.load(Ordering::SeqCst)));
    let ok = ok.load(Ordering::SeqCst);
    let elapsed = started.elapsed();
    check!(
        ok >= CLIENT_LIMIT || elapsed > Duration::from_secs(60),
        "throttled after only {ok} requests in {elapsed:?}"
    );
    expect_outcome(&r, 429);
    let ra = retry_after(&r);
    check!((1..=60).contains(&ra), "Retry-After {ra}");
    // Still throttled now; another client is not.
    let again = w.fhir(&busy, &path);
    check_eq!(again.status, 429, "{}", again.body);
    w.fhir(&calm, &path).expect_status(200);
}

/// 300 requests per 60 s per IP on the OAuth endpoints, then 429 with
/// Retry-After and `temporarily_unavailable`; the same IP is throttled on
/// /authorize and /portal too; another IP is not.
fn ip_throttle(ctx: &Ctx) {
    let w = World::new(ctx, "auth-ipthrottle");
    let ip = "203.0.113.77";
    let c = &w.client;
    let mut first = None;
    let mut allowed = 0;
    for i in 0..700 {
        let r = post_oauth(
            c,
            "/token",
            &[("grant_type", "urn:e2e:bogus")],
            &ClientAuth::Nothing,
            &[("CF-Connecting-IP", ip)],
        );
        if r.status == 429 {
            first = Some((i, r));
            break;
        }
        check_eq!(r.status, 400, "{}", r.body);
        allowed += 1;
    }
    let (i, r) = first.unwrap_or_else(|| panic!("no 429 after 700 requests to /token from {ip}"));
    check!(allowed >= 300, "throttled after only {i} requests");
    let ra = retry_after(&r);
    check!((1..=60).contains(&ra), "Retry-After {ra}");
    check_eq!(
        super::oauth::oauth_error(&r),
        "temporarily_unavailable",
        "{}",
        r.body
    );
    for path in ["/authorize?client_id=x", "/portal"] {
        let r = c.get(path).no_auth().header("CF-Connecting-IP", ip).send();
        check_eq!(r.status, 429, "{path} from a throttled IP: {}", excerpt(&r.body));
        check!(r.header("retry-after").is_some(), "{path}: no Retry-After");
    }
    let r = post_oauth(
        c,
        "/introspect",
        &[("token", "x")],
        &ClientAuth::Nothing,
        &[("CF-Connecting-IP", ip)],
    );
    check_eq!(r.status, 429, "/introspect from a throttled IP: {}", r.body);
    // Another IP is not throttled (so the header reaches the Worker).
    let r = post_oauth(
        c,
        "/token",
        &[("grant_type", "urn:e2e:bogus")],
        &ClientAuth::Nothing,
        &[("CF-Connecting-IP", &fresh_ip())],
    );
    check_eq!(r.status, 400, "another IP: {}", r.body);
    // FHIR is throttled per client, not per IP.
    let r = c
        .get("/fhir/metadata")
        .no_auth()
        .header("CF-Connecting-IP", ip)
        .send();
    check_eq!(r.status, 200, "/fhir/metadata from the throttled IP");
}

/// CORS: approved apps' origins are echoed on /fhir, /token, /introspect,
/// /revoke (with Vary: Origin); others are not; preflights are answered.
fn cors(ctx: &Ctx) {
    let w = World::new(ctx, "auth-cors");
    let origin = format!("http://cors.{}.app.example:7001", w.key);
    let app = w.register_approved(json!({
        "client_name": "corsapp",
        "redirect_uris": [format!("{origin}/app/callback")],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": registered_scope(),
    }));
    let pending_origin = format!("http://pending.{}.app.example:7002", w.key);
    w.register(&json!({
        "client_name": "pendingcors",
        "redirect_uris": [format!("{pending_origin}/cb")],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "scope": "patient/Patient.rs",
        "practice": w.key,
    }))
    .expect_status(201);
    let t = w.login(&app, "launch/patient patient/Patient.rs", &w.alice, None);
    let at = t["access_token"].as_str().unwrap_or_default().to_string();
    let path = format!("/fhir/Patient/{}", w.a.id);
    let echoed = |r: &Resp, o: &str| {
        check_eq!(
            r.header("access-control-allow-origin"),
            Some(o),
            "{}: ACAO",
            r.request
        );
        check!(
            r.headers
                .iter()
                .any(|(k, v)| k == "vary" && v.to_ascii_lowercase().contains("origin")),
            "{}: no Vary: Origin",
            r.request
        );
    };
    let r = w
        .client
        .get(&path)
        .token(&at)
        .header("Origin", &origin)
        .send()
        .expect_status(200);
    echoed(&r, &origin);
    let r = post_oauth(
        &w.client,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        &ClientAuth::Public(app.client_id.clone()),
        &[("Origin", &origin), ("CF-Connecting-IP", &w.ip)],
    );
    echoed(&r, &origin);
    for ep in ["/introspect", "/revoke"] {
        let r = post_oauth(
            &w.client,
            ep,
            &[("token", &at)],
            &ClientAuth::Bearer(w.client.token.clone()),
            &[("Origin", &origin), ("CF-Connecting-IP", &w.ip)],
        );
        echoed(&r, &origin);
    }
    // Origins that are not an approved app's: not allowed.
    for other in [
        "http://evil.example",
        pending_origin.as_str(),
        &origin.replace(":7001", ":7009"),
        "null",
    ] {
        let r = w
            .client
            .get("/fhir/metadata")
            .no_auth()
            .header("Origin", other)
            .send();
        check_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "metadata is public"
        );
        let t2 = w.login(&app, "launch/patient patient/Patient.rs", &w.alice, None);
        let r = w
            .client
            .get(&path)
            .token(t2["access_token"].as_str().unwrap_or_default())
            .header("Origin", other)
            .send();
        let acao = r.header("access-control-allow-origin");
        check!(
            acao != Some(other) && acao != Some("*"),
            "{other}: ACAO {acao:?} on /fhir"
        );
        let r = post_oauth(
            &w.client,
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            &ClientAuth::Public(app.client_id.clone()),
            &[("Origin", other), ("CF-Connecting-IP", &w.ip)],
        );
        let acao = r.header("access-control-allow-origin");
        check!(
            acao != Some(other) && acao != Some("*"),
            "{other}: ACAO {acao:?} on /token"
        );
    }
    // Preflights.
    for (p, method, headers) in [
        (path.as_str(), "GET", "authorization"),
        ("/token", "POST", "content-type"),
        ("/fhir/Observation/_search", "POST", "authorization, content-type"),
    ] {
        let r = w
            .client
            .options(p)
            .header("Origin", &origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .header("CF-Connecting-IP", &w.ip)
            .send();
        check_eq!(r.status, 204, "preflight {p}: {}", r.body);
        check_eq!(
            r.header("access-control-allow-origin"),
            Some(origin.as_str()),
            "preflight {p}"
        );
        let m = r
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        check!(m.contains(method), "preflight {p}: Allow-Methods {m:?}");
        let h = r
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for want in headers.split(", ") {
            check!(
                h.contains(want) || h.contains('*'),
                "preflight {p}: Allow-Headers {h:?} lacks {want}"
            );
        }
    }
    // Discovery answers *.
    let r = w
        .client
        .get("/.well-known/smart-configuration")
        .no_auth()
        .header("Origin", &origin)
        .send()
        .expect_status(200);
    check_eq!(r.header("access-control-allow-origin"), Some("*"));
}

/// Posts a sign-in form; returns the response.
fn sign_in_once(
    w: &World,
    b: &mut flare_tests::oauth::Browser,
    form: &Form,
    user: &str,
    password: &str,
) -> Resp {
    let _ = w;
    let mut p = form.hidden_pairs();
    p.push(("username".into(), user.to_string()));
    p.push(("password".into(), password.to_string()));
    b.post(&form.action, &p)
}

/// Five failures of one name from one address slow that name down there
/// (429 + Retry-After 1, 2, 4 … s, the password not even checked); a
/// success resets the count; the same name from another address is not
/// slowed down, so nobody can lock another person out (issue 12, finding 8).
fn lockout(ctx: &Ctx) {
    let w = World::new(ctx, "auth-lockout");
    let app = w.app("lockapp", "none", &registered_scope());
    let mk = |suffix: &str| {
        let u = User {
            username: format!("{}-{suffix}", w.key),
            password: PASSWORD.into(),
            fhir_user: format!("Patient/{}", w.a.id),
        };
        w.admin_post(
            "/admin/users",
            &json!({"username": u.username, "password": u.password, "practice": w.key, "fhirUser": u.fhir_user}),
        )
        .expect_status(201);
        u
    };
    let victim = mk("victim");
    let resetter = mk("resetter");
    let params = w.auth_params(
        &app,
        "launch/patient patient/Patient.rs",
        Some(&flare_tests::oauth::Pkce::new()),
    );
    let open = |b: &mut flare_tests::oauth::Browser| -> Form {
        let page = b.get(&format!("/authorize?{}", encode_pairs(&params)));
        check_eq!(page.status, 200, "{}", excerpt(&page.body));
        the_form(&page)
    };

    // A success resets the count: 4 wrong, 1 right, 4 wrong → still plain 401s.
    let mut b = w.browser();
    let form = open(&mut b);
    for _ in 0..4 {
        check_eq!(
            sign_in_once(&w, &mut b, &form, &resetter.username, "Wrong-1!x").status,
            401
        );
    }
    check_eq!(
        sign_in_once(&w, &mut b, &form, &resetter.username, PASSWORD).status,
        303
    );
    let mut b = w.browser();
    let form = open(&mut b);
    for _ in 0..4 {
        check_eq!(
            sign_in_once(&w, &mut b, &form, &resetter.username, "Wrong-1!x").status,
            401
        );
    }

    let mut b = w.browser();
    let mut form = open(&mut b);
    for i in 0..5 {
        let r = sign_in_once(&w, &mut b, &form, &victim.username, "Wrong-1!x");
        check_eq!(r.status, 401, "failure {}: {}", i + 1, excerpt(&r.body));
        form = the_form(&r);
    }
    let mut waits = Vec::new();
    let mut failures = 5;
    let started = Instant::now();
    while failures < 10 {
        // Slowed down: even the right password is refused unchecked.
        let r = sign_in_once(&w, &mut b, &form, &victim.username, PASSWORD);
        check_eq!(
            r.status,
            429,
            "after {failures} failures the right password: {}",
            excerpt(&r.body)
        );
        check!(
            b.jar.get("flare_session").is_none(),
            "a session while slowed down"
        );
        let ra = retry_after(&r);
        waits.push(ra);
        check!(
            ra <= 1 << (failures - 4),
            "Retry-After {ra} after {failures} failures"
        );
        if let Some(f) = flare_tests::oauth::forms(&r.body)
            .into_iter()
            .find(|f| f.method == "post")
        {
            form = f;
        }
        thread::sleep(Duration::from_millis(ra * 1000 + 300));
        let r = sign_in_once(&w, &mut b, &form, &victim.username, "Wrong-1!x");
        check_eq!(r.status, 401, "failure {}: {}", failures + 1, excerpt(&r.body));
        failures += 1;
        if let Some(f) = flare_tests::oauth::forms(&r.body)
            .into_iter()
            .find(|f| f.method == "post")
        {
            form = f;
        }
        check!(
            started.elapsed() < Duration::from_secs(200),
            "slow-down waits too long: {waits:?}"
        );
    }
    check!(
        waits.first().is_some_and(|&f| (1..=2).contains(&f)),
        "first wait {waits:?}"
    );
    check!(
        waits.windows(2).all(|p| p[1] >= p[0]),
        "waits do not grow: {waits:?}"
    );
    check!(
        waits.last().is_some_and(|&l| l >= 8),
        "waits do not double: {waits:?}"
    );
    // Still slowed down at this address …
    let r = sign_in_once(&w, &mut b, &form, &victim.username, PASSWORD);
    check_eq!(r.status, 429, "the failing address: {}", excerpt(&r.body));
    // … but the victim, from their own address, signs in.
    let mut fresh = flare_tests::oauth::Browser::new(&w.client).with_header("CF-Connecting-IP", &fresh_ip());
    let form = open(&mut fresh);
    let r = sign_in_once(&w, &mut fresh, &form, &victim.username, PASSWORD);
    check_eq!(
        r.status,
        303,
        "the victim from another address: {}",
        excerpt(&r.body)
    );
    // Other users are not affected.
    let mut other = w.browser();
    let form = open(&mut other);
    check_eq!(
        sign_in_once(&w, &mut other, &form, &w.alice.username, PASSWORD).status,
        303
    );
}

//! Authentication hygiene (issue 12, findings 5, 6, 8, 9 and 11): PIN
//! guesses counted per practice as well as per developer; `jwks_uri` never
//! makes the Worker fetch loopback or private addresses, and its failures say
//! nothing about what answered; sign-in failures look the same for real and
//! unknown names and are throttled per name and address, so a stranger
//! cannot lock someone else out; request bodies are capped per route and
//! search parameters bounded; with the operator's development flag
//! (`JWKS_ALLOW_LOOPBACK`, an exclusive trial that restarts the edge) a key
//! set on loopback is fetched, but no redirect is followed, no more than
//! 64 KiB read and no more than 5 s waited; a 500 (today: D1 refusing a
//! 5 MB resource's import) names an incident id, not the database's error
//! (finding 11, also natively in `edge/tests/hygiene.rs`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use flare_tests::fhir::expect_outcome;
use flare_tests::http::{encode_pairs, excerpt, Resp};
use flare_tests::oauth::{
    assertion_claims, forms, random_string, rsa_jwk, rsa_key, sign_rs384, the_form, Browser, Form, Pkce,
};
use flare_tests::{check, check_eq};

use super::backend::cc;
use super::launch::registered_scope;
use super::{fresh_ip, oauth_err, token_ok, World, PASSWORD};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("smart::hygiene::bodies_capped_and_parameters_bounded", bodies),
    (
        "smart::hygiene::internal_errors_name_an_incident_only",
        internal_errors,
    ),
    ("smart::hygiene::jwks_uri_never_fetched_inside", jwks_uri),
    (
        "smart::hygiene::signin_failures_uniform_and_per_address",
        signin_uniform,
    ),
    (
        "smart::hygiene::pin_guesses_counted_per_practice",
        pin_per_practice,
    ),
];

/// The trial that restarts the edge with `JWKS_ALLOW_LOOPBACK` (run alone,
/// after every other trial).
pub const EXCLUSIVE: &[(&str, TrialFn)] = &[(
    "smart::hygiene::jwks_fetch_limits_with_the_loopback_flag",
    jwks_fetch_limits,
)];

/// A new developer account (signed up from `ip`); returns its e-mail and API token.
fn developer(w: &World, tag: &str, ip: &str) -> (String, String) {
    let email = format!("{tag}-{}@dev.example", random_string(8).to_ascii_lowercase());
    w.client
        .post(
            "/developer/api/signup",
            "application/json",
            json!({"email": email, "name": format!("Dev {tag}"), "password": PASSWORD}).to_string(),
        )
        .no_auth()
        .header("CF-Connecting-IP", ip)
        .send()
        .expect_status(201);
    let t = dev_token(w, &email, PASSWORD, ip).expect_status(200).json();
    let token = t["access_token"].as_str().unwrap_or_default().to_string();
    check!(!token.is_empty(), "no developer token: {t}");
    (email, token)
}

/// `POST /developer/api/token` (the developer API's sign-in).
fn dev_token(w: &World, email: &str, password: &str, ip: &str) -> Resp {
    w.client
        .post(
            "/developer/api/token",
            "application/json",
            json!({"email": email, "password": password}).to_string(),
        )
        .no_auth()
        .header("CF-Connecting-IP", ip)
        .send()
}

/// Sets practice `key`'s registration PIN.
fn set_pin(w: &World, key: &str, pin: &str) {
    w.client
        .put_json(&format!("/admin/practices/{key}/pin"), &json!({"pin": pin}))
        .send()
        .expect_status(200);
}

/// A developer's RFC 7591 registration (`POST /register` with the developer token).
fn dev_register(w: &World, token: &str, ip: &str, meta: &Value) -> Resp {
    w.client
        .post("/register", "application/json", meta.to_string())
        .token(token)
        .header("CF-Connecting-IP", ip)
        .send()
}

/// A public app's metadata for practice `key` with `pin`.
fn public_app(name: &str, key: &str, pin: &str) -> Value {
    json!({
        "client_name": name,
        "redirect_uris": [format!("https://{name}.app.example/cb")],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "scope": "launch/patient patient/Patient.rs",
        "practice": key,
        "practice_pin": pin,
    })
}

fn retry_after(r: &Resp) -> Option<u64> {
    r.header("retry-after").and_then(|v| v.trim().parse().ok())
}

/// Finding 9: bodies of any size were read and parsed whole; `_elements`
/// and repeated parameters were unbounded.
fn bodies(ctx: &Ctx) {
    let c = &ctx.client;
    let ip = fresh_ip();
    // 3 MB of JSON to the unauthenticated developer API.
    let big = "x".repeat(3 << 20);
    let signup = c
        .post(
            "/developer/api/signup",
            "application/json",
            json!({"email": "big@dev.example", "name": big, "password": PASSWORD}).to_string(),
        )
        .no_auth()
        .header("CF-Connecting-IP", &ip)
        .send();
    // A 1 MB form to /token.
    let form = format!("grant_type=client_credentials&filler={}", "a".repeat(1 << 20));
    let token = c
        .post("/token", "application/x-www-form-urlencoded", form)
        .no_auth()
        .header("CF-Connecting-IP", &ip)
        .send();
    // A 64 KiB FHIR POST _search: an OperationOutcome.
    let search = c
        .post(
            "/fhir/Patient/_search",
            "application/x-www-form-urlencoded",
            format!("name={}", "a".repeat(64 << 10)),
        )
        .send();
    // A 64 KiB browser form: a page.
    let page = c
        .post(
            "/portal/signin",
            "application/x-www-form-urlencoded",
            format!("username=x&password={}", "a".repeat(64 << 10)),
        )
        .no_auth()
        .header("CF-Connecting-IP", &ip)
        .send();
    // Repeated parameters: at most 100 query pairs; `_elements`: at most 50 names.
    let pairs: Vec<(String, String)> = (0..101)
        .map(|_| ("_pretty".to_string(), "false".to_string()))
        .collect();
    let names: Vec<String> = (0..51).map(|i| format!("e{i}")).collect();
    let get = |query: String| c.get(&format!("/fhir/Patient?{query}")).send();
    let pairs_101 = get(encode_pairs(&pairs));
    let pairs_100 = get(encode_pairs(&pairs[..100]));
    let elements_51 = get(format!("_elements={}", names.join(",")));
    let elements_50 = get(format!("_elements={}", names[..50].join(",")));
    // Every answer first (so a failure lists them all), then each in detail.
    let answers = [
        ("3 MB developer sign-up", &signup, 413),
        ("1 MB /token form", &token, 413),
        ("64 KiB POST _search", &search, 413),
        ("64 KiB page form", &page, 413),
        ("101 query pairs", &pairs_101, 400),
        ("100 query pairs", &pairs_100, 200),
        ("51 _elements", &elements_51, 400),
        ("50 _elements", &elements_50, 200),
    ];
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(_, r, want)| r.status != *want)
        .map(|(what, r, want)| format!("{what}: {} (want {want})", r.status))
        .collect();
    check!(wrong.is_empty(), "{wrong:#?}");
    oauth_err(&signup, 413, "invalid_request");
    oauth_err(&token, 413, "invalid_request");
    expect_outcome(&search, 413);
    check!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{}: content-type {:?}",
        page.request,
        page.header("content-type")
    );
    let oo = expect_outcome(&pairs_101, 400);
    check!(oo.to_string().contains("100"), "the limit is not named: {oo}");
    let oo = expect_outcome(&elements_51, 400);
    check!(oo.to_string().contains("50"), "the limit is not named: {oo}");
    // The operator's import keeps its own, larger cap: a 600 KB resource
    // (read in chunks by the Worker) imports and reads back.
    let id = format!(
        "hyg-big-{}",
        random_string(6).to_ascii_lowercase().replace('_', "x")
    );
    let div = format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>",
        "b".repeat(600_000)
    );
    let patient = json!({"resourceType": "Patient", "id": id,
        "name": [{"family": "Bigbody", "given": ["Ann"]}],
        "text": {"status": "generated", "div": div}});
    c.import_ok(crate::context::LAKESHORE, &patient);
    let back = c
        .get(&format!("/fhir/Patient/{id}"))
        .practice(crate::context::LAKESHORE)
        .send()
        .expect_status(200)
        .json();
    check_eq!(
        back["text"]["div"].as_str(),
        Some(div.as_str()),
        "the 600 KB Patient read back"
    );
}

/// Finding 11: a 500 carried the database's error text. Under `wrangler dev`
/// the import of a 5 MB resource fails in D1 today (`SQLITE_TOOBIG`: one
/// bound string over D1's limit), which answers 500: it must name an
/// incident id and nothing of the database. (Should that import succeed one
/// day, this trial only checks the 200.)
fn internal_errors(ctx: &Ctx) {
    let c = &ctx.client;
    let id = format!(
        "hyg-huge-{}",
        random_string(6).to_ascii_lowercase().replace('_', "x")
    );
    let div = format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>",
        "b".repeat(5_000_000)
    );
    let patient = json!({"resourceType": "Patient", "id": id,
        "name": [{"family": "Hugebody", "given": ["Ann"]}],
        "text": {"status": "generated", "div": div}});
    let r = c.import(crate::context::LAKESHORE, &patient);
    check!(
        r.status == 200 || r.status == 500,
        "{} → {}: {}",
        r.request,
        r.status,
        excerpt(&r.body)
    );
    if r.status == 500 {
        let oo = expect_outcome(&r, 500);
        let diagnostics = oo["issue"][0]["diagnostics"].as_str().unwrap_or_default();
        let leaks: Vec<&str> = [
            "D1",
            "SQLITE",
            "sqlite",
            "database",
            "INSERT",
            "json_each",
            "Error",
        ]
        .into_iter()
        .filter(|l| r.body.contains(l))
        .collect();
        check!(
            diagnostics.starts_with("internal error (id ") && leaks.is_empty(),
            "the 500 tells {leaks:?}: {}",
            excerpt(&r.body)
        );
    }
}

/// Finding 6: registration made the Worker fetch any `jwks_uri` (loopback
/// included, redirects followed) and told the caller the status it got.
fn jwks_uri(ctx: &Ctx) {
    let w = World::new(ctx, "hyg-jwks");
    let pin = "jwks-pin-4711";
    set_pin(&w, &w.key, pin);
    // A listener on loopback that counts every connection and answers 404.
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let hits = Arc::new(AtomicUsize::new(0));
    {
        let hits = hits.clone();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                hits.fetch_add(1, Ordering::SeqCst);
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ =
                    s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
    }
    let edge_port = w.client.origin.rsplit(':').next().unwrap_or_default().to_string();
    let ip = fresh_ip();
    let (_, token) = developer(&w, "jwks", &ip);
    let uris = [
        format!("http://127.0.0.1:{port}/jwks"),
        format!("http://127.0.0.1:{edge_port}/fhir/metadata"),
        format!("http://localhost:{port}/keys"),
        format!("https://127.0.0.1:{port}/jwks"),
        format!("http://[::1]:{port}/jwks"),
        format!("http://2130706433:{port}/jwks"),
    ];
    let mut descriptions = Vec::new();
    for (i, uri) in uris.iter().enumerate() {
        let meta = json!({
            "client_name": format!("hyg jwks {i}"),
            "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": "system/Patient.rs",
            "jwks_uri": uri,
            "practice": w.key,
            "practice_pin": pin,
        });
        let r = dev_register(&w, &token, &ip, &meta);
        oauth_err(&r, 400, "invalid_client_metadata");
        let d = r.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for leak in ["404", "200", "HTTP", &port.to_string(), &edge_port] {
            check!(!d.contains(leak), "{uri}: the error tells {leak:?}: {d}");
        }
        descriptions.push(d);
    }
    check!(
        descriptions.windows(2).all(|p| p[0] == p[1]),
        "the refusals differ: {descriptions:?}"
    );
    // The operator's registration holds to the same rule.
    let r = w.register(&json!({
        "client_name": "hyg jwks operator",
        "redirect_uris": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": "system/Patient.rs",
        "jwks_uri": format!("http://127.0.0.1:{port}/jwks"),
        "practice": w.key,
    }));
    oauth_err(&r, 400, "invalid_client_metadata");
    std::thread::sleep(Duration::from_millis(300));
    check_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the Worker connected to a loopback listener"
    );
}

/// Posts one sign-in on `form`.
fn post_signin(b: &mut Browser, form: &Form, user: &str, password: &str) -> Resp {
    let mut p = form.hidden_pairs();
    p.push(("username".into(), user.to_string()));
    p.push(("password".into(), password.to_string()));
    b.post(&form.action, &p)
}

/// Finding 8: a real name answered 401, 401, 401, 429 … and an unknown one
/// 401 forever; anyone who knew a name could lock it.
fn signin_uniform(ctx: &Ctx) {
    let w = World::new(ctx, "hyg-signin");
    let app = w.app("hygsign", "none", &registered_scope());
    let params = w.auth_params(&app, "launch/patient patient/Patient.rs", Some(&Pkce::new()));
    let open = |b: &mut Browser| -> Form {
        let page = b.get(&format!("/authorize?{}", encode_pairs(&params)));
        check_eq!(page.status, 200, "{}", excerpt(&page.body));
        the_form(&page)
    };
    // Seven wrong passwords from one address: (status, Retry-After given).
    let failures = |name: &str, ip: &str| -> Vec<(u16, bool)> {
        let mut b = Browser::new(&w.client).with_header("CF-Connecting-IP", ip);
        let mut form = open(&mut b);
        let mut seen = Vec::new();
        for _ in 0..7 {
            let r = post_signin(&mut b, &form, name, "Wrong-pass-1!");
            check!(
                b.jar.get("flare_session").is_none(),
                "a session after a wrong password"
            );
            seen.push((r.status, r.header("retry-after").is_some()));
            if let Some(f) = forms(&r.body).into_iter().find(|f| f.method == "post") {
                form = f;
            }
        }
        seen
    };
    let stranger = fresh_ip();
    let real = failures(&w.alice.username, &stranger);
    // Right after a stranger's failures, the real user signs in from their
    // own address.
    let mut own = Browser::new(&w.client).with_header("CF-Connecting-IP", &fresh_ip());
    let form = open(&mut own);
    let own_signin = post_signin(&mut own, &form, &w.alice.username, PASSWORD);
    let unknown = failures(&format!("{}-nobody", w.key), &fresh_ip());
    // The same rule for both: five plain failures, then a slow-down. (The
    // first wait is 1 s, so on a loaded machine the seventh attempt may come
    // after it and count as a failure again: the sequences may differ there.)
    let slowed = |seen: &[(u16, bool)]| {
        seen[..5].iter().all(|s| *s == (401, false)) && seen[5..].contains(&(429, true))
    };
    check!(
        slowed(&real) && slowed(&unknown),
        "a real name and an unknown one are told apart (want five 401s, then 429 with Retry-After): \
         real {real:?}, unknown {unknown:?}; the real user then signed in from another address with {}",
        own_signin.status
    );
    check_eq!(
        own_signin.status,
        303,
        "the real user, from their own address, after a stranger's failures: {}",
        excerpt(&own_signin.body)
    );
    // The slow-down grows: each failure after a wait doubles the next wait;
    // even the right password is refused unchecked meanwhile.
    let mut b = Browser::new(&w.client).with_header("CF-Connecting-IP", &fresh_ip());
    let mut form = open(&mut b);
    let mut waits: Vec<u64> = Vec::new();
    for _ in 0..20 {
        let r = post_signin(&mut b, &form, &w.alice.username, "Wrong-pass-1!");
        if let Some(f) = forms(&r.body).into_iter().find(|f| f.method == "post") {
            form = f;
        }
        if r.status != 429 {
            check_eq!(r.status, 401, "{}", excerpt(&r.body));
            continue;
        }
        let wait = retry_after(&r).unwrap_or(0);
        waits.push(wait);
        if wait >= 4 && waits[0] < wait {
            let right = post_signin(&mut b, &form, &w.alice.username, PASSWORD);
            check_eq!(right.status, 429, "the right password while slowed down");
            check!(
                b.jar.get("flare_session").is_none(),
                "a session while slowed down"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(wait * 1000 + 300));
    }
    check!(
        waits.windows(2).all(|p| p[1] >= p[0]) && waits.first() < waits.last(),
        "the waits do not grow: {waits:?}"
    );
    // The developer API's sign-in: the same rule for a real and an unknown e-mail.
    let (email, _) = developer(&w, "signin", &fresh_ip());
    let api = |email: &str, ip: &str| -> Vec<(u16, bool)> {
        (0..7)
            .map(|_| {
                let r = dev_token(&w, email, "Wrong-pass-1!", ip);
                (r.status, r.header("retry-after").is_some())
            })
            .collect()
    };
    let real = api(&email, &fresh_ip());
    let unknown = api("nobody-hyg@dev.example", &fresh_ip());
    check!(
        slowed(&real) && slowed(&unknown),
        "developer sign-in tells names apart: real {real:?}, unknown {unknown:?}"
    );
    let r = dev_token(&w, &email, PASSWORD, &fresh_ip());
    check_eq!(
        r.status,
        200,
        "the developer, from their own address: {}",
        excerpt(&r.body)
    );
}

/// Finding 5: the PIN lockout counted per developer account only, and
/// sign-up is free, so every new account guessed on.
fn pin_per_practice(ctx: &Ctx) {
    let w = World::new(ctx, "hyg-pin");
    let pin = "right-pin-4711";
    set_pin(&w, &w.key, pin);
    let mut statuses = Vec::new();
    let mut throttled = None;
    for i in 0..14 {
        let ip = fresh_ip();
        let (_, token) = developer(&w, &format!("pin{i}"), &ip);
        let r = dev_register(
            &w,
            &token,
            &ip,
            &public_app(&format!("hygpin{i}"), &w.key, &format!("wrong-pin-{i:02}")),
        );
        statuses.push(r.status);
        if r.status == 429 {
            throttled = Some(r);
            break;
        }
        oauth_err(&r, 400, "invalid_client_metadata");
    }
    let r = throttled.unwrap_or_else(|| {
        panic!(
            "one wrong PIN from each of {} new accounts, never throttled: {statuses:?}",
            statuses.len()
        )
    });
    check!(
        statuses.len() <= 11,
        "throttled only after {} guesses: {statuses:?}",
        statuses.len() - 1
    );
    check!(
        retry_after(&r).is_some_and(|s| s > 60),
        "Retry-After {:?}",
        r.header("retry-after")
    );
    // While the practice is throttled, even the right PIN from a fresh account waits.
    let ip = fresh_ip();
    let (_, token) = developer(&w, "pin-right", &ip);
    let r = dev_register(&w, &token, &ip, &public_app("hygpinright", &w.key, pin));
    check_eq!(
        r.status,
        429,
        "the right PIN while throttled: {}",
        excerpt(&r.body)
    );
    // Another practice is not affected.
    let other = format!("{}-other", w.key);
    w.client
        .put_json(
            &format!("/admin/practices/{other}"),
            &flare_tests::practice::practice("Other"),
        )
        .send()
        .expect_status(200);
    set_pin(&w, &other, pin);
    let r = dev_register(&w, &token, &ip, &public_app("hygpinother", &other, pin));
    check_eq!(r.status, 201, "another practice: {}", excerpt(&r.body));
}

/// What a key server on loopback answered, by path.
type Hits = Arc<Mutex<BTreeMap<String, usize>>>;

/// A key server on 127.0.0.1: `/good` and `/target` serve `keys`,
/// `/redirect` is a 302 to `/target`, `/big` is a key set padded to 100 KB,
/// `/slow` answers after 12 s, anything else 404. Returns its port and hits.
fn key_server(keys: Value) -> (u16, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let hits: Hits = Arc::default();
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (keys, hits) = (keys.clone(), counted.clone());
            std::thread::spawn(move || serve_keys(stream, port, &keys, &hits));
        }
    });
    (port, hits)
}

fn serve_keys(mut s: std::net::TcpStream, port: u16, keys: &Value, hits: &Hits) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    if let Ok(mut h) = hits.lock() {
        *h.entry(path.clone()).or_default() += 1;
    }
    let (status, extra, body) = match path.as_str() {
        "/good" | "/target" => ("200 OK", String::new(), keys.to_string()),
        "/redirect" => (
            "302 Found",
            format!("Location: http://127.0.0.1:{port}/target\r\n"),
            String::new(),
        ),
        "/big" => {
            let mut big = keys.clone();
            big["padding"] = json!("p".repeat(100_000));
            ("200 OK", String::new(), big.to_string())
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(12));
            ("200 OK", String::new(), keys.to_string())
        }
        _ => ("404 Not Found", String::new(), "{}".to_string()),
    };
    let _ = s.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// Restarts the edge in its plain configuration when dropped (also when the
/// trial fails).
pub(super) struct PlainEdgeAfter<'a>(pub(super) &'a Ctx);

impl Drop for PlainEdgeAfter<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.restart_edge_with(&[]) {
            eprintln!("restarting the edge without JWKS_ALLOW_LOOPBACK failed: {e}");
        }
    }
}

/// Finding 6, the fetch itself: with the operator's development flag a key
/// set on loopback is fetched (at registration and at `/token`), but a
/// redirect is not followed, more than 64 KiB is not read, a server slower
/// than 5 s is given up on, and every failure reads the same.
fn jwks_fetch_limits(ctx: &Ctx) {
    ctx.restart_edge_with(&[("JWKS_ALLOW_LOOPBACK", "true")])
        .unwrap_or_else(|e| panic!("restarting the edge with JWKS_ALLOW_LOOPBACK: {e}"));
    let _plain = PlainEdgeAfter(ctx);
    let w = World::new(ctx, "hyg-fetch");
    let pin = "fetch-pin-4711";
    set_pin(&w, &w.key, pin);
    let kid = "hyg-fetch-1";
    let (port, hits) = key_server(json!({"keys": [rsa_jwk(rsa_key(0), kid, "RS384")]}));
    let ip = fresh_ip();
    let (_, token) = developer(&w, "fetch", &ip);
    let register = |path: &str| {
        let meta = json!({
            "client_name": format!("hyg fetch {path}"),
            "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": "system/Patient.rs",
            "jwks_uri": format!("http://127.0.0.1:{port}{path}"),
            "practice": w.key,
            "practice_pin": pin,
        });
        let started = Instant::now();
        (dev_register(&w, &token, &ip, &meta), started.elapsed())
    };
    // Fetched, checked and kept; fetched again at /token.
    let (r, _) = register("/good");
    check_eq!(
        r.status,
        201,
        "a key set on loopback with the flag: {}",
        excerpt(&r.body)
    );
    let client_id = r.json()["client_id"].as_str().unwrap_or_default().to_string();
    w.admin_post(&format!("/admin/clients/{client_id}/approve"), &json!({}))
        .expect_status(200);
    let assertion = sign_rs384(
        rsa_key(0),
        kid,
        &assertion_claims(&client_id, &w.token_url(), 120),
    );
    token_ok(&cc(&w, "system/Patient.rs", assertion));
    let good = hits
        .lock()
        .map(|h| h.get("/good").copied().unwrap_or(0))
        .unwrap_or(0);
    check!(
        good >= 2,
        "the key set was fetched {good} times (registration, /token)"
    );
    // A redirect is not followed, 100 KB is not read, 12 s is not waited for (the limit is 5 s).
    let answers: Vec<(&str, Resp, Duration)> = ["/redirect", "/big", "/slow", "/missing"]
        .into_iter()
        .map(|path| {
            let (r, took) = register(path);
            (path, r, took)
        })
        .collect();
    let target = hits
        .lock()
        .map(|h| h.get("/target").copied().unwrap_or(0))
        .unwrap_or(0);
    // Every answer first (so a failure lists them all), then each in detail.
    let seen: Vec<String> = answers
        .iter()
        .map(|(path, r, took)| format!("{path}: {} after {took:?}", r.status))
        .collect();
    check!(
        answers
            .iter()
            .all(|(_, r, took)| r.status == 400 && *took < Duration::from_millis(9000))
            && target == 0,
        "want 400 within 9 s each and the redirect not followed: {seen:#?}, /target fetched {target} times"
    );
    let mut descriptions = Vec::new();
    for (_, r, _) in &answers {
        oauth_err(r, 400, "invalid_client_metadata");
        descriptions.push(
            r.json()["error_description"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    check!(
        descriptions.windows(2).all(|p| p[0] == p[1]),
        "the refusals differ: {descriptions:?}"
    );
}

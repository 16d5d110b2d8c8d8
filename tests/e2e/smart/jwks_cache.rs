//! A client's `jwks_uri` cached as its `Cache-Control` allows (the kit's
//! "JWKS caching that obeys Cache-Control"), against `wrangler dev` and its
//! local KV: a key server on loopback (the edge restarted with
//! `JWKS_ALLOW_LOOPBACK`, so an exclusive trial) answers three backend
//! services with `max-age=600`, `max-age=5` and `no-store`, counting the
//! fetches the Worker makes. Within max-age: one fetch for many assertions;
//! a rotation at the client picked up by one refetch for the new `kid`,
//! once 10 s have passed since the last fetch; a flood of unknown `kid`s and
//! a withdrawn key cost no fetch; a short max-age runs out; `no-store` is
//! fetched each time, at most once per 10 s.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use flare_tests::http::Resp;
use flare_tests::oauth::{assertion_claims, rsa_jwk, rsa_key, sign_rs384};
use flare_tests::{check, check_eq};

use super::backend::cc;
use super::hygiene::PlainEdgeAfter;
use super::{oauth_err, token_ok, World};
use crate::context::Ctx;
use crate::TrialFn;

/// The trial that restarts the edge with `JWKS_ALLOW_LOOPBACK` (run alone).
pub const EXCLUSIVE: &[(&str, TrialFn)] = &[(
    "smart::jwks_cache::cache_control_obeyed_and_fetches_rate_limited",
    jwks_cache,
)];

/// The key set served, and the fetches by path.
#[derive(Default)]
struct KeyServer {
    keys: Value,
    hits: BTreeMap<String, usize>,
}

type Shared = Arc<Mutex<KeyServer>>;

/// A key server on 127.0.0.1 serving the shared key set at `/cached`
/// (`max-age=600`), `/short` (`max-age=5`) and `/nostore` (`no-store`).
fn key_server(keys: Value) -> (u16, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let shared: Shared = Arc::new(Mutex::new(KeyServer {
        keys,
        hits: BTreeMap::new(),
    }));
    let state = shared.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = state.clone();
            std::thread::spawn(move || serve(stream, &state));
        }
    });
    (port, shared)
}

fn serve(mut s: std::net::TcpStream, state: &Shared) {
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
    let keys = match state.lock() {
        Ok(mut st) => {
            *st.hits.entry(path.clone()).or_default() += 1;
            st.keys.to_string()
        }
        Err(_) => return,
    };
    let cache_control = match path.as_str() {
        "/cached" => "public, max-age=600",
        "/short" => "max-age=5",
        "/nostore" => "no-store",
        _ => "",
    };
    let (status, body) = if cache_control.is_empty() {
        ("404 Not Found", "{}".to_string())
    } else {
        ("200 OK", keys)
    };
    let _ = s.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: {cache_control}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

fn hits(state: &Shared, path: &str) -> usize {
    state
        .lock()
        .map(|s| s.hits.get(path).copied().unwrap_or(0))
        .unwrap_or(0)
}

fn jwks_cache(ctx: &Ctx) {
    ctx.restart_edge_with(&[("JWKS_ALLOW_LOOPBACK", "true")])
        .unwrap_or_else(|e| panic!("restarting the edge with JWKS_ALLOW_LOOPBACK: {e}"));
    let _plain = PlainEdgeAfter(ctx);
    let w = World::new(ctx, "jwks-cache");
    let (port, state) = key_server(json!({"keys": [rsa_jwk(rsa_key(0), "k1", "RS384")]}));
    let scope = "system/Patient.rs";
    let register = |path: &str| {
        w.register_approved(json!({
            "client_name": format!("jwks cache {path} ({})", w.key),
            "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": scope,
            "jwks_uri": format!("http://127.0.0.1:{port}{path}"),
        }))
        .client_id
    };
    let (cached, short, nostore) = (register("/cached"), register("/short"), register("/nostore"));
    let ask = |client: &str, key: usize, kid: &str| -> Resp {
        cc(
            &w,
            scope,
            sign_rs384(rsa_key(key), kid, &assertion_claims(client, &w.token_url(), 120)),
        )
    };
    // Registration by the operator checks the URL only: nothing fetched yet.
    check_eq!(hits(&state, "/cached"), 0, "fetched at registration");

    let started = Instant::now();
    for i in 0..4 {
        let r = ask(&cached, 0, "k1");
        check_eq!(r.status, 200, "max-age=600, request {i}: {}", r.body);
    }
    check_eq!(hits(&state, "/cached"), 1, "4 assertions within max-age=600");
    token_ok(&ask(&short, 0, "k1"));
    token_ok(&ask(&nostore, 0, "k1"));
    check_eq!(hits(&state, "/nostore"), 1);
    // no-store: not kept, and not fetched again within 10 s.
    let r = ask(&nostore, 0, "k1");
    oauth_err(&r, 401, "invalid_client");
    check_eq!(hits(&state, "/nostore"), 1, "no-store refetched within 10 s");
    // The client rotates its key (k1 → k2). Within 10 s of the last fetch the new kid waits.
    if let Ok(mut s) = state.lock() {
        s.keys = json!({"keys": [rsa_jwk(rsa_key(1), "k2", "RS384")]});
    }
    oauth_err(&ask(&cached, 1, "k2"), 401, "invalid_client");
    check_eq!(hits(&state, "/cached"), 1, "refetched within 10 s");
    check!(
        started.elapsed() < Duration::from_secs(9),
        "the first phase took {:?}: the 10 s checks above may not hold",
        started.elapsed()
    );

    std::thread::sleep(Duration::from_millis(11_000).saturating_sub(started.elapsed()));
    // The new kid: one refetch, and the rotation is picked up.
    token_ok(&ask(&cached, 1, "k2"));
    check_eq!(hits(&state, "/cached"), 2, "one refetch for the new kid");
    // A flood of unknown kids and the withdrawn k1: refused, without a fetch.
    for i in 0..8 {
        oauth_err(&ask(&cached, 1, &format!("unknown-{i}")), 401, "invalid_client");
    }
    oauth_err(&ask(&cached, 0, "k1"), 401, "invalid_client");
    check_eq!(
        hits(&state, "/cached"),
        2,
        "unknown kids within 10 s of the last fetch"
    );
    token_ok(&ask(&cached, 1, "k2"));
    check_eq!(hits(&state, "/cached"), 2, "the rotated set is cached");
    // max-age=5 has run out: fetched again (now k2 only).
    token_ok(&ask(&short, 1, "k2"));
    check_eq!(hits(&state, "/short"), 2, "after max-age=5");
    // no-store: fetched again, 10 s after the last fetch.
    token_ok(&ask(&nostore, 1, "k2"));
    check_eq!(hits(&state, "/nostore"), 2, "no-store after 10 s");
}

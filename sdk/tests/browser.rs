//! The browser platform (`flare_sdk::web`) in headless Chromium with
//! wasm-bindgen-test: gloo-net's fetch and its abort, WebCrypto's SHA-256,
//! RS256 verification and randomness, timers, sessionStorage and the page's
//! history entry. The protocol on top is tested natively (tests/runtime.rs)
//! and end to end through the npm package and the Rust example app.
//!
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver cargo test -p flare-sdk --target wasm32-unknown-unknown --test browser`
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use flare_sdk::error::ErrorKind;
use flare_sdk::runtime::{AbortHandle, HttpRequest, Platform, Store};
use flare_sdk::web::store::SessionStore;
use flare_sdk::web::{window, WebPlatform};
use flare_sdk::{base64url, runtime};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn fetch_reads_status_headers_and_body_through_gloo_net() {
    let p = WebPlatform;
    let request = HttpRequest::get(
        "data:application/fhir+json,%7B%22resourceType%22%3A%22Patient%22%7D",
        "application/fhir+json",
    );
    let r = p.fetch(&request, &AbortHandle::new()).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/fhir+json"));
    assert_eq!(r.json().unwrap()["resourceType"], "Patient");
    // No server there: a network error, typed.
    let e = p
        .fetch(
            &HttpRequest::get("http://127.0.0.1:9/none", "application/json"),
            &AbortHandle::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network);
}

#[wasm_bindgen_test]
async fn an_abort_ends_a_fetch_and_a_retry_wait() {
    let p = WebPlatform;
    let abort = AbortHandle::new();
    abort.abort();
    let e = p
        .fetch(&HttpRequest::get("data:text/plain,x", "text/plain"), &abort)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Aborted);
    // A long sleep ended by an abort from a timer.
    let abort = AbortHandle::new();
    let a = abort.clone();
    let long = async {
        p.sleep(60_000.0).await;
        Ok(())
    };
    let wait = runtime::abort::or_abort(long, &abort, "wait");
    let trigger = async move {
        WebPlatform.sleep(20.0).await;
        a.abort();
    };
    let (r, ()) = futures_util::future::join(wait, trigger).await;
    assert_eq!(r.unwrap_err().kind, ErrorKind::Aborted);
}

#[wasm_bindgen_test]
async fn webcrypto_digests_verifies_rs256_and_gives_random_bytes() {
    let p = WebPlatform;
    assert_eq!(
        base64url::encode(&p.sha256(b"abc").await.unwrap()),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
    assert_ne!(p.random_bytes().unwrap(), p.random_bytes().unwrap());
    // A key pair made by WebCrypto signs; the platform verifies with the public JWK.
    let subtle = web_sys::window().unwrap().crypto().unwrap().subtle();
    let alg = Object::new();
    Reflect::set(&alg, &"name".into(), &"RSASSA-PKCS1-v1_5".into()).unwrap();
    Reflect::set(&alg, &"hash".into(), &"SHA-256".into()).unwrap();
    Reflect::set(&alg, &"modulusLength".into(), &2048.into()).unwrap();
    Reflect::set(
        &alg,
        &"publicExponent".into(),
        &Uint8Array::from(&[1u8, 0, 1][..]),
    )
    .unwrap();
    let usages = js_sys::Array::of2(&"sign".into(), &"verify".into());
    let pair = JsFuture::from(subtle.generate_key_with_object(&alg, true, &usages).unwrap())
        .await
        .unwrap();
    let private: web_sys::CryptoKey = Reflect::get(&pair, &"privateKey".into())
        .unwrap()
        .unchecked_into();
    let public: web_sys::CryptoKey = Reflect::get(&pair, &"publicKey".into()).unwrap().unchecked_into();
    let jwk = JsFuture::from(subtle.export_key("jwk", &public).unwrap())
        .await
        .unwrap();
    let n = Reflect::get(&jwk, &"n".into()).unwrap().as_string().unwrap();
    let e = Reflect::get(&jwk, &"e".into()).unwrap().as_string().unwrap();
    let signed = b"header.payload";
    let sig = JsFuture::from(
        subtle
            .sign_with_object_and_u8_array(&alg, &private, signed)
            .unwrap(),
    )
    .await
    .unwrap();
    let sig = Uint8Array::new(&sig).to_vec();
    assert!(p.verify_rs256(&n, &e, signed, &sig).await.unwrap());
    assert!(!p.verify_rs256(&n, &e, b"header.other", &sig).await.unwrap());
}

#[wasm_bindgen_test]
async fn session_storage_and_the_page_history_entry() {
    let store = SessionStore::open().unwrap();
    store.set("flare-test", "v").await.unwrap();
    assert_eq!(store.get("flare-test").await.unwrap().as_deref(), Some("v"));
    store.remove("flare-test").await.unwrap();
    assert_eq!(store.get("flare-test").await.unwrap(), None);
    // The launch state is kept with this page's history entry, beside the app's own state.
    let history = web_sys::window().unwrap().history().unwrap();
    let own = Object::new();
    Reflect::set(&own, &"tab".into(), &"labs".into()).unwrap();
    history.replace_state(&own, "").unwrap();
    window::remember_launch("s1");
    assert_eq!(window::remembered_launch().as_deref(), Some("s1"));
    let kept = history.state().unwrap();
    assert_eq!(
        Reflect::get(&kept, &"tab".into()).unwrap().as_string().as_deref(),
        Some("labs")
    );
    assert!(!window::in_frame() || web_sys::window().unwrap().top().is_ok());
    let page = window::page_url();
    let base = page.split(['?', '#']).next().unwrap().to_string();
    window::replace_address(&format!("{base}?code=c&state=s&view=1"));
    assert!(
        window::page_url().ends_with("?code=c&state=s&view=1"),
        "{}",
        window::page_url()
    );
    window::replace_address(&flare_sdk::launch::strip_redirect_params(&window::page_url()));
    assert_eq!(window::page_url(), format!("{base}?view=1"));
}

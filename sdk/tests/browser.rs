//! The sans-IO core compiled to wasm32 and run in headless Chromium
//! (`wasm-bindgen-test`): the functions the npm package's JS layer calls
//! behave there as natively (integer and float handling, byte arrays,
//! separators, failures). The JS layer itself is tested over the built
//! package in `tests/sdk` (`sdk::js_layer_in_chromium`).
//!
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p flare-sdk --features npm --target wasm32-unknown-unknown --test browser`
//! (`npm`: the allocator the package ships with; the functions tested are plain Rust either way)
#![cfg(target_arch = "wasm32")]

use flare_sdk::bridge;
use flare_sdk::form;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const BASE: &str = "https://ehr.test/fhir";

fn failure_kind(text: &str) -> Option<&str> {
    text.strip_prefix('\u{1}')?.split('\u{1}').next()
}

#[wasm_bindgen_test]
fn a_launch_record_carries_pkce_and_state_and_expires() {
    let entry = form::encode(&[
        ("client_id", "app"),
        ("scope", "openid patient/*.rs"),
        ("redirect_uri", "https://app/"),
        ("iss", BASE),
    ]);
    let plan = bridge::launch_plan(&entry, "https://app/");
    let config = form::encode(&[
        ("authorization_endpoint", "https://ehr.test/authorize"),
        ("token_endpoint", "https://ehr.test/token"),
        ("code_challenge_methods_supported", "S256"),
    ]);
    let now = 1_763_870_000_123.0;
    let record = bridge::pending_launch(&plan, &config, &[7; 32], &[8; 32], &[9; 32], now);
    assert_eq!(failure_kind(&record), None, "{record}");
    assert_eq!(
        bridge::member(&record, "expires_at_ms").as_deref(),
        Some("1763871800123")
    );
    let url = bridge::authorize_url(&record, &[0; 32]);
    assert!(
        url.contains("code_challenge=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code_challenge_method=S256"),
        "{url}"
    );
    assert_eq!(
        failure_kind(&bridge::token_request(&record, "c", now + 31.0 * 60_000.0)),
        Some("launch")
    );
    assert!(bridge::token_request(&record, "c", now).contains("code_verifier="));
}

#[wasm_bindgen_test]
fn sessions_numbers_and_retries() {
    let token = "access_token=a&token_type=Bearer&expires_in=3600&refresh_token=r";
    let s = bridge::new_session(BASE, "app", "https://ehr.test/token", token, None, None, 1000.5);
    assert_eq!(bridge::member(&s, "expires_at_ms").as_deref(), Some("3601000"));
    // Stored in whole milliseconds: due 60 s before 3,601,000.
    assert_eq!(bridge::due(&s, 3_540_999.0), 0);
    assert_eq!(bridge::due(&s, 3_541_000.0), 1);
    assert_eq!(bridge::due(&s, 3_601_000.0), 3);
    assert_eq!(bridge::after_401(&s, "a", false), 2);
    assert_eq!(
        bridge::retry_delay("GET", 429, Some("3".into()), 0, 0.0, 0.5),
        3000.0
    );
    assert_eq!(bridge::retry_delay("POST", 503, None, 0, 0.0, 0.5), -1.0);
    assert_eq!(
        bridge::retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000.0 - 1500.0),
        1.5
    );
}

#[wasm_bindgen_test]
fn pages_and_references_are_planned() {
    let matches = [
        "Observation\u{0}o1\u{0}\u{0}Patient/p1",
        "Observation\u{0}o2\u{0}\u{0}Patient/p2",
    ]
    .join("\u{1}");
    let included = "Patient\u{0}p1\u{0}https://ehr.test/fhir/Patient/p1";
    assert_eq!(
        bridge::plan_attachments(BASE, included, &matches),
        vec![1, 0, 0, 0]
    );
    let plan = bridge::plan_resolution(BASE, "Patient/p1\u{0}Patient/p2", "Patient/p1");
    assert!(
        plan.ends_with("u\u{0}https://ehr.test/fhir/Patient?_id=p2&_count=1"),
        "{plan}"
    );
    assert!(!bridge::under_base("https://evil.test/fhir/Patient", BASE));
    assert_eq!(bridge::base64url("AQAB"), Some(vec![1, 0, 1]));
    assert_eq!(failure_kind(&bridge::pick_key("alg=HS256", "")), Some("id_token"));
}

//! `sdk/src/params/generated.rs` is what the registry generates now: a
//! registry change without `cargo run -p flare-sdk --bin flare-sdk-dts -- params`
//! fails here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

#[path = "../src/params/codegen.rs"]
mod codegen;

#[test]
fn generated_params_match_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/params/generated.rs");
    let committed = std::fs::read_to_string(path).expect("read generated.rs");
    let fresh = codegen::generate();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()))
            + 1;
        panic!(
            "sdk/src/params/generated.rs is stale (first difference at line {line}); \
             run `cargo run -p flare-sdk --bin flare-sdk-dts -- params`"
        );
    }
}

#[test]
fn method_names_are_snake_case() {
    assert_eq!(codegen::method_name("_id"), "id");
    assert_eq!(codegen::method_name("_lastUpdated"), "last_updated");
    assert_eq!(codegen::method_name("clinical-status"), "clinical_status");
    assert_eq!(codegen::method_name("type"), "type_");
    assert_eq!(codegen::method_name("address-postalcode"), "address_postalcode");
}

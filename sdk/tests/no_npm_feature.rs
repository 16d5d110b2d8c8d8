//! Without the `npm` feature the crate is usable by a Rust web app on wasm32:
//! no `#[global_allocator]` and no wasm exports of its own.
//!
//! Builds, for wasm32-unknown-unknown and without `npm`, the crate's cdylib
//! and the example app `examples/rust_app.rs`, which defines its own global
//! allocator (two would fail to link) and its own export, then reads both
//! export sections with `wasmparser`. The build uses its own target directory
//! (`target/sdk-no-npm`) so it never waits on the `cargo test` that runs it.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The export names of a wasm module.
fn exports(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let wasmparser::Payload::ExportSection(section) = payload.expect("a valid wasm module") {
            for export in section {
                names.push(export.expect("a valid export").name.to_string());
            }
        }
    }
    names
}

/// What rustc's wasm32 linker exports from any cdylib: the memory and the
/// data/heap bounds.
fn is_linker_export(name: &str) -> bool {
    matches!(name, "memory" | "__data_end" | "__heap_base")
}

/// What wasm-bindgen itself exports from any crate that imports JavaScript
/// (web-sys, js-sys): its allocator, closure and exception runtime, and the
/// descriptors of imported functions (`__wbindgen_describe___wbg_fetch_…`),
/// which its CLI removes. Not functions of the SDK.
fn is_wasm_bindgen_runtime(name: &str) -> bool {
    name.starts_with("__wbindgen_") && !NPM_EXPORTS.iter().any(|f| exports_function(name, f))
        || name.starts_with("__wbg_")
        || name.starts_with("__externref_")
        || matches!(name, "__abort_handler" | "__instance_terminated")
}

/// The functions the `npm` feature exports (sdk/src/npm).
const NPM_EXPORTS: [&str; 6] = [
    "authorize",
    "ready",
    "client",
    "storageAvailable",
    "byCode",
    "start",
];

/// Whether `name` is the raw export of Rust function `function`, or its
/// wasm-bindgen descriptor: wasm-bindgen 0.2.130 suffixes a hash to both
/// (`call_88d4…`, `__wbindgen_describe_call_88d4…`) until its CLI runs.
fn exports_function(name: &str, function: &str) -> bool {
    let bare = name.strip_prefix("__wbindgen_describe_").unwrap_or(name);
    bare.strip_prefix(function)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
}

fn cargo_build(manifest: &Path, target: &Path, args: &[&str]) {
    let status = Command::new(env!("CARGO"))
        .current_dir(manifest)
        .args([
            "build",
            "--quiet",
            "-p",
            "flare-sdk",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .expect("cargo runs");
    // Without `npm`, a failure here is most likely the linker refusing two
    // global allocators (the SDK's and the example app's).
    assert!(
        status.success(),
        "cargo build {args:?} for wasm32 failed: {status}"
    );
}

#[test]
fn without_npm_the_wasm_has_no_allocator_and_no_exports_of_the_sdk() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target"))
        .join("sdk-no-npm");
    cargo_build(manifest, &target, &["--lib", "--example", "rust_app"]);
    let out = target.join("wasm32-unknown-unknown/debug");

    let sdk = exports(&out.join("flare_sdk.wasm"));
    let own: Vec<&String> = sdk
        .iter()
        .filter(|n| !is_linker_export(n) && !is_wasm_bindgen_runtime(n))
        .collect();
    assert!(own.is_empty(), "the SDK's cdylib exports {own:?}");

    let app = exports(&out.join("examples/rust_app.wasm"));
    assert!(
        app.iter().any(|n| exports_function(n, "vital_signs_url")),
        "the app's export is missing: {app:?}"
    );
    let from_sdk: Vec<&String> = app
        .iter()
        .filter(|n| NPM_EXPORTS.iter().any(|f| exports_function(n, f)))
        .collect();
    assert!(from_sdk.is_empty(), "the app exports the SDK's {from_sdk:?}");

    // The control: with `npm` the same cdylib does export `authorize`, so the
    // checks above look for the right names.
    cargo_build(manifest, &target, &["--lib", "--features", "npm"]);
    let npm = exports(&out.join("flare_sdk.wasm"));
    assert!(npm.iter().any(|n| exports_function(n, "authorize")), "{npm:?}");
}

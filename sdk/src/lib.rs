//! Flare's SMART on FHIR browser SDK.
//!
//! The protocol is plain Rust, tested natively: [`launch`] (the launch state
//! machine, URL building), [`pkce`], [`discovery`], [`session`] (tokens,
//! refresh timing, the 401 rule), [`id_token`] (claims and key choice),
//! [`search`] (URLs, registry-checked parameters), [`params`] (typed search
//! builders generated from the registry), [`bundle`] (pages,
//! `_include`/`_revinclude` attachment), [`resolve`] (reference resolution
//! plans), [`retry`] (429/503 backoff) and [`error`] (typed errors). It reads
//! JSON through the [`json::Json`] view: `serde_json` values natively,
//! [`flat::Flat`] forms in the browser.
//!
//! [`bridge`] is the sans-IO API the npm package `@flare/smart` calls from its
//! thin JavaScript layer (`pkg/index.js`): synchronous functions over strings
//! and numbers, so the wasm links no futures, no JS object walking, no JSON
//! parser and no `core::fmt` of its own. The JS layer does the I/O (`fetch`,
//! storage, `location`/`history`, WebCrypto, windows and frames) and acts on
//! what these functions decide. Rust programs use the same modules directly,
//! with their own HTTP client.
//!
//! Cargo feature `npm` (used by `scripts/build-sdk.sh` only) adds what the npm
//! package needs on wasm32: the wasm-bindgen export of [`bridge`] and the
//! `lol_alloc` global allocator. Without it, as a dependency of a Rust web app
//! (Leptos, Yew, Dioxus, plain wasm-bindgen), the crate exports nothing and
//! leaves the global allocator to the app.

/// The npm build's allocator (the page's JS is single-threaded). Only with the
/// `npm` feature: a Rust app that depends on this crate chooses its own.
#[cfg(all(target_arch = "wasm32", feature = "npm"))]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without atomics runs one thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

pub mod base64url;
pub mod bridge;
pub mod bundle;
pub mod discovery;
pub mod error;
pub mod flat;
pub mod form;
pub mod id_token;
pub mod json;
pub mod keys;
pub mod launch;
pub mod params;
pub mod pkce;
pub mod resolve;
pub mod retry;
pub mod search;
pub mod session;
pub mod typescript;

pub use error::{ErrorKind, SdkError};

//! Flare's SMART on FHIR client for browser apps, in Rust: the SMART App
//! Launch (standalone and EHR, PKCE, verified id_tokens, refresh) and typed
//! FHIR queries, for Rust web apps as a crate and for JavaScript apps as the
//! npm package `@flare/smart` built from it.
//!
//! Three layers, arrows pointing down:
//!
//! - [`npm`] (feature `npm`, wasm32 only; `scripts/build-sdk.sh`): the
//!   JavaScript API as wasm-bindgen exports returning Promises; FHIR JSON
//!   crosses as objects through serde-wasm-bindgen.
//! - [`web`] (wasm32): the browser platform (HTTP through gloo-net; storage,
//!   location, history, windows and WebCrypto through web-sys) and
//!   `authorize`/`ready` for Rust web apps (Leptos, Yew, Dioxus, plain
//!   wasm-bindgen). Exports nothing, brings no global allocator.
//! - [`runtime`] (every target): the async client and launch written once over
//!   a [`runtime::Platform`]: one code exchange per `state`, one shared
//!   refresh, the 401 rule, retries with abortable waits, pages as a
//!   `Stream`, reference resolution, writes. The native tests run it on a
//!   scripted platform (`tests/runtime.rs`): the code the browser runs.
//!
//! Under them, the sans-IO protocol modules, tested natively: [`launch`]
//! (the launch state machine), [`pkce`], [`discovery`], [`session`] (tokens,
//! refresh timing, the 401 rule), [`id_token`] (jwt-compact; claims and key
//! choice), [`search`] (URLs), [`params`] (typed search builders generated
//! from the registry), [`bundle`] (pages, `_include`/`_revinclude`
//! attachment), [`resolve`] (reference resolution plans), [`retry`] (429/503
//! backoff), [`codes`] (resources by code) and [`error`] (typed errors).

pub mod base64url;
pub mod bundle;
pub mod codes;
pub mod discovery;
pub mod error;
pub mod form;
pub mod id_token;
pub mod json;
pub mod keys;
pub mod launch;
#[cfg(all(target_arch = "wasm32", feature = "npm"))]
pub mod npm;
pub mod params;
pub mod pkce;
pub mod resolve;
pub mod retry;
pub mod runtime;
pub mod search;
pub mod session;
pub mod typescript;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{ErrorKind, SdkError};

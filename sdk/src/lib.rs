//! Flare's SMART on FHIR browser SDK.
//!
//! The protocol is plain Rust, tested natively: [`launch`] (the launch state
//! machine, URL building), [`pkce`], [`discovery`], [`session`] (tokens,
//! refresh timing, the 401 rule), [`id_token`] (claims and key choice),
//! [`search`] (URLs, registry-checked parameters), [`bundle`] (pages,
//! `_include`/`_revinclude` attachment), [`resolve`] (reference resolution
//! plans), [`retry`] (429/503 backoff) and [`error`] (typed errors). All of it
//! reads JSON through the [`json::Json`] view, so the same code runs over
//! `serde_json` values natively and over JS objects in the browser.
//!
//! The browser glue ([`browser`], wasm32 only) is the thin layer that does
//! I/O: `fetch`, storage, `location`/`history`, WebCrypto, timers, and the
//! wasm-bindgen API the npm package `@flare/smart` exposes.

pub mod base64url;
pub mod bundle;
pub mod discovery;
pub mod error;
pub mod form;
pub mod id_token;
pub mod json;
pub mod keys;
pub mod launch;
pub mod pkce;
pub mod resolve;
pub mod retry;
pub mod search;
pub mod session;
pub mod typescript;

#[cfg(target_arch = "wasm32")]
pub mod browser;

pub use error::{ErrorKind, SdkError};

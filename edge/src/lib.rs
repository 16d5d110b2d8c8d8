//! Flare's edge: a read-only FHIR R4 / US Core API and a SMART App Launch
//! authorization server on Cloudflare Workers.
//!
//! - [`app`]: routing, authentication, authorization and handlers, against small traits.
//! - [`store`]: the only module that writes SQL ([`store::Database`] over D1 or SQLite).
//! - `worker_adapter` (wasm32 only): the only module that touches `worker::` types.
//! - [`native`] (native only): the deterministic platform of tests and examples.

pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod store;
#[cfg(target_arch = "wasm32")]
mod worker_adapter;

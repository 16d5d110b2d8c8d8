//! Flare's edge: a read-only FHIR R4 / US Core API on Cloudflare Workers.
//!
//! - [`app`]: routing, authentication and handlers, against small traits.
//! - [`store`]: the only module that writes SQL ([`store::Database`] over D1 or SQLite).
//! - `worker_adapter` (wasm32 only): the only module that touches `worker::` types.

pub mod app;
pub mod store;
#[cfg(target_arch = "wasm32")]
mod worker_adapter;

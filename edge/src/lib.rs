//! Flare's edge: a read-only FHIR R4 / US Core API and a SMART App Launch
//! authorization server on Cloudflare Workers.
//!
//! The rooms, from the top floor down (a module imports only from rooms
//! below it; `ARCHITECTURE.md` draws the map):
//!
//! - [`router`]: the one table of routes and the router that applies each
//!   route's authentication, throttle, CORS and error shape.
//! - [`fhir`]: the FHIR API (read, search, capability, service base, import,
//!   bulk export) and who sees what ([`fhir::access`]).
//! - [`oauth`]: the SMART App Launch authorization server, one file per endpoint.
//! - [`pages`]: the browser pages: patient portal, EHR simulator, developer
//!   portal, practice administration.
//! - [`admin`]: the operator API (`ADMIN_TOKEN`).
//! - [`web`]: what every page shares: forms, cookies, sessions, CSRF, sign-in,
//!   the HTML frame.
//! - [`app`]: the application's state ([`app::App`]: databases, platform,
//!   configuration) and who is calling ([`app::Caller`]).
//! - [`http`]: request, response and the error type every handler returns.
//! - [`crypto`]: tokens, hashes, passwords, PKCE.
//! - [`platform`]: what the runtime provides ([`platform::Platform`]) and its
//!   two adapters: the Worker (wasm32) and the native one of tests.
//! - `worker` (wasm32): the Worker's thin entry, wiring the bindings into [`app::App`].
//! - [`store`]: the only module that writes SQL ([`store::Database`] over D1 or SQLite).

pub mod admin;
pub mod app;
pub mod crypto;
pub mod fhir;
pub mod http;
pub mod oauth;
pub mod pages;
pub mod platform;
pub mod router;
pub mod store;
pub mod web;
#[cfg(target_arch = "wasm32")]
mod worker;

//! End-to-end test support for Flare: starts a real `wrangler dev` (workerd
//! with local D1) and talks to it over HTTP.
//!
//! The suite itself is the `e2e` test target (`tests/e2e/`, a libtest-mimic
//! harness): `cargo test -p flare-tests --test e2e`. This library holds what
//! the trials share:
//!
//! - [`server`]: finds the repository, applies the D1 migrations to a fresh
//!   state directory, starts and always stops `wrangler dev`.
//! - [`http`]: a small blocking client (`ureq`) with the admin token and the
//!   practice header.
//! - [`fhir`]: Bundle helpers (entries, `next` links, paging to the end) and
//!   comparisons that ignore server-managed metadata.
//! - [`fixtures`]: the US Core example resources in `shared/fixtures`.
//! - [`uscore`]: the US Core 6.1.0 search requirements and a small evaluator of
//!   the SearchParameter expressions, to derive search values from a resource.
//! - [`oauth`]: SMART/OAuth client pieces: PKCE, cookies, forms, a browser,
//!   JWT client assertions, JWKS, id_token verification.
//! - [`schema`]: the FHIR R4 JSON schema, for what the server writes itself.
//! - [`practice`]: a practice body as the admin API requires it (NPI, address).
//! - [`mod@check`]: counted assertions, so the suite can say how much it checked.
//! - [`browser`]: what the browser suites (`tests/sdk`, `tests/portal`,
//!   `tests/demo`) share: trial selection and the edge's set-up and stop,
//!   the operator client, client registration, node drivers' JSON results,
//!   screenshots, the example Rust web app's served copy.
//! - [`static_server`]: the static file server the browser suites serve
//!   their apps from (a free 127.0.0.1 port).
//!
//! The edge's native tests (`edge/tests/common`) use [`oauth`]'s cookie
//! jar, HTML inputs, PKCE and query helpers too (a dev-dependency of
//! flare-edge; this crate does not depend on flare-edge).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test harness: a failed unwrap fails the test"
)]

pub mod browser;
pub mod check;
pub mod fhir;
pub mod fixtures;
pub mod http;
pub mod oauth;
pub mod practice;
pub mod schema;
pub mod server;
pub mod static_server;
pub mod uscore;

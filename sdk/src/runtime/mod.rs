//! The SDK's async runtime: the launch and the authorized client, written
//! once over a [`Platform`] (HTTP, clock, randomness, timers, SHA-256,
//! RS256) and a [`Store`]. The browser runs it on [`crate::web`]'s platform
//! (gloo-net and web-sys); the native tests run the same code on a scripted
//! platform (`sdk/tests/runtime.rs`). Every decision it acts on comes from
//! the sans-IO modules ([`crate::launch`], [`crate::session`],
//! [`crate::retry`], [`crate::bundle`], [`crate::resolve`] …).

pub mod abort;
pub mod client;
pub mod http;
pub mod launcher;
pub mod page;
pub mod platform;

pub use abort::AbortHandle;
pub use client::{Client, FhirRequest, FhirResponse, Limits, ResolvedReference};
pub use launcher::{Runtime, StartedLaunch};
pub use page::SearchPage;
pub use platform::{HttpRequest, HttpResponse, MemoryStore, Platform, Store};

//! The browser: the [`crate::runtime`] on web-sys and gloo-net. For Rust
//! web apps (Leptos, Yew, Dioxus, plain wasm-bindgen) on wasm32; it exports
//! nothing to JavaScript and brings no global allocator.
//!
//! ```ignore
//! use flare_sdk::web::{authorize, ready, AuthorizeOptions, Server};
//! use flare_sdk::params::ObservationSearch;
//! // On the launch page:
//! authorize(AuthorizeOptions { servers: vec![Server { client_id: "my-app".into(),
//!     scope: "openid fhirUser launch/patient patient/*.rs".into(),
//!     iss: Some("https://ehr.example/fhir".into()), ..Default::default() }], ..Default::default() }).await?;
//! // On the redirect page:
//! let client = ready(Default::default()).await?;
//! let labs = client.search(ObservationSearch::new().patient(client.patient().unwrap()).category("laboratory")).await?;
//! ```

pub mod launch;
pub mod platform;
pub mod store;
pub mod window;

pub use launch::{
    authorize, authorize_in, open_server, ready, runtime, storage_available, with_token, AuthorizeOptions,
    Launched, ReadyOptions, Server, Storage, Target, TokenOptions, WebClient,
};
pub use platform::WebPlatform;

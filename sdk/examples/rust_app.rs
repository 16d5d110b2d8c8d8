//! A Rust web app on plain wasm-bindgen that uses `flare-sdk` as a crate
//! (without the `npm` feature): it defines its own global allocator and its
//! own export, and links the SDK's search-URL builder.
//!
//! `tests/no_npm_feature.rs` builds it for wasm32: it links only if the SDK
//! brings no `#[global_allocator]` of its own (two fail to link), and its
//! exports are the app's, not the SDK's `call`.

#[cfg(target_arch = "wasm32")]
mod app {
    use wasm_bindgen::prelude::*;

    /// The app's allocator. With `npm` (clippy's `--features npm` pass over
    /// all targets) the SDK brings `lol_alloc` and this one must stay out.
    #[cfg(not(feature = "npm"))]
    #[global_allocator]
    static ALLOCATOR: std::alloc::System = std::alloc::System;

    /// The app's own export: the URL of a patient's vital signs, checked
    /// against the search-parameter registry by the SDK.
    #[wasm_bindgen]
    pub fn vital_signs_url(base: &str, patient: &str) -> Result<String, JsError> {
        let params = [
            ("patient".to_string(), patient.to_string()),
            ("category".to_string(), "vital-signs".to_string()),
        ];
        flare_sdk::search::search_url(base, "Observation", &params).map_err(|e| JsError::new(&e.message))
    }
}

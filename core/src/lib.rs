//! Flare's shared vocabulary, with no I/O: the FHIR search-parameter registry,
//! search parsing, index extraction, FHIR dates and references. Compiles for
//! native targets and wasm32; both the edge and the SDK depend on it.

pub mod datetime;
pub mod identity;
pub mod index;
pub mod reference;
pub mod registry;
pub mod search;
pub mod smart;
pub mod text;

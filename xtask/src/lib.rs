//! Flare's own tooling, run as `cargo xtask COMMAND` (an alias in
//! `.cargo/config.toml`): the search-parameter registry's generator and check,
//! the benchmark helpers, and the driver behind `scripts/run.sh` and
//! `scripts/test.sh`.

#![warn(missing_docs)]

use std::path::PathBuf;

pub mod app_tokens;
pub mod bench;
pub mod process;
pub mod pyrandom;
pub mod registry;
pub mod run;
pub mod test;

/// The repository root (the workspace this crate belongs to).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

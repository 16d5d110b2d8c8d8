//! The committed registry (`core/src/registry/generated.rs`) is what
//! `../shared/reference` generates. Never skipped: without the references it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::fs;

use xtask::registry::{default_reference_dir, generate, output_path};

#[test]
fn registry_is_generated_from_the_references() {
    let root = xtask::repo_root();
    let reference = default_reference_dir(&root);
    assert!(
        reference.is_dir(),
        "{} is missing: the registry check needs the shared references beside the repository (../shared/reference)",
        reference.display()
    );
    let generated = generate(&reference).expect("the generator runs on the references");
    let committed = fs::read_to_string(output_path(&root)).expect("the committed registry is readable");
    assert!(
        generated.text == committed,
        "{} differs from what {} generates: run `cargo xtask registry`",
        output_path(&root).display(),
        reference.display()
    );
}

//! `cargo xtask test`: every Flare test, the steps `scripts/test.sh` ran (it
//! now runs `scripts/setup.sh` and hands over to this), in the same order, with
//! the same environment and step banners.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use crate::process::{self, command, describe};

/// One step: an id for `--only`, its banner, and its commands.
#[derive(Debug)]
pub struct Step {
    /// Short name for `--only` and `--dry-run`.
    pub id: &'static str,
    /// The banner printed before it (`== ...`).
    pub banner: &'static str,
    /// What it runs, in order; the first failure ends the run.
    pub commands: Vec<Command>,
}

fn cargo(args: &[&str]) -> Command {
    let mut cmd = command("cargo");
    cmd.args(args);
    cmd
}

/// The steps, in order, with their commands run from `root`.
pub fn steps(root: &Path) -> Vec<Step> {
    let mut native = cargo(&["test", "--workspace", "--exclude", "flare-tests"]);
    // The generated resource types are type-checked with the repository's tsc
    // (npm ci ran in set-up): here a missing tsc fails instead of being skipped.
    // The registry is checked against ../shared/reference here too (xtask's
    // registry_current test fails when the references are missing).
    native.env("FLARE_REQUIRE_TSC", "1");
    let mut browser = cargo(&[
        "test",
        "-p",
        "flare-sdk",
        "--features",
        "npm",
        "--target",
        "wasm32-unknown-unknown",
        "--test",
        "browser",
    ]);
    browser
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120");
    let mut steps = vec![
        Step {
            id: "fmt",
            banner: "cargo fmt --check",
            commands: vec![cargo(&["fmt", "--all", "--", "--check"])],
        },
        Step {
            id: "clippy",
            banner: "clippy (native and wasm32)",
            commands: vec![
                cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
                cargo(&[
                    "clippy",
                    "-p",
                    "flare-edge",
                    "--target",
                    "wasm32-unknown-unknown",
                    "--",
                    "-D",
                    "warnings",
                ]),
                cargo(&[
                    "clippy",
                    "-p",
                    "flare-sdk",
                    "--all-targets",
                    "--target",
                    "wasm32-unknown-unknown",
                    "--",
                    "-D",
                    "warnings",
                ]),
                cargo(&[
                    "clippy",
                    "-p",
                    "flare-sdk",
                    "--all-targets",
                    "--features",
                    "npm",
                    "--target",
                    "wasm32-unknown-unknown",
                    "--",
                    "-D",
                    "warnings",
                ]),
            ],
        },
        Step {
            id: "native",
            banner: "native tests",
            commands: vec![native],
        },
        Step {
            id: "sdk-build",
            banner: "SDK: build pkg/ (scripts/build-sdk.sh)",
            commands: vec![command("scripts/build-sdk.sh")],
        },
        Step {
            id: "browser",
            banner: "SDK: browser platform in headless Chromium (wasm-bindgen-test)",
            commands: vec![browser],
        },
        Step {
            id: "e2e",
            banner: "end-to-end tests against wrangler dev",
            commands: vec![cargo(&["test", "-p", "flare-tests", "--test", "e2e"])],
        },
        Step {
            id: "sdk-e2e",
            banner: "SDK end-to-end: launch against wrangler dev in Chromium, npm pack + tsc + vite",
            commands: vec![cargo(&["test", "-p", "flare-tests", "--test", "sdk"])],
        },
        Step {
            id: "portal",
            banner: "developer portal end-to-end: sign-up to launch, approvals and error paths in Chromium",
            commands: vec![cargo(&["test", "-p", "flare-tests", "--test", "portal"])],
        },
        Step {
            id: "demo",
            banner: "demo app, EHR simulator and portal end-to-end in Chromium",
            commands: vec![cargo(&["test", "-p", "flare-tests", "--test", "demo"])],
        },
    ];
    for step in &mut steps {
        for cmd in &mut step.commands {
            cmd.current_dir(root);
        }
    }
    steps
}

/// Runs the steps (all, or those named in `only`), or lists them with `dry_run`.
pub fn run(root: &Path, only: &[String], dry_run: bool) -> Result<()> {
    let mut steps = steps(root);
    let known: Vec<&str> = steps.iter().map(|s| s.id).collect();
    for id in only {
        if !known.contains(&id.as_str()) {
            bail!("unknown step {id:?}; the steps are: {}", known.join(", "));
        }
    }
    if !only.is_empty() {
        steps.retain(|s| only.iter().any(|id| id == s.id));
    }
    process::catch_interrupts()?;
    for step in &mut steps {
        println!("\n== {}", step.banner);
        for cmd in &mut step.commands {
            if dry_run {
                println!("[{}] {}", step.id, describe(cmd));
            } else {
                process::run(cmd)?;
            }
        }
    }
    Ok(())
}

//! The end-to-end suite: every trial runs against one real `wrangler dev`
//! (workerd + local D1) started for this run.
//!
//! `cargo test -p flare-tests --test e2e [-- FILTER]`. The harness applies the
//! D1 migrations to a fresh state directory under `target/`, starts the edge
//! in its own process group, creates the practices `northside` and
//! `lakeshore`, runs the trials (libtest-mimic: the usual
//! `test result: ok. N passed; M failed` lines) and always stops the process
//! group and removes the state, also when a trial fails or panics. If the
//! edge cannot start, every trial fails with the reason.
//!
//! Trials are independent: each imports the data it needs, with ids of its
//! own; trials that share data (the US Core fixtures, the search-semantics
//! set) load it once through [`Ctx`].
//!
//! Trials that restart `wrangler dev` ([`exclusive_trials`]) cannot share
//! the server with anything else: they run in a second libtest-mimic pass
//! on one thread, after every other trial has finished (so the run prints
//! two `test result:` lines).
//!
//! Environment: `FLARE_E2E_PORT` (default: first free of 8791-8799),
//! `FLARE_E2E_START_TIMEOUT` (seconds to wait for `wrangler dev`, which
//! builds the Worker on its first start; default 1200), `FLARE_SHARED` (the
//! shared reference data; default `../shared`), `FLARE_E2E_BACKTRACE=1`
//! (full panic reports). On failure the wrangler log is kept at
//! `target/e2e-state-<pid>.log`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod bulk;
mod context;
mod errors;
mod import;
mod isolation;
mod operations;
mod paging;
mod read_back;
mod semantics;
mod service_base;
mod smart;
mod us_core_search;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use libtest_mimic::{Arguments, Failed, Trial};

use context::Ctx;
use flare_tests::server::{self, Edge};

/// A trial body.
type TrialFn = fn(&Ctx);

/// Every trial, by name.
fn trials() -> Vec<(&'static str, TrialFn)> {
    let mut all: Vec<(&'static str, TrialFn)> = vec![
        ("fixtures::import_and_read_back", read_back::import_and_read_back),
        (
            "us_core::shall_combinations_find_each_resource",
            us_core_search::shall_get,
        ),
        (
            "us_core::post_search_gives_the_same_ids",
            us_core_search::shall_post,
        ),
        (
            "us_core::provenance_revinclude_finds_fixture_provenances",
            us_core_search::provenance_revinclude,
        ),
        (
            "service_base::bundle_and_capability_statement",
            service_base::bundle_and_capability_statement,
        ),
        (
            "isolation::practices_do_not_see_each_other",
            isolation::practices_do_not_see_each_other,
        ),
        (
            "paging::while_importing_visits_each_original_once",
            paging::while_importing,
        ),
    ];
    all.extend(errors::TRIALS.iter().copied());
    all.extend(import::TRIALS.iter().copied());
    all.extend(semantics::TRIALS.iter().copied());
    all.extend(smart::trials());
    all.extend(bulk::TRIALS.iter().copied());
    all.extend(operations::TRIALS.iter().copied());
    all
}

/// Trials that restart the edge: run alone, after all of [`trials`].
fn exclusive_trials() -> Vec<(&'static str, TrialFn)> {
    let mut all = bulk::EXCLUSIVE.to_vec();
    all.extend(smart::exclusive());
    all
}

/// One line per panic (the failure summary repeats the message); set
/// `FLARE_E2E_BACKTRACE=1` for Rust's default report with a backtrace.
fn quiet_panics() {
    if std::env::var_os("FLARE_E2E_BACKTRACE").is_some_and(|v| v != "0") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        eprintln!(
            "  (panic in {} at {location})",
            thread.name().unwrap_or("a trial")
        );
    }));
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let list = trials();
    let exclusive = exclusive_trials();
    if args.list {
        let trials = list
            .into_iter()
            .chain(exclusive)
            .map(|(name, _)| Trial::test(name, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }

    let started = Instant::now();
    server::install_signal_handler();
    quiet_panics();
    let root = server::repo_root();
    let shared = server::shared_dir(&root);
    let setup = server::admin_token(&root).and_then(|token| {
        let edge = Edge::start(&root)?;
        let ctx = Ctx::new(&edge.origin, &token, shared.clone())?;
        Ok((edge, ctx))
    });
    let (edge, ctx) = match setup {
        Ok((edge, ctx)) => {
            let edge = Arc::new(Mutex::new(edge));
            let _ = ctx.edge.set(edge.clone());
            (Some(edge), Ok(Arc::new(ctx)))
        }
        Err(e) => {
            eprintln!("\nE2E SET-UP FAILED: the edge could not be started or prepared:\n{e}\n");
            (None, Err(e))
        }
    };

    let to_trials = |list: Vec<(&'static str, TrialFn)>| -> Vec<Trial> {
        list.into_iter()
            .map(|(name, f)| {
                let ctx = ctx.clone();
                Trial::test(name, move || match &ctx {
                    Ok(ctx) => {
                        f(ctx);
                        Ok(())
                    }
                    Err(e) => Err(Failed::from(format!("the edge did not start: {e}"))),
                })
            })
            .collect()
    };
    let mut conclusion = libtest_mimic::run(&args, to_trials(list));
    // The exclusive pass: nothing else runs while these trials restart the edge.
    let mut alone = args.clone();
    alone.test_threads = Some(1);
    let second = libtest_mimic::run(&alone, to_trials(exclusive));
    conclusion.num_passed += second.num_passed;
    conclusion.num_failed += second.num_failed;
    conclusion.num_filtered_out += second.num_filtered_out;

    if let Ok(ctx) = &ctx {
        if let Some(line) = bulk::summary() {
            ctx.note(line);
        }
        eprintln!("{}", ctx.summary());
    }
    eprintln!(
        "e2e: {} assertions checked in {:.1?}",
        flare_tests::check::total(),
        started.elapsed()
    );
    if let Some(edge) = &edge {
        if let Ok(mut edge) = edge.lock() {
            edge.stop(conclusion.has_failed());
        }
    }
    conclusion.exit_code()
}

//! `cargo xtask`: Flare's own tooling (see the crate docs of `xtask`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{app_tokens, bench, process, registry, repo_root, run, test};

/// Flare's own tooling: registry, benchmark helpers, run and test.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Write core/src/registry/generated.rs from ../shared/reference.
    Registry {
        /// Write nothing; fail if the committed file differs from what the references generate.
        #[arg(long)]
        check: bool,
        /// The reference directory (default: ../shared/reference beside the repository).
        reference: Option<PathBuf>,
    },
    /// Write the benchmark's request paths (one file per shape) from a practice's ndjson.
    BenchQueries {
        /// The practice's generated resources (flare-synth output).
        ndjson: PathBuf,
        /// Where the `<shape>.txt` files go.
        out_dir: PathBuf,
        /// Paths per shape.
        #[arg(default_value_t = 300)]
        per_shape: usize,
    },
    /// Turn bench.sh's results.tsv into a Markdown table (stdout) and results.json.
    BenchReport {
        /// bench.sh's results.tsv.
        results_tsv: PathBuf,
        /// How many resources the data set has.
        resources: u64,
        /// Import duration in seconds (0: not imported).
        import_seconds: String,
        /// How many patients the data set has.
        patients: u64,
    },
    /// Turn bench-export.sh's export.tsv into a Markdown table (stdout).
    BenchExportReport {
        /// bench-export.sh's export.tsv.
        export_tsv: PathBuf,
        /// How many patients the practice has.
        patients: String,
    },
    /// Give the patient shapes' app paths of bench-queries their patients'
    /// access tokens (minted by standalone launches); system paths stay bare.
    BenchAppPaths {
        /// The edge, http://127.0.0.1:PORT.
        base: String,
        /// ADMIN_TOKEN (creates the patient users).
        admin_token: String,
        /// bench-queries' output directory (reads app/, writes app-tokens/).
        queries: PathBuf,
        /// The practice of the patients.
        #[arg(long, default_value = "northside")]
        practice: String,
        /// The approved public patient app that launches.
        #[arg(long, default_value = "flare-demo-patient-app")]
        client_id: String,
        /// One of its registered redirect URIs.
        #[arg(long, default_value = "http://127.0.0.1:8788/")]
        redirect_uri: String,
    },
    /// Print a top-level field of the JSON object on stdin (e.g. access_token).
    JsonGet {
        /// The field name.
        key: String,
    },
    /// Run every test (what scripts/test.sh runs after set-up).
    Test {
        /// Run only these steps (repeatable); see --dry-run for the ids.
        #[arg(long)]
        only: Vec<String>,
        /// List the steps and their commands without running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Serve Flare locally until Ctrl-C (what scripts/run.sh runs after set-up).
    Run,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = repo_root();
    if let Err(e) = std::env::set_current_dir(&root) {
        eprintln!("xtask: cannot enter {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Cmd::Registry { check, reference } => registry::run(&root, reference, check),
        Cmd::BenchQueries {
            ndjson,
            out_dir,
            per_shape,
        } => bench::queries(&ndjson, &out_dir, per_shape),
        Cmd::BenchReport {
            results_tsv,
            resources,
            import_seconds,
            patients,
        } => bench::report(&results_tsv, resources, &import_seconds, patients),
        Cmd::BenchExportReport { export_tsv, patients } => bench::export_report(&export_tsv, &patients),
        Cmd::BenchAppPaths {
            base,
            admin_token,
            queries,
            practice,
            client_id,
            redirect_uri,
        } => app_tokens::app_paths(
            &app_tokens::AppSide {
                base: &base,
                admin_token: &admin_token,
                practice: &practice,
                client_id: &client_id,
                redirect_uri: &redirect_uri,
            },
            &queries,
        ),
        Cmd::JsonGet { key } => bench::json_get(&key),
        Cmd::Test { only, dry_run } => test::run(&root, &only, dry_run),
        Cmd::Run => run::run(&root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<process::ExitCode>() {
            Some(code) => ExitCode::from(code.0.clamp(1, 255) as u8),
            None => {
                eprintln!("xtask: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

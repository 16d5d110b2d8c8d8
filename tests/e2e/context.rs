//! What the trials share: the client, the reference data, data sets loaded
//! once for several trials, and summary lines printed at the end.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use flare_tests::http::{excerpt, Client};
use flare_tests::server::Edge;

use crate::read_back::FixtureImport;
use crate::us_core_search::UsCoreSearches;

/// The practice the US Core fixtures go to (the edge's default practice).
pub const NORTHSIDE: &str = "northside";
/// The practice for the trials' own small data sets.
pub const LAKESHORE: &str = "lakeshore";

/// Shared state of one run.
pub struct Ctx {
    /// Client with the admin token.
    pub client: Client,
    /// `shared/` (fixtures and reference).
    pub shared: PathBuf,
    /// The US Core fixtures, imported once.
    pub fixtures: OnceLock<FixtureImport>,
    /// The US Core SHALL searches, run once by GET.
    pub us_core: OnceLock<UsCoreSearches>,
    /// The search-semantics data set, imported once into lakeshore.
    pub semantics: OnceLock<()>,
    /// The running edge, for the trials that restart it (they run alone,
    /// after every other trial: see `exclusive_trials` in `main.rs`).
    pub edge: OnceLock<Arc<Mutex<Edge>>>,
    notes: Mutex<Vec<String>>,
}

impl Ctx {
    /// Connects to the edge and creates the practices `northside` and `lakeshore`.
    pub fn new(origin: &str, token: &str, shared: PathBuf) -> Result<Ctx, String> {
        let client = Client::new(origin, token);
        for (key, name) in [
            (NORTHSIDE, "Northside Family Practice"),
            (LAKESHORE, "Lakeshore Clinic"),
        ] {
            let body = flare_tests::practice::practice(name);
            let r = client
                .put_json(&format!("/admin/practices/{key}"), &body)
                .try_send()?;
            if r.status != 200 {
                return Err(format!(
                    "{} answered {}: {}",
                    r.request,
                    r.status,
                    excerpt(&r.body)
                ));
            }
        }
        Ok(Ctx {
            client,
            shared,
            fixtures: OnceLock::new(),
            us_core: OnceLock::new(),
            semantics: OnceLock::new(),
            edge: OnceLock::new(),
            notes: Mutex::new(Vec::new()),
        })
    }

    /// Records a line for the end-of-run summary (and prints it now).
    pub fn note(&self, line: String) {
        eprintln!("{line}");
        if let Ok(mut n) = self.notes.lock() {
            n.push(line);
        }
    }

    /// Restarts `wrangler dev` on the same state and port (only for
    /// exclusive trials: every other request fails meanwhile).
    pub fn restart_edge(&self) -> Result<(), String> {
        let edge = self.edge.get().ok_or("no edge handle")?;
        let mut edge = edge.lock().map_err(|_| "the edge lock is poisoned")?;
        edge.restart()
    }

    /// The last `n` lines of `wrangler dev`'s output (the Worker's warnings
    /// and errors), for a failure's message.
    pub fn edge_log_tail(&self, n: usize) -> String {
        match self.edge.get().map(|e| e.lock()) {
            Some(Ok(edge)) => edge.log_tail(n),
            _ => "(no edge handle)".into(),
        }
    }

    /// Kills `wrangler dev` at once (SIGKILL) and starts it again on the
    /// same state (only for exclusive trials).
    pub fn kill_and_restart_edge(&self) -> Result<(), String> {
        let edge = self.edge.get().ok_or("no edge handle")?;
        let mut edge = edge.lock().map_err(|_| "the edge lock is poisoned")?;
        edge.kill_and_restart()
    }

    /// [`Ctx::restart_edge`] with these Worker vars (an empty list: the
    /// plain configuration again).
    pub fn restart_edge_with(&self, vars: &[(&str, &str)]) -> Result<(), String> {
        let edge = self.edge.get().ok_or("no edge handle")?;
        let mut edge = edge.lock().map_err(|_| "the edge lock is poisoned")?;
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        edge.restart_with_vars(&vars)
    }

    /// The recorded summary lines.
    pub fn summary(&self) -> String {
        self.notes.lock().map(|n| n.join("\n")).unwrap_or_default()
    }
}

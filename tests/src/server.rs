//! A real `wrangler dev` for the suite: fresh local D1 state with the
//! migrations applied, its own process group, and a guaranteed stop.
//!
//! The same steps as `scripts/lib.sh` (`migrate`, `start_edge`, `stop_edge`),
//! done from Rust so the harness owns the process group: [`Edge`] stops it on
//! drop (also while unwinding from a panic), and [`install_signal_handler`]
//! stops it on Ctrl-C or SIGTERM.

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Environment every wrangler invocation gets (no telemetry, no network).
const WRANGLER_ENV: [(&str, &str); 2] = [
    ("WRANGLER_SEND_METRICS", "false"),
    ("CLOUDFLARE_CF_FETCH_ENABLED", "false"),
];

/// Ports tried, in order, when `FLARE_E2E_PORT` is not set (8787 is the developer's).
const PORTS: std::ops::RangeInclusive<u16> = 8791..=8799;

/// The repository root: the parent of this crate, checked to hold `edge/wrangler.toml`.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf();
    assert!(
        root.join("edge/wrangler.toml").is_file(),
        "{} does not look like the Flare repository (no edge/wrangler.toml)",
        root.display()
    );
    root
}

/// The shared reference data: `$FLARE_SHARED`, else `shared/` beside the repository.
pub fn shared_dir(root: &Path) -> PathBuf {
    let dir = std::env::var_os("FLARE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    assert!(
        dir.join("fixtures/us-core-examples").is_dir(),
        "shared reference data not found at {} (set FLARE_SHARED)",
        dir.display()
    );
    dir
}

/// The admin token `wrangler dev` reads from `edge/.dev.vars`.
pub fn admin_token(root: &Path) -> Result<String, String> {
    let path = root.join("edge/.dev.vars");
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {} ({e}); run scripts/setup.sh", path.display()))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ADMIN_TOKEN="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .find(|v| !v.is_empty())
        .ok_or_else(|| format!("{} has no ADMIN_TOKEN", path.display()))
}

/// What the signal handler needs to clean up: process group and state directory.
static RUNNING: Mutex<Option<(u32, PathBuf)>> = Mutex::new(None);

/// Stops the running edge (if any) on Ctrl-C or SIGTERM, then exits with 130.
pub fn install_signal_handler() {
    let _ = ctrlc::set_handler(|| {
        if let Some((pgid, state)) = RUNNING.lock().ok().and_then(|mut g| g.take()) {
            eprintln!("\ninterrupted: stopping wrangler dev (process group {pgid})");
            stop_group(pgid);
            let _ = fs::remove_dir_all(&state);
        }
        std::process::exit(130);
    });
}

/// Sends `signal` to every process of group `pgid`.
fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether any process of group `pgid` is alive.
fn group_alive(pgid: u32) -> bool {
    signal_group(pgid, "-0")
}

/// TERM, then KILL after five seconds, the whole process group (wrangler and workerd).
fn stop_group(pgid: u32) {
    signal_group(pgid, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(pgid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if group_alive(pgid) {
        signal_group(pgid, "-KILL");
    }
}

/// A free TCP port on 127.0.0.1 from `candidates`.
fn free_port(candidates: impl IntoIterator<Item = u16>) -> Option<u16> {
    candidates
        .into_iter()
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
}

/// A running `wrangler dev`, stopped (and its state removed) when dropped.
pub struct Edge {
    /// The server origin, `http://127.0.0.1:PORT`.
    pub origin: String,
    /// Process group id of wrangler and its workerd children.
    pgid: u32,
    child: Child,
    state: PathBuf,
    log: PathBuf,
    stopped: bool,
    wrangler: PathBuf,
    edge_dir: PathBuf,
    port: u16,
    /// Worker vars given on the command line (`--var NAME:VALUE`).
    vars: Vec<(String, String)>,
}

impl Edge {
    /// Applies the migrations to a fresh state directory under `target/`,
    /// starts `wrangler dev` in its own process group and waits until it
    /// answers. The first start builds the Worker, which can take minutes;
    /// `FLARE_E2E_START_TIMEOUT` (seconds, default 1200) bounds the wait.
    /// `FLARE_E2E_PORT` picks the port (default: first free of 8791-8799),
    /// `FLARE_E2E_INSPECTOR_PORT` the inspector's (default: first free of 9300-9399).
    pub fn start(root: &Path) -> Result<Edge, String> {
        let target = root.join("target");
        fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        let state = target.join(format!("e2e-state-{}", std::process::id()));
        let log = target.join(format!("e2e-state-{}.log", std::process::id()));
        let _ = fs::remove_dir_all(&state);
        let edge_dir = root.join("edge");
        let wrangler = root.join("node_modules/.bin/wrangler");
        if !wrangler.is_file() {
            return Err(format!("{} not found; run scripts/setup.sh", wrangler.display()));
        }

        let out = Command::new(&wrangler)
            .args(["d1", "migrations", "apply", "DB_0", "--local", "--persist-to"])
            .arg(&state)
            .current_dir(&edge_dir)
            .envs(WRANGLER_ENV)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run wrangler: {e}"))?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&state);
            return Err(format!(
                "applying the D1 migrations failed ({}):\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        let port = match std::env::var("FLARE_E2E_PORT") {
            Ok(p) => p
                .parse::<u16>()
                .map_err(|_| format!("FLARE_E2E_PORT={p} is not a port"))?,
            Err(_) => free_port(PORTS).ok_or("no free port in 8791-8799 (set FLARE_E2E_PORT)")?,
        };
        let child = spawn_dev(&wrangler, &edge_dir, port, &state, &log, false, &[])?;
        let pgid = child.id();
        if let Ok(mut g) = RUNNING.lock() {
            *g = Some((pgid, state.clone()));
        }
        let mut edge = Edge {
            origin: format!("http://127.0.0.1:{port}"),
            pgid,
            child,
            state,
            log,
            stopped: false,
            wrangler,
            edge_dir,
            port,
            vars: Vec::new(),
        };
        edge.wait_ready()?;
        Ok(edge)
    }

    /// Polls `GET /` until it answers 200, the process exits, or the timeout passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let timeout = std::env::var("FLARE_E2E_START_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1200);
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        let started = Instant::now();
        let mut last_note = Instant::now();
        loop {
            if let Ok(r) = agent.get(&format!("{}/", self.origin)).call() {
                if r.status() == 200 {
                    eprintln!(
                        "wrangler dev answered on {} after {:.1?}",
                        self.origin,
                        started.elapsed()
                    );
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "wrangler dev exited ({status}) before answering; log:\n{}",
                    self.log_tail(60)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "wrangler dev did not answer on {} within {timeout} s; log:\n{}",
                    self.origin,
                    self.log_tail(60)
                ));
            }
            if last_note.elapsed() > Duration::from_secs(30) {
                eprintln!(
                    "waiting for wrangler dev (building the Worker?) … {:.0?}",
                    started.elapsed()
                );
                last_note = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Restarts `wrangler dev` on the same state directory and port: stops
    /// the process group (TERM, then KILL), waits until the port is free,
    /// starts it again (appending to the same log) and waits until it
    /// answers. Requests made meanwhile fail (connection refused), so a
    /// caller must make sure nothing else is running (the e2e harness runs
    /// such trials alone, after all others).
    pub fn restart(&mut self) -> Result<(), String> {
        let vars = self.vars.clone();
        self.restart_with_vars(&vars)
    }

    /// [`Edge::restart`] with these Worker vars on top of `wrangler.toml`
    /// and `.dev.vars` (`--var NAME:VALUE`), kept for later restarts; an
    /// empty list goes back to the plain configuration.
    pub fn restart_with_vars(&mut self, vars: &[(String, String)]) -> Result<(), String> {
        self.start_again(vars, false)
    }

    /// Kills `wrangler dev` and workerd at once (SIGKILL to the process
    /// group: no shutdown, no unfinished work completed), then starts them
    /// again on the same state, as [`Edge::restart`] does: what a machine
    /// failure leaves behind.
    pub fn kill_and_restart(&mut self) -> Result<(), String> {
        let vars = self.vars.clone();
        self.start_again(&vars, true)
    }

    fn start_again(&mut self, vars: &[(String, String)], kill: bool) -> Result<(), String> {
        if self.stopped {
            return Err("the edge was stopped".into());
        }
        if kill {
            signal_group(self.pgid, "-KILL");
        } else {
            stop_group(self.pgid);
        }
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(20);
        while free_port([self.port]).is_none() {
            if Instant::now() > deadline {
                return Err(format!("port {} still busy 20 s after the stop", self.port));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.vars = vars.to_vec();
        self.child = spawn_dev(
            &self.wrangler,
            &self.edge_dir,
            self.port,
            &self.state,
            &self.log,
            true,
            &self.vars,
        )?;
        self.pgid = self.child.id();
        if let Ok(mut g) = RUNNING.lock() {
            *g = Some((self.pgid, self.state.clone()));
        }
        self.wait_ready()
    }

    /// The last `n` lines of wrangler's output.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops the process group and removes the state directory. With
    /// `keep_log` the log file stays (its path is printed), else it is removed.
    pub fn stop(&mut self, keep_log: bool) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        stop_group(self.pgid);
        let _ = self.child.wait();
        if let Ok(mut g) = RUNNING.lock() {
            *g = None;
        }
        let _ = fs::remove_dir_all(&self.state);
        if keep_log {
            eprintln!("wrangler dev log kept at {}", self.log.display());
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// Starts `wrangler dev` on `port` with state `state` in its own process
/// group, its output going to `log` (appended with `append`), with `vars`.
fn spawn_dev(
    wrangler: &Path,
    edge_dir: &Path,
    port: u16,
    state: &Path,
    log: &Path,
    append: bool,
    vars: &[(String, String)],
) -> Result<Child, String> {
    // `FLARE_E2E_INSPECTOR_PORT` pins it (helpers running suites side by side
    // each have their own); else the first free one of 9300-9399.
    let inspector = match std::env::var("FLARE_E2E_INSPECTOR_PORT") {
        Ok(p) => p
            .parse::<u16>()
            .map_err(|_| format!("FLARE_E2E_INSPECTOR_PORT={p} is not a port"))?,
        Err(_) => free_port(9300..9400).ok_or("no free inspector port in 9300-9399")?,
    };
    let log_level = std::env::var("FLARE_E2E_LOG_LEVEL").unwrap_or_else(|_| "warn".into());
    let log_file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    Command::new(wrangler)
        .args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &inspector.to_string(), "--persist-to"])
        .arg(state)
        // `FLARE_E2E_LOG_LEVEL=log` keeps the Worker's own log lines too.
        .args(["--log-level", &log_level, "--show-interactive-dev-session=false"])
        .args(
            vars.iter()
                .flat_map(|(k, v)| ["--var".to_string(), format!("{k}:{v}")]),
        )
        .current_dir(edge_dir)
        .envs(WRANGLER_ENV)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start wrangler dev: {e}"))
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop(true);
    }
}

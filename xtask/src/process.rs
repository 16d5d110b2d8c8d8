//! Child processes: commands that inherit stdio and fail with the child's exit
//! status, Ctrl-C handling, and wrangler dev in its own process group (the
//! behaviour of `scripts/lib.sh`).

use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// An error that carries the exit code xtask should end with (a child's).
#[derive(Debug)]
pub struct ExitCode(pub i32);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for ExitCode {}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C / SIGTERM handler: it only records the signal; the
/// caller stops its servers and exits (children in xtask's process group get
/// the terminal's SIGINT themselves).
pub fn catch_interrupts() -> Result<()> {
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst)).context("installing the Ctrl-C handler")
}

/// Whether Ctrl-C or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails with exit code 130 when interrupted.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        return Err(ExitCode(130).into());
    }
    Ok(())
}

/// A command as a shell script would run it: `cargo run` sets per-package
/// variables for xtask itself, which are removed so that children see the
/// environment the scripts saw.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_BIN_NAME"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_MANIFEST_LINKS"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The exit code a shell would report for a status (128 + signal when killed).
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Renders a command for banners and errors.
pub fn describe(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
        .collect();
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs a command to completion with inherited stdio; a failure is an
/// [`ExitCode`] error with the child's code.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("starting {}", describe(cmd)))?;
    if !status.success() {
        let code = exit_code(status);
        eprintln!("xtask: `{}` failed with exit code {code}", describe(cmd));
        return Err(ExitCode(code).into());
    }
    check_interrupted()
}

/// Runs a command and returns its stdout (stderr inherited).
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", describe(cmd)))?;
    if !out.status.success() {
        let code = exit_code(out.status);
        eprintln!("xtask: `{}` failed with exit code {code}", describe(cmd));
        return Err(ExitCode(code).into());
    }
    check_interrupted()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `curl -s -o /dev/null URL` succeeds: something answers HTTP there.
pub fn answers(url: &str, fail_on_error: bool) -> bool {
    let mut cmd = command("curl");
    cmd.args(["-s", "-o", "/dev/null"]);
    if fail_on_error {
        cmd.arg("-f");
    }
    cmd.arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process (group) exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: sends a signal to a process group this program created.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// A child running in its own process group (session) that is stopped, group
/// and all, when dropped: wrangler dev (with its workerd) or the demo server.
#[derive(Debug)]
pub struct Group {
    child: Child,
    name: String,
}

impl Group {
    /// Starts `cmd` as the leader of a new session and process group, as
    /// lib.sh's `setsid` does: Ctrl-C at the terminal does not reach it, xtask stops it.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Group> {
        // SAFETY: setsid is async-signal-safe; it runs in the forked child before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {}", describe(cmd)))?;
        Ok(Group {
            child,
            name: name.to_string(),
        })
    }

    /// The process (and group) id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether the leader still runs (reaps it when it has exited).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// lib.sh's `stop_edge`: SIGTERM to the group, up to 5 s for the leader to
    /// exit, then SIGKILL to whatever of the group is left.
    pub fn stop(&mut self) {
        let pid = self.pid();
        signal_group(pid, libc::SIGTERM);
        for _ in 0..20 {
            if !self.running() && !alive(-pid) {
                return;
            }
            sleep(Duration::from_millis(250));
        }
        signal_group(pid, libc::SIGKILL);
        let _ = self.child.wait();
        for _ in 0..20 {
            if !alive(-pid) {
                return;
            }
            sleep(Duration::from_millis(100));
        }
        eprintln!("xtask: process group {pid} ({}) still has members", self.name);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The paths and environment lib.sh sets up for wrangler.
#[derive(Debug, Clone)]
pub struct Wrangler {
    /// The repository root.
    pub root: PathBuf,
}

impl Wrangler {
    /// A command running `node_modules/.bin/wrangler` in `edge/`, with metrics
    /// and the cf fetch off (lib.sh's exports).
    pub fn command(&self) -> Command {
        let mut cmd = command(self.root.join("node_modules/.bin/wrangler"));
        cmd.current_dir(self.root.join("edge"));
        with_wrangler_env(&mut cmd);
        cmd
    }

    /// lib.sh's `migrate STATE_DIR`: applies the D1 migrations to the local database.
    pub fn migrate(&self, state: &Path) -> Result<()> {
        let mut cmd = self.command();
        cmd.args(["d1", "migrations", "apply", "DB_0", "--local", "--persist-to"])
            .arg(state)
            .stdout(Stdio::null());
        run(&mut cmd)
    }

    /// lib.sh's `start_edge STATE_DIR PORT LOGFILE`: starts wrangler dev in its
    /// own process group and waits (up to 10 minutes) until it answers.
    pub fn start_edge(&self, state: &Path, port: u16, log: &Path) -> Result<Group> {
        let url = format!("http://127.0.0.1:{port}/");
        if answers(&url, false) {
            bail!("port {port} is already in use: stop the server there first");
        }
        let log_file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = self.command();
        cmd.args([
            "dev",
            "--local",
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--persist-to",
        ])
        .arg(state)
        .args(["--log-level", "warn", "--show-interactive-dev-session=false"])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
        let mut group = Group::spawn("wrangler dev", &mut cmd)?;
        // As lib.sh: STATE_DIR.pid holds the process group of wrangler and workerd.
        let mut pid_file = state.as_os_str().to_owned();
        pid_file.push(".pid");
        fs::write(&pid_file, format!("{}\n", group.pid()))
            .with_context(|| format!("writing {}", Path::new(&pid_file).display()))?;
        for _ in 0..1200 {
            if answers(&url, true) {
                return Ok(group);
            }
            if !group.running() {
                eprintln!("wrangler dev exited; log:");
                tail(log, 40);
                bail!("wrangler dev exited");
            }
            if interrupted() {
                return Err(ExitCode(130).into());
            }
            sleep(Duration::from_millis(500));
        }
        eprintln!("wrangler dev did not answer on port {port}; log:");
        tail(log, 40);
        Err(anyhow!("wrangler dev did not answer on port {port}"))
    }
}

/// Sets lib.sh's exported variables on a command.
pub fn with_wrangler_env(cmd: &mut Command) -> &mut Command {
    cmd.env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
}

/// Prints the last `n` lines of a file to stderr.
fn tail(path: &Path, n: usize) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(n)..] {
        eprintln!("{line}");
    }
}

//! What the browser suites (`tests/sdk`, `tests/portal`, `tests/demo`:
//! headless Chromium driven by a node script per trial) share: failing a
//! trial with a message, the named checks of a driver's result, selecting
//! trials, the edge started once for the trials that need it and stopped
//! after them (its log kept on a failure), the operator client of a started
//! edge, registering an approved public client, screenshots' directory,
//! running a node driver and reading its one JSON line, and the example
//! Rust web app's build copied and served per run.
//!
//! The static file server the apps are served from is [`crate::static_server`].

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::sync::Arc;

use libtest_mimic::{Arguments, Conclusion, Failed};
use serde_json::Value;

use crate::http::{Client, Resp};
use crate::server::{self, Edge};
use crate::static_server::StaticServer;

/// A trial's failure with `message`.
pub fn fail(message: impl Into<String>) -> Failed {
    Failed::from(message.into())
}

/// `Ok` if `ok`, else a failure with `message()`.
pub fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok {
        Ok(())
    } else {
        Err(fail(message()))
    }
}

/// Fails with the names of the checks that did not hold (and the driver's result `r`).
pub fn verdict(checks: &[(&str, bool)], r: &Value) -> Result<(), Failed> {
    let failed: Vec<&str> = checks.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    ensure(failed.is_empty(), || format!("failed checks {failed:?} in {r:#}"))
}

/// Whether the trial `name` is selected by the command line (filter, `--exact`, `--skip`).
pub fn selected(args: &Arguments, name: &str) -> bool {
    args.filter
        .as_deref()
        .is_none_or(|f| if args.exact { f == name } else { name.contains(f) })
        && !args.skip.iter().any(|s| name.contains(s.as_str()))
}

/// What a suite sets up once for its trials: started with `start` (usually
/// [`Edge::start`]) when a trial of `needing` is selected (and not for
/// `--list`), else `Err("not started")`.
pub fn set_up<S>(
    args: &Arguments,
    needing: &[&str],
    start: impl FnOnce() -> Result<S, String>,
) -> Arc<Result<S, String>> {
    let wanted = !args.list && needing.iter().any(|n| selected(args, n));
    Arc::new(if wanted {
        start()
    } else {
        Err("not started".to_string())
    })
}

/// Runs `trials`, then stops the edge of the set-up (if it started and no
/// trial still holds it), keeping wrangler's log when a trial failed.
pub fn run<S: AsMut<Edge>>(
    args: &Arguments,
    trials: Vec<libtest_mimic::Trial>,
    set_up: Arc<Result<S, String>>,
) -> ExitCode {
    let conclusion: Conclusion = libtest_mimic::run(args, trials);
    let failed = conclusion.has_failed();
    if let Ok(mut state) = Arc::try_unwrap(set_up) {
        if let Ok(s) = state.as_mut() {
            s.as_mut().stop(failed);
        }
    }
    conclusion.exit_code()
}

impl AsMut<Edge> for Edge {
    fn as_mut(&mut self) -> &mut Edge {
        self
    }
}

/// The started edge and an operator client of it (the admin token of `root`).
pub fn operator<'e>(root: &Path, edge: &'e Result<Edge, String>) -> Result<(&'e Edge, Client), Failed> {
    let edge = edge
        .as_ref()
        .map_err(|e| fail(format!("the edge did not start: {e}")))?;
    let admin = Client::new(&edge.origin, &server::admin_token(root).map_err(fail)?);
    Ok((edge, admin))
}

/// Registers the client described by `metadata` (`POST /register` with the
/// operator's token: 201) and approves it; its `client_id`.
pub fn register_approved(admin: &Client, metadata: &Value) -> Result<String, Failed> {
    let r = admin
        .post("/register", "application/json", metadata.to_string())
        .send();
    if r.status != 201 {
        return Err(fail(format!("POST /register: {} {}", r.status, r.body)));
    }
    let id = r.json()["client_id"].as_str().unwrap_or_default().to_string();
    admin
        .post(&format!("/admin/clients/{id}/approve"), "application/json", "{}")
        .send()
        .expect_status(200);
    Ok(id)
}

/// `POST /admin/users` with `user` (username, password, practice, fhirUser, …); the answer.
pub fn add_user(admin: &Client, user: &Value) -> Resp {
    admin
        .post("/admin/users", "application/json", user.to_string())
        .send()
}

/// The screenshots' directory of a suite: `target/screenshots/{suite}`.
pub fn screenshots(root: &Path, suite: &str) -> PathBuf {
    root.join("target/screenshots").join(suite)
}

/// Runs a node driver (`cmd`, run from `root`) and reads the JSON object it
/// prints last on stdout; `what` names it in the message when that is not JSON.
pub fn drive_node(cmd: &mut Command, root: &Path, what: &str) -> Result<(Output, Value), Failed> {
    let out = cmd
        .current_dir(root)
        .output()
        .map_err(|e| fail(format!("cannot run node: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or("")).map_err(|e| {
        fail(format!(
            "{what} output is not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    Ok((out, r))
}

/// `pkg/dist` is built (scripts/build-sdk.sh).
pub fn sdk_built(root: &Path) -> Result<(), String> {
    if root.join("pkg/dist/flare_sdk_bg.wasm").is_file() {
        Ok(())
    } else {
        Err("pkg/dist is not built: run scripts/build-sdk.sh".to_string())
    }
}

/// The example Rust web app's build (`target/sdk-rust-app`, scripts/build-sdk.sh).
pub fn rust_app_built(root: &Path) -> Result<PathBuf, Failed> {
    let dir = root.join("target/sdk-rust-app");
    for f in ["index.html", "rust_app.js", "rust_app_bg.wasm"] {
        ensure(dir.join(f).is_file(), || {
            format!("{} is not built: run scripts/build-sdk.sh", dir.join(f).display())
        })?;
    }
    Ok(dir)
}

/// A copy of the example Rust web app's build in a directory of its own
/// (removed on drop), served on 127.0.0.1 from its own origin. Its page is
/// written by [`RustAppCopy::configure`] once a client is registered for
/// that origin (files are read per request).
pub struct RustAppCopy {
    /// The static server of the copy (origin `http://127.0.0.1:PORT`).
    pub server: StaticServer,
    /// The copy.
    pub dir: PathBuf,
    built: PathBuf,
}

impl RustAppCopy {
    /// Copies the build into `target/{name}-{pid}` and serves it.
    pub fn serve(root: &Path, name: &str) -> Result<RustAppCopy, Failed> {
        let built = rust_app_built(root)?;
        let dir = root.join(format!("target/{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
        for f in ["rust_app.js", "rust_app_bg.wasm"] {
            std::fs::copy(built.join(f), dir.join(f)).map_err(|e| fail(format!("{f}: {e}")))?;
        }
        let server = StaticServer::start_dir(&dir).map_err(fail)?;
        Ok(RustAppCopy { server, dir, built })
    }

    /// The served port.
    pub fn port(&self) -> &str {
        self.server.origin.rsplit(':').next().unwrap_or_default()
    }

    /// Writes the app's page, configured for `client_id` ([`configure_rust_app`]).
    pub fn configure(&self, client_id: &str, iss: &str, scope: &str) -> Result<(), Failed> {
        let template =
            std::fs::read_to_string(self.built.join("index.html")).map_err(|e| fail(e.to_string()))?;
        let page = configure_rust_app(&template, client_id, iss, scope)?;
        std::fs::write(self.dir.join("index.html"), page).map_err(|e| fail(e.to_string()))
    }
}

impl Drop for RustAppCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The example app's page with its configuration: `template`'s `<body …>`
/// tag replaced by one carrying the client id, the FHIR base and the scopes
/// as data attributes (what `sdk/examples/rust_app.rs` reads).
pub fn configure_rust_app(template: &str, client_id: &str, iss: &str, scope: &str) -> Result<String, Failed> {
    let start = template
        .find("<body")
        .ok_or_else(|| fail("the app's index.html has no <body> tag"))?;
    let end = start
        + template[start..]
            .find('>')
            .ok_or_else(|| fail("the app's <body> tag is not closed"))?
        + 1;
    let attr = |v: &str| {
        v.replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
    };
    Ok(format!(
        "{}<body data-client-id=\"{}\" data-iss=\"{}\" data-scope=\"{}\">{}",
        &template[..start],
        attr(client_id),
        attr(iss),
        attr(scope),
        &template[end..]
    ))
}

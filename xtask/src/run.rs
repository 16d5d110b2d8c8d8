//! `cargo xtask run`: what `scripts/run.sh` did after set-up. Builds the Worker,
//! applies the D1 migrations, seeds demo data on first start, and serves the
//! edge on http://127.0.0.1:8787 (FHIR base http://127.0.0.1:8787/fhir) and the
//! demo app on :8788 until Ctrl-C, which stops wrangler (and workerd) and the
//! demo server, each in its own process group. State persists in
//! `.flare/state`; `scripts/reset.sh` wipes it.

use std::fs;
use std::io::{stderr, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

use crate::process::{self, command, output, with_wrangler_env, Group, Wrangler};

fn env_port(name: &str, default: u16) -> Result<u16> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| format!("{name}={v} is not a port")),
        _ => Ok(default),
    }
}

/// A command with lib.sh's exported variables, run from the repository root.
fn cmd(root: &Path, program: &str) -> Command {
    let mut c = command(program);
    c.current_dir(root);
    with_wrangler_env(&mut c);
    c
}

fn curl(root: &Path, args: &[&str]) -> Result<String> {
    let mut c = cmd(root, "curl");
    c.arg("-sf").args(args);
    output(&mut c)
}

/// The admin token: `sed -n 's/^ADMIN_TOKEN=//p' edge/.dev.vars`.
fn admin_token(root: &Path) -> Result<String> {
    let path = root.join("edge/.dev.vars");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let values: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ADMIN_TOKEN="))
        .collect();
    Ok(values.join("\n"))
}

/// The output of a command substitution: without its trailing newlines.
fn trim_nl(s: String) -> String {
    s.trim_end_matches('\n').to_string()
}

fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs Flare locally until Ctrl-C (or until wrangler dev exits).
pub fn run(root: &Path) -> Result<()> {
    process::catch_interrupts()?;
    let port = env_port("FLARE_PORT", 8787)?;
    let app_port = env_port("FLARE_DEMO_PORT", 8788)?;
    let flare = root.join(".flare");
    let state = flare.join("state");
    let demo = flare.join("demo");
    fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let wrangler = Wrangler {
        root: root.to_path_buf(),
    };
    wrangler.migrate(&state)?;

    eprintln!("building and starting the edge (the first build takes a few minutes)...");
    // Dropped last: stops wrangler's process group on every way out.
    let mut edge = wrangler.start_edge(&state, port, &flare.join("wrangler.log"))?;
    let base = format!("http://127.0.0.1:{port}");
    let token = admin_token(root)?;
    let auth = format!("Authorization: Bearer {token}");

    let practices = trim_nl(curl(root, &["-H", &auth, &format!("{base}/admin/practices")])?);
    if practices == r#"{"practices":[]}"# {
        let patients = std::env::var("FLARE_DEMO_PATIENTS")
            .ok()
            .filter(|v| !v.is_empty());
        let patients = patients.as_deref().unwrap_or("24");
        eprintln!("seeding demo data: {patients} generated patients in two practices...");
        let mut synth = cmd(root, "cargo");
        synth
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "flare-synth",
                "--",
                "--patients",
                patients,
                "--out",
            ])
            .arg(&demo)
            .stderr(Stdio::null());
        process::run(&mut synth)?;
        let list_path = demo.join("practices.json");
        let list: Value = serde_json::from_str(
            &fs::read_to_string(&list_path).with_context(|| format!("reading {}", list_path.display()))?,
        )
        .with_context(|| format!("parsing {}", list_path.display()))?;
        for p in list
            .as_array()
            .ok_or_else(|| anyhow!("{} is not a list", list_path.display()))?
        {
            let field = |k: &str| p.get(k).map(js_string).unwrap_or_else(|| "undefined".to_string());
            let key = field("key");
            let body = serde_json::json!({ "name": p.get("name"), "organizationId": p.get("organizationId"),
                    "npi": p.get("npi"), "address": p.get("address") });
            curl(
                root,
                &[
                    "-X",
                    "PUT",
                    "-H",
                    &auth,
                    "-H",
                    "content-type: application/json",
                    "--data",
                    &body.to_string(),
                    &format!("{base}/admin/practices/{key}"),
                ],
            )?;
            let mut import = cmd(root, "bash");
            import
                .env("FLARE_URL", &base)
                .args(["scripts/import.sh", "--practice", &key])
                .arg(demo.join(format!("{key}.ndjson")))
                .stdout(stderr());
            process::run(&mut import)?;
        }
    }

    // Idempotent: adds what is missing (users, practice administrators, PINs, apps).
    eprintln!("seeding demo users, practice PINs and apps...");
    let apps_file = flare.join("demo-apps.json");
    let mut seed = cmd(root, "node");
    seed.env("FLARE_DEMO_APP_ORIGIN", format!("http://127.0.0.1:{app_port}"))
        .arg("scripts/seed-auth.mjs")
        .args([&base, &token])
        .arg(&apps_file);
    process::run(&mut seed)?;
    let apps: Value = serde_json::from_str(
        &fs::read_to_string(&apps_file).with_context(|| format!("reading {}", apps_file.display()))?,
    )
    .with_context(|| format!("parsing {}", apps_file.display()))?;
    let pins = apps
        .get("pins")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {}", js_string(v)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();

    // The demo patient app: built on the SDK package (pkg/) with esbuild, served
    // from its own origin (port 8788, the redirect URI of flare-demo-patient-app).
    if !root.join("pkg/dist/flare_sdk_bg.wasm").is_file() {
        eprintln!("building the SDK (pkg/dist) for the demo app...");
        let mut sdk = cmd(root, "scripts/build-sdk.sh");
        sdk.stdout(stderr());
        process::run(&mut sdk)?;
    }
    let mut build = cmd(root, "node");
    build.arg("demo-app/build.mjs");
    process::run(&mut build)?;
    let app_log_path = flare.join("demo-app.log");
    let app_log =
        fs::File::create(&app_log_path).with_context(|| format!("creating {}", app_log_path.display()))?;
    let mut serve = cmd(root, "node");
    serve
        .env("FLARE_ISS", format!("{base}/fhir"))
        .args(["demo-app/serve.mjs", "--port", &app_port.to_string()])
        .stdin(Stdio::null())
        .stdout(app_log.try_clone()?)
        .stderr(app_log);
    // Declared after `edge`, so dropped (stopped) first.
    let _app = Group::spawn("demo app server", &mut serve)?;
    let app = format!("http://127.0.0.1:{app_port}");
    let practices = trim_nl(curl(root, &["-H", &auth, &format!("{base}/admin/practices")])?);

    let info = format!(
        "
Flare is running.
  FHIR base:        {base}/fhir   (CapabilityStatement: {base}/fhir/metadata)
  Service base:     {base}/fhir   (Endpoint + Organization per practice, no token)
  Admin token:      {token}   (edge/.dev.vars; also a system-level read token)
  SMART discovery:  {base}/fhir/.well-known/smart-configuration
  Demo sign-ins:    northside-clinician, northside-patient1, northside-patient2 (and lakeshore-…),
                    password Flare-demo-2026
  Demo apps:        flare-demo-patient-app (public), flare-demo-confidential-app (secret),
                    flare-demo-asymmetric-app (ES384 key), flare-demo-backend-service (RS384 key);
                    secrets and private keys in .flare/demo-apps.json
  Patient portal:   {base}/portal   (connected apps, Revoke, access history)
  Developer portal: {base}/developer   (sign up, register an app with a practice PIN)
  Practice PINs:    {pins}
  Practice admin:   {base}/practice   (northside-admin, lakeshore-admin; password Flare-demo-2026)
  Demo app:         {app}/   (sign in as northside-patient1, or as northside-clinician and pick a patient)
  EHR simulator:    {base}/ehr   (sign in as northside-clinician, pick a patient and the demo app: it opens in a frame)
  Practices:        {practices}
  Try:              curl -H 'Authorization: Bearer {token}' '{base}/fhir/Patient?_count=5'
  Logs:             .flare/wrangler.log      Stop: Ctrl-C      Wipe: scripts/reset.sh
"
    );
    print!("{info}");
    std::io::stdout().flush()?;
    while edge.running() {
        if process::interrupted() {
            eprintln!("stopping Flare...");
            return Err(process::ExitCode(130).into());
        }
        sleep(Duration::from_millis(250));
    }
    Ok(())
}

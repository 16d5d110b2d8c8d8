//! End-to-end tests of the developer portal and practice administration in
//! headless Chromium (`drive.mjs`, playwright-core with `/usr/bin/chromium`)
//! against a real `wrangler dev`:
//!
//! - `portal::developer_journey`: sign-up with the password rule shown live,
//!   registration with the practice's PIN, Pending Review, the practice
//!   administrator's approval, the client secret shown once, a SMART
//!   authorization-code launch with those credentials and a FHIR read, a
//!   scope change (the old token works until approval, then a refresh token
//!   and the new scopes), secret rotation (the old secret is refused) and
//!   the practice disabling the app (its tokens stop).
//! - `portal::error_paths`: a weak password without JavaScript, a wrong PIN,
//!   a bad and an unparsable JWKS, a duplicate redirect URI, a wrong and a
//!   missing CSRF token, another practice's administrator trying to approve,
//!   and a patient trying the practice administration sign-in.
//!
//! Screenshots of the key screens go to `target/screenshots/portal/` (and
//! `…-FAILURE.png` on a failure). `cargo test -p flare-tests --test portal`
//! (set `FLARE_E2E_PORT`); needs `/usr/bin/chromium` and the npm
//! devDependencies (scripts/setup.sh).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::path::Path;
use std::process::{Command, ExitCode};

use flare_tests::browser::{self, fail, operator};
use flare_tests::fhir::put_entry as put;
use flare_tests::http::Client;
use flare_tests::server::{self, Edge};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

const JOURNEY_TRIAL: &str = "portal::developer_journey";
const ERRORS_TRIAL: &str = "portal::error_paths";
const PRACTICE: &str = "portalp";
const OTHER_PRACTICE: &str = "portalq";
const PIN: &str = "portal-2468";
const PASSWORD: &str = "Portal-e2e-2026!";

/// Two practices, each with a patient, a practitioner, a patient user, a
/// practice administrator and a PIN. Idempotent (both trials call it).
fn seed(admin: &Client) {
    for (key, name, pin) in [
        (PRACTICE, "Portal Clinic", PIN),
        (OTHER_PRACTICE, "Other Clinic", "other-1357"),
    ] {
        admin
            .put_json(
                &format!("/admin/practices/{key}"),
                &flare_tests::practice::practice(name),
            )
            .send()
            .expect_status(200);
        admin.import_ok(
            key,
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                put(json!({"resourceType": "Patient", "id": format!("{key}-pat"), "name": [{"family": "Portalfamily", "given": ["Pia"]}]})),
                put(json!({"resourceType": "Practitioner", "id": format!("{key}-doc"), "name": [{"family": "Admin"}]})),
                put(json!({"resourceType": "Observation", "id": format!("{key}-obs"), "status": "final", "code": {"text": "HbA1c"},
                    "subject": {"reference": format!("Patient/{key}-pat")}})),
            ]}),
        );
        for (username, fhir_user, role) in [
            (
                format!("{key}-patient"),
                format!("Patient/{key}-pat"),
                "test_patient",
            ),
            (
                format!("{key}-admin"),
                format!("Practitioner/{key}-doc"),
                "practice_admin",
            ),
        ] {
            let r = browser::add_user(
                admin,
                &json!({"username": username, "password": PASSWORD, "practice": key, "fhirUser": fhir_user,
                        "name": format!("{username} (demo)"), "role": role}),
            );
            assert!(
                matches!(r.status, 201 | 409),
                "POST /admin/users {username}: {} {}",
                r.status,
                r.body
            );
        }
        admin
            .put_json(&format!("/admin/practices/{key}/pin"), &json!({"pin": pin}))
            .send()
            .expect_status(200);
    }
}

fn drive(root: &Path, edge: &Result<Edge, String>, mode: &str) -> Result<Value, Failed> {
    let (edge, admin) = operator(root, edge)?;
    seed(&admin);
    let shots = browser::screenshots(root, "portal");
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let (out, r) = browser::drive_node(
        Command::new("node")
            .arg(root.join("tests/portal/drive.mjs"))
            .env("EDGE", &edge.origin)
            .env("MODE", mode)
            .env("SHOTS", &shots)
            .env("RUN", &run)
            .env("PRACTICE", PRACTICE)
            .env("OTHER_PRACTICE", OTHER_PRACTICE)
            .env("PIN", PIN)
            .env("PATIENT_USER", format!("{PRACTICE}-patient"))
            .env("PATIENT_ID", format!("{PRACTICE}-pat"))
            .env("ADMIN_USER", format!("{PRACTICE}-admin"))
            .env("OTHER_ADMIN_USER", format!("{OTHER_PRACTICE}-admin"))
            .env("PASSWORD", PASSWORD),
        root,
        "driver",
    )?;
    if r["ok"] != true || !out.status.success() {
        return Err(fail(format!(
            "{mode} failed (screenshot {}): {r:#}",
            shots.join(format!("{mode}-FAILURE.png")).display()
        )));
    }
    Ok(r)
}

fn journey(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    let r = drive(root, edge, "journey")?;
    let (_, admin) = operator(root, edge)?;
    let id = r["facts"]["clientId"].as_str().unwrap_or_default();
    // What the pages did is what the admin API sees.
    let client = admin
        .get(&format!("/admin/clients/{id}"))
        .send()
        .expect_status(200)
        .json();
    let expected = [
        ("status", json!("disabled")),
        ("status_reason", json!("Paused for review")),
        ("practice", json!(PRACTICE)),
        ("token_endpoint_auth_method", json!("client_secret_basic")),
        (
            "scope",
            json!("launch/patient patient/Patient.rs patient/Observation.rs offline_access"),
        ),
    ];
    for (k, v) in expected {
        if client[k] != v {
            return Err(fail(format!(
                "client {k} is {} (expected {v}): {client:#}",
                client[k]
            )));
        }
    }
    if r["facts"]["firstRead"] != 200 || r["facts"]["afterDisable"] != 401 {
        return Err(fail(format!("unexpected facts {r:#}")));
    }
    Ok(())
}

fn errors(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    let r = drive(root, edge, "errors")?;
    let (_, admin) = operator(root, edge)?;
    let id = r["facts"]["clientId"].as_str().unwrap_or_default();
    let client = admin
        .get(&format!("/admin/clients/{id}"))
        .send()
        .expect_status(200)
        .json();
    if client["status"] != "pending" {
        return Err(fail(format!(
            "the other practice's admin changed the app: {client:#}"
        )));
    }
    // The refused forms registered nothing.
    let listed = admin
        .get(&format!("/admin/clients?practice={PRACTICE}"))
        .send()
        .expect_status(200)
        .json();
    let names: Vec<&str> = listed["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["client_name"].as_str())
        .collect();
    for refused in ["Wrong PIN app", "Bad keys app", "Dup app", "CSRF app"] {
        if names.contains(&refused) {
            return Err(fail(format!("{refused} was registered: {names:?}")));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    server::install_signal_handler();
    let root = server::repo_root();
    let edge = browser::set_up(&args, &[JOURNEY_TRIAL, ERRORS_TRIAL], || Edge::start(&root));
    let (r1, r2, e1, e2) = (root.clone(), root.clone(), edge.clone(), edge.clone());
    let trials = vec![
        Trial::test(JOURNEY_TRIAL, move || journey(&r1, &e1)),
        Trial::test(ERRORS_TRIAL, move || errors(&r2, &e2)),
    ];
    browser::run(&args, trials, edge)
}

//! End-to-end tests of the demo patient app (`demo-app/`), the EHR simulator
//! (`/ehr`) and the patient portal (`/portal`) in headless Chromium, against
//! a real `wrangler dev` holding generated demo data (`flare-synth`):
//!
//! - `demo::patient_standalone_launch`: a patient signs in and consents; the
//!   summary shows that patient's records (compared with the generated
//!   data: banner, allergies, problems, labs with ranges and flags, vital-sign
//!   charts, notes inline and by URL), keyboard order, a 429 shown with a
//!   retry, and a phone-sized layout without horizontal scrolling.
//! - `demo::provider_standalone_launch_with_patient_picker`: a clinician
//!   signs in, searches the picker, picks another patient; the summary is theirs.
//! - `demo::ehr_launch_in_an_iframe`: the EHR simulator launches the app in
//!   its iframe, once from another site (the app's frame has no storage:
//!   the launch completes through the app's popup) without a banner and with
//!   the EHR's style, once from the same site in the frame with a banner.
//! - `demo::rust_app_ehr_launch_in_an_iframe`: the same for the example Rust
//!   web app (`sdk/examples/rust_app.rs`, its build `target/sdk-rust-app`
//!   copied per run, page configured for its client, served by
//!   tests/src/static_server.rs; registered with `{origin}/` as redirect URI
//!   and launch URL): from `localhost` (another site) its `#connect` runs the
//!   launch in a popup that the EHR session signs in, and the result (launch
//!   patient and encounter, lab searches, the lab list) is in the frame; from
//!   `127.0.0.1` (the same site) the launch completes in the frame.
//! - `demo::record_data_is_shown_as_text`: markup and scripts in a record's
//!   name, allergy, lab result and note are shown as text; nothing runs.
//! - `demo::limited_consent`: unticked types are shown as not shared and the
//!   server answers 403 for them with the app's token.
//! - `demo::revocation_from_the_portal`: the portal lists the app and its
//!   reads; Revoke; the app's next requests get 401, it offers to reconnect,
//!   and reconnecting works with a new token.
//! - `demo::token_expiry_refreshes_silently`: a client with 12-second access
//!   tokens keeps working after they expire (a refresh, no prompt).
//!
//! `cargo test -p flare-tests --test demo`. Needs `pkg/dist` and
//! `target/sdk-rust-app` (scripts/build-sdk.sh), `/usr/bin/chromium` and the npm devDependencies
//! (scripts/setup.sh). Screenshots of every key screen go to
//! `target/screenshots/demo/` (`<scenario>-failure.png` on failure).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use flare_tests::browser::{self, fail, register_approved, verdict, RustAppCopy};
use flare_tests::http::Client;
use flare_tests::server::{self, Edge};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

const PASSWORD: &str = "Demo-e2e-2026!";
const PRACTICE: &str = "northside";
const PATIENT_1: &str = "northside-pat-1";
const PATIENT_2: &str = "northside-pat-2";
const HOSTILE: &str = "northside-hostile";
const SCOPE: &str = "openid fhirUser launch launch/patient offline_access patient/*.rs";

/// What every trial shares: the edge, the admin client and the generated data.
struct World {
    root: PathBuf,
    edge: Edge,
    admin: Client,
    data: Vec<Value>,
}

impl AsMut<Edge> for World {
    fn as_mut(&mut self) -> &mut Edge {
        &mut self.edge
    }
}

impl World {
    fn start(root: &Path) -> Result<World, String> {
        browser::sdk_built(root)?;
        let out = Command::new("node")
            .arg(root.join("demo-app/build.mjs"))
            .current_dir(root)
            .output()
            .map_err(|e| format!("cannot run node: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "demo-app/build.mjs failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let edge = Edge::start(root)?;
        let admin = Client::new(&edge.origin, &server::admin_token(root)?);
        let mut config = flare_synth::Config::demo(4);
        config.practices.truncate(1);
        let mut data = Vec::new();
        flare_synth::generate(&config, &mut |_, v| data.push(v));
        admin
            .put_json(
                &format!("/admin/practices/{PRACTICE}"),
                &flare_tests::practice::practice_with_organization("Northside Oncology", "northside-org"),
            )
            .send()
            .expect_status(200);
        for batch in data.chunks(2000) {
            let r = admin.import_ndjson(PRACTICE, batch);
            if r.status != 200 {
                return Err(format!("import: {} {}", r.status, r.body));
            }
        }
        // A patient whose record carries markup where text belongs.
        let hostile = |x: &str| {
            format!("<img src=x onerror=\"window.__xss='{x}'\"><script>window.__xss='{x}'</script>")
        };
        let subject = json!({"reference": format!("Patient/{HOSTILE}")});
        let note = base64::engine::general_purpose::STANDARD.encode(format!("Note {}", hostile("note")));
        let hostile_records = vec![
            json!({"resourceType": "Patient", "id": HOSTILE, "name": [{"family": "Hostile", "given": [hostile("name")]}],
                   "birthDate": "1980-01-01", "gender": "other"}),
            json!({"resourceType": "AllergyIntolerance", "id": "hostile-allergy", "patient": subject,
                   "code": {"text": hostile("allergy")}, "reaction": [{"manifestation": [{"text": hostile("reaction")}]}]}),
            json!({"resourceType": "Observation", "id": "hostile-lab", "status": "final", "subject": subject,
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                   "code": {"text": hostile("lab")}, "effectiveDateTime": "2024-01-01", "valueString": hostile("value"),
                   "referenceRange": [{"text": hostile("range")}]}),
            json!({"resourceType": "DocumentReference", "id": "hostile-doc", "status": "current", "subject": subject,
                   "date": "2024-01-02", "type": {"text": hostile("kind")},
                   "content": [{"attachment": {"contentType": "text/html", "data": note, "title": hostile("title")}}]}),
        ];
        let r = admin.import_ndjson(PRACTICE, &hostile_records);
        if r.status != 200 {
            return Err(format!("import: {} {}", r.status, r.body));
        }
        for (username, fhir_user) in [
            ("demo-patient1", format!("Patient/{PATIENT_1}")),
            ("demo-patient2", format!("Patient/{PATIENT_2}")),
            ("demo-clinician", "Practitioner/northside-prac-1".to_string()),
        ] {
            let r = browser::add_user(
                &admin,
                &json!({"username": username, "password": PASSWORD, "practice": PRACTICE,
                        "fhirUser": fhir_user, "name": format!("Demo {username}")}),
            );
            if r.status != 201 {
                return Err(format!("POST /admin/users {username}: {} {}", r.status, r.body));
            }
        }
        Ok(World {
            root: root.to_path_buf(),
            edge,
            admin,
            data,
        })
    }

    /// The generated records of `patient` of one type.
    fn records(&self, patient: &str, rtype: &str) -> Vec<&Value> {
        let subject = format!("Patient/{patient}");
        self.data
            .iter()
            .filter(|r| r["resourceType"] == rtype)
            .filter(|r| {
                [&r["subject"], &r["patient"], &r["beneficiary"]]
                    .iter()
                    .any(|s| s["reference"] == subject.as_str())
            })
            .collect()
    }

    fn patient(&self, id: &str) -> Option<&Value> {
        self.data
            .iter()
            .find(|r| r["resourceType"] == "Patient" && r["id"] == id)
    }

    /// Registers and approves a public client for the app at `origin`
    /// (redirect URI `{origin}/`, launch URL `{origin}/launch.html`).
    fn register(&self, name: &str, origin: &str, lifetime: Option<u32>) -> Result<String, Failed> {
        self.register_at(
            name,
            &format!("{origin}/"),
            &format!("{origin}/launch.html"),
            lifetime,
        )
    }

    /// Registers and approves a public client with one redirect URI and its launch URL.
    fn register_at(
        &self,
        name: &str,
        redirect_uri: &str,
        launch_uri: &str,
        lifetime: Option<u32>,
    ) -> Result<String, Failed> {
        let mut body = json!({"client_name": name, "redirect_uris": [redirect_uri],
            "launch_uri": launch_uri, "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "scope": SCOPE, "practice": PRACTICE});
        if let Some(s) = lifetime {
            body["access_token_lifetime"] = json!(s);
        }
        register_approved(&self.admin, &body)
    }

    /// The id of `patient`'s first Encounter ("?" when it has none).
    fn first_encounter(&self, patient: &str) -> String {
        self.records(patient, "Encounter")
            .first()
            .and_then(|e| e["id"].as_str())
            .unwrap_or("?")
            .to_string()
    }

    /// A FHIR GET with an app's token: the status.
    fn status_with(&self, token: &str, path: &str) -> u16 {
        self.admin.get(path).token(token).send().status
    }
}

/// The demo app's static server (`demo-app/serve.mjs`) on a free port.
struct AppServer {
    child: Child,
    port: u16,
}

impl AppServer {
    fn start(world: &World, client_id: Option<&str>) -> Result<AppServer, Failed> {
        let mut cmd = Command::new("node");
        cmd.arg(world.root.join("demo-app/serve.mjs"))
            .args(["--port", "0"])
            .env("FLARE_ISS", format!("{}/fhir", world.edge.origin))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(id) = client_id {
            cmd.env("FLARE_CLIENT_ID", id);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot start serve.mjs: {e}")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| fail(format!("serve.mjs printed {line:?}")))?;
        Ok(AppServer { child, port })
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers a client for an app server whose client id is only known
/// after registration: the server starts first (its port is the redirect
/// URI's), is stopped, and restarted on the same port with the id.
fn app_for(
    world: &World,
    name: &str,
    host: &str,
    lifetime: Option<u32>,
) -> Result<(AppServer, String, String), Failed> {
    let probe = AppServer::start(world, None)?;
    let port = probe.port;
    drop(probe);
    let origin = format!("http://{host}:{port}");
    let client_id = world.register(name, &origin, lifetime)?;
    let mut cmd = Command::new("node");
    cmd.arg(world.root.join("demo-app/serve.mjs"))
        .args(["--port", &port.to_string()])
        .env("FLARE_ISS", format!("{}/fhir", world.edge.origin))
        .env("FLARE_CLIENT_ID", &client_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start serve.mjs: {e}")))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if !line.trim().ends_with(&format!(":{port}")) {
        let _ = child.kill();
        return Err(fail(format!("serve.mjs on {port} printed {line:?}")));
    }
    Ok((AppServer { child, port }, client_id, origin))
}

/// Runs `drive.mjs` with `scenario` and the given environment; its JSON result.
fn drive(world: &World, scenario: &str, vars: &[(&str, &str)]) -> Result<Value, Failed> {
    let shots = browser::screenshots(&world.root, "demo");
    let mut cmd = Command::new("node");
    cmd.arg(world.root.join("tests/demo/drive.mjs"))
        .env("SCENARIO", scenario)
        .env("EDGE", &world.edge.origin)
        .env("PASSWORD", PASSWORD)
        .env("SHOTS", &shots);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let (_, r) = browser::drive_node(&mut cmd, &world.root, "driver")?;
    if r["ok"] != true {
        return Err(fail(format!(
            "the {scenario} scenario failed (screenshot {}/{scenario}-failure.png): {r:#}",
            shots.display()
        )));
    }
    Ok(r)
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A CodeableConcept's text as the app shows it.
fn concept_text(c: &Value) -> String {
    c["text"]
        .as_str()
        .or_else(|| c["coding"][0]["display"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The patient's name as the app's banner shows it (official name: prefixes, given names, family).
fn banner_name(p: &Value) -> String {
    let n = &p["name"][0];
    let mut parts = texts(&n["prefix"]);
    parts.extend(texts(&n["given"]));
    parts.extend(n["family"].as_str().map(str::to_string));
    parts.join(" ")
}

fn has_category(r: &Value, code: &str) -> bool {
    r["category"].as_array().is_some_and(|cats| {
        cats.iter().any(|c| {
            c["coding"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|x| x["code"] == code))
        })
    })
}

fn has_code(r: &Value, code: &str) -> bool {
    r["code"]["coding"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|x| x["code"] == code))
}

fn all_loaded(summary: &Value) -> bool {
    summary["states"]
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.values().all(|s| s == "loaded"))
}

/// The checks of a summary against the generated records of `patient`.
fn summary_checks<'a>(world: &World, patient: &str, s: &Value) -> Vec<(&'a str, bool)> {
    let p = world.patient(patient).cloned().unwrap_or(Value::Null);
    let allergies: Vec<String> = world
        .records(patient, "AllergyIntolerance")
        .iter()
        .map(|a| concept_text(&a["code"]))
        .collect();
    let labs: Vec<&Value> = world
        .records(patient, "Observation")
        .into_iter()
        .filter(|o| has_category(o, "laboratory"))
        .collect();
    let lab_names: Vec<String> = labs.iter().map(|o| concept_text(&o["code"])).collect();
    let high = labs
        .iter()
        .filter(|o| o["interpretation"][0]["coding"][0]["code"] == "H")
        .count();
    let vitals: Vec<&Value> = world
        .records(patient, "Observation")
        .into_iter()
        .filter(|o| has_category(o, "vital-signs"))
        .collect();
    let count = |code: &str| vitals.iter().filter(|o| has_code(o, code)).count() as u64;
    let docs = world.records(patient, "DocumentReference");
    let reports = world.records(patient, "DiagnosticReport");
    let notes = docs
        .iter()
        .map(|d| d["content"].as_array().map_or(0, Vec::len))
        .sum::<usize>()
        + reports
            .iter()
            .map(|r| r["presentedForm"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
    let linked = docs
        .iter()
        .filter(|d| d["content"][0]["attachment"]["url"].is_string())
        .count();
    let shown_notes = s["notes"].as_array().cloned().unwrap_or_default();
    let problems: Vec<String> = world
        .records(patient, "Condition")
        .iter()
        .filter(|c| has_category(c, "problem-list-item") || has_category(c, "health-concern"))
        .map(|c| concept_text(&c["code"]))
        .collect();
    let shown_problems = texts(&s["problems"]);
    let lab_rows = s["labs"].as_array().cloned().unwrap_or_default();
    let ranges_shown = lab_rows
        .iter()
        .filter(|r| r[2].as_str().is_some_and(|x| x != "—"))
        .count();
    vec![
        ("every section loaded", all_loaded(s)),
        (
            "banner is the patient's name",
            s["banner"] == banner_name(&p).as_str(),
        ),
        (
            "allergies are the patient's",
            sorted(texts(&s["allergies"])) == sorted(allergies),
        ),
        (
            "every problem and health concern shown",
            problems.iter().all(|x| shown_problems.contains(x)),
        ),
        (
            "immunizations counted",
            s["immunizations"].as_array().map(Vec::len) == Some(world.records(patient, "Immunization").len()),
        ),
        (
            "procedures counted",
            s["procedures"].as_array().map(Vec::len) == Some(world.records(patient, "Procedure").len()),
        ),
        (
            "goals shown",
            texts(&s["goals"])
                == world
                    .records(patient, "Goal")
                    .iter()
                    .map(|g| concept_text(&g["description"]))
                    .collect::<Vec<_>>(),
        ),
        (
            "coverage shown",
            s["coverage"].as_array().map(Vec::len) == Some(world.records(patient, "Coverage").len()),
        ),
        ("care team members shown", !texts(&s["careteam"]).is_empty()),
        (
            "lab rows are the patient's lab results",
            sorted(
                lab_rows
                    .iter()
                    .filter_map(|r| r[0].as_str().map(str::to_string))
                    .collect(),
            ) == sorted(lab_names),
        ),
        (
            "reference ranges shown",
            ranges_shown == labs.len() && !labs.is_empty(),
        ),
        (
            "high results flagged H",
            lab_rows
                .iter()
                .filter(|r| r[3].as_str().is_some_and(|f| f.starts_with("H ·")))
                .count()
                == high,
        ),
        (
            "blood pressure chart: systolic and diastolic per reading",
            s["charts"]["chart-bp"]["points"] == 2 * count("85354-9")
                && s["charts"]["chart-bp"]["series"] == 2,
        ),
        (
            "weight chart",
            s["charts"]["chart-weight"]["points"] == count("29463-7"),
        ),
        (
            "BMI chart",
            s["charts"]["chart-bmi"]["points"] == count("39156-5"),
        ),
        (
            "heart-rate chart",
            s["charts"]["chart-hr"]["points"] == count("8867-4"),
        ),
        (
            "charts are lines over time with a text alternative",
            ["chart-bp", "chart-weight", "chart-bmi", "chart-hr"]
                .iter()
                .all(|c| {
                    s["charts"][c]["hasLine"] == true
                        && s["charts"][c]["desc"]
                            .as_str()
                            .is_some_and(|d| d.contains("Latest"))
                }),
        ),
        ("every note listed", shown_notes.len() == notes),
        (
            "notes by URL listed",
            shown_notes.iter().filter(|n| n["source"] == "linked").count() == linked && linked > 0,
        ),
        (
            "nothing failed",
            s["errors"].as_array().is_some_and(Vec::is_empty),
        ),
    ]
}

fn patient_trial(world: &World) -> Result<(), Failed> {
    let (app, client_id, origin) = app_for(world, "Demo app (patient)", "127.0.0.1", None)?;
    let r = drive(
        world,
        "patient",
        &[
            ("APP_URL", &format!("{origin}/")),
            ("CLIENT_ID", &client_id),
            ("USERNAME", "demo-patient1"),
        ],
    )?;
    drop(app);
    let s = &r["summary"];
    let p = world.patient(PATIENT_1).cloned().unwrap_or(Value::Null);
    let summary_doc = world
        .records(PATIENT_1, "DocumentReference")
        .into_iter()
        .find(|d| d["content"][0]["attachment"]["url"].is_string())
        .cloned()
        .unwrap_or(Value::Null);
    let binary_text = world
        .data
        .iter()
        .find(|b| {
            b["resourceType"] == "Binary"
                && summary_doc["content"][0]["attachment"]["url"].as_str()
                    == Some(&format!("Binary/{}", b["id"].as_str().unwrap_or("")))
        })
        .and_then(|b| b["data"].as_str())
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    let mrn = p["identifier"][0]["value"].as_str().unwrap_or("?");
    let mut checks = summary_checks(world, PATIENT_1, s);
    checks.extend([
        (
            "code and state gone from the address bar",
            r["addressBar"] == format!("{origin}/").as_str(),
        ),
        ("MRN in the banner", s["mrn"] == mrn),
        (
            "the consent page offered each type the app asked for",
            r["offered"]
                .as_array()
                .is_some_and(|o| o.len() >= 14 && o.iter().any(|x| x["value"] == "patient/Observation.rs")),
        ),
        (
            "inline note opened",
            r["inlineNote"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("MRN: {mrn}"))),
        ),
        (
            "note by URL fetched with the token (the Binary's text)",
            !binary_text.is_empty()
                && r["linkedNote"]
                    .as_str()
                    .is_some_and(|t| t.contains(binary_text.lines().nth(2).unwrap_or("?"))),
        ),
        (
            "skip link first in keyboard order",
            r["firstTab"] == "Skip to the summary",
        ),
        ("then the app's controls", r["secondTab"] == "refresh-data"),
        (
            "429 shown in its section with a retry",
            r["throttled"]["states"]["labs"] == "throttled"
                && r["throttledText"]
                    .as_str()
                    .is_some_and(|t| t.contains("The server is busy") && t.contains("120 seconds")),
        ),
        (
            "the other sections unaffected",
            r["throttled"]["states"]["allergies"] == "loaded",
        ),
        ("retry loads the section", r["afterRetry"] == "loaded"),
        ("no horizontal scrolling on a phone", r["phoneOverflow"] == false),
    ]);
    verdict(&checks, &r)
}

fn provider_trial(world: &World) -> Result<(), Failed> {
    let (app, client_id, origin) = app_for(world, "Demo app (provider)", "127.0.0.1", None)?;
    let p2 = world.patient(PATIENT_2).cloned().unwrap_or(Value::Null);
    let family = p2["name"][0]["family"].as_str().unwrap_or("?").to_string();
    let r = drive(
        world,
        "provider",
        &[
            ("APP_URL", &format!("{origin}/")),
            ("CLIENT_ID", &client_id),
            ("USERNAME", "demo-clinician"),
            ("PATIENT", PATIENT_2),
            ("PATIENT_NAME", &family),
        ],
    )?;
    drop(app);
    let mut checks = summary_checks(world, PATIENT_2, &r["summary"]);
    checks.push((
        "the picker listed the practice's patients",
        r["picker"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == PATIENT_1) && p.iter().any(|x| x == PATIENT_2)),
    ));
    verdict(&checks, &r)
}

fn hostile_trial(world: &World) -> Result<(), Failed> {
    let (app, client_id, origin) = app_for(world, "Demo app (hostile data)", "127.0.0.1", None)?;
    let r = drive(
        world,
        "hostile",
        &[
            ("APP_URL", &format!("{origin}/")),
            ("CLIENT_ID", &client_id),
            ("USERNAME", "demo-clinician"),
            ("PATIENT", HOSTILE),
            ("PATIENT_NAME", "Hostile"),
        ],
    )?;
    drop(app);
    let s = &r["after"];
    let markup =
        |x: &str| format!("<img src=x onerror=\"window.__xss='{x}'\"><script>window.__xss='{x}'</script>");
    let checks = vec![
        (
            "no script from the record ran",
            s["injected"] == false && r["summary"]["injected"] == false,
        ),
        ("no element made from the record", s["elementsFromData"] == 0),
        (
            "the name shown as text",
            s["banner"] == format!("{} Hostile", markup("name")).as_str(),
        ),
        (
            "the allergy shown as text",
            texts(&s["allergies"]) == vec![markup("allergy")],
        ),
        (
            "the lab row shown as text",
            s["labs"][0][0] == markup("lab").as_str()
                && s["labs"][0][1] == markup("value").as_str()
                && s["labs"][0][2] == markup("range").as_str(),
        ),
        (
            "an HTML note shown as its source text",
            r["note"].as_str().is_some_and(|n| n.contains(&markup("note"))),
        ),
    ];
    verdict(&checks, &r)
}

fn ehr_trial(world: &World) -> Result<(), Failed> {
    // One app on another site (localhost vs the edge's 127.0.0.1), one on the same site.
    let (cross, cross_id, cross_origin) = app_for(world, "Demo app (other site)", "localhost", None)?;
    let (same, same_id, _) = app_for(world, "Demo app (same site)", "127.0.0.1", None)?;
    let encounter = world.first_encounter(PATIENT_1);
    let r = drive(
        world,
        "ehr",
        &[
            ("APP_URL", &format!("{cross_origin}/")),
            ("CLIENT_ID", &cross_id),
            ("CLIENT_ID_2", &same_id),
            ("USERNAME", "demo-clinician"),
            ("PATIENT", PATIENT_1),
            ("ENCOUNTER", &encounter),
        ],
    )?;
    drop((cross, same));
    let first = &r["first"]["summary"];
    let second = &r["second"]["summary"];
    let mut checks = vec![
        (
            "the frame opens the app's launch URL with iss and launch",
            r["frameSrc"].as_str().is_some_and(|s| {
                s.starts_with(&format!("{cross_origin}/launch.html?iss="))
                    && s.contains(&format!(
                        "iss={}",
                        form_urlencoded::byte_serialize(format!("{}/fhir", world.edge.origin).as_bytes())
                            .collect::<String>()
                    ))
                    && s.contains("&launch=")
            }),
        ),
        (
            "the patient's encounters offered",
            r["encounters"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x == encounter.as_str())),
        ),
        (
            "other site: the launch completes through the popup",
            r["first"]["via"] == "popup",
        ),
        (
            "popup: the EHR session signs in (first party)",
            r["first"]["popupSignIn"] == false,
        ),
        (
            "other site: the summary shows in the frame (launch.html, iss and launch stripped)",
            r["first"]["frameUrl"] == format!("{cross_origin}/launch.html").as_str()
                && first["states"]["allergies"] == "loaded",
        ),
        (
            "need_patient_banner false: no banner",
            first["bannerShown"] == false,
        ),
        (
            "smart_style_url: the EHR's style applied",
            first["styled"] == "ehr" && first["background"] == "rgb(244, 246, 248)",
        ),
        (
            "same site: the launch completes in the frame",
            r["second"]["via"] == "frame",
        ),
        (
            "same site: the EHR session carries into the frame",
            r["second"]["frameSignIn"] == false,
        ),
        (
            "need_patient_banner true: the app's banner",
            second["bannerShown"] == true
                && second["banner"] == banner_name(world.patient(PATIENT_1).unwrap_or(&Value::Null)).as_str(),
        ),
        (
            "no style URL: the app's own style",
            second["styled"].is_null() && second["background"] == "rgb(255, 255, 255)",
        ),
    ];
    checks.extend(
        summary_checks(world, PATIENT_1, second)
            .into_iter()
            .filter(|(n, _)| !n.starts_with("banner")),
    );
    checks.push(("first launch: every section loaded", all_loaded(first)));
    verdict(&checks, &r)
}

/// What the Rust app asks for (the server adds `launch` for an EHR launch).
const RUST_APP_SCOPE: &str = "openid fhirUser offline_access patient/*.rs";

/// The example Rust web app served from a directory of its own (a copy of
/// its build, its page configured for a client registered by origin), on
/// 127.0.0.1 and reached as `http://{host}:PORT`: the client's redirect URI
/// and launch URL are both `{origin}/` (the app's one page).
struct RustApp {
    _copy: RustAppCopy,
    origin: String,
    client_id: String,
}

impl RustApp {
    fn start(world: &World, name: &str, host: &str, tag: &str) -> Result<RustApp, Failed> {
        let copy = RustAppCopy::serve(&world.root, &format!("demo-rust-app-{tag}"))?;
        let origin = format!("http://{host}:{}", copy.port());
        let client_id = world.register_at(name, &format!("{origin}/"), &format!("{origin}/"), None)?;
        let iss = format!("{}/fhir", world.edge.origin);
        copy.configure(&client_id, &iss, RUST_APP_SCOPE)?;
        Ok(RustApp {
            _copy: copy,
            origin,
            client_id,
        })
    }
}

fn rust_app_ehr_trial(world: &World) -> Result<(), Failed> {
    let cross = RustApp::start(world, "Rust app (other site)", "localhost", "cross")?;
    let same = RustApp::start(world, "Rust app (same site)", "127.0.0.1", "same")?;
    let encounter = world.first_encounter(PATIENT_1);
    let r = drive(
        world,
        "rust-ehr",
        &[
            ("APP_URL", &format!("{}/", cross.origin)),
            ("CLIENT_ID", &cross.client_id),
            ("CLIENT_ID_2", &same.client_id),
            ("USERNAME", "demo-clinician"),
            ("PATIENT", PATIENT_1),
            ("ENCOUNTER", &encounter),
        ],
    )?;
    drop((cross, same));
    let labs: Vec<String> = world
        .records(PATIENT_1, "Observation")
        .into_iter()
        .filter(|o| has_category(o, "laboratory"))
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect();
    // The app's searches: every lab within 100 (`search_all`), the pages
    // streamed into the list (at most 10 pages of 2, newest first).
    let lab_searches = |x: &Value, dom: &Value| {
        let (all, dom, first_page) = (texts(&x["allLabs"]), texts(dom), texts(&x["firstLabPage"]));
        let known = |v: &[String]| v.iter().all(|id| labs.contains(id));
        !labs.is_empty()
            && all.len() == labs.len().min(100)
            && known(&all)
            && dom.len() == labs.len().min(20)
            && known(&dom)
            && !first_page.is_empty()
            && dom.starts_with(&first_page)
    };
    let family = world.patient(PATIENT_1).map(|p| p["name"][0]["family"].clone());
    let first = &r["first"]["result"];
    let second = &r["second"]["result"];
    let launched = |x: &Value| {
        x["ok"] == true
            && x["patient"] == PATIENT_1
            && x["encounter"] == encounter.as_str()
            && Some(&x["patientFamily"]) == family.as_ref()
    };
    let checks = vec![
        (
            "the frame opens the app's launch URL with iss and launch",
            r["frameSrc"].as_str().is_some_and(|s| {
                s.starts_with(&format!(
                    "{}/?iss=",
                    r["appUrl"].as_str().unwrap_or("?").trim_end_matches('/')
                )) && s.contains("&launch=")
            }),
        ),
        (
            "other site: the launch completes through the popup",
            r["first"]["via"] == "popup",
        ),
        (
            "popup: the EHR session signs in (first party)",
            r["first"]["popupSignIn"] == false,
        ),
        (
            "popup: no error in it (ready() handed the redirect to the frame)",
            r["first"]["popupErrors"] == json!([]),
        ),
        (
            "other site: ok in the frame with the launch's patient and encounter",
            launched(first),
        ),
        (
            "other site: the lab searches done in the frame (the patient's labs, listed in the page)",
            lab_searches(first, &r["first"]["domLabs"]),
        ),
        (
            "other site: the frame's address is the app's",
            r["first"]["frameUrl"]
                .as_str()
                .is_some_and(|u| u.starts_with(r["appUrl"].as_str().unwrap_or("?"))),
        ),
        (
            "same site: the launch completes in the frame",
            r["second"]["via"] == "frame",
        ),
        (
            "same site: the EHR session carries into the frame",
            r["second"]["frameSignIn"] == false,
        ),
        (
            "same site: ok with the launch's patient and encounter",
            launched(second),
        ),
        (
            "same site: the lab searches done",
            lab_searches(second, &r["second"]["domLabs"]),
        ),
    ];
    verdict(&checks, &r)
}

fn limited_trial(world: &World) -> Result<(), Failed> {
    let (app, client_id, origin) = app_for(world, "Demo app (limited)", "127.0.0.1", None)?;
    let untick = "patient/*.rs";
    // The app asks per type; untick three of them.
    let r = drive(
        world,
        "limited",
        &[
            ("APP_URL", &format!("{origin}/")),
            ("CLIENT_ID", &client_id),
            ("USERNAME", "demo-patient1"),
            (
                "UNTICK",
                "patient/Immunization.rs patient/DocumentReference.rs patient/DiagnosticReport.rs",
            ),
        ],
    )?;
    drop(app);
    let token = texts(&r["tokens"]).pop().unwrap_or_default();
    let s = &r["summary"];
    let offered: Vec<String> = r["offered"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let q = format!("?patient={PATIENT_1}");
    let checks = vec![
        (
            "the consent page offered each type",
            offered.iter().any(|o| o == "patient/Immunization.rs") && !offered.iter().any(|o| o == untick),
        ),
        (
            "immunizations not shared",
            s["states"]["immunizations"] == "not-shared",
        ),
        ("notes not shared", s["states"]["notes"] == "not-shared"),
        (
            "shared sections loaded",
            [
                "allergies",
                "problems",
                "medications",
                "labs",
                "vitals",
                "careteam",
                "goals",
                "coverage",
                "procedures",
            ]
            .iter()
            .all(|k| s["states"][k] == "loaded"),
        ),
        (
            "no immunization shown",
            s["immunizations"].as_array().is_some_and(Vec::is_empty),
        ),
        ("no note shown", s["notes"].as_array().is_some_and(Vec::is_empty)),
        (
            "the page says what was not shared",
            texts(&s["notShared"]) == vec!["Immunizations".to_string(), "Notes and reports".to_string()],
        ),
        (
            "server: Immunization is 403",
            world.status_with(&token, &format!("/fhir/Immunization{q}")) == 403,
        ),
        (
            "server: DocumentReference is 403",
            world.status_with(&token, &format!("/fhir/DocumentReference{q}")) == 403,
        ),
        (
            "server: DiagnosticReport is 403",
            world.status_with(&token, &format!("/fhir/DiagnosticReport{q}")) == 403,
        ),
        (
            "server: AllergyIntolerance is 200",
            world.status_with(&token, &format!("/fhir/AllergyIntolerance{q}")) == 200,
        ),
    ];
    verdict(&checks, &r)
}

fn revoke_trial(world: &World) -> Result<(), Failed> {
    let name = "Demo app (revoke)";
    let (app, client_id, origin) = app_for(world, name, "127.0.0.1", None)?;
    let r = drive(
        world,
        "revoke",
        &[
            ("APP_URL", &format!("{origin}/")),
            ("CLIENT_ID", &client_id),
            ("CLIENT_NAME", name),
            ("USERNAME", "demo-patient2"),
        ],
    )?;
    drop(app);
    let first = r["firstToken"].as_str().unwrap_or_default();
    let last = r["lastToken"].as_str().unwrap_or_default();
    let history = r["portalHistory"].as_array().cloned().unwrap_or_default();
    let read = format!("/fhir/Patient/{PATIENT_2}");
    let checks = vec![
        ("summary loaded before", all_loaded(&r["before"])),
        (
            "the portal lists the app",
            texts(&r["portalApps"]).iter().any(|a| a == name),
        ),
        (
            "the access history names the app and what it read",
            history.iter().any(|row| {
                row[1] == name && row[3].as_str().is_some_and(|w| w.contains("AllergyIntolerance"))
            }),
        ),
        ("revoked: the app is gone from the portal", r["portalAfter"] == 0),
        (
            "the app's next requests get 401",
            r["statusesAfterRevoke"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == 401)),
        ),
        ("the app offers to reconnect", r["after"]["reconnect"] == true),
        (
            "nothing read with the revoked token comes from the browser's cache",
            r["after"]["banner"].is_null() && r["after"]["allergies"].as_array().is_some_and(Vec::is_empty),
        ),
        (
            "server: the old token is 401",
            world.status_with(first, &read) == 401,
        ),
        ("reconnected: every section loaded", all_loaded(&r["reconnected"])),
        (
            "reconnected: a new token that works",
            !last.is_empty() && last != first && world.status_with(last, &read) == 200,
        ),
    ];
    verdict(&checks, &r)
}

fn expiry_trial(world: &World) -> Result<(), Failed> {
    let (app, client_id, origin) = app_for(world, "Demo app (short tokens)", "127.0.0.1", Some(12))?;
    let r = drive(
        world,
        "expiry",
        &[
            ("APP_URL", &format!("{origin}/")),
            ("CLIENT_ID", &client_id),
            ("USERNAME", "demo-patient1"),
            ("WAIT_SECONDS", "15"),
        ],
    )?;
    drop(app);
    let first = r["firstToken"].as_str().unwrap_or_default();
    let last = r["lastToken"].as_str().unwrap_or_default();
    let read = format!("/fhir/Patient/{PATIENT_1}");
    let checks = vec![
        ("loaded before", all_loaded(&r["before"])),
        (
            "the token was refreshed",
            texts(&r["tokenRequests"]).iter().any(|g| g == "refresh_token"),
        ),
        ("every section loaded after expiry", all_loaded(&r["after"])),
        ("no reconnect prompt", r["after"]["reconnect"] == false),
        (
            "server: the first token expired",
            world.status_with(first, &read) == 401,
        ),
        (
            "server: the refreshed token works",
            !last.is_empty() && last != first && world.status_with(last, &read) == 200,
        ),
    ];
    verdict(&checks, &r)
}

type TrialFn = fn(&World) -> Result<(), Failed>;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    server::install_signal_handler();
    let root = server::repo_root();
    let trials: Vec<(&str, TrialFn)> = vec![
        ("demo::patient_standalone_launch", patient_trial),
        (
            "demo::provider_standalone_launch_with_patient_picker",
            provider_trial,
        ),
        ("demo::ehr_launch_in_an_iframe", ehr_trial),
        ("demo::rust_app_ehr_launch_in_an_iframe", rust_app_ehr_trial),
        ("demo::record_data_is_shown_as_text", hostile_trial),
        ("demo::limited_consent", limited_trial),
        ("demo::revocation_from_the_portal", revoke_trial),
        ("demo::token_expiry_refreshes_silently", expiry_trial),
    ];
    let names: Vec<&str> = trials.iter().map(|(n, _)| *n).collect();
    let world = browser::set_up(&args, &names, || World::start(&root));
    // The Rust app's trial runs alone (the others side by side): with it
    // alongside, the demo app's requests under `wrangler dev` were seen to
    // get intermittent preflights without CORS headers (4 runs in 11).
    let alone = Arc::new(RwLock::new(()));
    let list = trials
        .into_iter()
        .map(|(name, f)| {
            let world = world.clone();
            let alone = alone.clone();
            Trial::test(name, move || {
                let by_itself = name.contains("rust_app");
                let _alone = by_itself.then(|| alone.write().unwrap_or_else(|e| e.into_inner()));
                let _shared = (!by_itself).then(|| alone.read().unwrap_or_else(|e| e.into_inner()));
                match world.as_ref() {
                    Ok(w) => f(w),
                    Err(e) => Err(fail(format!("set-up failed: {e}"))),
                }
            })
        })
        .collect();
    browser::run(&args, list, world)
}

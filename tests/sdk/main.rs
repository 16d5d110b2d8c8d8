//! End-to-end tests of the browser SDK (`@flare/smart`, built into `pkg/` by
//! `scripts/build-sdk.sh`, and the example Rust web app it builds into
//! `target/sdk-rust-app`):
//!
//! - `sdk::standalone_launch_against_the_edge`: a real `wrangler dev`, a
//!   practice, patient, user and an approved public client of its own, the
//!   test page served from a second origin, and headless Chromium
//!   (`drive.mjs`, playwright-core) doing the launch through the edge's
//!   sign-in and consent pages, then typed searches, paging, includes,
//!   reference resolution, errors, refresh and a reload.
//! - `sdk::rust_app_standalone_launch_against_the_edge`: the example Rust web
//!   app (`sdk/examples/rust_app.rs`: the crate without `npm`, wasm-bindgen
//!   and web-sys, no JavaScript of its own) served from a second origin, its
//!   page configured by the harness (`<body data-client-id data-iss
//!   data-scope>`) once a client is registered for that origin: Chromium
//!   clicks its "Sign in" button, signs in and consents on the edge; the app
//!   completes the launch and runs typed searches, a `Stream` of pages,
//!   `search_all` within limits, `_include`/`_revinclude`, reference
//!   resolution, typed errors and a refresh, rendering its lab list and
//!   leaving a summary in `window.__result`; after a reload it restores the
//!   session by itself (`window.__restored`).
//! - `sdk::ehr_launch_against_the_edge`: an EHR launch (`?iss=…&launch=…`
//!   from `POST /admin/launch`) of the same page: the launch context
//!   (patient, encounter, banner, style, `fhirContext`) reaches the client.
//! - `sdk::rust_app_ehr_launch_against_the_edge`: the same EHR launch of the
//!   example Rust web app (it authorizes on load; its scopes without `launch`
//!   or `offline_access`), with the same checks; then Chromium clicks its
//!   `#burst` (256 concurrent reads of the patient in waves of 64: all 200,
//!   each sent once; the edge's per-client throttle, 3000 requests per 60 s,
//!   is out of the browser's reach at the ~26–29 reads/s `wrangler dev`
//!   answers here, so no 429 — see [`BURST_READS`]), the patient revokes the
//!   app in the edge's portal (`/portal`, its row by client name) and the
//!   app's `#read-again` then fails with a typed error (kind `fhir`, 401).
//! - `sdk::packed_tarball_type_checks_and_builds_with_vite`: `npm pack`, the
//!   tarball installed into a scratch app, `tsc` (strict) over a typed usage
//!   file and the standalone example of `pkg/README.md` (and a misspelt
//!   parameter that must not compile), `vite build`, and the
//!   built app served and run through the same standalone launch.
//! - `sdk::package_api_in_chromium`: the package's JavaScript API (the
//!   wasm exports behind the entry module) in headless Chromium (`unit/tests.js`, `unit.mjs`), with `fetch`
//!   stubbed: includes, retries, typed errors, aborts during a retry wait
//!   or a shared refresh, the shared refresh, launches (PKCE, id_token
//!   verification, StrictMode double `ready()`, two launches in a tab, two
//!   same-origin frames reloaded, `unit/frame.html`), blocked storage, popups
//!   (opened inside the call; and from a real click in a Chromium with its
//!   popup blocker on, discovery outlasting the click's activation,
//!   `unit/popup.html`), `_top` from a frame, paging, reference resolution.
//! - `sdk::package_imports_in_node_without_a_dom`: `node --test
//!   node_import.test.mjs`: the package imports in Node (as server-side
//!   rendering does) because the wasm is instantiated lazily; `load()` with
//!   the wasm's bytes, then `client()` works there.
//!
//! `cargo test -p flare-tests --test sdk`. Needs `pkg/dist` and `target/sdk-rust-app` (scripts/build-sdk.sh),
//! `/usr/bin/chromium` and the npm devDependencies (scripts/setup.sh); the package trial
//! installs Vite into its scratch app from the npm registry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use flare_tests::browser::{self, ensure, fail, operator, register_approved, verdict, RustAppCopy};
use flare_tests::fhir::put_entry as put;
use flare_tests::http::Client;
use flare_tests::server::{self, Edge};
use flare_tests::static_server::StaticServer;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

const LAUNCH_TRIAL: &str = "sdk::standalone_launch_against_the_edge";
const RUST_APP_TRIAL: &str = "sdk::rust_app_standalone_launch_against_the_edge";
const EHR_TRIAL: &str = "sdk::ehr_launch_against_the_edge";
const RUST_APP_EHR_TRIAL: &str = "sdk::rust_app_ehr_launch_against_the_edge";
const PACKAGE_TRIAL: &str = "sdk::packed_tarball_type_checks_and_builds_with_vite";
const UNIT_TRIAL: &str = "sdk::package_api_in_chromium";
const NODE_TRIAL: &str = "sdk::package_imports_in_node_without_a_dom";
const PRACTICE: &str = "sdkp";
const PASSWORD: &str = "Sdk-e2e-2026!";

fn built(root: &Path) -> Result<(), Failed> {
    browser::sdk_built(root).map_err(fail)
}

/// The practice's data: one patient with three lab results (one with a
/// Provenance), a medication order, and another patient.
fn seed(admin: &Client) {
    admin
        .put_json(
            &format!("/admin/practices/{PRACTICE}"),
            &flare_tests::practice::practice("SDK practice"),
        )
        .send()
        .expect_status(200);
    let subject = json!({"reference": "Patient/sdk-pat"});
    let lab = |id: &str, day: &str| {
        put(json!({"resourceType": "Observation", "id": id, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}], "text": "HbA1c"},
            "subject": subject, "effectiveDateTime": format!("2024-05-{day}T10:00:00Z"),
            "valueQuantity": {"value": 6.5, "unit": "%"}}))
    };
    let entries = vec![
        put(
            json!({"resourceType": "Patient", "id": "sdk-pat", "name": [{"family": "Sdkfamily", "given": ["Ada"]}],
            "gender": "female", "birthDate": "1970-02-03"}),
        ),
        put(json!({"resourceType": "Patient", "id": "someone-else", "name": [{"family": "Other"}]})),
        put(
            json!({"resourceType": "Encounter", "id": "sdk-enc", "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": subject, "period": {"start": "2024-05-03T09:00:00Z"}}),
        ),
        put(json!({"resourceType": "Medication", "id": "sdk-med",
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]}})),
        put(
            json!({"resourceType": "MedicationRequest", "id": "sdk-mr", "status": "active", "intent": "order",
            "subject": subject, "authoredOn": "2024-05-01", "medicationReference": {"reference": "Medication/sdk-med"}}),
        ),
        lab("sdk-lab-1", "01"),
        lab("sdk-lab-2", "02"),
        lab("sdk-lab-3", "03"),
        put(
            json!({"resourceType": "Provenance", "id": "sdk-prov", "recorded": "2024-05-01T10:00:00Z",
            "target": [{"reference": "Observation/sdk-lab-1"}], "agent": [{"who": {"reference": "Patient/sdk-pat"}}]}),
        ),
    ];
    admin.import_ok(
        PRACTICE,
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
    );
    // Both launch trials seed; whichever comes second finds the user (409).
    let created = browser::add_user(
        admin,
        &json!({"username": "sdk-patient", "password": PASSWORD, "practice": PRACTICE,
                "fhirUser": "Patient/sdk-pat", "name": "Ada"}),
    );
    assert!(
        matches!(created.status, 201 | 409),
        "POST /admin/users answered {}: {}",
        created.status,
        created.body
    );
}

/// Registers and approves a public client redirecting to `redirect_uri`.
fn register(admin: &Client, redirect_uri: &str, scope: &str) -> Result<String, Failed> {
    register_named(admin, "SDK e2e", redirect_uri, scope)
}

/// [`register`] with the client's name (the patient portal lists the app by it).
fn register_named(admin: &Client, name: &str, redirect_uri: &str, scope: &str) -> Result<String, Failed> {
    register_approved(
        admin,
        &json!({"client_name": name, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"], "scope": scope, "practice": PRACTICE}),
    )
}

/// The running edge and an operator client of it, the practice, users and
/// records of these trials seeded (idempotent).
fn seeded<'e>(root: &Path, edge: &'e Result<Edge, String>) -> Result<(&'e Edge, Client), Failed> {
    let (edge, admin) = operator(root, edge)?;
    seed(&admin);
    Ok((edge, admin))
}

/// Runs `drive.mjs` against the test page at `app_url` (with `query`
/// appended for an EHR launch) and returns the page's summary. `mode` is
/// `rust-app` for the example Rust web app (a click on its `#sign-in`, or
/// none for an EHR launch), else empty; `extra` is more environment
/// (`CLIENT_NAME` for the Rust app's EHR launch).
#[allow(clippy::too_many_arguments)]
fn drive(
    root: &Path,
    app_url: &str,
    iss: &str,
    client_id: &str,
    scope: &str,
    query: &str,
    shots: &str,
    mode: &str,
    extra: &[(&str, &str)],
) -> Result<Value, Failed> {
    let screenshot = root.join(format!("target/sdk-e2e-failure-{client_id}.png"));
    let shots = browser::screenshots(root, "sdk").join(shots);
    std::fs::create_dir_all(&shots).map_err(|e| fail(e.to_string()))?;
    let (_, r) = browser::drive_node(
        Command::new("node")
            .arg(root.join("tests/sdk/drive.mjs"))
            .env("APP_URL", app_url)
            .env("LAUNCH_QUERY", query)
            .env("ISS", iss)
            .env("CLIENT_ID", client_id)
            .env("SCOPE", scope)
            .env("USERNAME", "sdk-patient")
            .env("PASSWORD", PASSWORD)
            .env("SCREENSHOT", &screenshot)
            .env("SHOTS", &shots)
            .env("MODE", mode)
            .envs(extra.iter().copied()),
        root,
        "driver",
    )?;
    ensure(r["ok"] == true, || {
        format!("launch failed (screenshot {}): {r:#}", screenshot.display())
    })?;
    Ok(r)
}

fn launch_trial(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    built(root)?;
    let (edge, admin) = seeded(root, edge)?;
    let app = StaticServer::start(root).map_err(fail)?;
    let app_url = format!("{}/", app.origin);
    let scope = "launch/patient openid fhirUser offline_access patient/*.rs";
    let client_id = register(&admin, &app_url, scope)?;
    let iss = format!("{}/fhir", edge.origin);
    let r = drive(root, &app_url, &iss, &client_id, scope, "", "standalone", "", &[])?;
    standalone_checks(&r, &app_url, &iss)
}

/// What a standalone launch of the test app must show.
fn standalone_checks(r: &Value, app_url: &str, iss: &str) -> Result<(), Failed> {
    let mut checks = launch_checks(r, app_url, iss);
    checks.extend([
        ("attachments hidden from JSON", r["includeHiddenFromJson"] == true),
        (
            "unknown parameter is a typed 400",
            r["unknownParam"]["kind"] == "fhir" && r["unknownParam"]["status"] == 400,
        ),
    ]);
    verdict(&checks, r)
}

/// What a standalone launch shows in both the npm test page and the Rust app.
fn launch_checks(r: &Value, app_url: &str, iss: &str) -> Vec<(&'static str, bool)> {
    vec![
        (
            "code and state stripped from the address bar",
            r["addressBar"] == app_url,
        ),
        (
            "PKCE S256 sent",
            r["authorizeParams"]["code_challenge_method"] == "S256",
        ),
        ("aud is the FHIR base", r["authorizeParams"]["aud"] == iss),
        ("patient in context", r["patient"] == "sdk-pat"),
        ("user from the verified id_token", r["user"] == "Patient/sdk-pat"),
        (
            "fhirUser is an absolute URL",
            r["fhirUser"]
                .as_str()
                .is_some_and(|u| u.ends_with("/fhir/Patient/sdk-pat")),
        ),
        (
            "openid granted",
            r["scopes"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x == "openid")),
        ),
        ("refresh token granted", r["canRefresh"] == true),
        ("read", r["patientFamily"] == "Sdkfamily"),
        (
            "sorted first page",
            r["firstLabPage"] == json!(["sdk-lab-3", "sdk-lab-2"]),
        ),
        ("first page links to the next", r["labsHasNext"] == true),
        (
            "searchAll follows next",
            r["allLabs"].as_array().map(Vec::len) == Some(3),
        ),
        ("pages iterates", r["labPageSizes"] == json!([2, 1])),
        ("_include attached", r["includedMedication"] == "sdk-med"),
        (
            "_revinclude attached",
            r["revincluded"] == json!(["sdk-lab-1<-sdk-prov"]),
        ),
        (
            "references resolved from the server",
            r["resolvedMedication"] == "sdk-med" && r["resolved"] == 2,
        ),
        (
            "another patient is a typed 404",
            r["otherPatient"]["status"] == 404,
        ),
        (
            "refresh gives a new token",
            r["refreshedToken"] == true && r["afterRefresh"] == "sdk-pat",
        ),
        (
            "a reload restores the session",
            r["restored"]["patient"] == "sdk-pat",
        ),
    ]
}

fn rust_app_trial(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    let app = RustAppCopy::serve(root, "sdk-rust-app-e2e-standalone")?;
    let (edge, admin) = seeded(root, edge)?;
    let app_url = format!("{}/", app.server.origin);
    let scope = "launch/patient openid fhirUser offline_access patient/*.rs";
    let client_id = register(&admin, &app_url, scope)?;
    let iss = format!("{}/fhir", edge.origin);
    app.configure(&client_id, &iss, scope)?;
    let r = drive(
        root,
        &app_url,
        &iss,
        &client_id,
        scope,
        "",
        "rust-app",
        "rust-app",
        &[],
    );
    drop(app);
    let r = r?;
    let mut checks = launch_checks(&r, &app_url, &iss);
    checks.extend([
        (
            "the lab list rendered, newest first",
            r["domLabs"] == json!(["sdk-lab-3", "sdk-lab-2", "sdk-lab-1"]),
        ),
        ("search_all counted its pages", r["allLabsPages"] == 2),
        (
            "search_all stops at its page limit",
            r["labsWithinOnePage"] == json!(["sdk-lab-3", "sdk-lab-2"]),
        ),
        (
            "a Raw search with an unknown parameter fails before any request",
            r["unknownParam"]["kind"] == "launch" && r["unknownParam"]["status"].is_null(),
        ),
        ("the 404 is of kind fhir", r["otherPatient"]["kind"] == "fhir"),
        (
            "request() reads the CapabilityStatement",
            r["fhirVersion"] == "4.0.1",
        ),
    ]);
    verdict(&checks, &r)
}

fn ehr_trial(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    built(root)?;
    let (edge, admin) = seeded(root, edge)?;
    let app = StaticServer::start(root).map_err(fail)?;
    let app_url = format!("{}/", app.origin);
    // The app asks without `launch`: the SDK adds it for an EHR launch.
    let client_id = register(&admin, &app_url, EHR_REGISTERED)?;
    let iss = format!("{}/fhir", edge.origin);
    let (launch_id, query) = ehr_launch(&admin, &client_id, &iss)?;
    let r = drive(
        root,
        &app_url,
        "",
        &client_id,
        EHR_REQUESTED,
        &query,
        "ehr",
        "",
        &[],
    )?;
    verdict(&ehr_checks(&r, &launch_id, &iss, &app_url), &r)
}

/// The scopes an EHR-launched app is registered with, and those it asks
/// for: without `launch` (the SDK adds it for an EHR launch) and without
/// `offline_access` (no refresh token).
const EHR_REGISTERED: &str = "launch openid fhirUser offline_access patient/*.rs";
const EHR_REQUESTED: &str = "openid fhirUser patient/*.rs";

/// An EHR launch context of `sdk-patient` for `client_id` (`POST
/// /admin/launch`: patient, encounter, no banner, a style URL, `fhirContext`):
/// its launch id and the app's query `?iss=…&launch=…`.
fn ehr_launch(admin: &Client, client_id: &str, iss: &str) -> Result<(String, String), Failed> {
    let launch = admin
        .post(
            "/admin/launch",
            "application/json",
            json!({"username": "sdk-patient", "client_id": client_id, "patient": "sdk-pat", "encounter": "sdk-enc",
                   "need_patient_banner": false, "smart_style_url": true, "fhirContext": ["Encounter/sdk-enc"]})
            .to_string(),
        )
        .send()
        .expect_status(201)
        .json();
    let launch_id = launch["launch"]
        .as_str()
        .ok_or_else(|| fail(format!("no launch id: {launch}")))?
        .to_string();
    let query = format!(
        "?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("iss", iss)
            .append_pair("launch", &launch_id)
            .finish()
    );
    Ok((launch_id, query))
}

/// What an EHR launch ([`ehr_launch`]) shows in both the npm test page and the Rust app.
fn ehr_checks(r: &Value, launch_id: &str, iss: &str, app_url: &str) -> Vec<(&'static str, bool)> {
    vec![
        ("launch id sent", r["authorizeParams"]["launch"] == launch_id),
        (
            "launch scope added",
            r["authorizeParams"]["scope"]
                .as_str()
                .is_some_and(|s| s.split(' ').any(|x| x == "launch")),
        ),
        (
            "aud is the iss of the launch URL",
            r["authorizeParams"]["aud"] == iss,
        ),
        ("patient from the launch", r["patient"] == "sdk-pat"),
        ("encounter from the launch", r["encounter"] == "sdk-enc"),
        ("no banner needed", r["needPatientBanner"] == false),
        (
            "style URL given",
            r["smartStyleUrl"].as_str().is_some_and(|u| u.starts_with("http")),
        ),
        (
            "fhirContext passed through",
            r["fhirContext"] == json!([{"reference": "Encounter/sdk-enc", "type": "Encounter"}]),
        ),
        ("address bar clean", r["addressBar"] == app_url),
        (
            "typed searches work",
            r["firstLabPage"] == json!(["sdk-lab-3", "sdk-lab-2"]),
        ),
        (
            "no refresh token without offline_access",
            r["canRefresh"] == false && r["refreshedToken"] == "oauth",
        ),
    ]
}

/// Reads of the Rust app's burst (`BURST_MAX` in sdk/examples/rust_app.rs).
///
/// The edge answers 3000 FHIR requests per client in its 60 s window
/// (`CLIENT_LIMITER` in edge/wrangler.toml), then 429 with `Retry-After: 60`.
/// Measured here, the app's reads reach `wrangler dev` at about 26/s (4672
/// reads in 179 s, waves of 64 concurrent reads, all 200): the throttle is
/// not reachable from the browser within a window, so the burst checks that
/// concurrent reads all succeed, each sent once.
const BURST_READS: u64 = 256;

/// The Rust app's name as a registered client (its row in the patient portal).
const RUST_APP_EHR_NAME: &str = "SDK Rust app (EHR launch)";

fn rust_app_ehr_trial(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    let app = RustAppCopy::serve(root, "sdk-rust-app-e2e-ehr")?;
    let (edge, admin) = seeded(root, edge)?;
    let app_url = format!("{}/", app.server.origin);
    let client_id = register_named(&admin, RUST_APP_EHR_NAME, &app_url, EHR_REGISTERED)?;
    let iss = format!("{}/fhir", edge.origin);
    app.configure(&client_id, &iss, EHR_REQUESTED)?;
    let (launch_id, query) = ehr_launch(&admin, &client_id, &iss)?;
    let r = drive(
        root,
        &app_url,
        &iss,
        &client_id,
        EHR_REQUESTED,
        &query,
        "rust-app-ehr",
        "rust-app",
        &[("CLIENT_NAME", RUST_APP_EHR_NAME)],
    );
    drop(app);
    let r = r?;
    let mut checks = ehr_checks(&r, &launch_id, &iss, &app_url);
    let burst = &r["burst"];
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    checks.extend([
        (
            "the lab list rendered",
            r["domLabs"] == json!(["sdk-lab-3", "sdk-lab-2", "sdk-lab-1"]),
        ),
        // Below the per-client throttle (see BURST_READS): every read succeeds.
        (
            "a burst of concurrent reads all succeed, none throttled",
            count(&burst["reads"]) == BURST_READS
                && count(&burst["ok"]) == BURST_READS
                && count(&burst["throttled"]) == 0
                && burst["otherErrors"] == json!([]),
        ),
        (
            "each read of the burst went out once",
            burst["onTheWire"] == burst["reads"],
        ),
        (
            "the portal listed the app, and not after the revocation",
            r["portalBefore"] == 1 && r["portalAfter"] == 0,
        ),
        (
            "after the revocation a read is a typed 401",
            r["readAgain"]["kind"] == "fhir" && r["readAgain"]["status"] == 401,
        ),
    ]);
    eprintln!("{RUST_APP_EHR_TRIAL}: burst {burst}");
    verdict(&checks, &r)
}

fn run(dir: &Path, program: &Path, args: &[&str]) -> Result<(bool, String), Failed> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", program.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn package_trial(root: &Path, edge: &Result<Edge, String>) -> Result<(), Failed> {
    built(root)?;
    let work = root.join("target/sdk-package-test");
    let _ = std::fs::remove_dir_all(&work);
    let app = work.join("app");
    std::fs::create_dir_all(&app).map_err(|e| fail(e.to_string()))?;
    let npm = PathBuf::from("npm");
    let dest = work.to_string_lossy().to_string();
    let (ok, text) = run(&root.join("pkg"), &npm, &["pack", "--pack-destination", &dest])?;
    ensure(ok, || format!("npm pack failed: {text}"))?;
    let tarball = std::fs::read_dir(&work)
        .map_err(|e| fail(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| fail("npm pack wrote no tarball"))?;
    let write =
        |name: &str, text: &str| std::fs::write(app.join(name), text).map_err(|e| fail(e.to_string()));
    // Vite comes from the registry here, not from the root lock file: its
    // rollup platform packages for other systems are not on this machine's
    // registry mirror, which would break `npm ci` of the repository.
    write(
        "package.json",
        r#"{"name": "scratch-vite-app", "private": true, "type": "module", "devDependencies": {"vite": "7.3.8"}}"#,
    )?;
    write(
        "index.html",
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>scratch</title>\
         <script type=\"module\" src=\"/main.js\"></script><pre id=\"out\">loading</pre></html>\n",
    )?;
    // The e2e test page's script, importing the installed package by name.
    let app_js =
        std::fs::read_to_string(root.join("tests/sdk/page/app.js")).map_err(|e| fail(e.to_string()))?;
    let main_js = app_js.replace("from \"/pkg/index.js\"", "from \"@flare/smart\"");
    ensure(main_js != app_js, || {
        "tests/sdk/page/app.js no longer imports /pkg/index.js".into()
    })?;
    write("main.js", &main_js)?;
    let tgz = tarball.to_string_lossy().to_string();
    let (ok, text) = run(&app, &npm, &["install", "--no-audit", "--no-fund", &tgz])?;
    ensure(ok, || format!("npm install of the tarball failed: {text}"))?;
    for f in ["usage.ts", "bad.ts", "tsconfig.json", "tsconfig.bad.json"] {
        std::fs::copy(root.join("tests/sdk/types").join(f), app.join(f)).map_err(|e| fail(e.to_string()))?;
    }
    // The package README's own example is type-checked too (tsconfig.json lists readme.ts), as users copy it.
    let readme = std::fs::read_to_string(root.join("pkg/README.md")).map_err(|e| fail(e.to_string()))?;
    let example = readme_example(&readme, "## Standalone launch")
        .ok_or_else(|| fail("pkg/README.md has no ```js block under \"## Standalone launch\""))?;
    write("readme.ts", &example)?;
    let tsc = root.join("node_modules/.bin/tsc");
    let (ok, text) = run(&app, &tsc, &["-p", "tsconfig.json"])?;
    ensure(ok, || format!("tsc rejected the typed usage: {text}"))?;
    let (ok, text) = run(&app, &tsc, &["-p", "tsconfig.bad.json"])?;
    ensure(
        !ok && text.contains("'colour' does not exist in type 'ObservationSearchParams'"),
        || format!("a misspelt search parameter compiled, or failed for another reason: {text}"),
    )?;
    let (ok, text) = run(
        &app,
        &app.join("node_modules/.bin/vite"),
        &["build", "--logLevel", "warn"],
    )?;
    ensure(ok, || format!("vite build failed: {text}"))?;
    let assets: Vec<String> = std::fs::read_dir(app.join("dist/assets"))
        .map_err(|e| fail(format!("vite wrote no dist/assets: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .collect();
    ensure(
        assets.iter().any(|a| a.ends_with(".wasm")) && assets.iter().any(|a| a.ends_with(".js")),
        || format!("vite output lacks the wasm or the JS: {assets:?}"),
    )?;
    // The built app runs the same standalone launch against the edge.
    let (edge, admin) = seeded(root, edge)?;
    let served = StaticServer::start_dir(&app.join("dist")).map_err(fail)?;
    let app_url = format!("{}/", served.origin);
    let scope = "launch/patient openid fhirUser offline_access patient/*.rs";
    let client_id = register(&admin, &app_url, scope)?;
    let iss = format!("{}/fhir", edge.origin);
    let r = drive(root, &app_url, &iss, &client_id, scope, "", "vite-app", "", &[])?;
    standalone_checks(&r, &app_url, &iss)
}

/// The first ```js block after the line `heading` of a README.
fn readme_example(readme: &str, heading: &str) -> Option<String> {
    let rest = &readme[readme.find(&format!("\n{heading}\n"))?..];
    let body = &rest[rest.find("\n```js\n")? + "\n```js\n".len()..];
    Some(body[..body.find("\n```")? + 1].to_string())
}

fn unit_trial(root: &Path) -> Result<(), Failed> {
    built(root)?;
    let app = StaticServer::start(root).map_err(fail)?;
    let shots = browser::screenshots(root, "sdk");
    std::fs::create_dir_all(&shots).map_err(|e| fail(e.to_string()))?;
    let (_, r) = browser::drive_node(
        Command::new("node")
            .arg(root.join("tests/sdk/unit.mjs"))
            .env("APP_URL", &app.origin)
            .env("SCREENSHOT", shots.join("js-layer.png")),
        root,
        "unit driver",
    )?;
    let results = r["results"].as_array().cloned().unwrap_or_default();
    let failed: Vec<&Value> = results.iter().filter(|t| t["ok"] != true).collect();
    ensure(
        r["ok"] == true && results.len() >= 29 && failed.is_empty(),
        || format!("package API tests failed: {failed:#?}\n{r:#}"),
    )
}

fn node_trial(root: &Path) -> Result<(), Failed> {
    built(root)?;
    let out = Command::new("node")
        .args(["--test", "tests/sdk/node_import.test.mjs"])
        .current_dir(root)
        .output()
        .map_err(|e| fail(format!("cannot run node: {e}")))?;
    ensure(out.status.success(), || {
        format!(
            "importing the package in Node failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    server::install_signal_handler();
    let root = server::repo_root();
    let needing = [
        LAUNCH_TRIAL,
        RUST_APP_TRIAL,
        EHR_TRIAL,
        RUST_APP_EHR_TRIAL,
        PACKAGE_TRIAL,
    ];
    let edge = browser::set_up(&args, &needing, || Edge::start(&root));
    type TrialFn = fn(&Path, &Result<Edge, String>) -> Result<(), Failed>;
    let trials: [(&str, TrialFn); 7] = [
        (LAUNCH_TRIAL, launch_trial),
        (RUST_APP_TRIAL, rust_app_trial),
        (EHR_TRIAL, ehr_trial),
        (RUST_APP_EHR_TRIAL, rust_app_ehr_trial),
        (PACKAGE_TRIAL, package_trial),
        (UNIT_TRIAL, |root, _| unit_trial(root)),
        (NODE_TRIAL, |root, _| node_trial(root)),
    ];
    let trials = trials
        .into_iter()
        .map(|(name, f)| {
            let (root, edge) = (root.clone(), edge.clone());
            Trial::test(name, move || f(&root, &edge))
        })
        .collect();
    browser::run(&args, trials, edge)
}

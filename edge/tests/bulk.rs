//! Bulk Data export natively: kick-off, chunked runs from the queue (with a
//! tiny file size and member window so every boundary is crossed), the
//! manifest, the files' exact contents, filters, cancel, and a lost runner
//! resumed by a status poll without losing or doubling lines.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use std::collections::BTreeMap;

use common::{admin, app, call, entry, import, import_puts, TestApp, BASE, NOW};
use flare_edge::fhir::bulk;
use serde_json::{json, Value};

fn obs(id: &str, patient: &str, category: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
        "code": {"text": "x"}, "subject": {"reference": format!("Patient/{patient}")},
        "performer": [{"reference": "Practitioner/doc"}]})
}

/// Patients p1..p5 (group g: p1, p2, p3, p5 inactive), each with observations; p4 outside.
fn world() -> TestApp {
    let mut app = app();
    app.config.export_file_resources = 2;
    app.config.export_member_window = 2;
    let mut resources = vec![
        json!({"resourceType": "Practitioner", "id": "doc"}),
        json!({"resourceType": "Practitioner", "id": "unreferenced"}),
        json!({"resourceType": "Medication", "id": "med", "code": {"text": "m"}}),
        json!({"resourceType": "Group", "id": "g", "type": "person", "actual": true, "member": [
            {"entity": {"reference": "Patient/p1"}}, {"entity": {"reference": "Patient/p2"}},
            {"entity": {"reference": "Patient/p3"}}, {"entity": {"reference": "Patient/p5"}, "inactive": true}]}),
    ];
    for p in ["p1", "p2", "p3", "p4", "p5"] {
        resources.push(json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]}));
        for i in 0..3 {
            resources.push(obs(&format!("{p}-lab-{i}"), p, "laboratory"));
        }
        resources.push(obs(&format!("{p}-vs"), p, "vital-signs"));
    }
    for (id, target) in [("prov-p1", "Observation/p1-vs"), ("prov-p4", "Observation/p4-vs")] {
        resources.push(
            json!({"resourceType": "Provenance", "id": id, "recorded": "2026-01-01T00:00:00Z",
            "target": [{"reference": target}], "agent": [{"who": {"reference": "Practitioner/doc"}}]}),
        );
    }
    resources.push(
        json!({"resourceType": "MedicationRequest", "id": "p2-mr", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p2"}, "medicationReference": {"reference": "Medication/med"}}),
    );
    import_puts(&app, "northside", resources);
    import_puts(
        &app,
        "lakeshore",
        [
            json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "other practice"}]}),
            obs("p1-lab-0", "p1", "laboratory"),
        ],
    );
    app
}

fn kick_off(app: &TestApp, path: &str) -> common::HttpResponse {
    call(
        app,
        admin("GET", path)
            .header("prefer", "respond-async")
            .header("accept", "application/fhir+json"),
    )
}

/// Runs every queued chunk until the queue is empty; returns how many runs.
fn drain(app: &TestApp) -> usize {
    let mut runs = 0;
    loop {
        let queued = app.platform.take_queue();
        if queued.is_empty() {
            return runs;
        }
        for (practice, job) in queued {
            pollster::block_on(bulk::run(app, &practice, &job));
            runs += 1;
            assert!(runs < 10_000, "the export does not end");
        }
    }
}

fn status_path(resp: &common::HttpResponse) -> String {
    let loc = resp.header_value("content-location").expect("Content-Location");
    loc.strip_prefix(BASE).unwrap().to_string()
}

/// The exported lines by type: `type → [id]`, reading the files from the object store.
fn exported(app: &TestApp, manifest: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in manifest["output"].as_array().unwrap() {
        let url = f["url"].as_str().unwrap();
        let path = url.strip_prefix(BASE).unwrap();
        let r = call(app, admin("GET", path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header_value("content-type"), Some("application/fhir+ndjson"));
        let key = r.object.clone().expect("streamed from the object store");
        let body = app.platform.object(&key).expect("the file exists");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len() as i64, f["count"].as_i64().unwrap(), "count of {url}");
        for l in lines {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["resourceType"], f["type"]);
            out.entry(f["type"].as_str().unwrap().to_string())
                .or_default()
                .push(v["id"].as_str().unwrap().to_string());
        }
    }
    for ids in out.values_mut() {
        ids.sort();
    }
    out
}

fn ids(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn group_export_is_exactly_the_members_records_and_what_they_reference() {
    let app = world();
    let k = kick_off(&app, "/fhir/Group/g/$export");
    assert_eq!(k.status, 202, "{}", String::from_utf8_lossy(&k.body));
    let status = status_path(&k);
    let pending = call(&app, admin("GET", &status));
    assert_eq!(pending.status, 202);
    assert!(pending.header_value("retry-after").is_some());
    assert!(pending.header_value("x-progress").is_some());
    let runs = drain(&app);
    assert!(runs >= 1);
    let done = call(&app, admin("GET", &status));
    assert_eq!(done.status, 200);
    let m = done.json_body();
    assert_eq!(m["requiresAccessToken"], true);
    assert_eq!(m["error"], json!([]));
    assert!(m["request"].as_str().unwrap().ends_with("/fhir/Group/g/$export"));
    assert!(m["transactionTime"].as_str().unwrap().starts_with("2026-"));
    let got = exported(&app, &m);
    assert_eq!(got["Patient"], ids(&["p1", "p2", "p3"]));
    let mut obs = Vec::new();
    for p in ["p1", "p2", "p3"] {
        for i in 0..3 {
            obs.push(format!("{p}-lab-{i}"));
        }
        obs.push(format!("{p}-vs"));
    }
    obs.sort();
    assert_eq!(
        got["Observation"], obs,
        "no duplicates, nothing lost, nothing of p4/p5 or lakeshore"
    );
    assert_eq!(got["MedicationRequest"], ids(&["p2-mr"]));
    assert_eq!(
        got.get("Provenance"),
        Some(&ids(&["prov-p1"])),
        "Provenance of members' records, not of others': {:?}",
        got.keys().collect::<Vec<_>>()
    );
    assert_eq!(got["Practitioner"], ids(&["doc"]), "referenced only");
    assert_eq!(got["Medication"], ids(&["med"]));
    assert_eq!(
        got["Group"],
        ids(&["g"]),
        "the Group is in its members' compartments: once"
    );
    // Files are split past the configured size (2 resources here).
    let obs_files = m["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "Observation")
        .count();
    assert_eq!(obs_files, 6);
}

/// A POST kick-off with a Parameters body.
fn post_kick_off(app: &TestApp, path: &str, parameters: Value) -> common::HttpResponse {
    call(
        app,
        admin("POST", path)
            .header("prefer", "respond-async")
            .header("content-type", "application/fhir+json")
            .body(json!({"resourceType": "Parameters", "parameter": parameters}).to_string()),
    )
}

/// Runs a kick-off to the end and returns what it exported.
fn finished(app: &TestApp, k: &common::HttpResponse) -> BTreeMap<String, Vec<String>> {
    assert_eq!(k.status, 202, "{}", String::from_utf8_lossy(&k.body));
    let status = status_path(k);
    drain(app);
    let done = call(app, admin("GET", &status));
    assert_eq!(done.status, 200);
    exported(app, &done.json_body())
}

#[test]
fn the_patient_parameter_narrows_group_and_patient_exports() {
    let app = world();
    let patient =
        |id: &str| json!({"name": "patient", "valueReference": {"reference": format!("Patient/{id}")}});
    // Group level: only the named members' records (and what they reference).
    let got = finished(
        &app,
        &post_kick_off(&app, "/fhir/Group/g/$export", json!([patient("p2")])),
    );
    assert_eq!(got["Patient"], ids(&["p2"]));
    assert_eq!(
        got["Observation"],
        ids(&["p2-lab-0", "p2-lab-1", "p2-lab-2", "p2-vs"])
    );
    assert_eq!(got["MedicationRequest"], ids(&["p2-mr"]));
    assert_eq!(got["Medication"], ids(&["med"]), "what p2's records reference");
    assert!(!got.contains_key("Provenance"), "prov-p1 is p1's: {got:?}");
    // Patient level: any patient of the practice, members or not; twice named is once.
    let got = finished(
        &app,
        &post_kick_off(
            &app,
            "/fhir/Patient/$export",
            json!([patient("p4"), patient("p1"), patient("p4"), {"name": "_type", "valueString": "Patient,Observation"}]),
        ),
    );
    assert_eq!(got["Patient"], ids(&["p1", "p4"]));
    assert_eq!(got["Observation"].len(), 8);
    assert!(got["Observation"]
        .iter()
        .all(|o| o.starts_with("p1-") || o.starts_with("p4-")));
    // Refusals, each a 400 OperationOutcome that names the problem.
    for (path, parameters, says) in [
        (
            "/fhir/Group/g/$export",
            json!([patient("p4")]),
            "not members of Group/g",
        ),
        (
            "/fhir/Group/g/$export",
            json!([patient("p5")]),
            "not members of Group/g",
        ),
        (
            "/fhir/Patient/$export",
            json!([patient("nobody")]),
            "not patients of this practice",
        ),
        ("/fhir/$export", json!([patient("p1")]), "system-level"),
        (
            "/fhir/Patient/$export",
            json!([{"name": "patient", "valueReference": {"reference": "Observation/p1-vs"}}]),
            "not a reference to a Patient",
        ),
        (
            "/fhir/Group/g/$export",
            json!([{"name": "includeAssociatedData", "valueCode": "LatestProvenanceResources"}]),
            "includeAssociatedData",
        ),
    ] {
        let r = post_kick_off(&app, path, parameters.clone());
        assert_eq!(
            r.status,
            400,
            "{path} {parameters}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let b = r.json_body();
        assert_eq!(b["resourceType"], "OperationOutcome");
        assert!(b.to_string().contains(says), "{path} {parameters}: {b}");
    }
    // On a GET kick-off the parameter is refused (a Reference travels in a Parameters body).
    let get = kick_off(&app, "/fhir/Group/g/$export?patient=Patient/p1");
    assert_eq!(get.status, 400);
    assert!(get.json_body().to_string().contains("POST"));
}

#[test]
fn filters_since_type_typefilter_and_elements() {
    let app = world();
    let k = kick_off(&app, "/fhir/Patient/$export?_type=Observation,Patient&_typeFilter=Observation%3Fcategory%3Dvital-signs&_elements=id,status&_outputFormat=application/ndjson");
    assert_eq!(k.status, 202, "{}", String::from_utf8_lossy(&k.body));
    drain(&app);
    let m = call(&app, admin("GET", &status_path(&k))).json_body();
    let got = exported(&app, &m);
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        vec!["Observation", "Patient"]
    );
    assert_eq!(
        got["Observation"],
        ids(&["p1-vs", "p2-vs", "p3-vs", "p4-vs", "p5-vs"])
    );
    let first = &m["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "Observation")
        .unwrap()["url"];
    let r = call(
        &app,
        admin("GET", first.as_str().unwrap().strip_prefix(BASE).unwrap()),
    );
    let line: Value = serde_json::from_str(
        app.platform
            .object(r.object.as_ref().unwrap())
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(
        line.get("subject").is_none() && line.get("status").is_some(),
        "{line}"
    );
    assert_eq!(line["meta"]["tag"][0]["code"], "SUBSETTED");

    // _since: only what changed after it.
    app.platform.now.set(NOW + 60_000);
    import(
        &app,
        "northside",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": [entry(obs("p1-new", "p1", "laboratory"))]}),
    );
    let since = flare_core::datetime::format_instant(NOW + 30_000);
    let k = kick_off(
        &app,
        &format!("/fhir/Group/g/$export?_since={}", since.replace(':', "%3A")),
    );
    assert_eq!(k.status, 202);
    drain(&app);
    let got = exported(&app, &call(&app, admin("GET", &status_path(&k))).json_body());
    assert_eq!(got.get("Observation"), Some(&ids(&["p1-new"])));
    assert!(!got.contains_key("Patient"));
}

#[test]
fn bad_kick_offs_are_400_or_404() {
    let app = world();
    let no_prefer = call(&app, admin("GET", "/fhir/Group/g/$export"));
    assert_eq!(no_prefer.status, 400);
    for q in [
        "_outputFormat=text/csv",
        "_since=yesterday",
        "_type=Bogus",
        "patient=Patient/p1",
        "_typeFilter=Observation%3Fbogus%3D1",
        "includeAssociatedData=x",
    ] {
        let r = kick_off(&app, &format!("/fhir/Group/g/$export?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json_body()["resourceType"], "OperationOutcome");
    }
    assert_eq!(kick_off(&app, "/fhir/Group/nope/$export").status, 404);
    assert_eq!(call(&app, admin("GET", "/fhir/$export-status/nope")).status, 404);
    let post = call(
        &app,
        admin("POST", "/fhir/Group/g/$export")
            .header("prefer", "respond-async")
            .header("content-type", "application/fhir+json")
            .body(json!({"resourceType": "Parameters", "parameter": [{"name": "_type", "valueString": "Patient"}]}).to_string()),
    );
    assert_eq!(post.status, 202, "{}", String::from_utf8_lossy(&post.body));
}

#[test]
fn cancel_deletes_and_later_polls_are_404() {
    let app = world();
    let k = kick_off(&app, "/fhir/$export");
    assert_eq!(k.status, 202);
    let status = status_path(&k);
    // One chunk, then cancel mid-export.
    let queued = app.platform.take_queue();
    let (practice, job) = &queued[0];
    pollster::block_on(bulk::run(&app, practice, job));
    let del = call(&app, admin("DELETE", &status));
    assert_eq!(del.status, 202);
    assert!(app.platform.objects_under("exports/").is_empty(), "files deleted");
    let later = call(&app, admin("GET", &status));
    assert_eq!(later.status, 404);
    assert_eq!(later.json_body()["resourceType"], "OperationOutcome");
    drain(&app); // leftover messages find nothing to do
    assert_eq!(call(&app, admin("GET", &status)).status, 404);
}

#[test]
fn a_lost_runner_is_resumed_without_lost_or_doubled_lines() {
    let app = world();
    let k = kick_off(&app, "/fhir/Group/g/$export");
    let status = status_path(&k);
    let queued = app.platform.take_queue();
    let (practice, job) = queued[0].clone();
    // A few chunks run and hand over; the queued hand-over is lost (a restart).
    pollster::block_on(bulk::run_chunks(&app, &practice, &job, 3));
    assert_eq!(app.platform.take_queue().len(), 1);
    // A runner claims the job and dies mid-chunk: while its lease holds, a
    // poll starts nobody else.
    let db = app.shards.for_practice(&practice);
    let held = pollster::block_on(flare_edge::store::export::claim(
        db,
        &practice,
        &job,
        NOW,
        NOW + bulk::LEASE_MS,
    ))
    .unwrap();
    assert!(held.is_some());
    assert_eq!(call(&app, admin("GET", &status)).status, 202);
    assert_eq!(app.platform.queue_len(), 0);
    // Once the lease has run out, a poll resumes the job.
    app.platform.now.set(NOW + bulk::LEASE_MS + 1);
    assert_eq!(call(&app, admin("GET", &status)).status, 202);
    assert_eq!(app.platform.queue_len(), 1, "the poll resumes the job");
    drain(&app);
    let m = call(&app, admin("GET", &status)).json_body();
    let got = exported(&app, &m);
    assert_eq!(got["Patient"], ids(&["p1", "p2", "p3"]));
    assert_eq!(got["Observation"].len(), 12);
    let mut all: Vec<String> = got["Observation"].clone();
    all.dedup();
    assert_eq!(all.len(), 12, "no line twice");
}

#[test]
fn a_poll_runs_an_export_the_queue_no_longer_delivers() {
    let app = world();
    let k = kick_off(&app, "/fhir/Group/g/$export");
    let status = status_path(&k);
    // The queue delivers nothing: every message is lost.
    assert_eq!(app.platform.take_queue().len(), 1);
    // Within two leases' length a poll only queues the job again.
    app.platform.now.set(NOW + bulk::LEASE_MS + 1);
    assert_eq!(call(&app, admin("GET", &status)).status, 202);
    assert_eq!(app.platform.take_queue().len(), 1, "the poll queued a run");
    // Past it, the poll runs the job itself (here, with a clock that does
    // not move, to its end) and answers with the manifest.
    app.platform.now.set(NOW + 2 * bulk::LEASE_MS + 1);
    let done = call(&app, admin("GET", &status));
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let got = exported(&app, &done.json_body());
    assert_eq!(got["Patient"], ids(&["p1", "p2", "p3"]));
    assert_eq!(got["Observation"].len(), 12);
    let mut all: Vec<String> = got["Observation"].clone();
    all.dedup();
    assert_eq!(all.len(), 12, "no line twice");
}

/// An access token for a registered, approved client, minted straight into the store.
fn token_for(app: &TestApp, client_id: &str, scope: &str) -> String {
    use flare_edge::store::auth::{insert_tokens, NewAccessToken};
    let r = call(
        app,
        admin("POST", "/register").body(
            json!({"client_id": client_id, "client_name": client_id,
        "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://backend.example/jwks", "scope": "system/*.rs"})
            .to_string(),
        ),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        call(app, admin("POST", &format!("/admin/clients/{client_id}/approve"))).status,
        200
    );
    let token = format!("token-of-{client_id}-0123456789");
    let row = NewAccessToken {
        token_hash: flare_edge::crypto::sha256_b64(&token),
        client_id: client_id.into(),
        grant_id: None,
        family_id: None,
        practice: "northside".into(),
        user_id: None,
        patient: None,
        scope: scope.into(),
        issued_at: NOW,
        expires_at: NOW + 3_600_000,
        context: json!({}),
    };
    pollster::block_on(insert_tokens(app.auth_db(), &row, None, false)).unwrap();
    token
}

fn with_token(token: &str, method: &str, path: &str) -> flare_edge::http::HttpRequest {
    common::request(method, path)
        .header("authorization", &format!("Bearer {token}"))
        .header("prefer", "respond-async")
}

#[test]
fn exports_need_a_system_token_export_only_granted_types_and_are_capped() {
    let app = world();
    let r = call(
        &app,
        common::request("GET", "/fhir/Group/g/$export").header("prefer", "respond-async"),
    );
    assert_eq!(r.status, 401);
    let user = token_for(&app, "user-level-app", "user/*.rs");
    assert_eq!(
        call(&app, with_token(&user, "GET", "/fhir/Group/g/$export")).status,
        403
    );
    let narrow = token_for(
        &app,
        "narrow-backend",
        "system/Patient.rs system/Observation.rs?category=vital-signs",
    );
    assert_eq!(
        call(
            &app,
            with_token(&narrow, "GET", "/fhir/Group/g/$export?_type=Condition")
        )
        .status,
        403
    );
    let k = call(&app, with_token(&narrow, "GET", "/fhir/Group/g/$export"));
    assert_eq!(k.status, 202, "{}", String::from_utf8_lossy(&k.body));
    drain(&app);
    let status = status_path(&k);
    // Another client cannot see the job or its files.
    let other = token_for(&app, "other-backend", "system/*.rs");
    assert_eq!(call(&app, with_token(&other, "GET", &status)).status, 404);
    let m = call(&app, with_token(&narrow, "GET", &status)).json_body();
    for f in m["output"].as_array().unwrap() {
        let path = f["url"].as_str().unwrap().strip_prefix(BASE).unwrap().to_string();
        assert_eq!(call(&app, with_token(&other, "GET", &path)).status, 404);
        assert_eq!(call(&app, with_token(&narrow, "GET", &path)).status, 200);
    }
    let got = exported(&app, &m);
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        vec!["Observation", "Patient"],
        "only granted types"
    );
    assert_eq!(
        got["Observation"],
        ids(&["p1-vs", "p2-vs", "p3-vs"]),
        "the scope's query restricts the export"
    );
    // At most two running exports per client.
    assert_eq!(call(&app, with_token(&other, "GET", "/fhir/$export")).status, 202);
    assert_eq!(call(&app, with_token(&other, "GET", "/fhir/$export")).status, 202);
    let third = call(&app, with_token(&other, "GET", "/fhir/$export"));
    assert_eq!(third.status, 429);
    assert!(third.header_value("retry-after").is_some());
}

#[test]
fn finished_exports_expire_and_their_files_are_deleted() {
    let app = world();
    let k = kick_off(&app, "/fhir/Group/g/$export");
    let status = status_path(&k);
    drain(&app);
    assert_eq!(call(&app, admin("GET", &status)).status, 200);
    assert!(!app.platform.objects_under("exports/").is_empty());
    app.platform.now.set(NOW + bulk::EXPIRY_MS + 1);
    pollster::block_on(bulk::purge_all_expired(&app));
    assert!(app.platform.objects_under("exports/").is_empty(), "files deleted");
    assert_eq!(call(&app, admin("GET", &status)).status, 404);
}

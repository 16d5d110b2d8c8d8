//! `POST /admin/import`: Bundle semantics, validation before any write, and
//! the errors a client can cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::*;
use serde_json::{json, Value};

fn post(app: &TestApp, body: &str, content_type: &str) -> flare_edge::http::HttpResponse {
    call(
        app,
        admin("POST", "/admin/import")
            .header("content-type", content_type)
            .body(body.to_string()),
    )
}

#[test]
fn transaction_creates_and_resolves_urn_references() {
    let app = app();
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
         "resource": {"resourceType": "Patient", "name": [{"family": "Okafor"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:22222222-2222-4222-8222-222222222222",
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Practitioner", "id": "dr-a"}, "request": {"method": "PUT", "url": "Practitioner/dr-a"}}
    ]});
    let out = import(&app, "northside", &tx);
    assert_eq!(out["total"], 3);
    assert_eq!(out["counts"]["Observation"], 1);
    let patients = search_ids(&app, "/fhir/Patient?family=okafor");
    assert_eq!(patients.len(), 1);
    let obs = get(&app, &format!("/fhir/Observation?patient={}", patients[0])).json_body();
    let subject = obs["entry"][0]["resource"]["subject"]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(subject, format!("Patient/{}", patients[0]));
    assert_eq!(get(&app, "/fhir/Practitioner/dr-a").status, 200);
}

#[test]
fn invalid_entries_are_named_and_nothing_is_written() {
    let app = app();
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "ok-1"}},
        {"resource": {"resourceType": "Pateint", "id": "typo"}},
        {"resource": {"resourceType": "Patient", "id": "bad id!"}},
        {"resource": {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/"}}},
        {"resource": {"resourceType": "Observation", "id": "o2", "subject": {"reference": "urn:uuid:nowhere"}}}
    ]});
    let r = post(&app, &bundle.to_string(), "application/fhir+json");
    assert_eq!(r.status, 400);
    let oo = r.json_body();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let locations: Vec<&str> = oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    for i in 1..=4 {
        assert!(
            locations.contains(&format!("Bundle.entry[{i}]").as_str()),
            "entry {i} not named: {oo}"
        );
    }
    assert!(!locations.contains(&"Bundle.entry[0]"));
    assert_eq!(
        get(&app, "/fhir/Patient/ok-1").status,
        404,
        "a rejected request wrote data"
    );
}

#[test]
fn transaction_with_one_bad_entry_writes_nothing() {
    let app = app();
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "t1"}, "request": {"method": "PUT", "url": "Patient/t1"}},
        {"resource": {"resourceType": "Patient", "id": "t2"}, "request": {"method": "DELETE", "url": "Patient/t2"}}
    ]});
    assert_eq!(post(&app, &tx.to_string(), "application/fhir+json").status, 400);
    assert_eq!(get(&app, "/fhir/Patient/t1").status, 404);
    let mismatch = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "t1"}, "request": {"method": "PUT", "url": "Patient/t9"}}
    ]});
    assert_eq!(
        post(&app, &mismatch.to_string(), "application/fhir+json").status,
        400
    );
}

#[test]
fn ndjson_import_and_versions() {
    let app = app();
    let lines =
        "{\"resourceType\":\"Patient\",\"id\":\"n1\"}\n\n{\"resourceType\":\"Patient\",\"id\":\"n2\"}\n";
    let r = post(&app, lines, "application/fhir+ndjson");
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()["total"], 2);
    let first = get(&app, "/fhir/Patient/n1");
    assert_eq!(first.json_body()["meta"]["versionId"], "1");
    assert_eq!(first.header_value("etag"), Some("W/\"1\""));
    assert_eq!(post(&app, lines, "application/fhir+ndjson").status, 200);
    let second = get(&app, "/fhir/Patient/n1");
    assert_eq!(second.json_body()["meta"]["versionId"], "2");
    assert_eq!(second.header_value("etag"), Some("W/\"2\""));
    let bad = post(
        &app,
        "{\"resourceType\":\"Patient\",\"id\":\"n3\"}\nnot json\n",
        "application/fhir+ndjson",
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json_body()["issue"][1]["expression"][0], "line 2");
    assert_eq!(get(&app, "/fhir/Patient/n3").status, 404);
}

#[test]
fn client_errors_are_operation_outcomes() {
    let app = app();
    import(&app, "northside", &json!({"resourceType": "Patient", "id": "p1"}));
    let cases: Vec<(flare_edge::http::HttpResponse, u16)> = vec![
        (
            call(
                &app,
                flare_edge::http::HttpRequest::new(
                    "GET",
                    flare_edge::http::Url::parse(&format!("{BASE}/fhir/Patient/p1")).unwrap(),
                ),
            ),
            401,
        ),
        (
            call(
                &app,
                flare_edge::http::HttpRequest::new(
                    "GET",
                    flare_edge::http::Url::parse(&format!("{BASE}/fhir/Patient/p1")).unwrap(),
                )
                .header("authorization", "Bearer wrong"),
            ),
            401,
        ),
        (get(&app, "/fhir/Patient/nope"), 404),
        (get(&app, "/fhir/Nope/1"), 404),
        (get(&app, "/fhir/Patient/bad$id"), 400),
        (call(&app, admin("DELETE", "/fhir/Patient/p1")), 405),
        (call(&app, admin("PUT", "/fhir/Patient/p1")), 405),
        (get(&app, "/fhir/Patient/p1?_format=xml"), 406),
        (
            call(
                &app,
                admin("GET", "/fhir/Patient/p1").header("accept", "application/fhir+xml"),
            ),
            406,
        ),
        (post(&app, "{", "application/fhir+json"), 400),
        (
            call(&app, admin("POST", "/admin/import?practice=nowhere").body("{}")),
            404,
        ),
        (
            call(&app, admin("PUT", "/admin/practices/Bad Key").body("{}")),
            400,
        ),
    ];
    for (i, (r, status)) in cases.iter().enumerate() {
        assert_eq!(
            r.status,
            *status,
            "case {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json_body()["resourceType"], "OperationOutcome", "case {i}");
    }
    assert!(cases[0].0.header_value("www-authenticate").is_some());
    assert!(cases[1]
        .0
        .header_value("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    let etag = get(&app, "/fhir/Patient/p1")
        .header_value("etag")
        .unwrap()
        .to_string();
    let not_modified = call(
        &app,
        admin("GET", "/fhir/Patient/p1").header("if-none-match", &etag),
    );
    assert_eq!(not_modified.status, 304);
}

#[test]
fn practices_are_isolated() {
    let app = app();
    import(
        &app,
        "lakeshore",
        &json!({"resourceType": "Patient", "id": "only-lake", "name": [{"family": "Lake"}]}),
    );
    assert_eq!(get(&app, "/fhir/Patient/only-lake").status, 404);
    assert!(search_ids(&app, "/fhir/Patient?family=lake").is_empty());
    let r = call(
        &app,
        admin("GET", "/fhir/Patient/only-lake").header("x-flare-practice", "lakeshore"),
    );
    assert_eq!(r.status, 200);
    let base: Value = call(
        &app,
        flare_edge::http::HttpRequest::new(
            "GET",
            flare_edge::http::Url::parse(&format!("{BASE}/fhir")).unwrap(),
        ),
    )
    .json_body();
    let orgs = base["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Organization")
        .count();
    assert_eq!(orgs, 2);
    assert_eq!(base["entry"][0]["resource"]["address"], "http://flare.test/fhir");
}

#[test]
fn oversized_resource_is_rejected_before_writing() {
    let app = app();
    let big = "x".repeat(flare_edge::fhir::import::MAX_RESOURCE_BYTES);
    let body = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "small"}},
        {"resource": {"resourceType": "Binary", "id": "big", "contentType": "text/plain", "data": big}}
    ]});
    let r = post(&app, &body.to_string(), "application/fhir+json");
    assert_eq!(r.status, 400);
    assert!(r.json_body()["issue"][1]["diagnostics"]
        .as_str()
        .unwrap()
        .contains("limit"));
    assert_eq!(get(&app, "/fhir/Patient/small").status, 404);
}

#[test]
fn resources_over_one_d1_string_are_stored_in_parts() {
    let app = app();
    let data = "QUJD".repeat(400_000); // 1.6 MB of base64
    let doc = json!({"resourceType": "DocumentReference", "id": "big-doc", "status": "current",
        "subject": {"reference": "Patient/p1"}, "meta": {"profile": ["x"]},
        "content": [{"attachment": {"contentType": "application/pdf", "data": data}}]});
    import(&app, "northside", &doc);
    import(&app, "northside", &doc); // an update keeps one set of parts
    let read = get(&app, "/fhir/DocumentReference/big-doc").json_body();
    assert_eq!(
        read["content"][0]["attachment"]["data"].as_str().map(str::len),
        Some(1_600_000)
    );
    assert_eq!(read["meta"]["versionId"], "2");
    let found = get(&app, "/fhir/DocumentReference?patient=p1").json_body();
    assert_eq!(
        found["entry"][0]["resource"]["content"][0]["attachment"]["data"]
            .as_str()
            .map(str::len),
        Some(1_600_000)
    );
    assert_eq!(found["entry"][0]["resource"]["meta"]["versionId"], "2");
}

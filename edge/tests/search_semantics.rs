//! FHIR search semantics, data-driven: `data/search-semantics.json` holds a
//! small data set and cases written from the FHIR R4 search specification
//! (query → expected matching ids, includes, totals or error status). The
//! whole application runs natively over SQLite with D1's limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::*;
use serde_json::Value;

#[test]
fn search_cases_from_the_spec() {
    let data: Value = serde_json::from_str(include_str!("data/search-semantics.json")).expect("valid JSON");
    let app = app();
    for r in data["resources"].as_array().expect("resources") {
        import(&app, "northside", r);
    }
    let mut failures = Vec::new();
    let cases = data["cases"].as_array().expect("cases");
    for case in cases {
        let q = case["query"].as_str().expect("query");
        let path = format!("/fhir/{q}");
        let why = case["why"].as_str().unwrap_or("");
        if let Some(status) = case["status"].as_u64() {
            let r = get(&app, &path);
            if r.status as u64 != status || r.json_body()["resourceType"] != "OperationOutcome" {
                failures.push(format!(
                    "{q}: expected {status} OperationOutcome, got {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            continue;
        }
        if let Some(expect) = case["expect"].as_array() {
            let mut got = search_ids(&app, &path);
            let mut want: Vec<String> = expect
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect();
            if case["ordered"] != true {
                got.sort();
                want.sort();
            }
            if got != want {
                failures.push(format!("{q} ({why}): expected {want:?}, got {got:?}"));
            }
        }
        let first = get(&app, &path).json_body();
        if let Some(total) = case["total"].as_u64() {
            if first["total"].as_u64() != Some(total) {
                failures.push(format!("{q}: expected total {total}, got {}", first["total"]));
            }
        }
        if let Some(incs) = case["includes"].as_array() {
            let got: Vec<&str> = first["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["search"]["mode"] == "include")
                .filter_map(|e| e["resource"]["id"].as_str())
                .collect();
            let want: Vec<&str> = incs.iter().filter_map(Value::as_str).collect();
            if got != want {
                failures.push(format!("{q}: expected includes {want:?}, got {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn post_search_equals_get() {
    let data: Value = serde_json::from_str(include_str!("data/search-semantics.json")).expect("valid JSON");
    let app = app();
    for r in data["resources"].as_array().expect("resources") {
        import(&app, "northside", r);
    }
    let get_ids = search_ids(
        &app,
        "/fhir/Observation?patient=pat-nunez&category=laboratory,vital-signs",
    );
    let r = call(
        &app,
        admin("POST", "/fhir/Observation/_search")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("patient=pat-nunez&category=laboratory%2Cvital-signs"),
    );
    assert_eq!(r.status, 200);
    let post_ids: Vec<String> = r.json_body()["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(get_ids, post_ids);
    assert_eq!(get_ids.len(), 2);
}

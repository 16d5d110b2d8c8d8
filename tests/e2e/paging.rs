//! Trial 8: paging stays exact while data changes. 120 Observations of one
//! patient are paged with `_count=7`; between page fetches new Observations
//! are imported and already-seen ones updated. Every original appears exactly
//! once, and nothing appears twice.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use flare_tests::fhir::{entries, entry_key, entry_mode, link};
use flare_tests::{check, check_eq};

use crate::context::{Ctx, NORTHSIDE};

const PATIENT: &str = "e8-page-patient";

fn observation(id: &str, n: usize) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                     "code": "vital-signs"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": format!("Patient/{PATIENT}")},
           "effectiveDateTime": format!("2020-01-{:02}T{:02}:{:02}:00Z", 1 + n % 28, n % 24, n % 60),
           "valueQuantity": {"value": n, "unit": "/min"}})
}

/// Trial: page while importing new and updating seen Observations.
pub fn while_importing(ctx: &Ctx) {
    let c = &ctx.client;
    c.import_ok(NORTHSIDE, &json!({"resourceType": "Patient", "id": PATIENT}));
    let originals: Vec<String> = (0..120).map(|i| format!("e8-orig-{i:03}")).collect();
    let lines: Vec<Value> = originals
        .iter()
        .enumerate()
        .map(|(i, id)| observation(id, i))
        .collect();
    check_eq!(
        c.import_ndjson(NORTHSIDE, &lines).expect_status(200).json()["total"],
        120
    );

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_order: Vec<String> = Vec::new();
    let mut new_count = 0;
    let mut updated = 0;
    let mut resp = c
        .get("/fhir/Observation")
        .query(&[("patient", PATIENT), ("_count", "7")])
        .send()
        .expect_status(200)
        .json();
    let mut pages = 1;
    loop {
        let page: Vec<Value> = entries(&resp)
            .into_iter()
            .filter(|e| entry_mode(e) == "match")
            .collect();
        check!(page.len() <= 7, "page of {} entries with _count=7", page.len());
        for e in &page {
            let id = entry_key(e).1;
            *seen.entry(id.clone()).or_default() += 1;
            seen_order.push(id);
        }
        let Some(next) = link(&resp, "next") else { break };
        // Between pages: two new Observations, and an update of two already-seen ones.
        if new_count < 30 {
            let fresh: Vec<Value> = (new_count..(new_count + 2).min(30))
                .map(|k| observation(&format!("e8-new-{k:03}"), 500 + k))
                .collect();
            new_count += fresh.len();
            c.import_ndjson(NORTHSIDE, &fresh).expect_status(200);
        }
        let seen_originals: Vec<&String> = seen_order.iter().filter(|id| id.starts_with("e8-orig")).collect();
        let again: Vec<Value> = seen_originals
            .iter()
            .rev()
            .take(2)
            .map(|id| {
                let n: usize = id.trim_start_matches("e8-orig-").parse().unwrap_or(0);
                let mut o = observation(id, n);
                o["valueQuantity"]["value"] = json!(1000 + updated);
                o
            })
            .collect();
        updated += again.len();
        c.import_ndjson(NORTHSIDE, &again).expect_status(200);
        resp = c.get(&next).send().expect_status(200).json();
        pages += 1;
        check!(pages < 200, "paging does not end");
    }
    let missing: Vec<&String> = originals.iter().filter(|id| !seen.contains_key(*id)).collect();
    let twice: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    ctx.note(format!(
        "paging: {pages} pages of 7; {} new imported and {updated} updates during paging; {} distinct seen",
        new_count,
        seen.len()
    ));
    check!(
        missing.is_empty(),
        "originals never seen while paging: {missing:?}"
    );
    check!(
        twice.is_empty(),
        "entries seen more than once while paging: {twice:?}"
    );
    check_eq!(new_count, 30);
    check!(updated >= 30, "only {updated} updates made while paging");
    // Afterwards all 150 are there.
    let count = c
        .get("/fhir/Observation")
        .query(&[("patient", PATIENT), ("_summary", "count")])
        .send()
        .json();
    check_eq!(count["total"], 150, "count after paging");
}

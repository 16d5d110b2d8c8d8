//! Index extraction and the search compiler against real SQLite, driven by
//! the registry (generated from the US Core and R4 SearchParameter
//! definitions) and the 230 US Core examples in `../shared/fixtures`: every
//! example imports, reads back unchanged, and is found by a search on every
//! value each of its search parameters indexes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use std::path::PathBuf;

use common::*;
use flare_core::datetime::format_instant;
use flare_core::{index, registry};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/us-core-examples")
}

/// Every resource in the fixtures (Bundle entries unpacked), last one wins per type/id.
fn fixture_resources() -> Vec<Value> {
    let dir = fixtures_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (tests need ../shared beside the checkout)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out: Vec<Value> = Vec::new();
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("readable")).expect("JSON");
        let items = if v["resourceType"] == "Bundle" {
            v["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["resource"].clone())
                .collect()
        } else {
            vec![v]
        };
        for r in items {
            out.retain(|o| !(o["resourceType"] == r["resourceType"] && o["id"] == r["id"]));
            out.push(r);
        }
    }
    out
}

fn without_server_meta(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("lastUpdated");
        meta.remove("versionId");
        if meta.is_empty() {
            v.as_object_mut().map(|o| o.remove("meta"));
        }
    }
    v
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('|', "\\|")
        .replace('$', "\\$")
}

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[test]
fn fixtures_import_read_back_and_are_found_by_every_indexed_value() {
    let app = app();
    let resources = fixture_resources();
    assert!(
        resources.len() >= 200,
        "only {} fixture resources",
        resources.len()
    );
    let dir = fixtures_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).expect("readable")).expect("JSON");
        import(&app, "northside", &v);
    }

    let mut searches = 0;
    let mut failures = Vec::new();
    for r in &resources {
        let (t, id) = (r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap());
        let read = get(&app, &format!("/fhir/{t}/{id}"));
        assert_eq!(read.status, 200, "{t}/{id}");
        if without_server_meta(read.json_body()) != without_server_meta(r.clone()) {
            failures.push(format!("{t}/{id} does not read back unchanged"));
        }
        let Some(def) = registry::resource(t) else {
            continue;
        };
        let rows = index::extract(def, r, Some("http://flare.test/fhir"));
        let mut queries: Vec<String> = Vec::new();
        for x in &rows.tokens {
            match (&x.system, &x.code, &x.text) {
                (Some(s), Some(c), _) => queries.push(format!(
                    "{}={}",
                    x.param,
                    enc(&format!("{}|{}", escape(s), escape(c)))
                )),
                (None, Some(c), _) => queries.push(format!("{}={}", x.param, enc(&escape(c)))),
                (_, None, Some(text)) => queries.push(format!("{}:text={}", x.param, enc(&escape(text)))),
                _ => {}
            }
        }
        for x in &rows.strings {
            let prefix: String = x.norm.chars().take(4).collect();
            queries.push(format!("{}={}", x.param, enc(&escape(&prefix))));
            queries.push(format!("{}:exact={}", x.param, enc(&escape(&x.exact))));
        }
        for x in &rows.dates {
            queries.push(format!(
                "{p}=ge{}&{p}=le{}",
                enc(&format_instant(x.start)),
                enc(&format_instant(x.end)),
                p = x.param
            ));
        }
        for x in rows
            .references
            .iter()
            .filter(|x| x.param != flare_core::index::OTHER_REFERENCE)
        {
            if let (Some(tt), Some(tid)) = (&x.target_type, &x.target_id) {
                let param = def.param(x.param).expect("indexed param exists");
                if param.targets.contains(&tt.as_str()) {
                    queries.push(format!("{}={}", x.param, enc(&format!("{tt}/{tid}"))));
                }
            }
        }
        for q in queries {
            searches += 1;
            let ids = search_ids(&app, &format!("/fhir/{t}?{q}&_count=500"));
            if !ids.iter().any(|x| x == id) {
                failures.push(format!("{t}/{id} not found by {t}?{q}"));
            }
        }
    }
    println!("{} resources, {searches} searches", resources.len());
    assert!(searches > 1000, "only {searches} searches ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

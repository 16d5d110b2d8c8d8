//! Every US Core SHALL and SHOULD search combination compiles to one statement
//! whose plan starts from an index: `EXPLAIN QUERY PLAN` must show no full
//! scan of `resources` or of an index table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use flare_core::registry::{self, ParamKind};
use flare_core::search::{self, ParseOptions};
use std::collections::BTreeMap;

use flare_edge::store::search_sql::{compile, TypeRule, Visibility};
use flare_edge::store::sqlite::SqliteDatabase;

/// A plausible value for a parameter of each kind.
fn sample(kind: ParamKind, code: &str) -> &'static str {
    match (kind, code) {
        (ParamKind::Reference, _) => "Patient/p1",
        (ParamKind::Token, "_id") => "abc",
        (ParamKind::Token, _) => "http://loinc.org|1234-5",
        (ParamKind::Date, _) => "ge2020-01-01",
        (ParamKind::String, _) => "smi",
    }
}

fn full_scans(plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|l| {
            let l = l.trim();
            // CTEs (page, ranked as p), materialized IN lists (subquery-N) and
            // json_each (a VIRTUAL TABLE) are scans of small intermediate sets, not of tables.
            let small = [
                "SCAN page",
                "SCAN ranked",
                "SCAN p",
                "SCAN (subquery-",
                "SCAN CONSTANT",
            ];
            l.starts_with("SCAN ") && !small.iter().any(|s| l.starts_with(s)) && !l.contains("VIRTUAL TABLE")
        })
        .cloned()
        .collect()
}

#[test]
fn every_combination_starts_from_an_index() {
    let db = SqliteDatabase::in_memory().unwrap();
    let scope = Visibility::practice("p");
    let mut checked = 0;
    let mut failures = Vec::new();
    for def in registry::RESOURCES {
        for combo in def.combinations {
            let pairs: Vec<(String, String)> = combo
                .params
                .iter()
                .map(|code| {
                    let kind = def.param(code).map_or(ParamKind::Token, |p| p.kind);
                    let mut v = sample(kind, code).to_string();
                    if kind == ParamKind::Reference {
                        let target = def.param(code).map_or("Patient", |p| p.targets[0]);
                        v = format!("{target}/x1");
                    }
                    (code.to_string(), v)
                })
                .collect();
            let mut with_includes = pairs.clone();
            for inc in def.includes {
                with_includes.push(("_include".into(), inc.to_string()));
            }
            for inc in def.revincludes {
                with_includes.push(("_revinclude".into(), inc.to_string()));
            }
            for (label, pairs) in [("plain", pairs), ("with includes", with_includes)] {
                let req = search::parse(def.name, &pairs, ParseOptions::default())
                    .unwrap_or_else(|e| panic!("{} {:?}: {}", def.name, pairs, e.0));
                let compiled = compile(&req, &scope, 0, true).expect("compiles");
                let plan = db.query_plan(&compiled.page).unwrap();
                let scans = full_scans(&plan);
                if !scans.is_empty() {
                    failures.push(format!(
                        "{} {} ({label}): {:?}\n  plan: {:#?}",
                        def.name,
                        combo.params.join("+"),
                        scans,
                        plan
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} combinations checked");
    assert!(
        failures.is_empty(),
        "{} plans scan a table:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn patient_scoped_search_starts_from_the_compartment() {
    let db = SqliteDatabase::in_memory().unwrap();
    // A patient/*.rs token, and ones with query-restricted scopes.
    let rules = |restricted: &str, query: (&str, &str)| {
        let mut map = BTreeMap::new();
        for def in registry::RESOURCES.iter().filter(|d| d.name != "Group") {
            let restrictions = if def.name == restricted {
                let pair = vec![(query.0.to_string(), query.1.to_string())];
                vec![
                    search::parse(def.name, &pair, ParseOptions::default())
                        .unwrap()
                        .filters,
                ]
            } else {
                Vec::new()
            };
            map.insert(
                def.name,
                TypeRule {
                    patient: Some("p1".into()),
                    restrictions,
                },
            );
        }
        Visibility {
            practice: "p".into(),
            rules: Some(map),
            with_patients: true,
        }
    };
    let scope = rules("", ("", ""));
    let restricted = rules("Observation", ("category", "vital-signs"));
    let restricted_mr = rules("MedicationRequest", ("status", "active"));
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a Visibility);
    let cases: &[Case] = &[
        ("Observation", &[("category", "laboratory")], &scope),
        ("Observation", &[], &restricted),
        (
            "MedicationRequest",
            &[
                ("intent", "order"),
                ("_include", "MedicationRequest:medication"),
                ("_revinclude", "Provenance:target"),
            ],
            &restricted_mr,
        ),
        // Outside the compartment: what the patient's records reference.
        ("Practitioner", &[], &scope),
        ("Provenance", &[], &scope),
        ("Medication", &[("code", "123")], &scope),
    ];
    for (rtype, pairs, scope) in cases {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = search::parse(rtype, &pairs, ParseOptions::default()).unwrap();
        let plan = db
            .query_plan(&compile(&req, scope, 0, false).unwrap().page)
            .unwrap();
        assert!(full_scans(&plan).is_empty(), "{rtype} {pairs:?}: {plan:#?}");
    }
}

#[test]
fn everything_starts_each_type_from_the_compartment() {
    use flare_edge::store::search_sql::{compile_everything, EverythingAfter};
    let db = SqliteDatabase::in_memory().unwrap();
    // The operator's rules narrowed to the patient, as $everything builds
    // them, and a lab-only Observation scope.
    let mut rules = BTreeMap::new();
    for def in registry::RESOURCES.iter().filter(|d| d.name != "Group") {
        let restrictions = if def.name == "Observation" {
            let pair = vec![("category".to_string(), "laboratory".to_string())];
            vec![
                search::parse(def.name, &pair, ParseOptions::default())
                    .unwrap()
                    .filters,
            ]
        } else {
            Vec::new()
        };
        rules.insert(
            def.name,
            TypeRule {
                patient: Some("p1".into()),
                restrictions,
            },
        );
    }
    let scope = Visibility {
        practice: "p".into(),
        rules: Some(rules),
        with_patients: true,
    };
    let mut types: Vec<&'static str> = registry::RESOURCES
        .iter()
        .map(|d| d.name)
        .filter(|t| *t != "Group")
        .collect();
    types.sort_by_key(|t| (*t != "Patient", *t));
    let after = EverythingAfter { rank: 3, rid: 10 };
    for (since, after) in [(None, None), (Some(0), Some(after))] {
        let page = compile_everything(&scope, "p1", &types, since, after, 50, 0).unwrap();
        let plan = db.query_plan(&page).unwrap();
        assert!(full_scans(&plan).is_empty(), "{plan:#?}");
    }
}

#[test]
fn import_statements_start_from_the_batch() {
    use flare_edge::store::resources::{upsert_statements, NewResource};
    let db = SqliteDatabase::in_memory().unwrap();
    let r = NewResource {
        resource_type: "Patient".into(),
        id: "p1".into(),
        json: r#"{"resourceType":"Patient","id":"p1"}"#.into(),
        index: flare_core::index::extract(
            registry::resource("Patient").unwrap(),
            &serde_json::json!({
                "resourceType": "Patient", "id": "p1", "name": [{"family": "X"}], "gender": "male", "birthDate": "2000"
            }),
            None,
        ),
    };
    for stmt in upsert_statements("p", 0, &[r]) {
        let plan = db.query_plan(&stmt).unwrap();
        let scans = full_scans(&plan);
        assert!(scans.is_empty(), "{}\n{plan:#?}", stmt.sql);
    }
}

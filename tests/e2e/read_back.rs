//! Trial 1: every US Core example file imports with one request each, and
//! every resource reads back equal to its file (ignoring the server's
//! `meta.lastUpdated` and `meta.versionId`).

use std::collections::BTreeMap;

use serde_json::Value;

use flare_tests::fhir::{first_difference, without_server_meta};
use flare_tests::fixtures::{self, Expected};
use flare_tests::http::excerpt;
use flare_tests::{check, check_eq};

use crate::context::{Ctx, NORTHSIDE};

/// The fixtures as imported: each file's response, and what must be stored.
pub struct FixtureImport {
    /// `(file, status, body)` of each import request, in import order.
    pub responses: Vec<(String, u16, String)>,
    /// What must be stored, by `(type, id)`: the last file wins.
    pub expected: BTreeMap<(String, String), Expected>,
    /// Resources in the files without an id (not read back).
    pub without_id: usize,
}

/// Imports every fixture file into northside once (shared by the trials that need them).
pub fn fixtures(ctx: &Ctx) -> &FixtureImport {
    ctx.fixtures.get_or_init(|| {
        let files = fixtures::load(&ctx.shared.join("fixtures/us-core-examples"));
        let responses = files
            .iter()
            .map(|f| {
                let r = ctx.client.import(NORTHSIDE, &f.json);
                (f.name.clone(), r.status, r.body)
            })
            .collect();
        let (expected, without_id) = fixtures::expected(&files);
        FixtureImport {
            responses,
            expected,
            without_id,
        }
    })
}

/// Trial: import all fixtures (all 200, counts add up), read each resource back.
pub fn import_and_read_back(ctx: &Ctx) {
    let imported = fixtures(ctx);
    check!(
        imported.responses.len() >= 200,
        "only {} fixture files found",
        imported.responses.len()
    );
    let mut problems: Vec<String> = imported
        .responses
        .iter()
        .filter(|(_, status, _)| *status != 200)
        .map(|(name, status, body)| format!("import of {name} answered {status}: {}", excerpt(body)))
        .collect();
    flare_tests::check::count();
    for (name, _, body) in imported.responses.iter().filter(|(_, status, _)| *status == 200) {
        let v: Value = serde_json::from_str(body).unwrap_or_default();
        check_eq!(v["practice"], NORTHSIDE, "{name}: import response {body}");
        check!(
            v["total"].as_u64().is_some_and(|n| n >= 1),
            "{name}: import response {body}"
        );
    }
    for ((t, id), exp) in &imported.expected {
        let r = ctx.client.get(&format!("/fhir/{t}/{id}")).send();
        if r.status != 200 {
            problems.push(format!(
                "{t}/{id} (from {}): read answered {}: {}",
                exp.source,
                r.status,
                excerpt(&r.body)
            ));
            continue;
        }
        let stored = r.json();
        let version = stored["meta"]["versionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        check!(!version.is_empty(), "{t}/{id}: no meta.versionId");
        check!(
            stored["meta"]["lastUpdated"].is_string(),
            "{t}/{id}: no meta.lastUpdated"
        );
        check_eq!(
            r.header("etag"),
            Some(format!("W/\"{version}\"").as_str()),
            "{t}/{id}: ETag vs meta.versionId"
        );
        let (got, want) = (without_server_meta(&stored), without_server_meta(&exp.resource));
        flare_tests::check::count();
        if got != want {
            let diff = first_difference(&got, &want, t).unwrap_or_default();
            problems.push(format!(
                "{t}/{id} (from {}) differs from the file: {diff}",
                exp.source
            ));
        }
    }
    ctx.note(format!(
        "fixtures: {} files imported one request each ({} answered 200); {} resources read back and compared \
         ({} without id not read)",
        imported.responses.len(),
        imported.responses.iter().filter(|(_, status, _)| *status == 200).count(),
        imported.expected.len(),
        imported.without_id
    ));
    check!(
        problems.is_empty(),
        "{} import/read-back problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

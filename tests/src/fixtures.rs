//! The US Core example resources in `shared/fixtures/us-core-examples`: one
//! JSON file each, some of them searchset Bundles whose entries are the data.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One fixture file.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File name.
    pub name: String,
    /// Its JSON.
    pub json: Value,
}

/// A resource the fixtures should leave stored: the last file that wrote it wins.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The resource as in the file.
    pub resource: Value,
    /// Where it came from (`file` or `file#entry[i]`).
    pub source: String,
}

/// Every fixture file in `dir`, sorted by name (the import order).
pub fn load(dir: &Path) -> Vec<Fixture> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            Fixture {
                name: p.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                json,
            }
        })
        .collect()
}

/// The resources a file contributes: itself, or the entries of a Bundle
/// (except search outcome messages), each with its source label.
pub fn resources_of(f: &Fixture) -> Vec<(Value, String)> {
    if f.json["resourceType"] == "Bundle" {
        let entries = f.json["entry"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.get("resource")
                    .map(|r| (r.clone(), format!("{}#entry[{i}]", f.name)))
            })
            .filter(|(r, _)| !(f.json["type"] == "searchset" && r["resourceType"] == "OperationOutcome"))
            .collect()
    } else {
        vec![(f.json.clone(), f.name.clone())]
    }
}

/// What the fixtures should leave stored, keyed by `(type, id)`, last import
/// winning; also the number of contributed resources without an id (their
/// server-assigned id cannot be predicted, so they are not read back).
pub fn expected(fixtures: &[Fixture]) -> (BTreeMap<(String, String), Expected>, usize) {
    let mut out = BTreeMap::new();
    let mut without_id = 0;
    for f in fixtures {
        for (r, source) in resources_of(f) {
            let t = r["resourceType"].as_str().unwrap_or_default().to_string();
            match r["id"].as_str() {
                Some(id) => {
                    out.insert((t, id.to_string()), Expected { resource: r, source });
                }
                None => without_id += 1,
            }
        }
    }
    (out, without_id)
}

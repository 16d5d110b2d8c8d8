//! The generated resource types (`resources.d.ts`, from the FHIR R4
//! StructureDefinitions) accept every US Core example in
//! `shared/fixtures/us-core-examples`: each is written as an object literal
//! assigned to its interface (so tsc also rejects elements the types do not
//! declare) and type-checked with the repository's `tsc` (strict). A
//! misspelt element and a code outside a required value set must fail.
//!
//! Needs `npm ci` at the repository root; without `node_modules/.bin/tsc` the
//! test says so and passes, unless `FLARE_REQUIRE_TSC` is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use flare_sdk::typescript;
use serde_json::Value;

/// Examples that break the FHIR R4 definition itself, with tsc's error:
/// (file, part of the message, why).
const KNOWN_INVALID: &[(&str, &str, &str)] = &[(
    "diagnosticreport-cbc.json",
    "Property 'div' is missing",
    "its `text` has `status` but no `div` (Narrative.div is 1..1 in R4)",
)];

fn shared() -> PathBuf {
    std::env::var_os("FLARE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tsc(dir: &Path, config: &str) -> (bool, String) {
    let tsc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/tsc");
    let out = Command::new(tsc)
        .args(["-p", config])
        .current_dir(dir)
        .output()
        .expect("run tsc");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn every_us_core_example_type_checks() {
    let tsc_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/tsc");
    if !tsc_bin.exists() {
        assert!(
            std::env::var_os("FLARE_REQUIRE_TSC").is_none(),
            "FLARE_REQUIRE_TSC is set but {} is missing (run `npm ci`)",
            tsc_bin.display()
        );
        eprintln!(
            "skipped: no {} (run `npm ci` at the repository root)",
            tsc_bin.display()
        );
        return;
    }
    let fhir = shared().join("reference/fhir-r4");
    let defs = typescript::Definitions::from_bundles(&[
        read(&fhir.join("structuredefinitions-resources.json")),
        read(&fhir.join("structuredefinitions-types.json")),
    ]);
    let dts = typescript::resources(&defs, &read(&fhir.join("fhir.schema.json"))).unwrap();
    let served: Vec<&str> = flare_core::registry::resource_names().collect();

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("resource-examples");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("resources.d.ts"), dts).unwrap();

    let examples_dir = shared().join("fixtures/us-core-examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut ts = String::from(
        "import type { FhirResource, ResourceMap } from \"./resources.js\";\n\
         // Each example as an object literal of its interface: tsc checks every element.\n",
    );
    let (mut typed, mut untyped) = (0, Vec::new());
    let mut add = |ts: &mut String, name: &str, r: &Value| {
        let t = r["resourceType"].as_str().unwrap_or("");
        let ty = if served.contains(&t) {
            typed += 1;
            format!("ResourceMap[\"{t}\"]")
        } else {
            untyped.push(format!("{name} ({t})"));
            "FhirResource".to_string()
        };
        ts.push_str(&format!(
            "// {name}\nexport const e{}: {ty} = {};\n",
            typed + untyped.len(),
            r
        ));
    };
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let v = read(f);
        if v["resourceType"] == "Bundle" {
            for (i, e) in v["entry"].as_array().into_iter().flatten().enumerate() {
                add(&mut ts, &format!("{name} entry {i}"), &e["resource"]);
            }
        } else {
            add(&mut ts, &name, &v);
        }
    }
    assert_eq!(files.len(), 230, "the US Core examples");
    std::fs::write(dir.join("examples.ts"), &ts).unwrap();
    std::fs::write(
        dir.join("bad.ts"),
        "import type { Observation } from \"./resources.js\";\n\
         export const misspelt: Observation = { resourceType: \"Observation\", status: \"final\", code: {}, colour: \"red\" };\n\
         export const badCode: Observation = { resourceType: \"Observation\", status: \"finished\", code: {} };\n\
         export const noCode: Observation = { resourceType: \"Observation\", status: \"final\" };\n",
    )
    .unwrap();
    let config = |files: &str| {
        format!(
            "{{\"compilerOptions\": {{\"strict\": true, \"noEmit\": true, \"target\": \"es2022\", \
             \"module\": \"esnext\", \"moduleResolution\": \"bundler\", \"skipLibCheck\": false}}, \
             \"files\": [{files}]}}"
        )
    };
    std::fs::write(
        dir.join("tsconfig.json"),
        config("\"resources.d.ts\", \"examples.ts\""),
    )
    .unwrap();
    std::fs::write(
        dir.join("tsconfig.bad.json"),
        config("\"resources.d.ts\", \"bad.ts\""),
    )
    .unwrap();

    let (ok, text) = tsc(&dir, "tsconfig.json");
    // Errors are allowed only where the example itself breaks the R4
    // definition, each named here with the reason.
    let lines: Vec<&str> = ts.lines().collect();
    let mut unexpected = Vec::new();
    let mut seen = vec![false; KNOWN_INVALID.len()];
    for error in text.lines().filter(|l| l.contains("error")) {
        if !error.starts_with("examples.ts(") {
            unexpected.push(error.to_string());
            continue;
        }
        let line: usize = error["examples.ts(".len()..]
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let example = lines[line - 2].trim_start_matches("// ");
        match KNOWN_INVALID
            .iter()
            .position(|(file, message, _)| example.starts_with(file) && error.contains(message))
        {
            Some(i) => seen[i] = true,
            None => unexpected.push(format!("{example}: {error}")),
        }
    }
    assert!(
        unexpected.is_empty() && (ok || seen.iter().any(|s| *s)),
        "tsc rejected US Core examples ({}):\n{}\n{text}",
        dir.display(),
        unexpected.join("\n")
    );
    for (i, (file, _, why)) in KNOWN_INVALID.iter().enumerate() {
        assert!(
            seen[i],
            "{file} now type-checks ({why} no longer holds): remove it from KNOWN_INVALID"
        );
    }
    eprintln!(
        "{typed} example resources type-checked against their interfaces; as FhirResource: {untyped:?}"
    );
    assert!(typed >= 220, "only {typed} examples of served types");

    let (ok, text) = tsc(&dir, "tsconfig.bad.json");
    assert!(!ok, "tsc accepted bad.ts");
    for needle in ["colour", "\"finished\"", "code"] {
        assert!(text.contains(needle), "tsc did not name {needle}:\n{text}");
    }
    assert!(
        text.matches("bad.ts(").count() >= 3,
        "three errors expected:\n{text}"
    );
}

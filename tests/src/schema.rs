//! The FHIR R4 JSON schema (`shared/reference/fhir-r4/fhir.schema.json`),
//! compiled once per process: every JSON document the server writes itself
//! (Bundles, OperationOutcomes, the CapabilityStatement) is checked against
//! it by [`fhir_errors`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();

/// Where the schema is: `$FLARE_SHARED`, else `shared/` beside the repository.
fn schema_path() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    crate::server::shared_dir(&root).join("reference/fhir-r4/fhir.schema.json")
}

fn validator() -> &'static jsonschema::Validator {
    VALIDATOR.get_or_init(|| {
        let path = schema_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the FHIR R4 JSON schema at {}: {e}", path.display()));
        let mut schema: Value = serde_json::from_str(&text).expect("fhir.schema.json is JSON");
        // The file also carries some non-FHIR definitions (Project, Bot, …)
        // naming `#/definitions/Resource` and `integer64`, which it never
        // defines; the validator resolves every reference up front. They are
        // taken as any resource (as FHIR's own `contained` is) and as R5's
        // integer64 (a string of digits); no FHIR R4 definition uses them.
        if let Some(defs) = schema["definitions"].as_object_mut() {
            defs.entry("Resource")
                .or_insert_with(|| serde_json::json!({"$ref": "#/definitions/ResourceList"}));
            defs.entry("integer64").or_insert_with(
                || serde_json::json!({"type": "string", "pattern": "^-?([0]|([1-9][0-9]*))$"}),
            );
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft6)
            .build(&schema)
            .expect("fhir.schema.json compiles")
    })
}

/// Why `doc` is not a valid FHIR R4 resource by the JSON schema (at most 10
/// reasons, each with its JSON pointer); empty when it is.
pub fn fhir_errors(doc: &Value) -> Vec<String> {
    validator()
        .iter_errors(doc)
        .take(10)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_tells_valid_from_invalid() {
        let ok = serde_json::json!({"resourceType": "Bundle", "type": "searchset", "total": 0});
        assert!(fhir_errors(&ok).is_empty(), "{:?}", fhir_errors(&ok));
        let bad = serde_json::json!({"resourceType": "Bundle", "type": "no-such-type"});
        assert!(!fhir_errors(&bad).is_empty());
        let bad_element = serde_json::json!({"resourceType": "Patient", "gender": 3});
        assert!(!fhir_errors(&bad_element).is_empty());
    }
}

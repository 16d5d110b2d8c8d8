//! `GET [base]/metadata`: the CapabilityStatement, generated from the same
//! registry that executes searches, so it can never claim a parameter, an
//! include or a profile the server does not serve.

use serde_json::{json, Value as Json};

use flare_core::registry::{self, ResourceDef};

use crate::http::error::ApiResult;
use crate::http::{HttpRequest, HttpResponse};

const EXPECTATION: &str = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation";
const COMBINATION: &str =
    "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination";

fn resource_entry(def: &ResourceDef) -> Json {
    let mut params: Vec<Json> = vec![
        json!({"name": "_id", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id", "type": "token"}),
        json!({"name": "_lastUpdated", "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "type": "date"}),
    ];
    for p in def.params.iter().filter(|p| p.code != "_id") {
        params.push(json!({
            "extension": [{"url": EXPECTATION, "valueCode": p.expectation}],
            "name": p.code,
            "definition": p.definition,
            "type": p.kind.as_str(),
            "documentation": p.documentation,
        }));
    }
    let combos: Vec<Json> = def
        .combinations
        .iter()
        .map(|c| {
            let mut ext = vec![json!({"url": EXPECTATION, "valueCode": c.expectation})];
            ext.extend(
                c.params
                    .iter()
                    .map(|p| json!({"url": "required", "valueString": p})),
            );
            json!({"url": COMBINATION, "extension": ext})
        })
        .collect();
    let mut entry = json!({
        "type": def.name,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "versioned",
        "readHistory": false,
        "updateCreate": false,
        "conditionalRead": "not-match",
        "referencePolicy": ["literal", "local"],
        "searchParam": params,
    });
    if !def.profiles.is_empty() {
        entry["supportedProfile"] = json!(def.profiles);
    }
    if !def.includes.is_empty() {
        entry["searchInclude"] = json!(def.includes);
    }
    if !def.revincludes.is_empty() {
        entry["searchRevInclude"] = json!(def.revincludes);
    }
    if !combos.is_empty() {
        entry["extension"] = json!(combos);
    }
    // Bulk Data export operations (FHIR Bulk Data Access 2.0.0), Patient
    // $everything and US Core's $docref.
    let operation = |name: &str, definition: &str| json!({"name": name, "definition": definition});
    let export = |definition: &str| json!({"name": "export", "definition": definition, "documentation": EXPORT_DOCUMENTATION});
    match def.name {
        "Group" => {
            entry["operation"] = json!([export(
                "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
            )])
        }
        "Patient" => {
            let mut everything = operation(
                "everything",
                "http://hl7.org/fhir/OperationDefinition/Patient-everything",
            );
            everything["documentation"] = json!("GET Patient/[id]/$everything with _since, _type and _count: the Patient, their compartment and the resources those records reference, as far as the token's scopes show them; paged by next links.");
            entry["operation"] = json!([
                export("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"),
                everything
            ])
        }
        "DocumentReference" => {
            let mut docref = operation("docref", "http://hl7.org/fhir/us/core/OperationDefinition/docref");
            docref["documentation"] = json!("GET or POST DocumentReference/$docref with patient (required), start, end (care dates: the context period, else the document's date, overlaps them) and type. Without start and end: the patient's current documents. Stored (stable) documents only: documents are not generated on demand, so on-demand=true answers no documents, with an OperationOutcome saying so; profile is not supported (400). No resources are included.");
            entry["operation"] = json!([docref])
        }
        _ => {}
    }
    if def.in_patient_compartment() && def.name != "Patient" {
        entry["documentation"] = json!("A search needs at least one search parameter (typically patient); a search without any returns 400.");
    }
    entry
}

/// What every `$export` declaration says of the parameters it takes.
const EXPORT_DOCUMENTATION: &str = "Bulk Data 2.0.0 kick-off (GET, or POST with a Parameters resource; \
     Prefer: respond-async): _outputFormat (application/fhir+ndjson), _since, _type, _typeFilter (several \
     per type are ORed), _elements; patient (POST, valueReference; Patient and Group level: only those \
     patients, each of whom must be in the export). includeAssociatedData is refused with a 400: no \
     associated data is exported beyond the Provenance of each exported record.";

/// Builds the CapabilityStatement for the FHIR base `base`.
pub fn capability_statement(base: &str) -> Json {
    let resources: Vec<Json> = registry::RESOURCES.iter().map(resource_entry).collect();
    json!({
        "resourceType": "CapabilityStatement",
        "id": "flare",
        "url": format!("{base}/metadata"),
        "name": "FlareCapabilityStatement",
        "title": "Flare FHIR R4 server",
        "status": "active",
        "experimental": false,
        "date": "2026-11-22",
        "publisher": "Flare",
        "kind": "instance",
        "software": {"name": "Flare", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Flare read-only FHIR R4 API (US Core 4.0.0 / 6.1.0)", "url": base},
        "instantiates": [
            "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server",
            "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
        ],
        "implementationGuide": [
            "http://hl7.org/fhir/us/core/ImplementationGuide/hl7.fhir.us.core|6.1.0",
            "http://hl7.org/fhir/us/core/ImplementationGuide/hl7.fhir.us.core|4.0.0"
        ],
        "fhirVersion": "4.0.1",
        "format": ["json", "application/json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read and search only. Other resource types of FHIR R4 can be read by id when imported but are not searchable.",
            "security": crate::oauth::discovery::capability_security(base),
            "resource": resources,
            "operation": [{"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export", "documentation": EXPORT_DOCUMENTATION}],
        }],
    })
}

/// Handles `GET /fhir/metadata` (no token needed).
pub fn handle(req: &HttpRequest) -> ApiResult {
    crate::fhir::search::check_format(req)?;
    Ok(HttpResponse::fhir(
        200,
        capability_statement(&req.fhir_base()).to_string(),
    ))
}

//! `GET [base]` (`/fhir`): the service base URL Bundle, as the vendor
//! publishes it: one Endpoint (the common FHIR base of every practice) and an
//! Organization per practice (name, address, NPI) that references it.

use serde_json::{json, Value as Json};

use crate::app::App;
use crate::http::error::ApiResult;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::resources::{self, Practice};
use crate::store::Database;

/// Id of the common Endpoint resource in the service base Bundle.
pub const ENDPOINT_ID: &str = "flare-fhir-r4";

async fn organization<D: Database>(db: &D, p: &Practice) -> Result<Json, crate::store::DbError> {
    if let Some(org_id) = &p.organization_id {
        if let Some(stored) = resources::read(db, &p.key, "Organization", org_id).await? {
            if let Ok(mut org) = serde_json::from_str::<Json>(&stored.json) {
                org["endpoint"] = json!([{"reference": format!("Endpoint/{ENDPOINT_ID}")}]);
                return Ok(org);
            }
        }
    }
    // No Organization resource imported yet: publish what the practice record says.
    Ok(json!({
        "resourceType": "Organization",
        "id": p.organization_id.clone().unwrap_or_else(|| format!("practice-{}", p.key)),
        "active": true,
        "name": p.name,
        "endpoint": [{"reference": format!("Endpoint/{ENDPOINT_ID}")}],
    }))
}

/// Handles `GET /fhir`.
pub async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let base = req.fhir_base();
    let endpoint = json!({
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "status": "active",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
        "name": "Flare FHIR R4 API (US Core 4.0.0 / 6.1.0)",
        "payloadType": [{"coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Patient"}], "text": "US Core FHIR resources"}],
        "payloadMimeType": ["application/fhir+json"],
        "address": base,
    });
    let mut entries =
        vec![json!({"fullUrl": format!("{base}/Endpoint/{ENDPOINT_ID}"), "resource": endpoint})];
    for db in app.shards.all() {
        for p in resources::list_practices(db).await? {
            let org = organization(db, &p).await?;
            let id = org
                .get("id")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            entries.push(json!({"fullUrl": format!("{base}/Organization/{id}"), "resource": org}));
        }
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": flare_core::datetime::format_instant(app.platform.now_ms()),
        "entry": entries,
    });
    Ok(HttpResponse::fhir(200, bundle.to_string()))
}

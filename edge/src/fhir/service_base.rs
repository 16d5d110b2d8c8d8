//! `GET [base]` (`/fhir`): the service base URL Bundle, published as SMART
//! App Launch 2.2's User-access Brands Bundle: one Endpoint (the common FHIR
//! base of every practice; its address answers `/metadata`) and one
//! Organization per practice (name, postal address, NPI, the brand's logo
//! and patient portal when the operator gave them) that references it, and
//! one per site the operator declared, `partOf` its practice's.
//! Public (no token, any origin) and cacheable: `ETag`, `Cache-Control:
//! public`, and 304 for a matching `If-None-Match`.

use serde_json::{json, Value as Json};

use flare_core::identity::NPI_SYSTEM;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::ApiResult;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::resources::{self, Practice};
use crate::store::Database;

/// Id of the common Endpoint resource in the service base Bundle.
pub const ENDPOINT_ID: &str = "flare-fhir-r4";

/// How long a client may reuse the Bundle without asking again (seconds).
const MAX_AGE_S: u32 = 300;

const BRAND: &str = "http://hl7.org/fhir/StructureDefinition/organization-brand";
const PORTAL: &str = "http://hl7.org/fhir/StructureDefinition/organization-portal";
const FHIR_VERSION: &str = "http://hl7.org/fhir/StructureDefinition/endpoint-fhir-version";

/// The Endpoint every practice is reached at (the User Access Endpoint
/// profile: FHIR version, `hl7-fhir-rest`, a developer contact URL, the base).
fn endpoint(base: &str) -> Json {
    let origin = base.trim_end_matches("/fhir");
    json!({
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "extension": [{"url": FHIR_VERSION, "valueCode": "4.0.1"}],
        "status": "active",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
        "name": "Flare FHIR R4 API (US Core 6.1.0 / 4.0.0)",
        "contact": [{"system": "url", "value": format!("{origin}/developer")}],
        "payloadType": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "code": "none"}]}],
        "payloadMimeType": ["application/fhir+json"],
        "address": base,
    })
}

/// A practice's Organization (the User Access Brand profile), from what the
/// operator declared through the admin API.
fn organization(p: &Practice) -> Json {
    let endpoint_ref = json!({"reference": format!("Endpoint/{ENDPOINT_ID}")});
    let mut org = json!({
        "resourceType": "Organization",
        "id": p.organization_id.clone().unwrap_or_else(|| format!("practice-{}", p.key)),
        "active": true,
        "name": p.name,
        "endpoint": [endpoint_ref.clone()],
    });
    if let Some(npi) = &p.npi {
        org["identifier"] = json!([{"system": NPI_SYSTEM, "value": npi}]);
    }
    if let Some(address) = p
        .address
        .as_deref()
        .and_then(|a| serde_json::from_str::<Json>(a).ok())
    {
        org["address"] = json!([address]);
    }
    let mut extensions = Vec::new();
    if let Some(logo) = &p.logo_url {
        extensions.push(json!({"url": BRAND, "extension": [{"url": "brandLogo", "valueUrl": logo}]}));
    }
    if let Some(url) = &p.portal_url {
        let mut portal = Vec::new();
        if let Some(name) = &p.portal_name {
            portal.push(json!({"url": "portalName", "valueString": name}));
        }
        portal.push(json!({"url": "portalUrl", "valueUrl": url}));
        portal.push(json!({"url": "portalEndpoint", "valueReference": endpoint_ref}));
        extensions.push(json!({"url": PORTAL, "extension": portal}));
    }
    if !extensions.is_empty() {
        org["extension"] = Json::Array(extensions);
    }
    org
}

/// The Organizations of a practice's sites, each `partOf` the practice's.
fn sites(p: &Practice, practice_org: &str) -> Vec<Json> {
    let list: Vec<Json> = p
        .sites
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    list.into_iter()
        .map(|site| {
            json!({
                "resourceType": "Organization",
                "id": site["id"],
                "active": true,
                "name": site["name"],
                "identifier": [{"system": NPI_SYSTEM, "value": site["npi"]}],
                "address": [site["address"]],
                "partOf": {"reference": format!("Organization/{practice_org}")},
                "endpoint": [{"reference": format!("Endpoint/{ENDPOINT_ID}")}],
            })
        })
        .collect()
}

/// Handles `GET /fhir`.
pub async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let base = req.fhir_base();
    let mut entries =
        vec![json!({"fullUrl": format!("{base}/Endpoint/{ENDPOINT_ID}"), "resource": endpoint(&base)})];
    for db in app.shards.all() {
        for p in resources::list_practices(db).await? {
            let org = organization(&p);
            let id = org["id"].as_str().unwrap_or_default().to_string();
            let sites = sites(&p, &id);
            entries.push(json!({"fullUrl": format!("{base}/Organization/{id}"), "resource": org}));
            for site in sites {
                let site_id = site["id"].as_str().unwrap_or_default().to_string();
                entries.push(json!({"fullUrl": format!("{base}/Organization/{site_id}"), "resource": site}));
            }
        }
    }
    // The tag covers the content, not the timestamp: an unchanged Bundle
    // keeps its tag, and a client's conditional request gets a 304.
    let tag = format!(
        "W/\"{}\"",
        &sha256_b64(&Json::Array(entries.clone()).to_string())[..16]
    );
    let cache = format!("public, max-age={MAX_AGE_S}");
    let matches = req
        .header_value("if-none-match")
        .is_some_and(|h| h.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if matches {
        return Ok(HttpResponse::empty(
            304,
            vec![("etag".into(), tag), ("cache-control".into(), cache)],
        ));
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "id": "user-access-brands",
        "meta": {"profile": ["http://hl7.org/fhir/smart-app-launch/StructureDefinition/user-access-brands-bundle"]},
        "type": "collection",
        "timestamp": flare_core::datetime::format_instant(app.platform.now_ms()),
        "entry": entries,
    });
    Ok(HttpResponse::fhir(200, bundle.to_string())
        .with_header("etag", &tag)
        .with_header("cache-control", &cache))
}

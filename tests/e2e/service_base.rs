//! Trial 9: the public documents: the service base Bundle (`GET /fhir`) and
//! the CapabilityStatement (`GET /fhir/metadata`), both without a token.

use std::collections::BTreeSet;
use std::fs;

use serde_json::Value;

use flare_tests::fhir::entries;
use flare_tests::{check, check_eq};

use crate::context::{Ctx, LAKESHORE, NORTHSIDE};

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Trial: service base Bundle and CapabilityStatement.
pub fn bundle_and_capability_statement(ctx: &Ctx) {
    let c = &ctx.client;
    let base = c.fhir_base();

    // Service base URL Bundle.
    let r = c.get("/fhir").no_auth().send().expect_status(200);
    let b = r.json();
    check_eq!(b["resourceType"], "Bundle");
    check_eq!(b["type"], "collection");
    let all = entries(&b);
    let endpoints: Vec<&Value> = all
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Endpoint")
        .collect();
    check_eq!(endpoints.len(), 1, "one Endpoint: {b}");
    let ep = &endpoints[0]["resource"];
    let address = ep["address"].as_str().unwrap_or_default();
    check!(
        address.ends_with("/fhir"),
        "Endpoint.address {address:?} ends with /fhir"
    );
    check_eq!(address, base, "Endpoint.address is this server's FHIR base");
    check_eq!(ep["status"], "active");
    check_eq!(ep["connectionType"]["code"], "hl7-fhir-rest");
    let ep_ref = format!("Endpoint/{}", ep["id"].as_str().unwrap_or_default());
    let orgs: Vec<&Value> = all
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Organization")
        .collect();
    check!(orgs.len() >= 2, "an Organization per practice: {b}");
    let names: Vec<&str> = orgs.iter().filter_map(|o| o["name"].as_str()).collect();
    for practice_name in ["Northside Family Practice", "Lakeshore Clinic"] {
        check!(
            names.contains(&practice_name),
            "no Organization named {practice_name:?}: {names:?}"
        );
    }
    for o in &orgs {
        check!(
            o["endpoint"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["reference"] == ep_ref.as_str()),
            "Organization {} does not reference {ep_ref}",
            o["id"]
        );
    }
    for e in &all {
        let full = e["fullUrl"].as_str().unwrap_or_default();
        let key = format!(
            "{}/{}",
            e["resource"]["resourceType"].as_str().unwrap_or(""),
            e["resource"]["id"].as_str().unwrap_or("")
        );
        check!(full.ends_with(&key), "fullUrl {full} names {key}");
    }
    // The federal rule and SMART 2.2's User-access Brands: every Endpoint
    // is referenced by an Organization, with its FHIR version, a developer
    // contact URL and a base that answers /metadata; every Organization has
    // a name, an address and an NPI.
    check_eq!(
        ep["extension"][0]["url"],
        "http://hl7.org/fhir/StructureDefinition/endpoint-fhir-version"
    );
    check_eq!(ep["extension"][0]["valueCode"], "4.0.1");
    check!(
        ep["contact"][0]["value"]
            .as_str()
            .is_some_and(|u| u.ends_with("/developer")),
        "Endpoint.contact names the developer portal: {ep}"
    );
    check!(
        ep["payloadType"].is_array() && ep["payloadMimeType"].is_array(),
        "payload: {ep}"
    );
    let metadata = c.get(&format!("{address}/metadata")).no_auth().send();
    check_eq!(metadata.status, 200, "{address}/metadata");
    check_eq!(metadata.json()["resourceType"], "CapabilityStatement");
    for o in &orgs {
        let npi = o["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["system"] == "http://hl7.org/fhir/sid/us-npi");
        check!(
            npi.is_some_and(|i| i["value"].as_str().is_some_and(|v| v.len() == 10)),
            "Organization {} has an NPI: {o}",
            o["id"]
        );
        let a = &o["address"][0];
        check!(
            a["line"][0].is_string()
                && a["city"].is_string()
                && a["state"].is_string()
                && a["postalCode"].is_string(),
            "Organization {} has an address: {o}",
            o["id"]
        );
    }
    for problem in flare_tests::schema::fhir_errors(&b) {
        check!(false, "the Bundle against the FHIR R4 schema: {problem}");
    }
    // Public and cacheable: any origin, a validator, 304 when unchanged.
    let cors = c
        .get("/fhir")
        .no_auth()
        .header("Origin", "https://any.example")
        .send();
    check_eq!(cors.header("access-control-allow-origin"), Some("*"), "CORS");
    let tag = r.header("etag").unwrap_or_default().to_string();
    check!(tag.starts_with("W/\""), "ETag {tag:?}");
    check!(
        r.header("cache-control").is_some_and(|v| v.contains("public")),
        "Cache-Control public: {:?}",
        r.header("cache-control")
    );
    let again = c.get("/fhir").no_auth().header("If-None-Match", &tag).send();
    check_eq!(again.status, 304, "If-None-Match with the current tag");

    let listed = c.get("/admin/practices").send().expect_status(200).json();
    let keys: Vec<&str> = listed["practices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["key"].as_str())
        .collect();
    check!(
        keys.contains(&NORTHSIDE) && keys.contains(&LAKESHORE),
        "GET /admin/practices: {listed}"
    );

    // CapabilityStatement.
    let r = c.get("/fhir/metadata").no_auth().send().expect_status(200);
    check!(
        r.header("content-type").is_some_and(|t| t.contains("json")),
        "metadata content-type"
    );
    let cs = r.json();
    check_eq!(cs["resourceType"], "CapabilityStatement");
    for problem in flare_tests::schema::fhir_errors(&cs) {
        check!(
            false,
            "the CapabilityStatement against the FHIR R4 schema: {problem}"
        );
    }
    check_eq!(cs["fhirVersion"], "4.0.1");
    check_eq!(cs["kind"], "instance");
    let formats = strings(&cs["format"]);
    check!(
        formats.contains("json") || formats.contains("application/fhir+json"),
        "formats {formats:?}"
    );
    check!(
        strings(&cs["instantiates"])
            .contains("http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"),
        "instantiates US Core server"
    );
    let rest = &cs["rest"][0];
    check_eq!(rest["mode"], "server");
    let resources = rest["resource"].as_array().cloned().unwrap_or_default();
    let find = |t: &str| resources.iter().find(|r| r["type"] == t).cloned();
    for t in ["Patient", "Observation"] {
        let r = find(t).unwrap_or_else(|| panic!("no {t} in the CapabilityStatement"));
        let interactions: BTreeSet<String> = r["interaction"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["code"].as_str())
            .map(str::to_string)
            .collect();
        check!(
            interactions.contains("read") && interactions.contains("search-type"),
            "{t} interactions {interactions:?}"
        );
    }

    // Includes and revincludes as the US Core server CapabilityStatement declares them.
    let path = ctx
        .shared
        .join("reference/us-core-6.1.0/capabilitystatement-us-core-server.json");
    let us: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap_or_default()).unwrap_or_default();
    let mut compared = 0;
    for ur in us["rest"][0]["resource"].as_array().into_iter().flatten() {
        let t = ur["type"].as_str().unwrap_or_default();
        let ours =
            find(t).unwrap_or_else(|| panic!("US Core resource {t} missing from the CapabilityStatement"));
        for key in ["searchInclude", "searchRevInclude"] {
            let (want, have) = (strings(&ur[key]), strings(&ours[key]));
            let missing: Vec<&String> = want.difference(&have).collect();
            check!(missing.is_empty(), "{t}.{key} lacks {missing:?} (has {have:?})");
            compared += 1;
        }
        // Every SHALL search parameter of US Core is declared.
        let declared: BTreeSet<String> = ours["searchParam"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .map(str::to_string)
            .collect();
        for sp in ur["searchParam"].as_array().into_iter().flatten() {
            let shall = sp["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["valueCode"] == "SHALL");
            let name = sp["name"].as_str().unwrap_or_default();
            if shall {
                check!(
                    declared.contains(name),
                    "{t}: SHALL search parameter {name} not declared"
                );
            }
        }
    }
    check!(
        compared >= 40,
        "compared the includes of only {} resource types",
        compared / 2
    );
    let mr = find("MedicationRequest").unwrap_or_default();
    check!(
        strings(&mr["searchInclude"]).contains("MedicationRequest:medication"),
        "MedicationRequest:medication"
    );
    let obs = find("Observation").unwrap_or_default();
    check!(
        strings(&obs["searchRevInclude"]).contains("Provenance:target"),
        "Observation revinclude Provenance:target"
    );
}

//! The operator's API shape: one way to name the practice a request acts on,
//! and practices read, refused removal while they hold records, and purged
//! completely (every table of the schema checked, the other practice intact).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::{admin, app, call, import_puts, text, TestApp};
use flare_edge::store::{Database, Statement};
use serde_json::{json, Value};

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "Doe", "given": [id]}]})
}

fn observation(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"text": "weight"}, "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": "2026-01-01"})
}

fn total(app: &TestApp, practice: &str, path: &str) -> i64 {
    let r = call(app, admin("GET", path).header("x-flare-practice", practice));
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json_body()["entry"].as_array().map_or(0, |e| e.len() as i64)
}

/// Rows naming `practice` in any table of the database that has a
/// `practice` (or `key`, for `practices`) column, read from the schema itself
/// so that a table added later is checked too.
fn rows_of(app: &TestApp, practice: &str) -> Vec<(String, i64)> {
    let db = &app.shards.all()[0];
    let tables = pollster::block_on(db.query(Statement::new(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'd1_migrations'",
        vec![],
    )))
    .unwrap();
    let mut found = Vec::new();
    for t in tables {
        let table = t[0].as_str().unwrap().to_string();
        let columns = pollster::block_on(db.query(Statement::new(
            format!("SELECT name FROM pragma_table_info('{table}')"),
            vec![],
        )))
        .unwrap();
        let names: Vec<String> = columns
            .iter()
            .map(|c| c[0].as_str().unwrap().to_string())
            .collect();
        let column = if table == "practices" {
            "key"
        } else if names.iter().any(|n| n == "practice") {
            "practice"
        } else {
            continue;
        };
        let n = pollster::block_on(db.query(Statement::new(
            format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?1"),
            vec![practice.into()],
        )))
        .unwrap()[0][0]
            .as_i64()
            .unwrap();
        if n > 0 {
            found.push((table, n));
        }
    }
    found
}

#[test]
fn every_operator_route_names_its_practice_the_same_way() {
    let app = app();
    // The header picks the practice of an import, as it does for reads.
    let r = call(
        &app,
        admin("POST", "/admin/import")
            .header("x-flare-practice", "lakeshore")
            .header("content-type", "application/fhir+json")
            .body(patient("h1").to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json_body()["practice"], "lakeshore");
    assert_eq!(total(&app, "lakeshore", "/fhir/Patient"), 1);
    assert_eq!(total(&app, "northside", "/fhir/Patient"), 0);
    // On the admin API `?practice=` names it too; naming two is refused.
    let r = call(
        &app,
        admin("POST", "/admin/import?practice=lakeshore")
            .header("content-type", "application/fhir+json")
            .body(patient("q1").to_string()),
    );
    assert_eq!(r.json_body()["practice"], "lakeshore");
    assert_eq!(total(&app, "lakeshore", "/fhir/Patient"), 2);
    let r = call(
        &app,
        admin("POST", "/admin/import?practice=northside")
            .header("x-flare-practice", "lakeshore")
            .header("content-type", "application/fhir+json")
            .body(patient("h2").to_string()),
    );
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("two practices"), "{}", text(&r));
    let r = call(
        &app,
        admin("GET", "/admin/audit").header("x-flare-practice", "lakeshore"),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
}

#[test]
fn a_practice_is_removed_only_with_its_records_and_the_purge_is_complete() {
    let app = app();
    import_puts(
        &app,
        "lakeshore",
        [patient("p1"), observation("o1", "p1"), observation("o2", "p1")],
    );
    import_puts(&app, "northside", [patient("n1"), observation("n2", "n1")]);
    for (practice, user, fhir_user) in [
        ("lakeshore", "lake-user", "Patient/p1"),
        ("northside", "north-user", "Patient/n1"),
    ] {
        let r = call(
            &app,
            admin("POST", "/admin/users").body(
                json!({"username": user, "password": "Correct-horse-9", "practice": practice, "fhirUser": fhir_user})
                    .to_string(),
            ),
        );
        assert_eq!(r.status, 201, "{}", text(&r));
        let r = call(
            &app,
            admin("POST", "/register").body(
                json!({"client_id": format!("{practice}-app"), "client_name": "App", "practice": practice,
                    "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code"], "scope": "launch/patient patient/*.rs"})
                .to_string(),
            ),
        );
        assert_eq!(r.status, 201, "{}", text(&r));
        let r = call(
            &app,
            admin("POST", &format!("/admin/clients/{practice}-app/approve")),
        );
        assert_eq!(r.status, 200, "{}", text(&r));
    }
    let before = rows_of(&app, "lakeshore");
    assert!(
        before.len() >= 6,
        "lakeshore's rows spread over tables: {before:?}"
    );

    let r = call(&app, admin("GET", "/admin/practices/lakeshore"));
    assert_eq!(r.status, 200, "{}", text(&r));
    let records = &r.json_body()["records"];
    assert_eq!(
        (records["resources"].as_i64(), records["users"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(records["clients"].as_i64(), Some(1));

    // Refused while it holds records: nothing is removed.
    let r = call(&app, admin("DELETE", "/admin/practices/lakeshore"));
    assert_eq!(r.status, 409, "{}", text(&r));
    assert!(text(&r).contains("purge=true"), "{}", text(&r));
    assert_eq!(rows_of(&app, "lakeshore"), before);

    let northside = rows_of(&app, "northside");
    let r = call(&app, admin("DELETE", "/admin/practices/lakeshore?purge=true"));
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.json_body()["removed"]["resources"], 3);
    assert_eq!(
        rows_of(&app, "lakeshore"),
        vec![],
        "every row of the practice is gone"
    );
    assert_eq!(
        rows_of(&app, "northside"),
        northside,
        "the other practice is untouched"
    );
    assert_eq!(call(&app, admin("GET", "/admin/practices/lakeshore")).status, 404);
    assert_eq!(total(&app, "northside", "/fhir/Observation?patient=n1"), 1);
    // The removed practice's app no longer exists; the other's does.
    assert_eq!(
        call(&app, admin("GET", "/admin/clients/lakeshore-app")).status,
        404
    );
    assert_eq!(
        call(&app, admin("GET", "/admin/clients/northside-app")).status,
        200
    );

    // An empty practice goes without a purge; an unknown one is 404.
    let r = call(
        &app,
        admin("PUT", "/admin/practices/empty").body(flare_tests::practice::practice("Empty").to_string()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(call(&app, admin("DELETE", "/admin/practices/empty")).status, 200);
    assert_eq!(call(&app, admin("DELETE", "/admin/practices/empty")).status, 404);
}

#[test]
fn a_practice_needs_an_npi_and_an_address_and_publishes_them_as_a_brand() {
    let app = app();
    let put = |body: Value| {
        call(
            &app,
            admin("PUT", "/admin/practices/brand").body(body.to_string()),
        )
    };
    let good = flare_tests::practice::practice("Brand Clinic");
    // Each missing or malformed piece is a 400 that names it.
    for (drop_or_set, value, says) in [
        ("npi", Value::Null, "names every practice by its NPI"),
        ("npi", json!("1234567890"), "check digit"),
        ("npi", json!("12345"), "ten digits"),
        ("address", Value::Null, "with line, city, state and postalCode"),
        ("address", json!({"line": ["1 Main St"], "state": "IL"}), "city"),
        ("address", json!("1 Main St"), "FHIR Address"),
        ("logo", json!("http://insecure.example/logo.svg"), "https"),
        ("portal", json!({"name": "Portal"}), "url"),
        ("sites", json!([{"id": "east", "name": "East"}]), "sites[0]"),
        (
            "sites",
            json!([{"id": "practice-brand", "name": "Self", "npi": flare_tests::practice::NPI,
                "address": {"line": ["1 A St"], "city": "B", "state": "IL", "postalCode": "60601"}}]),
            "used twice",
        ),
        ("sites", json!({"id": "east"}), "a list"),
    ] {
        let mut body = good.clone();
        match value {
            Value::Null => {
                body.as_object_mut().map(|o| o.remove(drop_or_set));
            }
            v => body[drop_or_set] = v,
        }
        let r = put(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", text(&r));
        assert!(text(&r).contains(says), "{body}: {}", text(&r));
    }
    // A complete practice, with its brand: stored, listed, published.
    let mut body = good;
    body["logo"] = json!("https://brand.example/logo.svg");
    body["portal"] = json!({"name": "Brand Portal", "url": "https://portal.brand.example"});
    body["sites"] = json!([{"id": "brand-east", "name": "Brand Clinic East", "npi": "1245319599",
        "address": {"line": ["9 East Road"], "city": "Springfield", "state": "IL", "postalCode": "62702"}}]);
    let r = put(body);
    assert_eq!(r.status, 200, "{}", text(&r));
    let shown = r.json_body();
    assert_eq!(shown["npi"], flare_tests::practice::NPI);
    assert_eq!(shown["address"]["postalCode"], "62701");
    assert_eq!(shown["missing"], json!([]));
    let bundle = call(&app, common::request("GET", "/fhir"));
    assert_eq!(bundle.status, 200);
    assert!(bundle
        .header_value("cache-control")
        .is_some_and(|c| c.starts_with("public")));
    let tag = bundle.header_value("etag").unwrap().to_string();
    let b = bundle.json_body();
    assert_eq!(b["type"], "collection");
    let org = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["name"] == "Brand Clinic")
        .unwrap()
        .clone();
    assert_eq!(org["identifier"][0]["system"], "http://hl7.org/fhir/sid/us-npi");
    assert_eq!(org["identifier"][0]["value"], flare_tests::practice::NPI);
    assert_eq!(org["address"][0]["city"], "Springfield");
    assert_eq!(org["endpoint"][0]["reference"], "Endpoint/flare-fhir-r4");
    let ext = org["extension"].to_string();
    assert!(
        ext.contains("brandLogo") && ext.contains("https://brand.example/logo.svg"),
        "{ext}"
    );
    assert!(ext.contains("portalUrl") && ext.contains("Brand Portal"), "{ext}");
    // A declared site: its own Organization, part of the practice's.
    let site = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["id"] == "brand-east")
        .unwrap()
        .clone();
    assert_eq!(
        site["partOf"]["reference"],
        format!("Organization/{}", org["id"].as_str().unwrap())
    );
    assert_eq!(site["identifier"][0]["value"], "1245319599");
    assert_eq!(site["address"][0]["postalCode"], "62702");
    assert_eq!(site["endpoint"][0]["reference"], "Endpoint/flare-fhir-r4");
    // Unchanged: 304 for its tag; changed: a new tag.
    let again = call(
        &app,
        common::request("GET", "/fhir").header("if-none-match", &tag),
    );
    assert_eq!(again.status, 304);
    assert_eq!(put(flare_tests::practice::practice("Renamed Clinic")).status, 200);
    let changed = call(
        &app,
        common::request("GET", "/fhir").header("if-none-match", &tag),
    );
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header_value("etag"), Some(tag.as_str()));
    // Discovery points at the Bundle; a primary brand only when the endpoint
    // serves one practice.
    let config = || {
        call(
            &app,
            common::request("GET", "/fhir/.well-known/smart-configuration"),
        )
        .json_body()
    };
    let c = config();
    assert!(
        c["user_access_brand_bundle"]
            .as_str()
            .is_some_and(|u| u.ends_with("/fhir")),
        "{c}"
    );
    assert!(
        c.get("user_access_brand_identifier").is_none(),
        "three practices: {c}"
    );
    for key in ["northside", "lakeshore"] {
        assert_eq!(
            call(&app, admin("DELETE", &format!("/admin/practices/{key}"))).status,
            200
        );
    }
    assert_eq!(
        config()["user_access_brand_identifier"],
        json!({"system": "http://hl7.org/fhir/sid/us-npi", "value": flare_tests::practice::NPI})
    );
}

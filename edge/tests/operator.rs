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
        admin("PUT", "/admin/practices/empty").body(r#"{"name":"Empty"}"#),
    );
    assert_eq!(r.status, 200);
    assert_eq!(call(&app, admin("DELETE", "/admin/practices/empty")).status, 200);
    assert_eq!(call(&app, admin("DELETE", "/admin/practices/empty")).status, 404);
}

//! Shared helpers for the edge's native tests: the application over an
//! in-memory SQLite database with D1's limits, a fixed clock and
//! deterministic randomness.

#![allow(dead_code)] // each test file uses a subset

use flare_edge::app::{App, Config};
pub use flare_edge::http::{HttpRequest, HttpResponse};
use flare_edge::store::sqlite::SqliteDatabase;
use flare_edge::store::Shards;
use serde_json::Value;

pub const TOKEN: &str = "test-admin-token";
pub const BASE: &str = "http://flare.test";
/// 2026-01-01T00:00:00Z
pub const NOW: i64 = 1_767_225_600_000;

pub use flare_edge::platform::native::NativePlatform as TestPlatform;

pub type TestApp = App<SqliteDatabase, TestPlatform>;

/// An app with practices `northside` (default) and `lakeshore`.
pub fn app() -> TestApp {
    let app = App::new(
        Shards::new(vec![SqliteDatabase::in_memory().unwrap()], vec![]),
        TestPlatform::at(NOW),
        Config::new(Some(TOKEN.into()), "northside"),
    );
    for (key, name) in [
        ("northside", "Northside Oncology"),
        ("lakeshore", "Lakeshore Family Medicine"),
    ] {
        let r = call(
            &app,
            admin("PUT", &format!("/admin/practices/{key}")).body(format!(r#"{{"name":"{name}"}}"#)),
        );
        assert_eq!(r.status, 200);
    }
    app
}

/// A request without credentials.
pub fn request(method: &str, path: &str) -> HttpRequest {
    HttpRequest::new(
        method,
        flare_edge::http::Url::parse(&format!("{BASE}{path}")).unwrap(),
    )
}

/// A request with the admin token.
pub fn admin(method: &str, path: &str) -> HttpRequest {
    HttpRequest::new(
        method,
        flare_edge::http::Url::parse(&format!("{BASE}{path}")).unwrap(),
    )
    .header("authorization", &format!("Bearer {TOKEN}"))
}

/// Runs a request to completion.
pub fn call(app: &TestApp, req: HttpRequest) -> HttpResponse {
    pollster::block_on(app.handle(req))
}

/// Imports a JSON body (resource or Bundle) into a practice; asserts 200.
pub fn import(app: &TestApp, practice: &str, body: &Value) -> Value {
    let r = call(
        app,
        admin("POST", &format!("/admin/import?practice={practice}"))
            .header("content-type", "application/fhir+json")
            .body(body.to_string()),
    );
    assert_eq!(
        r.status,
        200,
        "import failed: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json_body()
}

/// GET a path with the admin token (default practice).
pub fn get(app: &TestApp, path: &str) -> HttpResponse {
    call(app, admin("GET", path))
}

/// The ids of the `match` entries of a searchset, following `next` links.
pub fn search_ids(app: &TestApp, path: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(format!("{BASE}{path}"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let r = call(app, admin("GET", url.strip_prefix(BASE).unwrap_or(&url)));
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        let b = r.json_body();
        for e in b["entry"].as_array().into_iter().flatten() {
            if e["search"]["mode"] == "match" {
                ids.push(e["resource"]["id"].as_str().unwrap_or_default().to_string());
            }
        }
        next = b["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(str::to_string);
        pages += 1;
        assert!(pages < 1000, "paging does not end");
    }
    ids
}

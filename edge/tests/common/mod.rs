//! Shared helpers for the edge's native tests: the application over an
//! in-memory SQLite database with D1's limits, a fixed clock and
//! deterministic randomness; requests, forms and a cookie-keeping browser
//! driving it in-process. The browser's cookie jar, the HTML input reading,
//! PKCE and query strings are the e2e harness's (`flare_tests::oauth`), so
//! they exist once for both.

#![allow(dead_code)] // each test file uses a subset

use flare_edge::app::{App, Config};
pub use flare_edge::http::{HttpRequest, HttpResponse};
use flare_edge::store::sqlite::SqliteDatabase;
use flare_edge::store::Shards;
use flare_tests::oauth::CookieJar;
use serde_json::{json, Value};

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
            admin("PUT", &format!("/admin/practices/{key}"))
                .body(flare_tests::practice::practice(name).to_string()),
        );
        assert_eq!(r.status, 200);
    }
    app
}

/// A request without credentials to a path of the edge (or an absolute URL).
pub fn request(method: &str, path: &str) -> HttpRequest {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{BASE}{path}")
    };
    HttpRequest::new(method, flare_edge::http::Url::parse(&url).unwrap())
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
    pollster::block_on(app.respond(req))
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

/// A transaction entry that PUTs `resource` at `Type/id`.
pub fn entry(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    json!({"resource": resource, "request": {"method": "PUT", "url": url}})
}

/// Imports `resources` into a practice as a transaction of PUTs; asserts 200.
pub fn import_puts(app: &TestApp, practice: &str, resources: impl IntoIterator<Item = Value>) -> Value {
    let entries: Vec<Value> = resources.into_iter().map(entry).collect();
    import(
        app,
        practice,
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
    )
}

/// `application/x-www-form-urlencoded` form of `pairs`.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    flare_tests::http::encode_pairs(pairs)
}

/// The body as text.
pub fn text(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The `Location` header (empty when absent).
pub fn location(r: &HttpResponse) -> String {
    r.header_value("location").unwrap_or_default().to_string()
}

/// The first value of query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    flare_tests::oauth::query_param(url, name)
}

/// The PKCE S256 challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    flare_tests::oauth::s256(verifier)
}

/// `s` with HTML's character references decoded.
pub fn unescape(s: &str) -> String {
    flare_tests::oauth::decode_entities(s)
}

/// `(name, value)` of the hidden inputs of `html` (a page or a part of one), values unescaped.
pub fn hidden(html: &str) -> Vec<(String, String)> {
    flare_tests::oauth::inputs(html)
        .into_iter()
        .filter(|i| i.kind == "hidden")
        .map(|i| (i.name, i.value))
        .collect()
}

/// The consent page's scope checkboxes: `(scope, checked)`.
pub fn checkboxes(html: &str) -> Vec<(String, bool)> {
    flare_tests::oauth::inputs(html)
        .into_iter()
        .filter(|i| i.kind == "checkbox" && i.name == "scope")
        .map(|i| (i.value, i.checked))
        .collect()
}

/// A browser without JavaScript calling the app in-process: keeps cookies
/// (the e2e harness's [`CookieJar`]) and sends `CF-Connecting-IP` when `ip`
/// is set.
pub struct Browser<'a> {
    /// The app it calls.
    pub app: &'a TestApp,
    /// The cookies held.
    pub jar: CookieJar,
    /// `CF-Connecting-IP` on every request, when set.
    pub ip: Option<&'static str>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            jar: CookieJar::default(),
            ip: None,
        }
    }

    /// A browser that has opened `path` (and holds the cookies it set).
    pub fn at(app: &'a TestApp, path: &str) -> Self {
        let mut b = Browser::new(app);
        b.get(path);
        b
    }

    pub fn send(&mut self, mut req: HttpRequest) -> HttpResponse {
        if let Some(ip) = self.ip {
            req = req.header("cf-connecting-ip", ip);
        }
        if let Some(c) = self.jar.header() {
            req = req.header("cookie", &c);
        }
        let r = call(self.app, req);
        self.jar
            .absorb_headers(r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        r
    }

    pub fn get(&mut self, path: &str) -> HttpResponse {
        self.send(request("GET", path))
    }

    /// Posts a form exactly as given.
    pub fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> HttpResponse {
        self.send(
            request("POST", path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(pairs)),
        )
    }

    /// The CSRF cookie's value (empty when none is held).
    pub fn csrf(&self) -> String {
        self.jar.get("flare_csrf").unwrap_or_default().to_string()
    }

    /// Posts a form with the CSRF cookie's value as its `csrf` field (first).
    pub fn post_csrf(&mut self, path: &str, pairs: &[(&str, &str)]) -> HttpResponse {
        let csrf = self.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post(path, &all)
    }
}

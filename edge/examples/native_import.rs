//! Times an ndjson import through the application natively (SQLite), to
//! separate the application's own cost from D1's: `cargo run --release -p
//! flare-edge --example native_import -- FILE.ndjson`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measuring tool run by hand: a failure stops it"
)]

use std::time::Instant;

use flare_edge::app::{App, Config};
use flare_edge::http::HttpRequest;
use flare_edge::platform::native::NativePlatform;
use flare_edge::store::sqlite::SqliteDatabase;
use flare_edge::store::Shards;

fn main() {
    let path = std::env::args().nth(1).expect("usage: native_import FILE.ndjson");
    let data = std::fs::read_to_string(&path).expect("readable file");
    let app = App::new(
        Shards::new(vec![SqliteDatabase::in_memory().unwrap()], vec![]),
        NativePlatform::at(1_767_225_600_000),
        Config::new(Some("t".into()), "p"),
    );
    let auth = |r: HttpRequest| r.header("authorization", "Bearer t");
    let put = auth(HttpRequest::new(
        "PUT",
        flare_edge::http::Url::parse("http://x/admin/practices/p").unwrap(),
    ))
    .body(
        r#"{"name":"P","npi":"1234567893","address":{"line":["1 Main St"],"city":"Springfield","state":"IL","postalCode":"62701"}}"#,
    );
    assert_eq!(pollster::block_on(app.respond(put)).status, 200);
    let lines: Vec<&str> = data.lines().collect();
    let started = Instant::now();
    for chunk in lines.chunks(2000) {
        let body = chunk.join("\n");
        let req = auth(HttpRequest::new(
            "POST",
            flare_edge::http::Url::parse("http://x/admin/import").unwrap(),
        ))
        .header("content-type", "application/fhir+ndjson")
        .body(body);
        let r = pollster::block_on(app.respond(req));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "{} resources in {s:.2} s: {:.0} resources/s",
        lines.len(),
        lines.len() as f64 / s
    );
}

//! `GET [base]/[type]/[id]`: the read interaction
//! (<https://hl7.org/fhir/R4/http.html#read>), with `ETag`/`Last-Modified`
//! and conditional reads by `If-None-Match`.

use flare_core::datetime::format_http_date;
use flare_core::reference::is_valid_id;
use flare_core::registry;

use super::error::{ApiError, ApiResult};
use super::http::{HttpRequest, HttpResponse};
use super::{App, Platform};
use crate::store::{resources, Database};

/// Handles a read.
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    practice: &str,
    rtype: &str,
    id: &str,
) -> ApiResult {
    if !registry::is_r4_type(rtype) {
        return Err(ApiError::not_found(format!(
            "resource type '{rtype}' is not a FHIR R4 resource type"
        )));
    }
    if !is_valid_id(id) {
        return Err(ApiError::bad_request(format!("'{id}' is not a valid FHIR id")));
    }
    let db = app.shards.for_practice(practice);
    let stored = resources::read(db, practice, rtype, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{rtype}/{id} is not known")))?;
    let etag = format!("W/\"{}\"", stored.version);
    if req
        .header_value("if-none-match")
        .is_some_and(|v| etag_matches(v, stored.version))
    {
        return Ok(HttpResponse {
            status: 304,
            headers: vec![("etag".into(), etag)],
            body: Vec::new(),
        });
    }
    Ok(HttpResponse::fhir(200, stored.json)
        .with_header("etag", &etag)
        .with_header("last-modified", &format_http_date(stored.last_updated)))
}

/// `If-None-Match` uses the weak comparison (RFC 7232 §3.2): `W/"3"` and `"3"`
/// both name version 3; `*` matches any.
fn etag_matches(header: &str, version: i64) -> bool {
    let want = version.to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == want)
}

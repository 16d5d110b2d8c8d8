//! The admin API (bearer `ADMIN_TOKEN`, checked by the router): practices
//! and the two benchmark floor routes; apps, users, launch contexts and the
//! audit trail are `oauth::manage`'s, imports `fhir::import`'s. Must not
//! touch: apps' tokens or the FHIR API's visibility rule.
//!
//! - `PUT /admin/practices/{key}` `{"name", "npi", "address", …}` creates or
//!   updates a practice (NPI and postal address required: see [`put_practice`]).
//! - `GET /admin/practices` lists practices; `GET /admin/practices/{key}`
//!   reads one with the count of what it holds.
//! - `DELETE /admin/practices/{key}[?purge=true]` removes a practice: refused
//!   (409) while it holds records unless `purge=true` removes them all.
//! - Every route that acts in one practice picks it the same way:
//!   `X-Flare-Practice` or `?practice=` ([`App::operator_practice`]).
//! - `PUT /admin/practices/{key}/pin` `{"pin": …}` sets or rotates the
//!   practice's registration PIN (without `pin`: a random 8-digit one);
//!   answers it once (only its hash is kept).
//! - `POST /admin/import` imports FHIR data (see [`crate::fhir::import`]).
//! - `/admin/clients/…`, `POST /admin/users`, `POST /admin/launch`,
//!   `GET /admin/audit`: the authorization server (see [`crate::oauth::manage`]).
//! - `GET /admin/bench/noop` does nothing; `GET /admin/bench/select1` runs one
//!   D1 `SELECT 1`: the floors the benchmark compares FHIR routes with.

use serde_json::{json, Value as Json};

use flare_core::identity::{Npi, PostalAddress};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::practices;
use crate::store::resources::{self, Practice};
use crate::store::{Database, Statement};

/// `GET /admin/practices`: every practice of every shard.
pub async fn practices<D: Database, P: Platform>(app: &App<D, P>) -> ApiResult {
    let mut all = Vec::new();
    for db in app.shards.all() {
        all.extend(resources::list_practices(db).await?);
    }
    let list: Vec<Json> = all.iter().map(practice_json).collect();
    Ok(HttpResponse::json(200, &json!({"practices": list})))
}

/// `GET /admin/practices/{key}`: the practice and what it holds.
pub async fn practice<D: Database, P: Platform>(app: &App<D, P>, key: &str) -> ApiResult {
    let (p, records) = load_practice(app, key).await?;
    let mut body = practice_json(&p);
    body["records"] = records_json(&records);
    Ok(HttpResponse::json(200, &body))
}

/// `DELETE /admin/practices/{key}[?purge=true]`: removes a practice. While it
/// holds anything (resources, exports, audit events, apps, users, grants)
/// the removal is refused with 409 and the counts, unless `purge=true` asks
/// for everything to go with it: its export files, then its rows in the
/// directory and in its shard, the practice last (so a purge interrupted at
/// any point is finished by sending it again).
pub async fn delete_practice<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    key: &str,
) -> ApiResult {
    let purge = req.query_pairs().iter().any(|(k, v)| k == "purge" && v == "true");
    let (_, records) = load_practice(app, key).await?;
    if !records.is_empty() && !purge {
        let mut e = ApiError::new(
            409,
            "conflict",
            format!(
                "practice '{key}' still holds records ({}); DELETE with ?purge=true removes them with it",
                describe(&records)
            ),
        );
        e.details
            .push(("records".into(), records_json(&records).to_string()));
        return Err(e);
    }
    let shard = app.shards.for_practice(key);
    for job in practices::export_job_ids(shard, key).await? {
        app.platform
            .delete_objects(&format!("exports/{key}/{job}/"))
            .await
            .map_err(|e| ApiError::internal(format!("export files of {key}/{job} not deleted: {e}")))?;
    }
    practices::purge(shard, app.auth_db(), key).await?;
    Ok(HttpResponse::json(
        200,
        &json!({"key": key, "removed": records_json(&records)}),
    ))
}

async fn load_practice<D: Database, P: Platform>(
    app: &App<D, P>,
    key: &str,
) -> Result<(Practice, practices::PracticeRecords), ApiError> {
    let shard = app.shards.for_practice(key);
    let practice = resources::list_practices(shard)
        .await?
        .into_iter()
        .find(|p| p.key == key)
        .ok_or_else(|| ApiError::not_found(format!("no practice '{key}'")))?;
    let records = practices::records(shard, app.auth_db(), key).await?;
    Ok((practice, records))
}

fn records_json(r: &practices::PracticeRecords) -> Json {
    json!({
        "resources": r.resources, "exportJobs": r.export_jobs, "auditEvents": r.audit_events,
        "clients": r.clients, "users": r.users, "grants": r.grants,
    })
}

fn describe(r: &practices::PracticeRecords) -> String {
    [
        (r.resources, "resources"),
        (r.export_jobs, "export jobs"),
        (r.audit_events, "audit events"),
        (r.clients, "apps"),
        (r.users, "users"),
        (r.grants, "grants"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// `GET /admin/bench/noop`: the benchmark's floor without storage.
pub fn bench_noop() -> ApiResult {
    Ok(HttpResponse::json(200, &json!({"ok": true})))
}

/// `GET /admin/bench/select1`: the benchmark's floor, one D1 `SELECT 1`.
pub async fn bench_select1<D: Database, P: Platform>(app: &App<D, P>) -> ApiResult {
    let db = app.shards.for_practice(&app.config.default_practice);
    let rows = db.query(Statement::new("SELECT 1", vec![])).await?;
    Ok(HttpResponse::json(200, &json!({"ok": rows.len() == 1})))
}

/// Any other path under `/admin`.
pub fn not_found(req: &HttpRequest, rest: &[&str]) -> ApiResult {
    Err(ApiError::not_found(format!(
        "no admin route {} /admin/{}",
        req.method,
        rest.join("/")
    )))
}

fn valid_practice_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 40
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A practice as the admin API shows it; `missing` names what the public
/// documents need and it lacks (a practice from before the NPI and address
/// were required).
fn practice_json(p: &Practice) -> Json {
    let address: Option<Json> = p.address.as_deref().and_then(|a| serde_json::from_str(a).ok());
    let mut missing = Vec::new();
    if p.npi.is_none() {
        missing.push("npi");
    }
    if address.is_none() {
        missing.push("address");
    }
    let portal = p
        .portal_url
        .as_ref()
        .map(|url| json!({"name": p.portal_name, "url": url}));
    let sites: Json = p
        .sites
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| json!([]));
    json!({"key": p.key, "name": p.name, "organizationId": p.organization_id, "npi": p.npi,
        "address": address, "logo": p.logo_url, "portal": portal, "sites": sites, "missing": missing})
}

/// At most this many sites per practice.
const MAX_SITES: usize = 100;

/// The body's `sites`: each `{id, name, npi, address}` (all required: the
/// rule asks the same of every published Organization), ids unique FHIR
/// ids other than the practice's own Organization's.
fn sites(body: &Json, own_id: &str) -> Result<Option<String>, ApiError> {
    let list = match body.get("sites") {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Array(list)) if list.len() <= MAX_SITES => list,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "\"sites\" must be a list of at most {MAX_SITES} sites"
            )))
        }
    };
    let mut out = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (i, site) in list.iter().enumerate() {
        let bad = |what: String| ApiError::bad_request(format!("sites[{i}]: {what}"));
        let id = site
            .get("id")
            .and_then(Json::as_str)
            .filter(|id| flare_core::reference::is_valid_id(id))
            .ok_or_else(|| bad("\"id\" must be a FHIR id".into()))?;
        if id == own_id || !ids.insert(id.to_string()) {
            return Err(bad(format!("id {id} is used twice")));
        }
        let name = site
            .get("name")
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("\"name\" is required".into()))?;
        let npi = Npi::parse(site.get("npi").and_then(Json::as_str).unwrap_or_default())
            .map_err(|e| bad(format!("\"npi\": {e}")))?;
        let address = PostalAddress::parse(site.get("address").unwrap_or(&Json::Null))
            .map_err(|e| bad(format!("\"address\": {e}")))?;
        out.push(json!({"id": id, "name": name, "npi": npi.as_str(), "address": address.to_fhir()}));
    }
    Ok(Some(Json::Array(out).to_string()))
}

/// An optional `https` URL field of the body.
fn https_url(body: &Json, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => match url::Url::parse(s) {
            Ok(u) if u.scheme() == "https" && u.host().is_some() && s.len() <= 2048 => Ok(Some(s.clone())),
            _ => Err(ApiError::bad_request(format!("\"{field}\" must be an https URL"))),
        },
        Some(_) => Err(ApiError::bad_request(format!("\"{field}\" must be an https URL"))),
    }
}

/// `PUT /admin/practices/{key}` `{"name", "npi", "address", "organizationId"?,
/// "logo"?, "portal"?: {"name", "url"}, "sites"?: [{"id", "name", "npi",
/// "address"}]}`: the NPI and a postal address are
/// required, since the public Bundle at `GET /fhir` must name each practice
/// with both.
pub async fn put_practice<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    key: &str,
) -> ApiResult {
    if !valid_practice_key(key) {
        return Err(ApiError::bad_request(
            "a practice key is 1-40 characters of a-z, 0-9 and '-'",
        ));
    }
    let body: Json = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let name = body
        .get("name")
        .and_then(Json::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("\"name\" is required"))?;
    let organization_id = match body.get("organizationId") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if flare_core::reference::is_valid_id(s) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad_request("\"organizationId\" must be a FHIR id")),
    };
    let npi = match body.get("npi").and_then(Json::as_str) {
        Some(n) => Npi::parse(n).map_err(|e| ApiError::bad_request(format!("\"npi\": {e}")))?,
        None => {
            return Err(ApiError::bad_request(
                "\"npi\" is required: the published service base Bundle names every practice by its NPI",
            ))
        }
    };
    let address = match body.get("address") {
        Some(a) => PostalAddress::parse(a).map_err(|e| ApiError::bad_request(format!("\"address\": {e}")))?,
        None => {
            return Err(ApiError::bad_request(
                "\"address\" is required (a FHIR Address with line, city, state and postalCode): \
                 the published service base Bundle gives every practice's address",
            ))
        }
    };
    let logo_url = https_url(&body, "logo")?;
    let (portal_name, portal_url) = match body.get("portal") {
        None | Some(Json::Null) => (None, None),
        Some(portal) => {
            let url = https_url(portal, "url")?
                .ok_or_else(|| ApiError::bad_request("\"portal\" needs a \"url\" (https)"))?;
            let name = portal
                .get("name")
                .and_then(Json::as_str)
                .map(str::trim)
                .filter(|n| !n.is_empty());
            (name.map(str::to_string), Some(url))
        }
    };
    let own_id = organization_id
        .clone()
        .unwrap_or_else(|| format!("practice-{key}"));
    let sites = sites(&body, &own_id)?;
    let p = Practice {
        key: key.to_string(),
        name: name.to_string(),
        organization_id,
        npi: Some(npi.as_str().to_string()),
        address: Some(address.to_fhir().to_string()),
        logo_url,
        portal_name,
        portal_url,
        sites,
    };
    resources::put_practice(app.shards.for_practice(key), &p, app.platform.now_ms()).await?;
    Ok(HttpResponse::json(200, &practice_json(&p)))
}

/// `PUT /admin/practices/{key}/pin`.
pub async fn put_pin<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, key: &str) -> ApiResult {
    let exists = resources::list_practices(app.shards.for_practice(key))
        .await?
        .iter()
        .any(|p| p.key == key);
    if !exists {
        return Err(ApiError::not_found(format!("no practice {key}")));
    }
    let body: Json = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?
    };
    let pin = match body.get("pin") {
        None | Some(Json::Null) => {
            let mut bytes = [0u8; 8];
            app.platform.random_bytes(&mut bytes);
            bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
        }
        Some(Json::String(p)) => p.clone(),
        Some(_) => return Err(ApiError::bad_request("\"pin\" must be a string")),
    };
    crate::pages::developer::set_practice_pin(app, key, &pin).await?;
    Ok(HttpResponse::json(200, &json!({"practice": key, "pin": pin}))
        .with_header("cache-control", "no-store"))
}

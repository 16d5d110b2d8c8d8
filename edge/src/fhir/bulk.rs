//! FHIR Bulk Data Access export (STU 1 and 2,
//! <https://hl7.org/fhir/uv/bulkdata/export.html>):
//!
//! - kick-off `GET|POST [base]/Group/{id}/$export`, `[base]/Patient/$export`,
//!   `[base]/$export` with `Prefer: respond-async` → 202 + `Content-Location`;
//! - status `GET [base]/$export-status/{job}` → 202 (`Retry-After`,
//!   `X-Progress`) while running, 200 manifest when done; `DELETE` cancels;
//! - files `GET [base]/$export-file/{job}/{name}` (the same client's token).
//!
//! A job runs in bounded chunks: each writes at most one file of at most
//! [`crate::app::FILE_MAX_RESOURCES`] resources of one type, then commits its cursor
//! (exactly once, see `store::export`). Chunks run from queue messages; a
//! status poll re-enqueues a job whose runner vanished (its lease expired),
//! so a restart loses nothing, and runs a stretch itself when the queue has
//! not moved the job for two leases.

use serde_json::{json, Value as Json};

use flare_core::datetime::{format_instant, parse_range};
use flare_core::reference::is_valid_id;
use flare_core::registry;
use flare_core::search::{self, Filter, ParseOptions};
use flare_core::smart::access::{type_access, Interaction};
use flare_core::smart::scope::{Context, Scope};

use crate::app::{App, Caller};
use crate::crypto::random_token;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::export::{self as store, ExportJob, ExportKind, ExportStatus, Source, REFERENCED_TYPES};
use crate::store::{resources, Database};

/// A runner's hold on a job; renewed by every chunk.
pub const LEASE_MS: i64 = 20_000;
/// How long one invocation keeps running chunks before handing over.
pub const INVOCATION_BUDGET_MS: i64 = 2_000;
/// Finished (or failed) exports and their files are deleted after a day.
pub const EXPIRY_MS: i64 = 24 * 3600 * 1000;
/// Exports one client may have running at once.
pub const MAX_RUNNING_PER_CLIENT: i64 = 2;
/// Seconds a client is asked to wait between status polls.
pub const RETRY_AFTER_S: i64 = 1;

/// What a kick-off exports.
#[derive(Debug, Clone, PartialEq)]
pub enum Level {
    /// The members of a Group.
    Group(String),
    /// Every patient of the practice.
    Patient,
    /// Everything of the practice.
    System,
}

/// The parsed kick-off parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportParams {
    /// `_since` (ms): only resources changed after it.
    pub since: Option<i64>,
    /// `_type`: only these types.
    pub types: Option<Vec<String>>,
    /// `_typeFilter`: per type, queries ORed.
    pub type_filters: Vec<(String, String)>,
    /// `_elements`: `element` or `Type.element`.
    pub elements: Vec<String>,
    /// `patient` (Bulk Data 2.0, POST kick-off of a Patient or Group
    /// export): only these patients' records (ids, in the order given).
    pub patients: Vec<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// Parses kick-off parameters (query pairs, or a POSTed Parameters resource
/// turned into pairs). Anything unsupported is a 400 naming it.
pub fn parse_params(pairs: &[(String, String)]) -> Result<ExportParams, ApiError> {
    use flare_core::search::{MAX_ELEMENTS, MAX_PAIRS};
    if pairs.len() > MAX_PAIRS {
        return Err(bad(format!(
            "{} export parameters; at most {MAX_PAIRS} are accepted",
            pairs.len()
        )));
    }
    let mut p = ExportParams::default();
    for (k, v) in pairs {
        match k.as_str() {
            "_outputFormat" => {
                if !matches!(v.as_str(), "application/fhir+ndjson" | "application/ndjson" | "ndjson") {
                    return Err(bad(format!(
                        "_outputFormat {v} is not supported (application/fhir+ndjson, application/ndjson, ndjson)"
                    )));
                }
            }
            "_since" => {
                let range = parse_range(v)
                    .filter(|_| v.contains('T'))
                    .ok_or_else(|| bad(format!("_since {v} is not a FHIR instant")))?;
                p.since = Some(range.start);
            }
            "_type" => {
                let mut list = p.types.take().unwrap_or_default();
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if registry::resource(t).is_none() {
                        return Err(bad(format!("_type {t} is not a resource type this server exports")));
                    }
                    if !list.iter().any(|x| x == t) {
                        list.push(t.to_string());
                    }
                }
                p.types = Some(list);
            }
            "_typeFilter" => {
                for f in v.split(',').filter(|f| !f.is_empty()) {
                    let (t, q) = f
                        .split_once('?')
                        .ok_or_else(|| bad(format!("_typeFilter {f} is not Type?query")))?;
                    if registry::resource(t).is_none() {
                        return Err(bad(format!("_typeFilter type {t} is not exported by this server")));
                    }
                    p.type_filters.push((t.to_string(), q.to_string()));
                }
            }
            "_elements" => p
                .elements
                .extend(v.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string)),
            "patient" => {
                let id = v
                    .strip_prefix("Patient/")
                    .filter(|id| is_valid_id(id))
                    .ok_or_else(|| bad(format!("patient {v} is not a reference to a Patient (Patient/[id])")))?;
                if !p.patients.iter().any(|x| x == id) {
                    p.patients.push(id.to_string());
                }
            }
            // Bulk Data 2.0: a server that does not include the associated
            // data asked for must say so rather than ignore it.
            "includeAssociatedData" => {
                return Err(bad(format!(
                    "includeAssociatedData {v} is not supported: this server exports no associated data \
                     beyond the Provenance of each exported record"
                )))
            }
            other => {
                return Err(bad(format!(
                    "parameter {other} is not supported by this export (supported: _outputFormat, _since, _type, _typeFilter, _elements, patient)"
                )))
            }
        }
    }
    if p.elements.len() > MAX_ELEMENTS {
        return Err(bad(format!(
            "_elements: {} names; at most {MAX_ELEMENTS} are accepted",
            p.elements.len()
        )));
    }
    Ok(p)
}

/// A Parameters resource (POST kick-off) as query pairs.
pub fn parameters_to_pairs(body: &Json) -> Result<Vec<(String, String)>, ApiError> {
    if body.get("resourceType").and_then(Json::as_str) != Some("Parameters") {
        return Err(bad("a POST kick-off body must be a Parameters resource"));
    }
    let mut pairs = Vec::new();
    for p in body
        .get("parameter")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let name = p
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("each parameter needs a name"))?;
        let value = p
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.starts_with("value")))
            .map(|(k, v)| match (k.as_str(), v) {
                // `patient` is a Reference: its `reference` is the value.
                ("valueReference", Json::Object(r)) => r
                    .get("reference")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                (_, v) => v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
            })
            .ok_or_else(|| {
                bad(format!(
                    "parameter {name} has no value[x] (this export supports only simple values)"
                ))
            })?;
        pairs.push((name.to_string(), value));
    }
    Ok(pairs)
}

fn granted_types(caller: &Caller, candidates: &[&'static str]) -> Vec<&'static str> {
    candidates
        .iter()
        .copied()
        .filter(|t| match caller {
            Caller::Admin => true,
            Caller::App(a) => {
                type_access(&a.scopes, t, Interaction::Search).is_some_and(|x| x.context == Context::System)
            }
        })
        .collect()
}

fn client_of(caller: &Caller) -> String {
    match caller {
        Caller::Admin => String::new(),
        Caller::App(a) => a.token.client_id.clone(),
    }
}

/// Handles a kick-off.
pub async fn kick_off<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    level: Level,
) -> ApiResult {
    if let Caller::App(a) = caller {
        let system = a
            .scopes
            .iter()
            .any(|s| matches!(s, Scope::Resource(r) if r.context == Context::System));
        if !system {
            return Err(ApiError::insufficient_scope(
                "bulk export needs a system-level (backend services) token",
            ));
        }
    }
    let prefer = req.header_value("prefer").unwrap_or_default();
    if !prefer
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
    {
        return Err(bad("bulk export needs the header Prefer: respond-async"));
    }
    let pairs = if req.method == "POST" {
        let body: Json =
            serde_json::from_slice(&req.body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        parameters_to_pairs(&body)?
    } else {
        let pairs = req.query_pairs();
        if pairs.iter().any(|(k, _)| k == "patient") {
            return Err(bad(
                "patient is a parameter of a POST kick-off (a Parameters resource with valueReference)",
            ));
        }
        pairs
    };
    let params = parse_params(&pairs)?;
    if level == Level::System && !params.patients.is_empty() {
        return Err(bad("patient does not apply to a system-level export"));
    }
    let db = app.shards.for_practice(practice);
    let now = app.platform.now_ms();
    purge_expired(app, practice).await;
    let client_id = client_of(caller);
    let over_cap = || {
        let mut e = ApiError::too_many_requests(60, crate::http::error::ErrorBody::OperationOutcome);
        e.message =
            format!("at most {MAX_RUNNING_PER_CLIENT} exports may run at once per client; retry later");
        e
    };
    if !client_id.is_empty()
        && store::running_count(db, practice, &client_id).await? >= MAX_RUNNING_PER_CLIENT
    {
        return Err(over_cap());
    }
    let (kind, members) = match &level {
        Level::Group(id) => {
            let group = resources::read(db, practice, "Group", id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("Group/{id} is not known")))?;
            let g: Json = serde_json::from_str(&group.json).unwrap_or(Json::Null);
            (ExportKind::Group, group_members(&g))
        }
        Level::Patient => (ExportKind::Patient, store::patient_ids(db, practice).await?),
        Level::System => (ExportKind::System, Vec::new()),
    };
    // `patient`: only those of the export's patients; one it would not
    // include (unknown, or not a member of the Group) is the client's error.
    let members = if params.patients.is_empty() {
        members
    } else {
        let outside: Vec<&str> = params
            .patients
            .iter()
            .filter(|p| !members.contains(p))
            .map(String::as_str)
            .collect();
        if !outside.is_empty() {
            let what = match &level {
                Level::Group(id) => format!("members of Group/{id}"),
                _ => "patients of this practice".to_string(),
            };
            return Err(bad(format!("patient: {} are not {what}", outside.join(", "))));
        }
        params.patients.clone()
    };
    let candidates: Vec<&'static str> = match kind {
        ExportKind::System => registry::RESOURCES.iter().map(|d| d.name).collect(),
        _ => registry::RESOURCES
            .iter()
            .filter(|d| d.in_patient_compartment())
            .map(|d| d.name)
            .collect(),
    };
    let refs: Vec<&'static str> = if kind == ExportKind::System {
        Vec::new()
    } else {
        REFERENCED_TYPES.to_vec()
    };
    let wanted = |t: &&'static str| params.types.as_ref().is_none_or(|l| l.iter().any(|x| x == t));
    let granted = granted_types(caller, &candidates);
    let granted_refs = granted_types(caller, &refs);
    if let Some(list) = &params.types {
        for t in list {
            let allowed = granted.iter().chain(granted_refs.iter()).any(|g| g == t);
            if !allowed {
                return Err(ApiError::insufficient_scope(format!(
                    "_type {t} is not granted to this client or not part of this export"
                )));
            }
        }
    }
    let types: Vec<&str> = granted.into_iter().filter(wanted).collect();
    let ref_types: Vec<&str> = granted_refs.into_iter().filter(wanted).collect();
    if types.is_empty() && ref_types.is_empty() {
        return Err(ApiError::insufficient_scope(
            "the token grants none of the types to export",
        ));
    }
    for (t, q) in &params.type_filters {
        if !types.contains(&t.as_str()) && !ref_types.contains(&t.as_str()) {
            return Err(bad(format!(
                "_typeFilter for {t}, which this export does not include"
            )));
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        search::parse(t, &pairs, ParseOptions::default())
            .map_err(|e| bad(format!("_typeFilter {t}?{q}: {}", e.0)))?;
    }
    let scope = match caller {
        Caller::Admin => String::new(),
        Caller::App(a) => flare_core::smart::access::to_string(&a.scopes),
    };
    let job = ExportJob {
        job_id: random_token(&app.platform, 16),
        practice: practice.to_string(),
        client_id,
        request: req.url.to_string(),
        kind,
        params: json!({
            "types": types, "ref_types": ref_types, "since": params.since,
            "type_filters": params.type_filters, "elements": params.elements, "scope": scope,
        }),
        members,
        transaction_time: now,
        status: ExportStatus::Running,
        state: json!({"phase": if kind == ExportKind::System { "types" } else { "refs" }, "type_idx": 0, "member_off": 0, "after_rid": 0, "files": 0, "count": 0}),
        version: 0,
        lease_until: 0,
        output: json!([]),
        error: None,
        created_at: now,
        updated_at: now,
        expires_at: None,
    };
    if job.client_id.is_empty() {
        store::insert_job(db, &job).await?;
    } else if !store::insert_job_capped(db, &job, MAX_RUNNING_PER_CLIENT).await? {
        // Simultaneous kick-offs: the count above was read before another's insert.
        return Err(over_cap());
    }
    app.platform
        .enqueue_export(practice, &job.job_id)
        .await
        .map_err(|e| ApiError::new(500, "exception", format!("the export could not be queued: {e}")))?;
    let status_url = format!("{}/$export-status/{}", req.fhir_base(), job.job_id);
    Ok(HttpResponse {
        status: 202,
        headers: vec![("content-location".into(), status_url.clone())],
        body: Vec::new(),
        object: None,
    }
    .with_header("content-type", "application/fhir+json")
    .with_body(
        json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
            "diagnostics": format!("export started; poll {status_url}")}]})
        .to_string(),
    ))
}

/// The Patient ids of a Group's active members (references `Patient/id`).
pub fn group_members(group: &Json) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in group.get("member").and_then(Json::as_array).into_iter().flatten() {
        if m.get("inactive").and_then(Json::as_bool) == Some(true) {
            continue;
        }
        let r = m
            .get("entity")
            .and_then(|e| e.get("reference"))
            .and_then(Json::as_str);
        if let Some(id) = r.and_then(|r| r.strip_prefix("Patient/")) {
            if flare_core::reference::is_valid_id(id) && !out.iter().any(|x| x == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

async fn own_job<D: Database, P: Platform>(
    app: &App<D, P>,
    caller: &Caller,
    practice: &str,
    job_id: &str,
) -> Result<ExportJob, ApiError> {
    let db = app.shards.for_practice(practice);
    let job = store::job(db, practice, job_id)
        .await?
        .filter(|j| j.status != ExportStatus::Cancelled)
        .filter(|j| j.expires_at.is_none_or(|e| e > app.platform.now_ms()))
        .ok_or_else(|| ApiError::not_found(format!("no export {job_id} (unknown, cancelled or expired)")))?;
    let mine = match caller {
        Caller::Admin => true,
        Caller::App(a) => a.token.client_id == job.client_id,
    };
    if mine {
        Ok(job)
    } else {
        Err(ApiError::not_found(format!(
            "no export {job_id} (unknown, cancelled or expired)"
        )))
    }
}

/// Handles `GET [base]/$export-status/{job}`.
pub async fn status<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    job_id: &str,
) -> ApiResult {
    purge_expired(app, practice).await;
    let mut job = own_job(app, caller, practice, job_id).await?;
    let now = app.platform.now_ms();
    let base = req.fhir_base();
    if job.status == ExportStatus::Running && job.lease_until < now {
        // No runner holds the job (a restart, a lost message): resume it.
        // A duplicate run is harmless: chunks commit exactly once.
        if let Err(e) = app.platform.enqueue_export(practice, job_id).await {
            crate::platform::log(&format!("export {job_id} not resumed: {e}"));
        }
        if job.updated_at + 2 * LEASE_MS < now {
            // Nothing has moved it for two leases' length although polls kept
            // queueing runs: the queue is not delivering (under wrangler dev
            // a consumer invocation that never settles holds the local
            // queue's every later batch). This poll runs a stretch itself,
            // within the same budget as a queued run.
            crate::platform::log(&format!(
                "export {job_id}: no queued run for {} s; this status request runs it",
                (now - job.updated_at) / 1000
            ));
            run(app, practice, job_id).await;
            job = own_job(app, caller, practice, job_id).await?;
        }
    }
    match job.status {
        ExportStatus::Running => {
            let s = &job.state;
            let types = job.params["types"].as_array().map_or(0, Vec::len)
                + job.params["ref_types"].as_array().map_or(0, Vec::len);
            let progress = format!(
                "{}: {} resources in {} files so far ({} of {} types)",
                s["phase"].as_str().unwrap_or_default(),
                s["count"].as_i64().unwrap_or_default(),
                s["files"].as_i64().unwrap_or_default(),
                s["type_idx"].as_i64().unwrap_or_default(),
                types
            );
            Ok(HttpResponse::new(202, "application/fhir+json", Vec::new())
                .with_header("retry-after", &RETRY_AFTER_S.to_string())
                .with_header("x-progress", &progress)
                .with_body(
                    json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational", "diagnostics": progress}]})
                        .to_string(),
                ))
        }
        ExportStatus::Done | ExportStatus::Failed | ExportStatus::Cancelled => {
            let output: Vec<Json> = job
                .output
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    json!({"type": f["type"], "url": format!("{base}/$export-file/{}/{}", job.job_id, f["name"].as_str().unwrap_or_default()), "count": f["count"]})
                })
                .collect();
            // A failed job reports no output and its OperationOutcome file.
            let (output, error) = if job.status == ExportStatus::Failed {
                let url = format!("{base}/$export-file/{}/{ERROR_FILE}", job.job_id);
                (
                    Vec::new(),
                    vec![json!({"type": "OperationOutcome", "url": url, "count": 1})],
                )
            } else {
                (output, Vec::new())
            };
            let manifest = json!({
                "transactionTime": format_instant(job.transaction_time),
                "request": job.request,
                "requiresAccessToken": true,
                "output": output,
                "error": error,
            });
            let expires = job
                .expires_at
                .map(flare_core::datetime::format_http_date)
                .unwrap_or_default();
            Ok(HttpResponse::json(200, &manifest).with_header("expires", &expires))
        }
    }
}

/// Handles `DELETE [base]/$export-status/{job}`: cancels and deletes the files.
pub async fn cancel<D: Database, P: Platform>(
    app: &App<D, P>,
    caller: &Caller,
    practice: &str,
    job_id: &str,
) -> ApiResult {
    let job = own_job(app, caller, practice, job_id).await?;
    let db = app.shards.for_practice(practice);
    let now = app.platform.now_ms();
    store::finish(db, &job.job_id, ExportStatus::Cancelled, None, now, now).await?;
    delete_files(app, practice, &job.job_id).await?;
    Ok(HttpResponse::fhir(
        202,
        json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational",
            "diagnostics": format!("export {job_id} cancelled; its files are deleted")}]})
        .to_string(),
    ))
}

async fn delete_files<D: Database, P: Platform>(
    app: &App<D, P>,
    practice: &str,
    job_id: &str,
) -> Result<(), ApiError> {
    app.platform
        .delete_objects(&format!("exports/{practice}/{job_id}/"))
        .await
        .map_err(|e| {
            ApiError::new(
                500,
                "exception",
                format!("export files could not be deleted: {e}"),
            )
        })?;
    store::delete_job(app.shards.for_practice(practice), job_id).await?;
    Ok(())
}

/// Deletes expired exports of a practice (their files first).
pub async fn purge_expired<D: Database, P: Platform>(app: &App<D, P>, practice: &str) {
    let db = app.shards.for_practice(practice);
    if let Ok(ids) = store::expired_jobs(db, practice, app.platform.now_ms()).await {
        for id in ids {
            if let Err(e) = delete_files(app, practice, &id).await {
                crate::platform::log(&format!("expired export {id} not purged: {}", e.message));
            }
        }
    }
}

/// Deletes expired exports in every practice (the hourly cron).
pub async fn purge_all_expired<D: Database, P: Platform>(app: &App<D, P>) {
    for db in app.shards.all() {
        match resources::list_practices(db).await {
            Ok(practices) => {
                for p in practices {
                    purge_expired(app, &p.key).await;
                }
            }
            Err(e) => crate::platform::log(&format!("purge: {e}")),
        }
    }
}

/// Handles `GET [base]/$export-file/{job}/{name}`: streams the file.
pub async fn file<D: Database, P: Platform>(
    app: &App<D, P>,
    caller: &Caller,
    practice: &str,
    job_id: &str,
    name: &str,
) -> ApiResult {
    let job = own_job(app, caller, practice, job_id).await?;
    let listed = job
        .output
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["name"].as_str() == Some(name));
    let error_file = job.status == ExportStatus::Failed && name == ERROR_FILE;
    if !(job.status == ExportStatus::Done && listed || error_file) {
        return Err(ApiError::not_found(format!("no file {name} in export {job_id}")));
    }
    Ok(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/fhir+ndjson".into())],
        body: Vec::new(),
        object: Some(object_key(practice, job_id, name)),
    })
}

fn object_key(practice: &str, job_id: &str, name: &str) -> String {
    format!("exports/{practice}/{job_id}/{name}")
}

/// Runs chunks of a job until it is done, the invocation's budget is spent,
/// or another runner holds it; re-enqueues itself when work remains.
pub async fn run<D: Database, P: Platform>(app: &App<D, P>, practice: &str, job_id: &str) {
    run_chunks(app, practice, job_id, usize::MAX).await;
}

/// [`run`], stopping after at most `max_chunks` chunks (then re-enqueued).
pub async fn run_chunks<D: Database, P: Platform>(
    app: &App<D, P>,
    practice: &str,
    job_id: &str,
    max_chunks: usize,
) {
    let started = app.platform.now_ms();
    let db = app.shards.for_practice(practice);
    let mut chunks = 0;
    let now = app.platform.now_ms();
    let mut job = match store::claim(db, practice, job_id, now, now + LEASE_MS).await {
        Ok(Some(j)) => j,
        Ok(None) => return, // done, cancelled, or held by another runner
        Err(e) => {
            crate::platform::log(&format!("export {job_id}: {e}"));
            return;
        }
    };
    loop {
        match step(app, &job).await {
            Ok(true) => {}
            Ok(false) => return, // finished, or lost the job to another runner
            Err(e) => {
                // A server-side failure is logged under an id; the file names only the id.
                let e = e.with_incident(
                    &app.incident_id(),
                    crate::http::error::ErrorBody::OperationOutcome,
                );
                fail(app, practice, job_id, &e.message).await;
                return;
            }
        }
        chunks += 1;
        if chunks >= max_chunks || app.platform.now_ms() - started > INVOCATION_BUDGET_MS {
            // Hand over: release the lease so the next message's run can claim it.
            if let Err(e) = store::release(db, job_id).await {
                crate::platform::log(&format!("export {job_id}: {e}"));
            }
            if let Err(e) = app.platform.enqueue_export(practice, job_id).await {
                crate::platform::log(&format!("export {job_id} not re-queued: {e}"));
            }
            return;
        }
        // Still ours (the commit bumped the version by one, and our lease holds).
        job = match store::job(db, practice, job_id).await {
            Ok(Some(j)) if j.status == ExportStatus::Running && j.version == job.version + 1 => j,
            _ => return,
        };
    }
}

/// Marks a job failed and writes its OperationOutcome file (the manifest's `error`).
async fn fail<D: Database, P: Platform>(app: &App<D, P>, practice: &str, job_id: &str, message: &str) {
    let db = app.shards.for_practice(practice);
    let now = app.platform.now_ms();
    let outcome = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "exception",
        "diagnostics": format!("the export failed: {message}")}]});
    let _ = app
        .platform
        .put_object(&object_key(practice, job_id, ERROR_FILE), format!("{outcome}\n"))
        .await;
    if let Err(e) = store::finish(
        db,
        job_id,
        ExportStatus::Failed,
        Some(message),
        now,
        now + EXPIRY_MS,
    )
    .await
    {
        crate::platform::log(&format!("export {job_id} could not be marked failed: {e}"));
    }
}

/// The name of a failed job's OperationOutcome file.
const ERROR_FILE: &str = "errors.ndjson";

/// The `_typeFilter` groups and the token's query restrictions for `rtype`;
/// `None` when the token's restrictions cannot be evaluated (export nothing).
#[allow(clippy::type_complexity)]
fn restrictions_for(
    job: &ExportJob,
    rtype: &str,
) -> Result<Option<(Vec<Vec<Filter>>, Vec<Vec<Filter>>)>, ApiError> {
    let mut filters = Vec::new();
    for f in job.params["type_filters"].as_array().into_iter().flatten() {
        if f[0].as_str() == Some(rtype) {
            let q = f[1].as_str().unwrap_or_default();
            let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            filters.push(search::parse(rtype, &pairs, ParseOptions::default())?.filters);
        }
    }
    let mut restrictions = Vec::new();
    let scope = job.params["scope"].as_str().unwrap_or_default();
    if !scope.is_empty() {
        let scopes = Scope::parse_list(scope).0;
        if let Some(access) = type_access(&scopes, rtype, Interaction::Search) {
            for q in &access.queries {
                if let Ok(parsed) = search::parse(rtype, q, ParseOptions::default()) {
                    restrictions.push(parsed.filters);
                }
            }
            if !access.queries.is_empty() && restrictions.is_empty() {
                return Ok(None);
            }
        }
    }
    Ok(Some((filters, restrictions)))
}

/// Applies `_elements` to one line.
fn subset(json: &str, rtype: &str, elements: &[String]) -> String {
    let wanted: Vec<&str> = elements
        .iter()
        .filter_map(|e| match e.split_once('.') {
            Some((t, el)) if t == rtype => Some(el),
            Some(_) => None,
            None => Some(e.as_str()),
        })
        .collect();
    if wanted.is_empty() {
        return json.to_string();
    }
    let Ok(Json::Object(obj)) = serde_json::from_str::<Json>(json) else {
        return json.to_string();
    };
    let mut kept: serde_json::Map<String, Json> = obj
        .into_iter()
        .filter(|(k, _)| matches!(k.as_str(), "resourceType" | "id" | "meta") || wanted.contains(&k.as_str()))
        .collect();
    let meta = kept.entry("meta").or_insert_with(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        let tags = m.entry("tag").or_insert_with(|| json!([]));
        if let Some(t) = tags.as_array_mut() {
            t.push(json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}));
        }
    }
    Json::Object(kept).to_string()
}

/// Commits a chunk's cursor and output (exactly once: see `store::export`).
async fn commit<D: Database>(
    db: &D,
    job: &ExportJob,
    state: &Json,
    output: &Json,
    status: ExportStatus,
    now: i64,
) -> Result<bool, crate::store::DbError> {
    let expires = (status != ExportStatus::Running).then_some(now + EXPIRY_MS);
    store::save_chunk(
        db,
        &job.job_id,
        job.version,
        state,
        output,
        status,
        now + LEASE_MS,
        now,
        expires,
    )
    .await
}

/// One chunk: advances the job by at most one file. `Ok(true)`: more to do.
async fn step<D: Database, P: Platform>(app: &App<D, P>, job: &ExportJob) -> Result<bool, ApiError> {
    let db = app.shards.for_practice(&job.practice);
    let mut state = job.state.clone();
    let mut output = job.output.clone();
    let phase = state["phase"].as_str().unwrap_or("done").to_string();
    let member_off = state["member_off"].as_u64().unwrap_or(0) as usize;
    let types: Vec<String> = serde_json::from_value(job.params["types"].clone()).unwrap_or_default();
    let ref_types: Vec<String> = serde_json::from_value(job.params["ref_types"].clone()).unwrap_or_default();
    let since = job.params["since"].as_i64();
    let elements: Vec<String> = serde_json::from_value(job.params["elements"].clone()).unwrap_or_default();
    let now = app.platform.now_ms();
    let window = app.config.export_member_window.max(1);
    let file_max = app.config.export_file_resources.max(1);
    match phase.as_str() {
        "refs" => {
            // Collect what the members' records reference, a window at a time.
            let end = (member_off + window).min(job.members.len());
            let slice = job.members.get(member_off..end).unwrap_or_default();
            if !slice.is_empty() && !ref_types.is_empty() {
                store::collect_refs(db, &job.job_id, &job.practice, slice).await?;
            }
            if end >= job.members.len() || ref_types.is_empty() {
                state["phase"] = json!("types");
                state["member_off"] = json!(0);
            } else {
                state["member_off"] = json!(end);
            }
            Ok(commit(db, job, &state, &output, ExportStatus::Running, now).await?)
        }
        "types" | "ref_types" => {
            let list = if phase == "types" { &types } else { &ref_types };
            let idx = state["type_idx"].as_u64().unwrap_or(0) as usize;
            let Some(rtype) = list.get(idx) else {
                if phase == "types" && !ref_types.is_empty() && job.kind != ExportKind::System {
                    state["phase"] = json!("ref_types");
                    state["type_idx"] = json!(0);
                    state["after_rid"] = json!(0);
                    return Ok(commit(db, job, &state, &output, ExportStatus::Running, now).await?);
                }
                state["phase"] = json!("done");
                commit(db, job, &state, &output, ExportStatus::Done, now).await?;
                return Ok(false);
            };
            let Some((filters, restrictions)) = restrictions_for(job, rtype)? else {
                state["type_idx"] = json!(idx + 1);
                return Ok(commit(db, job, &state, &output, ExportStatus::Running, now).await?);
            };
            let mut lines: Vec<String> = Vec::new();
            let mut off = member_off;
            let mut after = state["after_rid"].as_i64().unwrap_or(0);
            let mut type_done = false;
            loop {
                let want = file_max - lines.len() as i64;
                let (source, windowed) = if phase == "ref_types" {
                    (Source::Referenced(&job.job_id), false)
                } else if job.kind == ExportKind::System {
                    (Source::All, false)
                } else {
                    let end = (off + window).min(job.members.len());
                    let members = job.members.get(off..end).unwrap_or_default();
                    let source = if rtype == "Provenance" {
                        Source::ProvenanceOf(members)
                    } else {
                        Source::Compartment {
                            members,
                            earlier: job.members.get(..off).unwrap_or_default(),
                        }
                    };
                    (source, true)
                };
                if windowed && off >= job.members.len() {
                    type_done = true;
                    break;
                }
                let rows = store::chunk_rows(
                    db,
                    &job.practice,
                    rtype,
                    &source,
                    after,
                    want,
                    since,
                    job.transaction_time,
                    &filters,
                    &restrictions,
                )
                .await?;
                let full = rows.len() as i64 == want;
                if let Some((rid, _)) = rows.last() {
                    after = *rid;
                }
                lines.extend(rows.into_iter().map(|(_, j)| subset(&j, rtype, &elements)));
                if full {
                    break; // the file is full; the next chunk continues from `after`
                }
                if windowed {
                    off += window;
                    after = 0;
                } else {
                    type_done = true;
                    break;
                }
            }
            let files = state["files"].as_i64().unwrap_or(0);
            if !lines.is_empty() {
                let name = format!("{rtype}-{:04}.ndjson", files + 1);
                let mut body = lines.join("\n");
                body.push('\n');
                app.platform
                    .put_object(&object_key(&job.practice, &job.job_id, &name), body)
                    .await
                    .map_err(|e| ApiError::new(500, "exception", format!("writing {name}: {e}")))?;
                if let Some(list) = output.as_array_mut() {
                    list.push(json!({"type": rtype, "name": name, "count": lines.len()}));
                }
                state["files"] = json!(files + 1);
                state["count"] = json!(state["count"].as_i64().unwrap_or(0) + lines.len() as i64);
            }
            if type_done {
                state["type_idx"] = json!(idx + 1);
                state["member_off"] = json!(0);
                state["after_rid"] = json!(0);
            } else {
                state["member_off"] = json!(off);
                state["after_rid"] = json!(after);
            }
            Ok(commit(db, job, &state, &output, ExportStatus::Running, now).await?)
        }
        _ => Ok(false),
    }
}

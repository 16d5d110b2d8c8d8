//! `POST /admin/import`: loads FHIR data into the practice the operator
//! names (`X-Flare-Practice` or `?practice=`, [`crate::app::App::operator_practice`]).
//!
//! Accepts a single resource, a Bundle of any type, or ndjson
//! (`application/fhir+ndjson`). Transaction and batch Bundles keep FHIR's
//! semantics: `PUT Type/id` upserts, `POST Type` creates with a new id, and
//! `urn:uuid:` full URLs are rewritten so every reference points at the stored
//! resource. Everything is validated before anything is written, so a
//! rejected request writes nothing; a transaction is written in one atomic
//! batch. Other uploads are written in atomic batches of bounded size.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value as Json};

use flare_core::datetime::format_instant;
use flare_core::index;
use flare_core::reference::{is_valid_id, parse_reference, ParsedReference};
use flare_core::registry;

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::resources::{self, fits_in_one_batch, upsert_statements, NewResource};
use crate::store::Database;

/// Largest request body accepted (bytes). Bigger files are split by the
/// client (`scripts/import.sh` sends ndjson in chunks).
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;
/// Largest single resource stored. Resources over one D1 string (1 MB) are
/// stored in parts (`resource_parts`); past this size, attachments belong
/// outside the resource (Attachment.url).
pub const MAX_RESOURCE_BYTES: usize = 8 * 1024 * 1024;

/// One resource to import, with where it came from (for error messages).
struct Item {
    resource: Json,
    location: String,
}

/// Handles an import.
pub async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let practice = app.operator_practice(req)?;
    let db = app.shards.for_practice(&practice);
    if !resources::practice_exists(db, &practice).await? {
        return Err(ApiError::not_found(format!(
            "practice '{practice}' does not exist; create it with PUT /admin/practices/{practice}"
        )));
    }
    if req.body.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::new(
            413,
            "too-costly",
            format!("import bodies are limited to {MAX_IMPORT_BYTES} bytes; split the file"),
        ));
    }
    let ct = req
        .header_value("content-type")
        .unwrap_or("application/fhir+json");
    let is_ndjson = ct.contains("ndjson");
    let (items, atomic) = if is_ndjson {
        (ndjson_items(&req.body)?, false)
    } else {
        json_items(app, &req.body)?
    };
    let now = app.platform.now_ms();
    let prepared = prepare(items, now, &req.fhir_base())?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &prepared {
        *counts.entry(r.resource_type.clone()).or_default() += 1;
    }
    if atomic {
        let mut stmts = Vec::new();
        for chunk in chunks(&prepared) {
            stmts.extend(upsert_statements(&practice, now, chunk));
        }
        db.batch(stmts).await?;
    } else {
        for chunk in chunks(&prepared) {
            db.batch(upsert_statements(&practice, now, chunk)).await?;
        }
    }
    Ok(HttpResponse::json(
        200,
        &json!({"practice": practice, "total": prepared.len(), "counts": counts}),
    ))
}

/// Splits resources into runs that each fit one batch.
fn chunks(all: &[NewResource]) -> Vec<&[NewResource]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < all.len() {
        let mut end = start + 1;
        while end < all.len() && fits_in_one_batch(&all[start..=end]) {
            end += 1;
        }
        out.push(&all[start..end]);
        start = end;
    }
    out
}

fn ndjson_items(body: &[u8]) -> Result<Vec<Item>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Json>(line) {
            Ok(v) => items.push(Item {
                resource: v,
                location: format!("line {}", i + 1),
            }),
            Err(e) => errors.push((
                format!("line {}", i + 1),
                format!("line {}: invalid JSON: {e}", i + 1),
            )),
        }
    }
    reject_if_any(errors)?;
    Ok(items)
}

fn reject_if_any(errors: Vec<(String, String)>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::bad_request(format!(
        "{} invalid entr{}; nothing was imported",
        errors.len(),
        if errors.len() == 1 { "y" } else { "ies" }
    ));
    e.details = errors;
    Err(e)
}

fn new_id<D, P: Platform>(app: &App<D, P>) -> String {
    let mut b = [0u8; 16];
    app.platform.random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40; // UUID v4 layout
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Items of a JSON body, and whether they must be written atomically.
fn json_items<D, P: Platform>(app: &App<D, P>, body: &[u8]) -> Result<(Vec<Item>, bool), ApiError> {
    let v: Json = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    if v.get("resourceType").and_then(Json::as_str) != Some("Bundle") {
        return Ok((
            vec![Item {
                resource: v,
                location: "the resource".into(),
            }],
            true,
        ));
    }
    let btype = v
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or("collection")
        .to_string();
    let entries = v
        .get("entry")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let is_tx = btype == "transaction" || btype == "batch";
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut full_urls: HashMap<String, String> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let loc = format!("Bundle.entry[{i}]");
        let Some(mut res) = e.get("resource").cloned() else {
            errors.push((loc.clone(), format!("{loc}: has no resource")));
            continue;
        };
        let rtype = res
            .get("resourceType")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        if btype == "searchset" && rtype == "OperationOutcome" {
            continue; // search outcome messages are not data
        }
        if is_tx {
            let method = e.pointer("/request/method").and_then(Json::as_str).unwrap_or("");
            let url = e.pointer("/request/url").and_then(Json::as_str).unwrap_or("");
            let path = url.split('?').next().unwrap_or("");
            match method {
                "PUT" => {
                    let Some((t, id)) = path.split_once('/') else {
                        errors.push((loc.clone(), format!("{loc}: PUT url '{url}' is not Type/id")));
                        continue;
                    };
                    if t != rtype || !is_valid_id(id) {
                        errors.push((
                            loc.clone(),
                            format!("{loc}: PUT url '{url}' does not match the {rtype} resource"),
                        ));
                        continue;
                    }
                    if res.get("id").is_some_and(|x| x.as_str() != Some(id)) {
                        errors.push((
                            loc.clone(),
                            format!("{loc}: resource id differs from the PUT url '{url}'"),
                        ));
                        continue;
                    }
                    res["id"] = json!(id);
                }
                "POST" => {
                    if path != rtype {
                        errors.push((
                            loc.clone(),
                            format!("{loc}: POST url '{url}' does not match the {rtype} resource"),
                        ));
                        continue;
                    }
                    res["id"] = json!(new_id(app));
                }
                other => {
                    errors.push((
                        loc.clone(),
                        format!("{loc}: request method '{other}' is not supported for import (PUT or POST)"),
                    ));
                    continue;
                }
            }
        } else if res.get("id").is_none() && rtype_is_valid(&rtype) {
            res["id"] = json!(new_id(app));
        }
        if let (Some(full), Some(id)) = (
            e.get("fullUrl").and_then(Json::as_str),
            res.get("id").and_then(Json::as_str),
        ) {
            // Transactions resolve references to any entry's fullUrl; other Bundles
            // only their urn: placeholders, so absolute references stay as written.
            if is_tx || full.starts_with("urn:") {
                full_urls.insert(full.to_string(), format!("{rtype}/{id}"));
            }
        }
        items.push(Item {
            resource: res,
            location: loc,
        });
    }
    reject_if_any(errors)?;
    for item in &mut items {
        rewrite_references(&mut item.resource, &full_urls);
    }
    // Transactions and single-resource uploads are all-or-nothing; other Bundles too when small.
    Ok((items, btype == "transaction"))
}

fn rtype_is_valid(t: &str) -> bool {
    registry::is_r4_type(t)
}

/// Rewrites references that name a Bundle entry's fullUrl to `Type/id`.
fn rewrite_references(v: &mut Json, map: &HashMap<String, String>) {
    match v {
        Json::Object(obj) => {
            for (k, child) in obj.iter_mut() {
                if k == "reference" {
                    if let Some(target) = child.as_str().and_then(|s| map.get(s)) {
                        *child = json!(target);
                    }
                } else {
                    rewrite_references(child, map);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|c| rewrite_references(c, map)),
        _ => {}
    }
}

/// Collects the problems of every `reference` in a resource.
fn reference_errors(v: &Json, path: &str, out: &mut Vec<String>) {
    match v {
        Json::Object(obj) => {
            for (k, child) in obj {
                let p = format!("{path}.{k}");
                if k == "reference" {
                    match child.as_str().map(parse_reference) {
                        Some(Ok(ParsedReference::Urn(u))) => {
                            out.push(format!("{p}: '{u}' does not name an entry of this upload"))
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => out.push(format!("{p}: {}", e.0)),
                        None => out.push(format!("{p}: must be a string")),
                    }
                } else if k != "contained" {
                    reference_errors(child, &p, out);
                }
            }
        }
        Json::Array(items) => {
            for (i, c) in items.iter().enumerate() {
                reference_errors(c, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Validates items and turns them into rows. Any invalid item rejects all.
fn prepare(items: Vec<Item>, now: i64, base: &str) -> Result<Vec<NewResource>, ApiError> {
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    let last_updated = format_instant(now);
    for Item {
        mut resource,
        location,
    } in items
    {
        let Some(obj) = resource.as_object() else {
            errors.push((location.clone(), format!("{location}: not a JSON object")));
            continue;
        };
        let rtype = obj
            .get("resourceType")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        if !registry::is_r4_type(&rtype) {
            errors.push((
                location.clone(),
                format!("{location}: unknown resourceType '{rtype}'"),
            ));
            continue;
        }
        let id = match obj.get("id") {
            Some(Json::String(id)) if is_valid_id(id) => id.clone(),
            Some(other) => {
                errors.push((
                    location.clone(),
                    format!("{location}: id {other} is not a valid FHIR id"),
                ));
                continue;
            }
            None => {
                errors.push((location.clone(), format!("{location}: {rtype} has no id")));
                continue;
            }
        };
        let mut problems = Vec::new();
        reference_errors(&resource, &rtype, &mut problems);
        if !problems.is_empty() {
            for p in problems {
                errors.push((location.clone(), format!("{location} ({rtype}/{id}): {p}")));
            }
            continue;
        }
        // Server-managed metadata.
        let meta = resource
            .as_object_mut()
            .map(|o| o.entry("meta").or_insert_with(|| json!({})));
        if let Some(Json::Object(m)) = meta {
            m.insert("lastUpdated".into(), json!(last_updated));
            m.remove("versionId");
        }
        let json = resource.to_string();
        if json.len() > MAX_RESOURCE_BYTES {
            errors.push((
                location.clone(),
                format!(
                    "{location} ({rtype}/{id}): {} bytes is over the {MAX_RESOURCE_BYTES}-byte limit of one \
                     stored resource; keep large attachments outside (Attachment.url)",
                    json.len()
                ),
            ));
            continue;
        }
        let index = registry::resource(&rtype)
            .map(|def| index::extract(def, &resource, Some(base)))
            .unwrap_or_default();
        out.push(NewResource {
            resource_type: rtype,
            id,
            json,
            index,
        });
    }
    reject_if_any(errors)?;
    Ok(out)
}

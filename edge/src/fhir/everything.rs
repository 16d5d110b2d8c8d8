//! `GET [base]/Patient/[id]/$everything`
//! (<http://hl7.org/fhir/OperationDefinition/Patient-everything>): the
//! Patient, every record in their compartment and the resources outside
//! every compartment that those records reference (Practitioner,
//! Organization, Location, Medication, …), as far as the caller may see
//! them, in a `searchset` Bundle paged by keyset `next` links.
//!
//! What is the patient's is the one visibility rule's answer: the caller's
//! rule for each granted type narrowed to the patient
//! ([`crate::fhir::access::everything_visibility`]), compiled into one
//! statement per page ([`compile_everything`]). Entries come by type (the
//! Patient first, then the others by name) and row id, so a `next` link's
//! cursor (`rid~Type`) resumes exactly where the page ended.

use serde_json::Value as Json;

use flare_core::datetime::{format_instant, parse_range};
use flare_core::reference::is_valid_id;
use flare_core::registry;
use flare_core::search::{Cursor, DEFAULT_COUNT, MAX_COUNT};

use crate::app::{App, Caller};
use crate::fhir::access::{everything_visibility, Answered};
use crate::fhir::search::{compile_error, link_url, row_json};
use crate::http::error::ApiError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::access_log::{can_record, run_page_recorded, AccessRecord};
use crate::store::search_sql::{compile_everything, run_page, EverythingAfter};
use crate::store::{resources, Database};

/// The operation's parameters, checked.
#[derive(Debug, PartialEq)]
struct Params {
    /// `_since` (ms): only resources changed after it.
    since: Option<(String, i64)>,
    /// `_type`: only these types (as given, deduplicated).
    types: Option<Vec<&'static str>>,
    /// `_count`: the page size.
    count: usize,
    /// `_cursor`: where this page starts.
    cursor: Option<Cursor>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

fn read_params(pairs: &[(String, String)]) -> Result<Params, ApiError> {
    let mut p = Params {
        since: None,
        types: None,
        count: DEFAULT_COUNT,
        cursor: None,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "_since" => {
                let range = parse_range(v)
                    .filter(|_| v.contains('T'))
                    .ok_or_else(|| bad(format!("_since: '{v}' is not a FHIR instant")))?;
                p.since = Some((v.clone(), range.start));
            }
            "_type" => {
                let list = p.types.get_or_insert_with(Vec::new);
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    let def = registry::resource(t).ok_or_else(|| {
                        bad(format!("_type: {t} is not a resource type this server searches"))
                    })?;
                    if def.name == "Group" {
                        return Err(bad(
                            "_type: a Group is a roster of many patients, never part of one patient's record",
                        ));
                    }
                    if !list.contains(&def.name) {
                        list.push(def.name);
                    }
                }
            }
            "_count" => {
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("_count: '{v}' is not a positive integer")))?;
                p.count = n.min(MAX_COUNT);
            }
            "_cursor" => {
                p.cursor = Some(
                    Cursor::decode(v)
                        .filter(|c| c.sort_value.is_some())
                        .ok_or_else(|| bad("_cursor: not a cursor from a next link"))?,
                );
            }
            "_format" | "_pretty" => {}
            other => {
                return Err(bad(format!(
                    "$everything has no parameter {other} here (supported: _since, _type, _count)"
                )))
            }
        }
    }
    if p.types.as_ref().is_some_and(Vec::is_empty) {
        return Err(bad("_type names no resource type"));
    }
    Ok(p)
}

/// Handles `Patient/[id]/$everything`.
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    id: &str,
    record: Option<&AccessRecord>,
) -> Answered {
    if !is_valid_id(id) {
        return Err(bad(format!("'{id}' is not a valid FHIR id")));
    }
    let pairs = req.query_pairs();
    let params = read_params(&pairs)?;
    let scope = everything_visibility(caller, practice, id)?;
    let db = app.shards.for_practice(practice);
    if resources::read(db, practice, "Patient", id).await?.is_none() {
        return Err(ApiError::not_found(format!("Patient/{id} is not known")));
    }

    // The Patient first, then the others by name: the order of the pages.
    let granted = |t: &&'static str| scope.rule(t).is_some();
    let mut types: Vec<&'static str> = match &params.types {
        Some(list) => {
            let mut list = list.clone();
            list.sort_by_key(|t| (*t != "Patient", *t));
            list
        }
        None => {
            let mut all: Vec<&'static str> = registry::RESOURCES.iter().map(|d| d.name).collect();
            all.sort_by_key(|t| (*t != "Patient", *t));
            all
        }
    };
    if params.types.is_some() && !types.iter().any(granted) {
        return Err(ApiError::insufficient_scope(
            "the access token's scopes do not permit search of any type _type names",
        ));
    }
    types.retain(granted);
    let after = match &params.cursor {
        None => None,
        Some(c) => {
            let t = c.sort_value.as_deref().unwrap_or_default();
            let rank = types
                .iter()
                .position(|x| *x == t)
                .ok_or_else(|| bad("_cursor: not a cursor from a next link of this request"))?;
            Some(EverythingAfter { rank, rid: c.rid })
        }
    };
    let since = params.since.as_ref().map(|s| s.1);
    let page = compile_everything(
        &scope,
        id,
        &types,
        since,
        after,
        params.count,
        app.platform.now_ms(),
    )
    .map_err(compile_error)?;
    let rows = match record {
        Some(rec) if can_record(page.params.len()) => {
            run_page_recorded(db, page, params.count as i64, rec).await?
        }
        _ => run_page(db, page).await?,
    };

    // Resources stored in parts come back as ''; fetch them in one more query.
    let split: Vec<i64> = rows
        .iter()
        .filter(|r| r.json.as_deref() == Some(""))
        .filter_map(|r| r.rid)
        .collect();
    let assembled = if split.is_empty() {
        Vec::new()
    } else {
        resources::assemble_parts(db, &split).await?
    };
    let mut matches: Vec<_> = rows.iter().filter(|r| r.kind == 0).collect();
    matches.sort_by_key(|r| r.pos);
    let has_next = matches.len() > params.count;
    matches.truncate(params.count);

    let base = req.fhir_base();
    let path = format!("Patient/{id}/$everything");
    let mut link_pairs: Vec<(String, String)> = Vec::new();
    if let Some((text, _)) = &params.since {
        link_pairs.push(("_since".into(), text.clone()));
    }
    if let Some(list) = &params.types {
        link_pairs.push(("_type".into(), list.join(",")));
    }
    if params.count != DEFAULT_COUNT {
        link_pairs.push(("_count".into(), params.count.to_string()));
    }
    let mut self_pairs = link_pairs.clone();
    if let Some(c) = &params.cursor {
        self_pairs.push(("_cursor".into(), c.encode()));
    }
    let mut links = vec![serde_json::json!({"relation": "self", "url": link_url(&base, &path, &self_pairs)})];
    if let (true, Some(last)) = (has_next, matches.last()) {
        let mut next = link_pairs.clone();
        let cursor = Cursor {
            rid: last.rid.unwrap_or_default(),
            sort_value: last.rtype.clone(),
        };
        next.push(("_cursor".into(), cursor.encode()));
        links.push(serde_json::json!({"relation": "next", "url": link_url(&base, &path, &next)}));
    }

    // Whose records the answer carries, for the access history.
    let mut patients: Vec<String> = Vec::new();
    let mut entries: Vec<String> = Vec::with_capacity(matches.len());
    for r in &matches {
        for p in r.patients.as_deref().into_iter().flat_map(|l| l.split(' ')) {
            if !p.is_empty() && !patients.iter().any(|x| x == p) {
                patients.push(p.to_string());
            }
        }
        let rid = r.rid.unwrap_or_default();
        let json = row_json(r.json.as_deref(), rid, &assembled);
        let (t, rid_id) = (
            r.rtype.as_deref().unwrap_or_default(),
            r.id.as_deref().unwrap_or_default(),
        );
        // Stored JSON is spliced in, not re-parsed.
        entries.push(format!(
            r#"{{"fullUrl":{},"resource":{json},"search":{{"mode":"match"}}}}"#,
            Json::String(format!("{base}/{t}/{rid_id}"))
        ));
    }
    let total = (params.cursor.is_none() && !has_next).then_some(matches.len());
    let mut body = format!(
        r#"{{"resourceType":"Bundle","type":"searchset","meta":{{"lastUpdated":"{}"}}"#,
        format_instant(app.platform.now_ms())
    );
    if let Some(t) = total {
        body.push_str(&format!(r#","total":{t}"#));
    }
    body.push_str(&format!(r#","link":{}"#, Json::Array(links)));
    if !entries.is_empty() {
        body.push_str(&format!(r#","entry":[{}]"#, entries.join(",")));
    }
    body.push('}');
    Ok((HttpResponse::fhir(200, body), patients))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parameters_are_checked() {
        let p = read_params(&pairs(&[
            ("_type", "Observation,Patient,Observation"),
            ("_count", "900"),
            ("_since", "2024-01-01T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(p.types, Some(vec!["Observation", "Patient"]));
        assert_eq!(p.count, MAX_COUNT);
        assert!(p.since.is_some());
        for bad in [
            vec![("_type", "Nonsense")],
            vec![("_type", "Group")],
            vec![("_type", ",")],
            vec![("_count", "0")],
            vec![("_count", "many")],
            vec![("_since", "2024-01-01")],
            vec![("_cursor", "12")],
            vec![("start", "2020")],
        ] {
            assert_eq!(read_params(&pairs(&bad)).unwrap_err().status, 400, "{bad:?}");
        }
    }
}

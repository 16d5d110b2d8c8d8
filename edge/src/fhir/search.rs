//! `GET [base]/[type]?…` and `POST [base]/[type]/_search`: the search
//! interaction (<https://hl7.org/fhir/R4/search.html>), answered with a
//! `searchset` Bundle paged by keyset `next` links.

use serde_json::{json, Map, Value as Json};

use flare_core::registry::{self, ResourceDef};
use flare_core::search::{self, Cursor, ParseOptions, SearchRequest, SortKey, Summary, Total};

use flare_core::smart::access::Interaction;

use crate::app::{App, Caller};
use crate::fhir::access::{visibility, Answered};
use crate::http::error::ApiError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::access_log::{can_record, run_count_recorded, run_page_recorded, AccessRecord};
use crate::store::search_sql::{compile, run_count, run_page, CompileError, Visibility};
use crate::store::{resources, Database};

/// Rejects formats other than JSON: `_format` or an `Accept` that only takes XML gives 406.
pub fn check_format(req: &HttpRequest) -> Result<(), ApiError> {
    let json_ok = |f: &str| {
        matches!(
            f.trim(),
            "json" | "application/json" | "application/fhir+json" | "text/json"
        )
    };
    if let Some((_, f)) = req.url.query_pairs().find(|(k, _)| k == "_format") {
        let f = f.split(';').next().unwrap_or("");
        if !json_ok(f) {
            return Err(ApiError::new(
                406,
                "not-supported",
                format!("_format={f}: this server speaks JSON only (application/fhir+json)"),
            ));
        }
    }
    if let Some(accept) = req.header_value("accept") {
        let types: Vec<&str> = accept
            .split(',')
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .collect();
        let acceptable = types
            .iter()
            .any(|t| json_ok(t) || matches!(*t, "*/*" | "application/*" | ""));
        if !acceptable {
            return Err(ApiError::new(
                406,
                "not-supported",
                format!("Accept: {accept}: this server speaks JSON only (application/fhir+json)"),
            ));
        }
    }
    Ok(())
}

/// The form pairs of a `POST _search` body.
pub fn form_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    let ct = req.header_value("content-type").unwrap_or("");
    if !req.body.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            415,
            "not-supported",
            "POST _search takes an application/x-www-form-urlencoded body",
        ));
    }
    Ok(form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Whether the request asks for lenient handling of unknown parameters.
fn lenient(req: &HttpRequest) -> bool {
    req.header_value("prefer")
        .is_some_and(|p| p.split(';').any(|x| x.trim() == "handling=lenient"))
}

/// A search on a compartment type needs at least one parameter; the message
/// lists the SHALL combinations the server supports.
fn check_required(def: &ResourceDef, req: &SearchRequest) -> Result<(), ApiError> {
    if def.name == "Patient" || !def.in_patient_compartment() || !req.filters.is_empty() {
        return Ok(());
    }
    let combos: Vec<String> = def
        .combinations
        .iter()
        .filter(|c| c.expectation == "SHALL")
        .map(|c| c.params.join("+"))
        .collect();
    let hint = if combos.is_empty() {
        "patient".to_string()
    } else {
        combos.join(", ")
    };
    Err(ApiError::bad_request(format!(
        "a {} search needs a search parameter (supported combinations include: {hint})",
        def.name
    )))
}

pub(crate) fn link_url(base: &str, rtype: &str, pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    let q = s.finish();
    if q.is_empty() {
        format!("{base}/{rtype}")
    } else {
        format!("{base}/{rtype}?{q}")
    }
}

/// Whether JSON key `key` is the element `name`, or one of its choice-type
/// forms (`effective` selects `effectiveDateTime` and `effectivePeriod`).
fn element_matches(key: &str, name: &str) -> bool {
    key == name
        || (key.len() > name.len()
            && key.starts_with(name)
            && key.as_bytes()[name.len()].is_ascii_uppercase())
}

/// Applies `_elements` / `_summary=text|data` to one resource.
fn subset(json: &str, req: &SearchRequest) -> String {
    let keep_base = |k: &str| matches!(k, "resourceType" | "id" | "meta");
    let Ok(Json::Object(mut obj)) = serde_json::from_str::<Json>(json) else {
        return json.to_string();
    };
    let mut subsetted = false;
    if let Some(els) = &req.elements {
        obj = obj
            .into_iter()
            .filter(|(k, _)| keep_base(k) || els.iter().any(|e| element_matches(k, e)))
            .collect::<Map<_, _>>();
        subsetted = true;
    }
    match req.summary {
        Summary::Data => {
            obj.remove("text");
            subsetted = true;
        }
        Summary::Text => {
            obj = obj
                .into_iter()
                .filter(|(k, _)| keep_base(k) || k == "text")
                .collect();
            subsetted = true;
        }
        _ => {}
    }
    if subsetted {
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            let tags = m.entry("tag").or_insert_with(|| json!([]));
            if let Some(t) = tags.as_array_mut() {
                t.push(json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}));
            }
        }
    }
    Json::Object(obj).to_string()
}

/// Handles a search of `rtype` with the given query (or form) pairs.
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    rtype: &str,
    pairs: Vec<(String, String)>,
    record: Option<&AccessRecord>,
) -> Answered {
    let def = registry::resource(rtype).ok_or_else(|| {
        ApiError::not_found(format!("resource type '{rtype}' is not supported by this server"))
    })?;
    let scope = visibility(caller, practice, rtype, Interaction::Search)?;
    let patient_context = scope.rule(rtype).is_some_and(|r| r.patient.is_some());
    let parsed = search::parse(
        rtype,
        &pairs,
        ParseOptions {
            lenient: lenient(req),
            base: Some(req.fhir_base()),
        },
    )?;
    if !patient_context {
        // A patient-level token implies the patient; others must name one.
        check_required(def, &parsed)?;
    }
    answer(app, req, practice, &scope, &parsed, record, rtype, &[]).await
}

/// Runs a parsed search under `scope` and answers its `searchset` Bundle,
/// whose `self` and `next` links are `[base]/{path}?` the request's
/// canonical query (an operation that compiles to a search, such as
/// `DocumentReference/$docref`, links to itself). `notes` become warnings
/// of the Bundle's OperationOutcome entry. With `record`, an app's access
/// is written by the query's own statement when it fits.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn answer<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    practice: &str,
    scope: &Visibility,
    parsed: &SearchRequest,
    record: Option<&AccessRecord>,
    path: &str,
    notes: &[String],
) -> Answered {
    let want_count = parsed.summary == Summary::Count || parsed.total == Total::Accurate;
    let compiled = compile(parsed, scope, app.platform.now_ms(), want_count).map_err(compile_error)?;
    let db = app.shards.for_practice(practice);
    let base = req.fhir_base();

    // An app's search records its access in the query's own round trip.
    let mut total = None;
    let rows = if parsed.summary == Summary::Count {
        total = match record {
            Some(rec) if can_record(compiled.count_only.params.len()) => {
                run_count_recorded(db, compiled.count_only, rec).await?
            }
            _ => run_count(db, compiled.count_only).await?,
        };
        Vec::new()
    } else {
        match record {
            Some(rec) if can_record(compiled.page.params.len()) => {
                run_page_recorded(db, compiled.page, parsed.count as i64, rec).await?
            }
            _ => run_page(db, compiled.page).await?,
        }
    };

    // Resources stored in parts come back as ''; fetch them in one more query.
    let split: Vec<i64> = rows
        .iter()
        .filter(|r| r.kind < 3 && r.json.as_deref() == Some(""))
        .filter_map(|r| r.rid)
        .collect();
    let assembled = if split.is_empty() {
        Vec::new()
    } else {
        resources::assemble_parts(db, &split).await?
    };

    // Split matches and includes; matches come back ranked by `pos`.
    let mut matches: Vec<(i64, Json, Row)> = Vec::new(); // rank, sort key, row
    let mut included: Vec<Row> = Vec::new();
    for r in &rows {
        let kind = r.kind;
        if kind == 3 {
            total = Some(r.total()?);
            continue;
        }
        let rid = r.rid.unwrap_or_default();
        let json = row_json(r.json.as_deref(), rid, &assembled);
        let row = Row {
            rid,
            json,
            rtype: r.rtype.as_deref().unwrap_or_default(),
            id: r.id.as_deref().unwrap_or_default(),
            patients: r.patients.as_deref(),
        };
        if kind == 0 {
            matches.push((r.pos.unwrap_or_default(), r.sort_key.0.clone(), row));
        } else if !included.iter().any(|x| x.rid == rid) {
            included.push(row);
        }
    }
    matches.sort_by_key(|m| m.0);
    let has_next = matches.len() > parsed.count;
    matches.truncate(parsed.count);
    included.retain(|i| !matches.iter().any(|m| m.2.rid == i.rid));
    // Whose records the answer carries: the compartment rows of what it returns.
    let mut returned_patients: Vec<String> = Vec::new();
    if parsed.summary != Summary::Count {
        let lists = matches
            .iter()
            .map(|m| m.2.patients)
            .chain(included.iter().map(|i| i.patients));
        for p in lists.flatten().flat_map(|l| l.split(' ')) {
            if !returned_patients.iter().any(|x| x == p) {
                returned_patients.push(p.to_string());
            }
        }
    }

    let total = total.or({
        // Free when everything fits in the first page.
        (parsed.cursor.is_none() && !has_next && parsed.total != Total::None).then_some(matches.len() as i64)
    });

    let mut self_pairs = parsed.canonical_query.clone();
    if parsed.count != search::DEFAULT_COUNT {
        self_pairs.push(("_count".into(), parsed.count.to_string()));
    }
    let mut links = Vec::new();
    let mut self_link_pairs = self_pairs.clone();
    if let Some(c) = &parsed.cursor {
        self_link_pairs.push(("_cursor".into(), c.encode()));
    }
    links.push(format!(
        r#"{{"relation":"self","url":{}}}"#,
        Json::String(link_url(&base, path, &self_link_pairs))
    ));
    if has_next {
        if let Some(last) = matches.last() {
            let sort_value = parsed.sort.as_ref().map(|s| match (&s.key, &last.1) {
                (SortKey::LastUpdated | SortKey::Date(_), v) => {
                    v.as_f64().map(|f| (f as i64).to_string()).unwrap_or_default()
                }
                (_, v) => v.as_str().unwrap_or_default().to_string(),
            });
            let mut next = self_pairs.clone();
            next.push((
                "_cursor".into(),
                Cursor {
                    rid: last.2.rid,
                    sort_value,
                }
                .encode(),
            ));
            links.push(format!(
                r#"{{"relation":"next","url":{}}}"#,
                Json::String(link_url(&base, path, &next))
            ));
        }
    }

    // Assemble the Bundle as text: stored JSON is spliced in, not re-parsed,
    // unless _elements/_summary ask for a subset.
    let needs_subset = parsed.elements.is_some() || matches!(parsed.summary, Summary::Data | Summary::Text);
    let mut body = String::with_capacity(
        256 + rows
            .iter()
            .map(|r| r.json.as_ref().map_or(0, String::len) + 96)
            .sum::<usize>(),
    );
    body.push_str(r#"{"resourceType":"Bundle","type":"searchset""#);
    body.push_str(&format!(
        r#","meta":{{"lastUpdated":"{}"}}"#,
        flare_core::datetime::format_instant(app.platform.now_ms())
    ));
    if let Some(t) = total {
        body.push_str(&format!(r#","total":{t}"#));
    }
    body.push_str(&format!(r#","link":[{}]"#, links.join(",")));
    let mut entries: Vec<String> = Vec::new();
    let entry = |json: &str, mode: &str, t: &str, id: &str| -> String {
        let resource = if needs_subset && mode == "match" {
            subset(json, parsed)
        } else {
            json.to_string()
        };
        format!(
            r#"{{"fullUrl":{},"resource":{resource},"search":{{"mode":"{mode}"}}}}"#,
            Json::String(format!("{base}/{t}/{id}"))
        )
    };
    if parsed.summary != Summary::Count {
        for (_, _, m) in &matches {
            entries.push(entry(m.json, "match", m.rtype, m.id));
        }
        for i in &included {
            entries.push(entry(i.json, "include", i.rtype, i.id));
        }
    }
    if !parsed.ignored.is_empty() || !notes.is_empty() {
        let ignored = parsed.ignored.iter().map(|m| format!("ignored: {m}"));
        let oo = json!({"resourceType": "OperationOutcome", "issue": ignored.chain(notes.iter().cloned()).map(|m| json!({
            "severity": "warning", "code": "not-supported", "diagnostics": m
        })).collect::<Vec<_>>()});
        entries.push(format!(r#"{{"resource":{oo},"search":{{"mode":"outcome"}}}}"#));
    }
    if !entries.is_empty() {
        body.push_str(&format!(r#","entry":[{}]"#, entries.join(",")));
    }
    body.push('}');
    Ok((HttpResponse::fhir(200, body), returned_patients))
}

/// One resource row of a search answer, borrowed from the query's rows.
struct Row<'a> {
    rid: i64,
    json: &'a str,
    rtype: &'a str,
    id: &'a str,
    /// The patients whose compartment holds it, space-separated (when asked).
    patients: Option<&'a str>,
}

/// A search the compiler refused: 400 when too large, 403 when it touches a
/// type the caller may not search.
pub fn compile_error(e: CompileError) -> ApiError {
    match e {
        CompileError::TooComplex(m) => ApiError::bad_request(m),
        CompileError::Forbidden(m) => ApiError::insufficient_scope(m),
    }
}

/// A page row's JSON text: inline, or (a resource stored in parts, `''`
/// inline) reassembled from `assembled` by rid.
pub(crate) fn row_json<'a>(inline: Option<&'a str>, rid: i64, assembled: &'a [(i64, String)]) -> &'a str {
    match inline {
        Some("") => assembled
            .iter()
            .find(|(x, _)| *x == rid)
            .map_or("{}", |(_, j)| j.as_str()),
        other => other.unwrap_or("{}"),
    }
}

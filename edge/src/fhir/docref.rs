//! `GET|POST [base]/DocumentReference/$docref`: US Core's Fetch
//! DocumentReference operation
//! (<http://hl7.org/fhir/us/core/OperationDefinition/docref>), answered as
//! the search of the patient's DocumentReferences it amounts to, compiled
//! with the caller's visibility like any search, in a `searchset` Bundle
//! paged by `next` links to the operation itself.
//!
//! Parameters: `patient` (required), `start` and `end` (care dates: a
//! document whose `context.period`, or when it has none its `date`, overlaps
//! them), `type` (a Coding: `system|code` or `code`), `on-demand`. The
//! server stores documents and generates none: with neither date, the
//! patient's current documents (`status` current, "the most recent or
//! current document"); `on-demand=true` asks for on-demand documents only,
//! so the answer holds none, with an OperationOutcome saying why.

use serde_json::Value as Json;

use flare_core::datetime::{parse_range, DateRange};
use flare_core::reference::is_valid_id;
use flare_core::registry::{self, SearchParamDef};
use flare_core::search::{self, DatePrefix, Filter, ParseOptions, Value};
use flare_core::smart::access::Interaction;

use crate::app::{App, Caller};
use crate::fhir::access::{visibility, Answered};
use crate::fhir::search::{answer, form_pairs};
use crate::http::error::ApiError;
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::access_log::AccessRecord;
use crate::store::Database;

/// Where the operation's links point, under the FHIR base.
const PATH: &str = "DocumentReference/$docref";

/// The operation's inputs, checked.
#[derive(Debug, Default, PartialEq)]
struct DocRef {
    patient: String,
    start: Option<(String, DateRange)>,
    end: Option<(String, DateRange)>,
    /// `system|code`, `code` or `system|`.
    doc_type: Option<String>,
    on_demand: Option<bool>,
    /// Paging: `_count` and `_cursor` from a `next` link.
    paging: Vec<(String, String)>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// The operation's parameters as name/value text: the query of a GET; for
/// a POST, a Parameters resource (`application/fhir+json`) or a form.
fn inputs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    if req.method != "POST" {
        return Ok(req.query_pairs());
    }
    let mut pairs = req.query_pairs();
    let ct = req.header_value("content-type").unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if matches!(media, "application/fhir+json" | "application/json") {
        pairs.extend(parameters(&req.body)?);
    } else {
        pairs.extend(form_pairs(req).map_err(|_| {
            ApiError::new(
                415,
                "not-supported",
                "POST $docref takes a Parameters resource (application/fhir+json) or an application/x-www-form-urlencoded body",
            )
        })?);
    }
    Ok(pairs)
}

/// The inputs a Parameters resource carries, as text.
fn parameters(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let doc: Json = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not a JSON Parameters resource: {e}")))?;
    if doc["resourceType"] != "Parameters" {
        return Err(bad("the body of POST $docref must be a Parameters resource"));
    }
    let list = match &doc["parameter"] {
        Json::Null => return Ok(Vec::new()),
        Json::Array(list) => list,
        _ => return Err(bad("Parameters.parameter must be an array")),
    };
    let mut out = Vec::new();
    for p in list {
        let name = p["name"]
            .as_str()
            .ok_or_else(|| bad("every Parameters.parameter needs a name"))?;
        let values: Vec<(&String, &Json)> = p
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("value"))
            .collect();
        let [(key, v)] = values[..] else {
            return Err(bad(format!("parameter {name} needs exactly one value[x]")));
        };
        let text = match (key.as_str(), v) {
            ("valueCoding", Json::Object(c)) => {
                let code = c.get("code").and_then(Json::as_str).unwrap_or("");
                match c.get("system").and_then(Json::as_str) {
                    Some(system) => format!("{system}|{code}"),
                    None => code.to_string(),
                }
            }
            ("valueBoolean", Json::Bool(b)) => b.to_string(),
            (_, Json::String(s)) => s.clone(),
            _ => {
                return Err(bad(format!(
                    "parameter {name}: {key} is not a value this operation takes"
                )))
            }
        };
        out.push((name.to_string(), text));
    }
    Ok(out)
}

fn date(name: &str, v: &str) -> Result<(String, DateRange), ApiError> {
    parse_range(v)
        .map(|r| (v.to_string(), r))
        .ok_or_else(|| bad(format!("{name}: '{v}' is not a FHIR date or dateTime")))
}

/// Checks the inputs against the OperationDefinition.
fn read_inputs(pairs: Vec<(String, String)>) -> Result<DocRef, ApiError> {
    let mut op = DocRef::default();
    let mut patient = None;
    let once = |seen: bool, name: &str| match seen {
        true => Err(bad(format!("{name} may be given once"))),
        false => Ok(()),
    };
    for (k, v) in pairs {
        match k.as_str() {
            "patient" => {
                once(patient.is_some(), "patient")?;
                // The id of a Patient (a reference to one is taken too).
                let id = v.strip_prefix("Patient/").unwrap_or(&v);
                if !is_valid_id(id) {
                    return Err(bad(format!("patient: '{v}' is not a Patient id")));
                }
                patient = Some(id.to_string());
            }
            "start" => {
                once(op.start.is_some(), "start")?;
                op.start = Some(date("start", &v)?);
            }
            "end" => {
                once(op.end.is_some(), "end")?;
                op.end = Some(date("end", &v)?);
            }
            "type" => {
                once(op.doc_type.is_some(), "type")?;
                if v.is_empty() || v.contains(',') {
                    return Err(bad(format!("type: '{v}' is not one Coding (system|code)")));
                }
                op.doc_type = Some(v);
            }
            "on-demand" => {
                once(op.on_demand.is_some(), "on-demand")?;
                op.on_demand = Some(match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(format!("on-demand: '{v}' is not a boolean"))),
                });
            }
            "_count" | "_cursor" => op.paging.push((k, v)),
            "_format" | "_pretty" => {}
            "profile" => {
                return Err(ApiError::new(
                    400,
                    "not-supported",
                    "profile: this server does not select documents by profile",
                ))
            }
            other => {
                return Err(bad(format!(
                    "$docref has no parameter {other} (patient, start, end, type, on-demand)"
                )))
            }
        }
    }
    op.patient = patient.ok_or_else(|| bad("$docref needs the patient parameter"))?;
    if let (Some((s, start)), Some((e, end))) = (&op.start, &op.end) {
        if end.end < start.start {
            return Err(bad(format!("end {e} is before start {s}")));
        }
    }
    Ok(op)
}

/// `param` of DocumentReference, from the registry.
fn param(code: &str) -> Result<&'static SearchParamDef, ApiError> {
    registry::resource("DocumentReference")
        .and_then(|d| d.param(code))
        .ok_or_else(|| ApiError::internal(format!("the registry has no DocumentReference {code}")))
}

/// The care-date condition: the context period overlaps [start, end], or,
/// for a document without one, its date does. Overlap is "does not end
/// before start and does not begin after end".
fn care_dates(op: &DocRef) -> Result<Filter, ApiError> {
    let group = |code: &str| -> Result<Vec<Filter>, ApiError> {
        let p = param(code)?;
        let mut all = vec![Filter::Missing {
            param: p,
            missing: false,
        }];
        let outside = [(&op.start, DatePrefix::Eb), (&op.end, DatePrefix::Sa)];
        for (bound, prefix) in outside {
            if let Some((_, range)) = bound {
                all.push(Filter::Param {
                    param: p,
                    negate: true,
                    values: vec![Value::Date(prefix, *range)],
                });
            }
        }
        Ok(all)
    };
    let by_period = group("period")?;
    let mut by_date = vec![Filter::Missing {
        param: param("period")?,
        missing: true,
    }];
    by_date.extend(group("date")?);
    Ok(Filter::AnyOf(vec![by_period, by_date]))
}

/// Handles `DocumentReference/$docref` (GET or POST).
pub async fn handle<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    caller: &Caller,
    practice: &str,
    record: Option<&AccessRecord>,
) -> Answered {
    let op = read_inputs(inputs(req)?)?;
    // The caller's visibility, as for a DocumentReference search (403 when
    // not granted; another patient's documents are simply not found).
    let scope = visibility(caller, practice, "DocumentReference", Interaction::Search)?;
    let mut pairs = vec![("patient".to_string(), format!("Patient/{}", op.patient))];
    if let Some(t) = &op.doc_type {
        pairs.push(("type".into(), t.clone()));
    }
    let dated = op.start.is_some() || op.end.is_some();
    if !dated {
        // No care dates: "the most recent or current document(s)".
        pairs.push(("status".into(), "current".into()));
    }
    pairs.extend(op.paging.iter().cloned());
    let mut parsed = search::parse(
        "DocumentReference",
        &pairs,
        ParseOptions {
            lenient: false,
            base: Some(req.fhir_base()),
        },
    )?;
    if dated {
        parsed.filters.push(care_dates(&op)?);
    }
    let mut notes = Vec::new();
    if op.on_demand == Some(true) {
        // Only on-demand documents were asked for; this server makes none.
        parsed.filters.push(Filter::AnyOf(Vec::new()));
        notes.push(
            "on-demand=true: this server does not generate documents on demand; it has stable documents only"
                .to_string(),
        );
    }
    // Links repeat the operation's own parameters.
    let mut canonical = vec![("patient".to_string(), op.patient.clone())];
    for (name, value) in [
        ("start", op.start.as_ref().map(|s| s.0.clone())),
        ("end", op.end.as_ref().map(|e| e.0.clone())),
        ("type", op.doc_type.clone()),
        ("on-demand", op.on_demand.map(|b| b.to_string())),
    ] {
        if let Some(v) = value {
            canonical.push((name.to_string(), v));
        }
    }
    parsed.canonical_query = canonical;
    answer(app, req, practice, &scope, &parsed, record, PATH, &notes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn inputs_are_checked() {
        let ok = read_inputs(pairs(&[
            ("patient", "Patient/p1"),
            ("start", "2020"),
            ("type", "http://loinc.org|34133-9"),
        ]))
        .unwrap();
        assert_eq!(ok.patient, "p1");
        assert_eq!(ok.start.map(|s| s.0), Some("2020".to_string()));
        for bad in [
            vec![("start", "2020")],
            vec![("patient", "a b")],
            vec![("patient", "p"), ("patient", "q")],
            vec![("patient", "p"), ("start", "yesterday")],
            vec![("patient", "p"), ("start", "2021"), ("end", "2020")],
            vec![("patient", "p"), ("on-demand", "maybe")],
            vec![("patient", "p"), ("type", "a|b,c|d")],
            vec![("patient", "p"), ("profile", "http://x")],
            vec![("patient", "p"), ("subject", "x")],
        ] {
            assert_eq!(read_inputs(pairs(&bad)).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn parameters_resource() {
        let body = serde_json::json!({"resourceType": "Parameters", "parameter": [
            {"name": "patient", "valueId": "p1"},
            {"name": "type", "valueCoding": {"system": "http://loinc.org", "code": "34133-9"}},
            {"name": "on-demand", "valueBoolean": false},
            {"name": "end", "valueDateTime": "2024-01-01T00:00:00Z"}
        ]});
        let got = parameters(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("patient", "p1"),
                ("type", "http://loinc.org|34133-9"),
                ("on-demand", "false"),
                ("end", "2024-01-01T00:00:00Z")
            ])
        );
        for bad in [
            "{",
            r#"{"resourceType": "Bundle"}"#,
            r#"{"resourceType": "Parameters", "parameter": {}}"#,
            r#"{"resourceType": "Parameters", "parameter": [{"valueId": "p"}]}"#,
            r#"{"resourceType": "Parameters", "parameter": [{"name": "patient"}]}"#,
            r#"{"resourceType": "Parameters", "parameter": [{"name": "on-demand", "valueBoolean": 3}]}"#,
        ] {
            assert_eq!(parameters(bad.as_bytes()).unwrap_err().status, 400, "{bad}");
        }
    }
}

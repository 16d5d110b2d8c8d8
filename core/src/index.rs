//! Index extraction: the search-index rows of a resource, computed at write
//! time from the registry's paths. The edge stores these rows in its index
//! tables; searches never look inside resource JSON.

use serde_json::Value;

use crate::datetime::{parse_range, MAX_MS, MIN_MS};
use crate::reference::{local_target, parse_reference};
use crate::registry::{ParamKind, Path, ResourceDef, Step};
use crate::text::normalize;

/// A token row: `system|code` (code lower-cased for case-insensitive match) and
/// the normalized display text for `:text`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    /// Parameter code.
    pub param: &'static str,
    /// The coding/identifier system, if any.
    pub system: Option<String>,
    /// The code or identifier value, lower-cased.
    pub code: Option<String>,
    /// Normalized text (CodeableConcept.text, Coding.display) for `:text`.
    pub text: Option<String>,
}

/// A string row: the normalized form for prefix/contains and the exact form.
#[derive(Debug, Clone, PartialEq)]
pub struct StringRow {
    /// Parameter code.
    pub param: &'static str,
    /// Case- and accent-folded value.
    pub norm: String,
    /// The value as written, for `:exact`.
    pub exact: String,
}

/// A date row: the instant range the value denotes.
#[derive(Debug, Clone, PartialEq)]
pub struct DateRow {
    /// Parameter code.
    pub param: &'static str,
    /// First millisecond.
    pub start: i64,
    /// Last millisecond.
    pub end: i64,
}

/// A reference row: the target's type and id when they can be read, and the
/// reference as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRow {
    /// Parameter code.
    pub param: &'static str,
    /// Target resource type.
    pub target_type: Option<String>,
    /// Target logical id.
    pub target_id: Option<String>,
    /// The reference string as written.
    pub url: String,
}

/// Every index row of one resource.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IndexRows {
    /// Token rows.
    pub tokens: Vec<TokenRow>,
    /// String rows.
    pub strings: Vec<StringRow>,
    /// Date rows.
    pub dates: Vec<DateRow>,
    /// Reference rows.
    pub references: Vec<ReferenceRow>,
    /// Ids of the patients in whose compartment the resource is.
    pub compartment: Vec<String>,
}

/// Evaluates a registry path on a resource: every node it reaches.
pub fn eval_path(resource: &Value, path: Path) -> Vec<&Value> {
    let mut nodes: Vec<&Value> = vec![resource];
    for step in path {
        let mut next = Vec::new();
        for node in nodes {
            match step {
                Step::Field(name) => push_flat(&mut next, node.get(*name)),
                Step::Choice(name, Some(ty)) => {
                    push_flat(&mut next, node.get(format!("{name}{ty}").as_str()))
                }
                Step::Choice(name, None) => {
                    if let Some(obj) = node.as_object() {
                        for (k, v) in obj {
                            let is_choice = k.len() > name.len()
                                && k.starts_with(name)
                                && k.as_bytes()[name.len()].is_ascii_uppercase();
                            if is_choice {
                                push_flat(&mut next, Some(v));
                            }
                        }
                    }
                }
                Step::ResolveIs(ty) => {
                    let matches = node
                        .get("reference")
                        .and_then(Value::as_str)
                        .and_then(|r| parse_reference(r).ok())
                        .is_some_and(|r| r.resource_type() == Some(*ty))
                        || node.get("type").and_then(Value::as_str) == Some(*ty);
                    if matches {
                        next.push(node);
                    }
                }
                Step::WhereUrl(url) => {
                    if node.get("url").and_then(Value::as_str) == Some(*url) {
                        next.push(node);
                    }
                }
            }
        }
        nodes = next;
    }
    nodes
}

fn push_flat<'a>(out: &mut Vec<&'a Value>, v: Option<&'a Value>) {
    match v {
        Some(Value::Array(items)) => out.extend(items.iter().filter(|i| !i.is_null())),
        Some(Value::Null) | None => {}
        Some(v) => out.push(v),
    }
}

/// Computes the index rows of `resource` (already validated to be of `def`'s
/// type). `local_base` is this server's FHIR base: absolute references to it
/// index like relative ones; references to other servers only by their URL.
pub fn extract(def: &ResourceDef, resource: &Value, local_base: Option<&str>) -> IndexRows {
    let mut rows = IndexRows::default();
    for param in def.params {
        if param.code == "_id" {
            continue; // served from the resources table
        }
        for path in param.paths {
            for node in eval_path(resource, path) {
                match param.kind {
                    ParamKind::Token => tokens(param.code, node, &mut rows.tokens),
                    ParamKind::String => strings(param.code, node, &mut rows.strings),
                    ParamKind::Date => dates(param.code, node, &mut rows.dates),
                    ParamKind::Reference => references(param.code, node, local_base, &mut rows.references),
                }
            }
        }
    }
    dedup(&mut rows.tokens);
    dedup(&mut rows.strings);
    dedup(&mut rows.dates);
    dedup(&mut rows.references);
    other_references(resource, local_base, &mut rows.references);
    if def.name == "Patient" {
        if let Some(id) = resource.get("id").and_then(Value::as_str) {
            rows.compartment.push(id.to_string());
        }
    }
    for path in def.compartment {
        for node in eval_path(resource, path) {
            if let Some((resource_type, id)) = node
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| parse_reference(r).ok())
                .and_then(|r| local_target(&r, local_base))
            {
                if resource_type == "Patient" && !rows.compartment.contains(&id) {
                    rows.compartment.push(id);
                }
            }
        }
    }
    rows
}

fn dedup<T: PartialEq>(v: &mut Vec<T>) {
    let mut i = 0;
    while i < v.len() {
        if v[..i].contains(&v[i]) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn tokens(param: &'static str, node: &Value, out: &mut Vec<TokenRow>) {
    let row = |system: Option<String>, code: Option<String>, text: Option<String>| TokenRow {
        param,
        system,
        code: code.map(|c| c.to_lowercase()),
        text: text.map(|t| normalize(&t)),
    };
    match node {
        Value::String(s) => out.push(row(None, Some(s.clone()), None)),
        Value::Bool(b) => out.push(row(None, Some(b.to_string()), None)),
        Value::Object(_) => {
            if let Some(codings) = node.get("coding").and_then(Value::as_array) {
                // CodeableConcept
                for c in codings {
                    out.push(row(
                        str_field(c, "system"),
                        str_field(c, "code"),
                        str_field(c, "display"),
                    ));
                }
                if let Some(t) = str_field(node, "text") {
                    out.push(row(None, None, Some(t)));
                }
            } else if node.get("code").is_some() || node.get("display").is_some() {
                // Coding
                out.push(row(
                    str_field(node, "system"),
                    str_field(node, "code"),
                    str_field(node, "display"),
                ));
            } else if let Some(value) = str_field(node, "value") {
                // Identifier or ContactPoint
                let text = node.get("type").and_then(|t| str_field(t, "text"));
                out.push(row(str_field(node, "system"), Some(value), text));
            } else if let Some(t) = str_field(node, "text") {
                out.push(row(None, None, Some(t)));
            }
        }
        _ => {}
    }
}

fn strings(param: &'static str, node: &Value, out: &mut Vec<StringRow>) {
    let mut push = |s: &str| {
        let norm = normalize(s);
        if !norm.is_empty() {
            out.push(StringRow {
                param,
                norm,
                exact: s.to_string(),
            });
        }
    };
    match node {
        Value::String(s) => push(s),
        Value::Object(obj) => {
            // HumanName and Address parts; any other complex type by its text.
            for key in [
                "family",
                "given",
                "prefix",
                "suffix",
                "text",
                "line",
                "city",
                "district",
                "state",
                "postalCode",
                "country",
            ] {
                match obj.get(key) {
                    Some(Value::String(s)) => push(s),
                    Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut push),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn dates(param: &'static str, node: &Value, out: &mut Vec<DateRow>) {
    match node {
        Value::String(s) => {
            if let Some(r) = parse_range(s) {
                out.push(DateRow {
                    param,
                    start: r.start,
                    end: r.end,
                });
            }
        }
        Value::Object(obj) => {
            // Period: open ends reach to the limits of time.
            let start = obj.get("start").and_then(Value::as_str).and_then(parse_range);
            let end = obj.get("end").and_then(Value::as_str).and_then(parse_range);
            if start.is_some() || end.is_some() {
                out.push(DateRow {
                    param,
                    start: start.map_or(MIN_MS, |r| r.start),
                    end: end.map_or(MAX_MS, |r| r.end),
                });
            } else if let Some(events) = obj.get("event").and_then(Value::as_array) {
                // Timing: each event
                for e in events.iter().filter_map(Value::as_str).filter_map(parse_range) {
                    out.push(DateRow {
                        param,
                        start: e.start,
                        end: e.end,
                    });
                }
            }
        }
        _ => {}
    }
}

/// The pseudo-parameter of reference rows that no search parameter covers:
/// every local reference to a resource outside the Patient compartment
/// (Practitioner, Organization, Location, Medication, Device, …), so that a
/// patient-level token can see what its records reference. Never searchable.
pub const OTHER_REFERENCE: &str = "_ref";

fn other_references(node: &Value, local_base: Option<&str>, out: &mut Vec<ReferenceRow>) {
    match node {
        Value::Object(map) => {
            // A Reference's `reference`, or an Attachment's `url` (an Attachment
            // is the one datatype with `url` and `contentType`): US Core
            // DocumentReference content may live in a Binary on this server,
            // which the patient must be able to read.
            let raw = match map.get("reference") {
                Some(Value::String(r)) => Some(r),
                _ => match (map.get("url"), map.get("contentType")) {
                    (Some(Value::String(u)), Some(Value::String(_))) => Some(u),
                    _ => None,
                },
            };
            if let Some(raw) = raw {
                let target = parse_reference(raw)
                    .ok()
                    .and_then(|r| local_target(&r, local_base));
                if let Some((t, id)) = target {
                    let outside = crate::registry::resource(&t).is_none_or(|d| !d.in_patient_compartment());
                    let known = out.iter().any(|r| {
                        r.target_type.as_deref() == Some(t.as_str())
                            && r.target_id.as_deref() == Some(id.as_str())
                    });
                    if outside && !known {
                        out.push(ReferenceRow {
                            param: OTHER_REFERENCE,
                            target_type: Some(t),
                            target_id: Some(id),
                            url: raw.clone(),
                        });
                    }
                }
            }
            for v in map.values() {
                other_references(v, local_base, out);
            }
        }
        Value::Array(items) => {
            for v in items {
                other_references(v, local_base, out);
            }
        }
        _ => {}
    }
}

fn references(param: &'static str, node: &Value, local_base: Option<&str>, out: &mut Vec<ReferenceRow>) {
    // A Reference object, or a canonical/uri string.
    let raw = match node {
        Value::String(s) => s.as_str(),
        Value::Object(_) => match node.get("reference").and_then(Value::as_str) {
            Some(r) => r,
            None => return,
        },
        _ => return,
    };
    let (target_type, target_id) = match parse_reference(raw)
        .ok()
        .and_then(|r| local_target(&r, local_base))
    {
        Some((t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    out.push(ReferenceRow {
        param,
        target_type,
        target_id,
        url: raw.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::resource;
    use serde_json::json;

    #[test]
    fn observation_rows() {
        let obs = json!({
            "resourceType": "Observation", "id": "o1", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}], "text": "HR"},
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Patient/p2"}, {"reference": "Practitioner/x"}],
            "effectiveDateTime": "2021-05-06"
        });
        let rows = extract(resource("Observation").unwrap(), &obs, None);
        assert!(rows.tokens.iter().any(|t| t.param == "code"
            && t.code.as_deref() == Some("8867-4")
            && t.text.as_deref() == Some("heart rate")));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "code" && t.code.is_none() && t.text.as_deref() == Some("hr")));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "status" && t.code.as_deref() == Some("final")));
        assert!(rows
            .references
            .iter()
            .any(|r| r.param == "patient" && r.target_id.as_deref() == Some("p1")));
        assert_eq!(rows.dates.len(), 1);
        assert_eq!(rows.compartment, vec!["p1".to_string(), "p2".to_string()]);
    }

    #[test]
    fn patient_names_and_period_dates() {
        let p = json!({"resourceType": "Patient", "id": "x", "name": [{"family": "Núñez", "given": ["Ana", "María"]}],
                       "birthDate": "1980", "gender": "female"});
        let rows = extract(resource("Patient").unwrap(), &p, None);
        let names: Vec<_> = rows
            .strings
            .iter()
            .filter(|s| s.param == "name")
            .map(|s| s.norm.as_str())
            .collect();
        assert_eq!(names, vec!["nunez", "ana", "maria"]);
        assert_eq!(rows.compartment, vec!["x".to_string()]);
        let e = json!({"resourceType": "Encounter", "id": "e", "period": {"start": "2020-01-01"}, "subject": {"reference": "Patient/x"}});
        let rows = extract(resource("Encounter").unwrap(), &e, None);
        assert_eq!(rows.dates[0].end, MAX_MS);
    }

    #[test]
    fn resolve_is_filters_by_type() {
        let o = json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Group/g"}});
        let rows = extract(resource("Observation").unwrap(), &o, None);
        assert!(!rows.references.iter().any(|r| r.param == "patient"));
        assert!(rows.compartment.is_empty());
    }

    /// The `_ref` rows (type, id) that patient tokens follow.
    fn other_references(rows: &IndexRows) -> Vec<(String, String)> {
        rows.references
            .iter()
            .filter(|r| r.param == OTHER_REFERENCE)
            .map(|r| (r.target_type.clone().unwrap(), r.target_id.clone().unwrap()))
            .collect()
    }

    #[test]
    fn attachment_urls_to_local_binaries_are_kept_for_patient_tokens() {
        let def = crate::registry::resource("DocumentReference").unwrap();
        let doc = json!({"resourceType": "DocumentReference", "id": "d", "subject": {"reference": "Patient/p"},
            "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/b1"}},
                        {"attachment": {"contentType": "text/plain", "url": "https://fhir.example/fhir/Binary/b2"}},
                        {"attachment": {"contentType": "application/pdf", "url": "https://elsewhere.example/x.pdf"}}],
            "extension": [{"url": "Binary/not-an-attachment", "valueString": "x"}]});
        let rows = extract(def, &doc, Some("https://fhir.example/fhir"));
        let other = other_references(&rows);
        assert_eq!(
            other,
            vec![
                ("Binary".to_string(), "b1".to_string()),
                ("Binary".to_string(), "b2".to_string())
            ]
        );
    }

    #[test]
    fn references_outside_the_compartment_are_kept_for_patient_tokens() {
        let def = crate::registry::resource("Observation").unwrap();
        let obs = serde_json::json!({"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p"},
            "performer": [{"reference": "Practitioner/doc"}, {"reference": "Patient/p"}],
            "hasMember": [{"reference": "Observation/o2"}], "device": {"reference": "#contained"},
            "extension": [{"valueReference": {"reference": "Location/loc"}}]});
        let rows = extract(def, &obs, None);
        let other = other_references(&rows);
        assert_eq!(
            other,
            vec![
                ("Practitioner".to_string(), "doc".to_string()),
                ("Location".to_string(), "loc".to_string())
            ]
        );
    }
}

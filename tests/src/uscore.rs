//! US Core 6.1.0 search requirements and search values derived from a
//! resource.
//!
//! The requirement table (`shared/reference/us-core-6.1.0-search-requirements.txt`)
//! lists, per profile, the SHALL combinations of search parameters. The
//! SearchParameter resources (`shared/reference/us-core-6.1.0/searchparameter-*.json`)
//! give each parameter's type and FHIRPath expression. [`plan`] evaluates those
//! expressions on a resource (a small evaluator that understands the forms the
//! US Core definitions use: paths, choice types, `as`, `where(resolve() is T)`,
//! `where(url = '…')`, `|`) and builds, for every SHALL combination, the
//! searches that must find the resource. This is independent of the server's
//! own registry: it reads only the published definitions.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

/// Canonical URL prefix of the US Core profiles.
pub const PROFILE_BASE: &str = "http://hl7.org/fhir/us/core/StructureDefinition/";

/// One profile's row in the requirement table.
#[derive(Debug, Clone)]
pub struct ProfileReq {
    /// Resource type, e.g. `Observation`.
    pub resource: String,
    /// Profile id, e.g. `us-core-blood-pressure`.
    pub profile: String,
    /// SHALL combinations, each a list of parameter codes.
    pub shall: Vec<Vec<String>>,
}

/// Parses the requirement table.
pub fn load_requirements(path: &Path) -> Vec<ProfileReq> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out: Vec<ProfileReq> = Vec::new();
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("### ") {
            let mut parts = head.split_whitespace();
            let resource = parts.next().unwrap_or_default().to_string();
            let profile = parts
                .next()
                .unwrap_or_default()
                .trim_matches(['(', ')'])
                .to_string();
            out.push(ProfileReq {
                resource,
                profile,
                shall: Vec::new(),
            });
        } else if let Some(combo) = line.trim().strip_prefix("- SHALL:") {
            if let Some(last) = out.last_mut() {
                last.shall
                    .push(combo.trim().split('+').map(str::to_string).collect());
            }
        }
    }
    out
}

/// A search parameter's type and expression.
#[derive(Debug, Clone)]
pub struct ParamDef {
    /// `token`, `string`, `date`, `reference`, …
    pub kind: String,
    /// FHIRPath expression.
    pub expression: String,
}

/// The US Core SearchParameters in `dir`, keyed by `(base type, code)`.
pub fn load_params(dir: &Path) -> BTreeMap<(String, String), ParamDef> {
    let mut out = BTreeMap::new();
    let list = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in list.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("searchparameter-") && name.ends_with(".json")) {
            continue;
        }
        let text = fs::read_to_string(entry.path()).unwrap_or_default();
        let Ok(sp) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let (Some(code), Some(kind), Some(expr)) = (
            sp["code"].as_str(),
            sp["type"].as_str(),
            sp["expression"].as_str(),
        ) else {
            continue;
        };
        for base in sp["base"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            out.insert(
                (base.to_string(), code.to_string()),
                ParamDef {
                    kind: kind.to_string(),
                    expression: expr.to_string(),
                },
            );
        }
    }
    out
}

/// One step of a parsed expression.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// An element name (a choice element when the JSON has `name` + Type).
    Field(String),
    /// `as(T)` / `as T`: only the choice of type `T`.
    As(String),
    /// `where(resolve() is T)`: references to `T`.
    ResolveIs(String),
    /// `where(url = '…')`.
    Url(String),
}

/// Splits `s` on `sep` where not inside parentheses or quotes.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quoted {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Parses one alternative of an expression into its steps (after the type name).
fn parse_path(alt: &str) -> Vec<Step> {
    let mut s = alt.trim();
    while s.starts_with('(') && s.ends_with(')') {
        s = s[1..s.len() - 1].trim();
    }
    let (path, as_type) = match s.split_once(" as ") {
        Some((p, t)) => (p.trim(), Some(t.trim().to_string())),
        None => (s, None),
    };
    let mut steps = Vec::new();
    for seg in split_top(path, '.').into_iter().skip(1) {
        let seg = seg.trim();
        if let Some(t) = seg.strip_prefix("as(").and_then(|r| r.strip_suffix(')')) {
            steps.push(Step::As(t.trim().to_string()));
        } else if let Some(inner) = seg.strip_prefix("where(").and_then(|r| r.strip_suffix(')')) {
            if let Some(t) = inner.trim().strip_prefix("resolve() is ") {
                steps.push(Step::ResolveIs(t.trim().to_string()));
            } else if let Some(u) = inner
                .split_once('=')
                .map(|(_, u)| u.trim().trim_matches('\'').to_string())
            {
                steps.push(Step::Url(u));
            }
        } else {
            steps.push(Step::Field(seg.to_string()));
        }
    }
    if let Some(t) = as_type {
        steps.push(Step::As(t));
    }
    steps
}

fn capitalized(t: &str) -> String {
    let mut c = t.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn push_flat(out: &mut Vec<Value>, v: &Value) {
    match v {
        Value::Array(items) => out.extend(items.iter().cloned()),
        other => out.push(other.clone()),
    }
}

/// The type named by a reference string (`Patient/1`, `http://x/fhir/Patient/1`).
pub fn reference_type(reference: &str) -> Option<&str> {
    let path = reference.split(['?', '#']).next()?;
    let segs: Vec<&str> = path.split('/').collect();
    let segs = if segs.len() >= 4 && segs[segs.len() - 2] == "_history" {
        &segs[..segs.len() - 2]
    } else {
        &segs[..]
    };
    (segs.len() >= 2)
        .then(|| segs[segs.len() - 2])
        .filter(|t| t.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// Evaluates an expression on `resource`: the values it selects, in order.
pub fn evaluate(expression: &str, resource: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for alt in split_top(expression, '|') {
        let steps = parse_path(&alt);
        let mut nodes = vec![resource.clone()];
        let mut i = 0;
        while i < steps.len() {
            let mut next = Vec::new();
            match &steps[i] {
                Step::Field(name) => {
                    let as_type = match steps.get(i + 1) {
                        Some(Step::As(t)) => {
                            i += 1;
                            Some(t.clone())
                        }
                        _ => None,
                    };
                    for n in &nodes {
                        let Some(obj) = n.as_object() else { continue };
                        if let Some(t) = &as_type {
                            if let Some(v) = obj.get(&format!("{name}{}", capitalized(t))) {
                                push_flat(&mut next, v);
                            }
                        } else if let Some(v) = obj.get(name.as_str()) {
                            push_flat(&mut next, v);
                        } else {
                            // A choice element: name + TypeName.
                            for (k, v) in obj {
                                if k.len() > name.len()
                                    && k.starts_with(name.as_str())
                                    && k[name.len()..].starts_with(|c: char| c.is_ascii_uppercase())
                                {
                                    push_flat(&mut next, v);
                                }
                            }
                        }
                    }
                }
                Step::As(_) => next = nodes.clone(),
                Step::ResolveIs(t) => {
                    next = nodes
                        .iter()
                        .filter(|n| n["reference"].as_str().and_then(reference_type) == Some(t.as_str()))
                        .cloned()
                        .collect();
                }
                Step::Url(u) => {
                    next = nodes
                        .iter()
                        .filter(|n| n["url"].as_str() == Some(u.as_str()))
                        .cloned()
                        .collect();
                }
            }
            nodes = next;
            i += 1;
        }
        out.extend(nodes);
    }
    out
}

/// `system|code`, or `code` without a system.
fn system_code(system: Option<&str>, code: &str) -> String {
    match system {
        Some(s) => format!("{s}|{code}"),
        None => code.to_string(),
    }
}

/// A token search value for one node (code, Coding, CodeableConcept, Identifier, boolean).
fn token_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => {
            if let Some(codings) = o.get("coding").and_then(Value::as_array) {
                return codings.iter().find_map(|c| {
                    c["code"]
                        .as_str()
                        .map(|code| system_code(c["system"].as_str(), code))
                });
            }
            if let Some(code) = o.get("code").and_then(Value::as_str) {
                return Some(system_code(o.get("system").and_then(Value::as_str), code));
            }
            o.get("value")
                .and_then(Value::as_str)
                .map(|val| system_code(o.get("system").and_then(Value::as_str), val))
        }
        _ => None,
    }
}

/// A string search value for one node: a prefix of the string, of a
/// HumanName's family (else given, else text), or of an Address part.
fn string_value(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let first = |k: &str| match o.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
                _ => None,
            };
            [
                "family",
                "given",
                "city",
                "line",
                "state",
                "postalCode",
                "country",
                "district",
                "text",
            ]
            .iter()
            .find_map(|k| first(k))?
        }
        _ => return None,
    };
    let prefix: String = s.chars().take(3).collect();
    (!prefix.trim().is_empty()).then_some(prefix)
}

/// Date search values for one node: `eq`, `ge` and `le` on a point value;
/// `ge start` and `le end` on a Period.
fn date_values(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![format!("eq{s}"), format!("ge{s}"), format!("le{s}")],
        Value::Object(o) => {
            let mut out = Vec::new();
            if let Some(s) = o.get("start").and_then(Value::as_str) {
                out.push(format!("ge{s}"));
            }
            if let Some(e) = o.get("end").and_then(Value::as_str) {
                out.push(format!("le{e}"));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The search values of parameter `code` for `resource`: several variants
/// for dates, one value otherwise; empty when the resource has no value.
pub fn values_for(defs: &BTreeMap<(String, String), ParamDef>, resource: &Value, code: &str) -> Vec<String> {
    let rtype = resource["resourceType"].as_str().unwrap_or_default();
    if code == "_id" {
        return resource["id"]
            .as_str()
            .map(|s| vec![s.to_string()])
            .unwrap_or_default();
    }
    let Some(def) = defs.get(&(rtype.to_string(), code.to_string())) else {
        return Vec::new();
    };
    let nodes = evaluate(&def.expression, resource);
    match def.kind.as_str() {
        "token" => nodes.iter().find_map(token_value).into_iter().collect(),
        "string" => nodes.iter().find_map(string_value).into_iter().collect(),
        "reference" => nodes
            .iter()
            .filter_map(|n| n["reference"].as_str())
            .find(|r| !r.starts_with('#') && !r.starts_with("urn:"))
            .map(|r| vec![r.to_string()])
            .unwrap_or_default(),
        "date" => nodes
            .iter()
            .map(date_values)
            .find(|v| !v.is_empty())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A search that must find a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Planned {
    /// The searched type.
    pub resource_type: String,
    /// The query pairs.
    pub params: Vec<(String, String)>,
    /// The id that must be among the matches.
    pub expect_id: String,
    /// `profile: a+b`, for messages.
    pub why: String,
}

/// A SHALL combination that could not be run for a resource.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// `Type/id`.
    pub resource: String,
    /// `profile: a+b`.
    pub combination: String,
    /// The parameter the resource has no value for.
    pub missing: String,
}

/// Profile ids (without version) of `resource`'s `meta.profile` that are US Core profiles.
pub fn us_core_profiles(resource: &Value) -> Vec<String> {
    resource["meta"]["profile"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|p| p.split('|').next()?.strip_prefix(PROFILE_BASE))
        .map(str::to_string)
        .collect()
}

/// The searches every SHALL combination of `resource`'s US Core profiles
/// requires, with values taken from the resource, and the combinations
/// skipped because the resource lacks a value for one of their parameters.
pub fn plan(
    resource: &Value,
    reqs: &[ProfileReq],
    defs: &BTreeMap<(String, String), ParamDef>,
) -> (Vec<Planned>, Vec<Skipped>) {
    let rtype = resource["resourceType"].as_str().unwrap_or_default();
    let id = resource["id"].as_str().unwrap_or_default();
    let (mut planned, mut skipped) = (Vec::new(), Vec::new());
    for profile in us_core_profiles(resource) {
        for req in reqs
            .iter()
            .filter(|r| r.profile == profile && r.resource == rtype)
        {
            for combo in &req.shall {
                let why = format!("{profile}: {}", combo.join("+"));
                // Each parameter's variants; the searches are their product.
                let mut searches: Vec<Vec<(String, String)>> = vec![Vec::new()];
                let mut missing = None;
                for code in combo {
                    let values = values_for(defs, resource, code);
                    if values.is_empty() {
                        missing = Some(code.clone());
                        break;
                    }
                    searches = searches
                        .iter()
                        .flat_map(|s| {
                            values.iter().map(move |v| {
                                let mut s = s.clone();
                                s.push((code.clone(), v.clone()));
                                s
                            })
                        })
                        .collect();
                }
                match missing {
                    Some(m) => skipped.push(Skipped {
                        resource: format!("{rtype}/{id}"),
                        combination: why,
                        missing: m,
                    }),
                    None => planned.extend(searches.into_iter().map(|params| Planned {
                        resource_type: rtype.to_string(),
                        params,
                        expect_id: id.to_string(),
                        why: why.clone(),
                    })),
                }
            }
        }
    }
    planned.sort();
    planned.dedup_by(|a, b| {
        a.resource_type == b.resource_type && a.params == b.params && a.expect_id == b.expect_id
    });
    (planned, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_the_us_core_forms() {
        let obs = json!({
            "resourceType": "Observation", "id": "o",
            "subject": {"reference": "Patient/p"},
            "effectivePeriod": {"start": "2020-01-01"},
            "category": [{"coding": [{"system": "s", "code": "c"}]}],
        });
        assert_eq!(
            evaluate("Observation.subject.where(resolve() is Patient)", &obs).len(),
            1
        );
        assert_eq!(
            evaluate("Observation.subject.where(resolve() is Group)", &obs).len(),
            0
        );
        assert_eq!(
            evaluate("Observation.effective", &obs),
            vec![json!({"start": "2020-01-01"})]
        );
        let cond = json!({"resourceType": "Condition", "onsetDateTime": "2020", "extension": [
            {"url": "http://x/assertedDate", "valueDateTime": "2019"}]});
        assert_eq!(
            evaluate("Condition.onset.as(dateTime)|Condition.onset.as(Period)", &cond),
            vec![json!("2020")]
        );
        assert_eq!(
            evaluate(
                "Condition.extension.where(url = 'http://x/assertedDate').valueDateTime",
                &cond
            ),
            vec![json!("2019")]
        );
        let goal = json!({"resourceType": "Goal", "target": [{"dueDate": "2021-01-01"}]});
        assert_eq!(
            evaluate("(Goal.target.due as date)", &goal),
            vec![json!("2021-01-01")]
        );
        assert_eq!(token_value(&obs["category"][0]), Some("s|c".into()));
        assert_eq!(
            string_value(&json!({"family": "Shaw", "given": ["Amy"]})),
            Some("Sha".into())
        );
        assert_eq!(date_values(&obs["effectivePeriod"]), vec!["ge2020-01-01"]);
        assert_eq!(
            reference_type("https://x.org/fhir/Patient/1/_history/2"),
            Some("Patient")
        );
    }
}

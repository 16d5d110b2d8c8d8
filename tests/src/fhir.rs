//! FHIR JSON helpers: Bundle entries and links, paging a search to the end
//! (GET or `POST _search`), OperationOutcome checks, and comparison that
//! ignores server-managed metadata.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};

use crate::http::{encode_pairs, excerpt, Client, Req, Resp};
use crate::{check, check_eq};

/// Removes `meta.lastUpdated` and `meta.versionId`, and `meta` itself when
/// nothing else is left in it: the form in which a stored resource is
/// compared with the file it was imported from.
pub fn without_server_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(obj) = v.as_object_mut() {
        let empty = match obj.get_mut("meta").and_then(Value::as_object_mut) {
            Some(meta) => {
                meta.remove("lastUpdated");
                meta.remove("versionId");
                meta.is_empty()
            }
            None => false,
        };
        if empty {
            obj.remove("meta");
        }
    }
    v
}

/// The first JSON path at which `a` and `b` differ (for messages), if any.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_difference(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: {u:?} vs {v:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!(
            "{path}: {} vs {}",
            excerpt(&a.to_string()),
            excerpt(&b.to_string())
        )),
    }
}

/// The `entry` array of a Bundle (empty when absent).
pub fn entries(bundle: &Value) -> Vec<Value> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The URL of the link with `relation`, if present.
pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle
        .get("link")
        .and_then(Value::as_array)?
        .iter()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some(relation))
        .and_then(|l| l.get("url").and_then(Value::as_str))
        .map(str::to_string)
}

/// `resource.resourceType` and `resource.id` of an entry.
pub fn entry_key(entry: &Value) -> (String, String) {
    let r = &entry["resource"];
    (
        r.get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        r.get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    )
}

/// `search.mode` of an entry.
pub fn entry_mode(entry: &Value) -> &str {
    entry
        .pointer("/search/mode")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Asserts that `resp` is an error with `status` whose body is an
/// OperationOutcome with at least one issue; returns the outcome.
pub fn expect_outcome(resp: &Resp, status: u16) -> Value {
    check_eq!(
        resp.status,
        status,
        "{} answered {}: {}",
        resp.request,
        resp.status,
        excerpt(&resp.body)
    );
    let oo = resp.json();
    check_eq!(
        oo["resourceType"],
        "OperationOutcome",
        "{}: error body is not an OperationOutcome",
        resp.request
    );
    let issues = oo["issue"].as_array().cloned().unwrap_or_default();
    check!(
        !issues.is_empty(),
        "{}: OperationOutcome without issues",
        resp.request
    );
    for i in &issues {
        check!(
            i["severity"].is_string() && i["code"].is_string(),
            "{}: issue without severity/code: {i}",
            resp.request
        );
    }
    check!(
        resp.header("content-type").is_some_and(|c| c.contains("json")),
        "{}: content-type {:?}",
        resp.request,
        resp.header("content-type")
    );
    for problem in crate::schema::fhir_errors(&oo) {
        check!(
            false,
            "{}: the OperationOutcome against the FHIR R4 schema: {problem}",
            resp.request
        );
    }
    oo
}

/// What the server wrote itself of a Bundle, for [`crate::schema`]: the
/// Bundle with its entries' stored resources left out (they are the
/// importer's, as imported), its own OperationOutcomes kept.
pub fn bundle_envelope(bundle: &Value) -> Value {
    let mut b = bundle.clone();
    // (`get_mut`: indexing would add `"entry": null` to a Bundle without entries.)
    for e in b
        .get_mut("entry")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(o) = e.as_object_mut() {
            if o.get("resource")
                .is_some_and(|r| r["resourceType"] != "OperationOutcome")
            {
                o.remove("resource");
            }
        }
    }
    b
}

/// Every page of a search, and what its entries were.
#[derive(Debug, Default, Clone)]
pub struct SearchResult {
    /// The Bundles, first page first.
    pub pages: Vec<Value>,
    /// `Type/id` of the `match` entries in order.
    pub matches: Vec<String>,
    /// `Type/id` of the `include` entries in order.
    pub includes: Vec<String>,
    /// Entries with `search.mode` `outcome`.
    pub outcomes: Vec<Value>,
    /// The `match` resources in order.
    pub resources: Vec<Value>,
}

impl SearchResult {
    /// The ids of the matches of type `rtype`, in order.
    pub fn ids(&self) -> Vec<String> {
        self.matches
            .iter()
            .map(|k| k.split_once('/').map_or(k.clone(), |(_, id)| id.to_string()))
            .collect()
    }

    /// The match ids as a set.
    pub fn id_set(&self) -> BTreeSet<String> {
        self.ids().into_iter().collect()
    }
}

/// How a search is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET [base]/[type]?params`.
    Get,
    /// `POST [base]/[type]/_search` with a form body.
    Post,
}

/// Runs a search in `practice` (`None`: no practice header, the default
/// practice), follows every `next` link, and checks each page is a
/// `searchset` Bundle whose entries have a `fullUrl` and a `search.mode`.
/// Panics on a non-200 page or after 2000 pages.
pub fn search_all(
    client: &Client,
    practice: Option<&str>,
    rtype: &str,
    params: &[(String, String)],
    method: Method,
) -> SearchResult {
    search_all_with(client, practice, rtype, params, method, &[])
}

/// [`search_all`] with extra request headers on every page.
pub fn search_all_with(
    client: &Client,
    practice: Option<&str>,
    rtype: &str,
    params: &[(String, String)],
    method: Method,
    headers: &[(&str, &str)],
) -> SearchResult {
    fn decorate<'a>(mut r: Req<'a>, practice: Option<&str>, headers: &[(&str, &str)]) -> Req<'a> {
        if let Some(p) = practice {
            r = r.practice(p);
        }
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r
    }
    let first = match method {
        Method::Get => decorate(
            client.get(&format!("/fhir/{rtype}")).query(params),
            practice,
            headers,
        )
        .send(),
        Method::Post => {
            let r = client.post(
                &format!("/fhir/{rtype}/_search"),
                "application/x-www-form-urlencoded",
                encode_pairs(params),
            );
            decorate(r, practice, headers).send()
        }
    };
    let mut result = SearchResult::default();
    let mut resp = first;
    let mut seen_next = HashSet::new();
    loop {
        let bundle = resp.clone().expect_status(200).json();
        check_eq!(bundle["resourceType"], "Bundle", "{}: not a Bundle", resp.request);
        check_eq!(bundle["type"], "searchset", "{}: not a searchset", resp.request);
        for problem in crate::schema::fhir_errors(&bundle_envelope(&bundle)) {
            check!(
                false,
                "{}: the Bundle against the FHIR R4 schema: {problem}",
                resp.request
            );
        }
        for e in entries(&bundle) {
            let mode = entry_mode(&e).to_string();
            match mode.as_str() {
                "match" | "include" => {
                    let (t, id) = entry_key(&e);
                    let full = e.get("fullUrl").and_then(Value::as_str).unwrap_or_default();
                    check!(
                        full.ends_with(&format!("/{t}/{id}")) && full.starts_with("http"),
                        "{}: entry fullUrl {full:?} does not name {t}/{id}",
                        resp.request
                    );
                    if mode == "match" {
                        check_eq!(t, rtype, "{}: a match entry of another type", resp.request);
                        result.matches.push(format!("{t}/{id}"));
                        result.resources.push(e["resource"].clone());
                    } else {
                        result.includes.push(format!("{t}/{id}"));
                    }
                }
                "outcome" => result.outcomes.push(e),
                other => panic!("{}: entry with search.mode {other:?}: {e}", resp.request),
            }
        }
        let next = link(&bundle, "next");
        result.pages.push(bundle);
        let Some(next) = next else { break };
        check!(
            seen_next.insert(next.clone()),
            "{}: next link repeats: {next}",
            resp.request
        );
        check!(
            result.pages.len() < 2000,
            "{}: more than 2000 pages",
            resp.request
        );
        resp = decorate(client.get(&next), practice, headers).send();
    }
    result
}

/// Owned query pairs from borrowed ones.
pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A transaction entry that PUTs `resource` at `Type/id`.
pub fn put_entry(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    json!({"request": {"method": "PUT", "url": url}, "resource": resource})
}

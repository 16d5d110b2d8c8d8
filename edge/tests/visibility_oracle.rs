//! The visibility oracle: random FHIR requests from random callers, each
//! answer checked against what the caller may see, computed here straight
//! from the stored resources and the scope rules, never through the search
//! compiler's visibility rule.
//!
//! How: generated data for two practices (flare-synth) plus records built to
//! sit on the rule's edges (an Observation whose performer is another patient,
//! a Patient linked to another, a Provenance targeting two patients' records,
//! an Observation with no subject, a Practitioner only one patient's record
//! references, a one-member Group). Callers are tokens minted into the store:
//! patient tokens of several patients, v2 query-restricted and unticked-type
//! tokens, a read-only token, `user/` tokens of a practitioner and of a patient
//! user, an EHR-launch token, `system/` tokens, in both practices.
//!
//! For each caller the oracle computes the set of resources it may search
//! ([`Oracle::visible`]: practice, patient compartment, query restrictions,
//! granted types) and imports exactly those, in the same order, into an
//! *oracle app* whose administrator searches without any visibility rule. A
//! request sent by the caller to the real app must then answer what the same
//! request answers in the oracle app: the same matches in the same order
//! (across every page), the same included resources, the same counts and
//! totals; 403 when it names a type the caller may not search (the searched
//! type, a chain target); and every resource returned must be one the oracle
//! says the caller may see. Reads of every id of both practices are checked
//! the same way (200, 403 or 404); so are `Patient/[id]/$everything` of
//! several patients and `DocumentReference/$docref` (the oracle's own
//! account of a patient's records and documents, followed to the last
//! page: nothing hidden, missing or doubled); and every request's
//! access-history rows must name exactly the patients whose records the
//! answer carried.
//!
//! `FLARE_ORACLE_SEED` picks the seed (default: fixed), `FLARE_ORACLE_CASES`
//! the number of searches (default 3000). The test prints both; a failure
//! prints the smallest request (parameters removed one at a time) that still
//! disagrees with the oracle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use common::{admin, call, import, HttpRequest, TestApp, NOW};
use flare_core::index::extract;
use flare_core::registry::{self, ParamKind, ResourceDef};
use flare_core::search::{self, Filter, ParseOptions};
use flare_core::smart::access::{type_access, Interaction};
use flare_core::smart::scope::{Context, Scope};
use flare_edge::store::{Database, Statement};

const PASSWORD: &str = "Flare-oracle-2026";
const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
const VITALS: &str = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs";
const PROBLEMS: &str = "http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item";

/// One stored resource, as the oracle sees it.
#[derive(Debug, Clone)]
struct Stored {
    practice: &'static str,
    rtype: String,
    id: String,
    json: Value,
    /// Patients in whose compartment it is.
    compartment: BTreeSet<String>,
    /// Every local reference in it, found by walking the JSON.
    references: BTreeSet<(String, String)>,
}

/// A caller: a token and what it was granted.
#[derive(Debug, Clone)]
struct Caller {
    name: &'static str,
    practice: &'static str,
    token: String,
    scopes: Vec<Scope>,
    patient: Option<String>,
    fhir_user: Option<String>,
}

/// Every local `Type/id` reference in a resource (and every Attachment `url`
/// naming one), found by walking the whole JSON.
fn walk_references(v: &Value, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(map) => {
            let raw = match (map.get("reference"), map.get("url"), map.get("contentType")) {
                (Some(Value::String(r)), _, _) => Some(r.as_str()),
                (_, Some(Value::String(u)), Some(Value::String(_))) => Some(u.as_str()),
                _ => None,
            };
            if let Some(raw) = raw {
                let raw = raw
                    .strip_prefix(&format!("{}/fhir/", common::BASE))
                    .unwrap_or(raw);
                let parts: Vec<&str> = raw.split('/').collect();
                if let [t, id] = parts[..] {
                    if registry::is_r4_type(t) && !id.is_empty() {
                        out.insert((t.to_string(), id.to_string()));
                    }
                }
            }
            map.values().for_each(|x| walk_references(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| walk_references(x, out)),
        _ => {}
    }
}

/// Whether a resource satisfies one scope query, judged from its JSON. The
/// oracle understands the queries its callers carry (`category=system|code`)
/// and refuses any other, so a new kind of caller cannot pass unchecked.
fn satisfies(r: &Stored, query: &[(String, String)]) -> bool {
    query.iter().all(|(param, value)| {
        assert_eq!(
            param, "category",
            "the oracle does not evaluate scope query {param}={value}"
        );
        let (system, code) = value.split_once('|').expect("category=system|code");
        r.json["category"].as_array().into_iter().flatten().any(|cc| {
            cc["coding"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["system"].as_str() == Some(system) && c["code"].as_str() == Some(code))
        })
    })
}

/// What a caller may see of a type, as the scope rules say.
struct Rule {
    patient: Option<String>,
    queries: Vec<Vec<(String, String)>>,
}

struct Oracle {
    all: Vec<Stored>,
}

impl Oracle {
    fn find(&self, practice: &str, rtype: &str, id: &str) -> Option<&Stored> {
        self.all
            .iter()
            .find(|r| r.practice == practice && r.rtype == rtype && r.id == id)
    }

    /// The caller's rule for `rtype`, `None` when its scopes do not grant
    /// `interaction` on it (or the type is a multi-patient one in a patient
    /// context).
    fn rule(&self, c: &Caller, rtype: &str, interaction: Interaction) -> Option<Rule> {
        let granted = type_access(&c.scopes, rtype, interaction)?;
        let patient = match granted.context {
            Context::Patient => Some(c.patient.clone()?),
            Context::User => c
                .fhir_user
                .as_deref()
                .and_then(|f| f.strip_prefix("Patient/"))
                .map(str::to_string),
            Context::System => None,
        };
        if patient.is_some() && rtype == "Group" {
            return None;
        }
        Some(Rule {
            patient,
            queries: granted.queries,
        })
    }

    /// Whether `r` is one patient's record (in `p`'s compartment and no one else's).
    fn alone(r: &Stored, p: &str) -> bool {
        r.compartment.contains(p) && r.compartment.len() == 1
    }

    /// Whether the caller sees `r` under `rule`, ignoring query restrictions.
    fn in_context(&self, r: &Stored, rule: &Rule) -> bool {
        let Some(p) = &rule.patient else { return true };
        let in_compartment_type = registry::resource(&r.rtype).is_some_and(|d| d.in_patient_compartment());
        match r.rtype.as_str() {
            "Patient" => r.id == *p,
            "Provenance" => {
                let targets: Vec<&Stored> = r.json["target"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["reference"].as_str())
                    .filter_map(|s| s.split_once('/'))
                    .filter_map(|(t, id)| self.find(r.practice, t, id))
                    .collect();
                (r.compartment.contains(p) || targets.iter().any(|t| t.compartment.contains(p)))
                    && r.compartment.iter().all(|x| x == p)
                    && targets.iter().all(|t| t.compartment.iter().all(|x| x == p))
            }
            _ if in_compartment_type => Oracle::alone(r, p),
            _ => self.all.iter().any(|x| {
                x.practice == r.practice
                    && Oracle::alone(x, p)
                    && x.references.contains(&(r.rtype.clone(), r.id.clone()))
            }),
        }
    }

    fn visible(&self, c: &Caller, r: &Stored, interaction: Interaction) -> bool {
        if r.practice != c.practice {
            return false;
        }
        let Some(rule) = self.rule(c, &r.rtype, interaction) else {
            return false;
        };
        self.in_context(r, &rule) && (rule.queries.is_empty() || rule.queries.iter().any(|q| satisfies(r, q)))
    }

    /// The status a read of `rtype/id` must get, and whether it returns the resource.
    fn read_status(&self, c: &Caller, rtype: &str, id: &str) -> u16 {
        let stored = self.find(c.practice, rtype, id);
        if c.fhir_user.as_deref() == Some(&format!("{rtype}/{id}")) {
            return if stored.is_some() { 200 } else { 404 };
        }
        let Some(rule) = self.rule(c, rtype, Interaction::Read) else {
            return 403;
        };
        let Some(r) = stored else { return 404 };
        if !self.in_context(r, &rule) {
            return 404;
        }
        if rule.queries.is_empty() || rule.queries.iter().any(|q| satisfies(r, q)) {
            200
        } else {
            403
        }
    }
}

/// Whose `Patient/[id]/$everything` every caller asks for: patients of
/// both practices, a Patient linked to another, an unknown id.
const EVERYTHING_OF: [&str; 6] = [
    "northside-pat-1",
    "northside-pat-2",
    "northside-pat-3",
    "edge-linked",
    "lakeshore-pat-1",
    "no-such-patient",
];

impl Oracle {
    /// What `Patient/{x}/$everything` answers `c`: the resources of every
    /// searchable type its scopes grant (Group never) that are `x`'s by the
    /// patient rule and pass its query restrictions; 403 when its scopes
    /// grant no type (whoever `x` is); 404 when `x` is not a Patient of its
    /// practice or it sees another patient's records only.
    fn everything(&self, c: &Caller, x: &str) -> Result<BTreeSet<(String, String)>, u16> {
        let grants_any = registry::RESOURCES
            .iter()
            .filter(|d| d.name != "Group")
            .any(|d| self.rule(c, d.name, Interaction::Search).is_some());
        if !grants_any {
            return Err(403);
        }
        if self.find(c.practice, "Patient", x).is_none() {
            return Err(404);
        }
        let mut granted = Vec::new();
        for def in registry::RESOURCES.iter().filter(|d| d.name != "Group") {
            if let Some(rule) = self.rule(c, def.name, Interaction::Search) {
                if rule.patient.as_deref().is_some_and(|p| p != x) {
                    return Err(404);
                }
                granted.push((def.name, rule.queries));
            }
        }
        Ok(self
            .all
            .iter()
            .filter(|r| r.practice == c.practice)
            .filter_map(|r| {
                let (_, queries) = granted.iter().find(|(t, _)| *t == r.rtype)?;
                let rule = Rule {
                    patient: Some(x.to_string()),
                    queries: queries.clone(),
                };
                let shown = self.in_context(r, &rule)
                    && (rule.queries.is_empty() || rule.queries.iter().any(|q| satisfies(r, q)));
                shown.then(|| (r.rtype.clone(), r.id.clone()))
            })
            .collect())
    }

    /// What `DocumentReference/$docref?patient={x}` with these inputs
    /// answers `c`: 403 when it may not search DocumentReference; else the
    /// visible documents whose subject is `x`, of `doc_type`, current when
    /// no date is given, else whose care dates (the context period, or the
    /// date when there is none) overlap [start, end].
    fn docref(
        &self,
        c: &Caller,
        x: &str,
        start: Option<&str>,
        end: Option<&str>,
        doc_type: Option<&str>,
    ) -> Result<BTreeSet<(String, String)>, u16> {
        use flare_core::datetime::{parse_range, MAX_MS, MIN_MS};
        self.rule(c, "DocumentReference", Interaction::Search)
            .ok_or(403u16)?;
        let from = start.map_or(MIN_MS, |v| parse_range(v).unwrap().start);
        let to = end.map_or(MAX_MS, |v| parse_range(v).unwrap().end);
        let care = |r: &Stored| -> Option<(i64, i64)> {
            let period = &r.json["context"]["period"];
            let bound = |k: &str| period[k].as_str().and_then(parse_range);
            match (bound("start"), bound("end")) {
                (None, None) => {
                    let d = r.json["date"].as_str().and_then(parse_range)?;
                    Some((d.start, d.end))
                }
                (s, e) => Some((s.map_or(MIN_MS, |s| s.start), e.map_or(MAX_MS, |e| e.end))),
            }
        };
        let typed = |r: &Stored| {
            doc_type.is_none_or(|t| {
                r.json["type"]["coding"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|cd| {
                        let code = cd["code"].as_str().unwrap_or_default();
                        match t.split_once('|') {
                            Some((system, want)) => cd["system"].as_str() == Some(system) && code == want,
                            None => code == t,
                        }
                    })
            })
        };
        Ok(self
            .all
            .iter()
            .filter(|r| r.rtype == "DocumentReference" && self.visible(c, r, Interaction::Search))
            .filter(|r| r.json["subject"]["reference"] == format!("Patient/{x}") && typed(r))
            .filter(|r| match (start, end) {
                (None, None) => r.json["status"] == "current",
                _ => care(r).is_some_and(|(s, e)| e >= from && s <= to),
            })
            .map(|r| (r.rtype.clone(), r.id.clone()))
            .collect())
    }
}

/// Patients named by access-history rows (`None`: no patient).
type Patients = BTreeSet<Option<String>>;

/// One request's answer, followed to its last page.
#[derive(Debug, Default, PartialEq)]
struct Answer {
    status: u16,
    matches: Vec<(String, String)>,
    included: BTreeSet<(String, String)>,
    total: Option<i64>,
    /// Per page: the access-history patients written, and those expected.
    audits: Vec<(Patients, Patients)>,
}

fn resource_key(r: &Value) -> (String, String) {
    (
        r["resourceType"].as_str().unwrap_or_default().to_string(),
        r["id"].as_str().unwrap_or_default().to_string(),
    )
}

fn query_string(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

struct World {
    app: TestApp,
    oracle: Oracle,
    callers: Vec<Caller>,
    last_audit: std::cell::Cell<i64>,
}

impl World {
    /// Access-history patients written since the last call.
    fn new_audits(&self) -> BTreeSet<Option<String>> {
        let rows = pollster::block_on(self.app.auth_db().query(Statement::new(
            "SELECT event_id, patient FROM audit_events WHERE event_id > ?1 AND action IN ('read','search') ORDER BY event_id",
            vec![self.last_audit.get().into()],
        )))
        .unwrap();
        let mut out = BTreeSet::new();
        for r in rows {
            self.last_audit.set(r[0].as_i64().unwrap());
            out.insert(r[1].as_str().map(str::to_string));
        }
        out
    }

    /// Whose records a set of returned resources carries (the token's
    /// patient when none).
    fn expected_audit(&self, c: &Caller, returned: &[(String, String)]) -> BTreeSet<Option<String>> {
        let mut out: BTreeSet<Option<String>> = returned
            .iter()
            .filter_map(|(t, id)| self.oracle.find(c.practice, t, id))
            .flat_map(|r| r.compartment.iter().cloned().map(Some))
            .collect();
        if out.is_empty() {
            out.insert(c.patient.clone());
        }
        out
    }

    /// Sends a search as `caller` (or, with `None`, as the oracle app's
    /// administrator to `app`) and follows every `next` link.
    fn search(
        &self,
        app: &TestApp,
        caller: Option<&Caller>,
        practice: &str,
        rtype: &str,
        pairs: &[(String, String)],
    ) -> Answer {
        let count = pairs.iter().any(|(k, v)| k == "_summary" && v == "count");
        self.follow(
            app,
            caller,
            practice,
            &format!("/fhir/{rtype}?{}", query_string(pairs)),
            count,
        )
    }

    /// Sends `first` (a search or an operation answering a searchset) as
    /// `caller` (or as the administrator of `app`) and follows every `next`
    /// link, checking each page's access-history rows when a caller sends it.
    fn follow(
        &self,
        app: &TestApp,
        caller: Option<&Caller>,
        practice: &str,
        first: &str,
        count: bool,
    ) -> Answer {
        let mut answer = Answer::default();
        let mut url = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = url.take() {
            let req = match caller {
                Some(c) => with_token(&c.token, &path),
                None => admin("GET", &path).header("x-flare-practice", practice),
            };
            let r = call(app, req);
            answer.status = r.status;
            if r.status != 200 {
                if let Some(c) = caller {
                    let mut none = BTreeSet::new();
                    none.insert(c.patient.clone());
                    answer.audits.push((self.new_audits(), none));
                }
                return answer;
            }
            let b = r.json_body();
            answer.total = b["total"].as_i64().or(answer.total);
            let mut page_returned = Vec::new();
            for e in b["entry"].as_array().into_iter().flatten() {
                let key = resource_key(&e["resource"]);
                match e["search"]["mode"].as_str() {
                    Some("match") => {
                        page_returned.push(key.clone());
                        answer.matches.push(key);
                    }
                    Some("include") => {
                        page_returned.push(key.clone());
                        answer.included.insert(key);
                    }
                    _ => {}
                }
            }
            if let Some(c) = caller {
                let expected = if count {
                    self.expected_audit(c, &[])
                } else {
                    self.expected_audit(c, &page_returned)
                };
                answer.audits.push((self.new_audits(), expected));
            }
            url = b["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .map(|u| u.strip_prefix(common::BASE).unwrap_or(u).to_string());
            pages += 1;
            assert!(pages < 2000, "paging does not end");
        }
        answer
    }
}

fn with_token(token: &str, path: &str) -> HttpRequest {
    common::request("GET", path).header("authorization", &format!("Bearer {token}"))
}

/// The data: synthetic practices plus the records on the rule's edges.
fn data() -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    let mut config = flare_synth::Config::demo(8);
    config.density = 0.15;
    flare_synth::generate(&config, &mut |practice, r| {
        let key: &'static str = if practice == "northside" {
            "northside"
        } else {
            "lakeshore"
        };
        out.push((key, r));
    });
    let (a, b) = ("northside-pat-1", "northside-pat-2");
    let first_obs = |p: &str| {
        out.iter()
            .find(|(_, r)| {
                r["resourceType"] == "Observation" && r["subject"]["reference"] == format!("Patient/{p}")
            })
            .map(|(_, r)| r["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (obs_a, obs_b) = (first_obs(a), first_obs(b));
    let lab = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]);
    let vitals = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]);
    let edges = vec![
        // In both A's and B's compartments: neither patient's record alone.
        json!({"resourceType": "Observation", "id": "edge-performer", "status": "final", "category": lab,
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
            "subject": {"reference": format!("Patient/{a}")}, "performer": [{"reference": format!("Patient/{b}")}],
            "effectiveDateTime": "2024-02-03"}),
        // A Patient that links to A: in A's compartment, but not A.
        json!({"resourceType": "Patient", "id": "edge-linked", "name": [{"family": "Linked"}],
            "link": [{"other": {"reference": format!("Patient/{a}")}, "type": "seealso"}]}),
        // A Provenance over both patients' records.
        json!({"resourceType": "Provenance", "id": "edge-prov-two", "recorded": "2024-02-03T10:00:00Z",
            "target": [{"reference": format!("Observation/{obs_a}")}, {"reference": format!("Observation/{obs_b}")}],
            "agent": [{"who": {"reference": "Practitioner/edge-prac-b"}}]}),
        // A Provenance over A's record only.
        json!({"resourceType": "Provenance", "id": "edge-prov-a", "recorded": "2024-02-03T10:00:00Z",
            "target": [{"reference": format!("Observation/{obs_a}")}],
            "agent": [{"who": {"reference": "Practitioner/edge-prac-b"}}]}),
        // An Observation in no compartment, named by A's report.
        json!({"resourceType": "Observation", "id": "edge-nosubject", "status": "final", "category": vitals,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, "effectiveDateTime": "2024-02-03"}),
        json!({"resourceType": "DiagnosticReport", "id": "edge-report", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
            "subject": {"reference": format!("Patient/{a}")}, "effectiveDateTime": "2024-02-03",
            "result": [{"reference": "Observation/edge-nosubject"}, {"reference": "Observation/edge-performer"}]}),
        // A Practitioner only B's record references.
        json!({"resourceType": "Practitioner", "id": "edge-prac-b", "name": [{"family": "OnlyB"}]}),
        json!({"resourceType": "Encounter", "id": "edge-enc-b", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{b}")},
            "participant": [{"individual": {"reference": "Practitioner/edge-prac-b"}}]}),
        // A one-member Group: still a roster.
        json!({"resourceType": "Group", "id": "edge-group-a", "type": "person", "actual": true,
            "member": [{"entity": {"reference": format!("Patient/{a}")}}]}),
        // A Binary that A's DocumentReference points to.
        json!({"resourceType": "Binary", "id": "edge-bin-a", "contentType": "text/plain", "data": "aGVsbG8="}),
        json!({"resourceType": "DocumentReference", "id": "edge-doc-a", "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},
            "subject": {"reference": format!("Patient/{a}")},
            "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/edge-bin-a"}}]}),
    ];
    out.extend(edges.into_iter().map(|r| ("northside", r)));
    out
}

fn stored(data: &[(&'static str, Value)]) -> Vec<Stored> {
    data.iter()
        .map(|(practice, json)| {
            let rtype = json["resourceType"].as_str().unwrap().to_string();
            let compartment = registry::resource(&rtype)
                .map(|def| extract(def, json, None).compartment.into_iter().collect())
                .unwrap_or_default();
            let mut references = BTreeSet::new();
            walk_references(json, &mut references);
            Stored {
                practice,
                id: json["id"].as_str().unwrap().to_string(),
                rtype,
                json: json.clone(),
                compartment,
                references,
            }
        })
        .collect()
}

fn import_all(app: &TestApp, data: &[(&'static str, Value)]) {
    for practice in ["northside", "lakeshore"] {
        let mine: Vec<&Value> = data
            .iter()
            .filter(|(p, _)| *p == practice)
            .map(|(_, r)| r)
            .collect();
        for chunk in mine.chunks(200) {
            let entries: Vec<Value> = chunk
                .iter()
                .map(|r| json!({"resource": r, "request": {"method": "PUT", "url": format!("{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap())}}))
                .collect();
            import(
                app,
                practice,
                &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
            );
        }
    }
}

fn register(app: &TestApp, meta: Value) {
    let r = call(app, admin("POST", "/register").body(meta.to_string()));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = meta["client_id"].as_str().unwrap();
    assert_eq!(
        call(app, admin("POST", &format!("/admin/clients/{id}/approve"))).status,
        200
    );
}

fn create_user(app: &TestApp, username: &str, practice: &str, fhir_user: &str) -> String {
    let r = call(
        app,
        admin("POST", "/admin/users").body(
            json!({"username": username, "password": PASSWORD, "practice": practice, "fhirUser": fhir_user})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json_body()["user_id"].as_str().unwrap().to_string()
}

/// What one caller's token was granted.
struct Grant {
    name: &'static str,
    practice: &'static str,
    scope: String,
    patient: Option<String>,
    /// The signed-in user's id.
    user: Option<String>,
    fhir_user: Option<String>,
    /// The app the token belongs to (by default the user-facing app, or the
    /// backend service for `system/` grants).
    client: &'static str,
    /// What the oracle takes the token to permit, stated by hand where that
    /// differs from `scope` (an app whose approval narrowed since the grant).
    oracle_scope: Option<String>,
}

impl Grant {
    fn new(
        name: &'static str,
        practice: &'static str,
        scope: String,
        patient: Option<&str>,
        user: Option<&String>,
        fhir_user: Option<&str>,
    ) -> Grant {
        Grant {
            name,
            practice,
            patient: patient.map(str::to_string),
            user: user.cloned(),
            fhir_user: fhir_user.map(str::to_string),
            client: if scope.starts_with("system/") {
                "oracle-backend"
            } else {
                "oracle-user-app"
            },
            scope,
            oracle_scope: None,
        }
    }

    /// The token of `client`, which the oracle takes to permit `oracle_scope`.
    fn via(self, client: &'static str, oracle_scope: String) -> Grant {
        Grant {
            client,
            oracle_scope: Some(oracle_scope),
            ..self
        }
    }
}

/// Registers the apps and users and mints one token per caller.
fn callers(app: &TestApp) -> Vec<Caller> {
    use flare_edge::store::auth::{insert_tokens, NewAccessToken};
    register(
        app,
        json!({"client_id": "oracle-user-app", "client_name": "Oracle user app", "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "scope": "launch launch/patient openid fhirUser patient/*.rs user/*.rs"}),
    );
    register(
        app,
        json!({"client_id": "oracle-backend", "client_name": "Oracle backend", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://backend.example/jwks", "scope": "system/*.rs"}),
    );
    // An app whose practice narrowed its approval after its users' grants.
    register(
        app,
        json!({"client_id": "oracle-narrowed-app", "client_name": "Oracle narrowed app", "redirect_uris": ["https://narrowed.example/cb"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
            "scope": format!("launch/patient patient/Patient.rs patient/Observation.rs?category={LAB}")}),
    );
    // A user-facing app approved with system/*.rs before registration refused
    // that (finding 3): stored directly, as an old row would be.
    register(
        app,
        json!({"client_id": "oracle-legacy-app", "client_name": "Oracle legacy app", "redirect_uris": ["https://legacy.example/cb"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"], "scope": "launch/patient patient/Patient.rs"}),
    );
    pollster::block_on(app.auth_db().batch(vec![Statement::new(
        "UPDATE clients SET scope = 'launch/patient patient/Patient.rs system/*.rs' WHERE client_id = 'oracle-legacy-app'",
        vec![],
    )]))
    .unwrap();
    let doc = create_user(app, "oracle-doc", "northside", "Practitioner/northside-prac-1");
    let ann = create_user(app, "oracle-ann", "northside", "Patient/northside-pat-1");
    let (a, b, c) = ("northside-pat-1", "northside-pat-2", "lakeshore-pat-1");
    let specs = vec![
        Grant::new("patient A", "northside", "patient/*.rs".into(), Some(a), None, None),
        Grant::new("patient B", "northside", "patient/*.rs".into(), Some(b), None, None),
        Grant::new("patient 3", "northside", "patient/*.rs".into(), Some("northside-pat-3"), None, None),
        Grant::new(
            "patient A, labs, problems",
            "northside",
            format!("patient/Patient.rs patient/Observation.rs?category={LAB} patient/Condition.rs?category={PROBLEMS} patient/Provenance.rs patient/Encounter.rs patient/Practitioner.rs"),
            Some(a),
            None,
            None,
        ),
        Grant::new(
            "patient A, unticked types",
            "northside",
            "patient/Patient.rs patient/Encounter.rs patient/Practitioner.rs patient/DiagnosticReport.rs patient/Provenance.rs".into(),
            Some(a),
            None,
            None,
        ),
        Grant::new("patient B, read only", "northside", "patient/Patient.rs patient/Observation.r patient/Binary.r".into(), Some(b), None, None),
        Grant::new("practitioner", "northside", "user/*.rs".into(), None, Some(&doc), Some("Practitioner/northside-prac-1")),
        Grant::new(
            "practitioner, vitals",
            "northside",
            format!("user/Patient.rs user/Observation.rs?category={VITALS} user/Provenance.rs user/DiagnosticReport.rs"),
            None,
            Some(&doc),
            Some("Practitioner/northside-prac-1"),
        ),
        Grant::new("patient user A", "northside", "user/*.rs".into(), None, Some(&ann), Some("Patient/northside-pat-1")),
        Grant::new("EHR launch, patient B", "northside", "patient/*.rs".into(), Some(b), Some(&doc), Some("Practitioner/northside-prac-1")),
        Grant::new("system", "northside", "system/*.rs".into(), None, None, None),
        // Identity and context only: every FHIR request refused, and
        // $everything must not tell who exists.
        Grant::new("patient A, no resource scope", "northside", "launch/patient openid fhirUser".into(), Some(a), None, None),
        Grant::new("system, labs", "northside", format!("system/Patient.rs system/Observation.rs?category={LAB} system/Group.rs"), None, None, None),
        Grant::new("patient A, app narrowed since", "northside", "patient/*.rs".into(), Some(a), None, None).via(
            "oracle-narrowed-app",
            format!("patient/Patient.rs patient/Observation.rs?category={LAB}"),
        ),
        Grant::new("patient A, system/ through consent", "northside", "patient/Patient.rs system/*.rs".into(), Some(a), None, None)
            .via("oracle-legacy-app", "patient/Patient.rs".into()),
        Grant::new("lakeshore patient", "lakeshore", "patient/*.rs".into(), Some(c), None, None),
        Grant::new("lakeshore system", "lakeshore", "system/*.rs".into(), None, None, None),
    ];
    specs
        .into_iter()
        .enumerate()
        .map(
            |(
                i,
                Grant {
                    name,
                    practice,
                    scope,
                    patient,
                    user,
                    fhir_user,
                    client,
                    oracle_scope,
                },
            )| {
                let token = format!("oracle-token-{i}-0123456789abcdef");
                // A user-present token has a grant (its kind decides which
                // scopes it may carry); a backend token has none.
                let grant_id = (client != "oracle-backend").then(|| {
                    let g = flare_edge::store::auth::Grant {
                        grant_id: format!("oracle-grant-{i}"),
                        practice: practice.into(),
                        client_id: client.into(),
                        user_id: user.clone(),
                        patient: patient.clone(),
                        scope: scope.clone(),
                        context: json!({}),
                        session_hash: None,
                        created_at: NOW,
                        last_used_at: None,
                        revoked_at: None,
                    };
                    pollster::block_on(flare_edge::store::auth::insert_grant(app.auth_db(), &g)).unwrap();
                    g.grant_id
                });
                let row = NewAccessToken {
                    token_hash: flare_edge::crypto::sha256_b64(&token),
                    client_id: client.into(),
                    grant_id,
                    family_id: None,
                    practice: practice.into(),
                    user_id: user,
                    patient: patient.clone(),
                    scope: scope.clone(),
                    issued_at: NOW,
                    expires_at: NOW + 3_600_000,
                    context: json!({}),
                };
                pollster::block_on(insert_tokens(app.auth_db(), &row, None, false)).unwrap();
                Caller {
                    name,
                    practice,
                    token,
                    scopes: Scope::parse_list(oracle_scope.as_deref().unwrap_or(&scope)).0,
                    patient,
                    fhir_user,
                }
            },
        )
        .collect()
}

/// A value for `param` taken from a random stored resource of its type (so
/// that searches match something), or a value that matches nothing.
fn sample_value(rng: &mut ChaCha8Rng, pool: &[&Stored], def: &ResourceDef, code: &str) -> Option<String> {
    let candidates: Vec<&&Stored> = pool.iter().filter(|r| r.rtype == def.name).collect();
    let r = candidates.choose(rng)?;
    if code == "_id" {
        return Some(r.id.clone());
    }
    let param = def.param(code)?;
    let rows = extract(def, &r.json, None);
    match param.kind {
        ParamKind::Token => {
            let t = rows.tokens.iter().filter(|t| t.param == code).collect::<Vec<_>>();
            let t = t.choose(rng)?;
            Some(match (rng.gen_range(0..3), &t.system, &t.code) {
                (0, Some(s), Some(c)) => format!("{s}|{c}"),
                (1, _, Some(c)) => c.clone(),
                (_, None, Some(c)) => format!("|{c}"),
                (_, Some(s), _) => format!("{s}|"),
                _ => return None,
            })
        }
        ParamKind::String => {
            let s = rows
                .strings
                .iter()
                .filter(|s| s.param == code)
                .collect::<Vec<_>>();
            let s = s.choose(rng)?;
            let n = rng.gen_range(1..=s.exact.chars().count().max(1));
            Some(s.exact.chars().take(n).collect())
        }
        ParamKind::Date => {
            let d = rows.dates.iter().filter(|d| d.param == code).collect::<Vec<_>>();
            let d = d.choose(rng)?;
            let text = flare_core::datetime::format_instant(d.start);
            let len = *[4, 7, 10].choose(rng)?;
            let prefix = *["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"].choose(rng)?;
            Some(format!("{prefix}{}", &text[..len]))
        }
        ParamKind::Reference => {
            let x = rows
                .references
                .iter()
                .filter(|x| x.param == code)
                .collect::<Vec<_>>();
            let x = x.choose(rng)?;
            match (&x.target_type, &x.target_id) {
                (Some(t), Some(id)) if rng.gen_bool(0.8) => Some(format!("{t}/{id}")),
                (_, Some(id)) => Some(id.clone()),
                _ => Some(x.url.clone()),
            }
        }
    }
}

/// One filter parameter (maybe chained) on `def`.
fn random_filter(
    rng: &mut ChaCha8Rng,
    pool: &[&Stored],
    everything: &[&Stored],
    def: &'static ResourceDef,
    depth: u8,
) -> (String, String) {
    // Scope queries restrict by category: chains probe it more often.
    let category = def.param("category").filter(|_| depth == 1 && rng.gen_bool(0.3));
    let Some(param) = category.or_else(|| def.params.choose(rng)) else {
        let id = sample_value(rng, pool, def, "_id").unwrap_or_else(|| "no-such-id".into());
        return ("_id".into(), id);
    };
    let code = param.code;
    if param.kind == ParamKind::Reference && depth == 0 && rng.gen_bool(0.5) {
        let targets: Vec<&str> = param
            .targets
            .iter()
            .copied()
            .filter(|t| registry::resource(t).is_some())
            .collect();
        // The type of what such a reference points to in the data, most often.
        let seen = sample_value(rng, pool, def, code)
            .and_then(|v| v.split_once('/').map(|(t, _)| t.to_string()))
            .and_then(|t| targets.iter().copied().find(|x| *x == t));
        let target = match seen {
            Some(t) if rng.gen_bool(0.7) => Some(t),
            _ => targets.choose(rng).copied(),
        };
        if let Some(target) = target {
            let tdef = registry::resource(target).unwrap();
            // Chains probe: their values come as often from what the caller may not see.
            let inner_pool = if rng.gen_bool(0.6) { everything } else { pool };
            let (inner, value) = random_filter(rng, inner_pool, everything, tdef, 1);
            let name = if targets.len() == 1 && rng.gen_bool(0.5) {
                format!("{code}.{inner}")
            } else {
                format!("{code}:{target}.{inner}")
            };
            return (name, value);
        }
    }
    let value = sample_value(rng, pool, def, code).unwrap_or_else(|| "no-such-value".into());
    let modifier = if rng.gen_bool(0.2) {
        match param.kind {
            ParamKind::Token => *[":not", ":text", ":missing"].choose(rng).unwrap(),
            ParamKind::String => *[":exact", ":contains", ":missing"].choose(rng).unwrap(),
            ParamKind::Date | ParamKind::Reference => ":missing",
        }
    } else {
        ""
    };
    let value = if modifier == ":missing" {
        if rng.gen_bool(0.5) { "true" } else { "false" }.to_string()
    } else if rng.gen_bool(0.1) {
        // An OR of two values.
        let other = sample_value(rng, pool, def, code).unwrap_or_else(|| "other".into());
        format!("{value},{other}")
    } else {
        value
    };
    (format!("{code}{modifier}"), value)
}

/// A random search: type, filters, chains, includes and result parameters.
fn random_search(
    rng: &mut ChaCha8Rng,
    pool: &[&Stored],
    everything: &[&Stored],
) -> (&'static str, Vec<(String, String)>) {
    // Mostly the types the pool holds (what the caller may see), sometimes any.
    let def = match pool.choose(rng) {
        Some(r) if rng.gen_bool(0.7) => registry::resource(&r.rtype).unwrap_or(&registry::RESOURCES[0]),
        _ => registry::RESOURCES.choose(rng).unwrap(),
    };
    let mut pairs = Vec::new();
    for _ in 0..rng.gen_range(0..=3) {
        pairs.push(random_filter(rng, pool, everything, def, 0));
    }
    if rng.gen_bool(0.15) {
        let id = sample_value(rng, pool, def, "_id").unwrap_or_else(|| "nope".into());
        pairs.push(("_id".into(), id));
    }
    if rng.gen_bool(0.1) {
        pairs.push(("_lastUpdated".into(), "ge2020-01-01".into()));
    }
    if rng.gen_bool(0.3) {
        for inc in def.includes.choose_multiple(rng, 2) {
            pairs.push(("_include".into(), inc.to_string()));
        }
    }
    if rng.gen_bool(0.3) {
        for inc in def.revincludes.choose_multiple(rng, 2) {
            pairs.push(("_revinclude".into(), inc.to_string()));
        }
    }
    match rng.gen_range(0..10) {
        0 => pairs.push(("_summary".into(), "count".into())),
        1 => pairs.push(("_total".into(), "accurate".into())),
        2 => pairs.push(("_elements".into(), "id,status,subject".into())),
        _ => {}
    }
    if rng.gen_bool(0.2) {
        let key = *[
            "_lastUpdated",
            "-_lastUpdated",
            "_id",
            "-_id",
            "date",
            "-date",
            "name",
        ]
        .choose(rng)
        .unwrap();
        pairs.push(("_sort".into(), key.into()));
    }
    pairs.push(("_count".into(), rng.gen_range(1..=6).to_string()));
    (def.name, pairs)
}

/// Every chain target type of a parsed search.
fn chain_targets(filters: &[Filter], out: &mut Vec<&'static str>) {
    for f in filters {
        if let Filter::Chain { target, inner, .. } = f {
            out.push(target.name);
            chain_targets(std::slice::from_ref(inner), out);
        }
    }
}

/// Disagreement of one search with the oracle, if any.
fn check_search(
    w: &World,
    oracle_app: &TestApp,
    c: &Caller,
    rtype: &str,
    pairs: &[(String, String)],
) -> Result<Answer, String> {
    let got = w.search(&w.app, Some(c), c.practice, rtype, pairs);
    for (written, expected) in &got.audits {
        if written != expected {
            return Err(format!(
                "access history wrote {written:?}, the answer carried {expected:?}"
            ));
        }
    }
    for key in got.matches.iter().chain(got.included.iter()) {
        let r = w.oracle.find(c.practice, &key.0, &key.1);
        if !r.is_some_and(|r| w.oracle.visible(c, r, Interaction::Search)) {
            return Err(format!(
                "LEAK: returned {}/{} which the caller may not see",
                key.0, key.1
            ));
        }
    }
    if w.oracle.rule(c, rtype, Interaction::Search).is_none() {
        return match got.status {
            403 => Ok(got),
            s => Err(format!("status {s}, expected 403 (type not granted)")),
        };
    }
    // The administrator of the oracle app sees exactly what the caller may.
    let patient_context = w
        .oracle
        .rule(c, rtype, Interaction::Search)
        .is_some_and(|r| r.patient.is_some());
    let mut oracle_pairs: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| k != "_count").cloned().collect();
    oracle_pairs.push(("_count".into(), "500".into()));
    let def = registry::resource(rtype).unwrap();
    let has_filter = |p: &[(String, String)]| {
        p.iter()
            .any(|(k, _)| !k.starts_with('_') || k == "_id" || k == "_lastUpdated")
    };
    if patient_context && !has_filter(pairs) && def.in_patient_compartment() && rtype != "Patient" {
        // The caller's patient context stands for the required parameter.
        oracle_pairs.push(("_lastUpdated".into(), "ge1900-01-01".into()));
    }
    let want = w.search(oracle_app, None, c.practice, rtype, &oracle_pairs);
    if want.status == 400 {
        return match got.status {
            400 => Ok(got),
            s => Err(format!("status {s}, the oracle app answered 400")),
        };
    }
    let parsed = search::parse(rtype, pairs, ParseOptions::default()).map_err(|e| e.0)?;
    let mut targets = Vec::new();
    chain_targets(&parsed.filters, &mut targets);
    if targets
        .iter()
        .any(|t| w.oracle.rule(c, t, Interaction::Search).is_none())
    {
        return match got.status {
            403 => Ok(got),
            s => Err(format!(
                "status {s}, expected 403 (chain into a type not granted)"
            )),
        };
    }
    if got.status != 200 || want.status != 200 {
        return Err(format!(
            "status {}, the oracle app answered {}",
            got.status, want.status
        ));
    }
    if got.matches != want.matches {
        return Err(format!("matches {:?}\n  oracle {:?}", got.matches, want.matches));
    }
    let all_got: BTreeSet<_> = got.included.iter().chain(got.matches.iter()).cloned().collect();
    let all_want: BTreeSet<_> = want.included.iter().chain(want.matches.iter()).cloned().collect();
    if all_got != all_want {
        return Err(format!(
            "included {:?}\n  oracle {:?}",
            all_got.difference(&all_want).collect::<Vec<_>>(),
            all_want.difference(&all_got).collect::<Vec<_>>()
        ));
    }
    let counted = pairs
        .iter()
        .any(|(k, v)| (k == "_summary" && v == "count") || (k == "_total" && v == "accurate"));
    if counted && got.total != want.total {
        return Err(format!("total {:?}, oracle {:?}", got.total, want.total));
    }
    Ok(got)
}

/// Disagreement of an operation's answer (every page) with the oracle's
/// status or resources, if any: a leak, a duplicate, a missing resource, or
/// access-history rows other than the patients the pages carried.
fn check_operation(
    w: &World,
    c: &Caller,
    got: &Answer,
    want: &Result<BTreeSet<(String, String)>, u16>,
) -> Result<(), String> {
    for (written, expected) in &got.audits {
        if written != expected {
            return Err(format!(
                "access history wrote {written:?}, the answer carried {expected:?}"
            ));
        }
    }
    for key in got.matches.iter().chain(got.included.iter()) {
        let r = w.oracle.find(c.practice, &key.0, &key.1);
        if !r.is_some_and(|r| w.oracle.visible(c, r, Interaction::Search)) {
            return Err(format!(
                "LEAK: returned {}/{} which the caller may not see",
                key.0, key.1
            ));
        }
    }
    match want {
        Err(status) if got.status == *status => Ok(()),
        Err(status) => Err(format!("status {}, oracle {status}", got.status)),
        Ok(_) if got.status != 200 => Err(format!("status {}, oracle 200", got.status)),
        Ok(want) => {
            let set: BTreeSet<(String, String)> = got.matches.iter().cloned().collect();
            if set.len() != got.matches.len() {
                return Err(format!("duplicates across pages: {:?}", got.matches));
            }
            if !got.included.is_empty() {
                return Err(format!("included {:?}", got.included));
            }
            if set != *want {
                return Err(format!(
                    "returned but not the oracle's {:?}; the oracle's but missing {:?}",
                    set.difference(want).collect::<Vec<_>>(),
                    want.difference(&set).collect::<Vec<_>>()
                ));
            }
            Ok(())
        }
    }
}

/// Removes parameters one at a time while the search still disagrees.
fn shrink(
    w: &World,
    oracle_apps: &[TestApp],
    ci: usize,
    rtype: &str,
    mut pairs: Vec<(String, String)>,
) -> (Vec<(String, String)>, String) {
    let mut why = check_search(w, &oracle_apps[ci], &w.callers[ci], rtype, &pairs).unwrap_err();
    let mut i = 0;
    while i < pairs.len() {
        let mut fewer = pairs.clone();
        fewer.remove(i);
        match check_search(w, &oracle_apps[ci], &w.callers[ci], rtype, &fewer) {
            Err(e) => {
                pairs = fewer;
                why = e;
            }
            Ok(_) => i += 1,
        }
    }
    (pairs, why)
}

#[test]
fn every_answer_is_what_the_oracle_says_the_caller_may_see() {
    let seed: u64 = std::env::var("FLARE_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261204);
    let cases: usize = std::env::var("FLARE_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let verbose = std::env::var_os("FLARE_ORACLE_VERBOSE").is_some();
    let data = data();
    let app = common::app();
    // Thousands of reads per client within one minute of the fixed clock:
    // throttling is not what this test is about.
    app.platform
        .set_limit(flare_edge::platform::Limiter::Client, u32::MAX);
    import_all(&app, &data);
    let oracle = Oracle { all: stored(&data) };
    let callers = callers(&app);

    // One oracle app per caller, holding what that caller may search.
    let oracle_apps: Vec<TestApp> = callers
        .iter()
        .map(|c| {
            let visible: Vec<(&'static str, Value)> = data
                .iter()
                .filter(|(p, r)| {
                    let s = oracle
                        .find(p, r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap())
                        .unwrap();
                    oracle.visible(c, s, Interaction::Search)
                })
                .cloned()
                .collect();
            let oracle_app = common::app();
            import_all(&oracle_app, &visible);
            oracle_app
        })
        .collect();
    let world = World {
        app,
        oracle,
        callers,
        last_audit: std::cell::Cell::new(0),
    };
    world.new_audits();

    // Reads: every id of both practices, and ids that do not exist.
    let mut reads = 0;
    let mut read_failures = Vec::new();
    for c in &world.callers {
        let mut targets: Vec<(String, String)> = world
            .oracle
            .all
            .iter()
            .map(|r| (r.rtype.clone(), r.id.clone()))
            .collect();
        targets.push(("Observation".into(), "no-such-id".into()));
        targets.push(("Group".into(), "no-such-group".into()));
        targets.sort();
        targets.dedup();
        for (t, id) in targets {
            let r = call(&world.app, with_token(&c.token, &format!("/fhir/{t}/{id}")));
            reads += 1;
            let want = world.oracle.read_status(c, &t, &id);
            let written = world.new_audits();
            let expected = if r.status == 200 {
                world.expected_audit(c, &[(t.clone(), id.clone())])
            } else {
                world.expected_audit(c, &[])
            };
            if r.status != want || written != expected {
                read_failures.push(format!(
                    "{}: GET {t}/{id} answered {} (oracle {want}); access history {written:?} (expected {expected:?})",
                    c.name, r.status
                ));
            }
        }
    }
    assert!(
        read_failures.is_empty(),
        "{} of {reads} reads disagree with the oracle:\n{}",
        read_failures.len(),
        read_failures.join("\n")
    );

    // The operations: $everything of several patients and $docref, paged
    // to the end, for every caller.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0e7e);
    let mut operations = 0;
    let mut op_failures = Vec::new();
    for c in &world.callers {
        for x in EVERYTHING_OF {
            let path = format!("/fhir/Patient/{x}/$everything?_count={}", rng.gen_range(2..=9));
            let got = world.follow(&world.app, Some(c), c.practice, &path, false);
            let want = world.oracle.everything(c, x);
            operations += 1;
            if let Err(why) = check_operation(&world, c, &got, &want) {
                op_failures.push(format!("{}: GET {path}: {why}", c.name));
            }
        }
        for x in [
            "northside-pat-1",
            "northside-pat-2",
            "lakeshore-pat-1",
            "no-such-patient",
        ] {
            // Inputs drawn from the patient's own documents: their care dates and type.
            let docs: Vec<&Stored> = world
                .oracle
                .all
                .iter()
                .filter(|r| {
                    r.rtype == "DocumentReference" && r.json["subject"]["reference"] == format!("Patient/{x}")
                })
                .collect();
            let day = |rng: &mut ChaCha8Rng| {
                docs.choose(rng)
                    .and_then(|d| d.json["date"].as_str())
                    .map_or("2024-02-03".to_string(), |t| t[..10].to_string())
            };
            let (d1, d2) = (day(&mut rng), day(&mut rng));
            let (start, end) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
            let doc_type = docs.choose(&mut rng).and_then(|d| {
                let cd = &d.json["type"]["coding"][0];
                Some(format!("{}|{}", cd["system"].as_str()?, cd["code"].as_str()?))
            });
            let mut cases: Vec<(Option<String>, Option<String>, Option<String>)> = vec![
                (None, None, None),
                (Some(start.clone()), Some(end.clone()), None),
                (Some(start.clone()), None, None),
                (None, Some(end.clone()), None),
                (Some("1900".into()), Some("2100".into()), None),
            ];
            if let Some(t) = doc_type {
                cases.push((None, None, Some(t.clone())));
                cases.push((Some(start.clone()), None, Some(t)));
            }
            for (start, end, doc_type) in cases {
                let mut pairs = vec![("patient".to_string(), x.to_string())];
                for (k, v) in [("start", &start), ("end", &end), ("type", &doc_type)] {
                    if let Some(v) = v {
                        pairs.push((k.to_string(), v.clone()));
                    }
                }
                pairs.push(("_count".into(), rng.gen_range(1..=4).to_string()));
                let path = format!("/fhir/DocumentReference/$docref?{}", query_string(&pairs));
                let got = world.follow(&world.app, Some(c), c.practice, &path, false);
                let want = world
                    .oracle
                    .docref(c, x, start.as_deref(), end.as_deref(), doc_type.as_deref());
                operations += 1;
                if let Err(why) = check_operation(&world, c, &got, &want) {
                    op_failures.push(format!("{}: GET {path}: {why}", c.name));
                }
            }
        }
    }
    assert!(
        op_failures.is_empty(),
        "{} of {operations} operations disagree with the oracle:\n{}",
        op_failures.len(),
        op_failures.join("\n")
    );

    // Searches.
    let everything: Vec<&Stored> = world.oracle.all.iter().collect();
    let pools: Vec<Vec<&Stored>> = world
        .callers
        .iter()
        .map(|c| {
            let searchable = |r: &&Stored| registry::resource(&r.rtype).is_some();
            let seen = |r: &&Stored| world.oracle.visible(c, r, Interaction::Search);
            everything
                .iter()
                .copied()
                .filter(searchable)
                .filter(seen)
                .collect()
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fail = |stage: &str, ci: usize, rtype: &str, pairs: &[(String, String)], why: String| -> ! {
        let (min, min_why) = shrink(&world, &oracle_apps, ci, rtype, pairs.to_vec());
        panic!(
            "seed {seed}, {stage}: {} GET /fhir/{rtype}?{}\n  {why}\nminimal: GET /fhir/{rtype}?{}\n  {min_why}",
            world.callers[ci].name,
            query_string(pairs),
            query_string(&min),
        );
    };

    // Sweep: every chain edge (type, reference parameter, target type) and
    // every _include/_revinclude, for every caller, probed with values taken
    // from what the caller may not see.
    let mut swept = 0usize;
    for (ci, c) in world.callers.iter().enumerate() {
        let hidden: Vec<&Stored> = everything
            .iter()
            .copied()
            .filter(|r| {
                registry::resource(&r.rtype).is_some() && !world.oracle.visible(c, r, Interaction::Search)
            })
            .collect();
        for def in registry::RESOURCES {
            let mut probes: Vec<Vec<(String, String)>> = Vec::new();
            for param in def.params.iter().filter(|p| p.kind == ParamKind::Reference) {
                for target in param.targets.iter().filter_map(|t| registry::resource(t)) {
                    let inner = ["category", "code", "status", "_id"]
                        .into_iter()
                        .filter(|code| *code == "_id" || target.param(code).is_some())
                        .find_map(|code| sample_value(&mut rng, &hidden, target, code).map(|v| (code, v)));
                    let (inner, value) = inner.unwrap_or(("_id", "none".into()));
                    let chain = (format!("{}:{}.{inner}", param.code, target.name), value);
                    probes.push(vec![chain.clone(), ("_summary".into(), "count".into())]);
                    probes.push(vec![chain, ("_count".into(), "50".into())]);
                }
            }
            for inc in def.includes {
                probes.push(vec![
                    ("_include".into(), inc.to_string()),
                    ("_lastUpdated".into(), "ge1900".into()),
                ]);
            }
            for inc in def.revincludes {
                probes.push(vec![
                    ("_revinclude".into(), inc.to_string()),
                    ("_lastUpdated".into(), "ge1900".into()),
                ]);
            }
            for pairs in probes {
                swept += 1;
                if let Err(why) = check_search(&world, &oracle_apps[ci], c, def.name, &pairs) {
                    fail("sweep", ci, def.name, &pairs, why);
                }
            }
        }
    }

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut returned = 0usize;
    for case in 0..cases {
        let ci = rng.gen_range(0..world.callers.len());
        // Values mostly from what the caller may see, so that searches match.
        let pool = if rng.gen_bool(0.7) {
            &pools[ci]
        } else {
            &everything
        };
        let (rtype, pairs) = random_search(&mut rng, pool, &everything);
        if verbose {
            println!(
                "{case} {}: GET /fhir/{rtype}?{}",
                world.callers[ci].name,
                query_string(&pairs)
            );
        }
        let got = match check_search(&world, &oracle_apps[ci], &world.callers[ci], rtype, &pairs) {
            Ok(got) => got,
            Err(why) => fail(&format!("case {case}"), ci, rtype, &pairs, why),
        };
        *statuses.entry(got.status).or_default() += 1;
        returned += got.matches.len() + got.included.len();
    }
    println!(
        "visibility oracle: seed {seed}, {operations} operations ($everything, $docref), {swept} sweep searches, {cases} random searches ({statuses:?} by status, {returned} resources returned) and {reads} reads by {} callers agree with the oracle",
        world.callers.len()
    );
}

//! Trial group 6: search semantics from the FHIR R4 specification
//! (<https://hl7.org/fhir/R4/search.html>), on a small data set of our own in
//! practice `lakeshore`. Expected results are worked out by hand from the
//! spec's definitions and written next to each query. This module holds the
//! data set and the [`Cases`] checker; the trials are in [`matching`] (which
//! resources match), [`dates`] (date and `_lastUpdated` semantics) and
//! [`results`] (sorting, paging, totals, subsets, includes).
//!
//! Date ranges of the Observations of `sem-p1` (all UTC):
//!
//! | id | value | range |
//! |----|-------|-------|
//! | o1 | `2021-03-04T10:15:30Z` | that second |
//! | o2 | Period `2021-03-01` – `2021-03-10` | Mar 1 00:00 – Mar 10 23:59:59.999 |
//! | o3 | `2021` | the whole year |
//! | o4 | `2021-03` | the whole month |
//! | o5 | Period start `2020-12-31T23:00:00Z`, no end | from then on, open |
//! | o6 | `2021-03-04` | that day |

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};

use flare_tests::fhir::{pairs, search_all, Method, SearchResult};
use flare_tests::{check, check_eq};

use crate::context::{Ctx, LAKESHORE};
use crate::TrialFn;

mod dates;
mod matching;
mod results;

use dates::*;
use matching::*;
use results::*;

/// The trials of this group.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("semantics::tokens", tokens),
    ("semantics::strings", strings),
    ("semantics::dates_prefixes_precisions_periods", dates),
    ("semantics::dates_with_time_zones", date_zones),
    ("semantics::references", references),
    ("semantics::references_absolute_urls", references_absolute),
    ("semantics::or_lists_and_repeats", or_and),
    ("semantics::missing_modifier", missing),
    ("semantics::last_updated", last_updated),
    ("semantics::sort_by_date", sort_by_date),
    ("semantics::count_paging_visits_each_match_once", count_paging),
    ("semantics::summary_count_and_total_accurate", totals),
    ("semantics::elements_subset", elements),
    ("semantics::elements_choice_type_by_base_name", elements_choice),
    ("semantics::include_medication", include_medication),
    ("semantics::revinclude_provenance", revinclude_provenance),
    ("semantics::chained_practitioner", chained),
    ("semantics::empty_parameters_are_ignored", empty_parameters),
    ("semantics::post_search_with_query_and_form", post_search),
];

const OBS_CAT: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const LOINC: &str = "http://loinc.org";
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";

fn patient(
    id: &str,
    family: &str,
    given: &str,
    gender: &str,
    birth: Option<&str>,
    ident: (&str, &str),
) -> Value {
    let mut p = json!({"resourceType": "Patient", "id": id, "gender": gender,
        "identifier": [{"system": ident.0, "value": ident.1}],
        "name": [{"family": family, "given": [given]}]});
    if let Some(b) = birth {
        p["birthDate"] = json!(b);
    }
    p
}

fn obs(
    id: &str,
    pat: &str,
    status: &str,
    code: Value,
    category: Option<&str>,
    effective: (&str, Value),
) -> Value {
    let mut o = json!({"resourceType": "Observation", "id": id, "status": status, "code": code,
        "subject": {"reference": format!("Patient/{pat}")}});
    if let Some(c) = category {
        o["category"] = json!([{"coding": [{"system": OBS_CAT, "code": c}]}]);
    }
    o[effective.0] = effective.1;
    o
}

fn coding(system: Option<&str>, code: &str, display: Option<&str>) -> Value {
    let mut c = json!({"code": code});
    if let Some(s) = system {
        c["system"] = json!(s);
    }
    if let Some(d) = display {
        c["display"] = json!(d);
    }
    c
}

/// Ids of the sorting data set (patient `sem-p2`): three ranges of other
/// precisions, then twenty days in a scrambled insertion order.
fn sort_set() -> Vec<(String, (&'static str, Value))> {
    let mut out = vec![
        ("sem-s-year".to_string(), ("effectiveDateTime", json!("2016"))),
        ("sem-s-month".to_string(), ("effectiveDateTime", json!("2017-05"))),
        (
            "sem-s-period".to_string(),
            (
                "effectivePeriod",
                json!({"start": "2018-02-01", "end": "2018-02-03"}),
            ),
        ),
    ];
    for i in 0..20 {
        let k = (i * 7) % 20; // insertion order differs from date order
        out.push((
            format!("sem-s-{k:02}"),
            (
                "effectiveDateTime",
                json!(format!("2019-{:02}-{:02}", 1 + k / 2, 1 + k)),
            ),
        ));
    }
    // Stored in a different order than the dates: reverse the range ones to the end.
    out.rotate_left(3);
    out
}

/// The sorting set's ids in ascending date order.
fn sort_set_ascending() -> Vec<String> {
    let mut ids = vec![
        "sem-s-year".to_string(),
        "sem-s-month".to_string(),
        "sem-s-period".to_string(),
    ];
    ids.extend((0..20).map(|k| format!("sem-s-{k:02}")));
    ids
}

/// Imports the data set once.
fn load(ctx: &Ctx) {
    ctx.semantics.get_or_init(|| {
        let hr = || json!({"coding": [coding(Some(LOINC), "8867-4", Some("Heart rate"))], "text": "Heart rate"});
        let mut resources = vec![
            patient("sem-p1", "Núñez", "José", "male", Some("1970-05-15"), ("urn:e2e:sem", "MRN-001")),
            patient("sem-p2", "Nunes", "Ana", "female", Some("1985-11-02"), ("urn:e2e:sem", "MRN-002")),
            patient("sem-p3", "Anderson", "Nunez", "female", None, ("urn:e2e:other", "MRN-001")),
            obs("sem-o1", "sem-p1", "final", hr(), Some("vital-signs"), ("effectiveDateTime", json!("2021-03-04T10:15:30Z"))),
            obs(
                "sem-o2",
                "sem-p1",
                "preliminary",
                json!({"coding": [coding(Some("urn:e2e:local"), "ABC-Local", Some("Local thing"))]}),
                Some("laboratory"),
                ("effectivePeriod", json!({"start": "2021-03-01", "end": "2021-03-10"})),
            ),
            obs(
                "sem-o3",
                "sem-p1",
                "amended",
                json!({"coding": [coding(None, "nosys-1", None)], "text": "Blood glucose"}),
                Some("laboratory"),
                ("effectiveDateTime", json!("2021")),
            ),
            obs(
                "sem-o4",
                "sem-p1",
                "final",
                json!({"coding": [coding(Some(LOINC), "29463-7", Some("Body weight"))]}),
                Some("vital-signs"),
                ("effectiveDateTime", json!("2021-03")),
            ),
            obs(
                "sem-o5",
                "sem-p1",
                "cancelled",
                json!({"coding": [coding(Some(LOINC), "8867-4", Some("Heart rate"))]}),
                None,
                ("effectivePeriod", json!({"start": "2020-12-31T23:00:00Z"})),
            ),
            obs(
                "sem-o6",
                "sem-p1",
                "final",
                json!({"coding": [coding(Some(LOINC), "8310-5", Some("Body temperature"))]}),
                Some("vital-signs"),
                ("effectiveDateTime", json!("2021-03-04")),
            ),
            // Time zones (patient sem-p4): 2021-06-01T01:00+02:00 is 2021-05-31T23:00Z.
            json!({"resourceType": "Patient", "id": "sem-p4"}),
            obs("sem-tz1", "sem-p4", "final", hr(), None, ("effectiveDateTime", json!("2021-06-01T01:00:00+02:00"))),
            obs("sem-tz2", "sem-p4", "final", hr(), None, ("effectiveInstant", json!("2021-05-31T22:59:59.500Z"))),
            // Medications.
            json!({"resourceType": "Medication", "id": "sem-med-1",
                   "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049221"}]}}),
            json!({"resourceType": "MedicationRequest", "id": "sem-mr-1", "status": "active", "intent": "order",
                   "subject": {"reference": "Patient/sem-p1"}, "authoredOn": "2021-03-04",
                   "medicationReference": {"reference": "Medication/sem-med-1"},
                   "requester": {"reference": "Practitioner/sem-pr-1"}}),
            json!({"resourceType": "MedicationRequest", "id": "sem-mr-2", "status": "completed", "intent": "plan",
                   "subject": {"reference": "Patient/sem-p1"}, "authoredOn": "2021-03-05",
                   "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                             "code": "197361"}]}}),
            json!({"resourceType": "Provenance", "id": "sem-prov-1", "recorded": "2021-03-04T11:00:00Z",
                   "target": [{"reference": "Observation/sem-o1"}, {"reference": "MedicationRequest/sem-mr-1"}],
                   "agent": [{"who": {"reference": "Practitioner/sem-pr-1"}}]}),
            // Practitioners, roles, endpoint.
            json!({"resourceType": "Practitioner", "id": "sem-pr-1", "name": [{"family": "Okonkwo", "given": ["Chidi"]}],
                   "identifier": [{"system": NPI, "value": "1234567893"}]}),
            json!({"resourceType": "Practitioner", "id": "sem-pr-2", "name": [{"family": "Okafor", "given": ["Ngozi"]}],
                   "identifier": [{"system": NPI, "value": "1234567894"}]}),
            json!({"resourceType": "Endpoint", "id": "sem-ep-1", "status": "active",
                   "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                                      "code": "direct-project"},
                   "payloadType": [{"text": "any"}], "address": "mailto:okonkwo@direct.example.org"}),
            json!({"resourceType": "PractitionerRole", "id": "sem-role-1",
                   "practitioner": {"reference": "Practitioner/sem-pr-1"},
                   "endpoint": [{"reference": "Endpoint/sem-ep-1"}],
                   "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "208D00000X"}]}]}),
            json!({"resourceType": "PractitionerRole", "id": "sem-role-2",
                   "practitioner": {"reference": "Practitioner/sem-pr-2"}}),
        ];
        // Ties: nine Observations of sem-p6 on the same day.
        for i in 0..9 {
            let id = format!("sem-tie-{i}");
            resources.push(obs(&id, "sem-p6", "final", hr(), None, ("effectiveDateTime", json!("2022-02-02"))));
        }
        for (id, effective) in sort_set() {
            resources.push(obs(&id, "sem-p2", "final", hr(), Some("vital-signs"), effective));
        }
        let bundle = json!({"resourceType": "Bundle", "type": "collection",
            "entry": resources.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()});
        ctx.client.import_ok(LAKESHORE, &bundle);
    });
}

/// Runs a search in lakeshore (GET, all pages).
fn run(ctx: &Ctx, rtype: &str, params: &[(&str, &str)]) -> SearchResult {
    search_all(&ctx.client, Some(LAKESHORE), rtype, &pairs(params), Method::Get)
}

/// The searches of one trial: each mismatch is recorded, and when the trial
/// ends (this value is dropped) it fails with all of them at once, so one
/// wrong answer does not hide the others.
struct Cases<'a> {
    ctx: &'a Ctx,
    wrong: RefCell<Vec<String>>,
}

impl<'a> Cases<'a> {
    fn new(ctx: &'a Ctx) -> Cases<'a> {
        Cases {
            ctx,
            wrong: RefCell::new(Vec::new()),
        }
    }

    /// Expects the match ids of a search to equal `expected` (as a set; `sem-` prefix implied).
    fn expect(&self, rtype: &str, params: &[(&str, &str)], expected: &[&str]) {
        let query = format!(
            "{rtype}?{}",
            params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        let want: BTreeSet<String> = expected.iter().map(|e| format!("sem-{e}")).collect();
        flare_tests::check::count();
        match catch_unwind(AssertUnwindSafe(|| run(self.ctx, rtype, params).id_set())) {
            Ok(got) if got == want => {}
            Ok(got) => self
                .wrong
                .borrow_mut()
                .push(format!("{query}: got {got:?}, expected {want:?}")),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "failed".into());
                self.wrong.borrow_mut().push(format!("{query}: {msg}"));
            }
        }
    }

    /// Observation search for patient sem-p1 plus `extra`.
    fn p1(&self, extra: &[(&str, &str)], expected: &[&str]) {
        let mut params = vec![("patient", "sem-p1")];
        params.extend_from_slice(extra);
        self.expect("Observation", &params, expected);
    }
}

impl Drop for Cases<'_> {
    fn drop(&mut self) {
        let wrong = self.wrong.borrow();
        if !std::thread::panicking() && !wrong.is_empty() {
            panic!("{} search(es) went wrong:\n{}", wrong.len(), wrong.join("\n"));
        }
    }
}

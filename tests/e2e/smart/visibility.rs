//! One visibility rule on every path (issue 12, findings 1, 2 and 10): a
//! patient-context token never sees a multi-patient resource (the practice
//! roster, a CareTeam that names another patient), not even through a chained
//! search; a chain is held to the caller's scopes for the chained type; the
//! access history names the patients whose records were returned, not those
//! the query named.

use serde_json::{json, Value};

use flare_tests::fhir::{expect_outcome, search_all, Method};
use flare_tests::{check, check_eq};

use super::launch::{registered_scope, PATIENT_SCOPE};
use super::{access_token, expect_403_scope, World, OBS_CAT};
use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::visibility::patient_token_never_sees_the_roster",
        roster_hidden,
    ),
    (
        "smart::visibility::chains_keep_the_chained_types_scopes",
        chains_scoped,
    ),
    (
        "smart::visibility::access_history_from_the_answer",
        history_from_answer,
    ),
];

/// The `total` of a `_summary=count` search, or the status when it is not 200.
fn count(w: &World, token: &str, path: &str) -> Result<i64, u16> {
    let r = w.fhir(token, path);
    if r.status != 200 {
        return Err(r.status);
    }
    Ok(r.json()["total"].as_i64().unwrap_or(-1))
}

/// Finding 1: `Group/…` with a `patient/*.rs` token answered 200 with every
/// member, and `Group?member:Patient.birthdate=…&_summary=count` probed other
/// patients' demographics.
fn roster_hidden(ctx: &Ctx) {
    let w = World::new(ctx, "vis-roster");
    let group = format!("{}-all", w.key);
    w.client.import_ok(
        &w.key,
        &json!({"resourceType": "Group", "id": group, "type": "person", "actual": true,
            "member": [{"entity": {"reference": format!("Patient/{}", w.a.id)}},
                       {"entity": {"reference": format!("Patient/{}", w.b.id)}}]}),
    );
    let app = w.app(
        "visroster",
        "none",
        &format!("{} patient/Group.rs patient/*.rs", registered_scope()),
    );
    let wide = w.login(
        &app,
        "launch/patient openid fhirUser patient/*.rs",
        &w.alice,
        None,
    );
    let at = access_token(&wide);
    expect_403_scope(&w.fhir(&at, &format!("/fhir/Group/{group}")));
    expect_403_scope(&w.fhir(&at, "/fhir/Group?type=person"));
    // The chained probe, with B's birth date: refused, not counted.
    let probe = format!("/fhir/Group?member:Patient.birthdate=1980-01-02&_id={group}&_summary=count");
    check_eq!(count(&w, &at, &probe), Err(403), "{probe}");
    // A CareTeam naming B is not A's record alone.
    expect_outcome(&w.fhir(&at, &format!("/fhir/CareTeam/{}", w.a.care_team)), 404);
    let teams = search_all(&w.as_token(&at), None, "CareTeam", &[], Method::Get);
    check!(teams.ids().is_empty(), "CareTeam search: {:?}", teams.ids());
    // A patient user's own user/ token is held to the same rule.
    let user = w.login(&app, "openid fhirUser user/Patient.rs", &w.alice, None);
    let granted = user["scope"].as_str().unwrap_or_default().to_string();
    if granted.contains("user/") {
        let ut = access_token(&user);
        check_eq!(
            count(&w, &ut, "/fhir/Patient?birthdate=1980-01-02&_summary=count"),
            Ok(1),
            "a patient user's user/ token counts only their own record"
        );
    }
    // The operator still sees the roster.
    w.client
        .get(&format!("/fhir/Group/{group}"))
        .practice(&w.key)
        .send()
        .expect_status(200);
}

/// Finding 2: with lab-only Observation scopes, a chain from Provenance
/// counted vital signs, and a chain into Condition (no Condition scope) probed
/// Conditions.
fn chains_scoped(ctx: &Ctx) {
    let w = World::new(ctx, "vis-chain");
    let (vital_prov, cond_prov) = (format!("{}-prov-vital", w.a.id), format!("{}-prov-cond", w.a.id));
    for (id, target) in [
        (&vital_prov, format!("Observation/{}", w.a.obs_vital)),
        (&cond_prov, format!("Condition/{}", w.a.condition)),
    ] {
        w.client.import_ok(
            &w.key,
            &json!({"resourceType": "Provenance", "id": id, "recorded": "2024-05-01T10:00:00Z",
                "target": [{"reference": target}],
                "agent": [{"who": {"reference": format!("Practitioner/{}", w.practitioner)}}]}),
        );
    }
    let app = w.app("vischain", "none", &registered_scope());
    let scope = format!(
        "launch/patient openid fhirUser patient/Provenance.rs patient/Observation.rs?category={OBS_CAT}|laboratory"
    );
    let t = w.login(&app, &scope, &w.alice, None);
    let at = access_token(&t);
    check!(
        t["scope"].as_str().unwrap_or_default().contains("category="),
        "the lab-only scope was granted: {t}"
    );
    // The Provenance of the vital sign is visible (it is A's), the vital sign is not.
    w.fhir(&at, &format!("/fhir/Provenance/{vital_prov}"))
        .expect_status(200);
    expect_403_scope(&w.fhir(&at, &format!("/fhir/Observation/{}", w.a.obs_vital)));
    let vitals = "/fhir/Provenance?target:Observation.category=vital-signs&_summary=count";
    check_eq!(count(&w, &at, vitals), Ok(0), "{vitals}");
    let labs = "/fhir/Provenance?target:Observation.category=laboratory&_summary=count";
    check_eq!(count(&w, &at, labs), Ok(1), "{labs}");
    let conditions = "/fhir/Provenance?target:Condition._lastUpdated=gt1900-01-01&_summary=count";
    check_eq!(count(&w, &at, conditions), Err(403), "{conditions}");
}

/// Finding 10: the access history came from `patient=`/`subject=` in the
/// query, so a practitioner's `_id` read of B's record left nothing in B's
/// history, and A's query naming B wrote B's history.
fn history_from_answer(ctx: &Ctx) {
    let w = World::new(ctx, "vis-audit");
    let doc_app = w.app("visauditdoc", "none", &registered_scope());
    let pat_app = w.app("visauditpat", "none", &registered_scope());
    let doc = w.login(
        &doc_app,
        "openid fhirUser user/Observation.rs user/Patient.rs",
        &w.doctor,
        None,
    );
    let dt = access_token(&doc);
    // By _id and by code: B's record is returned, B's history must say so.
    let by_id = format!("/fhir/Observation?_id={}", w.b.obs_lab);
    let r = w.fhir(&dt, &by_id).expect_status(200).json();
    check_eq!(r["entry"].as_array().map(Vec::len), Some(1), "{by_id}: {r}");
    w.fhir(&dt, "/fhir/Observation?code=http://loinc.org|8867-4")
        .expect_status(200);
    let doc_searches = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["client_id"] == doc_app.client_id.as_str() && e["action"] == "search")
            .count()
    };
    let audit_b = super::audit_until(&w, &w.b.id, &|e| doc_searches(e) >= 2);
    let events_b = audit_b["events"].as_array().cloned().unwrap_or_default();
    check!(
        doc_searches(&events_b) >= 2,
        "B's access history lacks the practitioner's _id and code searches: {audit_b}"
    );
    let audit_a = super::audit_until(&w, &w.a.id, &|e| doc_searches(e) >= 1);
    check!(
        doc_searches(audit_a["events"].as_array().map_or(&[][..], Vec::as_slice)) >= 1,
        "A's access history lacks the code search that returned A's vital sign: {audit_a}"
    );

    // A's token asking for B's records gets none; B's history stays clean.
    let t = w.login(&pat_app, PATIENT_SCOPE, &w.alice, None);
    let at = access_token(&t);
    let q = format!("/fhir/Observation?patient={}", w.b.id);
    let r = w.fhir(&at, &q).expect_status(200).json();
    check!(r["entry"].as_array().is_none_or(Vec::is_empty), "{q}: {r}");
    let pat_searches = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["client_id"] == pat_app.client_id.as_str() && e["action"] == "search")
            .count()
    };
    // Written after the response: wait until A's history has it, then look at B's.
    super::audit_until(&w, &w.a.id, &|e| pat_searches(e) >= 1);
    let audit_b = super::audit_until(&w, &w.b.id, &|_| true);
    let events_b = audit_b["events"].as_array().cloned().unwrap_or_default();
    check_eq!(
        pat_searches(&events_b),
        0,
        "A's query naming B wrote B's access history: {audit_b}"
    );
}

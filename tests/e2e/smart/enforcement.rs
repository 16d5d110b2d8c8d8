//! What a token may do on `/fhir`: patient/ scopes reach the patient's
//! compartment plus the non-compartment resources it references; user/
//! scopes the user's practice; types not granted are 403; includes of types
//! not granted are left out; v1 scopes work; the audit log records it.

use std::collections::BTreeSet;

use serde_json::json;

use flare_tests::fhir::{expect_outcome, pairs, search_all, Method};
use flare_tests::{check, check_eq};

use super::launch::{registered_scope, PATIENT_SCOPE};
use super::{expect_401, expect_403_scope, World};
use crate::context::{Ctx, LAKESHORE};
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    (
        "smart::enforcement::patient_scopes_compartment_and_references",
        patient_scopes,
    ),
    ("smart::enforcement::types_not_granted_and_includes", not_granted),
    ("smart::enforcement::user_scopes_practice", user_scopes),
];

fn set(items: &[&String]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Patient A's token: A's records and what they reference, nothing of B's.
fn patient_scopes(ctx: &Ctx) {
    let w = World::new(ctx, "auth-enf");
    let app = w.app("enfapp", "none", &registered_scope());
    let t = w.login(&app, PATIENT_SCOPE, &w.alice, None);
    let at = t["access_token"].as_str().unwrap_or_default().to_string();
    let a = &w.a;

    for path in [
        format!("/fhir/Patient/{}", a.id),
        format!("/fhir/Observation/{}", a.obs_lab),
        format!("/fhir/Observation/{}", a.obs_vital),
        format!("/fhir/Condition/{}", a.condition),
        format!("/fhir/Encounter/{}", a.encounter),
        format!("/fhir/MedicationRequest/{}", a.med_request),
        format!("/fhir/Practitioner/{}", w.practitioner),
        format!("/fhir/Organization/{}", w.organization),
        format!("/fhir/Medication/{}", w.medication),
    ] {
        w.fhir(&at, &path).expect_status(200);
    }
    // A Practitioner only B's records reference is not A's to see.
    expect_outcome(
        &w.fhir(&at, &format!("/fhir/Practitioner/{}", w.practitioner_b)),
        404,
    );
    // Unknown ids stay 404.
    expect_outcome(&w.fhir(&at, "/fhir/Observation/no-such-obs"), 404);

    let c = w.as_token(&at);
    let obs = search_all(&c, None, "Observation", &[], Method::Get);
    check_eq!(
        obs.id_set(),
        set(&[&a.obs_lab, &a.obs_vital]),
        "Observation search without parameters"
    );
    let obs = search_all(
        &c,
        None,
        "Observation",
        &pairs(&[("patient", &format!("Patient/{}", a.id))]),
        Method::Post,
    );
    check_eq!(obs.id_set(), set(&[&a.obs_lab, &a.obs_vital]), "POST _search");
    let pats = search_all(&c, None, "Patient", &[], Method::Get);
    check_eq!(pats.id_set(), set(&[&a.id]), "Patient search");
    let inc = search_all(
        &c,
        None,
        "MedicationRequest",
        &pairs(&[("patient", &a.id), ("_include", "MedicationRequest:medication")]),
        Method::Get,
    );
    check_eq!(inc.id_set(), set(&[&a.med_request]));
    check_eq!(
        inc.includes,
        vec![format!("Medication/{}", w.medication)],
        "_include medication"
    );
    let rev = search_all(
        &c,
        None,
        "Observation",
        &pairs(&[("patient", &a.id), ("_revinclude", "Provenance:target")]),
        Method::Get,
    );
    check_eq!(
        rev.includes,
        vec![format!("Provenance/{}", a.provenance)],
        "_revinclude Provenance"
    );
    // A's care team names B: a multi-patient record, not A's alone.
    expect_outcome(&w.fhir(&at, &format!("/fhir/CareTeam/{}", a.care_team)), 404);
    let ct = search_all(&c, None, "CareTeam", &pairs(&[("patient", &a.id)]), Method::Get);
    check!(ct.ids().is_empty(), "CareTeam naming B: {:?}", ct.ids());

    // No token, a garbage token, a token with a wrong scheme: 401.
    expect_401(&w.client.get(&format!("/fhir/Patient/{}", a.id)).no_auth().send());
    expect_401(&w.fhir("garbage-token", &format!("/fhir/Patient/{}", a.id)));
    expect_401(
        &w.client
            .get(&format!("/fhir/Patient/{}", a.id))
            .no_auth()
            .header("Authorization", &format!("Basic {at}"))
            .send(),
    );
    // The admin token still works as the operator.
    w.client
        .get(&format!("/fhir/Patient/{}", w.b.id))
        .practice(&w.key)
        .send()
        .expect_status(200);

    // SMART v1 scopes.
    let t1 = w.login(
        &app,
        "launch/patient patient/Patient.read patient/Observation.read",
        &w.alice,
        None,
    );
    let at1 = t1["access_token"].as_str().unwrap_or_default();
    w.fhir(at1, &format!("/fhir/Observation/{}", a.obs_vital))
        .expect_status(200);
    let obs = search_all(&w.as_token(at1), None, "Observation", &[], Method::Get);
    check_eq!(
        obs.id_set(),
        set(&[&a.obs_lab, &a.obs_vital]),
        "v1 read scope search"
    );
    expect_403_scope(&w.fhir(at1, &format!("/fhir/Condition/{}", a.condition)));

    // The audit log names the token and the reads.
    let has_all = |events: &[serde_json::Value]| {
        ["token", "read", "search"].iter().all(|action| {
            events
                .iter()
                .any(|e| e["action"] == *action && e["client_id"] == app.client_id.as_str())
        })
    };
    let audit = super::audit_until(&w, &a.id, &has_all);
    let events = audit["events"].as_array().cloned().unwrap_or_default();
    for action in ["token", "read", "search"] {
        check!(
            events
                .iter()
                .any(|e| e["action"] == action && e["client_id"] == app.client_id.as_str()),
            "no {action} event of the app in the audit: {audit}"
        );
    }
    check!(
        events.iter().all(|e| e["patient"].is_null()
            || e["patient"] == a.id.as_str()
            || e["patient"] == format!("Patient/{}", a.id).as_str()),
        "audit for patient A lists another patient's events: {audit}"
    );
    let times: Vec<String> = events
        .iter()
        .filter_map(|e| e["at"].as_str().map(str::to_string))
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    check_eq!(times, sorted, "audit events are not newest first");

    // The Provenance of A's record (found by _revinclude above) can be read
    // and searched, as the US Core kit does with the patient's token.
    let prov = search_all(&c, None, "Provenance", &[], Method::Get);
    check_eq!(prov.id_set(), set(&[&a.provenance]), "Provenance search");
    w.fhir(&at, &format!("/fhir/Provenance/{}", a.provenance))
        .expect_status(200);
}

/// Types not granted: 403 insufficient_scope on read and search; includes
/// of types not granted are left out of the Bundle.
fn not_granted(ctx: &Ctx) {
    let w = World::new(ctx, "auth-enf-ng");
    let app = w.app("ngapp", "none", &registered_scope());
    let t = w.login(
        &app,
        "launch/patient patient/Patient.rs patient/MedicationRequest.rs patient/Observation.rs",
        &w.alice,
        None,
    );
    let at = t["access_token"].as_str().unwrap_or_default().to_string();
    let a = &w.a;
    for path in [
        format!("/fhir/Condition/{}", a.condition),
        format!("/fhir/Condition?patient={}", a.id),
        format!("/fhir/Encounter?patient={}", a.id),
        format!("/fhir/Medication/{}", w.medication),
        format!("/fhir/Practitioner/{}", w.practitioner),
    ] {
        expect_403_scope(&w.fhir(&at, &path));
    }
    let r = w
        .client
        .post(
            "/fhir/Condition/_search",
            "application/x-www-form-urlencoded",
            format!("patient={}", a.id),
        )
        .token(&at)
        .send();
    expect_403_scope(&r);
    let c = w.as_token(&at);
    let inc = search_all(
        &c,
        None,
        "MedicationRequest",
        &pairs(&[("patient", &a.id), ("_include", "MedicationRequest:medication")]),
        Method::Get,
    );
    check_eq!(inc.id_set(), set(&[&a.med_request]));
    check!(
        inc.includes.is_empty(),
        "Medication included without patient/Medication: {:?}",
        inc.includes
    );
    let rev = search_all(
        &c,
        None,
        "Observation",
        &pairs(&[("patient", &a.id), ("_revinclude", "Provenance:target")]),
        Method::Get,
    );
    check!(
        rev.includes.is_empty(),
        "Provenance revincluded without patient/Provenance: {:?}",
        rev.includes
    );
    let inc = search_all(
        &c,
        None,
        "MedicationRequest",
        &pairs(&[("_include", "MedicationRequest:medication")]),
        Method::Get,
    );
    check!(
        inc.includes.is_empty(),
        "Medication included without its scope: {:?}",
        inc.includes
    );
}

/// A practitioner's user/ token: both patients of the practice, nothing of
/// another practice.
fn user_scopes(ctx: &Ctx) {
    let w = World::new(ctx, "auth-enf-user");
    let lake_id = "auth-enf-user-lake";
    w.client.import_ok(
        LAKESHORE,
        &json!({"resourceType": "Patient", "id": lake_id, "name": [{"family": "Lakeonly"}]}),
    );
    let app = w.app("userapp", "client_secret_basic", &registered_scope());
    let t = w.login(
        &app,
        "openid fhirUser user/Patient.rs user/Observation.rs user/Practitioner.rs",
        &w.doctor,
        None,
    );
    check!(
        t.get("patient").is_none() || t["patient"].is_null(),
        "no patient context was asked for: {t}"
    );
    let at = t["access_token"].as_str().unwrap_or_default().to_string();
    let c = w.as_token(&at);
    let pats = search_all(&c, None, "Patient", &[], Method::Get);
    check_eq!(pats.id_set(), set(&[&w.a.id, &w.b.id]), "user/ Patient search");
    w.fhir(&at, &format!("/fhir/Observation/{}", w.b.obs_lab))
        .expect_status(200);
    w.fhir(&at, &format!("/fhir/Practitioner/{}", w.practitioner_b))
        .expect_status(200);
    expect_outcome(&w.fhir(&at, &format!("/fhir/Patient/{lake_id}")), 404);
    let other = search_all(&c, None, "Patient", &pairs(&[("_id", lake_id)]), Method::Get);
    check!(
        other.matches.is_empty(),
        "another practice's patient found: {:?}",
        other.matches
    );
    // The practice header cannot move a token to another practice.
    let r = w
        .client
        .get(&format!("/fhir/Patient/{lake_id}"))
        .token(&at)
        .practice(LAKESHORE)
        .send();
    check!(
        r.status == 404 || r.status == 403,
        "X-Flare-Practice moved a user token: {} {}",
        r.status,
        r.body
    );
    expect_403_scope(&w.fhir(&at, &format!("/fhir/Condition/{}", w.a.condition)));
}

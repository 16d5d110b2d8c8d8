//! `Patient/[id]/$everything` and `DocumentReference/$docref` against the
//! real Worker: what a patient's token, a practitioner's `user/` token and
//! a backend service's `system/` token get (nothing outside the caller's
//! visibility: not the other patient's records, not a record shared with
//! them, not another practice's), paging by `next` links, the refusals, the
//! access history, the CapabilityStatement's declarations, and every answer
//! valid by the FHIR R4 JSON schema.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use flare_tests::fhir::{entry_key, entry_mode, expect_outcome, link};
use flare_tests::http::Resp;
use flare_tests::oauth::{assertion_claims, rsa_jwk, rsa_key, sign_rs384};
use flare_tests::schema::fhir_errors;
use flare_tests::{check, check_eq};

use crate::context::Ctx;
use crate::smart::backend::{backend_app, cc};
use crate::smart::{access_token, audit_until, expect_403_scope, token_ok, World};
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("operations::everything_and_docref_by_token_kind", by_token_kind),
    ("operations::capability_statement_declares_them", capability),
];

/// Asserts that a response body, when JSON, is a valid FHIR R4 resource.
fn valid(r: &Resp) {
    if let Ok(body) = serde_json::from_str::<Value>(&r.body) {
        let errors = fhir_errors(&body);
        check!(
            errors.is_empty(),
            "{} answered invalid FHIR R4: {errors:?}",
            r.request
        );
    }
}

/// Follows `next` links from `path` with `token`: every page 200 and valid;
/// the `Type/id` of every match, in order.
fn follow(w: &World, token: &str, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(path.to_string());
    let mut pages = 0;
    while let Some(p) = next.take() {
        let r = w.fhir(token, &p).expect_status(200);
        valid(&r);
        let b = r.json();
        check_eq!(b["type"], "searchset", "{p}");
        for e in b["entry"].as_array().into_iter().flatten() {
            if entry_mode(e) == "match" {
                let (t, id) = entry_key(e);
                out.push(format!("{t}/{id}"));
            }
        }
        next = link(&b, "next").map(|u| {
            let origin = w.client.origin.clone();
            u.strip_prefix(&origin).unwrap_or(&u).to_string()
        });
        pages += 1;
        assert!(pages < 100, "{path}: paging does not end");
    }
    out
}

/// The distinct entries of `v`, checking there are no duplicates.
fn distinct(what: &str, v: &[String]) -> BTreeSet<String> {
    let s: BTreeSet<String> = v.iter().cloned().collect();
    check_eq!(s.len(), v.len(), "{what}: duplicates in {v:?}");
    s
}

fn doc(id: &str, patient: &str, status: &str, code: &str, extra: Value) -> Value {
    let mut d = json!({"resourceType": "DocumentReference", "id": id, "status": status,
        "type": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}]});
    if let (Some(d), Some(x)) = (d.as_object_mut(), extra.as_object()) {
        d.extend(x.clone());
    }
    d
}

fn put(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    json!({"request": {"method": "PUT", "url": url}, "resource": resource})
}

fn by_token_kind(ctx: &Ctx) {
    let w = World::new(ctx, "ops-e2e");
    let (a, b) = (w.a.id.clone(), w.b.id.clone());
    let docs = [
        doc(
            "ops-doc-a-period",
            &a,
            "current",
            "34133-9",
            json!({"date": "2023-06-01T00:00:00Z",
            "context": {"period": {"start": "2020-01-01", "end": "2020-02-01"}}}),
        ),
        doc(
            "ops-doc-a-dated",
            &a,
            "current",
            "11506-3",
            json!({"date": "2022-05-05T10:00:00Z"}),
        ),
        doc(
            "ops-doc-a-old",
            &a,
            "superseded",
            "34133-9",
            json!({"date": "2023-01-01T00:00:00Z"}),
        ),
        doc(
            "ops-doc-b",
            &b,
            "current",
            "34133-9",
            json!({"date": "2022-05-05T10:00:00Z"}),
        ),
    ];
    w.client.import_ok(
        &w.key,
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": docs.into_iter().map(put).collect::<Vec<_>>()}),
    );
    // Another practice's patient, with the same kind of records.
    let other = World::new(ctx, "ops-e2e-other");

    // A's everything: the patient, their records, what those reference; not
    // the CareTeam that also names B, nothing of B's.
    let mut everything_a: BTreeSet<String> = [
        format!("Patient/{a}"),
        format!("Observation/{}", w.a.obs_lab),
        format!("Observation/{}", w.a.obs_vital),
        format!("Condition/{}", w.a.condition),
        format!("Encounter/{}", w.a.encounter),
        format!("MedicationRequest/{}", w.a.med_request),
        format!("Provenance/{}", w.a.provenance),
        format!("Medication/{}", w.medication),
        format!("Practitioner/{}", w.practitioner),
        format!("Organization/{}", w.organization),
    ]
    .into_iter()
    .collect();
    for d in ["ops-doc-a-period", "ops-doc-a-dated", "ops-doc-a-old"] {
        everything_a.insert(format!("DocumentReference/{d}"));
    }
    let mut everything_b: BTreeSet<String> = [
        format!("Patient/{b}"),
        format!("Observation/{}", w.b.obs_lab),
        format!("Observation/{}", w.b.obs_vital),
        format!("Condition/{}", w.b.condition),
        format!("Encounter/{}", w.b.encounter),
        format!("MedicationRequest/{}", w.b.med_request),
        format!("Provenance/{}", w.b.provenance),
        format!("Medication/{}", w.medication),
        format!("Practitioner/{}", w.practitioner_b),
        format!("Organization/{}", w.organization),
    ]
    .into_iter()
    .collect();
    everything_b.insert("DocumentReference/ops-doc-b".into());

    // The three kinds of token.
    let app = w.app(
        "opsapp",
        "none",
        "launch/patient openid fhirUser patient/*.rs user/*.rs",
    );
    let patient = access_token(&w.login(
        &app,
        "launch/patient openid fhirUser patient/*.rs",
        &w.alice,
        None,
    ));
    let user = access_token(&w.login(&app, "openid fhirUser user/*.rs", &w.doctor, None));
    let back = backend_app(
        &w,
        "opsback",
        json!({"keys": [rsa_jwk(rsa_key(0), "ops-1", "RS384")]}),
        "system/*.rs",
    );
    let system = access_token(&token_ok(&cc(
        &w,
        "system/*.rs",
        sign_rs384(
            rsa_key(0),
            "ops-1",
            &assertion_claims(&back.client_id, &w.token_url(), 240),
        ),
    )));
    let narrow = access_token(&w.login(
        &app,
        "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs",
        &w.alice,
        None,
    ));

    let path_a = format!("/fhir/Patient/{a}/$everything");
    let path_b = format!("/fhir/Patient/{b}/$everything");
    for (who, token) in [("patient", &patient), ("user", &user), ("system", &system)] {
        let got = follow(&w, token, &format!("{path_a}?_count=4"));
        check_eq!(distinct(who, &got), everything_a, "{who}: {path_a}");
        check_eq!(
            got.first().cloned(),
            Some(format!("Patient/{a}")),
            "{who}: the Patient first"
        );
    }
    for (who, token) in [("user", &user), ("system", &system)] {
        check_eq!(
            distinct(who, &follow(&w, token, &path_b)),
            everything_b,
            "{who}: {path_b}"
        );
    }
    // Outside the caller's visibility: 404, as a read of that Patient.
    for (who, token, path) in [
        ("patient", &patient, path_b.clone()),
        (
            "patient",
            &patient,
            format!("/fhir/Patient/{}/$everything", other.a.id),
        ),
        ("user", &user, format!("/fhir/Patient/{}/$everything", other.a.id)),
        (
            "system",
            &system,
            format!("/fhir/Patient/{}/$everything", other.a.id),
        ),
        (
            "system",
            &system,
            "/fhir/Patient/ops-nobody/$everything".to_string(),
        ),
    ] {
        let r = w.fhir(token, &path);
        valid(&r);
        expect_outcome(&r, 404);
        check!(
            !r.body.contains(&w.b.family) && !r.body.contains(&w.b.obs_lab),
            "{who}: {path} shows B's records: {}",
            r.body
        );
    }
    // Types the scopes do not grant are left out; naming only such types is 403.
    let narrow_got = distinct("narrow", &follow(&w, &narrow, &path_a));
    let want: BTreeSet<String> = everything_a
        .iter()
        .filter(|k| k.starts_with("Patient/") || k.starts_with("Observation/"))
        .cloned()
        .collect();
    check_eq!(narrow_got, want, "patient/Patient.rs patient/Observation.rs");
    let r = w.fhir(&narrow, &format!("{path_a}?_type=Encounter"));
    valid(&r);
    expect_403_scope(&r);
    let typed = follow(
        &w,
        &patient,
        &format!("{path_a}?_type=Medication,MedicationRequest"),
    );
    check_eq!(
        distinct("_type", &typed),
        [
            format!("Medication/{}", w.medication),
            format!("MedicationRequest/{}", w.a.med_request)
        ]
        .into_iter()
        .collect::<BTreeSet<_>>(),
        "_type=Medication,MedicationRequest"
    );
    check!(
        follow(&w, &patient, &format!("{path_a}?_since=2100-01-01T00:00:00Z")).is_empty(),
        "_since in the future"
    );
    for q in ["_type=Nonsense", "_since=2024-01-01", "_count=0", "_cursor=1"] {
        let r = w.fhir(&patient, &format!("{path_a}?{q}"));
        valid(&r);
        expect_outcome(&r, 400);
    }

    // $docref: the patient's current documents; care dates; type; POST.
    let docref = |token: &str, q: &str| -> BTreeSet<String> {
        distinct(
            q,
            &follow(&w, token, &format!("/fhir/DocumentReference/$docref?{q}")),
        )
    };
    let set =
        |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|i| format!("DocumentReference/{i}")).collect() };
    for (who, token) in [("patient", &patient), ("user", &user), ("system", &system)] {
        check_eq!(
            docref(token, &format!("patient={a}")),
            set(&["ops-doc-a-period", "ops-doc-a-dated"]),
            "{who}"
        );
        check_eq!(
            docref(token, &format!("patient={a}&start=2020-01-15&end=2020-01-20")),
            set(&["ops-doc-a-period"]),
            "{who}: care dates in the context period"
        );
        check_eq!(
            docref(token, &format!("patient={a}&start=2022&_count=1")),
            set(&["ops-doc-a-dated", "ops-doc-a-old"]),
            "{who}: by date, paged"
        );
        check_eq!(
            docref(
                token,
                &format!("patient={a}&type=http://loinc.org|34133-9&start=1900")
            ),
            set(&["ops-doc-a-period", "ops-doc-a-old"]),
            "{who}: by type"
        );
    }
    check_eq!(
        docref(&patient, &format!("patient={b}")),
        set(&[]),
        "a patient asking for B's documents"
    );
    check_eq!(
        docref(&system, &format!("patient={b}")),
        set(&["ops-doc-b"]),
        "system: B's documents"
    );
    check_eq!(
        docref(&system, &format!("patient={}", other.a.id)),
        set(&[]),
        "another practice's patient"
    );
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueId": a},
        {"name": "end", "valueDate": "2020-01-10"}
    ]});
    let r = w
        .client
        .post(
            "/fhir/DocumentReference/$docref",
            "application/fhir+json",
            params.to_string(),
        )
        .token(&patient)
        .send()
        .expect_status(200);
    valid(&r);
    let posted: Vec<String> = r.json()["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("{}/{}", entry_key(e).0, entry_key(e).1))
        .collect();
    check_eq!(
        posted,
        vec!["DocumentReference/ops-doc-a-period".to_string()],
        "POST Parameters"
    );
    let r = w.fhir(
        &patient,
        &format!("/fhir/DocumentReference/$docref?patient={a}&on-demand=true"),
    );
    valid(&r);
    let body = r.expect_status(200).json();
    let modes: Vec<String> = body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| entry_mode(e).to_string())
        .collect();
    check_eq!(modes, vec!["outcome".to_string()], "on-demand=true: {body}");
    for q in [
        "",
        "patient=x&start=soon",
        "patient=x&profile=http://example.org/p",
    ] {
        let r = w.fhir(&patient, &format!("/fhir/DocumentReference/$docref?{q}"));
        valid(&r);
        expect_outcome(&r, 400);
    }
    let r = w
        .client
        .post(
            "/fhir/DocumentReference/$docref",
            "application/fhir+json",
            "{\"resourceType\":\"Bundle\"}".to_string(),
        )
        .token(&patient)
        .send();
    valid(&r);
    expect_outcome(&r, 400);
    let r = w.fhir(&narrow, &format!("/fhir/DocumentReference/$docref?patient={a}"));
    valid(&r);
    expect_403_scope(&r);

    // The access history: the system token's $everything of B names B only.
    let audit = audit_until(&w, &b, &|events| {
        events.iter().any(|e| {
            e["client_id"] == back.client_id.as_str()
                && e["what"].as_str().is_some_and(|x| x.contains("$everything"))
        })
    });
    let events = audit["events"].as_array().cloned().unwrap_or_default();
    check!(
        events.iter().any(|e| e["client_id"] == back.client_id.as_str()
            && e["action"] == "search"
            && e["what"]
                .as_str()
                .is_some_and(|x| x.starts_with(&format!("Patient/{b}/$everything")))),
        "B's access history lacks the backend's $everything: {audit}"
    );
    let audit_a = super::smart::audit_of(&w, &a);
    let leaked = audit_a["events"].as_array().into_iter().flatten().any(|e| {
        e["client_id"] == back.client_id.as_str()
            && e["what"]
                .as_str()
                .is_some_and(|x| x.starts_with(&format!("Patient/{b}/$everything")))
    });
    check!(!leaked, "B's $everything was written into A's history: {audit_a}");
}

fn capability(ctx: &Ctx) {
    let r = ctx
        .client
        .get("/fhir/metadata")
        .no_auth()
        .send()
        .expect_status(200);
    valid(&r);
    let cs = r.json();
    let resources = cs["rest"][0]["resource"].as_array().cloned().unwrap_or_default();
    let ops = |t: &str| -> Vec<(String, String)> {
        resources
            .iter()
            .filter(|r| r["type"] == t)
            .flat_map(|r| r["operation"].as_array().cloned().unwrap_or_default())
            .map(|o| {
                (
                    o["name"].as_str().unwrap_or_default().to_string(),
                    o["definition"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    check!(
        ops("DocumentReference").contains(&(
            "docref".into(),
            "http://hl7.org/fhir/us/core/OperationDefinition/docref".into()
        )),
        "DocumentReference operations {:?}",
        ops("DocumentReference")
    );
    check!(
        ops("Patient").contains(&(
            "everything".into(),
            "http://hl7.org/fhir/OperationDefinition/Patient-everything".into()
        )),
        "Patient operations {:?}",
        ops("Patient")
    );
}

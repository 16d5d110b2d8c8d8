//! `Patient/[id]/$everything` and `DocumentReference/$docref` over SQLite:
//! what each kind of caller gets (a patient token, a practitioner's `user/`
//! token, a `system/` token, the operator), every refusal with its status,
//! `$everything`'s paging to the end, the access history each answer
//! writes, the CapabilityStatement's declarations, and every answer
//! validated against the FHIR R4 JSON schema.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use common::{admin, call, import_puts, HttpRequest, HttpResponse, TestApp, NOW};
use flare_edge::store::auth::{insert_grant, insert_tokens, Grant, NewAccessToken};
use flare_edge::store::{Database, Statement};
use flare_tests::schema::fhir_errors;

const A: &str = "op-pat-a";
const B: &str = "op-pat-b";
const CCD: &str = "http://loinc.org|34133-9";

fn obs(id: &str, patient: &str, extra: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")}, "effectiveDateTime": "2024-02-03"});
    if let (Some(o), Some(x)) = (o.as_object_mut(), extra.as_object()) {
        o.extend(x.clone());
    }
    o
}

fn doc(id: &str, patient: &str, status: &str, code: &str, dates: Value) -> Value {
    let mut d = json!({"resourceType": "DocumentReference", "id": id, "status": status,
        "type": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}]});
    if let (Some(d), Some(x)) = (d.as_object_mut(), dates.as_object()) {
        d.extend(x.clone());
    }
    d
}

/// The records: A's and B's, what they reference, a record in both
/// compartments, a Group, and another practice's patient.
fn data() -> Vec<Value> {
    let mut v = vec![
        json!({"resourceType": "Patient", "id": A, "name": [{"family": "Alpha"}]}),
        json!({"resourceType": "Patient", "id": B, "name": [{"family": "Beta"}]}),
        json!({"resourceType": "Practitioner", "id": "op-prac", "name": [{"family": "Doc"}]}),
        json!({"resourceType": "Practitioner", "id": "op-prac-b", "name": [{"family": "OnlyB"}]}),
        json!({"resourceType": "Practitioner", "id": "op-prac-nobody", "name": [{"family": "Nobody"}]}),
        json!({"resourceType": "Organization", "id": "op-org", "name": "Clinic"}),
        json!({"resourceType": "Location", "id": "op-loc", "name": "Room 1"}),
        json!({"resourceType": "Medication", "id": "op-med",
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1049502"}]}}),
        json!({"resourceType": "Encounter", "id": "op-enc-a", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{A}")},
            "participant": [{"individual": {"reference": "Practitioner/op-prac"}}],
            "location": [{"location": {"reference": "Location/op-loc"}}],
            "serviceProvider": {"reference": "Organization/op-org"}}),
        json!({"resourceType": "MedicationRequest", "id": "op-mr-a", "status": "active", "intent": "order",
            "medicationReference": {"reference": "Medication/op-med"},
            "subject": {"reference": format!("Patient/{A}")}}),
        json!({"resourceType": "Encounter", "id": "op-enc-b", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{B}")},
            "participant": [{"individual": {"reference": "Practitioner/op-prac-b"}}]}),
        // In both compartments: neither patient's record alone.
        obs(
            "op-obs-shared",
            A,
            json!({"performer": [{"reference": format!("Patient/{B}")}]}),
        ),
        obs("op-obs-b", B, json!({})),
        // A one-member Group: a roster, never a patient's record.
        json!({"resourceType": "Group", "id": "op-group", "type": "person", "actual": true,
            "member": [{"entity": {"reference": format!("Patient/{A}")}}]}),
        // A's documents: one with a care period, one dated only, one superseded.
        doc(
            "op-doc-period",
            A,
            "current",
            "34133-9",
            json!({"date": "2023-06-01T00:00:00Z",
            "context": {"period": {"start": "2020-01-01", "end": "2020-02-01"}}}),
        ),
        doc(
            "op-doc-dated",
            A,
            "current",
            "11506-3",
            json!({"date": "2022-05-05T10:00:00Z"}),
        ),
        doc(
            "op-doc-old",
            A,
            "superseded",
            "34133-9",
            json!({"date": "2023-01-01T00:00:00Z"}),
        ),
        doc(
            "op-doc-b",
            B,
            "current",
            "34133-9",
            json!({"date": "2022-05-05T10:00:00Z"}),
        ),
    ];
    for i in 0..7 {
        v.push(obs(&format!("op-obs-a{i}"), A, json!({})));
    }
    v
}

/// A's everything, as the test built it.
fn everything_of_a() -> BTreeSet<String> {
    let mut s: BTreeSet<String> = [
        format!("Patient/{A}"),
        "Encounter/op-enc-a".into(),
        "MedicationRequest/op-mr-a".into(),
        "Practitioner/op-prac".into(),
        "Organization/op-org".into(),
        "Location/op-loc".into(),
        "Medication/op-med".into(),
        "DocumentReference/op-doc-period".into(),
        "DocumentReference/op-doc-dated".into(),
        "DocumentReference/op-doc-old".into(),
    ]
    .into_iter()
    .collect();
    s.extend((0..7).map(|i| format!("Observation/op-obs-a{i}")));
    s
}

fn everything_of_b() -> BTreeSet<String> {
    [
        format!("Patient/{B}"),
        "Encounter/op-enc-b".into(),
        "Practitioner/op-prac-b".into(),
        "Observation/op-obs-b".into(),
        "DocumentReference/op-doc-b".into(),
    ]
    .into_iter()
    .collect()
}

struct World {
    app: TestApp,
}

impl World {
    fn new() -> World {
        let app = common::app();
        import_puts(&app, "northside", data());
        import_puts(
            &app,
            "lakeshore",
            [
                json!({"resourceType": "Patient", "id": "op-pat-l", "name": [{"family": "Lake"}]}),
                obs("op-obs-l", "op-pat-l", json!({})),
            ],
        );
        for meta in [
            json!({"client_id": "operations-app", "client_name": "Operations app", "redirect_uris": ["https://app.example/cb"],
                "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
                "scope": "launch/patient openid fhirUser patient/*.rs user/*.rs"}),
            json!({"client_id": "operations-backend", "client_name": "Operations backend", "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://backend.example/jwks", "scope": "system/*.rs"}),
        ] {
            let r = call(&app, admin("POST", "/register").body(meta.to_string()));
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
            let id = meta["client_id"].as_str().unwrap();
            assert_eq!(
                call(&app, admin("POST", &format!("/admin/clients/{id}/approve"))).status,
                200
            );
        }
        World { app }
    }

    /// Mints a token (`patient`: the launch patient).
    fn token(&self, name: &str, practice: &str, scope: &str, patient: Option<&str>) -> String {
        let token = format!("op-token-{name}-0123456789abcdef");
        let backend = scope.starts_with("system/");
        let client = if backend {
            "operations-backend"
        } else {
            "operations-app"
        };
        let grant_id = (!backend).then(|| {
            let g = Grant {
                grant_id: format!("op-grant-{name}"),
                practice: practice.into(),
                client_id: client.into(),
                user_id: None,
                patient: patient.map(str::to_string),
                scope: scope.into(),
                context: json!({}),
                session_hash: None,
                created_at: NOW,
                last_used_at: None,
                revoked_at: None,
            };
            pollster::block_on(insert_grant(self.app.auth_db(), &g)).unwrap();
            g.grant_id
        });
        let row = NewAccessToken {
            token_hash: flare_edge::crypto::sha256_b64(&token),
            client_id: client.into(),
            grant_id,
            family_id: None,
            practice: practice.into(),
            user_id: None,
            patient: patient.map(str::to_string),
            scope: scope.into(),
            issued_at: NOW,
            expires_at: NOW + 3_600_000,
            context: json!({}),
        };
        pollster::block_on(insert_tokens(self.app.auth_db(), &row, None, false)).unwrap();
        token
    }

    fn send(&self, req: HttpRequest) -> HttpResponse {
        let r = call(&self.app, req);
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if !body.is_null() {
            let errors = fhir_errors(&body);
            assert!(errors.is_empty(), "{} is not valid FHIR R4: {errors:?}", body);
        }
        if r.status >= 400 {
            assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
        }
        r
    }

    /// The last access-history rows: (action, patient, what, status).
    fn audits_since(&self, after: i64) -> Vec<(String, Option<String>, String, i64)> {
        let rows = pollster::block_on(self.app.auth_db().query(Statement::new(
            "SELECT action, patient, what, status FROM audit_events WHERE event_id > ?1 AND client_id IS NOT NULL ORDER BY event_id",
            vec![after.into()],
        )))
        .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_string(),
                    r[1].as_str().map(str::to_string),
                    r[2].as_str().unwrap().to_string(),
                    r[3].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn last_event(&self) -> i64 {
        let rows = pollster::block_on(self.app.auth_db().query(Statement::new(
            "SELECT COALESCE(MAX(event_id), 0) FROM audit_events",
            vec![],
        )))
        .unwrap();
        rows[0][0].as_i64().unwrap()
    }
}

fn bearer(token: &str, method: &str, path: &str) -> HttpRequest {
    common::request(method, path).header("authorization", &format!("Bearer {token}"))
}

/// Who: a token, or the operator in a practice.
#[derive(Clone, Copy)]
enum Who<'a> {
    Token(&'a str),
    Operator(&'a str),
}

fn req(who: Who<'_>, method: &str, path: &str) -> HttpRequest {
    match who {
        Who::Token(t) => bearer(t, method, path),
        Who::Operator(practice) => admin(method, path).header("x-flare-practice", practice),
    }
}

/// Follows `next` links from `path`; every page 200. The resources
/// (`Type/id`, in order) and the number of pages.
fn pages(w: &World, who: Who<'_>, path: &str) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut next = Some(path.to_string());
    let mut n = 0;
    while let Some(p) = next.take() {
        let r = w.send(req(who, "GET", &p));
        assert_eq!(r.status, 200, "{p}: {}", String::from_utf8_lossy(&r.body));
        let b = r.json_body();
        assert_eq!(b["type"], "searchset");
        for e in b["entry"].as_array().into_iter().flatten() {
            if e["search"]["mode"] == "match" {
                let res = &e["resource"];
                let key = format!(
                    "{}/{}",
                    res["resourceType"].as_str().unwrap(),
                    res["id"].as_str().unwrap()
                );
                assert_eq!(e["fullUrl"], format!("{}/fhir/{key}", common::BASE));
                out.push(key);
            }
        }
        next = b["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(|u| u.strip_prefix(common::BASE).unwrap().to_string());
        n += 1;
        assert!(n < 200, "paging does not end");
    }
    (out, n)
}

fn set(v: &[String]) -> BTreeSet<String> {
    let s: BTreeSet<String> = v.iter().cloned().collect();
    assert_eq!(s.len(), v.len(), "duplicates in {v:?}");
    s
}

#[test]
fn everything_is_what_each_caller_may_see_of_the_patient() {
    let w = World::new();
    let pa = w.token("pa", "northside", "patient/*.rs", Some(A));
    let user = w.token("user", "northside", "user/*.rs", None);
    let system = w.token("system", "northside", "system/*.rs", None);
    let path_a = format!("/fhir/Patient/{A}/$everything");
    let path_b = format!("/fhir/Patient/{B}/$everything");

    // The patient, the operator, a practitioner and a backend service see all of A's.
    for who in [
        Who::Token(&pa),
        Who::Operator("northside"),
        Who::Token(&user),
        Who::Token(&system),
    ] {
        let (got, _) = pages(&w, who, &path_a);
        assert_eq!(set(&got), everything_of_a());
        // The Patient first, then by type.
        assert_eq!(got[0], format!("Patient/{A}"));
    }
    for who in [Who::Operator("northside"), Who::Token(&user), Who::Token(&system)] {
        assert_eq!(set(&pages(&w, who, &path_b).0), everything_of_b());
    }
    // Another patient, an unknown one, another practice's: 404.
    for (who, path) in [
        (Who::Token(&pa), path_b.as_str()),
        (Who::Token(&pa), "/fhir/Patient/op-pat-l/$everything"),
        (Who::Token(&user), "/fhir/Patient/nobody/$everything"),
        (Who::Token(&system), "/fhir/Patient/op-pat-l/$everything"),
        (Who::Operator("lakeshore"), path_a.as_str()),
    ] {
        let r = w.send(req(who, "GET", path));
        assert_eq!(r.status, 404, "{path}: {}", String::from_utf8_lossy(&r.body));
    }
    let lake = w.token("lake", "lakeshore", "system/*.rs", None);
    assert_eq!(w.send(bearer(&lake, "GET", &path_a)).status, 404);
    let lake_own = pages(&w, Who::Token(&lake), "/fhir/Patient/op-pat-l/$everything").0;
    assert_eq!(
        set(&lake_own),
        ["Patient/op-pat-l".to_string(), "Observation/op-obs-l".to_string()].into()
    );

    // Types the scopes do not grant are left out; naming only such types is 403.
    let narrow = w.token(
        "narrow",
        "northside",
        "patient/Patient.rs patient/Observation.rs",
        Some(A),
    );
    let (got, _) = pages(&w, Who::Token(&narrow), &path_a);
    let want: BTreeSet<String> = everything_of_a()
        .into_iter()
        .filter(|k| k.starts_with("Patient/") || k.starts_with("Observation/"))
        .collect();
    assert_eq!(set(&got), want);
    assert_eq!(
        w.send(bearer(&narrow, "GET", &format!("{path_a}?_type=Encounter")))
            .status,
        403
    );
    let (only_obs, _) = pages(
        &w,
        Who::Token(&narrow),
        &format!("{path_a}?_type=Observation,Encounter"),
    );
    assert_eq!(only_obs.len(), 7);
    assert!(only_obs.iter().all(|k| k.starts_with("Observation/")));

    // _type and _since.
    let (typed, _) = pages(
        &w,
        Who::Token(&pa),
        &format!("{path_a}?_type=Medication,MedicationRequest"),
    );
    assert_eq!(
        set(&typed),
        [
            "Medication/op-med".to_string(),
            "MedicationRequest/op-mr-a".to_string()
        ]
        .into()
    );
    w.app.platform.now.set(NOW + 60_000);
    import_puts(&w.app, "northside", [obs("op-obs-late", A, json!({}))]);
    let (late, _) = pages(
        &w,
        Who::Token(&pa),
        &format!("{path_a}?_since=2026-01-01T00:00:30Z"),
    );
    assert_eq!(late, vec!["Observation/op-obs-late".to_string()]);
    let (all_since, _) = pages(
        &w,
        Who::Token(&pa),
        &format!("{path_a}?_since=2025-12-31T00:00:00Z"),
    );
    assert_eq!(all_since.len(), everything_of_a().len() + 1);
}

#[test]
fn everything_pages_to_the_end_without_gaps_or_duplicates() {
    let w = World::new();
    let pa = w.token("pa", "northside", "patient/*.rs", Some(A));
    let want = everything_of_a();
    for count in [1, 2, 3, 5, 16, 17, 50] {
        let (got, n) = pages(
            &w,
            Who::Token(&pa),
            &format!("/fhir/Patient/{A}/$everything?_count={count}"),
        );
        assert_eq!(set(&got), want, "_count={count}");
        assert_eq!(n, want.len().div_ceil(count).max(1), "_count={count}: pages");
    }
    // The first page of several has no total; one that holds everything does.
    let first = w
        .send(bearer(
            &pa,
            "GET",
            &format!("/fhir/Patient/{A}/$everything?_count=2"),
        ))
        .json_body();
    assert!(first["total"].is_null());
    let whole = w
        .send(bearer(&pa, "GET", &format!("/fhir/Patient/{A}/$everything")))
        .json_body();
    assert_eq!(whole["total"], want.len());
    // A record imported between pages does not shift what remains.
    let mut got = Vec::new();
    let mut next = Some(format!(
        "/fhir/Patient/{A}/$everything?_count=4&_type=Observation"
    ));
    let mut imported = false;
    while let Some(p) = next.take() {
        let b = w.send(bearer(&pa, "GET", &p)).json_body();
        for e in b["entry"].as_array().into_iter().flatten() {
            got.push(e["resource"]["id"].as_str().unwrap().to_string());
        }
        if !imported {
            import_puts(&w.app, "northside", [obs("op-obs-z-new", A, json!({}))]);
            imported = true;
        }
        next = b["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(|u| u.strip_prefix(common::BASE).unwrap().to_string());
    }
    let mut want_obs: Vec<String> = (0..7).map(|i| format!("op-obs-a{i}")).collect();
    want_obs.push("op-obs-z-new".into());
    assert_eq!(got, want_obs);
}

#[test]
fn everything_refuses_what_it_cannot_answer() {
    let w = World::new();
    let pa = w.token("pa", "northside", "patient/*.rs", Some(A));
    let base = format!("/fhir/Patient/{A}/$everything");
    for (query, status) in [
        ("_type=Nonsense", 400),
        ("_type=Group", 400),
        ("_type=", 400),
        ("_count=0", 400),
        ("_count=ten", 400),
        ("_since=2024-01-01", 400),
        ("_since=yesterday", 400),
        ("_cursor=12", 400),
        ("_cursor=12~NotAType", 400),
        ("start=2020-01-01", 400),
        ("_format=xml", 406),
    ] {
        let r = w.send(bearer(&pa, "GET", &format!("{base}?{query}")));
        assert_eq!(r.status, status, "{query}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        w.send(bearer(&pa, "GET", "/fhir/Patient/a%20b/$everything"))
            .status,
        400
    );
    assert_eq!(w.send(bearer(&pa, "POST", &base)).status, 405);
    assert_eq!(w.send(common::request("GET", &base)).status, 401);
    // A token that grants no resource type learns nothing, not even whether
    // a patient exists: the same 403 for its own patient, another one and
    // one that does not exist.
    let none = w.token("none", "northside", "launch/patient openid fhirUser", Some(A));
    for who in [A, B, "nobody-here"] {
        let r = w.send(bearer(&none, "GET", &format!("/fhir/Patient/{who}/$everything")));
        assert_eq!(r.status, 403, "{who}: {}", String::from_utf8_lossy(&r.body));
    }
}

#[test]
fn everything_and_docref_write_the_access_history_of_what_they_returned() {
    let w = World::new();
    let pa = w.token("pa", "northside", "patient/*.rs", Some(A));
    let system = w.token("system", "northside", "system/*.rs", None);

    let from = w.last_event();
    pages(
        &w,
        Who::Token(&pa),
        &format!("/fhir/Patient/{A}/$everything?_count=4"),
    );
    let events = w.audits_since(from);
    assert_eq!(events.len(), everything_of_a().len().div_ceil(4));
    for (action, patient, what, status) in &events {
        assert_eq!(
            (action.as_str(), patient.as_deref(), *status),
            ("search", Some(A), 200)
        );
        assert!(what.starts_with(&format!("Patient/{A}/$everything")), "{what}");
    }

    // B's everything by a backend service names B; the shared record is
    // nobody's alone, so A is not named.
    let from = w.last_event();
    pages(&w, Who::Token(&system), &format!("/fhir/Patient/{B}/$everything"));
    let patients: BTreeSet<Option<String>> = w.audits_since(from).into_iter().map(|e| e.1).collect();
    assert_eq!(patients, [Some(B.to_string())].into());

    // A refusal is recorded with its status, for the token's patient.
    let from = w.last_event();
    assert_eq!(
        w.send(bearer(&pa, "GET", &format!("/fhir/Patient/{B}/$everything")))
            .status,
        404
    );
    assert_eq!(
        w.audits_since(from),
        vec![(
            "search".into(),
            Some(A.to_string()),
            format!("Patient/{B}/$everything"),
            404
        )]
    );

    let from = w.last_event();
    let r = w.send(bearer(
        &system,
        "GET",
        &format!("/fhir/DocumentReference/$docref?patient={B}"),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(
        w.audits_since(from),
        vec![(
            "search".into(),
            Some(B.to_string()),
            format!("DocumentReference/$docref?patient={B}"),
            200
        )]
    );
}

fn docref_ids(w: &World, who: Who<'_>, query: &str) -> BTreeSet<String> {
    let (got, _) = pages(w, who, &format!("/fhir/DocumentReference/$docref?{query}"));
    got.iter()
        .map(|k| {
            let (t, id) = k.split_once('/').unwrap();
            assert_eq!(t, "DocumentReference");
            id.to_string()
        })
        .collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn docref_answers_the_patients_documents_under_the_callers_visibility() {
    let w = World::new();
    let pa = w.token("pa", "northside", "patient/*.rs", Some(A));
    let user = w.token("user", "northside", "user/*.rs", None);
    let system = w.token("system", "northside", "system/*.rs", None);
    let current_a = ids(&["op-doc-period", "op-doc-dated"]);
    for who in [
        Who::Token(&pa),
        Who::Token(&user),
        Who::Token(&system),
        Who::Operator("northside"),
    ] {
        // No dates: the current documents.
        assert_eq!(docref_ids(&w, who, &format!("patient={A}")), current_a);
        assert_eq!(docref_ids(&w, who, &format!("patient=Patient/{A}")), current_a);
        // Care dates: the context period when there is one, else the date.
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&start=2020-01-15&end=2020-01-20")),
            ids(&["op-doc-period"])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&start=2019-06-01&end=2020-01-01")),
            ids(&["op-doc-period"])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&end=2019-12-31")),
            ids(&[])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&start=2020-02-02&end=2022-12-31")),
            ids(&["op-doc-dated"])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&start=2022")),
            ids(&["op-doc-dated", "op-doc-old"])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&start=2000&end=2030")),
            ids(&["op-doc-period", "op-doc-dated", "op-doc-old"])
        );
        // The type, as system|code or code.
        let ccd = form_urlencoded::byte_serialize(CCD.as_bytes()).collect::<String>();
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&type={ccd}")),
            ids(&["op-doc-period"])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&type=11506-3")),
            ids(&["op-doc-dated"])
        );
        assert_eq!(
            docref_ids(&w, who, &format!("patient={A}&type={ccd}&start=2000")),
            ids(&["op-doc-period", "op-doc-old"])
        );
    }
    // Another patient's documents: a patient token finds none (as its search would).
    assert_eq!(docref_ids(&w, Who::Token(&pa), &format!("patient={B}")), ids(&[]));
    assert_eq!(
        docref_ids(&w, Who::Token(&system), &format!("patient={B}")),
        ids(&["op-doc-b"])
    );
    // An unknown patient, another practice's: an empty Bundle.
    assert_eq!(docref_ids(&w, Who::Token(&system), "patient=nobody"), ids(&[]));
    let lake = w.token("lake", "lakeshore", "system/*.rs", None);
    assert_eq!(
        docref_ids(&w, Who::Token(&lake), &format!("patient={A}")),
        ids(&[])
    );
    // Paging by next links to the operation itself.
    let (paged, n) = pages(
        &w,
        Who::Token(&pa),
        &format!("/fhir/DocumentReference/$docref?patient={A}&start=2000&_count=1"),
    );
    assert_eq!((set(&paged).len(), n), (3, 3));
    let first = w
        .send(bearer(
            &pa,
            "GET",
            &format!("/fhir/DocumentReference/$docref?patient={A}&start=2000&_count=1"),
        ))
        .json_body();
    let next = first["link"][1]["url"].as_str().unwrap();
    assert!(
        next.starts_with(&format!(
            "{}/fhir/DocumentReference/$docref?patient={A}&start=2000&_count=1&_cursor=",
            common::BASE
        )),
        "{next}"
    );

    // on-demand=true: no stored document is on-demand; the outcome says why.
    let b = w
        .send(bearer(
            &pa,
            "GET",
            &format!("/fhir/DocumentReference/$docref?patient={A}&on-demand=true"),
        ))
        .json_body();
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["search"]["mode"], "outcome");
    assert!(entries[0]["resource"]["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .contains("on demand"));
    assert_eq!(
        docref_ids(&w, Who::Token(&pa), &format!("patient={A}&on-demand=false")),
        current_a
    );
}

#[test]
fn docref_by_post_and_its_refusals() {
    let w = World::new();
    let pa = w.token("pa", "northside", "patient/*.rs", Some(A));
    let post = |ct: &str, body: &str| {
        w.send(
            bearer(&pa, "POST", "/fhir/DocumentReference/$docref")
                .header("content-type", ct)
                .body(body.to_string()),
        )
    };
    let matched = |r: &HttpResponse| -> BTreeSet<String> {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json_body()["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "patient", "valueId": A},
        {"name": "start", "valueDateTime": "2000-01-01T00:00:00Z"},
        {"name": "type", "valueCoding": {"system": "http://loinc.org", "code": "34133-9"}}
    ]});
    assert_eq!(
        matched(&post("application/fhir+json", &params.to_string())),
        ids(&["op-doc-period", "op-doc-old"])
    );
    assert_eq!(
        matched(&post(
            "application/x-www-form-urlencoded",
            &format!("patient={A}&end=2020-01-10")
        )),
        ids(&["op-doc-period"])
    );
    for (ct, body, status) in [
        ("application/fhir+json", "{not json", 400),
        ("application/fhir+json", r#"{"resourceType": "Bundle"}"#, 400),
        (
            "application/fhir+json",
            r#"{"resourceType": "Parameters", "parameter": [{"name": "patient"}]}"#,
            400,
        ),
        (
            "application/fhir+json",
            r#"{"resourceType": "Parameters", "parameter": [{"name": "start", "valueDate": "2020"}]}"#,
            400,
        ),
        ("application/fhir+json", r#"{"resourceType": "Parameters"}"#, 400),
        ("text/plain", "patient=x", 415),
    ] {
        let r = post(ct, body);
        assert_eq!(
            r.status,
            status,
            "{ct} {body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    for (query, status) in [
        ("", 400),
        ("start=2020", 400),
        ("patient=a%20b", 400),
        ("patient=x&start=soon", 400),
        ("patient=x&end=2020-13-01", 400),
        ("patient=x&start=2021&end=2020", 400),
        ("patient=x&on-demand=perhaps", 400),
        ("patient=x&profile=http://example.org/p", 400),
        ("patient=x&subject=Patient/x", 400),
        ("patient=x&type=a|b,c|d", 400),
        ("patient=x&_cursor=zz", 400),
    ] {
        let r = w.send(bearer(
            &pa,
            "GET",
            &format!("/fhir/DocumentReference/$docref?{query}"),
        ));
        assert_eq!(r.status, status, "{query}: {}", String::from_utf8_lossy(&r.body));
    }
    // Without DocumentReference in the scopes: 403, as its search.
    let no_docs = w.token(
        "nodocs",
        "northside",
        "patient/Patient.rs patient/Observation.rs",
        Some(A),
    );
    assert_eq!(
        w.send(bearer(
            &no_docs,
            "GET",
            &format!("/fhir/DocumentReference/$docref?patient={A}")
        ))
        .status,
        403
    );
    assert_eq!(
        w.send(bearer(&pa, "DELETE", "/fhir/DocumentReference/$docref"))
            .status,
        405
    );
}

#[test]
fn the_capability_statement_declares_both_operations() {
    let w = World::new();
    let r = w.send(common::request("GET", "/fhir/metadata"));
    let cs = r.json_body();
    let resources = cs["rest"][0]["resource"].as_array().unwrap();
    let ops = |t: &str| -> Vec<(String, String)> {
        let r = resources.iter().find(|r| r["type"] == t).unwrap();
        r["operation"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                (
                    o["name"].as_str().unwrap().into(),
                    o["definition"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert!(ops("DocumentReference").contains(&(
        "docref".into(),
        "http://hl7.org/fhir/us/core/OperationDefinition/docref".into()
    )));
    assert!(ops("Patient").contains(&(
        "everything".into(),
        "http://hl7.org/fhir/OperationDefinition/Patient-everything".into()
    )));
    assert!(ops("Patient").iter().any(|o| o.0 == "export"));
}

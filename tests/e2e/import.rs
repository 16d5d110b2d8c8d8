//! Trial group 5: the import API. Invalid input is rejected whole (400 with
//! one issue per bad entry, nothing written); transactions honour `POST` and
//! `urn:uuid:` references; ndjson works; re-imports bump `meta.versionId`.

use serde_json::{json, Value};

use flare_tests::fhir::{entries, entry_key, entry_mode, expect_outcome, pairs, search_all, Method};
use flare_tests::{check, check_eq};

use crate::context::{Ctx, NORTHSIDE};
use crate::TrialFn;

/// The trials of this group.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("import::invalid_input_is_rejected_whole", invalid_input),
    (
        "import::transaction_post_with_urn_uuid_references",
        transaction_urns,
    ),
    (
        "import::transaction_with_a_bad_entry_writes_nothing",
        transaction_atomic,
    ),
    ("import::ndjson_and_versions", ndjson_and_versions),
    ("import::collection_urn_full_urls_are_rewritten", collection_urns),
    (
        "import::a_practice_is_named_one_way_and_removed_with_its_records",
        practice_removal,
    ),
];

/// Asserts `Type/id` is not stored in northside.
fn not_stored(ctx: &Ctx, key: &str) {
    let r = ctx.client.get(&format!("/fhir/{key}")).send();
    check_eq!(r.status, 404, "{key} must not have been written: {}", r.body);
}

/// The `expression` values of an OperationOutcome's issues.
fn expressions(oo: &Value) -> Vec<String> {
    oo["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["expression"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

fn collection(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "collection",
           "entry": entries.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>()})
}

/// Bad JSON, unknown types, bad ids and malformed references: 400, the bad
/// entries named, and the valid entries of the same request not written.
fn invalid_input(ctx: &Ctx) {
    let c = &ctx.client;
    let import_raw = |body: &str| {
        c.post(
            &format!("/admin/import?practice={NORTHSIDE}"),
            "application/fhir+json",
            body.to_string(),
        )
        .send()
    };
    expect_outcome(
        &import_raw(r#"{"resourceType": "Patient", "id": "e5-badjson""#),
        400,
    );
    not_stored(ctx, "Patient/e5-badjson");
    expect_outcome(&import_raw("not json at all"), 400);
    expect_outcome(
        &c.import(NORTHSIDE, &json!({"resourceType": "Patientx", "id": "e5-x"})),
        400,
    );
    expect_outcome(
        &c.import(NORTHSIDE, &json!({"resourceType": "Patient", "id": "e5 bad id"})),
        400,
    );
    expect_outcome(
        &c.import(NORTHSIDE, &json!({"resourceType": "Patient", "id": "e5_bad_id"})),
        400,
    );
    expect_outcome(&c.import(NORTHSIDE, &json!({"id": "e5-notype"})), 400);
    expect_outcome(
        &c.import(
            NORTHSIDE,
            &json!({"resourceType": "Observation", "id": "e5-single-badref", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/has space"}}),
        ),
        400,
    );
    not_stored(ctx, "Observation/e5-single-badref");

    let valid = |id: &str| json!({"resourceType": "Patient", "id": id, "name": [{"family": "Valid"}]});
    let cases: Vec<(&str, Value)> = vec![
        (
            "unknown resourceType",
            json!({"resourceType": "NoSuchType", "id": "e5-nst"}),
        ),
        ("bad id", json!({"resourceType": "Patient", "id": "e5/bad"})),
        (
            "malformed reference",
            json!({"resourceType": "Observation", "id": "e5-badref", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": "Patient/two words"}}),
        ),
        (
            "urn reference not in the upload",
            json!({"resourceType": "Observation", "id": "e5-urnref", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": "urn:uuid:6a1c7a4e-0d7b-4a25-9a3a-9f0b6c3c2c11"}}),
        ),
    ];
    for (i, (what, bad)) in cases.iter().enumerate() {
        let ok_id = format!("e5-valid-{i}");
        let bundle = collection(vec![
            valid(&ok_id),
            bad.clone(),
            valid(&format!("e5-valid-{i}-b")),
        ]);
        let oo = expect_outcome(&c.import(NORTHSIDE, &bundle), 400);
        let ex = expressions(&oo);
        check!(
            ex.iter().any(|e| e.starts_with("Bundle.entry[1]")),
            "{what}: no issue names Bundle.entry[1]: {oo}"
        );
        check!(
            !ex.iter().any(|e| e.starts_with("Bundle.entry[0]")),
            "{what}: a valid entry is blamed: {oo}"
        );
        not_stored(ctx, &format!("Patient/{ok_id}"));
        not_stored(ctx, &format!("Patient/e5-valid-{i}-b"));
    }

    // Several bad entries: one issue each.
    let bundle = collection(vec![
        valid("e5-multi-0"),
        cases[0].1.clone(),
        valid("e5-multi-2"),
        cases[2].1.clone(),
    ]);
    let oo = expect_outcome(&c.import(NORTHSIDE, &bundle), 400);
    let ex = expressions(&oo);
    for i in [1, 3] {
        check!(
            ex.iter().any(|e| e.starts_with(&format!("Bundle.entry[{i}]"))),
            "no issue for entry {i}: {oo}"
        );
    }
    not_stored(ctx, "Patient/e5-multi-0");
    not_stored(ctx, "Patient/e5-multi-2");

    // ndjson: a bad line rejects the whole upload too.
    let r = c
        .post(
            &format!("/admin/import?practice={NORTHSIDE}"),
            "application/fhir+ndjson",
            format!("{}\n{{\"resourceType\": \"Patient\",\n", valid("e5-nd-ok")),
        )
        .send();
    expect_outcome(&r, 400);
    not_stored(ctx, "Patient/e5-nd-ok");

    // Importing into a practice that does not exist is refused.
    let r = c
        .post(
            "/admin/import?practice=e5-no-such-practice",
            "application/fhir+json",
            valid("e5-np").to_string(),
        )
        .send();
    check!(
        r.status == 404 || r.status == 400,
        "import into an unknown practice answered {}",
        r.status
    );
    not_stored(ctx, "Patient/e5-np");
}

/// A transaction of `POST`s whose entries reference each other by `urn:uuid:`:
/// the server assigns ids and rewrites the references to `Type/newid`.
fn transaction_urns(ctx: &Ctx) {
    let c = &ctx.client;
    let (pu, ou, mu) = (
        "urn:uuid:0c3b0e0e-5d7e-4f5e-9a55-2a4d5f1c7a01",
        "urn:uuid:0c3b0e0e-5d7e-4f5e-9a55-2a4d5f1c7a02",
        "urn:uuid:0c3b0e0e-5d7e-4f5e-9a55-2a4d5f1c7a03",
    );
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": pu, "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:e2e:tx", "value": "tx-patient-1"}],
                      "name": [{"family": "Transactionson"}]}},
        {"fullUrl": ou, "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "urn:e2e:tx", "code": "tx-obs"}]},
                      "subject": {"reference": pu}, "effectiveDateTime": "2022-02-02"}},
        {"fullUrl": mu, "request": {"method": "POST", "url": "Provenance"},
         "resource": {"resourceType": "Provenance", "recorded": "2022-02-02T10:00:00Z",
                      "target": [{"reference": ou}], "agent": [{"who": {"reference": pu}}]}},
        {"request": {"method": "PUT", "url": "Organization/e5-tx-org"},
         "resource": {"resourceType": "Organization", "id": "e5-tx-org", "name": "Tx Org"}}
    ]});
    let r = c.import_ok(NORTHSIDE, &tx);
    check_eq!(r["total"], 4, "transaction import response {r}");

    let found = search_all(
        c,
        None,
        "Patient",
        &pairs(&[("identifier", "urn:e2e:tx|tx-patient-1")]),
        Method::Get,
    );
    check_eq!(found.matches.len(), 1, "the POSTed Patient by identifier");
    let pid = found.ids()[0].clone();
    check!(
        !pu.ends_with(&pid),
        "the server should assign a new id, not reuse the urn"
    );
    let obs = search_all(
        c,
        None,
        "Observation",
        &pairs(&[("patient", &format!("Patient/{pid}"))]),
        Method::Get,
    );
    check_eq!(
        obs.matches.len(),
        1,
        "the POSTed Observation by its rewritten patient reference"
    );
    let o = &obs.resources[0];
    check_eq!(
        o["subject"]["reference"],
        format!("Patient/{pid}"),
        "rewritten subject reference"
    );
    let oid = o["id"].as_str().unwrap_or_default().to_string();

    let b = c
        .get("/fhir/Observation")
        .query(&[("_id", oid.as_str()), ("_revinclude", "Provenance:target")])
        .send()
        .expect_status(200)
        .json();
    let prov: Vec<Value> = entries(&b)
        .into_iter()
        .filter(|e| entry_mode(e) == "include")
        .collect();
    check_eq!(prov.len(), 1, "the POSTed Provenance via _revinclude: {b}");
    check_eq!(entry_key(&prov[0]).0, "Provenance");
    check_eq!(
        prov[0]["resource"]["target"][0]["reference"],
        format!("Observation/{oid}")
    );
    check_eq!(
        prov[0]["resource"]["agent"][0]["who"]["reference"],
        format!("Patient/{pid}")
    );
    c.get("/fhir/Organization/e5-tx-org").send().expect_status(200);
    let p = c
        .get(&format!("/fhir/Patient/{pid}"))
        .send()
        .expect_status(200)
        .json();
    check_eq!(p["name"][0]["family"], "Transactionson");
}

/// A transaction with one bad entry writes none of its entries.
fn transaction_atomic(ctx: &Ctx) {
    let c = &ctx.client;
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "PUT", "url": "Patient/e5-txbad-1"},
         "resource": {"resourceType": "Patient", "id": "e5-txbad-1"}},
        {"fullUrl": "urn:uuid:1c3b0e0e-5d7e-4f5e-9a55-2a4d5f1c7a01", "request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "identifier": [{"system": "urn:e2e:txbad", "value": "o1"}],
                      "subject": {"reference": "Patient/e5-txbad-1"}}},
        {"request": {"method": "PUT", "url": "Observation/e5-txbad-3"},
         "resource": {"resourceType": "Observation", "id": "e5-txbad-3", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "urn:uuid:ffffffff-0000-4000-8000-000000000000"}}}
    ]});
    let oo = expect_outcome(&c.import(NORTHSIDE, &tx), 400);
    check!(
        expressions(&oo).iter().any(|e| e.starts_with("Bundle.entry[2]")),
        "issue names Bundle.entry[2]: {oo}"
    );
    not_stored(ctx, "Patient/e5-txbad-1");
    not_stored(ctx, "Observation/e5-txbad-3");
    let found = search_all(
        c,
        None,
        "Observation",
        &pairs(&[("patient", "e5-txbad-1")]),
        Method::Get,
    );
    check_eq!(
        found.matches.len(),
        0,
        "the POSTed Observation of a rejected transaction was written"
    );

    // A PUT whose url disagrees with the resource is a bad entry too.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "PUT", "url": "Patient/e5-txbad-4"}, "resource": {"resourceType": "Patient", "id": "e5-txbad-4"}},
        {"request": {"method": "PUT", "url": "Patient/e5-txbad-5"}, "resource": {"resourceType": "Patient", "id": "e5-other"}}
    ]});
    let oo = expect_outcome(&c.import(NORTHSIDE, &tx), 400);
    check!(
        expressions(&oo).iter().any(|e| e.starts_with("Bundle.entry[1]")),
        "issue names Bundle.entry[1]: {oo}"
    );
    not_stored(ctx, "Patient/e5-txbad-4");
}

/// ndjson imports; each re-import bumps `meta.versionId` and the ETag.
fn ndjson_and_versions(ctx: &Ctx) {
    let c = &ctx.client;
    let lines = vec![
        json!({"resourceType": "Patient", "id": "e5-nd-1", "name": [{"family": "Ndjsonova"}]}),
        json!({"resourceType": "Observation", "id": "e5-nd-obs-1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
               "subject": {"reference": "Patient/e5-nd-1"}, "effectiveDateTime": "2023-01-01"}),
    ];
    let r = c.import_ndjson(NORTHSIDE, &lines).expect_status(200).json();
    check_eq!(r["total"], 2, "ndjson import response {r}");
    check_eq!(r["counts"]["Patient"], 1);
    check_eq!(r["counts"]["Observation"], 1);
    let first = c.get("/fhir/Patient/e5-nd-1").send().expect_status(200);
    let v1 = first.json();
    check_eq!(v1["meta"]["versionId"], "1", "first import is version 1");
    check_eq!(first.header("etag"), Some("W/\"1\""));
    check_eq!(v1["name"][0]["family"], "Ndjsonova");

    std::thread::sleep(std::time::Duration::from_millis(20));
    c.import_ndjson(NORTHSIDE, &lines).expect_status(200);
    let second = c.get("/fhir/Patient/e5-nd-1").send().expect_status(200);
    let v2 = second.json();
    check_eq!(v2["meta"]["versionId"], "2", "re-import is version 2");
    check_eq!(second.header("etag"), Some("W/\"2\""));
    check!(
        v2["meta"]["lastUpdated"].as_str() > v1["meta"]["lastUpdated"].as_str(),
        "lastUpdated moves forward: {} then {}",
        v1["meta"]["lastUpdated"],
        v2["meta"]["lastUpdated"]
    );
    let old = c
        .get("/fhir/Patient/e5-nd-1")
        .header("If-None-Match", "W/\"1\"")
        .send();
    check_eq!(old.status, 200, "the old ETag no longer matches");

    // A changed resource replaces the old one, in the index too.
    let mut changed = lines[1].clone();
    changed["code"]["coding"][0]["code"] = json!("29463-7");
    c.import_ndjson(NORTHSIDE, &[changed]).expect_status(200);
    let o = c
        .get("/fhir/Observation/e5-nd-obs-1")
        .send()
        .expect_status(200)
        .json();
    check_eq!(o["meta"]["versionId"], "3", "third import of the Observation");
    let by_old = search_all(
        c,
        None,
        "Observation",
        &pairs(&[("patient", "e5-nd-1"), ("code", "8867-4")]),
        Method::Get,
    );
    check_eq!(
        by_old.matches.len(),
        0,
        "the old code must no longer match after an update"
    );
    let by_new = search_all(
        c,
        None,
        "Observation",
        &pairs(&[("patient", "e5-nd-1"), ("code", "29463-7")]),
        Method::Get,
    );
    check_eq!(by_new.ids(), vec!["e5-nd-obs-1".to_string()]);

    // Client-supplied versionId and lastUpdated are server-managed.
    let mut p = lines[0].clone();
    p["meta"] = json!({"versionId": "77", "lastUpdated": "1999-01-01T00:00:00Z"});
    c.import_ok(NORTHSIDE, &p);
    let v3 = c.get("/fhir/Patient/e5-nd-1").send().expect_status(200).json();
    check_eq!(v3["meta"]["versionId"], "3");
    check!(
        v3["meta"]["lastUpdated"].as_str() != Some("1999-01-01T00:00:00Z"),
        "lastUpdated is set by the server"
    );
}

/// In a collection Bundle too, references to an entry's `urn:uuid:` fullUrl
/// become `Type/id` (the entry's own id, or one the server assigns).
fn collection_urns(ctx: &Ctx) {
    let c = &ctx.client;
    let (pu, qu) = (
        "urn:uuid:2c3b0e0e-5d7e-4f5e-9a55-2a4d5f1c7a01",
        "urn:uuid:2c3b0e0e-5d7e-4f5e-9a55-2a4d5f1c7a02",
    );
    let b = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": pu, "resource": {"resourceType": "Patient", "id": "e5-coll-p"}},
        {"fullUrl": qu, "resource": {"resourceType": "Practitioner",
                                     "identifier": [{"system": "urn:e2e:coll", "value": "pr-1"}]}},
        {"resource": {"resourceType": "Observation", "id": "e5-coll-o", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": pu}, "performer": [{"reference": qu}]}}
    ]});
    c.import_ok(NORTHSIDE, &b);
    let o = c
        .get("/fhir/Observation/e5-coll-o")
        .send()
        .expect_status(200)
        .json();
    check_eq!(
        o["subject"]["reference"],
        "Patient/e5-coll-p",
        "urn rewritten to the entry's id"
    );
    let pr = search_all(
        c,
        None,
        "Practitioner",
        &pairs(&[("identifier", "urn:e2e:coll|pr-1")]),
        Method::Get,
    );
    check_eq!(pr.matches.len(), 1, "the id-less Practitioner got an id");
    check_eq!(
        o["performer"][0]["reference"],
        format!("Practitioner/{}", pr.ids()[0]),
        "urn rewritten to the new id"
    );
    let found = search_all(
        c,
        None,
        "Observation",
        &pairs(&[("patient", "e5-coll-p")]),
        Method::Get,
    );
    check_eq!(
        found.ids(),
        vec!["e5-coll-o".to_string()],
        "searchable by the rewritten reference"
    );
}

/// The operator names a practice the same way on every route (the header, or
/// `?practice=` on `/admin`), and removes one only with its records: 409 with
/// the counts, then `?purge=true` removes them all, on real D1.
fn practice_removal(ctx: &Ctx) {
    let c = &ctx.client;
    let key = "removal-trial";
    let r = c
        .put_json(
            &format!("/admin/practices/{key}"),
            &flare_tests::practice::practice("Removal trial"),
        )
        .send();
    check_eq!(r.status, 200, "{}", r.body);
    let patient = json!({"resourceType": "Patient", "id": "rm-1", "name": [{"family": "Gone"}]});
    let r = c
        .post("/admin/import", "application/fhir+json", patient.to_string())
        .header("x-flare-practice", key)
        .send();
    check_eq!(
        r.status,
        200,
        "the header names the import's practice: {}",
        r.body
    );
    check_eq!(r.json()["practice"], key);
    let r = c
        .post(
            &format!("/admin/import?practice={NORTHSIDE}"),
            "application/fhir+json",
            patient.to_string(),
        )
        .header("x-flare-practice", key)
        .send();
    check_eq!(r.status, 400, "two practices named: {}", r.body);
    let r = c.get("/fhir/Patient/rm-1").header("x-flare-practice", key).send();
    check_eq!(r.status, 200, "{}", r.body);

    let r = c.get(&format!("/admin/practices/{key}")).send();
    check_eq!(r.status, 200, "{}", r.body);
    check_eq!(r.json()["records"]["resources"], 1);
    let r = c.delete(&format!("/admin/practices/{key}")).send();
    check_eq!(
        r.status,
        409,
        "a practice with records is not removed: {}",
        r.body
    );
    let r = c.get("/fhir/Patient/rm-1").header("x-flare-practice", key).send();
    check_eq!(r.status, 200, "nothing was removed: {}", r.body);
    let r = c.delete(&format!("/admin/practices/{key}?purge=true")).send();
    check_eq!(r.status, 200, "{}", r.body);
    check_eq!(r.json()["removed"]["resources"], 1);
    check_eq!(c.get(&format!("/admin/practices/{key}")).send().status, 404);
    let listed = c.get("/admin/practices").send().json();
    check!(
        !listed["practices"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["key"] == key),
        "the practice is no longer listed: {listed}"
    );
    // A practice made again under the same key starts empty.
    check_eq!(
        c.put_json(
            &format!("/admin/practices/{key}"),
            &flare_tests::practice::practice("Again")
        )
        .send()
        .status,
        200
    );
    let r = c.get("/fhir/Patient/rm-1").header("x-flare-practice", key).send();
    check_eq!(r.status, 404, "the purged record is gone: {}", r.body);
    check_eq!(c.delete(&format!("/admin/practices/{key}")).send().status, 200);
}

//! Which resources match: tokens, strings, references, OR/AND, `:missing`,
//! chains, empty parameters, `POST _search`.

use super::*;

pub(super) fn tokens(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    c.p1(&[("code", "8867-4")], &["o1", "o5"]);
    c.p1(&[("code", "http://loinc.org|8867-4")], &["o1", "o5"]);
    c.p1(&[("code", "urn:e2e:local|abc-local")], &["o2"]); // codes match case-insensitively
    c.p1(&[("code", "ABC-LOCAL")], &["o2"]);
    c.p1(&[("code", "|nosys-1")], &["o3"]); // |code: no system
    c.p1(&[("code", "nosys-1")], &["o3"]);
    c.p1(&[("code", "|8867-4")], &[]);
    c.p1(&[("code", "urn:e2e:local|")], &["o2"]); // system|: any code of the system
    c.p1(&[("code", "http://LOINC.org|8867-4")], &[]); // systems match exactly
    c.p1(&[("code", "http://loinc.org|8867")], &[]); // a code is not a prefix
    c.p1(&[("status:not", "final")], &["o2", "o3", "o5"]);
    c.p1(&[("code:not", "8867-4")], &["o2", "o3", "o4", "o6"]);
    c.p1(&[("category:not", "laboratory")], &["o1", "o4", "o5", "o6"]); // :not includes "no value"
    c.p1(&[("code:text", "heart")], &["o1", "o5"]); // CodeableConcept.text or Coding.display
    c.p1(&[("code:text", "BLOOD GL")], &["o3"]);
    c.p1(&[("code:text", "body")], &["o4", "o6"]);
    c.p1(&[("category", &format!("{OBS_CAT}|laboratory"))], &["o2", "o3"]);
    c.p1(&[("category", "VITAL-SIGNS")], &["o1", "o4", "o6"]);
    c.p1(&[("status", "FINAL")], &["o1", "o4", "o6"]);
    c.expect("Patient", &[("identifier", "MRN-001")], &["p1", "p3"]);
    c.expect("Patient", &[("identifier", "urn:e2e:sem|MRN-001")], &["p1"]);
    c.expect("Patient", &[("identifier", "urn:e2e:sem|")], &["p1", "p2"]);
    c.expect("Patient", &[("gender", "male"), ("family", "n")], &["p1"]);
    c.expect("Patient", &[("_id", "sem-p1,sem-p3")], &["p1", "p3"]);
    c.expect("Patient", &[("_id", "SEM-P1")], &[]); // _id matches are case-sensitive
}

pub(super) fn strings(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    let pat = |params: &[(&str, &str)], expected: &[&str]| c.expect("Patient", params, expected);
    pat(&[("family", "nunez")], &["p1"]); // accent- and case-insensitive
    pat(&[("family", "NÚ")], &["p1", "p2"]); // prefix
    pat(&[("family", "Núñez")], &["p1"]);
    pat(&[("family", "unez")], &[]); // prefix, not substring
    pat(&[("name", "nunez")], &["p1", "p3"]); // name covers family and given
    pat(&[("given", "jose")], &["p1"]);
    pat(&[("given", "JOSÉ")], &["p1"]);
    pat(&[("family:exact", "Núñez")], &["p1"]);
    pat(&[("family:exact", "nunez")], &[]); // exact: case and accents matter
    pat(&[("family:exact", "Núñ")], &[]); // exact: the whole string
    pat(&[("family:contains", "ÑEZ")], &["p1"]);
    pat(&[("family:contains", "derso")], &["p3"]);
    pat(&[("name:contains", "unez")], &["p1", "p3"]);
    pat(&[("family", "nun,ander")], &["p1", "p2", "p3"]);
    c.expect("Practitioner", &[("name", "chi")], &["pr-1"]);
}

pub(super) fn references(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    let all = ["o1", "o2", "o3", "o4", "o5", "o6"];
    let base = ctx.client.fhir_base();
    c.expect("Observation", &[("patient", "sem-p1")], &all);
    c.expect("Observation", &[("patient", "Patient/sem-p1")], &all);
    c.expect(
        "Observation",
        &[("patient", &format!("{base}/Patient/sem-p1"))],
        &all,
    );
    c.expect("Observation", &[("patient:Patient", "sem-p1")], &all);
    c.expect(
        "Observation",
        &[("patient", "sem-p1,sem-p4")],
        &["o1", "o2", "o3", "o4", "o5", "o6", "tz1", "tz2"],
    );
    c.expect("Observation", &[("patient", "sem-p3")], &[]);
    c.expect(
        "MedicationRequest",
        &[("patient", "Patient/sem-p1"), ("intent", "order")],
        &["mr-1"],
    );
    c.expect(
        "PractitionerRole",
        &[("practitioner", "Practitioner/sem-pr-1")],
        &["role-1"],
    );
    c.expect("PractitionerRole", &[("practitioner", "sem-pr-2")], &["role-2"]);
}

/// "A relative reference resolving to the same value as a specified absolute
/// URL, or vice versa, qualifies as a match" (R4 §3.1.1.4.12); a reference to
/// another server's Patient is not a reference to ours.
pub(super) fn references_absolute(ctx: &Ctx) {
    let base = ctx.client.fhir_base();
    let other = "https://other.example.org/fhir/Patient/sem-p7";
    let o = |id: &str, reference: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"},
               "subject": {"reference": reference}})
    };
    ctx.client.import_ok(
        LAKESHORE,
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "sem-p7"}},
            {"resource": o("sem-ref-local", "Patient/sem-p7")},
            {"resource": o("sem-ref-ownbase", &format!("{base}/Patient/sem-p7"))},
            {"resource": o("sem-ref-other", other)}
        ]}),
    );
    let ours = ["ref-local", "ref-ownbase"];
    let c = Cases::new(ctx);
    c.expect("Observation", &[("patient", "sem-p7")], &ours);
    c.expect("Observation", &[("patient", "Patient/sem-p7")], &ours);
    c.expect(
        "Observation",
        &[("patient", &format!("{base}/Patient/sem-p7"))],
        &ours,
    );
    c.expect("Observation", &[("patient", other)], &["ref-other"]);
}

pub(super) fn or_and(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    c.p1(&[("status", "final,amended")], &["o1", "o3", "o4", "o6"]);
    c.p1(&[("code", "8867-4,29463-7")], &["o1", "o4", "o5"]);
    c.p1(
        &[("code", "http://loinc.org|29463-7,urn:e2e:local|ABC-Local")],
        &["o2", "o4"],
    );
    c.p1(
        &[("code", "8867-4"), ("code", "http://loinc.org|8867-4")],
        &["o1", "o5"],
    );
    c.p1(
        &[("status:not", "final"), ("status:not", "cancelled")],
        &["o2", "o3"],
    );
    c.p1(&[("category", "vital-signs"), ("code", "8867-4")], &["o1"]);
    c.p1(&[("date", "eq2021-03"), ("date", "ne2021-03-04")], &["o2", "o4"]);
    c.p1(&[("date", "eb2021-03-05,gt2021-12-31")], &["o1", "o5", "o6"]);
    c.p1(
        &[
            ("date", "ge2021-03-01"),
            ("date", "lt2021-03-04"),
            ("status", "preliminary,final"),
        ],
        &["o2", "o4"],
    );
    c.expect(
        "MedicationRequest",
        &[
            ("patient", "sem-p1"),
            ("intent", "order,plan"),
            ("status", "active,completed"),
        ],
        &["mr-1", "mr-2"],
    );
}

pub(super) fn missing(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    c.p1(&[("category:missing", "true")], &["o5"]);
    c.p1(&[("category:missing", "false")], &["o1", "o2", "o3", "o4", "o6"]);
    c.expect(
        "Patient",
        &[("birthdate:missing", "true"), ("_id", "sem-p1,sem-p2,sem-p3")],
        &["p3"],
    );
    c.expect(
        "Patient",
        &[("birthdate:missing", "false"), ("_id", "sem-p1,sem-p2,sem-p3")],
        &["p1", "p2"],
    );
}

pub(super) fn chained(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    let role = |params: &[(&str, &str)], expected: &[&str]| c.expect("PractitionerRole", params, expected);
    role(&[("practitioner.name", "okonkwo")], &["role-1"]);
    role(&[("practitioner.name", "OKO")], &["role-1"]);
    role(&[("practitioner.name", "ok")], &["role-1", "role-2"]);
    role(&[("practitioner.name", "zzz")], &[]);
    role(
        &[("practitioner.identifier", &format!("{NPI}|1234567894"))],
        &["role-2"],
    );
    role(&[("practitioner.identifier", "1234567893")], &["role-1"]);
    role(&[("practitioner:Practitioner.name", "chidi")], &["role-1"]);
}

/// "Empty parameters are not an error - they are just ignored by the server" (R4 §3.1.1.3).
pub(super) fn empty_parameters(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    c.p1(&[("code", "")], &["o1", "o2", "o3", "o4", "o5", "o6"]);
    c.p1(&[("date", ""), ("status", "final")], &["o1", "o4", "o6"]);
    c.expect("Patient", &[("_id", "sem-p1"), ("family", "")], &["p1"]);
}

/// `POST _search` takes parameters from the URL and the form body together.
pub(super) fn post_search(ctx: &Ctx) {
    load(ctx);
    let r = ctx
        .client
        .post(
            "/fhir/Observation/_search?patient=sem-p1",
            "application/x-www-form-urlencoded",
            "code=8867-4&status=final",
        )
        .practice(LAKESHORE)
        .send()
        .expect_status(200)
        .json();
    let ids: BTreeSet<String> = flare_tests::fhir::entries(&r)
        .iter()
        .map(|e| flare_tests::fhir::entry_key(e).1)
        .collect();
    check_eq!(
        ids,
        ["sem-o1".to_string()].into_iter().collect::<BTreeSet<_>>(),
        "query and form combined: {r}"
    );
    let form = search_all(
        &ctx.client,
        Some(LAKESHORE),
        "Observation",
        &pairs(&[("patient", "sem-p1"), ("date", "ge2021-03-04T05:15:30-05:00")]),
        Method::Post,
    );
    let get = run(
        ctx,
        "Observation",
        &[("patient", "sem-p1"), ("date", "ge2021-03-04T05:15:30-05:00")],
    );
    check_eq!(
        form.ids(),
        get.ids(),
        "a '+'-free offset date by form and by query"
    );
    check_eq!(form.id_set().len(), 6);
}

//! Trial 7: practices are isolated. A resource imported only into lakeshore
//! is neither readable nor searchable from northside (the default practice).

use serde_json::json;

use flare_tests::fhir::{entries, expect_outcome, pairs, search_all, Method};
use flare_tests::{check, check_eq};

use crate::context::{Ctx, LAKESHORE, NORTHSIDE};

/// Trial: reads and searches from northside do not see lakeshore's data.
pub fn practices_do_not_see_each_other(ctx: &Ctx) {
    let c = &ctx.client;
    c.import_ok(LAKESHORE, &json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "iso-lake-1", "gender": "other",
                      "identifier": [{"system": "urn:e2e:iso", "value": "iso-1"}],
                      "name": [{"family": "Isolakeshore", "given": ["Ivy"]}]}},
        {"resource": {"resourceType": "Observation", "id": "iso-lake-obs-1", "status": "final",
                      "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                                "code": "vital-signs"}]}],
                      "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                      "subject": {"reference": "Patient/iso-lake-1"}, "effectiveDateTime": "2024-04-04"}}
    ]}));

    c.get("/fhir/Patient/iso-lake-1")
        .practice(LAKESHORE)
        .send()
        .expect_status(200);
    c.get("/fhir/Observation/iso-lake-obs-1")
        .practice(LAKESHORE)
        .send()
        .expect_status(200);
    expect_outcome(&c.get("/fhir/Patient/iso-lake-1").practice(NORTHSIDE).send(), 404);
    expect_outcome(&c.get("/fhir/Patient/iso-lake-1").send(), 404);
    expect_outcome(&c.get("/fhir/Observation/iso-lake-obs-1").send(), 404);

    let searches: Vec<(&str, Vec<(String, String)>)> = vec![
        ("Patient", pairs(&[("_id", "iso-lake-1")])),
        ("Patient", pairs(&[("family", "Isolakeshore")])),
        ("Patient", pairs(&[("identifier", "urn:e2e:iso|iso-1")])),
        ("Observation", pairs(&[("patient", "iso-lake-1")])),
        (
            "Observation",
            pairs(&[("patient", "Patient/iso-lake-1"), ("category", "vital-signs")]),
        ),
        ("Observation", pairs(&[("_id", "iso-lake-obs-1")])),
    ];
    for (rtype, params) in &searches {
        let lake = search_all(c, Some(LAKESHORE), rtype, params, Method::Get);
        check_eq!(lake.matches.len(), 1, "lakeshore {rtype} {params:?}");
        for practice in [Some(NORTHSIDE), None] {
            let north = search_all(c, practice, rtype, params, Method::Get);
            check!(
                north.matches.is_empty(),
                "northside sees lakeshore's data: {rtype} {params:?} → {:?}",
                north.matches
            );
            let mut req = c
                .get(&format!("/fhir/{rtype}"))
                .query(params)
                .query(&[("_summary", "count")]);
            if let Some(p) = practice {
                req = req.practice(p);
            }
            let count = req.send().expect_status(200).json();
            check_eq!(count["total"], 0, "northside count of {rtype} {params:?}");
        }
    }
    // _revinclude and _include do not cross practices either.
    c.import_ok(
        LAKESHORE,
        &json!({"resourceType": "Provenance", "id": "iso-lake-prov-1",
        "recorded": "2024-04-04T00:00:00Z", "target": [{"reference": "Observation/iso-north-obs-1"}],
        "agent": [{"who": {"reference": "Practitioner/x"}}]}),
    );
    c.import_ok(
        NORTHSIDE,
        &json!({"resourceType": "Observation", "id": "iso-north-obs-1", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Patient/iso-north-1"}}),
    );
    let b = c
        .get("/fhir/Observation?_id=iso-north-obs-1&_revinclude=Provenance:target")
        .send()
        .expect_status(200)
        .json();
    check_eq!(
        entries(&b).len(),
        1,
        "a lakeshore Provenance is revincluded in a northside search: {b}"
    );

    // Chains and _include do not cross practices: the role is in northside,
    // its Practitioner only in lakeshore.
    c.import_ok(
        LAKESHORE,
        &json!({"resourceType": "Practitioner", "id": "iso-lake-pr",
        "name": [{"family": "Isoprac"}]}),
    );
    c.import_ok(
        NORTHSIDE,
        &json!({"resourceType": "PractitionerRole", "id": "iso-north-role",
        "practitioner": {"reference": "Practitioner/iso-lake-pr"}}),
    );
    let chained = search_all(
        c,
        None,
        "PractitionerRole",
        &pairs(&[("practitioner.name", "isoprac")]),
        Method::Get,
    );
    check!(
        chained.matches.is_empty(),
        "a northside chain matched a lakeshore Practitioner: {:?}",
        chained.matches
    );
    let inc = search_all(
        c,
        None,
        "PractitionerRole",
        &pairs(&[
            ("_id", "iso-north-role"),
            ("_include", "PractitionerRole:practitioner"),
        ]),
        Method::Get,
    );
    check_eq!(inc.matches.len(), 1);
    check!(
        inc.includes.is_empty(),
        "a northside _include returned lakeshore data: {:?}",
        inc.includes
    );
}

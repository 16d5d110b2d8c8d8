//! Date prefixes and precisions, Periods, time zones, `_lastUpdated`.

use std::time::Duration;

use super::*;

pub(super) fn dates(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    let d = |v: &str, expected: &[&str]| c.p1(&[("date", v)], expected);
    d("2021-03-04", &["o1", "o6"]); // eq: the day contains the value
    d("eq2021-03", &["o1", "o2", "o4", "o6"]);
    d("eq2021", &["o1", "o2", "o3", "o4", "o6"]);
    d("eq2020", &[]);
    d("ne2021-03", &["o3", "o5"]);
    d("ne2020", &["o1", "o2", "o3", "o4", "o5", "o6"]);
    d("gt2021-03-04", &["o2", "o3", "o4", "o5"]); // extends after the day
    d("lt2021-03-04", &["o2", "o3", "o4", "o5"]); // extends before the day
    d("gt2021-03-04T10:15:30Z", &["o2", "o3", "o4", "o5", "o6"]);
    d("lt2021-03-04T10:15:30Z", &["o2", "o3", "o4", "o5", "o6"]);
    d("le2021-03-01", &["o3", "o5"]);
    d("ge2021-03-09", &["o2", "o3", "o4", "o5"]);
    d("ge2021-04", &["o3", "o5"]);
    d("gt2021-03-10", &["o3", "o4", "o5"]); // the Period ends on the 10th
    d("lt2021-03-02", &["o2", "o3", "o4", "o5"]); // the Period starts on the 1st
    d("sa2021-02", &["o1", "o2", "o4", "o6"]); // starts after February
    d("sa2020", &["o1", "o2", "o3", "o4", "o6"]); // o5 starts 2020-12-31T23:00Z
    d("eb2021-03-05", &["o1", "o6"]); // ends before March 5
    d("2021-03-04T10:15:30Z", &["o1"]); // second precision
    d("2021-03-04T05:15:30-05:00", &["o1"]); // the same instant in another zone
    d("2021-03-04T10:15Z", &["o1"]); // minute precision
    d("gt2021-03-04T10:15Z", &["o2", "o3", "o4", "o5", "o6"]);
    d("ap1990", &[]);
    let ap = run(
        ctx,
        "Observation",
        &[("patient", "sem-p1"), ("date", "ap2021-03-04")],
    )
    .id_set();
    check!(
        ap.contains("sem-o1") && ap.contains("sem-o6"),
        "ap2021-03-04 must find o1 and o6: {ap:?}"
    );
}

pub(super) fn date_zones(ctx: &Ctx) {
    load(ctx);
    let c = Cases::new(ctx);
    let d =
        |v: &str, expected: &[&str]| c.expect("Observation", &[("patient", "sem-p4"), ("date", v)], expected);
    d("2021-05-31T23:00:00Z", &["tz1"]);
    d("2021-06-01T01:00:00+02:00", &["tz1"]);
    d("ge2021-05-31T23:00:00Z", &["tz1"]);
    d("lt2021-05-31T23:00:00Z", &["tz2"]);
    d("eb2021-05-31T23:00:00Z", &["tz2"]);
    d("gt2021-05-31T22:59:59Z", &["tz1"]); // tz2 (…:59.500) lies inside that second
    d("2021-05-31T22:59:59Z", &["tz2"]);
    d("2021-05-31", &["tz1", "tz2"]); // days are UTC days here
}

pub(super) fn last_updated(ctx: &Ctx) {
    let c = &ctx.client;
    let lu = |id: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"},
               "subject": {"reference": "Patient/sem-p5"}})
    };
    c.import_ok(LAKESHORE, &lu("sem-lu-1"));
    let l1 = c
        .get("/fhir/Observation/sem-lu-1")
        .practice(LAKESHORE)
        .send()
        .json()["meta"]["lastUpdated"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    c.import_ok(LAKESHORE, &lu("sem-lu-2"));
    let l2 = c
        .get("/fhir/Observation/sem-lu-2")
        .practice(LAKESHORE)
        .send()
        .json()["meta"]["lastUpdated"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    check!(l2 > l1, "lastUpdated {l1} then {l2}");
    let cases = Cases::new(ctx);
    let q = |v: &str, expected: &[&str]| {
        cases.expect(
            "Observation",
            &[("patient", "sem-p5"), ("_lastUpdated", v)],
            expected,
        )
    };
    q(&format!("gt{l1}"), &["lu-2"]);
    q(&format!("le{l1}"), &["lu-1"]);
    q(&format!("ge{l2}"), &["lu-2"]);
    q(&format!("lt{l2}"), &["lu-1"]);
    q(&l1, &["lu-1"]);
    q(&format!("ge{}", &l1[..10]), &["lu-1", "lu-2"]);
    q(&format!("lt{}", &l1[..10]), &[]);
    q(&format!("{l1},{l2}"), &["lu-1", "lu-2"]);
    let order = |sort: &str| run(ctx, "Observation", &[("patient", "sem-p5"), ("_sort", sort)]).ids();
    check_eq!(order("_lastUpdated"), vec!["sem-lu-1", "sem-lu-2"]);
    check_eq!(order("-_lastUpdated"), vec!["sem-lu-2", "sem-lu-1"]);
}

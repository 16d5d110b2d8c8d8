//! Trial group 4: error statuses and conditional reads. Every error body is
//! an OperationOutcome (checked by [`expect_outcome`]).

use serde_json::json;

use flare_tests::fhir::{entries, entry_mode, expect_outcome};
use flare_tests::{check, check_eq};

use crate::context::{Ctx, NORTHSIDE};
use crate::TrialFn;

/// The trials of this group.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("errors::unauthorized_without_or_with_a_bad_token", unauthorized),
    ("errors::read_not_found_bad_id_and_conditional_read", read_errors),
    (
        "errors::search_parameter_errors_and_lenient_handling",
        search_errors,
    ),
    ("errors::writes_405_and_xml_406", methods_and_formats),
    ("errors::if_none_match_uses_weak_comparison", if_none_match_weak),
];

/// 401 without a token (with `WWW-Authenticate`) and with a wrong one.
fn unauthorized(ctx: &Ctx) {
    let c = &ctx.client;
    for path in [
        "/fhir/Patient/example",
        "/fhir/Patient?name=x",
        "/fhir/Observation?patient=x",
        "/admin/practices",
    ] {
        let r = c.get(path).no_auth().send();
        if path.starts_with("/fhir") {
            expect_outcome(&r, 401);
        } else {
            check_eq!(r.status, 401, "{}", r.request);
        }
        let www = r.header("www-authenticate").unwrap_or_default();
        check!(
            www.starts_with("Bearer"),
            "{}: WWW-Authenticate {www:?}",
            r.request
        );

        let r = c.get(path).token("not-the-admin-token").send();
        check_eq!(r.status, 401, "{}: wrong token", r.request);
        check!(
            r.header("www-authenticate").is_some(),
            "{}: 401 without WWW-Authenticate",
            r.request
        );
        if path.starts_with("/fhir") {
            expect_outcome(&r, 401);
        }
    }
    // A non-Bearer scheme is no token either.
    let r = c
        .get("/fhir/Patient/example")
        .no_auth()
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .send();
    expect_outcome(&r, 401);
    // The token must not work on an import either.
    let r = c
        .post(
            "/admin/import",
            "application/fhir+json",
            json!({"resourceType": "Patient", "id": "e4-x"}).to_string(),
        )
        .token("wrong")
        .send();
    check_eq!(r.status, 401, "{}", r.request);
}

/// 404 for unknown ids and types, 400 for bad ids, ETag/Last-Modified and 304.
fn read_errors(ctx: &Ctx) {
    let c = &ctx.client;
    c.import_ok(
        NORTHSIDE,
        &json!({"resourceType": "Patient", "id": "e4-read-1", "gender": "female"}),
    );
    let r = c.get("/fhir/Patient/e4-read-1").send().expect_status(200);
    let etag = r.header("etag").unwrap_or_default().to_string();
    let p = r.json();
    check_eq!(
        etag,
        format!("W/\"{}\"", p["meta"]["versionId"].as_str().unwrap_or("?")),
        "ETag vs meta.versionId"
    );
    let lm = r.header("last-modified").unwrap_or_default();
    check!(
        lm.ends_with(" GMT") && lm.contains(','),
        "Last-Modified {lm:?} is not an HTTP date"
    );
    let updated = p["meta"]["lastUpdated"].as_str().unwrap_or_default();
    check!(
        updated.len() >= 19 && lm.contains(&updated[11..19]),
        "Last-Modified {lm} vs meta.lastUpdated {updated}"
    );
    check!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/fhir+json")),
        "content-type"
    );

    let r = c
        .get("/fhir/Patient/e4-read-1")
        .header("If-None-Match", &etag)
        .send();
    check_eq!(r.status, 304, "If-None-Match with the current ETag");
    check!(r.body.is_empty(), "304 with a body");
    let r = c
        .get("/fhir/Patient/e4-read-1")
        .header("If-None-Match", "W/\"999\"")
        .send();
    check_eq!(r.status, 200, "If-None-Match with another ETag");

    expect_outcome(&c.get("/fhir/Patient/e4-no-such-patient").send(), 404);
    expect_outcome(&c.get("/fhir/Observation/e4-read-1").send(), 404); // right id, wrong type
    expect_outcome(&c.get("/fhir/NotAType/e4-read-1").send(), 404);
    expect_outcome(&c.get("/fhir/patient/e4-read-1").send(), 404); // type names are case-sensitive
    expect_outcome(&c.get("/fhir/NotAType?name=x").send(), 404);
    expect_outcome(&c.get("/fhir/Patient/bad_id").send(), 400);
    expect_outcome(&c.get(&format!("/fhir/Patient/{}", "a".repeat(65))).send(), 400);
    expect_outcome(&c.get("/fhir/Patient/bad%20id").send(), 400);
}

/// 400 for unknown parameters (200 with an outcome entry when lenient), bad
/// values, and searches of compartment types without parameters.
fn search_errors(ctx: &Ctx) {
    let c = &ctx.client;
    expect_outcome(&c.get("/fhir/Patient").query(&[("foo", "bar")]).send(), 400);
    expect_outcome(
        &c.get("/fhir/Observation")
            .query(&[("patient", "x"), ("nonsense", "1")])
            .send(),
        400,
    );

    let r = c
        .get("/fhir/Observation")
        .query(&[("patient", "e4-nobody"), ("nonsense", "1")])
        .header("Prefer", "handling=lenient")
        .send()
        .expect_status(200);
    let b = r.json();
    check_eq!(b["type"], "searchset");
    let outcomes: Vec<_> = entries(&b)
        .into_iter()
        .filter(|e| entry_mode(e) == "outcome")
        .collect();
    check_eq!(
        outcomes.len(),
        1,
        "lenient search: one outcome entry expected: {b}"
    );
    check_eq!(outcomes[0]["resource"]["resourceType"], "OperationOutcome");
    check!(
        outcomes[0]["resource"].to_string().contains("nonsense"),
        "the outcome names the ignored parameter"
    );
    let self_link = flare_tests::fhir::link(&b, "self").unwrap_or_default();
    check!(
        !self_link.contains("nonsense"),
        "the self link should show only the parameters used: {self_link}"
    );

    for bad in [
        "2021-13-01",
        "2021-02-30",
        "yesterday",
        "ge20210101",
        "2021-1-1",
        "xx2021",
    ] {
        expect_outcome(
            &c.get("/fhir/Observation")
                .query(&[("patient", "x"), ("date", bad)])
                .send(),
            400,
        );
    }
    expect_outcome(
        &c.get("/fhir/Observation?patient=x&_lastUpdated=notadate").send(),
        400,
    );
    expect_outcome(&c.get("/fhir/Observation").send(), 400);
    expect_outcome(&c.get("/fhir/Condition").send(), 400);
    expect_outcome(&c.get("/fhir/Observation?_count=10").send(), 400);
    expect_outcome(&c.get("/fhir/Observation?patient=x&_count=abc").send(), 400);
    expect_outcome(
        &c.get("/fhir/Observation?patient=x&_sort=nosuchparam").send(),
        400,
    );
    expect_outcome(
        &c.get("/fhir/Observation?patient=x&code:nosuchmodifier=1").send(),
        400,
    );
    expect_outcome(
        &c.get("/fhir/Observation?patient=x&_include=Observation:nosuch")
            .send(),
        400,
    );
    // A Patient search needs no parameter.
    c.get("/fhir/Patient?_count=1").send().expect_status(200);
}

/// Writes are not allowed (405 with `Allow`), XML is not served (406).
fn methods_and_formats(ctx: &Ctx) {
    let c = &ctx.client;
    let body = json!({"resourceType": "Patient", "id": "e4-x"}).to_string();
    for r in [
        c.put_json(
            "/fhir/Patient/e4-x",
            &serde_json::from_str(&body).unwrap_or_default(),
        )
        .send(),
        c.delete("/fhir/Patient/e4-x").send(),
        c.post("/fhir/Patient/e4-x", "application/fhir+json", body.clone())
            .send(),
        c.post("/fhir/Patient", "application/fhir+json", body.clone())
            .send(),
    ] {
        expect_outcome(&r, 405);
        check!(r.header("allow").is_some(), "{}: 405 without Allow", r.request);
    }
    check_eq!(
        c.get("/fhir/Patient/e4-x").send().status,
        404,
        "a rejected write must not store anything"
    );

    expect_outcome(&c.get("/fhir/Patient?_format=xml").send(), 406);
    expect_outcome(
        &c.get("/fhir/Patient/e4-x?_format=application/fhir%2Bxml").send(),
        406,
    );
    expect_outcome(
        &c.get("/fhir/Patient")
            .header("Accept", "application/fhir+xml")
            .send(),
        406,
    );
    expect_outcome(&c.get("/fhir/metadata?_format=xml").no_auth().send(), 406);
    c.get("/fhir/Patient?_format=json&_count=1")
        .send()
        .expect_status(200);
    c.get("/fhir/Patient?_count=1")
        .header("Accept", "application/fhir+json")
        .send()
        .expect_status(200);
    c.get("/fhir/Patient?_count=1")
        .header("Accept", "application/fhir+xml, application/json;q=0.5")
        .send()
        .expect_status(200);
}

/// `If-None-Match` compares entity tags weakly (RFC 7232 §3.2): `"1"` and
/// `W/"1"` are the same version, and any tag of a list may match.
fn if_none_match_weak(ctx: &Ctx) {
    let c = &ctx.client;
    c.import_ok(NORTHSIDE, &json!({"resourceType": "Patient", "id": "e4-etag-1"}));
    let etag = c
        .get("/fhir/Patient/e4-etag-1")
        .send()
        .expect_status(200)
        .header("etag")
        .unwrap_or_default()
        .to_string();
    check!(etag.starts_with("W/\""), "ETag {etag:?}");
    let r = c
        .get("/fhir/Patient/e4-etag-1")
        .header("If-None-Match", &format!("W/\"77\", {etag}"))
        .send();
    check_eq!(r.status, 304, "If-None-Match with a list that contains the ETag");
    let strong = etag.trim_start_matches("W/").to_string();
    let r = c
        .get("/fhir/Patient/e4-etag-1")
        .header("If-None-Match", &strong)
        .send();
    check_eq!(
        r.status,
        304,
        "If-None-Match: {strong} must match {etag} (weak comparison)"
    );
}

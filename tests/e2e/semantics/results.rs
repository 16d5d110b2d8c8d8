//! What comes back: `_sort`, `_count` paging, totals, `_elements`,
//! `_include` and `_revinclude`.

use super::*;

pub(super) fn sort_by_date(ctx: &Ctx) {
    load(ctx);
    let asc = sort_set_ascending();
    let desc: Vec<String> = asc.iter().rev().cloned().collect();
    for count in ["100", "4"] {
        let got = run(
            ctx,
            "Observation",
            &[("patient", "sem-p2"), ("_sort", "date"), ("_count", count)],
        )
        .ids();
        check_eq!(got, asc, "_sort=date with _count={count}");
        let got = run(
            ctx,
            "Observation",
            &[("patient", "sem-p2"), ("_sort", "-date"), ("_count", count)],
        )
        .ids();
        check_eq!(got, desc, "_sort=-date with _count={count}");
    }
    // Equal sort keys across page boundaries: each match exactly once.
    let ties: BTreeSet<String> = (0..9).map(|i| format!("sem-tie-{i}")).collect();
    for sort in ["date", "-date", "_lastUpdated", "-_lastUpdated"] {
        let got = run(
            ctx,
            "Observation",
            &[("patient", "sem-p6"), ("_sort", sort), ("_count", "2")],
        )
        .ids();
        check_eq!(got.len(), 9, "_sort={sort} with ties: {got:?}");
        check_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            ties,
            "_sort={sort} with ties"
        );
    }
    let got = run(
        ctx,
        "Observation",
        &[("patient", "sem-p2"), ("_sort", "_id"), ("_count", "6")],
    )
    .ids();
    let mut by_id = asc.clone();
    by_id.sort();
    check_eq!(got, by_id, "_sort=_id");
    let got = run(
        ctx,
        "Patient",
        &[("_id", "sem-p1,sem-p2,sem-p3"), ("_sort", "family")],
    )
    .ids();
    check_eq!(
        got,
        vec!["sem-p3", "sem-p2", "sem-p1"],
        "_sort=family: Anderson, Nunes, Núñez"
    );
    let got = run(
        ctx,
        "Patient",
        &[("_id", "sem-p1,sem-p2,sem-p3"), ("_sort", "-family")],
    )
    .ids();
    check_eq!(got, vec!["sem-p1", "sem-p2", "sem-p3"], "_sort=-family");
}

pub(super) fn count_paging(ctx: &Ctx) {
    load(ctx);
    let all: BTreeSet<String> = sort_set_ascending().into_iter().collect();
    for count in ["1", "5", "7", "23", "50"] {
        let r = run(ctx, "Observation", &[("patient", "sem-p2"), ("_count", count)]);
        let ids = r.ids();
        let n: usize = count.parse().unwrap_or(1);
        check_eq!(
            ids.len(),
            all.len(),
            "_count={count}: every match once (no duplicates): {ids:?}"
        );
        check_eq!(r.id_set(), all, "_count={count}: the same matches");
        check_eq!(
            r.pages.len(),
            all.len().div_ceil(n),
            "_count={count}: number of pages"
        );
        for (i, page) in r.pages.iter().enumerate() {
            let entries = flare_tests::fhir::entries(page).len();
            check!(entries <= n, "_count={count}: page {i} has {entries} entries");
            let self_link = flare_tests::fhir::link(page, "self").unwrap_or_default();
            check!(
                self_link.contains("patient=sem-p2"),
                "page {i} self link {self_link}"
            );
        }
    }
    // _count above the maximum is lowered, not refused.
    run(ctx, "Observation", &[("patient", "sem-p2"), ("_count", "100000")]);
}

pub(super) fn totals(ctx: &Ctx) {
    load(ctx);
    let c = &ctx.client;
    let get = |params: &[(&str, &str)]| {
        c.get("/fhir/Observation")
            .practice(LAKESHORE)
            .query(params)
            .send()
            .expect_status(200)
            .json()
    };
    let b = get(&[("patient", "sem-p2"), ("_summary", "count")]);
    check_eq!(b["total"], 23, "_summary=count: {b}");
    check!(
        b["entry"].as_array().is_none_or(|e| e.is_empty()),
        "_summary=count returns no entries: {b}"
    );
    let b = get(&[("patient", "sem-p2"), ("_total", "accurate"), ("_count", "5")]);
    check_eq!(b["total"], 23, "_total=accurate");
    check_eq!(b["entry"].as_array().map(Vec::len), Some(5));
    let b = get(&[("patient", "sem-p1"), ("status", "final"), ("_summary", "count")]);
    check_eq!(b["total"], 3);
    let b = get(&[
        ("patient", "sem-p1"),
        ("code", "no-such-code"),
        ("_total", "accurate"),
    ]);
    check_eq!(b["total"], 0);
}

pub(super) fn elements(ctx: &Ctx) {
    load(ctx);
    let r = run(
        ctx,
        "Observation",
        &[
            ("patient", "sem-p1"),
            ("_elements", "status,code"),
            ("_count", "2"),
        ],
    );
    check_eq!(r.resources.len(), 6);
    for o in &r.resources {
        let keys: BTreeSet<&str> = o
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        check!(
            keys.contains("status") && keys.contains("code"),
            "_elements keeps the asked elements: {o}"
        );
        let allowed: BTreeSet<&str> = ["resourceType", "id", "meta", "status", "code"]
            .into_iter()
            .collect();
        check!(
            keys.is_subset(&allowed),
            "_elements=status,code returned {keys:?}"
        );
        let tags = o["meta"]["tag"].as_array().cloned().unwrap_or_default();
        check!(
            tags.iter().any(|t| t["code"] == "SUBSETTED"),
            "a subsetted resource carries the SUBSETTED tag: {o}"
        );
    }
    let r = run(ctx, "Patient", &[("_id", "sem-p1"), ("_elements", "name")]);
    let p = &r.resources[0];
    check!(
        p.get("name").is_some() && p.get("gender").is_none() && p.get("birthDate").is_none(),
        "{p}"
    );
    // Without _elements nothing is tagged.
    let full = ctx
        .client
        .get("/fhir/Observation/sem-o1")
        .practice(LAKESHORE)
        .send()
        .json();
    check!(
        full["meta"].get("tag").is_none(),
        "a read must not be tagged SUBSETTED: {full}"
    );
    // _elements does not apply to included resources.
    let r = run(
        ctx,
        "MedicationRequest",
        &[
            ("_id", "sem-mr-1"),
            ("_include", "MedicationRequest:medication"),
            ("_elements", "status"),
        ],
    );
    check_eq!(r.resources.len(), 1);
    check!(
        r.resources[0].get("subject").is_none(),
        "the match is subsetted: {}",
        r.resources[0]
    );
    let included = r.pages[0]["entry"]
        .as_array()
        .and_then(|e| e.iter().find(|x| x["search"]["mode"] == "include"))
        .cloned();
    let med = included.map(|e| e["resource"].clone()).unwrap_or_default();
    check!(
        med.get("code").is_some(),
        "an included resource is not subsetted: {med}"
    );
}

/// `_elements` lists base element names; a choice element `effective[x]` is
/// named `effective` and covers `effectiveDateTime`, `effectivePeriod`, ….
pub(super) fn elements_choice(ctx: &Ctx) {
    load(ctx);
    let r = run(
        ctx,
        "Observation",
        &[("_id", "sem-o1,sem-o2"), ("_elements", "effective")],
    );
    check_eq!(r.resources.len(), 2);
    for o in &r.resources {
        check!(
            o.get("effectiveDateTime").is_some() || o.get("effectivePeriod").is_some(),
            "_elements=effective must keep effective[x]: {o}"
        );
    }
}

pub(super) fn include_medication(ctx: &Ctx) {
    load(ctx);
    let r = run(
        ctx,
        "MedicationRequest",
        &[
            ("patient", "sem-p1"),
            ("intent", "order"),
            ("_include", "MedicationRequest:medication"),
        ],
    );
    check_eq!(r.matches, vec!["MedicationRequest/sem-mr-1"]);
    check_eq!(
        r.includes,
        vec!["Medication/sem-med-1"],
        "included with search.mode include"
    );
    let r = run(
        ctx,
        "MedicationRequest",
        &[
            ("patient", "sem-p1"),
            ("intent", "plan"),
            ("_include", "MedicationRequest:medication"),
        ],
    );
    check_eq!(r.matches, vec!["MedicationRequest/sem-mr-2"]);
    check!(
        r.includes.is_empty(),
        "a coded medication includes nothing: {:?}",
        r.includes
    );
    let r = run(
        ctx,
        "MedicationRequest",
        &[("patient", "sem-p1"), ("intent", "order")],
    );
    check!(r.includes.is_empty(), "no _include, no includes");
    let r = run(
        ctx,
        "PractitionerRole",
        &[
            ("practitioner", "sem-pr-1"),
            ("_include", "PractitionerRole:practitioner"),
            ("_include", "PractitionerRole:endpoint"),
        ],
    );
    check_eq!(r.matches, vec!["PractitionerRole/sem-role-1"]);
    let inc: BTreeSet<&str> = r.includes.iter().map(String::as_str).collect();
    check_eq!(
        inc,
        ["Endpoint/sem-ep-1", "Practitioner/sem-pr-1"]
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
}

pub(super) fn revinclude_provenance(ctx: &Ctx) {
    load(ctx);
    let r = run(
        ctx,
        "Observation",
        &[
            ("patient", "sem-p1"),
            ("code", "8867-4"),
            ("_revinclude", "Provenance:target"),
        ],
    );
    check_eq!(
        r.id_set(),
        ["sem-o1", "sem-o5"].iter().map(|s| s.to_string()).collect()
    );
    check_eq!(r.includes, vec!["Provenance/sem-prov-1"]);
    let r = run(
        ctx,
        "Observation",
        &[("_id", "sem-o2"), ("_revinclude", "Provenance:target")],
    );
    check!(
        r.includes.is_empty(),
        "no Provenance targets o2: {:?}",
        r.includes
    );
    let r = run(
        ctx,
        "MedicationRequest",
        &[("patient", "sem-p1"), ("_revinclude", "Provenance:target")],
    );
    check_eq!(
        r.includes,
        vec!["Provenance/sem-prov-1"],
        "included once though it targets one match"
    );
    let r = run(
        ctx,
        "Observation",
        &[
            ("patient", "sem-p1"),
            ("code", "8867-4,29463-7"),
            ("_revinclude", "Provenance:target"),
            ("_count", "1"),
        ],
    );
    check_eq!(
        r.includes,
        vec!["Provenance/sem-prov-1"],
        "the Provenance comes with the page of its target only"
    );
}

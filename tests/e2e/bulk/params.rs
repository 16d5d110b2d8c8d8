//! Kick-off parameters (`_type`, `_since`, `_typeFilter`, `_elements`,
//! `_outputFormat`), the three export levels, and the POST kick-off.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    accepted, assert_exact, download, export, key_of, now_ms, observation, only_types, wait_done, Backend,
    Export, World, MEMBERS,
};
use crate::context::Ctx;

const GROUP: &str = "/fhir/Group/grp/$export";

/// `expected` restricted to the keys in `keys`.
fn only_keys(expected: &BTreeMap<String, Value>, keys: &[&str]) -> BTreeMap<String, Value> {
    keys.iter()
        .filter_map(|k| expected.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// `_type`, `_typeFilter` (two filters ORed), `_elements` and `_since`.
pub fn filters(ctx: &Ctx) {
    super::run(ctx, "params::type_since_typefilter_elements", |ctx| {
        let mut w = World::new(ctx, "bulk-flt");
        let b = Backend::register(&w.c, &w.key, "bulkflt", true, "system/*.rs");
        let c = w.c.clone();
        let token = b.token(&c);
        let expected = w.expected_group(&MEMBERS);

        // _type: only those types (compartment and referenced ones).
        let got = export(&c, &token, GROUP, &[("_type", "Patient,Observation")]);
        assert_exact(
            "_type=Patient,Observation",
            &got,
            &only_types(&expected, &["Patient", "Observation"]),
        );
        let got = export(&c, &token, GROUP, &[("_type", "Practitioner,Medication")]);
        assert_exact(
            "_type=Practitioner,Medication",
            &got,
            &only_types(&expected, &["Practitioner", "Medication"]),
        );

        // _typeFilter: two Observation queries ORed; Condition unfiltered.
        let got = export(
            &c,
            &token,
            GROUP,
            &[
                ("_type", "Observation,Condition"),
                ("_typeFilter", "Observation?category=laboratory"),
                ("_typeFilter", "Observation?code=http%3A%2F%2Floinc.org%7C8867-4"),
            ],
        );
        let want: BTreeMap<String, Value> = only_types(&expected, &["Observation", "Condition"])
            .into_iter()
            .filter(|(_, v)| {
                v["resourceType"] != "Observation"
                    || v["category"][0]["coding"][0]["code"] == "laboratory"
                    || v["code"]["coding"][0]["code"] == "8867-4"
            })
            .collect();
        ck!(
            !want.contains_key("Observation/m2-vital") && want.contains_key("Observation/m1-vital"),
            "the filter data set does not discriminate"
        );
        assert_exact("_typeFilter (category=laboratory OR code=8867-4)", &got, &want);
        // The same as one comma-separated value.
        let got = export(
            &c,
            &token,
            GROUP,
            &[
                ("_type", "Observation,Condition"),
                (
                    "_typeFilter",
                    "Observation?category=laboratory,Observation?code=http%3A%2F%2Floinc.org%7C8867-4",
                ),
            ],
        );
        assert_exact("_typeFilter as a comma-separated list", &got, &want);

        // _elements: only the element asked for, resourceType/id/meta kept, SUBSETTED.
        let got = export(
            &c,
            &token,
            GROUP,
            &[("_type", "Observation"), ("_elements", "status")],
        );
        let want = only_types(&expected, &["Observation"]);
        ck_eq!(
            got.lines.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "_elements: which Observations"
        );
        for (k, line) in &got.lines {
            let keys: Vec<&String> = line.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            ck!(
                keys.iter()
                    .all(|x| ["resourceType", "id", "meta", "status"].contains(&x.as_str())),
                "_elements=status: {k} has {keys:?}"
            );
            ck_eq!(line["status"], "final", "_elements=status: {k}");
            let subsetted = line["meta"]["tag"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["code"] == "SUBSETTED");
            ck!(subsetted, "_elements: {k} lacks the SUBSETTED tag: {line}");
        }

        // A query-restricted scope restricts the lines too.
        let lab_scope = format!(
            "system/Patient.rs system/Observation.rs?category={}|laboratory",
            super::OBS_CAT
        );
        let lab = Backend::register(&c, &w.key, "bulklab", false, &lab_scope);
        let lab_token = lab.token_for(&c, &lab_scope);
        let got = export(&c, &lab_token, GROUP, &[]);
        let want: BTreeMap<String, Value> = only_types(&expected, &["Patient", "Observation"])
            .into_iter()
            .filter(|(_, v)| {
                v["resourceType"] != "Observation" || v["category"][0]["coding"][0]["code"] == "laboratory"
            })
            .collect();
        assert_exact(&format!("a token of {lab_scope}"), &got, &want);

        // _since: a first export, changes after its transactionTime, then
        // an export since then holds exactly the changed member data.
        let first = export(&c, &token, GROUP, &[]);
        assert_exact("before _since", &first, &expected);
        let since = first.manifest["transactionTime"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        std::thread::sleep(Duration::from_millis(50));
        let mut changed_lab = observation("m1-lab", "m1", "laboratory", "4548-4", "pr");
        changed_lab["valueQuantity"]["value"] = json!(9.9);
        let mut med = w.resources["Medication/med"].clone();
        med["code"]["text"] = json!("changed after the first export");
        let mut unref = w.resources["Practitioner/pr-unref"].clone();
        unref["name"][0]["given"] = json!(["Changed"]);
        w.import(&[
            changed_lab,
            observation("m2-lab2", "m2", "laboratory", "2345-7", "pr"),
            observation("n1-lab2", "n1", "laboratory", "2345-7", "pr"),
            med,
            unref,
        ]);
        let expected = w.expected_group(&MEMBERS);
        let got = export(&c, &token, GROUP, &[("_since", &since)]);
        assert_exact(
            &format!("_since={since}"),
            &got,
            &only_keys(
                &expected,
                &["Observation/m1-lab", "Observation/m2-lab2", "Medication/med"],
            ),
        );
        // And the changes are in a full export now.
        let all = export(&c, &token, GROUP, &[]);
        assert_exact("after the changes", &all, &expected);
    });
}

/// POSTs a Parameters kick-off and follows it to the end.
fn post_export(w: &World, token: &str, path: &str, parameters: Value) -> Export {
    let c = &w.c;
    let body = json!({"resourceType": "Parameters", "parameter": parameters});
    let t0 = now_ms();
    let r = c
        .post(path, "application/fhir+json", body.to_string())
        .token(token)
        .header("Prefer", "respond-async")
        .header("Accept", "application/fhir+json")
        .send();
    let status = accepted(c, &r);
    let polled = wait_done(c, token, &status, Duration::from_secs(120));
    download(c, token, &format!("{}{path}", c.origin), t0, polled)
}

/// The `_outputFormat` spellings, Patient- and system-level exports, and
/// POST kick-offs with a Parameters body (`valueString`, `valueInstant`,
/// `valueReference` for Bulk Data 2.0's `patient`).
pub fn levels(ctx: &Ctx) {
    super::run(ctx, "params::output_formats_levels_and_post", |ctx| {
        let mut w = World::new(ctx, "bulk-lvl");
        let b = Backend::register(&w.c, &w.key, "bulklvl", false, "system/*.rs");
        let c = w.c.clone();
        let token = b.token(&c);
        let expected = w.expected_group(&MEMBERS);

        for format in ["application/fhir+ndjson", "application/ndjson", "ndjson"] {
            let got = export(
                &c,
                &token,
                GROUP,
                &[("_outputFormat", format), ("_type", "Patient,Observation")],
            );
            assert_exact(
                &format!("_outputFormat={format}"),
                &got,
                &only_types(&expected, &["Patient", "Observation"]),
            );
        }

        // Patient level: every patient of the practice (members or not).
        let patients = w.patient_ids();
        ck_eq!(patients.len(), 6, "patients of the data set");
        let want = w.expected_group(&patients);
        for k in [
            "Organization/org-out",
            "Medication/med-out",
            "Group/grp-out",
            "Patient/n2",
        ] {
            ck!(want.contains_key(k), "patient-level expected set lacks {k}");
        }
        ck!(
            !want.contains_key("Practitioner/pr-unref"),
            "an unreferenced Practitioner in the patient-level set"
        );
        let patient_level = export(&c, &token, "/fhir/Patient/$export", &[]);
        assert_exact("Patient/$export", &patient_level, &want);

        // System level: everything of the practice (and nothing of `-x`).
        let got = export(&c, &token, "/fhir/$export", &[]);
        assert_exact("$export", &got, &w.resources);

        // POST with Parameters: valueString parameters.
        let got = post_export(
            &w,
            &token,
            GROUP,
            json!([
                {"name": "_type", "valueString": "Patient,Observation"},
                {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
            ]),
        );
        assert_exact(
            "POST Group/grp/$export (_type)",
            &got,
            &only_types(&expected, &["Patient", "Observation"]),
        );
        // Bulk Data 2.0 `patient` (valueReference): only the named member's
        // records and what they reference; a patient outside the Group is a 400.
        let got = post_export(
            &w,
            &token,
            GROUP,
            json!([{"name": "patient", "valueReference": {"reference": "Patient/m2"}}]),
        );
        assert_exact(
            "POST Group/grp/$export (patient m2)",
            &got,
            &w.expected_group(&["m2"]),
        );
        let outsider = c
            .post(
                GROUP,
                "application/fhir+json",
                json!({"resourceType": "Parameters", "parameter": [
                    {"name": "patient", "valueReference": {"reference": "Patient/n1"}}]})
                .to_string(),
            )
            .token(&token)
            .header("Prefer", "respond-async")
            .send();
        ck_eq!(
            outsider.status,
            400,
            "patient outside the Group: {}",
            outsider.body
        );
        ck!(
            outsider.body.contains("OperationOutcome") && outsider.body.contains("n1"),
            "the refusal names the patient: {}",
            outsider.body
        );
        // valueInstant _since: only what changed after the Patient-level export.
        let since = patient_level.manifest["transactionTime"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        std::thread::sleep(Duration::from_millis(50));
        let mut cond = w.resources["Condition/m2-cond"].clone();
        cond["code"]["text"] = json!("Diabetes type 2");
        let mut outsider = w.resources["Condition/n1-cond"].clone();
        outsider["code"]["text"] = json!("changed, but not a member");
        w.import(&[cond.clone(), outsider]);
        let got = post_export(
            &w,
            &token,
            GROUP,
            json!([{"name": "_since", "valueInstant": since}]),
        );
        let want: BTreeMap<String, Value> = [(key_of(&cond), cond)].into_iter().collect();
        assert_exact("POST with valueInstant _since", &got, &want);
    });
}

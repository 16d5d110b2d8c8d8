//! Properties of the generated data: determinism, referential integrity
//! within a practice, id syntax and uniqueness, profile and resource-type
//! coverage, Provenance for every record, and tenant isolation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

use flare_synth::{generate, is_valid_npi, Config, Generator, PRACTICE_LEVEL_TYPES, REFERENCE_DATE};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

/// Every US Core 6.1.0 Observation profile the generator must cover.
const OBSERVATION_PROFILES: &[&str] = &[
    "us-core-blood-pressure",
    "us-core-bmi",
    "us-core-body-height",
    "us-core-body-weight",
    "us-core-body-temperature",
    "us-core-heart-rate",
    "us-core-respiratory-rate",
    "us-core-pulse-oximetry",
    "us-core-head-circumference",
    "head-occipital-frontal-circumference-percentile",
    "pediatric-bmi-for-age",
    "pediatric-weight-for-height",
    "us-core-observation-lab",
    "us-core-observation-clinical-result",
    "us-core-smokingstatus",
    "us-core-observation-occupation",
    "us-core-observation-pregnancystatus",
    "us-core-observation-pregnancyintent",
    "us-core-observation-sexual-orientation",
    "us-core-observation-screening-assessment",
    "us-core-simple-observation",
];

/// Every resource type the generator must produce.
const RESOURCE_TYPES: &[&str] = &[
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Endpoint",
    "Medication",
    "Group",
    "Patient",
    "Encounter",
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "DiagnosticReport",
    "DocumentReference",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "MedicationStatement",
    "Immunization",
    "Procedure",
    "CarePlan",
    "CareTeam",
    "Goal",
    "Coverage",
    "Device",
    "ServiceRequest",
    "Specimen",
    "QuestionnaireResponse",
    "RelatedPerson",
    "Appointment",
    "Provenance",
];

const US_CORE: &str = "http://hl7.org/fhir/us/core/StructureDefinition/";

fn run(config: &Config) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    generate(config, &mut |key, resource| out.push((key.to_string(), resource)));
    out
}

/// The 20-patient demo run shared by most tests.
fn demo20() -> &'static [(String, Value)] {
    static RUN: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    RUN.get_or_init(|| run(&Config::demo(20)))
}

fn kind_id(r: &Value) -> (String, String) {
    (
        r["resourceType"].as_str().expect("resourceType").to_string(),
        r["id"].as_str().expect("id").to_string(),
    )
}

/// Every `reference` string anywhere in a resource.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "reference" {
                    out.push(x.as_str().expect("reference is a string").to_string());
                } else {
                    references(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn valid_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn profiles(r: &Value) -> Vec<String> {
    r["meta"]["profile"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

#[test]
fn same_config_gives_byte_identical_output() {
    let serialize = |c: &Config| -> Vec<String> {
        run(c)
            .into_iter()
            .map(|(k, r)| format!("{k}\t{}", serde_json::to_string(&r).unwrap()))
            .collect()
    };
    let config = Config::demo(12);
    let a = serialize(&config);
    let b = serialize(&config);
    assert!(!a.is_empty());
    assert_eq!(a, b, "two runs of the same Config differ");
    let mut other = config.clone();
    other.seed += 1;
    assert_ne!(a, serialize(&other), "the seed has no effect");
}

#[test]
fn a_patient_does_not_depend_on_how_many_follow() {
    let small = run(&Config::demo(4));
    let large = run(&Config::demo(10));
    // Everything of lakeshore patient 2: its Patient and `lakeshore-<kind>-2-<n>`.
    let patient = |rows: &[(String, Value)], id: &str| -> Vec<String> {
        rows.iter()
            .filter(|(_, r)| {
                let rid = r["id"].as_str().unwrap();
                let parts: Vec<&str> = rid.split('-').collect();
                rid == id || (parts.len() == 4 && parts[0] == "lakeshore" && parts[2] == "2")
            })
            .map(|(_, r)| serde_json::to_string(r).unwrap())
            .collect()
    };
    let a = patient(&small, "lakeshore-pat-2");
    assert!(a.len() > 10);
    assert_eq!(a, patient(&large, "lakeshore-pat-2"));
}

#[test]
fn generator_parts_reassemble_to_generate_in_any_order() {
    let config = Config::demo(7);
    let g = Generator::new(&config).unwrap();
    let mut parts: Vec<Vec<String>> = vec![Vec::new(); config.patients];
    // Patients generated back to front, as parallel workers might.
    for index in (0..config.patients).rev() {
        g.patient(index, &mut |key, r| {
            parts[index].push(format!("{key}\t{}", serde_json::to_string(&r).unwrap()))
        });
    }
    let mut assembled = Vec::new();
    let mut push =
        |key: &str, r: Value| assembled.push(format!("{key}\t{}", serde_json::to_string(&r).unwrap()));
    g.practice_resources(&mut push);
    for part in parts {
        for line in part {
            assembled.push(line);
        }
    }
    let mut tail = Vec::new();
    g.groups(&mut |key, r| tail.push(format!("{key}\t{}", serde_json::to_string(&r).unwrap())));
    assembled.extend(tail);
    let direct: Vec<String> = run(&config)
        .into_iter()
        .map(|(k, r)| format!("{k}\t{}", serde_json::to_string(&r).unwrap()))
        .collect();
    assert_eq!(assembled, direct);
    assert_eq!(g.practice_of(3), 1);
}

#[test]
fn every_reference_resolves_earlier_in_the_same_practice() {
    let mut seen: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut checked = 0;
    for (key, r) in demo20() {
        let (kind, id) = kind_id(r);
        let mut refs = Vec::new();
        references(r, &mut refs);
        let known = seen.entry(key.as_str()).or_default();
        for reference in refs {
            let (t, target) = reference
                .split_once('/')
                .unwrap_or_else(|| panic!("{kind}/{id}: reference {reference:?} is not Type/id"));
            assert!(
                t.bytes().all(|b| b.is_ascii_alphabetic()) && valid_fhir_id(target),
                "{kind}/{id}: reference {reference:?} is not a relative Type/id"
            );
            assert!(
                known.contains(&reference),
                "{kind}/{id} in {key}: {reference} was not emitted before it in the same practice"
            );
            checked += 1;
        }
        known.insert(format!("{kind}/{id}"));
    }
    assert!(checked > 1000, "only {checked} references checked");
}

#[test]
fn ids_are_valid_unique_and_prefixed_with_the_practice_key() {
    let mut ids = HashSet::new();
    for (key, r) in demo20() {
        let (kind, id) = kind_id(r);
        assert!(valid_fhir_id(&id), "invalid id {id:?}");
        assert!(id.starts_with(&format!("{key}-")), "{id} lacks prefix {key}-");
        // Unique across practices and types, so a single table could hold all.
        assert!(ids.insert(id.clone()), "duplicate id {kind}/{id}");
    }
}

#[test]
fn patients_in_one_practice_are_never_referenced_from_another() {
    let rows = demo20();
    let patients: BTreeMap<String, String> = rows
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Patient")
        .map(|(k, r)| (format!("Patient/{}", r["id"].as_str().unwrap()), k.clone()))
        .collect();
    assert_eq!(patients.len(), 20);
    for (key, r) in rows {
        let mut refs = Vec::new();
        references(r, &mut refs);
        for reference in refs {
            if let Some(owner) = patients.get(&reference) {
                assert_eq!(owner, key, "{reference} of {owner} referenced from {key}");
            }
            if let Some(other) = ["northside", "lakeshore"].iter().find(|k| *k != key) {
                assert!(
                    !reference.contains(&format!("/{other}-")),
                    "{key} references {reference}"
                );
            }
        }
    }
}

#[test]
fn patients_are_dealt_round_robin() {
    let order: Vec<(String, String)> = demo20()
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Patient")
        .map(|(k, r)| (k.clone(), r["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(order[0], ("northside".into(), "northside-pat-1".into()));
    assert_eq!(order[1], ("lakeshore".into(), "lakeshore-pat-1".into()));
    assert_eq!(order[19], ("lakeshore".into(), "lakeshore-pat-10".into()));
}

#[test]
fn every_observation_profile_is_present() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, r) in demo20()
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Observation")
    {
        let p = profiles(r);
        assert!(!p.is_empty(), "Observation {} has no profile", r["id"]);
        for p in p {
            *counts
                .entry(p.trim_start_matches(US_CORE).to_string())
                .or_default() += 1;
        }
    }
    for p in OBSERVATION_PROFILES {
        assert!(
            counts.get(*p).copied().unwrap_or(0) >= 1,
            "no Observation with profile {p}; have {counts:?}"
        );
    }
}

#[test]
fn every_resource_type_is_present() {
    let types: BTreeSet<&str> = demo20()
        .iter()
        .map(|(_, r)| r["resourceType"].as_str().unwrap())
        .collect();
    for t in RESOURCE_TYPES {
        assert!(types.contains(t), "no {t} generated; have {types:?}");
    }
    // Both condition profiles and both report profiles.
    let profile_set: BTreeSet<String> = demo20().iter().flat_map(|(_, r)| profiles(r)).collect();
    for p in [
        "us-core-condition-problems-health-concerns",
        "us-core-condition-encounter-diagnosis",
        "us-core-diagnosticreport-lab",
        "us-core-diagnosticreport-note",
        "us-core-implantable-device",
        "us-core-provenance",
    ] {
        assert!(
            profile_set.contains(&format!("{US_CORE}{p}")),
            "no resource with profile {p}"
        );
    }
}

#[test]
fn provenance_targets_every_patient_record() {
    let mut targeted: HashMap<String, usize> = HashMap::new();
    let mut records = Vec::new();
    for (key, r) in demo20() {
        let (kind, id) = kind_id(r);
        if kind == "Provenance" {
            let target = r["target"][0]["reference"].as_str().unwrap().to_string();
            *targeted.entry(format!("{key}|{target}")).or_default() += 1;
            assert_eq!(r["agent"][0]["type"]["coding"][0]["code"], "author");
            assert!(r["agent"][0]["who"]["reference"]
                .as_str()
                .unwrap()
                .starts_with("Practitioner/"));
            assert!(r["agent"][0]["onBehalfOf"]["reference"]
                .as_str()
                .unwrap()
                .starts_with("Organization/"));
            assert!(r["recorded"].as_str().is_some());
        } else if !PRACTICE_LEVEL_TYPES.contains(&kind.as_str()) {
            records.push(format!("{key}|{kind}/{id}"));
        }
    }
    assert!(records.len() > 500);
    for rec in &records {
        assert_eq!(targeted.get(rec), Some(&1), "{rec} needs exactly one Provenance");
    }
    assert_eq!(
        targeted.len(),
        records.len(),
        "a Provenance targets something else"
    );
}

#[test]
fn us_core_profiles_are_declared() {
    let unprofiled = [
        "Endpoint",
        "Group",
        "MedicationAdministration",
        "MedicationStatement",
        "Appointment",
        "Binary",
    ];
    for (_, r) in demo20() {
        let (kind, id) = kind_id(r);
        let p = profiles(r);
        if unprofiled.contains(&kind.as_str()) {
            continue;
        }
        assert!(
            p.first().is_some_and(|p| p.starts_with(US_CORE)),
            "{kind}/{id} has no US Core profile"
        );
    }
}

#[test]
fn clinical_dates_precede_the_reference_date() {
    const KEYS: &[&str] = &[
        "effectiveDateTime",
        "issued",
        "recordedDate",
        "authoredOn",
        "occurrenceDateTime",
        "onsetDateTime",
        "abatementDateTime",
        "recorded",
        "birthDate",
        "whenHandedOver",
        "authored",
    ];
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if let (true, Some(s)) = (KEYS.contains(&k.as_str()), x.as_str()) {
                        out.push((format!("{path}.{k}"), s.to_string()));
                    }
                    walk(x, &format!("{path}.{k}"), out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, path, out)),
            _ => {}
        }
    }
    let mut oldest = "9999".to_string();
    for (_, r) in demo20() {
        let (kind, id) = kind_id(r);
        let mut dates = Vec::new();
        walk(r, &kind, &mut dates);
        if let Some(start) = r["period"]["start"].as_str() {
            dates.push(("period.start".into(), start.into()));
        }
        for (path, d) in dates {
            assert!(
                d.as_str() < REFERENCE_DATE,
                "{kind}/{id} {path} = {d} is not before {REFERENCE_DATE}"
            );
            if kind == "Encounter" && d < oldest {
                oldest = d;
            }
        }
    }
    assert!(
        oldest.as_str() < "2018",
        "histories should span years; oldest encounter {oldest}"
    );
}

#[test]
fn npis_are_valid_and_practices_are_described() {
    let rows = demo20();
    let mut npis = 0;
    for (_, r) in rows {
        if let Some(ids) = r["identifier"].as_array() {
            for i in ids
                .iter()
                .filter(|i| i["system"] == "http://hl7.org/fhir/sid/us-npi")
            {
                assert!(is_valid_npi(i["value"].as_str().unwrap()), "bad NPI {i}");
                npis += 1;
            }
        }
    }
    assert!(npis >= 10);
    let org = rows
        .iter()
        .find(|(_, r)| r["id"] == "northside-org")
        .map(|(_, r)| r)
        .expect("northside-org");
    assert_eq!(org["name"], "Northside Oncology");
    assert_eq!(org["active"], true);
    let endpoint = rows
        .iter()
        .find(|(_, r)| r["id"] == "lakeshore-endpoint")
        .unwrap();
    assert_eq!(endpoint.1["connectionType"]["code"], "hl7-fhir-rest");
    assert_eq!(endpoint.1["address"], "https://fhir.example.org/fhir");
    for (_, r) in rows
        .iter()
        .filter(|(_, r)| r["resourceType"] == "PractitionerRole")
    {
        assert!(r["endpoint"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Endpoint/"));
        assert!(r["specialty"][0]["coding"][0]["code"].as_str().is_some());
    }
}

#[test]
fn groups_list_the_practice_patients() {
    let rows = run(&Config::demo(9));
    let groups: Vec<&Value> = rows
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Group")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(groups.len(), 4);
    let all = groups.iter().find(|g| g["id"] == "northside-group-all").unwrap();
    assert_eq!(all["member"].as_array().unwrap().len(), 5);
    assert_eq!(all["type"], "person");
    assert_eq!(all["actual"], true);
    let third = groups
        .iter()
        .find(|g| g["id"] == "lakeshore-group-third")
        .unwrap();
    let members: Vec<&str> = third["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entity"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["Patient/lakeshore-pat-1", "Patient/lakeshore-pat-4"]);
    // Groups come last, after every patient of their practice.
    let last_patient = rows
        .iter()
        .rposition(|(_, r)| r["resourceType"] == "Patient")
        .unwrap();
    let first_group = rows
        .iter()
        .position(|(_, r)| r["resourceType"] == "Group")
        .unwrap();
    assert!(first_group > last_patient);
}

#[test]
fn vital_signs_are_plausible_and_repeat_over_time() {
    let mut weights: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (_, r) in demo20()
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Observation")
    {
        let code = r["code"]["coding"][0]["code"].as_str().unwrap();
        let patient = r["subject"]["reference"].as_str().unwrap().to_string();
        let when = r["effectiveDateTime"].as_str().unwrap_or_default().to_string();
        match code {
            "85354-9" => {
                let sys = r["component"][0]["valueQuantity"]["value"].as_f64().unwrap();
                let dia = r["component"][1]["valueQuantity"]["value"].as_f64().unwrap();
                assert_eq!(r["component"][0]["code"]["coding"][0]["code"], "8480-6");
                assert_eq!(r["component"][1]["code"]["coding"][0]["code"], "8462-4");
                assert!(
                    (70.0..230.0).contains(&sys) && (35.0..140.0).contains(&dia) && dia < sys,
                    "BP {sys}/{dia}"
                );
            }
            "29463-7" => {
                let w = r["valueQuantity"]["value"].as_f64().unwrap();
                assert!((2.0..250.0).contains(&w), "weight {w}");
                weights.entry(patient).or_default().push((when, w));
            }
            "8867-4" => {
                let v = r["valueQuantity"]["value"].as_f64().unwrap();
                assert!((40.0..200.0).contains(&v), "heart rate {v}");
            }
            "8310-5" => {
                let v = r["valueQuantity"]["value"].as_f64().unwrap();
                assert!((35.0..41.0).contains(&v), "temperature {v}");
            }
            _ => {}
        }
        if r["category"][0]["coding"][0]["code"] == "laboratory" {
            assert!(r["valueQuantity"]["system"] == "http://unitsofmeasure.org");
            assert!(r["referenceRange"].is_array());
            let flag = r["interpretation"][0]["coding"][0]["code"].as_str().unwrap();
            assert!(["H", "L", "N"].contains(&flag));
        }
    }
    let repeated = weights.values().filter(|w| w.len() >= 3).count();
    assert!(repeated >= 8, "only {repeated} patients have 3+ weights");
}

#[test]
fn volume_per_patient_is_in_range() {
    let rows = run(&Config::demo(200));
    let per_patient = rows.len() as f64 / 200.0;
    assert!(
        (60.0..=130.0).contains(&per_patient),
        "{per_patient} resources per patient"
    );
    let mut sparse = Config::demo(200);
    sparse.density = 0.5;
    assert!(run(&sparse).len() < rows.len());
}

#[test]
fn documents_carry_base64_text() {
    use base64::Engine as _;
    let docs: Vec<&Value> = demo20()
        .iter()
        .filter(|(_, r)| r["resourceType"] == "DocumentReference")
        .map(|(_, r)| r)
        .collect();
    assert!(!docs.is_empty());
    let binaries: HashMap<String, &Value> = demo20()
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Binary")
        .map(|(_, r)| (format!("Binary/{}", r["id"].as_str().unwrap()), r))
        .collect();
    let mut linked = 0;
    for d in docs {
        let a = &d["content"][0]["attachment"];
        assert_eq!(a["contentType"], "text/plain");
        // Visit notes carry their text inline; patient summaries link a Binary.
        let data = match a["url"].as_str() {
            Some(url) => {
                linked += 1;
                let b = binaries
                    .get(url)
                    .unwrap_or_else(|| panic!("{url} is not generated"));
                assert_eq!(b["contentType"], "text/plain");
                assert_eq!(b["securityContext"], d["subject"]);
                b["data"].as_str().unwrap()
            }
            None => {
                assert!(d["context"]["period"]["start"].is_string());
                a["data"].as_str().unwrap()
            }
        };
        let text = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("Patient:"), "{text}");
        assert_eq!(d["category"][0]["coding"][0]["code"], "clinical-note");
    }
    assert_eq!(linked, 20, "one patient summary per patient");
}

#[test]
fn adults_have_a_bmi_with_every_weight_and_an_immunization() {
    let mut weights: HashMap<(String, String), usize> = HashMap::new();
    let mut bmis: HashMap<(String, String), usize> = HashMap::new();
    let mut immunized: HashSet<String> = HashSet::new();
    let mut adults: HashSet<String> = HashSet::new();
    for (_, r) in demo20() {
        if r["resourceType"] == "Patient" && r["birthDate"].as_str().unwrap() < "1990-01-01" {
            adults.insert(format!("Patient/{}", r["id"].as_str().unwrap()));
        }
        if r["resourceType"] == "Immunization" {
            immunized.insert(r["patient"]["reference"].as_str().unwrap().to_string());
        }
        if r["resourceType"] != "Observation" {
            continue;
        }
        let key = (
            r["subject"]["reference"].as_str().unwrap().to_string(),
            r["effectiveDateTime"].as_str().unwrap_or_default().to_string(),
        );
        match r["code"]["coding"][0]["code"].as_str() {
            Some("29463-7") => *weights.entry(key).or_default() += 1,
            Some("39156-5") => *bmis.entry(key).or_default() += 1,
            _ => {}
        }
    }
    let adult_weights: Vec<_> = weights.keys().filter(|(p, _)| adults.contains(p)).collect();
    assert!(adult_weights.len() > 40);
    for k in adult_weights {
        assert_eq!(bmis.get(k), Some(&1), "weight without one BMI: {k:?}");
    }
    for p in &adults {
        assert!(immunized.contains(p), "{p} has no immunization");
    }
}

#[test]
fn ids_are_readable() {
    let ids: HashSet<&str> = demo20().iter().map(|(_, r)| r["id"].as_str().unwrap()).collect();
    for id in [
        "northside-org",
        "northside-endpoint",
        "northside-pat-7",
        "lakeshore-pat-10",
        "northside-enc-7-1",
        "northside-obs-7-1",
        "northside-prov-7-1",
        "lakeshore-group-all",
        "lakeshore-group-third",
    ] {
        assert!(ids.contains(id), "missing {id}");
    }
}

#[test]
fn a_visit_gives_each_vaccine_once() {
    let mut seen = HashSet::new();
    for (_, r) in demo20()
        .iter()
        .filter(|(_, r)| r["resourceType"] == "Immunization" && r["primarySource"] == true)
    {
        let key = (
            r["encounter"]["reference"].as_str().unwrap().to_string(),
            r["vaccineCode"]["coding"][0]["code"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        assert!(seen.insert(key.clone()), "{key:?} given twice");
        assert!(r["status"] == "completed" || r["status"] == "not-done");
    }
    assert!(!seen.is_empty());
}

#[test]
fn no_empty_arrays_objects_or_strings() {
    fn walk(v: &Value, path: &str) {
        match v {
            Value::Object(m) => {
                assert!(!m.is_empty(), "empty object at {path}");
                for (k, x) in m {
                    walk(x, &format!("{path}.{k}"));
                }
            }
            Value::Array(a) => {
                assert!(!a.is_empty(), "empty array at {path}");
                a.iter().for_each(|x| walk(x, path));
            }
            Value::String(s) => assert!(!s.trim().is_empty(), "empty string at {path}"),
            Value::Null => panic!("null at {path}"),
            _ => {}
        }
    }
    for (_, r) in demo20() {
        let (kind, id) = kind_id(r);
        walk(r, &format!("{kind}/{id}"));
    }
}

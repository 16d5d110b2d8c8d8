//! Practice-level resources: the Organization, payers, Endpoint, Locations,
//! Practitioners, PractitionerRoles, the Medication formulary and Groups.

use crate::codes::{self, profile, MEDS, NPI_SYSTEM, NUCC, RXNORM, SNOMED};
use crate::npi::npi_from_prefix;
use crate::patient_id;
use crate::rng::Rng;
use crate::{PracticeSpec, Specialty};
use serde_json::{json, Value};

/// The address of every practice's FHIR endpoint.
pub(crate) const ENDPOINT_ADDRESS: &str = "https://fhir.example.org/fhir";

/// What kind of payer an Organization is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayerKind {
    Medicare,
    Medicaid,
    Commercial,
}

/// A payer Organization of the practice.
pub(crate) struct Payer {
    pub id: String,
    pub name: String,
    pub kind: PayerKind,
    pub plan: &'static str,
}

/// What a Location is used for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SiteKind {
    Clinic,
    Laboratory,
    Infusion,
}

/// A Location of the practice.
pub(crate) struct Site {
    pub id: String,
    pub name: String,
    pub kind: SiteKind,
}

/// A clinician's discipline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discipline {
    Physician,
    Pediatrician,
    NursePractitioner,
    Nurse,
}

/// A Practitioner with the PractitionerRole that places them in the practice.
pub(crate) struct Clinician {
    pub id: String,
    pub role_id: String,
    /// e.g. "Dr. Maria Lopez, MD"
    pub display: String,
    pub given: &'static str,
    pub family: &'static str,
    /// "MD", "NP" or "RN".
    pub suffix: &'static str,
    pub female: bool,
    pub discipline: Discipline,
    pub taxonomy: (&'static str, &'static str),
    /// SNOMED CT care team role: code and display.
    pub care_role: (&'static str, &'static str),
}

impl Clinician {
    /// True for clinicians who see patients on their own.
    pub(crate) fn is_provider(&self) -> bool {
        self.discipline != Discipline::Nurse
    }
}

/// A practice with the ids of its shared resources.
pub(crate) struct Practice<'a> {
    pub spec: &'a PracticeSpec,
    /// Position in `Config::practices` (it selects the random streams).
    pub index: usize,
    pub seed: u64,
    pub org: String,
    /// The retail pharmacy that fills the practice's prescriptions.
    pub pharmacy: String,
    pub endpoint: String,
    pub payers: Vec<Payer>,
    pub sites: Vec<Site>,
    pub clinicians: Vec<Clinician>,
    /// `{"reference": "Organization/<org>", "display": <name>}`, built once.
    pub org_ref: Value,
    /// A reference (with display) to each clinician's Practitioner.
    pub clinician_refs: Vec<Value>,
    /// `meta` of every Provenance, built once.
    pub provenance_meta: Value,
    /// Per clinician: the `agent` array of a Provenance they authored on
    /// behalf of the practice, built once.
    pub provenance_agents: Vec<Value>,
    /// Indices into [`MEDS`] of the stocked formulary.
    pub formulary: Vec<usize>,
    resources: Vec<Value>,
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

impl<'a> Practice<'a> {
    /// Builds the practice and its shared resources from its spec.
    pub(crate) fn new(seed: u64, index: usize, spec: &'a PracticeSpec) -> Practice<'a> {
        let key = &spec.key;
        let mut rng = Rng::new(seed, (index as u64) << 32);
        let mut p = Practice {
            spec,
            index,
            seed,
            org: crate::organization_id(key),
            pharmacy: format!("{key}-pharmacy"),
            endpoint: format!("{key}-endpoint"),
            payers: Vec::new(),
            sites: Vec::new(),
            clinicians: Vec::new(),
            formulary: Vec::new(),
            org_ref: json!({ "reference": format!("Organization/{key}-org"), "display": spec.name }),
            clinician_refs: Vec::new(),
            provenance_meta: json!({ "profile": [profile("us-core-provenance")] }),
            provenance_agents: Vec::new(),
            resources: Vec::new(),
        };
        p.payers = vec![
            Payer {
                id: format!("{key}-payer-1"),
                name: "Medicare".into(),
                kind: PayerKind::Medicare,
                plan: "Medicare Part B",
            },
            Payer {
                id: format!("{key}-payer-2"),
                name: format!("{} Medicaid", spec.state),
                kind: PayerKind::Medicaid,
                plan: "Medicaid Managed Care",
            },
            Payer {
                id: format!("{key}-payer-3"),
                name: "Great Lakes Mutual Health Plan".into(),
                kind: PayerKind::Commercial,
                plan: "Great Lakes PPO Gold",
            },
            Payer {
                id: format!("{key}-payer-4"),
                name: "Prairie Health Alliance".into(),
                kind: PayerKind::Commercial,
                plan: "Prairie HMO Select",
            },
        ];
        let mut sites = vec![
            (SiteKind::Clinic, format!("{} Main Clinic", spec.name)),
            (SiteKind::Laboratory, format!("{} Laboratory", spec.name)),
        ];
        if spec.specialty == Specialty::Oncology {
            sites.push((SiteKind::Infusion, format!("{} Infusion Center", spec.name)));
        }
        p.sites = sites
            .into_iter()
            .enumerate()
            .map(|(i, (kind, name))| Site {
                id: format!("{key}-loc-{}", i + 1),
                name,
                kind,
            })
            .collect();
        let disciplines: &[Discipline] = match spec.specialty {
            Specialty::Oncology => &[
                Discipline::Physician,
                Discipline::Physician,
                Discipline::Physician,
                Discipline::NursePractitioner,
                Discipline::Nurse,
            ],
            Specialty::FamilyMedicine => &[
                Discipline::Physician,
                Discipline::Physician,
                Discipline::Physician,
                Discipline::Pediatrician,
                Discipline::NursePractitioner,
                Discipline::Nurse,
            ],
        };
        for (i, d) in disciplines.iter().enumerate() {
            let c = p.clinician(&mut rng, i + 1, *d);
            p.clinicians.push(c);
        }
        p.clinician_refs = p
            .clinicians
            .iter()
            .map(|c| json!({ "reference": format!("Practitioner/{}", c.id), "display": c.display }))
            .collect();
        p.provenance_agents = p
            .clinicians
            .iter()
            .map(|c| {
                json!([{
                    "type": { "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": "author",
                        "display": "Author"
                    }] },
                    "who": reference("Practitioner", &c.id),
                    "onBehalfOf": reference("Organization", &p.org)
                }])
            })
            .collect();
        p.formulary = (0..MEDS.len())
            .filter(|&i| !MEDS[i].oncology_only || spec.specialty == Specialty::Oncology)
            .collect();
        p.build(&mut rng);
        p
    }

    fn clinician(&self, rng: &mut Rng, n: usize, d: Discipline) -> Clinician {
        let female = rng.chance(0.55);
        let given = if female {
            *rng.pick(codes::GIVEN_FEMALE)
        } else {
            *rng.pick(codes::GIVEN_MALE)
        };
        let family = *rng.pick(codes::FAMILY);
        let (taxonomy, care_role, suffix) = match (d, self.spec.specialty) {
            (Discipline::Physician, s) => (
                s.taxonomy(),
                if s == Specialty::Oncology {
                    ("309295000", "Clinical oncologist (occupation)")
                } else {
                    ("453231000124104", "Primary care provider (occupation)")
                },
                "MD",
            ),
            (Discipline::Pediatrician, _) => (
                ("208000000X", "Pediatrics"),
                ("82296001", "Pediatrician (occupation)"),
                "MD",
            ),
            (Discipline::NursePractitioner, s) => (
                if s == Specialty::Oncology {
                    ("363LA2200X", "Nurse Practitioner, Adult Health")
                } else {
                    ("363LF0000X", "Nurse Practitioner, Family")
                },
                ("224571005", "Nurse practitioner (occupation)"),
                "NP",
            ),
            (Discipline::Nurse, _) => (
                ("163W00000X", "Registered Nurse"),
                ("224535009", "Registered nurse (occupation)"),
                "RN",
            ),
        };
        let display = if suffix == "MD" {
            format!("Dr. {given} {family}, MD")
        } else {
            format!("{given} {family}, {suffix}")
        };
        Clinician {
            id: format!("{}-prac-{n}", self.spec.key),
            role_id: format!("{}-role-{n}", self.spec.key),
            display,
            given,
            family,
            suffix,
            female,
            discipline: d,
            taxonomy,
            care_role,
        }
    }

    fn address(&self, line: &str) -> Value {
        json!({
            "use": "work",
            "line": [line],
            "city": self.spec.city,
            "state": self.spec.state,
            "postalCode": self.spec.postal_code,
            "country": "US"
        })
    }

    fn build(&mut self, rng: &mut Rng) {
        let spec = self.spec;
        let org_ref = reference("Organization", &self.org);
        let mut out = Vec::new();
        let domain = format!("{}.example.org", spec.key);
        out.push(json!({
            "resourceType": "Organization",
            "id": self.org,
            "meta": { "profile": [profile("us-core-organization")] },
            "identifier": [{ "system": NPI_SYSTEM, "value": spec.npi }],
            "active": true,
            "type": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                "code": "prov",
                "display": "Healthcare Provider"
            }] }],
            "name": spec.name,
            "telecom": [
                { "system": "phone", "value": spec.phone, "use": "work" },
                { "system": "email", "value": format!("frontdesk@{domain}"), "use": "work" },
                { "system": "url", "value": format!("https://{domain}"), "use": "work" }
            ],
            "address": [self.address(&spec.line)]
        }));
        out.push(json!({
            "resourceType": "Organization",
            "id": self.pharmacy,
            "meta": { "profile": [profile("us-core-organization")] },
            "identifier": [{ "system": NPI_SYSTEM, "value": npi_from_prefix(&format!("1{}", rng.digits(8))) }],
            "active": true,
            "type": [{ "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                "code": "prov",
                "display": "Healthcare Provider"
            }], "text": "Retail pharmacy" }],
            "name": format!("{} Community Pharmacy", spec.city),
            "telecom": [{ "system": "phone", "value": format!("{}-555-0163", self.area_code()), "use": "work" }],
            "address": [self.address(&format!("{} {}", rng.int(100, 2999), codes::STREETS[rng.index(codes::STREETS.len())]))]
        }));
        for payer in &self.payers {
            let (line, city, state, zip, phone) = match payer.kind {
                PayerKind::Medicare => ("7500 Security Blvd", "Baltimore", "MD", "21244", "800-633-4227"),
                PayerKind::Medicaid => (
                    "201 S Grand Ave E",
                    spec.city.as_str(),
                    spec.state.as_str(),
                    spec.postal_code.as_str(),
                    "800-555-0110",
                ),
                PayerKind::Commercial => ("300 E Randolph St", "Chicago", "IL", "60601", "800-555-0175"),
            };
            out.push(json!({
                "resourceType": "Organization",
                "id": payer.id,
                "meta": { "profile": [profile("us-core-organization")] },
                "active": true,
                "type": [{ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                    "code": "pay",
                    "display": "Payer"
                }] }],
                "name": payer.name,
                "telecom": [{ "system": "phone", "value": phone, "use": "work" }],
                "address": [{
                    "use": "work", "line": [line], "city": city, "state": state,
                    "postalCode": zip, "country": "US"
                }]
            }));
        }
        out.push(json!({
            "resourceType": "Endpoint",
            "id": self.endpoint,
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "hl7-fhir-rest",
                "display": "HL7 FHIR"
            },
            "name": format!("{} FHIR R4 API", spec.name),
            "managingOrganization": org_ref,
            "contact": [{ "system": "email", "value": format!("interop@{domain}"), "use": "work" }],
            "payloadType": [{
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
                    "code": "any",
                    "display": "Any"
                }]
            }],
            "payloadMimeType": ["application/fhir+json"],
            "address": ENDPOINT_ADDRESS
        }));
        for (i, site) in self.sites.iter().enumerate() {
            let (code, display) = match site.kind {
                SiteKind::Clinic if spec.specialty == Specialty::Oncology => {
                    ("ONCL", "Medical oncology clinic")
                }
                SiteKind::Clinic => ("FMC", "Family medicine clinic"),
                SiteKind::Laboratory => ("OF", "Outpatient facility"),
                SiteKind::Infusion => ("OF", "Outpatient facility"),
            };
            let line = if i == 0 {
                spec.line.clone()
            } else {
                format!("{} (Suite {}{:02})", spec.line, i + 1, rng.int(1, 20))
            };
            out.push(json!({
                "resourceType": "Location",
                "id": site.id,
                "meta": { "profile": [profile("us-core-location")] },
                "status": "active",
                "name": site.name,
                "mode": "instance",
                "type": [{ "coding": [{
                    "system": codes::ROLE_CODE, "code": code, "display": display
                }], "text": site.name }],
                "telecom": [{ "system": "phone", "value": spec.phone, "use": "work" }],
                "address": self.address(&line),
                "managingOrganization": org_ref
            }));
        }
        for c in &self.clinicians {
            let (given, family) = (c.given, c.family);
            let mut human =
                json!({ "use": "official", "family": family, "given": [given], "suffix": [c.suffix] });
            if c.suffix == "MD" {
                human["prefix"] = json!(["Dr."]);
            }
            let npi = npi_from_prefix(&format!("1{}", rng.digits(8)));
            out.push(json!({
                "resourceType": "Practitioner",
                "id": c.id,
                "meta": { "profile": [profile("us-core-practitioner")] },
                "identifier": [{ "system": NPI_SYSTEM, "value": npi }],
                "active": true,
                "name": [human],
                "telecom": [
                    { "system": "phone", "value": spec.phone, "use": "work" },
                    { "system": "email", "value": format!("{}.{}@{domain}", given.to_lowercase(), family.to_lowercase().replace('\'', "")), "use": "work" }
                ],
                "address": [self.address(&spec.line)],
                "gender": if c.female { "female" } else { "male" }
            }));
        }
        for c in &self.clinicians {
            let (role_code, role_display) = match c.discipline {
                Discipline::Physician | Discipline::Pediatrician => ("doctor", "Doctor"),
                Discipline::NursePractitioner | Discipline::Nurse => ("nurse", "Nurse"),
            };
            let locations: Vec<Value> = self
                .sites
                .iter()
                .filter(|s| {
                    s.kind == SiteKind::Clinic
                        || (s.kind == SiteKind::Infusion && c.discipline != Discipline::Physician)
                })
                .map(|s| reference("Location", &s.id))
                .collect();
            out.push(json!({
                "resourceType": "PractitionerRole",
                "id": c.role_id,
                "meta": { "profile": [profile("us-core-practitionerrole")] },
                "active": true,
                "practitioner": { "reference": format!("Practitioner/{}", c.id), "display": c.display },
                "organization": { "reference": format!("Organization/{}", self.org), "display": spec.name },
                "code": [{ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/practitioner-role",
                    "code": role_code,
                    "display": role_display
                }] }],
                "specialty": [{ "coding": [{
                    "system": NUCC, "code": c.taxonomy.0, "display": c.taxonomy.1
                }] }],
                "location": locations,
                "telecom": [{ "system": "phone", "value": spec.phone, "use": "work" }],
                "endpoint": [reference("Endpoint", &self.endpoint)]
            }));
        }
        for &i in &self.formulary {
            let m = &MEDS[i];
            let mut med = json!({
                "resourceType": "Medication",
                "id": self.med_id(i),
                "meta": { "profile": [profile("us-core-medication")] },
                "code": {
                    "coding": [{ "system": RXNORM, "code": m.rxnorm, "display": m.display }],
                    "text": m.display
                },
                "status": "active"
            });
            if let Some((code, display)) = m.form {
                med["form"] = json!({ "coding": [{ "system": SNOMED, "code": code, "display": display }] });
            }
            out.push(med);
        }
        self.resources = out;
    }

    /// The first three digits of the practice phone (its area code), for
    /// the fictional 555-01xx numbers of patients and partners.
    pub(crate) fn area_code(&self) -> String {
        let digits: String = self
            .spec
            .phone
            .chars()
            .filter(char::is_ascii_digit)
            .take(3)
            .collect();
        if digits.len() == 3 {
            digits
        } else {
            "312".into()
        }
    }

    /// The id of the practice's Medication for `MEDS[index]`.
    pub(crate) fn med_id(&self, index: usize) -> String {
        format!("{}-med-{}", self.spec.key, MEDS[index].rxnorm)
    }

    /// True when `MEDS[index]` is in the formulary.
    pub(crate) fn stocks(&self, index: usize) -> bool {
        self.formulary.contains(&index)
    }

    /// The practice's site of the given kind (falls back to the clinic).
    pub(crate) fn site(&self, kind: SiteKind) -> &Site {
        self.sites
            .iter()
            .find(|s| s.kind == kind)
            .unwrap_or(&self.sites[0])
    }

    /// Emits the practice-level resources built in [`Practice::new`].
    pub(crate) fn emit(&self, sink: &mut dyn FnMut(&str, Value)) {
        for r in &self.resources {
            sink(&self.spec.key, r.clone());
        }
    }

    /// Emits the two Groups once all `patients` of the practice exist.
    pub(crate) fn emit_groups(&self, patients: usize, sink: &mut dyn FnMut(&str, Value)) {
        let key = &self.spec.key;
        type Membership = fn(usize) -> bool;
        let groups: [(&str, &str, Membership); 2] = [
            ("all", "All patients", |_| true),
            ("third", "Every third patient (sample cohort)", |n| n % 3 == 1),
        ];
        for (suffix, label, keep) in groups {
            let members: Vec<Value> = (1..=patients)
                .filter(|&n| keep(n))
                .map(|n| json!({ "entity": reference("Patient", &patient_id(key, n)) }))
                .collect();
            sink(
                key,
                json!({
                    "resourceType": "Group",
                    "id": format!("{key}-group-{suffix}"),
                    "identifier": [{
                        "system": format!("https://{key}.example.org/fhir/group"),
                        "value": suffix
                    }],
                    "active": true,
                    "type": "person",
                    "actual": true,
                    "name": format!("{} - {}", self.spec.name, label),
                    "quantity": members.len(),
                    "managingEntity": reference("Organization", &self.org),
                    "member": members
                }),
            );
        }
    }
}

//! # flare-synth
//!
//! A deterministic generator of realistic synthetic FHIR R4 data that
//! conforms to the US Core 6.1.0 profiles, for any number of patients split
//! across practices (Flare's tenants).
//!
//! ```
//! use flare_synth::{generate, Config};
//!
//! let config = Config::demo(4);
//! let mut patients = 0;
//! generate(&config, &mut |practice, resource| {
//!     assert!(practice == "northside" || practice == "lakeshore");
//!     if resource["resourceType"] == "Patient" {
//!         patients += 1;
//!     }
//! });
//! assert_eq!(patients, 4);
//! ```
//!
//! ## What is generated
//!
//! Per practice: its Organization, a pharmacy and payer Organizations, one
//! Endpoint, Locations, Practitioners and PractitionerRoles, a Medication
//! formulary (RxNorm) and, after its patients, two Groups ("all patients",
//! "every third patient").
//!
//! Per patient: the Patient (US Core race, ethnicity and birth-sex
//! extensions, MRN) with a RelatedPerson and Coverage, allergies and a
//! problem list, then encounters spread over up to ten years before the
//! fixed reference date [`REFERENCE_DATE`]. Visits carry vital signs (every
//! US Core vital-sign profile, pediatric ones for children), labs with
//! orders, specimens and reports, diagnoses, notes, prescriptions with
//! dispenses and administrations, immunizations, procedures, imaging and
//! ECG reports, social history and PHQ-9 screening; a care team, goal, care
//! plan, sometimes an implanted device and a booked appointment close the
//! chart. Every one of these records is followed by a Provenance that
//! targets it. Oncology practices see adults with a primary cancer
//! (consult, infusion cycles, follow-ups); family practices see all ages.
//!
//! With `density` 1.0 a patient has about 115 resources on average
//! (Provenance included): about 128 at an oncology practice and 103 at a
//! family practice.
//!
//! ## Guarantees
//!
//! * The output is a pure function of the [`Config`]: no clock, no hash-map
//!   order, one ChaCha8 stream per practice and per patient (so a patient's
//!   records do not depend on how many patients are generated).
//! * Ids are readable and unique across all practices:
//!   `<key>-pat-<n>` for patient `n` of practice `<key>`,
//!   `<key>-<kind>-<n>-<i>` for its `i`-th record of a kind (`enc`, `obs`,
//!   `cond`, `prov`, ...), `<key>-<kind>[-<i>]` for practice-level
//!   resources. All match the FHIR id syntax.
//! * Every `reference` is relative (`Type/id`) and points at a resource of
//!   the same practice that was emitted earlier (Groups come last, after the
//!   patients they list), so an ordered load never sees a dangling reference.
//! * Encounters and clinical results fall before the reference date; only
//!   booked appointments, goal due dates and expiry dates lie after it.
//! * Generation streams: nothing is kept per patient once its resources have
//!   been handed to the sink. [`Generator`] generates parts independently
//!   (for example patients on several threads) with the same result.

#![warn(missing_docs)]

mod codes;
mod npi;
mod patient;
mod practice;
mod rng;
mod time;

use serde_json::Value;
use std::fmt;

pub use npi::{is_valid_npi, npi_check_digit, npi_from_prefix};

/// The fixed "today" of every generated history (`YYYY-MM-DD`): encounters
/// fall in the ten years before it; only booked appointments, goal due
/// dates and expiry dates lie after it.
pub const REFERENCE_DATE: &str = "2026-01-01";

/// Resource types emitted once per practice rather than per patient. They
/// carry no Provenance; every other generated resource is a patient's
/// record and has one.
pub const PRACTICE_LEVEL_TYPES: &[&str] = &[
    "Organization",
    "Endpoint",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Medication",
    "Group",
];

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Seed of every random stream; the same seed gives the same output.
    pub seed: u64,
    /// Number of patients across all practices.
    pub patients: usize,
    /// The practices (tenants). Patient `i` (0-based) belongs to practice
    /// `i % practices.len()`.
    pub practices: Vec<PracticeSpec>,
    /// Scales how many encounters (and with them most records) a patient
    /// has; `1.0` gives about 115 resources per patient on average,
    /// Provenance included. Must be in `0.1..=10.0`.
    pub density: f64,
}

/// The clinical focus of a practice, which decides its clinicians, its
/// formulary and the conditions and visits of its patients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Specialty {
    /// Medical oncology: adult patients with a primary cancer, consults,
    /// infusion visits and follow-ups.
    Oncology,
    /// Family medicine: all ages, well visits, sick visits and chronic care.
    FamilyMedicine,
}

impl Specialty {
    /// NUCC provider taxonomy code and display of the practice's physicians.
    pub fn taxonomy(self) -> (&'static str, &'static str) {
        match self {
            Specialty::Oncology => ("207RX0202X", "Internal Medicine, Medical Oncology"),
            Specialty::FamilyMedicine => ("207Q00000X", "Family Medicine"),
        }
    }
}

/// One practice (tenant) and its identity.
#[derive(Clone, Debug, PartialEq)]
pub struct PracticeSpec {
    /// Tenant key: 1 to 24 characters of `a-z`, `0-9` and inner `-`. It
    /// prefixes every id generated for the practice.
    pub key: String,
    /// Organization name.
    pub name: String,
    /// Organization NPI: ten digits with a valid check digit.
    pub npi: String,
    /// Street address line.
    pub line: String,
    /// City.
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    /// ZIP code.
    pub postal_code: String,
    /// Main phone number.
    pub phone: String,
    /// Identifier system of the practice's medical record numbers, of the
    /// form `urn:oid:2.16.840.1.113883.3.<n>`.
    pub mrn_system: String,
    /// Clinical focus.
    pub specialty: Specialty,
    /// Fixed UTC offset written on every timestamp, e.g. `-06:00`.
    pub utc_offset: String,
}

impl Config {
    /// The demo configuration: seed 42, density 1.0 and two Chicago-area
    /// practices, `northside` ("Northside Oncology") and `lakeshore`
    /// ("Lakeshore Family Medicine").
    pub fn demo(patients: usize) -> Config {
        Config {
            seed: 42,
            patients,
            density: 1.0,
            practices: vec![
                PracticeSpec {
                    key: "northside".into(),
                    name: "Northside Oncology".into(),
                    npi: npi_from_prefix("184215703"),
                    line: "4646 N Marine Dr, Suite 300".into(),
                    city: "Chicago".into(),
                    state: "IL".into(),
                    postal_code: "60640".into(),
                    phone: "773-555-0142".into(),
                    mrn_system: "urn:oid:2.16.840.1.113883.3.7201".into(),
                    specialty: Specialty::Oncology,
                    utc_offset: "-06:00".into(),
                },
                PracticeSpec {
                    key: "lakeshore".into(),
                    name: "Lakeshore Family Medicine".into(),
                    npi: npi_from_prefix("162938475"),
                    line: "1000 Central St, Suite 200".into(),
                    city: "Evanston".into(),
                    state: "IL".into(),
                    postal_code: "60201".into(),
                    phone: "847-555-0188".into(),
                    mrn_system: "urn:oid:2.16.840.1.113883.3.7202".into(),
                    specialty: Specialty::FamilyMedicine,
                    utc_offset: "-06:00".into(),
                },
            ],
        }
    }

    /// Number of patients assigned to the practice at `index` (round-robin).
    pub fn patients_in(&self, index: usize) -> usize {
        let n = self.practices.len();
        if n == 0 || index >= n {
            return 0;
        }
        self.patients / n + usize::from(index < self.patients % n)
    }

    /// Checks the practices' keys, NPIs, MRN systems and UTC offsets, and
    /// the density.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.practices.is_empty() {
            return Err(ConfigError("at least one practice is required".into()));
        }
        if !(0.1..=10.0).contains(&self.density) {
            return Err(ConfigError(format!(
                "density {} is outside 0.1..=10.0",
                self.density
            )));
        }
        for (i, p) in self.practices.iter().enumerate() {
            if !valid_key(&p.key) {
                return Err(ConfigError(format!(
                    "practice key {:?} must be 1 to 24 characters of a-z, 0-9 and inner '-'",
                    p.key
                )));
            }
            if self.practices[..i].iter().any(|q| q.key == p.key) {
                return Err(ConfigError(format!("duplicate practice key {:?}", p.key)));
            }
            if !is_valid_npi(&p.npi) {
                return Err(ConfigError(format!(
                    "practice {:?}: NPI {:?} is not ten digits with a valid check digit",
                    p.key, p.npi
                )));
            }
            let offset = p.utc_offset.as_bytes();
            let offset_ok = p.utc_offset == "Z"
                || (offset.len() == 6
                    && (offset[0] == b'+' || offset[0] == b'-')
                    && offset[3] == b':'
                    && [1, 2, 4, 5].iter().all(|&i| offset[i].is_ascii_digit()));
            if !offset_ok {
                return Err(ConfigError(format!(
                    "practice {:?}: UTC offset {:?} is not Z or ±hh:mm",
                    p.key, p.utc_offset
                )));
            }
            let oid = p.mrn_system.strip_prefix("urn:oid:").unwrap_or("");
            if oid.is_empty()
                || !oid
                    .split('.')
                    .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(ConfigError(format!(
                    "practice {:?}: MRN system {:?} is not a urn:oid",
                    p.key, p.mrn_system
                )));
            }
        }
        Ok(())
    }
}

/// Why a [`Config`] cannot be generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 24
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Id of the Organization resource that represents practice `practice_key`.
pub fn organization_id(practice_key: &str) -> String {
    format!("{practice_key}-org")
}

/// The id of patient `number` (1-based, counted within its practice).
///
/// ```
/// assert_eq!(flare_synth::patient_id("northside", 17), "northside-pat-17");
/// ```
pub fn patient_id(practice_key: &str, number: usize) -> String {
    format!("{practice_key}-pat-{number}")
}

/// Generates everything `config` describes, handing each resource to
/// `sink` together with the key of the practice it belongs to.
///
/// Order: every practice's practice-level resources, then the patients in
/// round-robin order (each patient's records in dependency order, each
/// followed by its Provenance), then every practice's Groups.
///
/// # Panics
///
/// When [`Config::validate`] fails; use [`try_generate`] to get the error.
pub fn generate(config: &Config, sink: &mut dyn FnMut(&str, Value)) {
    if let Err(e) = try_generate(config, sink) {
        panic!("invalid flare-synth Config: {e}");
    }
}

/// Like [`generate`], but returns the validation error instead of
/// panicking. Nothing is emitted when the configuration is invalid.
pub fn try_generate(config: &Config, sink: &mut dyn FnMut(&str, Value)) -> Result<(), ConfigError> {
    let generator = Generator::new(config)?;
    generator.practice_resources(sink);
    for index in 0..config.patients {
        generator.patient(index, sink);
    }
    generator.groups(sink);
    Ok(())
}

/// A validated [`Config`] with its practices prepared, able to generate any
/// part of the output on its own: [`generate`] is
/// [`practice_resources`](Generator::practice_resources), then
/// [`patient`](Generator::patient) for every index in order, then
/// [`groups`](Generator::groups).
///
/// Each part depends only on the configuration, so callers may generate
/// patients on several threads (a `Generator` is `Sync`) and still
/// reassemble exactly the output of [`generate`]; the `flare-synth` binary
/// does so.
pub struct Generator<'c> {
    config: &'c Config,
    practices: Vec<practice::Practice<'c>>,
}

impl<'c> Generator<'c> {
    /// Validates `config` and builds every practice's shared resources.
    pub fn new(config: &'c Config) -> Result<Generator<'c>, ConfigError> {
        config.validate()?;
        let practices = config
            .practices
            .iter()
            .enumerate()
            .map(|(i, spec)| practice::Practice::new(config.seed, i, spec))
            .collect();
        Ok(Generator { config, practices })
    }

    /// The configuration being generated.
    pub fn config(&self) -> &'c Config {
        self.config
    }

    /// The index in `config.practices` of the practice patient `index`
    /// (0-based, across all practices) belongs to.
    pub fn practice_of(&self, index: usize) -> usize {
        index % self.practices.len()
    }

    /// Every practice's practice-level resources except its Groups, in
    /// practice order.
    pub fn practice_resources(&self, sink: &mut dyn FnMut(&str, Value)) {
        for p in &self.practices {
            p.emit(sink);
        }
    }

    /// Everything of patient `index` (0-based, across all practices): the
    /// patient is number `index / practices + 1` of practice
    /// `index % practices`.
    ///
    /// # Panics
    ///
    /// When `index >= config.patients`.
    pub fn patient(&self, index: usize, sink: &mut dyn FnMut(&str, Value)) {
        assert!(index < self.config.patients, "patient index {index} out of range");
        let n = self.practices.len();
        patient::generate(self.config, &self.practices[index % n], index / n + 1, sink);
    }

    /// Every practice's two Groups, which list all its patients.
    pub fn groups(&self, sink: &mut dyn FnMut(&str, Value)) {
        for (i, p) in self.practices.iter().enumerate() {
            p.emit_groups(self.config.patients_in(i), sink);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_valid() {
        let c = Config::demo(3);
        c.validate().unwrap();
        assert_eq!(c.practices[0].key, "northside");
        assert_eq!(c.practices[1].name, "Lakeshore Family Medicine");
        assert_eq!(c.patients_in(0), 2);
        assert_eq!(c.patients_in(1), 1);
        assert_eq!(c.patients_in(2), 0);
        for p in &c.practices {
            assert!(is_valid_npi(&p.npi));
            assert!(p.npi.starts_with('1'));
        }
    }

    #[test]
    fn validation_rejects_bad_input() {
        let mut c = Config::demo(1);
        c.practices[1].key = "northside".into();
        assert!(c.validate().is_err());
        let mut c = Config::demo(1);
        c.practices[0].key = "North".into();
        assert!(c.validate().is_err());
        let mut c = Config::demo(1);
        c.practices[0].npi = "1234567890".into();
        assert!(c.validate().is_err());
        let mut c = Config::demo(1);
        c.practices[0].utc_offset = "CST".into();
        assert!(c.validate().is_err());
        let mut c = Config::demo(1);
        c.practices[0].mrn_system = "MRN".into();
        assert!(c.validate().is_err());
        let mut c = Config::demo(1);
        c.density = 0.0;
        assert!(c.validate().is_err());
        let mut c = Config::demo(1);
        c.practices.clear();
        assert!(try_generate(&c, &mut |_, _| panic!("nothing may be emitted")).is_err());
    }
}

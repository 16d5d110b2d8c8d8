//! One patient's chart: demographics, a visit plan over up to ten years and
//! the records each visit leaves behind, every record followed by its
//! Provenance.

use crate::codes::{self, *};
use crate::practice::{Discipline, PayerKind, Practice, SiteKind};
use crate::rng::Rng;
use crate::time::{self, Ts, REF_DAY, YEAR};
use crate::{patient_id, Config, Specialty};
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Generates patient `number` (1-based within the practice) into `sink`.
pub(crate) fn generate(
    config: &Config,
    practice: &Practice,
    number: usize,
    sink: &mut dyn FnMut(&str, Value),
) {
    Gen::new(config, practice, number, sink).run();
}

// ---------------------------------------------------------------- helpers

/// A JSON object from its entries, allocated once at its final size (the
/// `json!` macro grows its maps entry by entry, which shows in profiles).
fn obj<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in entries {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    obj([("system", s(system)), ("code", s(code)), ("display", s(display))])
}

fn concept(system: &str, code: &str, display: &str, text: &str) -> Value {
    obj([
        ("coding", Value::Array(vec![coding(system, code, display)])),
        ("text", s(text)),
    ])
}

fn reference(kind: &str, id: &str) -> Value {
    obj([("reference", Value::String([kind, "/", id].concat()))])
}

fn reference_d(kind: &str, id: &str, display: &str) -> Value {
    obj([
        ("reference", Value::String([kind, "/", id].concat())),
        ("display", s(display)),
    ])
}

fn round(v: f64, decimals: u32) -> Value {
    if decimals == 0 {
        json!(v.round() as i64)
    } else {
        let f = 10f64.powi(decimals as i32);
        json!((v * f).round() / f)
    }
}

fn quantity(v: f64, decimals: u32, unit: &str, code: &str) -> Value {
    obj([
        ("value", round(v, decimals)),
        ("unit", s(unit)),
        ("system", s(UCUM)),
        ("code", s(code)),
    ])
}

fn obs_category(code: &str) -> Value {
    let display = match code {
        "vital-signs" => "Vital Signs",
        "laboratory" => "Laboratory",
        "social-history" => "Social History",
        "survey" => "Survey",
        "imaging" => "Imaging",
        "procedure" => "Procedure",
        "exam" => "Exam",
        _ => code,
    };
    obj([("coding", Value::Array(vec![coding(OBS_CATEGORY, code, display)]))])
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn xhtml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Standard normal cumulative distribution (Abramowitz-Stegun 7.1.26).
fn phi(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// Moves a weekend day to the neighbouring weekday before `REF_DAY`.
fn weekday(day: i64) -> i64 {
    // 1970-01-01 was a Thursday; 0 = Monday.
    let moved = match (day + 3).rem_euclid(7) {
        5 => day + 2,
        6 => day + 1,
        _ => day,
    };
    if moved >= REF_DAY {
        match (day + 3).rem_euclid(7) {
            5 => day - 1,
            6 => day - 2,
            _ => day,
        }
    } else {
        moved
    }
}

// ------------------------------------------------------------- the model

/// Kind of a planned visit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Visit {
    NewPatient,
    Wellness,
    /// A sick visit for `ACUTE[i]`.
    Sick(usize),
    /// Chronic care for problem `i`.
    FollowUp(usize),
    /// A video visit for problem `i`.
    Telehealth(usize),
    OncConsult,
    Infusion(u32),
    OncFollowUp,
}

/// A problem-list entry or health concern.
struct Problem {
    id: String,
    def: &'static CondDef,
    flag: Option<Flag>,
    onset: i64,
    recorded: i64,
    abated: Option<i64>,
    concern: bool,
    cancer: bool,
    prescribed: bool,
}

/// The encounter that records are attached to.
#[derive(Clone)]
struct Enc {
    id: String,
    /// `{"reference": "Encounter/<id>"}`, built once.
    reference: Value,
    start: Ts,
    end: Ts,
    provider: usize,
    site: String,
    kind: Visit,
    /// Vital signs taken, for the note: systolic, diastolic, pulse, weight.
    vitals: Option<(i64, i64, i64, f64)>,
    diagnoses: Vec<String>,
    plan: Vec<String>,
}

/// The parts of a Goal that depend on the patient's main problem.
#[derive(Default)]
struct GoalSpec {
    text: &'static str,
    snomed: Option<(&'static str, &'static str)>,
    measure: Option<(&'static str, &'static str)>,
    detail: Option<Value>,
    comparator: &'static str,
    addresses: Option<String>,
}

/// What the medication[x] of a prescription looks like.
type MedChoice = (&'static str, Value);

struct Gen<'a, 's> {
    p: &'a Practice<'a>,
    key: &'a str,
    tz: &'a str,
    sink: &'s mut dyn FnMut(&str, Value),
    rng: Rng,
    density: f64,
    num: usize,
    pid: String,
    /// `{"reference": "Patient/<id>"}`, built once.
    subject_ref: Value,
    counters: Vec<(&'static str, u32)>,
    // demographics
    female: bool,
    birth: i64,
    given: &'static str,
    family: &'static str,
    name: String,
    mrn: String,
    phone: String,
    address: Value,
    related: String,
    related_name: String,
    // clinical state
    flags: Vec<Flag>,
    cancer: Option<&'static Cancer>,
    problems: Vec<Problem>,
    provider: usize,
    nurse: Option<usize>,
    smoker: bool,
    // measurement models
    adult_height: f64,
    bmi0: f64,
    weight_trend: f64,
    sys0: f64,
    hr0: f64,
    z_height: f64,
    z_weight: f64,
    z_head: f64,
    // history so far
    first_day: i64,
    social_done: bool,
    phq_done: bool,
    pregnancy_done: bool,
    ecg_done: bool,
    echo_done: bool,
    tdap_day: Option<i64>,
    zoster_done: bool,
    pcv_done: bool,
    hpv_done: bool,
    flu_seasons: Vec<i64>,
    covid_doses: u32,
    /// Which doses of the childhood schedule are done (set at the first visit).
    schedule_done: Vec<bool>,
    oral_agent_prescribed: bool,
    infusion_start: Option<i64>,
    last_labs: Option<i64>,
    /// Adult weights measured without a BMI at the same visit (the visit and
    /// the weight): their BMI is recorded at the end of the chart.
    weights_without_bmi: Vec<(Enc, f64)>,
    /// The last visit with vital signs, for the patient summary.
    last_vitals: Option<Enc>,
}

impl<'a, 's> Gen<'a, 's> {
    fn new(
        config: &Config,
        p: &'a Practice<'a>,
        num: usize,
        sink: &'s mut dyn FnMut(&str, Value),
    ) -> Gen<'a, 's> {
        let key = p.spec.key.as_str();
        let rng = Rng::new(p.seed, ((p.index as u64) << 32) | num as u64);
        Gen {
            p,
            key,
            tz: p.spec.utc_offset.as_str(),
            sink,
            rng,
            density: config.density,
            num,
            pid: patient_id(key, num),
            subject_ref: reference("Patient", &patient_id(key, num)),
            counters: Vec::with_capacity(24),
            female: false,
            birth: 0,
            given: "",
            family: "",
            name: String::new(),
            mrn: String::new(),
            phone: String::new(),
            address: Value::Null,
            related: String::new(),
            related_name: String::new(),
            flags: Vec::new(),
            cancer: None,
            problems: Vec::new(),
            provider: 0,
            nurse: None,
            smoker: false,
            adult_height: 170.0,
            bmi0: 25.0,
            weight_trend: 0.0,
            sys0: 118.0,
            hr0: 72.0,
            z_height: 0.0,
            z_weight: 0.0,
            z_head: 0.0,
            first_day: REF_DAY,
            social_done: false,
            phq_done: false,
            pregnancy_done: false,
            ecg_done: false,
            echo_done: false,
            tdap_day: None,
            zoster_done: false,
            pcv_done: false,
            hpv_done: false,
            flu_seasons: Vec::new(),
            covid_doses: 0,
            schedule_done: Vec::new(),
            oral_agent_prescribed: false,
            infusion_start: None,
            last_labs: None,
            weights_without_bmi: Vec::new(),
            last_vitals: None,
        }
    }

    // ------------------------------------------------------------ plumbing

    fn oncology(&self) -> bool {
        self.p.spec.specialty == Specialty::Oncology
    }

    /// Next id of the given kind for this patient.
    fn next_id(&mut self, kind: &'static str) -> String {
        let n = match self.counters.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counters.push((kind, 1));
                1
            }
        };
        format!("{}-{kind}-{}-{n}", self.key, self.num)
    }

    fn ts(&self, t: Ts) -> String {
        t.fmt(self.tz)
    }

    fn subject(&self) -> Value {
        self.subject_ref.clone()
    }

    fn practitioner(&self, i: usize) -> Value {
        self.p.clinician_refs[i].clone()
    }

    fn org(&self) -> Value {
        self.p.org_ref.clone()
    }

    fn enc_ref(e: &Enc) -> Value {
        e.reference.clone()
    }

    fn performer_for_vitals(&self, e: &Enc) -> usize {
        self.nurse.unwrap_or(e.provider)
    }

    fn age_at(&self, day: i64) -> f64 {
        (day - self.birth) as f64 / YEAR
    }

    fn has(&self, f: Flag) -> bool {
        self.flags.contains(&f)
    }

    /// Hands a record to the sink and follows it with its Provenance.
    fn emit(&mut self, resource: Value, recorded: Ts, author: usize) {
        let target = format!(
            "{}/{}",
            resource["resourceType"].as_str().unwrap_or_default(),
            resource["id"].as_str().unwrap_or_default()
        );
        (self.sink)(self.key, resource);
        let id = self.next_id("prov");
        let prov = obj([
            ("resourceType", s("Provenance")),
            ("id", Value::String(id)),
            ("meta", self.p.provenance_meta.clone()),
            (
                "target",
                Value::Array(vec![obj([("reference", Value::String(target))])]),
            ),
            ("recorded", Value::String(self.ts(recorded))),
            ("agent", self.p.provenance_agents[author].clone()),
        ]);
        (self.sink)(self.key, prov);
    }

    /// Mostly `final`, sometimes `amended`, rarely `preliminary`.
    fn obs_status(&mut self) -> &'static str {
        const STATUSES: &[(&str, u32)] = &[("final", 95), ("amended", 4), ("preliminary", 1)];
        self.rng.weighted::<&str>(STATUSES)
    }

    // -------------------------------------------------------- the chart

    fn run(mut self) {
        self.demographics();
        let plan = self.plan();
        self.first_day = plan[0].0;
        self.choose_problems(&plan);
        let first = Ts::at(self.first_day, 8, self.rng.int(0, 50));
        let registered = first.plus(-60 * 24 * self.rng.int(1, 14));
        self.patient(registered);
        self.related_person(first);
        self.coverage(first);
        self.allergies(first);
        self.emit_problems();
        self.history(first);
        for (i, &(day, kind)) in plan.iter().enumerate() {
            self.visit(day, kind, i == 0);
        }
        let last = plan[plan.len() - 1].0;
        self.care_team(first);
        let goal = self.goal(first, last);
        self.care_plan(first, goal);
        self.device();
        self.future_appointment();
        self.chart_completion(last);
    }

    fn demographics(&mut self) {
        let onc = self.oncology();
        self.female = self.rng.chance(if onc { 0.55 } else { 0.51 });
        let age_days: i64 = if onc {
            ((30.0 + 58.0 * self.rng.float(0.0, 1.0).sqrt()) * YEAR) as i64
        } else {
            match self.num % 8 {
                2 => self.rng.int(20, 1090),
                5 => (self.rng.float(3.0, 17.9) * YEAR) as i64,
                _ => ((18.0 + 74.0 * self.rng.float(0.0, 1.0).powf(1.2)) * YEAR) as i64,
            }
        };
        self.birth = REF_DAY - age_days;
        self.given = if self.female {
            *self.rng.pick(GIVEN_FEMALE)
        } else {
            *self.rng.pick(GIVEN_MALE)
        };
        self.family = *self.rng.pick(FAMILY);
        self.name = format!("{} {}", self.given, self.family);
        let letters: String = self.key.chars().take(2).collect::<String>().to_uppercase();
        self.mrn = format!("{letters}{:07}", self.num);
        let area = self.p.area_code();
        self.phone = format!("{area}-555-{:04}", self.rng.int(100, 199));
        let (city, zip) = if self.p.spec.state == "IL" && self.rng.chance(0.35) {
            let (c, z) = *self.rng.pick(NEARBY_IL);
            (c.to_string(), z.to_string())
        } else {
            (self.p.spec.city.clone(), self.p.spec.postal_code.clone())
        };
        let mut line = format!("{} {}", self.rng.int(100, 9899), self.rng.pick(STREETS));
        if self.rng.chance(0.3) {
            line.push_str(&format!(
                ", Apt {}{}",
                self.rng.int(1, 24),
                ["A", "B", "C", "D"][self.rng.index(4)]
            ));
        }
        self.address = json!({
            "use": "home", "type": "both", "line": [line], "city": city,
            "state": self.p.spec.state, "postalCode": zip, "country": "US"
        });
        // providers
        let providers: Vec<usize> = (0..self.p.clinicians.len())
            .filter(|&i| self.p.clinicians[i].is_provider())
            .collect();
        let age = self.age_at(REF_DAY);
        let peds = self
            .p
            .clinicians
            .iter()
            .position(|c| c.discipline == Discipline::Pediatrician);
        self.provider = match peds {
            Some(i) if age < 18.0 && self.rng.chance(0.8) => i,
            _ => {
                let adult: Vec<usize> = providers
                    .iter()
                    .copied()
                    .filter(|&i| self.p.clinicians[i].discipline != Discipline::Pediatrician)
                    .collect();
                *self.rng.pick(&adult)
            }
        };
        self.nurse = self
            .p
            .clinicians
            .iter()
            .position(|c| c.discipline == Discipline::Nurse);
        // measurement models
        self.z_height = self.rng.normal(0.0, 1.0).clamp(-2.3, 2.3);
        self.z_weight = (0.6 * self.z_height + 0.8 * self.rng.normal(0.0, 1.0)).clamp(-2.3, 2.5);
        self.z_head = (0.5 * self.z_height + 0.85 * self.rng.normal(0.0, 1.0)).clamp(-2.3, 2.3);
        self.adult_height = if self.female { 163.0 } else { 177.0 } + 7.0 * self.z_height;
        self.bmi0 = self.rng.normal(27.0, 4.5).clamp(18.5, 44.0);
        self.weight_trend = self.rng.normal(0.25, 0.9);
        self.hr0 = self.rng.normal(73.0, 7.0);
        self.smoker = age >= 16.0 && self.rng.chance(0.14);
    }

    /// Visit days and kinds, sorted, all before the reference date.
    fn plan(&mut self) -> Vec<(i64, Visit)> {
        let d = self.density;
        let age_now = self.age_at(REF_DAY);
        let mut plan: Vec<(i64, Visit)> = Vec::new();
        if self.oncology() {
            let diagnosis = REF_DAY - self.rng.int(45, 8 * 365);
            let consult = weekday(diagnosis + self.rng.int(7, 21)).min(REF_DAY - 2);
            plan.push((consult, Visit::OncConsult));
            let cycles = ((d * self.rng.float(1.0, 2.6)).round() as u32).max(1);
            let mut day = consult + 14;
            for c in 1..=cycles {
                if day >= REF_DAY - 1 {
                    break;
                }
                plan.push((weekday(day), Visit::Infusion(c)));
                day += 21;
            }
            let follow_ups = ((d * self.rng.float(0.5, 1.6)).round() as u32).max(1);
            day += self.rng.int(20, 60);
            for _ in 0..follow_ups {
                if day >= REF_DAY - 1 {
                    break;
                }
                plan.push((weekday(day), Visit::OncFollowUp));
                day += self.rng.int(80, 200);
            }
        } else if age_now < 3.0 {
            const SCHEDULE: &[i64] = &[5, 30, 61, 122, 183, 274, 365, 456, 548, 730, 913, 1095];
            let eligible: Vec<i64> = SCHEDULE
                .iter()
                .map(|a| self.birth + a)
                .filter(|&day| day < REF_DAY - 1)
                .collect();
            let keep = (0.45 * d).min(1.0);
            for (i, &day) in eligible.iter().enumerate() {
                if i == 0 || i + 1 == eligible.len() || self.rng.chance(keep) {
                    let kind = if i == 0 {
                        Visit::NewPatient
                    } else {
                        Visit::Wellness
                    };
                    plan.push((weekday(day).max(self.birth + 3), kind));
                }
            }
            if eligible.is_empty() {
                plan.push((REF_DAY - 1, Visit::NewPatient));
            }
            if self.rng.chance(0.5 * d) && plan[0].0 + 30 < REF_DAY - 1 {
                let day = self.rng.int(plan[0].0 + 30, REF_DAY - 2);
                let acute = *self.rng.pick(&[6usize, 3, 1]);
                plan.push((weekday(day), Visit::Sick(acute)));
            }
        } else {
            let child = age_now < 18.0;
            let tenure = if child {
                self.rng.float(1.0, 10.0).min(age_now - 0.5)
            } else {
                self.rng.float(0.5, 10.0)
            };
            let first = weekday(REF_DAY - (tenure * YEAR) as i64);
            // A minority of patients have long histories (charts over time).
            let rich = self.rng.chance(0.1);
            let base = if rich {
                5.0 + self.rng.float(0.0, 6.0)
            } else {
                1.4 + self.rng.float(0.0, 1.6)
            };
            let n = ((d * base).round() as usize).max(2);
            let mut days: Vec<i64> = (1..n)
                .map(|_| weekday(self.rng.int(first + 14, REF_DAY - 2)))
                .collect();
            days.sort_unstable();
            days.dedup();
            plan.push((first, Visit::NewPatient));
            for day in days {
                plan.push((day, Visit::Wellness)); // refined in choose_problems
            }
        }
        plan.sort_by_key(|&(day, _)| day);
        plan.dedup_by_key(|&mut (day, _)| day);
        plan
    }

    /// Assigns chronic problems, cancer and health concerns, then turns the
    /// placeholder visits of a primary-care plan into wellness, sick and
    /// follow-up visits.
    fn choose_problems(&mut self, plan: &[(i64, Visit)]) {
        let last = plan[plan.len() - 1].0;
        let age_now = self.age_at(REF_DAY);
        let band = |age: f64| {
            if age < 18.0 {
                0
            } else if age < 45.0 {
                1
            } else if age < 65.0 {
                2
            } else {
                3
            }
        };
        if self.oncology() {
            let sex = if self.female { Sex::Female } else { Sex::Male };
            let options: Vec<(&'static Cancer, u32)> = CANCERS
                .iter()
                .filter(|c| c.sex == Sex::Any || c.sex == sex)
                .map(|c| (c, if c.sex == Sex::Any { 25 } else { 40 }))
                .collect();
            let cancer = *self.rng.weighted(&options);
            self.cancer = Some(cancer);
            let consult = plan[0].0;
            let onset = consult - self.rng.int(7, 21);
            let id = self.next_id("cond");
            self.problems.push(Problem {
                id,
                def: &cancer.def,
                flag: None,
                onset,
                recorded: consult,
                abated: None,
                concern: false,
                cancer: true,
                prescribed: false,
            });
        }
        for c in CHRONIC {
            let min_day = self.birth + (c.min_age * YEAR) as i64;
            if min_day >= last || age_now < c.min_age {
                continue;
            }
            // A specialist's problem list carries fewer comorbidities.
            let scale = if self.oncology() { 0.6 } else { 1.0 };
            if !self.rng.chance(scale * c.rates[band(age_now)]) {
                continue;
            }
            if c.flag == Flag::Prediabetes && self.flags.contains(&Flag::Diabetes) {
                continue;
            }
            let onset = self.rng.int(min_day.max(REF_DAY - 20 * 365), last);
            let recorded = plan
                .iter()
                .map(|&(day, _)| day)
                .find(|&day| day >= onset)
                .unwrap_or(last);
            let abated = match c.flag {
                Flag::Depression | Flag::Anxiety | Flag::Obesity | Flag::Migraine if self.rng.chance(0.2) => {
                    let day = recorded + self.rng.int(120, 900);
                    (day < REF_DAY).then_some(day)
                }
                _ => None,
            };
            self.flags.push(c.flag);
            let id = self.next_id("cond");
            self.problems.push(Problem {
                id,
                def: &c.def,
                flag: Some(c.flag),
                onset,
                recorded,
                abated,
                concern: false,
                cancer: false,
                prescribed: false,
            });
        }
        if age_now >= 18.0 && self.rng.chance(0.3) {
            let def = self.rng.pick(HEALTH_CONCERNS);
            let onset = self.rng.int(plan[0].0, last);
            let recorded = plan
                .iter()
                .map(|&(day, _)| day)
                .find(|&day| day >= onset)
                .unwrap_or(last);
            let abated = if self.rng.chance(0.35) {
                let day = recorded + self.rng.int(60, 400);
                (day < REF_DAY).then_some(day)
            } else {
                None
            };
            let id = self.next_id("cond");
            self.problems.push(Problem {
                id,
                def,
                flag: None,
                onset,
                recorded,
                abated,
                concern: true,
                cancer: false,
                prescribed: false,
            });
        }
        if self.has(Flag::Obesity) {
            self.bmi0 = self.bmi0.max(31.0 + self.rng.float(0.0, 7.0));
        }
        self.sys0 = 108.0
            + 0.4 * (age_now - 25.0).max(0.0)
            + self.rng.normal(0.0, 7.0)
            + if self.has(Flag::Hypertension) { 14.0 } else { 0.0 };
        if self.has(Flag::AtrialFibrillation) {
            self.hr0 += 9.0;
        }
    }

    // ------------------------------------------------- patient-level records

    fn patient(&mut self, registered: Ts) {
        let age = self.age_at(REF_DAY);
        let gender = if self.female { "female" } else { "male" };
        let hispanic = self.rng.chance(0.17);
        let race = *self.rng.weighted(RACES);
        let (lang, lang_display) = *self.rng.weighted(LANGUAGES);
        let (lang, lang_display) = if hispanic && self.rng.chance(0.4) {
            ("es", "Spanish")
        } else {
            (lang, lang_display)
        };
        let ethnicity = if hispanic {
            ("2135-2", "Hispanic or Latino")
        } else {
            ("2186-5", "Not Hispanic or Latino")
        };
        let mut name = json!({ "use": "official", "family": self.family, "given": [self.given] });
        if self.rng.chance(0.5) {
            let middle = if self.female {
                *self.rng.pick(GIVEN_FEMALE)
            } else {
                *self.rng.pick(GIVEN_MALE)
            };
            name["given"] = json!([self.given, middle]);
        }
        if age >= 18.0 {
            let prefix = if !self.female {
                "Mr."
            } else if self.rng.chance(0.5) {
                "Ms."
            } else {
                "Mrs."
            };
            name["prefix"] = json!([prefix]);
        }
        let email = format!(
            "{}.{}{}@example.com",
            self.given.to_lowercase(),
            self.family.to_lowercase().replace('\'', ""),
            self.num
        );
        let mut patient = json!({
            "resourceType": "Patient",
            "id": self.pid,
            "meta": { "profile": [profile("us-core-patient")] },
            "extension": [
                {
                    "url": profile("us-core-race"),
                    "extension": [
                        { "url": "ombCategory", "valueCoding": coding(OMB_RACE, race.0, race.1) },
                        { "url": "text", "valueString": race.1 }
                    ]
                },
                {
                    "url": profile("us-core-ethnicity"),
                    "extension": [
                        { "url": "ombCategory", "valueCoding": coding(OMB_RACE, ethnicity.0, ethnicity.1) },
                        { "url": "text", "valueString": ethnicity.1 }
                    ]
                },
                { "url": profile("us-core-birthsex"), "valueCode": if self.female { "F" } else { "M" } }
            ],
            "identifier": [{
                "use": "usual",
                "type": {
                    "coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical Record Number")],
                    "text": "Medical Record Number"
                },
                "system": self.p.spec.mrn_system,
                "value": self.mrn
            }],
            "active": true,
            "name": [name],
            "telecom": [
                { "system": "phone", "value": self.phone, "use": if self.rng.chance(0.7) { "mobile" } else { "home" } },
                { "system": "email", "value": email }
            ],
            "gender": gender,
            "birthDate": time::date(self.birth),
            "address": [self.address.clone()],
            "communication": [{
                "language": {
                    "coding": [coding("urn:ietf:bcp:47", lang, lang_display)],
                    "text": lang_display
                },
                "preferred": true
            }],
            "generalPractitioner": [self.practitioner(self.provider)],
            "managingOrganization": self.org()
        });
        if age >= 18.0 {
            let (code, display) = *self.rng.weighted(&[
                (("M", "Married"), 50u32),
                (("S", "Never Married"), 30),
                (("D", "Divorced"), 12),
                (("W", "Widowed"), if age > 65.0 { 15 } else { 2 }),
            ]);
            patient["maritalStatus"] = json!({
                "coding": [coding("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", code, display)],
                "text": display
            });
        }
        let author = self.provider;
        self.emit(patient, registered.max(Ts::at(self.birth, 12, 0)), author);
    }

    fn related_person(&mut self, when: Ts) {
        let age = self.age_at(REF_DAY);
        let (code, display, female, family) = if age < 18.0 {
            if self.rng.chance(0.65) {
                ("MTH", "mother", true, self.family)
            } else {
                ("FTH", "father", false, self.family)
            }
        } else {
            match *self.rng.weighted(&[(0u8, 45u32), (1, 20), (2, 15), (3, 20)]) {
                0 => ("SPS", "spouse", !self.female, self.family),
                1 => ("DAU", "natural daughter", true, self.family),
                2 => ("SON", "natural son", false, self.family),
                _ => (
                    "FRND",
                    "unrelated friend",
                    self.rng.chance(0.5),
                    *self.rng.pick(FAMILY),
                ),
            }
        };
        let given = if female {
            *self.rng.pick(GIVEN_FEMALE)
        } else {
            *self.rng.pick(GIVEN_MALE)
        };
        self.related = self.next_id("rp");
        self.related_name = format!("{given} {family}");
        let area = self.p.area_code();
        let rp = json!({
            "resourceType": "RelatedPerson",
            "id": self.related,
            "meta": { "profile": [profile("us-core-relatedperson")] },
            "active": true,
            "patient": self.subject(),
            "relationship": [
                { "coding": [coding(ROLE_CODE, code, display)], "text": display },
                { "coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0131", "C", "Emergency Contact")] }
            ],
            "name": [{ "use": "official", "family": family, "given": [given] }],
            "telecom": [{ "system": "phone", "value": format!("{area}-555-{:04}", self.rng.int(100, 199)), "use": "mobile" }],
            "gender": if female { "female" } else { "male" },
            "address": [self.address.clone()]
        });
        let author = self.provider;
        self.emit(rp, when, author);
    }

    fn coverage(&mut self, when: Ts) {
        let age = self.age_at(REF_DAY);
        let kind = if age >= 65.0 {
            PayerKind::Medicare
        } else if (age < 18.0 && self.rng.chance(0.4)) || self.rng.chance(0.16) {
            PayerKind::Medicaid
        } else {
            PayerKind::Commercial
        };
        let candidates: Vec<usize> = (0..self.p.payers.len())
            .filter(|&i| self.p.payers[i].kind == kind)
            .collect();
        let payer = &self.p.payers[*self.rng.pick(&candidates)];
        let (sopt, sopt_display) = match kind {
            PayerKind::Medicare => ("1", "MEDICARE"),
            PayerKind::Medicaid => ("2", "MEDICAID"),
            PayerKind::Commercial if payer.plan.contains("HMO") => ("511", "Commercial Managed Care - HMO"),
            PayerKind::Commercial => ("512", "Commercial Managed Care - PPO"),
        };
        let initial = payer.name.chars().find(char::is_ascii_alphabetic).unwrap_or('M');
        let member = format!("{initial}{}", self.rng.digits(9));
        let child = age < 18.0;
        let start = time::date((self.first_day - self.rng.int(30, 900)).max(self.birth));
        let class_coding = |code: &str, display: &str| json!({ "coding": [coding("http://terminology.hl7.org/CodeSystem/coverage-class", code, display)] });
        let cov = json!({
            "resourceType": "Coverage",
            "id": self.next_id("cov"),
            "meta": { "profile": [profile("us-core-coverage")] },
            "identifier": [{
                "type": { "coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MB", "Member Number")] },
                "system": format!("https://fhir.example.org/sid/{}/member-id", payer.id),
                "value": member
            }],
            "status": "active",
            "type": {
                "coding": [coding("https://nahdo.org/sopt", sopt, sopt_display)],
                "text": sopt_display
            },
            "subscriber": if child {
                reference_d("RelatedPerson", &self.related, &self.related_name)
            } else {
                self.subject()
            },
            "subscriberId": member,
            "beneficiary": self.subject(),
            "relationship": {
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                    "code": if child { "child" } else { "self" }
                }],
                "text": if child { "Child" } else { "Self" }
            },
            "period": { "start": start },
            "payor": [reference_d("Organization", &payer.id, &payer.name)],
            "class": [
                {
                    "type": class_coding("group", "Group"),
                    "value": format!("GRP-{}", self.rng.digits(5)),
                    "name": format!("{} group", payer.name)
                },
                {
                    "type": class_coding("plan", "Plan"),
                    "value": payer.plan.to_uppercase().replace(' ', "-"),
                    "name": payer.plan
                }
            ]
        });
        let author = self.provider;
        self.emit(cov, when, author);
    }

    fn allergies(&mut self, when: Ts) {
        let clinical = |code: &str, display: &str| {
            json!({ "coding": [coding(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code, display
            )] })
        };
        let verification = json!({ "coding": [coding(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            "confirmed",
            "Confirmed"
        )] });
        let n = *self.rng.weighted(&[(0usize, 45u32), (1, 40), (2, 15)]);
        let author = self.provider;
        if n == 0 {
            let ai = json!({
                "resourceType": "AllergyIntolerance",
                "id": self.next_id("alg"),
                "meta": { "profile": [profile("us-core-allergyintolerance")] },
                "clinicalStatus": clinical("active", "Active"),
                "verificationStatus": verification,
                "code": concept(SNOMED, "716186003", "No known allergy (situation)", "No known allergies"),
                "patient": self.subject(),
                "recordedDate": self.ts(when),
                "recorder": self.practitioner(author)
            });
            self.emit(ai, when, author);
            return;
        }
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < n {
            let i = self.rng.index(ALLERGIES.len());
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        for i in chosen {
            let a = &ALLERGIES[i];
            let onset = self
                .rng
                .int(self.birth + 180, self.first_day.max(self.birth + 181));
            let resolved = a.category == "food" && a.kind == "intolerance" && self.rng.chance(0.3);
            let (m_code, m_display) = *self.rng.pick(a.reactions);
            let severity = if m_code == "39579001" {
                "severe"
            } else {
                *self.rng.pick(&["mild", "moderate"])
            };
            let mut ai = json!({
                "resourceType": "AllergyIntolerance",
                "id": self.next_id("alg"),
                "meta": { "profile": [profile("us-core-allergyintolerance")] },
                "clinicalStatus": if resolved { clinical("resolved", "Resolved") } else { clinical("active", "Active") },
                "verificationStatus": verification,
                "type": a.kind,
                "category": [a.category],
                "criticality": a.criticality,
                "code": concept(SNOMED, a.code, a.display, a.display.trim_end_matches(" (substance)")),
                "patient": self.subject(),
                "onsetDateTime": time::date(onset),
                "recordedDate": self.ts(when),
                "recorder": self.practitioner(author),
                "reaction": [{
                    "manifestation": [concept(SNOMED, m_code, m_display, m_display.split(" (").next().unwrap_or(m_display))],
                    "severity": severity
                }]
            });
            if resolved {
                ai["lastOccurrence"] = json!(time::date(onset + self.rng.int(30, 700)));
            }
            self.emit(ai, when, author);
        }
    }

    fn condition_code(def: &CondDef) -> Value {
        json!({
            "coding": [
                coding(SNOMED, def.snomed, def.snomed_display),
                coding(ICD10CM, def.icd10, def.icd10_display)
            ],
            "text": def.text
        })
    }

    fn clinical_status(code: &str) -> Value {
        let display = match code {
            "active" => "Active",
            "resolved" => "Resolved",
            "remission" => "Remission",
            _ => "Inactive",
        };
        json!({ "coding": [coding(CONDITION_CLINICAL, code, display)] })
    }

    fn emit_problems(&mut self) {
        let problems = std::mem::take(&mut self.problems);
        for pr in &problems {
            let recorded = Ts::at(pr.recorded, 9, self.rng.int(0, 59));
            let category = if pr.concern {
                coding(US_CORE_CONDITION_CATEGORY, "health-concern", "Health Concern")
            } else {
                coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
            };
            let status = match pr.abated {
                Some(_) if pr.flag == Some(Flag::Depression) => "remission",
                Some(_) => "resolved",
                None => "active",
            };
            let verification = if pr.concern && self.rng.chance(0.15) {
                ("provisional", "Provisional")
            } else {
                ("confirmed", "Confirmed")
            };
            let mut c = json!({
                "resourceType": "Condition",
                "id": pr.id,
                "meta": { "profile": [profile("us-core-condition-problems-health-concerns")] },
                "clinicalStatus": Self::clinical_status(status),
                "verificationStatus": { "coding": [coding(CONDITION_VER_STATUS, verification.0, verification.1)] },
                "category": [{ "coding": [category] }],
                "code": Self::condition_code(pr.def),
                "subject": self.subject(),
                "onsetDateTime": time::date(pr.onset),
                "recordedDate": self.ts(recorded),
                "recorder": self.practitioner(self.provider),
                "asserter": if pr.concern && self.rng.chance(0.5) {
                    self.subject()
                } else {
                    self.practitioner(self.provider)
                }
            });
            if let Some(day) = pr.abated {
                c["abatementDateTime"] = json!(time::date(day));
            }
            if self.rng.chance(0.5) {
                c["extension"] = json!([{
                    "url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
                    "valueDateTime": time::date(pr.onset.max(pr.recorded - self.rng.int(0, 60)))
                }]);
            }
            let author = self.provider;
            self.emit(c, recorded, author);
        }
        self.problems = problems;
    }

    /// Historical procedures reported at registration.
    fn history(&mut self, first: Ts) {
        let age = self.age_at(self.first_day);
        if age >= 50.0 && self.rng.chance(0.25) {
            let day = self.first_day - self.rng.int(200, 3000);
            let start = Ts::at(day, 8, 30);
            let end = start.plus(self.rng.int(25, 50));
            let proc = json!({
                "resourceType": "Procedure",
                "id": self.next_id("proc"),
                "meta": { "profile": [profile("us-core-procedure")] },
                "status": "completed",
                "code": {
                    "coding": [
                        coding(SNOMED, "73761001", "Colonoscopy (procedure)"),
                        coding(CPT, "45378", "Colonoscopy, flexible; diagnostic")
                    ],
                    "text": "Screening colonoscopy"
                },
                "subject": self.subject(),
                "performedPeriod": { "start": self.ts(start), "end": self.ts(end) },
                "note": [{ "text": "Reported by patient at registration; performed outside this practice." }]
            });
            let author = self.provider;
            self.emit(proc, first, author);
        }
    }

    // ------------------------------------------------------------ visits

    fn visit(&mut self, day: i64, planned: Visit, first: bool) {
        let kind = self.refine(day, planned, first);
        let (hour, minute) = (self.rng.int(8, 16), *self.rng.pick(&[0i64, 15, 30, 45]));
        let start = Ts::at(day, hour, minute);
        let minutes = match kind {
            Visit::NewPatient | Visit::OncConsult => self.rng.int(40, 60),
            Visit::Wellness => self.rng.int(25, 40),
            Visit::Sick(_) => self.rng.int(15, 25),
            Visit::FollowUp(_) | Visit::OncFollowUp => self.rng.int(20, 30),
            Visit::Telehealth(_) => self.rng.int(12, 20),
            Visit::Infusion(_) => self.rng.int(120, 300),
        };
        let end = start.plus(minutes);
        let provider = if self.rng.chance(0.8) {
            self.provider
        } else {
            let providers: Vec<usize> = (0..self.p.clinicians.len())
                .filter(|&i| self.p.clinicians[i].is_provider())
                .collect();
            *self.rng.pick(&providers)
        };
        let site = match kind {
            Visit::Infusion(_) => self.p.site(SiteKind::Infusion).id.clone(),
            _ => self.p.sites[0].id.clone(),
        };
        let id = self.next_id("enc");
        let mut e = Enc {
            reference: reference("Encounter", &id),
            id,
            start,
            end,
            provider,
            site,
            kind,
            vitals: None,
            diagnoses: Vec::new(),
            plan: Vec::new(),
        };
        let booked = match kind {
            Visit::Sick(_) => 0.1,
            Visit::NewPatient | Visit::OncConsult => 0.5,
            _ => 0.3,
        };
        let appointment = if self.rng.chance(booked) {
            let created = e.start.plus(-1440 * self.rng.int(2, 45));
            Some(self.appointment(&e, "fulfilled", created))
        } else {
            None
        };
        self.encounter(&e, appointment.as_deref());
        self.vitals(&mut e);
        match kind {
            Visit::NewPatient | Visit::Wellness => self.wellness(&mut e, first),
            Visit::Sick(i) => self.sick(&mut e, i),
            Visit::FollowUp(i) | Visit::Telehealth(i) => self.follow_up(&mut e, i),
            Visit::OncConsult => self.onc_consult(&mut e),
            Visit::Infusion(c) => self.infusion(&mut e, c),
            Visit::OncFollowUp => self.onc_follow_up(&mut e),
        }
        // Problems first recorded at this visit get their first prescription.
        // (An oncology practice leaves comorbidities to the primary physician.)
        if !matches!(kind, Visit::Telehealth(_)) && !self.oncology() {
            self.start_chronic_meds(&mut e);
        }
        let note_chance = match kind {
            Visit::NewPatient | Visit::OncConsult => 1.0,
            Visit::Infusion(_) => 0.35,
            _ => 0.55,
        };
        if self.rng.chance(note_chance) {
            self.document(&e);
        }
    }

    /// Turns a primary-care placeholder into a concrete visit kind.
    fn refine(&mut self, day: i64, planned: Visit, first: bool) -> Visit {
        if first || planned != Visit::Wellness || self.oncology() {
            return planned;
        }
        let age = self.age_at(day);
        let chronic: Vec<usize> = (0..self.problems.len())
            .filter(|&i| {
                let p = &self.problems[i];
                !p.concern && p.recorded <= day && p.abated.is_none_or(|a| a > day)
            })
            .collect();
        let r = self.rng.float(0.0, 1.0);
        if r < 0.38 || (age < 3.0) {
            Visit::Wellness
        } else if r < 0.7 && !chronic.is_empty() {
            let i = *self.rng.pick(&chronic);
            // Video visits exist from the 2020 pandemic on.
            if day >= time::days_from_civil(2020, 4, 1) && self.rng.chance(0.2) {
                Visit::Telehealth(i)
            } else {
                Visit::FollowUp(i)
            }
        } else {
            let options: Vec<usize> = (0..ACUTE.len())
                .filter(|&i| match ACUTE[i].snomed {
                    "65363002" => age < 12.0,
                    "840539006" => day >= time::days_from_civil(2020, 3, 1),
                    "68566005" => age >= 12.0,
                    _ => true,
                })
                .collect();
            Visit::Sick(*self.rng.pick(&options))
        }
    }

    fn appointment(&mut self, e: &Enc, status: &str, created: Ts) -> String {
        let id = self.next_id("appt");
        let (code, display) = match e.kind {
            Visit::NewPatient | Visit::Wellness => {
                ("CHECKUP", "A routine check-up, such as an annual physical")
            }
            Visit::Sick(_) => ("WALKIN", "A previously unscheduled walk-in visit"),
            Visit::FollowUp(_) | Visit::Telehealth(_) | Visit::OncFollowUp => {
                ("FOLLOWUP", "A follow up visit from a previous appointment")
            }
            Visit::OncConsult | Visit::Infusion(_) => {
                ("ROUTINE", "Routine appointment - default if not valued")
            }
        };
        let mut appt = json!({
            "resourceType": "Appointment",
            "id": id,
            "status": status,
            "appointmentType": {
                "coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0276", code, display)]
            },
            "description": self.visit_label(e.kind),
            "start": self.ts(e.start),
            "end": self.ts(e.end),
            "minutesDuration": e.end.0 - e.start.0,
            "created": self.ts(created),
            "participant": [
                { "actor": self.subject(), "required": "required", "status": "accepted" },
                { "actor": self.practitioner(e.provider), "required": "required", "status": "accepted" },
                { "actor": reference("Location", &e.site), "required": "information-only", "status": "accepted" }
            ]
        });
        if status == "cancelled" {
            appt["cancelationReason"] = concept(
                "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason",
                "pat",
                "Patient",
                "Cancelled by patient",
            );
        }
        let author = e.provider;
        self.emit(appt, created, author);
        id
    }

    fn visit_label(&self, kind: Visit) -> String {
        match kind {
            Visit::NewPatient => "New patient visit".into(),
            Visit::Wellness => {
                if self.age_at(REF_DAY) < 18.0 {
                    "Well child visit".into()
                } else {
                    "Annual wellness visit".into()
                }
            }
            Visit::Sick(i) => format!("Sick visit: {}", ACUTE[i].text),
            Visit::FollowUp(i) => format!("Follow-up: {}", self.problems[i].def.text),
            Visit::Telehealth(i) => format!("Video visit: {}", self.problems[i].def.text),
            Visit::OncConsult => "New patient oncology consultation".into(),
            Visit::Infusion(c) => format!("Chemotherapy infusion, cycle {c}"),
            Visit::OncFollowUp => "Oncology follow-up".into(),
        }
    }

    fn encounter(&mut self, e: &Enc, appointment: Option<&str>) {
        let age = self.age_at(e.start.day());
        let (snomed, snomed_display, cpt, cpt_display): (&str, &str, Option<&str>, &str) = match e.kind {
            Visit::NewPatient if age < 18.0 => (
                "410620009",
                "Well child visit (procedure)",
                Some(match age {
                    a if a < 1.0 => "99381",
                    a if a < 5.0 => "99382",
                    a if a < 12.0 => "99383",
                    _ => "99384",
                }),
                "Initial preventive medicine evaluation, new patient",
            ),
            Visit::NewPatient => (
                "185349003",
                "Encounter for check up (procedure)",
                Some("99204"),
                "Office or other outpatient visit, new patient, moderate complexity",
            ),
            Visit::Wellness if age < 18.0 => (
                "410620009",
                "Well child visit (procedure)",
                Some(match age {
                    a if a < 1.0 => "99391",
                    a if a < 5.0 => "99392",
                    a if a < 12.0 => "99393",
                    _ => "99394",
                }),
                "Periodic preventive medicine reevaluation, established patient",
            ),
            Visit::Wellness => (
                "185349003",
                "Encounter for check up (procedure)",
                Some(match age {
                    a if a < 40.0 => "99395",
                    a if a < 65.0 => "99396",
                    _ => "99397",
                }),
                "Periodic preventive medicine reevaluation, established patient",
            ),
            Visit::Sick(_) => (
                "185345009",
                "Encounter for symptom (procedure)",
                Some("99213"),
                "Office or other outpatient visit, established patient, low complexity",
            ),
            Visit::FollowUp(_) | Visit::OncFollowUp => (
                "390906007",
                "Follow-up encounter (procedure)",
                Some("99214"),
                "Office or other outpatient visit, established patient, moderate complexity",
            ),
            Visit::Telehealth(_) => (
                "448337001",
                "Telemedicine consultation with patient (procedure)",
                None,
                "",
            ),
            Visit::OncConsult => (
                "11429006",
                "Consultation (procedure)",
                Some("99205"),
                "Office or other outpatient visit, new patient, high complexity",
            ),
            Visit::Infusion(_) => (
                "367336001",
                "Chemotherapy (procedure)",
                Some("96413"),
                "Chemotherapy administration, intravenous infusion; up to 1 hour",
            ),
        };
        let mut type_codings = vec![coding(SNOMED, snomed, snomed_display)];
        if let Some(cpt) = cpt {
            type_codings.push(coding(CPT, cpt, cpt_display));
        }
        let (class, class_display) = match e.kind {
            Visit::Telehealth(_) => ("VR", "virtual"),
            _ => ("AMB", "ambulatory"),
        };
        let period = json!({ "start": self.ts(e.start), "end": self.ts(e.end) });
        let site_name = self
            .p
            .sites
            .iter()
            .find(|s| s.id == e.site)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let visit_no = e.id.rsplit('-').next().unwrap_or("1").to_string();
        let mut enc = json!({
            "resourceType": "Encounter",
            "id": e.id,
            "meta": { "profile": [profile("us-core-encounter")] },
            "identifier": [{
                "use": "usual",
                "system": format!("{}.1", self.p.spec.mrn_system),
                "value": format!("{}-{visit_no}", self.mrn)
            }],
            "status": "finished",
            "class": coding(ACT_CODE, class, class_display),
            "type": [{ "coding": type_codings, "text": self.visit_label(e.kind) }],
            "subject": self.subject(),
            "participant": [{
                "type": [{ "coding": [coding(PARTICIPATION_TYPE, "PPRF", "primary performer")] }],
                "period": period,
                "individual": self.practitioner(e.provider)
            }],
            "period": period,
            "location": [{
                "location": reference_d("Location", &e.site, &site_name),
                "status": "completed",
                "period": period
            }],
            "serviceProvider": self.org()
        });
        if let Some(nurse) = self.nurse.filter(|_| matches!(e.kind, Visit::Infusion(_))) {
            if let Some(participants) = enc["participant"].as_array_mut() {
                participants.push(json!({
                    "type": [{ "coding": [coding(PARTICIPATION_TYPE, "PART", "Participation")] }],
                    "individual": self.practitioner(nurse)
                }));
            }
        }
        if let Some(a) = appointment {
            enc["appointment"] = json!([reference("Appointment", a)]);
        }
        match e.kind {
            Visit::Sick(i) => {
                let d = &ACUTE[i];
                enc["reasonCode"] = json!([concept(SNOMED, d.snomed, d.snomed_display, d.text)]);
            }
            Visit::FollowUp(i) | Visit::Telehealth(i) => {
                let pr = &self.problems[i];
                enc["reasonReference"] = json!([reference_d("Condition", &pr.id, pr.def.text)]);
            }
            Visit::OncConsult | Visit::Infusion(_) | Visit::OncFollowUp => {
                if let Some(pr) = self.problems.iter().find(|p| p.cancer) {
                    enc["reasonReference"] = json!([reference_d("Condition", &pr.id, pr.def.text)]);
                }
            }
            _ => {}
        }
        let author = e.provider;
        self.emit(enc, e.end, author);
    }

    // -------------------------------------------------------- observations

    /// A new Observation with the fields every profile shares.
    fn observation(
        &mut self,
        e: Option<&Enc>,
        profiles: &[&str],
        category: Vec<Value>,
        code: Value,
        when: Ts,
        performer: Value,
    ) -> Map<String, Value> {
        let mut o = Map::with_capacity(18);
        o.insert("resourceType".into(), s("Observation"));
        o.insert("id".into(), Value::String(self.next_id("obs")));
        let profiles: Vec<Value> = profiles.iter().map(|p| Value::String(profile(p))).collect();
        o.insert("meta".into(), obj([("profile", Value::Array(profiles))]));
        o.insert("status".into(), s(self.obs_status()));
        o.insert("category".into(), Value::Array(category));
        o.insert("code".into(), code);
        o.insert("subject".into(), self.subject());
        if let Some(e) = e {
            o.insert("encounter".into(), Self::enc_ref(e));
        }
        o.insert("effectiveDateTime".into(), Value::String(self.ts(when)));
        let issued = when.plus(self.rng.int(1, 30));
        o.insert("issued".into(), Value::String(self.ts(issued)));
        o.insert("performer".into(), Value::Array(vec![performer]));
        o
    }

    fn vital(
        &mut self,
        e: &Enc,
        profile_id: &str,
        loinc: &[(&str, &str)],
        text: &str,
        value: Value,
    ) -> String {
        let codings: Vec<Value> = loinc.iter().map(|(c, d)| coding(LOINC, c, d)).collect();
        // Vital signs are taken together at intake.
        let when = e.start.plus(5);
        let who = self.performer_for_vitals(e);
        let performer = self.practitioner(who);
        let mut o = self.observation(
            Some(e),
            &[profile_id, "us-core-vital-signs"],
            vec![obs_category("vital-signs")],
            obj([("coding", Value::Array(codings)), ("text", s(text))]),
            when,
            performer,
        );
        let id = o["id"].as_str().unwrap_or_default().to_string();
        match value {
            Value::Array(components) => o.insert("component".into(), Value::Array(components)),
            quantity => o.insert("valueQuantity".into(), quantity),
        };
        self.emit(Value::Object(o), when.plus(15), who);
        id
    }

    fn child_growth(&self, age: f64) -> (f64, f64, f64) {
        let teen_height = if self.female { 163.0 } else { 177.0 };
        let teen_weight = if self.female { 57.0 } else { 68.0 };
        let height = if age < 1.0 {
            50.0 + 25.0 * age
        } else if age < 2.0 {
            75.0 + 12.0 * (age - 1.0)
        } else if age < 12.0 {
            87.0 + 6.2 * (age - 2.0)
        } else {
            let span = if self.female { 4.0 } else { 6.0 };
            149.0 + (teen_height - 149.0) * ((age - 12.0) / span).min(1.0)
        };
        let weight = if age < 1.0 {
            3.4 + 6.6 * age
        } else if age < 2.0 {
            10.0 + 2.5 * (age - 1.0)
        } else if age < 12.0 {
            12.5 + 2.6 * (age - 2.0)
        } else {
            38.5 + (teen_weight - 38.5) * ((age - 12.0) / 6.0).min(1.0)
        };
        let head = if age < 1.0 {
            35.0 + 11.0 * age
        } else {
            46.0 + 1.5 * (age - 1.0).min(2.0) + 0.3 * (age - 3.0).clamp(0.0, 10.0)
        };
        (
            height * (1.0 + 0.04 * self.z_height),
            weight * (1.0 + 0.11 * self.z_weight),
            head * (1.0 + 0.03 * self.z_head),
        )
    }

    fn vitals(&mut self, e: &mut Enc) {
        let day = e.start.day();
        let age = self.age_at(day);
        let full = matches!(e.kind, Visit::NewPatient | Visit::Wellness | Visit::OncConsult);
        let (temp_p, rr_p, spo2_p, bp) = match e.kind {
            Visit::Telehealth(_) => return,
            Visit::Sick(_) => (1.0, 0.6, 0.6, age >= 3.0),
            Visit::Infusion(_) => (0.4, 0.2, 0.35, true),
            Visit::FollowUp(_) | Visit::OncFollowUp => (0.2, 0.15, 0.25, age >= 3.0),
            _ => (0.5, 0.45, 0.45, age >= 3.0),
        };
        let resp = self.has(Flag::Copd) || self.has(Flag::Asthma);
        let fever = matches!(e.kind, Visit::Sick(i) if ["43878008", "6142004", "840539006", "10509002"].contains(&ACUTE[i].snomed));
        // weight and height
        let (height, weight) = if age < 18.0 {
            let (h, w, _) = self.child_growth(age);
            (h, w + self.rng.normal(0.0, 0.02 * w))
        } else {
            let years = (day - self.first_day) as f64 / YEAR;
            let mut w = self.bmi0 * (self.adult_height / 100.0).powi(2) + self.weight_trend * years;
            if let Some(start) = self.infusion_start {
                let since = (day - start) as f64;
                if since >= 0.0 {
                    w -= (since / 21.0 * 1.4).min(7.0);
                }
            }
            (self.adult_height, w + self.rng.normal(0.0, 0.6))
        };
        let weight = weight.max(2.0);
        let mut sys = 0;
        let mut dia = 0;
        if bp {
            let (s, d) = if age < 18.0 {
                let s = 92.0 + 1.3 * age + self.rng.normal(0.0, 6.0);
                (s, 0.62 * s + self.rng.normal(0.0, 4.0))
            } else {
                let s = self.sys0
                    + self.rng.normal(0.0, 7.0)
                    + if self.has(Flag::Hypertension)
                        && self
                            .problems
                            .iter()
                            .any(|p| p.prescribed && p.flag == Some(Flag::Hypertension))
                    {
                        -9.0
                    } else {
                        0.0
                    };
                (s, 0.58 * s + 8.0 + self.rng.normal(0.0, 5.0))
            };
            sys = s.round() as i64;
            dia = d.round() as i64;
            self.vital(
                e,
                "us-core-blood-pressure",
                &[("85354-9", "Blood pressure panel with all children optional")],
                "Blood pressure",
                Value::Array(vec![
                    obj([
                        (
                            "code",
                            concept(
                                LOINC,
                                "8480-6",
                                "Systolic blood pressure",
                                "Systolic blood pressure",
                            ),
                        ),
                        ("valueQuantity", quantity(sys as f64, 0, "mmHg", "mm[Hg]")),
                    ]),
                    obj([
                        (
                            "code",
                            concept(
                                LOINC,
                                "8462-4",
                                "Diastolic blood pressure",
                                "Diastolic blood pressure",
                            ),
                        ),
                        ("valueQuantity", quantity(dia as f64, 0, "mmHg", "mm[Hg]")),
                    ]),
                ]),
            );
        }
        let hr_base = if age < 1.0 {
            135.0
        } else if age < 6.0 {
            110.0
        } else if age < 13.0 {
            88.0
        } else {
            self.hr0
        };
        let hr = (hr_base + self.rng.normal(0.0, 6.0) + if fever { 12.0 } else { 0.0 }).round() as i64;
        self.vital(
            e,
            "us-core-heart-rate",
            &[("8867-4", "Heart rate")],
            "Heart rate",
            quantity(hr as f64, 0, "beats/minute", "/min"),
        );
        if self.rng.chance(rr_p) {
            let base = if age < 1.0 {
                34.0
            } else if age < 6.0 {
                25.0
            } else if age < 13.0 {
                20.0
            } else {
                15.0
            };
            let rr = base + self.rng.normal(0.0, 1.8) + if fever { 3.0 } else { 0.0 };
            self.vital(
                e,
                "us-core-respiratory-rate",
                &[("9279-1", "Respiratory rate")],
                "Respiratory rate",
                quantity(rr, 0, "breaths/minute", "/min"),
            );
        }
        if self.rng.chance(temp_p) || fever {
            let t = if fever {
                self.rng.float(37.9, 39.4)
            } else {
                self.rng.normal(36.7, 0.25)
            };
            self.vital(
                e,
                "us-core-body-temperature",
                &[("8310-5", "Body temperature")],
                "Body temperature",
                quantity(t, 1, "Cel", "Cel"),
            );
        }
        if self.rng.chance(spo2_p) || (resp && !matches!(e.kind, Visit::Wellness)) {
            let base = if self.has(Flag::Copd) { 93.0 } else { 98.0 };
            let v = (base + self.rng.normal(0.0, 1.0)).min(100.0);
            self.vital(
                e,
                "us-core-pulse-oximetry",
                &[
                    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                    ("2708-6", "Oxygen saturation in Arterial blood"),
                ],
                "Oxygen saturation",
                quantity(v, 0, "%", "%"),
            );
        }
        self.vital(
            e,
            "us-core-body-weight",
            &[("29463-7", "Body weight")],
            "Body weight",
            quantity(weight, 1, "kg", "kg"),
        );
        let measure_height = age < 18.0
            || matches!(e.kind, Visit::NewPatient | Visit::OncConsult)
            || (full && self.rng.chance(0.4));
        if measure_height {
            let measured = height + self.rng.normal(0.0, 0.3);
            self.vital(
                e,
                "us-core-body-height",
                &[("8302-2", "Body height")],
                "Body height",
                quantity(measured, 1, "cm", "cm"),
            );
            let bmi = weight / (height / 100.0).powi(2);
            if age >= 2.0 {
                self.vital(
                    e,
                    "us-core-bmi",
                    &[("39156-5", "Body mass index (BMI) [Ratio]")],
                    "BMI",
                    quantity(bmi, 1, "kg/m2", "kg/m2"),
                );
            }
            if (2.0..20.0).contains(&age) {
                let z = self.z_weight - 0.6 * self.z_height + self.rng.normal(0.0, 0.15);
                self.vital(
                    e,
                    "pediatric-bmi-for-age",
                    &[("59576-9", "Body mass index (BMI) [Percentile] Per age and sex")],
                    "BMI percentile for age",
                    quantity((100.0 * phi(z)).clamp(1.0, 99.0), 0, "%", "%"),
                );
            }
            if age < 3.0 {
                let (_, _, head) = self.child_growth(age);
                let head = head + self.rng.normal(0.0, 0.2);
                self.vital(
                    e,
                    "us-core-head-circumference",
                    &[("9843-4", "Head Occipital-frontal circumference")],
                    "Head circumference",
                    quantity(head, 1, "cm", "cm"),
                );
                let z = self.z_head + self.rng.normal(0.0, 0.1);
                self.vital(
                    e,
                    "head-occipital-frontal-circumference-percentile",
                    &[("8289-1", "Head Occipital-frontal circumference Percentile")],
                    "Head circumference percentile",
                    quantity((100.0 * phi(z)).clamp(1.0, 99.0), 0, "%", "%"),
                );
                let z = self.z_weight - 0.8 * self.z_height + self.rng.normal(0.0, 0.1);
                self.vital(
                    e,
                    "pediatric-weight-for-height",
                    &[("77606-2", "Weight-for-length Per age and sex")],
                    "Weight-for-length percentile",
                    quantity((100.0 * phi(z)).clamp(1.0, 99.0), 0, "%", "%"),
                );
            }
        }
        e.vitals = Some((sys, dia, hr, (weight * 10.0).round() / 10.0));
        if age >= 18.0 && !measure_height {
            self.weights_without_bmi.push((e.clone(), weight));
        }
        self.last_vitals = Some(e.clone());
    }

    fn social_history(&mut self, e: &Enc) {
        if self.social_done {
            return;
        }
        self.social_done = true;
        let age = self.age_at(e.start.day());
        let when = e.start.plus(5);
        let provider = e.provider;
        let social = [obs_category("social-history")];
        if age >= 12.0 {
            let (code, display) = if self.smoker {
                *self.rng.weighted(&SMOKING[1..])
            } else if age < 18.0 {
                ("266919005", "Never smoked tobacco (finding)")
            } else {
                *self.rng.weighted(&SMOKING[..2])
            };
            let mut o = self.observation(
                Some(e),
                &["us-core-smokingstatus"],
                social.to_vec(),
                concept(
                    LOINC,
                    "72166-2",
                    "Tobacco smoking status",
                    "Tobacco smoking status",
                ),
                when,
                self.practitioner(provider),
            );
            o.insert(
                "valueCodeableConcept".into(),
                concept(SNOMED, code, display, display.trim_end_matches(" (finding)")),
            );
            self.emit(Value::Object(o), when.plus(20), provider);
        }
        if age < 18.0 {
            return;
        }
        if age < 68.0 {
            let job = self.rng.pick(OCCUPATIONS);
            let since = e.start.day() - self.rng.int(200, 4000);
            let mut o = self.observation(
                Some(e),
                &["us-core-observation-occupation"],
                social.to_vec(),
                concept(LOINC, "11341-5", "History of Occupation", "Occupation"),
                when,
                self.practitioner(provider),
            );
            o.remove("effectiveDateTime");
            o.insert(
                "effectivePeriod".into(),
                json!({ "start": time::date(since.max(self.birth + (18.0 * YEAR) as i64)) }),
            );
            o.insert(
                "valueCodeableConcept".into(),
                concept(ODH, job.code, job.display, job.display),
            );
            o.insert(
                "component".into(),
                json!([{
                    "code": concept(LOINC, "86188-0", "History of Occupation industry", "Industry"),
                    "valueCodeableConcept": concept(ODH, job.industry, job.industry_display, job.industry_display)
                }]),
            );
            self.emit(Value::Object(o), when.plus(20), provider);
        }
        let orientation = *self.rng.weighted(&[
            ((SNOMED, "20430005", "Heterosexual (finding)"), 86u32),
            ((SNOMED, "38628009", "Homosexual (finding)"), 4),
            ((SNOMED, "42035005", "Bisexual (finding)"), 4),
            ((NULL_FLAVOR, "ASKU", "Asked but no answer"), 4),
            ((NULL_FLAVOR, "UNK", "Unknown"), 2),
        ]);
        let mut o = self.observation(
            Some(e),
            &["us-core-observation-sexual-orientation"],
            social.to_vec(),
            concept(LOINC, "76690-7", "Sexual orientation", "Sexual orientation"),
            when,
            self.practitioner(provider),
        );
        o.insert(
            "valueCodeableConcept".into(),
            concept(
                orientation.0,
                orientation.1,
                orientation.2,
                orientation.2.trim_end_matches(" (finding)"),
            ),
        );
        self.emit(Value::Object(o), when.plus(20), provider);
        // simple observation: functional status or a social need
        let (category, code, value): (Value, Value, (&str, Value)) = if age >= 65.0 || self.rng.chance(0.4) {
            (
                json!({ "coding": [coding(US_CORE_CATEGORY, "functional-status", "Functional Status")] }),
                concept(
                    LOINC,
                    "75276-6",
                    "Functional status [Interpretation]",
                    "Functional status",
                ),
                (
                    "valueCodeableConcept",
                    concept(
                        SNOMED,
                        "129035000",
                        "Independent with dressing (finding)",
                        "Independent with dressing",
                    ),
                ),
            )
        } else {
            (
                json!({ "coding": [coding(US_CORE_CATEGORY, "sdoh", "SDOH")] }),
                concept(
                    SNOMED,
                    "160695008",
                    "Transport too expensive (finding)",
                    "Transport too expensive",
                ),
                ("valueBoolean", json!(self.rng.chance(0.12))),
            )
        };
        let mut o = self.observation(
            Some(e),
            &["us-core-simple-observation"],
            vec![category, obs_category("social-history")],
            code,
            when,
            self.practitioner(provider),
        );
        o.insert(value.0.into(), value.1);
        self.emit(Value::Object(o), when.plus(20), provider);
    }

    fn pregnancy(&mut self, e: &Enc) {
        let age = self.age_at(e.start.day());
        if !self.female || !(15.0..50.0).contains(&age) || self.pregnancy_done {
            return;
        }
        self.pregnancy_done = true;
        let when = e.start.plus(6);
        let provider = e.provider;
        let social = [obs_category("social-history")];
        let pregnant = age < 42.0 && self.rng.chance(0.06);
        let mut o = self.observation(
            Some(e),
            &["us-core-observation-pregnancystatus"],
            social.to_vec(),
            concept(LOINC, "82810-3", "Pregnancy status", "Pregnancy status"),
            when,
            self.practitioner(provider),
        );
        o.insert(
            "valueCodeableConcept".into(),
            if pregnant {
                concept(SNOMED, "77386006", "Pregnant (finding)", "Pregnant")
            } else {
                concept(SNOMED, "60001007", "Not pregnant (finding)", "Not pregnant")
            },
        );
        self.emit(Value::Object(o), when.plus(20), provider);
        if !pregnant {
            let (code, display) = *self.rng.weighted(&[
                (
                    ("454401000124105", "No desire to become pregnant (finding)"),
                    55u32,
                ),
                (("454411000124108", "Wants to become pregnant (finding)"), 20),
                (
                    ("454391000124108", "Ambivalent about becoming pregnant (finding)"),
                    10,
                ),
                (
                    (
                        "454381000124105",
                        "Not sure of desire to become pregnant (finding)",
                    ),
                    15,
                ),
            ]);
            let mut o = self.observation(
                Some(e),
                &["us-core-observation-pregnancyintent"],
                social.to_vec(),
                concept(
                    LOINC,
                    "86645-9",
                    "Pregnancy intention in the next year - Reported",
                    "Pregnancy intent",
                ),
                when,
                self.practitioner(provider),
            );
            o.insert(
                "valueCodeableConcept".into(),
                concept(SNOMED, code, display, display.trim_end_matches(" (finding)")),
            );
            self.emit(Value::Object(o), when.plus(20), provider);
        }
    }

    /// PHQ-9: the QuestionnaireResponse, the total score and the panel.
    fn phq9(&mut self, e: &mut Enc) {
        if self.phq_done || self.age_at(e.start.day()) < 12.0 {
            return;
        }
        self.phq_done = true;
        let when = e.start.plus(2);
        let provider = e.provider;
        let depressed = self.has(Flag::Depression) || self.has(Flag::Anxiety);
        let weights: [(usize, u32); 4] = if depressed {
            [(0, 25), (1, 35), (2, 25), (3, 15)]
        } else {
            [(0, 72), (1, 22), (2, 5), (3, 1)]
        };
        let mut total = 0i64;
        let mut items = Vec::new();
        for (i, (code, text)) in PHQ9_ITEMS.iter().enumerate() {
            let score = if i == 8 && !depressed {
                0
            } else {
                *self.rng.weighted(&weights)
            };
            total += score as i64;
            let (a_code, a_display) = PHQ9_ANSWERS[score];
            items.push(json!({
                "linkId": format!("/{code}"),
                "text": text,
                "answer": [{ "valueCoding": coding(LOINC, a_code, a_display) }]
            }));
        }
        items.push(json!({
            "linkId": "/44261-6",
            "text": "Patient Health Questionnaire 9 item (PHQ-9) total score",
            "answer": [{ "valueInteger": total }]
        }));
        let qr_id = self.next_id("qr");
        let qr = json!({
            "resourceType": "QuestionnaireResponse",
            "id": qr_id,
            "meta": { "profile": [profile("us-core-questionnaireresponse")] },
            "questionnaire": "http://loinc.org/q/44249-1",
            "status": "completed",
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "authored": self.ts(when),
            "author": self.subject(),
            "source": self.subject(),
            "item": items
        });
        self.emit(qr, when, provider);
        let survey = [obs_category("survey")];
        let severity = match total {
            0..=4 => "Minimal depression",
            5..=9 => "Mild depression",
            10..=14 => "Moderate depression",
            15..=19 => "Moderately severe depression",
            _ => "Severe depression",
        };
        let mut o = self.observation(
            Some(e),
            &["us-core-observation-screening-assessment"],
            survey.to_vec(),
            concept(
                LOINC,
                "44261-6",
                "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
                "PHQ-9 total score",
            ),
            when,
            self.subject(),
        );
        let total_id = o["id"].as_str().unwrap_or_default().to_string();
        o.insert("valueInteger".into(), json!(total));
        o.insert(
            "derivedFrom".into(),
            json!([reference("QuestionnaireResponse", &qr_id)]),
        );
        o.insert("note".into(), json!([{ "text": severity }]));
        self.emit(Value::Object(o), when.plus(5), provider);
        let mut o = self.observation(
            Some(e),
            &["us-core-observation-screening-assessment"],
            survey.to_vec(),
            concept(
                LOINC,
                "44249-1",
                "PHQ-9 quick depression assessment panel [Reported.PHQ]",
                "PHQ-9 panel",
            ),
            when,
            self.subject(),
        );
        o.insert("hasMember".into(), json!([reference("Observation", &total_id)]));
        o.insert(
            "derivedFrom".into(),
            json!([reference("QuestionnaireResponse", &qr_id)]),
        );
        self.emit(Value::Object(o), when.plus(5), provider);
        if self.rng.chance(0.5) {
            self.procedure(
                e,
                &[coding(SNOMED, "171207006", "Depression screening (procedure)")],
                "Depression screening",
                when,
                None,
                None,
            );
        }
        if total >= 10 {
            e.plan.push(format!(
                "PHQ-9 score {total} ({severity}); discussed treatment options."
            ));
        }
    }

    // ---------------------------------------------------------------- labs

    fn lab_value(&mut self, loinc: &str, mean: f64, sd: f64, day: i64) -> f64 {
        let mut m = mean;
        let mut s = sd;
        let on_chemo = self.infusion_start.is_some_and(|st| day >= st && day - st < 200);
        match loinc {
            "2345-7" if self.has(Flag::Diabetes) => (m, s) = (152.0, 32.0),
            "2345-7" if self.has(Flag::Prediabetes) => (m, s) = (108.0, 7.0),
            "4548-4" if self.has(Flag::Diabetes) => (m, s) = (7.6, 0.9),
            "4548-4" if self.has(Flag::Prediabetes) => (m, s) = (6.0, 0.2),
            "2093-3" | "18262-6" if self.has(Flag::Hyperlipidemia) => m += 42.0,
            "2571-8"
                if self.has(Flag::Hyperlipidemia) || self.has(Flag::Diabetes) || self.has(Flag::Obesity) =>
            {
                m += 60.0
            }
            "2085-9" if self.has(Flag::Obesity) || self.has(Flag::Diabetes) => m -= 9.0,
            "2085-9" if self.female => m += 8.0,
            "3016-3" if self.has(Flag::Hypothyroidism) => (m, s) = (5.8, 2.0),
            "718-7" => {
                if self.female {
                    m -= 1.3;
                }
                if on_chemo {
                    m -= 1.8;
                }
            }
            "6690-2" if on_chemo => (m, s) = (3.6, 1.3),
            "777-3" if on_chemo => m -= 70.0,
            "2160-0" => {
                if !self.female {
                    m += 0.15;
                }
                if self.age_at(day) > 70.0 {
                    m += 0.2;
                }
            }
            "17842-6" | "2039-6" | "2857-1" => {
                if let Some(pr) = self.problems.iter().find(|p| p.cancer) {
                    let since = (day - pr.recorded).max(0) as f64;
                    m *= 1.0 + 4.0 * (-since / 150.0).exp();
                    s *= 1.5;
                }
            }
            _ => {}
        }
        self.rng.normal(m, s).max(mean * 0.15)
    }

    /// A lab order with its specimen, results and report.
    fn lab_panel(&mut self, e: &mut Enc, panel: usize, reason: Option<String>) {
        let def = &PANELS[panel];
        let author = e.provider;
        let ordered = e.start.plus(self.rng.int(10, 25));
        let collected = ordered.plus(self.rng.int(5, 30));
        let resulted = collected.plus(self.rng.int(90, 60 * 20));
        self.last_labs = Some(e.start.day());
        let sr_id = self.next_id("sreq");
        let panel_code = concept(LOINC, def.loinc, def.display, def.text);
        let mut sr = json!({
            "resourceType": "ServiceRequest",
            "id": sr_id,
            "meta": { "profile": [profile("us-core-servicerequest")] },
            "status": "completed",
            "intent": "order",
            "category": [concept(SNOMED, "108252007", "Laboratory procedure (procedure)", "Laboratory")],
            "code": panel_code,
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "occurrenceDateTime": self.ts(collected),
            "authoredOn": self.ts(ordered),
            "requester": self.practitioner(author),
            "performer": [self.org()]
        });
        if let Some(cond) = &reason {
            sr["reasonReference"] = json!([reference("Condition", cond)]);
        }
        self.emit(sr, ordered, author);
        let spec_id = self.next_id("spec");
        let spec = json!({
            "resourceType": "Specimen",
            "id": spec_id,
            "meta": { "profile": [profile("us-core-specimen")] },
            "accessionIdentifier": {
                "system": format!("https://fhir.example.org/sid/{}/accession", self.key),
                "value": format!("{}-{}", time::date(collected.day()).replace('-', ""), self.rng.digits(5))
            },
            "status": "available",
            "type": concept(SNOMED, def.specimen.0, def.specimen.1, def.specimen.1.trim_end_matches(" (specimen)")),
            "subject": self.subject(),
            "receivedTime": self.ts(collected.plus(20)),
            "request": [reference("ServiceRequest", &sr_id)],
            "collection": {
                "collector": self.practitioner(self.nurse.unwrap_or(author)),
                "collectedDateTime": self.ts(collected),
                "method": concept(SNOMED, "28520004", "Venipuncture for blood test (procedure)", "Venipuncture")
            }
        });
        self.emit(spec, collected, self.nurse.unwrap_or(author));
        let mut results = Vec::new();
        let mut abnormal = Vec::new();
        for t in def.tests {
            let v = self.lab_value(t.loinc, t.mean, t.sd, e.start.day());
            let f = 10f64.powi(t.decimals as i32);
            let v = (v * f).round() / f;
            let (flag, flag_display) = match (t.low, t.high) {
                (Some(lo), _) if v < lo => ("L", "Low"),
                (_, Some(hi)) if v > hi => ("H", "High"),
                _ => ("N", "Normal"),
            };
            if flag != "N" {
                abnormal.push(format!(
                    "{} {} {} ({})",
                    t.display.split(" [").next().unwrap_or(t.display),
                    v,
                    t.unit,
                    flag_display.to_lowercase()
                ));
            }
            let mut range = Map::new();
            if let Some(lo) = t.low {
                range.insert("low".into(), quantity(lo, t.decimals, t.unit, t.unit));
            }
            if let Some(hi) = t.high {
                range.insert("high".into(), quantity(hi, t.decimals, t.unit, t.unit));
            }
            let text = match (t.low, t.high) {
                (Some(lo), Some(hi)) => format!("{lo}-{hi} {}", t.unit),
                (Some(lo), None) => format!(">{lo} {}", t.unit),
                (None, Some(hi)) => format!("<{hi} {}", t.unit),
                (None, None) => String::new(),
            };
            range.insert("text".into(), json!(text));
            let mut o = self.observation(
                Some(e),
                &["us-core-observation-lab"],
                vec![obs_category("laboratory")],
                concept(LOINC, t.loinc, t.display, t.display),
                collected,
                self.org(),
            );
            o.insert("issued".into(), json!(self.ts(resulted)));
            o.insert("valueQuantity".into(), quantity(v, t.decimals, t.unit, t.unit));
            o.insert(
                "interpretation".into(),
                json!([{ "coding": [coding(INTERPRETATION, flag, flag_display)], "text": flag_display }]),
            );
            o.insert("referenceRange".into(), json!([Value::Object(range)]));
            o.insert("specimen".into(), reference("Specimen", &spec_id));
            o.insert("basedOn".into(), json!([reference("ServiceRequest", &sr_id)]));
            results.push(reference_d(
                "Observation",
                o["id"].as_str().unwrap_or_default(),
                t.display,
            ));
            self.emit(Value::Object(o), resulted, author);
        }
        let dr = json!({
            "resourceType": "DiagnosticReport",
            "id": self.next_id("dr"),
            "meta": { "profile": [profile("us-core-diagnosticreport-lab")] },
            "basedOn": [reference("ServiceRequest", &sr_id)],
            "status": "final",
            "category": [{
                "coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
                "text": "Laboratory"
            }],
            "code": panel_code,
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "effectiveDateTime": self.ts(collected),
            "issued": self.ts(resulted),
            "performer": [self.org()],
            "resultsInterpreter": [self.practitioner(author)],
            "specimen": [reference("Specimen", &spec_id)],
            "result": results
        });
        self.emit(dr, resulted, author);
        if abnormal.is_empty() {
            e.plan.push(format!("{}: within normal limits.", def.text));
        } else {
            e.plan.push(format!("{}: {}.", def.text, abnormal.join(", ")));
        }
    }

    /// An imaging or cardiology study: order, optional result, narrative report.
    fn study(&mut self, e: &mut Enc, echo: bool) {
        let author = e.provider;
        let ordered = e.start.plus(10);
        let done = ordered.plus(self.rng.int(60, 60 * 48));
        let read = done.plus(self.rng.int(30, 60 * 6));
        let (sr_code, cat, cat_display, title) = if echo {
            (
                coding(SNOMED, "40701008", "Echocardiography (procedure)"),
                "LP29708-2",
                "Cardiology",
                "Transthoracic echocardiogram",
            )
        } else {
            (
                coding(SNOMED, "169069000", "Computed tomography of chest (procedure)"),
                "LP29684-5",
                "Radiology",
                "CT chest with contrast",
            )
        };
        let sr_id = self.next_id("sreq");
        let sr = json!({
            "resourceType": "ServiceRequest",
            "id": sr_id,
            "meta": { "profile": [profile("us-core-servicerequest")] },
            "status": "completed",
            "intent": "order",
            "category": [concept(SNOMED, "363679005", "Imaging (procedure)", "Imaging")],
            "code": { "coding": [sr_code], "text": title },
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "occurrenceDateTime": self.ts(done),
            "authoredOn": self.ts(ordered),
            "requester": self.practitioner(author)
        });
        self.emit(sr, ordered, author);
        let mut results = Vec::new();
        let report = if echo {
            let ef = self.rng.normal(60.0, 4.0).clamp(45.0, 72.0).round();
            let mut o = self.observation(
                Some(e),
                &["us-core-observation-clinical-result"],
                vec![obs_category("imaging")],
                concept(
                    LOINC,
                    "10230-1",
                    "Left ventricular Ejection fraction",
                    "LV ejection fraction",
                ),
                done,
                self.practitioner(author),
            );
            o.insert("valueQuantity".into(), quantity(ef, 0, "%", "%"));
            o.insert("basedOn".into(), json!([reference("ServiceRequest", &sr_id)]));
            results.push(reference("Observation", o["id"].as_str().unwrap_or_default()));
            self.emit(Value::Object(o), read, author);
            format!(
                "TRANSTHORACIC ECHOCARDIOGRAM\nIndication: baseline cardiac function before cardiotoxic chemotherapy.\nFindings: normal left ventricular size; LVEF {ef}% by biplane Simpson method; no significant valvular disease; no pericardial effusion.\nImpression: preserved systolic function."
            )
        } else {
            let site = self.cancer.map(|c| c.def.text).unwrap_or("malignancy");
            format!(
                "CT CHEST WITH CONTRAST\nIndication: staging of {site}.\nTechnique: axial images from thoracic inlet to adrenals after IV contrast.\nFindings: no pulmonary nodules larger than 4 mm; no mediastinal or hilar lymphadenopathy; no pleural effusion.\nImpression: no evidence of intrathoracic metastatic disease."
            )
        };
        let mut dr = json!({
            "resourceType": "DiagnosticReport",
            "id": self.next_id("dr"),
            "meta": { "profile": [profile("us-core-diagnosticreport-note")] },
            "basedOn": [reference("ServiceRequest", &sr_id)],
            "status": "final",
            "category": [{ "coding": [coding(LOINC, cat, cat_display)], "text": cat_display }],
            "code": { "coding": [coding(LOINC, "18748-4", "Diagnostic imaging study")], "text": title },
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "effectiveDateTime": self.ts(done),
            "issued": self.ts(read),
            "performer": [self.org()],
            "resultsInterpreter": [self.practitioner(author)],
            "presentedForm": [{
                "contentType": "text/plain",
                "language": "en-US",
                "data": b64(&report),
                "title": title
            }]
        });
        if !results.is_empty() {
            dr["result"] = Value::Array(results);
        }
        self.emit(dr, read, author);
        e.plan.push(format!("{title} ordered and reviewed."));
    }

    /// A resting ECG with its QRS duration and interpretation.
    fn ecg(&mut self, e: &mut Enc) {
        self.ecg_done = true;
        let author = e.provider;
        let when = e.start.plus(self.rng.int(15, 30));
        self.procedure(
            e,
            &[
                coding(SNOMED, "29303009", "Electrocardiographic procedure (procedure)"),
                coding(
                    CPT,
                    "93000",
                    "Electrocardiogram, routine ECG with at least 12 leads; with interpretation and report",
                ),
            ],
            "12-lead ECG",
            when,
            None,
            None,
        );
        let qrs = self.rng.normal(92.0, 9.0).round();
        let mut o = self.observation(
            Some(e),
            &["us-core-observation-clinical-result"],
            vec![obs_category("procedure")],
            concept(LOINC, "44973-6", "QRS dur {EKG lead}", "QRS duration"),
            when,
            self.practitioner(author),
        );
        let obs_id = o["id"].as_str().unwrap_or_default().to_string();
        o.insert("valueQuantity".into(), quantity(qrs, 0, "ms", "ms"));
        self.emit(Value::Object(o), when.plus(10), author);
        let rhythm = if self.has(Flag::AtrialFibrillation) {
            "atrial fibrillation with controlled ventricular response"
        } else {
            "normal sinus rhythm"
        };
        let text = format!(
            "12-LEAD ECG\nRhythm: {rhythm}.\nQRS duration {qrs} ms. No acute ST-T changes.\nInterpretation: no acute abnormality."
        );
        let dr = json!({
            "resourceType": "DiagnosticReport",
            "id": self.next_id("dr"),
            "meta": { "profile": [profile("us-core-diagnosticreport-note")] },
            "status": "final",
            "category": [{ "coding": [coding(LOINC, "LP29708-2", "Cardiology")], "text": "Cardiology" }],
            "code": { "coding": [coding(LOINC, "11524-6", "EKG study")], "text": "ECG" },
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "effectiveDateTime": self.ts(when),
            "issued": self.ts(when.plus(30)),
            "performer": [self.practitioner(author)],
            "result": [reference("Observation", &obs_id)],
            "presentedForm": [{ "contentType": "text/plain", "data": b64(&text), "title": "ECG interpretation" }]
        });
        self.emit(dr, when.plus(30), author);
        e.plan.push(format!("ECG: {rhythm}."));
    }

    fn procedure(
        &mut self,
        e: &Enc,
        codings: &[Value],
        text: &str,
        when: Ts,
        end: Option<Ts>,
        reason: Option<&str>,
    ) {
        let author = e.provider;
        let mut p = json!({
            "resourceType": "Procedure",
            "id": self.next_id("proc"),
            "meta": { "profile": [profile("us-core-procedure")] },
            "status": "completed",
            "code": { "coding": codings, "text": text },
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "performer": [{ "actor": self.practitioner(author), "onBehalfOf": self.org() }],
            "location": reference("Location", &e.site)
        });
        match end {
            Some(end) => p["performedPeriod"] = json!({ "start": self.ts(when), "end": self.ts(end) }),
            None => p["performedDateTime"] = json!(self.ts(when)),
        }
        if let Some(cond) = reason {
            p["reasonReference"] = json!([reference("Condition", cond)]);
        }
        self.emit(p, end.unwrap_or(when).plus(5), author);
    }

    // ------------------------------------------------------- medications

    fn med_choice(&mut self, med: usize, force_reference: bool) -> MedChoice {
        let m = &MEDS[med];
        if self.p.stocks(med) && (force_reference || self.rng.chance(0.5)) {
            (
                "medicationReference",
                reference_d("Medication", &self.p.med_id(med), m.display),
            )
        } else {
            (
                "medicationCodeableConcept",
                concept(RXNORM, m.rxnorm, m.display, m.display),
            )
        }
    }

    fn dosage(med: usize) -> Value {
        let m = &MEDS[med];
        let (route, route_display) = m.route.coding();
        let mut d = json!({
            "sequence": 1,
            "text": m.sig,
            "route": concept(SNOMED, route, route_display, route_display.split(" (").next().unwrap_or(route_display)),
            "doseAndRate": [{ "doseQuantity": { "value": m.dose.0, "unit": m.dose.1, "system": UCUM, "code": m.dose.2 } }]
        });
        if m.per_day > 0 {
            d["timing"] = json!({ "repeat": { "frequency": m.per_day, "period": 1, "periodUnit": "d" } });
        } else if m.route != codes::Route::Intravenous {
            d["asNeededBoolean"] = json!(true);
        }
        d
    }

    /// A MedicationRequest; returns its id and the medication[x] used.
    fn prescribe(&mut self, e: &Enc, med: usize, reason: Option<&str>, chronic: bool) -> (String, MedChoice) {
        let m = &MEDS[med];
        let infusion = m.route == codes::Route::Intravenous;
        let choice = self.med_choice(med, infusion);
        let authored = e.start.plus(self.rng.int(10, 30));
        let age_days = REF_DAY - authored.day();
        let status = if infusion || !chronic {
            "completed"
        } else if self.rng.chance(0.05) {
            "stopped"
        } else if age_days < 400 {
            "active"
        } else {
            "completed"
        };
        let id = self.next_id("mreq");
        let (cat, cat_display) = if infusion {
            ("outpatient", "Outpatient")
        } else {
            ("community", "Community")
        };
        let mut mr = json!({
            "resourceType": "MedicationRequest",
            "id": id,
            "meta": { "profile": [profile("us-core-medicationrequest")] },
            "status": status,
            "intent": "order",
            "category": [{
                "coding": [coding("http://terminology.hl7.org/CodeSystem/medicationrequest-category", cat, cat_display)],
                "text": cat_display
            }],
            "reportedBoolean": false,
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "authoredOn": self.ts(authored),
            "requester": self.practitioner(e.provider),
            "dosageInstruction": [Self::dosage(med)]
        });
        mr[choice.0] = choice.1.clone();
        if status == "stopped" {
            mr["statusReason"] = concept(
                "http://terminology.hl7.org/CodeSystem/medicationrequest-status-reason",
                "salg",
                "Patient has an allergy to the medication",
                "Adverse reaction",
            );
        }
        if let Some(cond) = reason {
            mr["reasonReference"] = json!([reference("Condition", cond)]);
        }
        if !infusion {
            let days = if chronic { 30 } else { 10 };
            mr["dispenseRequest"] = json!({
                "validityPeriod": {
                    "start": authored.date(),
                    "end": time::date(authored.day() + if chronic { 365 } else { 30 })
                },
                "numberOfRepeatsAllowed": if chronic { 11 } else { 0 },
                "quantity": { "value": m.dispense.0, "unit": m.dispense.1, "system": UCUM, "code": m.dispense.2 },
                "expectedSupplyDuration": { "value": days, "unit": "days", "system": UCUM, "code": "d" }
            });
        }
        let author = e.provider;
        self.emit(mr, authored, author);
        (id, choice)
    }

    fn dispense(&mut self, e: &Enc, med: usize, request: &str, choice: &MedChoice, fill: u32) {
        let m = &MEDS[med];
        let handed = Ts::at(
            e.start.day() + self.rng.int(0, 3) + 30 * i64::from(fill),
            self.rng.int(9, 19),
            self.rng.int(0, 59),
        );
        if handed.day() >= REF_DAY {
            return;
        }
        let (code, display) = if fill == 0 {
            ("FF", "First Fill")
        } else {
            ("RF", "Refill")
        };
        let mut md = json!({
            "resourceType": "MedicationDispense",
            "id": self.next_id("mdisp"),
            "meta": { "profile": [profile("us-core-medicationdispense")] },
            "status": "completed",
            "subject": self.subject(),
            "context": Self::enc_ref(e),
            "performer": [{ "actor": reference_d("Organization", &self.p.pharmacy, &format!("{} Community Pharmacy", self.p.spec.city)) }],
            "authorizingPrescription": [reference("MedicationRequest", request)],
            "type": { "coding": [coding(ACT_CODE, code, display)] },
            "quantity": { "value": m.dispense.0, "unit": m.dispense.1, "system": UCUM, "code": m.dispense.2 },
            "daysSupply": { "value": if m.per_day > 0 { 30 } else { 10 }, "unit": "days", "system": UCUM, "code": "d" },
            "whenPrepared": self.ts(handed.plus(-90)),
            "whenHandedOver": self.ts(handed),
            "dosageInstruction": [Self::dosage(med)]
        });
        md[choice.0] = choice.1.clone();
        let author = e.provider;
        self.emit(md, handed, author);
    }

    fn administer(&mut self, e: &Enc, med: usize, request: &str, choice: &MedChoice, reason: Option<&str>) {
        let m = &MEDS[med];
        let start = e.start.plus(self.rng.int(20, 40));
        let end = if m.route == codes::Route::Intravenous {
            start.plus(self.rng.int(45, 90)).min(e.end)
        } else {
            start.plus(1)
        };
        let (route, route_display) = m.route.coding();
        let nurse = self.nurse.unwrap_or(e.provider);
        let mut ma = json!({
            "resourceType": "MedicationAdministration",
            "id": self.next_id("madm"),
            "status": "completed",
            "subject": self.subject(),
            "context": Self::enc_ref(e),
            "effectivePeriod": { "start": self.ts(start), "end": self.ts(end) },
            "performer": [{ "actor": self.practitioner(nurse) }],
            "request": reference("MedicationRequest", request),
            "dosage": {
                "text": m.sig,
                "route": concept(SNOMED, route, route_display, route_display.split(" (").next().unwrap_or(route_display)),
                "dose": { "value": m.dose.0, "unit": m.dose.1, "system": UCUM, "code": m.dose.2 }
            }
        });
        ma[choice.0] = choice.1.clone();
        if let Some(cond) = reason {
            ma["reasonReference"] = json!([reference("Condition", cond)]);
        }
        self.emit(ma, end, nurse);
    }

    fn med_statement(&mut self, e: &Enc) {
        let med = codes::med_index(self.rng.pick::<&str>(OTC));
        let m = &MEDS[med];
        let since = e.start.day() - self.rng.int(30, 1500);
        let st = json!({
            "resourceType": "MedicationStatement",
            "id": self.next_id("mstmt"),
            "status": "active",
            "medicationCodeableConcept": concept(RXNORM, m.rxnorm, m.display, m.display),
            "subject": self.subject(),
            "context": Self::enc_ref(e),
            "effectivePeriod": { "start": time::date(since.max(self.birth)) },
            "dateAsserted": self.ts(e.start.plus(8)),
            "informationSource": self.subject(),
            "dosage": [{ "text": format!("{} (self-reported, over the counter)", m.sig) }]
        });
        let author = e.provider;
        self.emit(st, e.start.plus(8), author);
    }

    /// First prescriptions for problems recorded at or before this visit.
    fn start_chronic_meds(&mut self, e: &mut Enc) {
        let day = e.start.day();
        for i in 0..self.problems.len() {
            let pr = &self.problems[i];
            if pr.prescribed || pr.recorded > day || pr.def.meds.is_empty() || pr.concern || pr.cancer {
                continue;
            }
            if pr.abated.is_some_and(|a| a <= day) {
                continue;
            }
            self.problems[i].prescribed = true;
            let med = codes::med_index(self.problems[i].def.meds[0]);
            let cond = self.problems[i].id.clone();
            let (mr, choice) = self.prescribe(e, med, Some(&cond), true);
            e.plan.push(format!("Started {}.", MEDS[med].display));
            let fills = *self.rng.weighted(&[(0u32, 15u32), (1, 50), (2, 35)]);
            for f in 0..fills {
                self.dispense(e, med, &mr, &choice, f);
            }
        }
    }

    // ------------------------------------------------------ immunizations

    fn immunize(&mut self, e: &Enc, vaccine: Vaccine) {
        let when = e.start.plus(self.rng.int(20, 35));
        let nurse = self.nurse.unwrap_or(e.provider);
        let refused = self.rng.chance(0.04);
        let mut imm = json!({
            "resourceType": "Immunization",
            "id": self.next_id("imm"),
            "meta": { "profile": [profile("us-core-immunization")] },
            "status": if refused { "not-done" } else { "completed" },
            "vaccineCode": concept(CVX, vaccine.0, vaccine.1, vaccine.1),
            "patient": self.subject(),
            "encounter": Self::enc_ref(e),
            "occurrenceDateTime": self.ts(when),
            "recorded": self.ts(when.plus(5)),
            "primarySource": true,
            "location": reference("Location", &e.site)
        });
        if refused {
            imm["statusReason"] = concept(
                "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "PATOBJ",
                "patient objection",
                "Patient declined",
            );
        } else {
            imm["lotNumber"] = json!(format!(
                "{}{}",
                ["EL", "FK", "UT", "AB"][self.rng.index(4)],
                self.rng.digits(4)
            ));
            imm["expirationDate"] = json!(time::date(when.day() + self.rng.int(90, 540)));
            imm["site"] = concept(
                "http://terminology.hl7.org/CodeSystem/v3-ActSite",
                if self.age_at(when.day()) < 2.0 { "LT" } else { "LA" },
                if self.age_at(when.day()) < 2.0 {
                    "left thigh"
                } else {
                    "left arm"
                },
                if self.age_at(when.day()) < 2.0 {
                    "Left thigh"
                } else {
                    "Left arm"
                },
            );
            imm["route"] = concept(
                "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
                "IM",
                "Injection, intramuscular",
                "Intramuscular",
            );
            imm["doseQuantity"] = json!({ "value": 0.5, "unit": "mL", "system": UCUM, "code": "mL" });
            imm["performer"] = json!([{
                "function": { "coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0443", "AP", "Administering Provider")] },
                "actor": self.practitioner(nurse)
            }]);
        }
        self.emit(imm, when.plus(5), nurse);
    }

    fn immunizations(&mut self, e: &Enc) {
        let day = e.start.day();
        let age = self.age_at(day);
        let mut due: Vec<Vaccine> = Vec::new();
        if age < 6.0 {
            // The childhood series: doses due before the first visit here
            // were given elsewhere; later ones are given when due, at most
            // one dose of each vaccine per visit (the rest catch up later).
            if self.schedule_done.is_empty() {
                self.schedule_done = CHILDHOOD_SCHEDULE
                    .iter()
                    .map(|(a, _)| self.birth + a < self.first_day)
                    .collect();
            }
            for (i, (a, v)) in CHILDHOOD_SCHEDULE.iter().enumerate() {
                if !self.schedule_done[i] && self.birth + a <= day && !due.contains(v) {
                    self.schedule_done[i] = true;
                    due.push(*v);
                }
            }
            for v in due {
                self.immunize(e, v);
            }
            return;
        }
        let month = time::month(day);
        let season = if month >= 8 {
            time::civil_from_days(day).0
        } else {
            time::civil_from_days(day).0 - 1
        };
        if (month >= 9 || month <= 1) && !self.flu_seasons.contains(&season) && self.rng.chance(0.7) {
            self.flu_seasons.push(season);
            due.push(FLU);
        }
        if day >= time::days_from_civil(2021, 1, 15) && self.covid_doses < 3 && self.rng.chance(0.35) {
            self.covid_doses += 1;
            due.push(COVID);
        }
        if age >= 11.0 && self.tdap_day.is_none_or(|d| day - d > 3650) && self.rng.chance(0.3) {
            self.tdap_day = Some(day);
            due.push(TDAP);
        }
        if (11.0..27.0).contains(&age) && !self.hpv_done && self.rng.chance(0.5) {
            self.hpv_done = true;
            due.push(HPV);
        }
        if age >= 50.0 && !self.zoster_done && self.rng.chance(0.3) {
            self.zoster_done = true;
            due.push(ZOSTER);
        }
        if age >= 65.0 && !self.pcv_done && self.rng.chance(0.4) {
            self.pcv_done = true;
            due.push(PCV20);
        }
        for v in due {
            self.immunize(e, v);
        }
    }

    // --------------------------------------------------- visit contents

    fn wellness(&mut self, e: &mut Enc, first: bool) {
        let age = self.age_at(e.start.day());
        self.social_history(e);
        self.pregnancy(e);
        if first && age >= 18.0 && self.rng.chance(0.4) {
            self.med_statement(e);
        }
        self.immunizations(e);
        if age >= 12.0 && (first || self.rng.chance(0.5)) {
            self.phq9(e);
        }
        if age >= 18.0 {
            let due = self.last_labs.is_none_or(|d| e.start.day() - d > 300);
            if due && self.rng.chance(0.45 * self.density.min(2.0)) {
                let panel = if self.has(Flag::Diabetes) || self.has(Flag::Prediabetes) {
                    PANEL_A1C
                } else if age >= 35.0 && self.rng.chance(0.5) {
                    PANEL_LIPID
                } else {
                    PANEL_CBC
                };
                self.lab_panel(e, panel, None);
            }
            if age >= 40.0 && !self.ecg_done && self.rng.chance(0.2) {
                self.ecg(e);
            }
        }
        e.plan.push(if age < 18.0 {
            "Growth and development appropriate for age; anticipatory guidance given.".to_string()
        } else {
            "Preventive care reviewed; continue current management.".to_string()
        });
    }

    fn encounter_diagnosis(&mut self, e: &mut Enc, def: &'static CondDef, acute: bool) -> String {
        let day = e.start.day();
        let onset = if acute {
            day - self.rng.int(1, 6)
        } else {
            self.problems
                .iter()
                .find(|p| std::ptr::eq(p.def, def))
                .map_or(day, |p| p.onset.min(day))
        };
        let abated = if acute {
            let a = day + self.rng.int(5, 21);
            (a < REF_DAY).then_some(a)
        } else {
            None
        };
        let id = self.next_id("cond");
        let mut c = json!({
            "resourceType": "Condition",
            "id": id,
            "meta": { "profile": [profile("us-core-condition-encounter-diagnosis")] },
            "clinicalStatus": Self::clinical_status(if abated.is_some() { "resolved" } else { "active" }),
            "verificationStatus": { "coding": [coding(CONDITION_VER_STATUS, "confirmed", "Confirmed")] },
            "category": [{ "coding": [coding(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")] }],
            "code": Self::condition_code(def),
            "subject": self.subject(),
            "encounter": Self::enc_ref(e),
            "onsetDateTime": time::date(onset),
            "recordedDate": self.ts(e.end),
            "recorder": self.practitioner(e.provider),
            "asserter": self.practitioner(e.provider)
        });
        if let Some(a) = abated {
            c["abatementDateTime"] = json!(time::date(a));
        }
        if acute && self.rng.chance(0.3) {
            c["extension"] = json!([{
                "url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
                "valueDateTime": time::date(day)
            }]);
        }
        let author = e.provider;
        self.emit(c, e.end, author);
        e.diagnoses.push(format!("{} ({})", def.text, def.icd10));
        id
    }

    fn sick(&mut self, e: &mut Enc, i: usize) {
        let def = &ACUTE[i];
        let cond = self.encounter_diagnosis(e, def, true);
        if !def.meds.is_empty() && self.rng.chance(0.8) {
            let med = codes::med_index(def.meds[0]);
            let (mr, choice) = self.prescribe(e, med, Some(&cond), false);
            if self.rng.chance(0.85) {
                self.dispense(e, med, &mr, &choice, 0);
            }
            let fever = e.vitals.is_some_and(|v| v.2 > 95) && MEDS[med].rxnorm == "313782";
            if fever || self.rng.chance(0.08) {
                self.administer(e, med, &mr, &choice, Some(&cond));
            }
            e.plan.push(format!("Prescribed {}.", MEDS[med].display));
        }
        if def.snomed == "43878008" {
            self.procedure(
                e,
                &[coding(CPT, "87880", "Infectious agent antigen detection by immunoassay with direct optical observation; Streptococcus, group A")],
                "Rapid strep test",
                e.start.plus(10),
                None,
                Some(&cond),
            );
        }
        e.plan
            .push("Supportive care discussed; return if symptoms worsen.".into());
    }

    fn follow_up(&mut self, e: &mut Enc, i: usize) {
        let def = self.problems[i].def;
        let flag = self.problems[i].flag;
        let cond = self.problems[i].id.clone();
        self.encounter_diagnosis(e, def, false);
        let telehealth = matches!(e.kind, Visit::Telehealth(_));
        if self.problems[i].prescribed && !def.meds.is_empty() && self.rng.chance(0.5) {
            let med = codes::med_index(def.meds[self.rng.index(def.meds.len())]);
            let (mr, choice) = self.prescribe(e, med, Some(&cond), true);
            self.dispense(e, med, &mr, &choice, 0);
            e.plan.push(format!("Renewed {}.", MEDS[med].display));
        }
        let panel = match flag {
            Some(Flag::Diabetes | Flag::Prediabetes) => Some(PANEL_A1C),
            Some(Flag::Hypertension) => Some(PANEL_BMP),
            Some(Flag::Hyperlipidemia) => Some(PANEL_LIPID),
            Some(Flag::Hypothyroidism) => Some(PANEL_TSH),
            _ => None,
        };
        if let Some(panel) = panel.filter(|_| !telehealth && self.rng.chance(0.55)) {
            self.lab_panel(e, panel, Some(cond));
        }
        if flag == Some(Flag::AtrialFibrillation) && !self.ecg_done && !telehealth {
            self.ecg(e);
        }
        e.plan.push(format!(
            "{}: stable on current plan; follow up in 3 to 6 months.",
            def.text
        ));
    }

    #[allow(
        clippy::expect_used,
        reason = "only oncology patients, who always have one, reach it"
    )]
    fn cancer_problem(&self) -> (String, &'static CondDef) {
        let pr = self
            .problems
            .iter()
            .find(|p| p.cancer)
            .expect("oncology patients have a cancer problem");
        (pr.id.clone(), pr.def)
    }

    fn onc_consult(&mut self, e: &mut Enc) {
        let (cond, def) = self.cancer_problem();
        self.encounter_diagnosis(e, def, false);
        self.social_history(e);
        self.pregnancy(e);
        if self.rng.chance(0.35) {
            self.phq9(e);
        }
        if self.rng.chance(0.4) {
            self.med_statement(e);
        }
        if self.rng.chance(0.5) {
            self.lab_panel(e, PANEL_CBC, Some(cond.clone()));
        }
        if let Some(marker) = self.cancer.and_then(|c| c.marker) {
            self.lab_panel(e, panel_index(marker), Some(cond.clone()));
        }
        if self.rng.chance(0.7) {
            self.study(e, false);
        }
        let anthracycline = self.cancer.is_some_and(|c| c.infusion.contains(&"1790099"));
        if !self.echo_done && (anthracycline || self.rng.chance(0.2)) {
            self.echo_done = true;
            self.study(e, true);
        }
        e.plan.push(format!(
            "Discussed diagnosis of {} and treatment options; plan chemotherapy.",
            def.text
        ));
    }

    fn infusion(&mut self, e: &mut Enc, cycle: u32) {
        let (cond, def) = self.cancer_problem();
        self.infusion_start.get_or_insert(e.start.day());
        if self.rng.chance(0.25) {
            self.encounter_diagnosis(e, def, false);
        }
        if self.rng.chance(0.4 * self.density.min(2.5)) {
            self.lab_panel(e, PANEL_CBC, Some(cond.clone()));
        }
        let regimen = self.cancer.map(|c| c.infusion).unwrap_or(&[]);
        if !regimen.is_empty() {
            let med = codes::med_index(regimen[(cycle as usize - 1) % regimen.len()]);
            let (mr, choice) = self.prescribe(e, med, Some(&cond), false);
            self.administer(e, med, &mr, &choice, Some(&cond));
            e.plan.push(format!(
                "Cycle {cycle}: {} administered without complication.",
                MEDS[med].display
            ));
        }
        if self.rng.chance(0.5) {
            return;
        }
        let start = e.start.plus(25);
        self.procedure(
            e,
            &[
                coding(SNOMED, "367336001", "Chemotherapy (procedure)"),
                coding(
                    CPT,
                    "96413",
                    "Chemotherapy administration, intravenous infusion technique; up to 1 hour",
                ),
            ],
            "Chemotherapy infusion",
            start,
            Some(start.plus(60).min(e.end)),
            Some(&cond),
        );
    }

    fn onc_follow_up(&mut self, e: &mut Enc) {
        let (cond, def) = self.cancer_problem();
        if self.rng.chance(0.35) {
            let side = self.rng.pick(ONCOLOGY_SIDE_EFFECTS);
            self.encounter_diagnosis(e, side, true);
        } else if self.rng.chance(0.5) {
            self.encounter_diagnosis(e, def, false);
        }
        if let Some(marker) = self.cancer.and_then(|c| c.marker) {
            if self.rng.chance(0.45) {
                self.lab_panel(e, panel_index(marker), Some(cond.clone()));
            }
        }
        let oral = self.cancer.map(|c| c.oral).unwrap_or(&[]);
        if !oral.is_empty() && !self.oral_agent_prescribed {
            self.oral_agent_prescribed = true;
            let med = codes::med_index(oral[self.rng.index(oral.len())]);
            let (mr, choice) = self.prescribe(e, med, Some(&cond), true);
            self.dispense(e, med, &mr, &choice, 0);
            self.dispense(e, med, &mr, &choice, 1);
            e.plan.push(format!("Started adjuvant {}.", MEDS[med].display));
        }
        if self.rng.chance(0.3) {
            self.immunizations(e);
        }
        e.plan
            .push("No evidence of progression; continue surveillance.".into());
    }

    fn document(&mut self, e: &Enc) {
        let (code, display, title) = match e.kind {
            Visit::NewPatient => ("34117-2", "History and physical note", "History and physical"),
            Visit::OncConsult => ("11488-4", "Consult note", "Oncology consultation"),
            _ => ("11506-3", "Progress note", "Progress note"),
        };
        let c = &self.p.clinicians[e.provider];
        let mut text = format!(
            "{}\n{}\nPatient: {}  DOB: {}  MRN: {}\nDate of service: {}\nClinician: {}\nVisit: {}\n",
            title.to_uppercase(),
            self.p.spec.name,
            self.name,
            time::date(self.birth),
            self.mrn,
            e.start.date(),
            c.display,
            self.visit_label(e.kind)
        );
        if let Some((s, d, hr, w)) = e.vitals {
            if s > 0 {
                text.push_str(&format!(
                    "Vitals: BP {s}/{d} mmHg, pulse {hr}/min, weight {w} kg\n"
                ));
            } else {
                text.push_str(&format!("Vitals: pulse {hr}/min, weight {w} kg\n"));
            }
        }
        if !e.diagnoses.is_empty() {
            text.push_str(&format!("Assessment: {}\n", e.diagnoses.join("; ")));
        }
        if !e.plan.is_empty() {
            text.push_str(&format!("Plan: {}\n", e.plan.join(" ")));
        }
        text.push_str(&format!(
            "Electronically signed by {} on {}\n",
            c.display,
            e.end.date()
        ));
        let signed = e.end.plus(self.rng.int(10, 600));
        let doc = json!({
            "resourceType": "DocumentReference",
            "id": self.next_id("doc"),
            "meta": { "profile": [profile("us-core-documentreference")] },
            "status": "current",
            "docStatus": "final",
            "type": concept(LOINC, code, display, title),
            "category": [{
                "coding": [coding("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "Clinical Note")]
            }],
            "subject": self.subject(),
            "date": self.ts(signed),
            "author": [self.practitioner(e.provider)],
            "custodian": self.org(),
            "content": [{
                "attachment": {
                    "contentType": "text/plain",
                    "language": "en-US",
                    "data": b64(&text),
                    "title": title,
                    "creation": self.ts(signed)
                },
                "format": coding("http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")
            }],
            "context": {
                "encounter": [Self::enc_ref(e)],
                "period": { "start": self.ts(e.start), "end": self.ts(e.end) }
            }
        });
        let author = e.provider;
        self.emit(doc, signed, author);
    }

    // ------------------------------------------------ closing records

    fn care_team(&mut self, first: Ts) {
        let provider = self.provider;
        let c = &self.p.clinicians[provider];
        let mut participants = vec![json!({
            "role": [{ "coding": [coding(SNOMED, c.care_role.0, c.care_role.1)] }],
            "member": self.practitioner(provider),
            "onBehalfOf": self.org()
        })];
        if let Some(n) = self.nurse {
            let nurse = &self.p.clinicians[n];
            participants.push(json!({
                "role": [{ "coding": [coding(SNOMED, nurse.care_role.0, nurse.care_role.1)] }],
                "member": reference_d("PractitionerRole", &nurse.role_id, &nurse.display)
            }));
        }
        participants.push(json!({
            "role": [{ "coding": [coding(SNOMED, "116154003", "Patient (person)")] }],
            "member": self.subject()
        }));
        participants.push(json!({
            "role": [{ "coding": [coding(SNOMED, "133932002", "Caregiver (person)")] }],
            "member": reference_d("RelatedPerson", &self.related, &self.related_name)
        }));
        let id = self.next_id("cteam");
        let team = json!({
            "resourceType": "CareTeam",
            "id": id,
            "meta": { "profile": [profile("us-core-careteam")] },
            "status": "active",
            "name": format!("{} care team", self.name),
            "subject": self.subject(),
            "period": { "start": first.date() },
            "participant": participants,
            "managingOrganization": [self.org()]
        });
        self.emit(team, first.plus(70), provider);
    }

    fn goal(&mut self, first: Ts, last: i64) -> String {
        let age = self.age_at(REF_DAY);
        let main = self.problems.iter().find(|p| p.cancer).or_else(|| {
            self.problems
                .iter()
                .find(|p| matches!(p.flag, Some(Flag::Diabetes | Flag::Hypertension | Flag::Obesity)))
        });
        let adult = age >= 18.0;
        let weight_target = ((self.bmi0 * (self.adult_height / 100.0).powi(2)) * 0.95).round();
        let spec = match main {
            Some(p) if p.cancer => GoalSpec {
                text: "Complete the planned chemotherapy regimen and maintain performance status",
                addresses: Some(p.id.clone()),
                ..GoalSpec::default()
            },
            Some(p) if p.flag == Some(Flag::Diabetes) => GoalSpec {
                text: "Hemoglobin A1c below 7.0%",
                measure: Some(("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")),
                detail: Some(quantity(7.0, 1, "%", "%")),
                comparator: "<",
                addresses: Some(p.id.clone()),
                ..GoalSpec::default()
            },
            Some(p) if p.flag == Some(Flag::Hypertension) => GoalSpec {
                text: "Blood pressure below 130/80 mmHg",
                measure: Some(("85354-9", "Blood pressure panel with all children optional")),
                addresses: Some(p.id.clone()),
                ..GoalSpec::default()
            },
            Some(p) if adult => GoalSpec {
                text: "Lose 5% of body weight",
                snomed: Some(("289169006", "Weight loss (finding)")),
                measure: Some(("29463-7", "Body weight")),
                detail: Some(quantity(weight_target, 0, "kg", "kg")),
                comparator: "<=",
                addresses: Some(p.id.clone()),
            },
            Some(p) => GoalSpec {
                text: "BMI below the 85th percentile for age through healthy eating and activity",
                measure: Some(("59576-9", "Body mass index (BMI) [Percentile] Per age and sex")),
                detail: Some(quantity(85.0, 0, "%", "%")),
                comparator: "<",
                addresses: Some(p.id.clone()),
                ..GoalSpec::default()
            },
            None if !adult => GoalSpec {
                text: "Meet age-appropriate growth and developmental milestones",
                ..GoalSpec::default()
            },
            None => GoalSpec {
                text: "Maintain current health and complete recommended preventive care",
                ..GoalSpec::default()
            },
        };
        let GoalSpec {
            text,
            snomed,
            measure,
            detail,
            comparator,
            addresses,
        } = spec;
        let due = last + self.rng.int(120, 420);
        let (lifecycle, achievement) = if due < REF_DAY {
            if self.rng.chance(0.65) {
                ("completed", ("achieved", "Achieved"))
            } else {
                ("active", ("not-achieved", "Not Achieved"))
            }
        } else if self.rng.chance(0.5) {
            ("active", ("improving", "Improving"))
        } else {
            ("active", ("in-progress", "In Progress"))
        };
        let description = match snomed {
            Some((code, display)) => json!({ "coding": [coding(SNOMED, code, display)], "text": text }),
            None => json!({ "text": text }),
        };
        let mut target = json!({ "dueDate": time::date(due) });
        if let Some((code, display)) = measure {
            target["measure"] = json!({ "coding": [coding(LOINC, code, display)] });
        }
        if let Some(mut q) = detail {
            q["comparator"] = json!(comparator);
            target["detailQuantity"] = q;
        }
        let id = self.next_id("goal");
        let mut goal = json!({
            "resourceType": "Goal",
            "id": id,
            "meta": { "profile": [profile("us-core-goal")] },
            "lifecycleStatus": lifecycle,
            "achievementStatus": {
                "coding": [coding("http://terminology.hl7.org/CodeSystem/goal-achievement", achievement.0, achievement.1)]
            },
            "description": description,
            "subject": self.subject(),
            "startDate": first.date(),
            "target": [target],
            "expressedBy": self.practitioner(self.provider)
        });
        if let Some(cond) = addresses {
            goal["addresses"] = json!([reference("Condition", &cond)]);
        }
        let author = self.provider;
        self.emit(goal, first.plus(75), author);
        id
    }

    fn care_plan(&mut self, first: Ts, goal: String) {
        let team = format!("{}-cteam-{}-1", self.key, self.num);
        let active: Vec<&Problem> = self
            .problems
            .iter()
            .filter(|p| !p.concern && p.abated.is_none())
            .collect();
        let addresses: Vec<Value> = active
            .iter()
            .map(|p| reference_d("Condition", &p.id, p.def.text))
            .collect();
        let summary = if active.is_empty() {
            "Preventive care: age-appropriate screening, immunizations and healthy lifestyle counseling."
                .to_string()
        } else {
            format!(
                "Assessment: {}. Plan: {}",
                active.iter().map(|p| p.def.text).collect::<Vec<_>>().join(", "),
                if self.oncology() {
                    "chemotherapy per protocol with toxicity monitoring, labs before each cycle and surveillance imaging."
                } else {
                    "medication management, periodic labs and follow-up every 3 to 6 months."
                }
            )
        };
        let activities: Vec<Value> = active
            .iter()
            .take(3)
            .map(|p| {
                json!({ "detail": {
                    "kind": "ServiceRequest",
                    "status": "in-progress",
                    "description": format!("Manage {}", p.def.text.to_lowercase())
                } })
            })
            .collect();
        let mut plan = json!({
            "resourceType": "CarePlan",
            "id": self.next_id("cplan"),
            "meta": { "profile": [profile("us-core-careplan")] },
            "text": {
                "status": "generated",
                "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{}</p></div>", xhtml_escape(&summary))
            },
            "status": "active",
            "intent": "plan",
            "category": [{
                "coding": [coding("http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "assess-plan", "Assessment and Plan of Treatment")]
            }],
            "title": format!("Care plan for {}", self.name),
            "description": summary,
            "subject": self.subject(),
            "period": { "start": first.date() },
            "created": self.ts(first.plus(80)),
            "author": self.practitioner(self.provider),
            "careTeam": [reference("CareTeam", &team)],
            "goal": [reference("Goal", &goal)]
        });
        if !addresses.is_empty() {
            plan["addresses"] = json!(addresses);
            plan["activity"] = json!(activities);
        }
        let author = self.provider;
        self.emit(plan, first.plus(80), author);
    }

    fn device(&mut self) {
        let age = self.age_at(REF_DAY);
        let forced = age >= 40.0 && self.num % 5 == 3;
        if !(forced || (age >= 60.0 && self.rng.chance(0.15))) {
            return;
        }
        let cardiac = self.has(Flag::AtrialFibrillation);
        let (code, display, maker, model, di) = if cardiac {
            DEVICES[0]
        } else if self.has(Flag::Osteoarthritis) {
            DEVICES[2]
        } else {
            *self.rng.pick(DEVICES)
        };
        let implanted = self.first_day - self.rng.int(30, 2500);
        let made = implanted - self.rng.int(60, 400);
        let expires = made + 5 * 365;
        let lot = format!("L{}", self.rng.digits(5));
        let serial = format!("SN{}", self.rng.digits(8));
        let yymmdd = |day: i64| {
            let d = time::date(day).replace('-', "");
            d[2..].to_string()
        };
        let dev = json!({
            "resourceType": "Device",
            "id": self.next_id("dev"),
            "meta": { "profile": [profile("us-core-implantable-device")] },
            "udiCarrier": [{
                "deviceIdentifier": di,
                "carrierHRF": format!("(01){di}(11){}(17){}(10){lot}(21){serial}", yymmdd(made), yymmdd(expires))
            }],
            "distinctIdentifier": serial,
            "status": "active",
            "manufacturer": maker,
            "manufactureDate": time::date(made),
            "expirationDate": time::date(expires),
            "lotNumber": lot,
            "serialNumber": serial,
            "deviceName": [{ "name": display.split(" (").next().unwrap_or(display), "type": "user-friendly-name" }],
            "modelNumber": model,
            "type": concept(SNOMED, code, display, display.split(" (").next().unwrap_or(display)),
            "patient": self.subject()
        });
        let author = self.provider;
        self.emit(dev, Ts::at(self.first_day, 10, 0), author);
    }

    /// Records added after the whole chart, so that everything before them
    /// (ids, random draws) is exactly what earlier versions generated: the
    /// BMI of every adult weight (EHRs compute it from the last height), an
    /// immunization history taken at intake when none was given here, and a
    /// patient summary document whose text is a Binary on the server
    /// (an attachment by URL, besides the notes' inline data).
    fn chart_completion(&mut self, last: i64) {
        for (e, weight) in std::mem::take(&mut self.weights_without_bmi) {
            let bmi = weight / (self.adult_height / 100.0).powi(2);
            self.vital(
                &e,
                "us-core-bmi",
                &[("39156-5", "Body mass index (BMI) [Ratio]")],
                "BMI",
                quantity(bmi, 1, "kg/m2", "kg/m2"),
            );
        }
        let first = self.first_day;
        if self.age_at(first) >= 18.0 && !self.counters.iter().any(|(k, _)| *k == "imm") {
            let (year, _, _) = time::civil_from_days(first);
            let flu = time::days_from_civil(year - 1, 10, 15);
            let tdap = time::days_from_civil(year - 6, 4, 20);
            for (vaccine, day) in [(TDAP, tdap), (FLU, flu)] {
                if day > self.birth + (18.0 * YEAR) as i64 {
                    self.reported_immunization(vaccine, day, first);
                }
            }
        }
        self.patient_summary(last);
    }

    /// An immunization given elsewhere, as the patient recalled it at intake.
    fn reported_immunization(&mut self, vaccine: Vaccine, day: i64, recorded_day: i64) {
        let recorded = Ts::at(recorded_day, 9, 0);
        let imm = json!({
            "resourceType": "Immunization",
            "id": self.next_id("imm"),
            "meta": { "profile": [profile("us-core-immunization")] },
            "status": "completed",
            "vaccineCode": concept(CVX, vaccine.0, vaccine.1, vaccine.1),
            "patient": self.subject(),
            "occurrenceDateTime": time::date(day),
            "recorded": self.ts(recorded),
            "primarySource": false,
            "reportOrigin": concept("http://terminology.hl7.org/CodeSystem/immunization-origin", "recall", "Recall", "Patient recall")
        });
        let nurse = self.nurse.unwrap_or(self.provider);
        self.emit(imm, recorded, nurse);
    }

    /// A patient summary (LOINC 60591-5) whose text is a Binary referenced by URL.
    fn patient_summary(&mut self, last: i64) {
        let provider = self.provider;
        let when = Ts::at(last, 17, 30);
        let c = &self.p.clinicians[provider];
        let mut text = format!(
            "PATIENT SUMMARY\n{}\nPatient: {}  DOB: {}  MRN: {}\nPrepared: {} by {}\n",
            self.p.spec.name,
            self.name,
            time::date(self.birth),
            self.mrn,
            time::date(last),
            c.display
        );
        let active: Vec<&str> = self
            .problems
            .iter()
            .filter(|p| p.abated.is_none_or(|a| a > last) && p.recorded <= last)
            .map(|p| p.def.text)
            .collect();
        text.push_str(&format!(
            "Active problems: {}\n",
            if active.is_empty() {
                "none".to_string()
            } else {
                active.join("; ")
            }
        ));
        if let Some((s, d, hr, w)) = self.last_vitals.as_ref().and_then(|e| e.vitals) {
            let on = self
                .last_vitals
                .as_ref()
                .map(|e| e.start.date())
                .unwrap_or_default();
            if s > 0 {
                text.push_str(&format!(
                    "Last vital signs ({on}): BP {s}/{d} mmHg, pulse {hr}/min, weight {w} kg\n"
                ));
            } else {
                text.push_str(&format!(
                    "Last vital signs ({on}): pulse {hr}/min, weight {w} kg\n"
                ));
            }
        }
        text.push_str(&format!(
            "Primary clinician: {}, {}\n",
            c.display, self.p.spec.name
        ));
        let binary_id = self.next_id("bin");
        let binary = json!({
            "resourceType": "Binary",
            "id": binary_id,
            "contentType": "text/plain",
            "securityContext": self.subject(),
            "data": b64(&text)
        });
        self.emit(binary, when, provider);
        let doc = json!({
            "resourceType": "DocumentReference",
            "id": self.next_id("doc"),
            "meta": { "profile": [profile("us-core-documentreference")] },
            "status": "current",
            "docStatus": "final",
            "type": concept(LOINC, "60591-5", "Patient summary Document", "Patient summary"),
            "category": [{
                "coding": [coding("http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "Clinical Note")]
            }],
            "subject": self.subject(),
            "date": self.ts(when),
            "author": [self.practitioner(provider)],
            "custodian": self.org(),
            "content": [{
                "attachment": {
                    "contentType": "text/plain",
                    "language": "en-US",
                    "url": format!("Binary/{binary_id}"),
                    "size": text.len(),
                    "title": "Patient summary",
                    "creation": self.ts(when)
                },
                "format": coding("http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")
            }]
        });
        self.emit(doc, when, provider);
    }

    fn future_appointment(&mut self) {
        if !self.rng.chance(0.55) {
            return;
        }
        let day = weekday(REF_DAY + self.rng.int(4, 120));
        let day = if day < REF_DAY { REF_DAY + 1 } else { day };
        let start = Ts::at(day, self.rng.int(8, 16), *self.rng.pick(&[0i64, 30]));
        let kind = if self.oncology() {
            Visit::OncFollowUp
        } else {
            Visit::Wellness
        };
        let e = Enc {
            id: String::new(),
            reference: Value::Null,
            start,
            end: start.plus(30),
            provider: self.provider,
            site: self.p.sites[0].id.clone(),
            kind,
            vitals: None,
            diagnoses: Vec::new(),
            plan: Vec::new(),
        };
        let status = if self.rng.chance(0.06) {
            "cancelled"
        } else {
            "booked"
        };
        let created = Ts::at(REF_DAY - self.rng.int(1, 40), 10, 0);
        self.appointment(&e, status, created);
    }
}

//! Terminology tables: the code systems, codes and reference values the
//! generator draws from. Codes are real (SNOMED CT, LOINC, ICD-10-CM,
//! RxNorm, CVX, CPT, NUCC); the data built from them is not.

/// Canonical base of the US Core StructureDefinitions.
pub(crate) const US_CORE_SD: &str = "http://hl7.org/fhir/us/core/StructureDefinition/";

pub(crate) const SNOMED: &str = "http://snomed.info/sct";
pub(crate) const LOINC: &str = "http://loinc.org";
pub(crate) const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
pub(crate) const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub(crate) const CVX: &str = "http://hl7.org/fhir/sid/cvx";
pub(crate) const CPT: &str = "http://www.ama-assn.org/go/cpt";
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";
pub(crate) const NUCC: &str = "http://nucc.org/provider-taxonomy";
pub(crate) const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";
pub(crate) const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub(crate) const US_CORE_CATEGORY: &str = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category";
pub(crate) const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
pub(crate) const US_CORE_CONDITION_CATEGORY: &str =
    "http://hl7.org/fhir/us/core/CodeSystem/condition-category";
pub(crate) const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
pub(crate) const CONDITION_VER_STATUS: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
pub(crate) const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
pub(crate) const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
pub(crate) const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
pub(crate) const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
pub(crate) const NULL_FLAVOR: &str = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor";
pub(crate) const OMB_RACE: &str = "urn:oid:2.16.840.1.113883.6.238";
pub(crate) const ODH: &str = "http://terminology.hl7.org/CodeSystem/PHOccupationalDataForHealthODH";

/// The US Core 6.1.0 profile canonical for a profile id.
pub(crate) fn profile(id: &str) -> String {
    [US_CORE_SD, id].concat()
}

/// A condition with its SNOMED CT and ICD-10-CM codings.
pub(crate) struct CondDef {
    pub snomed: &'static str,
    pub snomed_display: &'static str,
    pub icd10: &'static str,
    pub icd10_display: &'static str,
    pub text: &'static str,
    /// RxNorm codes of medications that treat it (first is first-line).
    pub meds: &'static [&'static str],
}

const fn cond(
    snomed: &'static str,
    snomed_display: &'static str,
    icd10: &'static str,
    icd10_display: &'static str,
    text: &'static str,
    meds: &'static [&'static str],
) -> CondDef {
    CondDef {
        snomed,
        snomed_display,
        icd10,
        icd10_display,
        text,
        meds,
    }
}

/// A chronic condition and its prevalence by age band.
pub(crate) struct Chronic {
    pub def: CondDef,
    /// Youngest age (years) at which it is assigned.
    pub min_age: f64,
    /// Probability under 18, 18 to 44, 45 to 64, and 65 and over.
    pub rates: [f64; 4],
    /// Stable flag the value models key on.
    pub flag: Flag,
}

/// Chronic conditions that change what a patient's measurements look like.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flag {
    Hypertension,
    Diabetes,
    Prediabetes,
    Hyperlipidemia,
    Asthma,
    Hypothyroidism,
    Obesity,
    Depression,
    Osteoarthritis,
    Copd,
    AtrialFibrillation,
    Anxiety,
    Migraine,
}

pub(crate) const CHRONIC: &[Chronic] = &[
    Chronic {
        def: cond(
            "38341003",
            "Hypertensive disorder, systemic arterial (disorder)",
            "I10",
            "Essential (primary) hypertension",
            "Hypertension",
            &["314076", "197361", "310798"],
        ),
        min_age: 25.0,
        rates: [0.0, 0.12, 0.38, 0.6],
        flag: Flag::Hypertension,
    },
    Chronic {
        def: cond(
            "44054006",
            "Diabetes mellitus type 2 (disorder)",
            "E11.9",
            "Type 2 diabetes mellitus without complications",
            "Type 2 diabetes mellitus",
            &["860975"],
        ),
        min_age: 25.0,
        rates: [0.0, 0.05, 0.15, 0.22],
        flag: Flag::Diabetes,
    },
    Chronic {
        def: cond(
            "714628002",
            "Prediabetes (finding)",
            "R73.03",
            "Prediabetes",
            "Prediabetes",
            &[],
        ),
        min_age: 20.0,
        rates: [0.0, 0.08, 0.12, 0.1],
        flag: Flag::Prediabetes,
    },
    Chronic {
        def: cond(
            "55822004",
            "Hyperlipidemia (disorder)",
            "E78.5",
            "Hyperlipidemia, unspecified",
            "Hyperlipidemia",
            &["314231", "259255"],
        ),
        min_age: 30.0,
        rates: [0.0, 0.1, 0.3, 0.45],
        flag: Flag::Hyperlipidemia,
    },
    Chronic {
        def: cond(
            "195967001",
            "Asthma (disorder)",
            "J45.909",
            "Unspecified asthma, uncomplicated",
            "Asthma",
            &["745679", "895994"],
        ),
        min_age: 2.0,
        rates: [0.09, 0.08, 0.08, 0.07],
        flag: Flag::Asthma,
    },
    Chronic {
        def: cond(
            "40930008",
            "Hypothyroidism (disorder)",
            "E03.9",
            "Hypothyroidism, unspecified",
            "Hypothyroidism",
            &["966222"],
        ),
        min_age: 18.0,
        rates: [0.0, 0.04, 0.08, 0.12],
        flag: Flag::Hypothyroidism,
    },
    Chronic {
        def: cond(
            "414916001",
            "Obesity (disorder)",
            "E66.9",
            "Obesity, unspecified",
            "Obesity",
            &[],
        ),
        min_age: 6.0,
        rates: [0.08, 0.2, 0.25, 0.2],
        flag: Flag::Obesity,
    },
    Chronic {
        def: cond(
            "35489007",
            "Depressive disorder (disorder)",
            "F32.A",
            "Depression, unspecified",
            "Depression",
            &[],
        ),
        min_age: 12.0,
        rates: [0.03, 0.1, 0.09, 0.07],
        flag: Flag::Depression,
    },
    Chronic {
        def: cond(
            "197480006",
            "Anxiety disorder (disorder)",
            "F41.9",
            "Anxiety disorder, unspecified",
            "Anxiety disorder",
            &[],
        ),
        min_age: 10.0,
        rates: [0.04, 0.1, 0.08, 0.06],
        flag: Flag::Anxiety,
    },
    Chronic {
        def: cond(
            "239873007",
            "Osteoarthritis of knee (disorder)",
            "M17.9",
            "Osteoarthritis of knee, unspecified",
            "Osteoarthritis of knee",
            &["849574"],
        ),
        min_age: 40.0,
        rates: [0.0, 0.0, 0.12, 0.3],
        flag: Flag::Osteoarthritis,
    },
    Chronic {
        def: cond(
            "13645005",
            "Chronic obstructive lung disease (disorder)",
            "J44.9",
            "Chronic obstructive pulmonary disease, unspecified",
            "COPD",
            &["745679"],
        ),
        min_age: 45.0,
        rates: [0.0, 0.0, 0.06, 0.12],
        flag: Flag::Copd,
    },
    Chronic {
        def: cond(
            "49436004",
            "Atrial fibrillation (disorder)",
            "I48.91",
            "Unspecified atrial fibrillation",
            "Atrial fibrillation",
            &["855332"],
        ),
        min_age: 50.0,
        rates: [0.0, 0.0, 0.03, 0.1],
        flag: Flag::AtrialFibrillation,
    },
    Chronic {
        def: cond(
            "37796009",
            "Migraine (disorder)",
            "G43.909",
            "Migraine, unspecified, not intractable, without status migrainosus",
            "Migraine",
            &["310965"],
        ),
        min_age: 10.0,
        rates: [0.03, 0.1, 0.07, 0.03],
        flag: Flag::Migraine,
    },
];

/// Self-limiting conditions diagnosed at sick visits (adults and children).
pub(crate) const ACUTE: &[CondDef] = &[
    cond(
        "444814009",
        "Viral sinusitis (disorder)",
        "J01.90",
        "Acute sinusitis, unspecified",
        "Viral sinusitis",
        &["313782"],
    ),
    cond(
        "10509002",
        "Acute bronchitis (disorder)",
        "J20.9",
        "Acute bronchitis, unspecified",
        "Acute bronchitis",
        &["313782"],
    ),
    cond(
        "43878008",
        "Streptococcal sore throat (disorder)",
        "J02.0",
        "Streptococcal pharyngitis",
        "Strep throat",
        &["834061"],
    ),
    cond(
        "195662009",
        "Acute viral pharyngitis (disorder)",
        "J02.9",
        "Acute pharyngitis, unspecified",
        "Viral pharyngitis",
        &["313782"],
    ),
    cond(
        "68566005",
        "Urinary tract infectious disease (disorder)",
        "N39.0",
        "Urinary tract infection, site not specified",
        "Urinary tract infection",
        &["309309"],
    ),
    cond(
        "44465007",
        "Sprain of ankle (disorder)",
        "S93.409A",
        "Sprain of unspecified ligament of unspecified ankle, initial encounter",
        "Ankle sprain",
        &["310965"],
    ),
    cond(
        "65363002",
        "Otitis media (disorder)",
        "H66.90",
        "Otitis media, unspecified, unspecified ear",
        "Otitis media",
        &["308182"],
    ),
    cond(
        "6142004",
        "Influenza (disorder)",
        "J11.1",
        "Influenza due to unidentified influenza virus with other respiratory manifestations",
        "Influenza",
        &["313782"],
    ),
    cond(
        "840539006",
        "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder)",
        "U07.1",
        "COVID-19",
        "COVID-19",
        &["313782"],
    ),
];

/// Which patients a cancer is assigned to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sex {
    Female,
    Male,
    Any,
}

/// Primary cancers seen at an oncology practice, with the sex they apply
/// to, the oral agents and the infusion agents of a typical regimen.
pub(crate) struct Cancer {
    pub def: CondDef,
    pub sex: Sex,
    pub oral: &'static [&'static str],
    pub infusion: &'static [&'static str],
    /// LOINC code of the tumour marker followed for it, if any.
    pub marker: Option<&'static str>,
}

pub(crate) const CANCERS: &[Cancer] = &[
    Cancer {
        def: cond(
            "254837009",
            "Malignant neoplasm of breast (disorder)",
            "C50.911",
            "Malignant neoplasm of unspecified site of right female breast",
            "Breast cancer",
            &[],
        ),
        sex: Sex::Female,
        oral: &["198240", "199224"],
        infusion: &["1790099", "1734919", "583214"],
        marker: Some("17842-6"),
    },
    Cancer {
        def: cond(
            "254637007",
            "Non-small cell lung cancer (disorder)",
            "C34.90",
            "Malignant neoplasm of unspecified part of unspecified bronchus or lung",
            "Non-small cell lung cancer",
            &[],
        ),
        sex: Sex::Any,
        oral: &[],
        infusion: &["1736854", "597195", "583214"],
        marker: Some("2039-6"),
    },
    Cancer {
        def: cond(
            "363406005",
            "Malignant neoplasm of colon (disorder)",
            "C18.9",
            "Malignant neoplasm of colon, unspecified",
            "Colon cancer",
            &[],
        ),
        sex: Sex::Any,
        oral: &[],
        infusion: &["1736776", "1803932"],
        marker: Some("2039-6"),
    },
    Cancer {
        def: cond(
            "399068003",
            "Malignant tumor of prostate (disorder)",
            "C61",
            "Malignant neoplasm of prostate",
            "Prostate cancer",
            &[],
        ),
        sex: Sex::Male,
        oral: &[],
        infusion: &["583214"],
        marker: Some("2857-1"),
    },
];

/// Side effects of cancer treatment, diagnosed at oncology follow-ups.
pub(crate) const ONCOLOGY_SIDE_EFFECTS: &[CondDef] = &[
    cond(
        "271737000",
        "Anemia (disorder)",
        "D64.9",
        "Anemia, unspecified",
        "Anemia",
        &[],
    ),
    cond(
        "165517008",
        "Neutropenia (disorder)",
        "D70.9",
        "Neutropenia, unspecified",
        "Neutropenia",
        &[],
    ),
    cond("422587007", "Nausea (finding)", "R11.0", "Nausea", "Nausea", &[]),
    cond(
        "84229001",
        "Fatigue (finding)",
        "R53.83",
        "Other fatigue",
        "Fatigue",
        &[],
    ),
];

/// Health concerns (category `health-concern`).
pub(crate) const HEALTH_CONCERNS: &[CondDef] = &[
    cond(
        "73595000",
        "Stress (finding)",
        "Z73.3",
        "Stress, not elsewhere classified",
        "Stress",
        &[],
    ),
    cond(
        "733423003",
        "Food insecurity (finding)",
        "Z59.41",
        "Food insecurity",
        "Food insecurity",
        &[],
    ),
    cond(
        "422650009",
        "Social isolation (finding)",
        "Z60.2",
        "Problems related to living alone",
        "Social isolation",
        &[],
    ),
];

/// How a medication is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Oral,
    Inhaled,
    Intravenous,
}

impl Route {
    /// SNOMED CT code and display of the route.
    pub(crate) fn coding(self) -> (&'static str, &'static str) {
        match self {
            Route::Oral => ("26643006", "Oral route (qualifier value)"),
            Route::Inhaled => ("447694001", "Respiratory tract route (qualifier value)"),
            Route::Intravenous => ("47625008", "Intravenous route (qualifier value)"),
        }
    }
}

/// A medication of the practice formulary.
pub(crate) struct MedDef {
    pub rxnorm: &'static str,
    pub display: &'static str,
    /// SNOMED CT dose form, when the product has a simple one.
    pub form: Option<(&'static str, &'static str)>,
    pub route: Route,
    /// Patient instruction text.
    pub sig: &'static str,
    /// Dose per administration: value, unit text, UCUM code.
    pub dose: (f64, &'static str, &'static str),
    /// Administrations per day (0 = as needed or single infusion).
    pub per_day: u32,
    /// Units dispensed for a 30-day supply (or a course).
    pub dispense: (f64, &'static str, &'static str),
    /// Stocked by oncology practices only.
    pub oncology_only: bool,
}

const TABLET: Option<(&str, &str)> = Some(("385055001", "Tablet (basic dose form)"));
const CAPSULE: Option<(&str, &str)> = Some(("385049006", "Capsule (basic dose form)"));
const INJECTION: Option<(&str, &str)> = Some(("385219001", "Solution for injection (dose form)"));

const fn oral(
    rxnorm: &'static str,
    display: &'static str,
    sig: &'static str,
    per_tab: f64,
    per_day: u32,
    dispensed: f64,
) -> MedDef {
    MedDef {
        rxnorm,
        display,
        form: TABLET,
        route: Route::Oral,
        sig,
        dose: (per_tab, "tablet", "{tbl}"),
        per_day,
        dispense: (dispensed, "tablet", "{tbl}"),
        oncology_only: false,
    }
}

const fn infusion(rxnorm: &'static str, display: &'static str, mg: f64) -> MedDef {
    MedDef {
        rxnorm,
        display,
        form: INJECTION,
        route: Route::Intravenous,
        sig: "Administer intravenously over 60 minutes per protocol",
        dose: (mg, "mg", "mg"),
        per_day: 0,
        dispense: (1.0, "vial", "{vial}"),
        oncology_only: true,
    }
}

pub(crate) const MEDS: &[MedDef] = &[
    oral(
        "314076",
        "lisinopril 10 MG Oral Tablet",
        "Take 1 tablet by mouth once daily",
        1.0,
        1,
        30.0,
    ),
    oral(
        "197361",
        "amlodipine 5 MG Oral Tablet",
        "Take 1 tablet by mouth once daily",
        1.0,
        1,
        30.0,
    ),
    oral(
        "310798",
        "hydrochlorothiazide 25 MG Oral Tablet",
        "Take 1 tablet by mouth every morning",
        1.0,
        1,
        30.0,
    ),
    oral(
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        "Take 1 tablet by mouth once daily with the evening meal",
        1.0,
        1,
        30.0,
    ),
    oral(
        "314231",
        "simvastatin 10 MG Oral Tablet",
        "Take 1 tablet by mouth at bedtime",
        1.0,
        1,
        30.0,
    ),
    oral(
        "259255",
        "atorvastatin 80 MG Oral Tablet",
        "Take 1 tablet by mouth once daily",
        1.0,
        1,
        30.0,
    ),
    oral(
        "966222",
        "levothyroxine sodium 0.05 MG Oral Tablet",
        "Take 1 tablet by mouth every morning on an empty stomach",
        1.0,
        1,
        30.0,
    ),
    MedDef {
        rxnorm: "745679",
        display: "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        form: None,
        route: Route::Inhaled,
        sig: "Inhale 2 puffs every 4 to 6 hours as needed for wheezing",
        dose: (2.0, "puff", "{puff}"),
        per_day: 0,
        dispense: (1.0, "inhaler", "{inhaler}"),
        oncology_only: false,
    },
    MedDef {
        rxnorm: "895994",
        display: "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
        form: None,
        route: Route::Inhaled,
        sig: "Inhale 2 puffs twice daily; rinse mouth after use",
        dose: (2.0, "puff", "{puff}"),
        per_day: 2,
        dispense: (1.0, "inhaler", "{inhaler}"),
        oncology_only: false,
    },
    oral(
        "855332",
        "warfarin sodium 5 MG Oral Tablet",
        "Take 1 tablet by mouth once daily or as directed by the anticoagulation clinic",
        1.0,
        1,
        30.0,
    ),
    oral(
        "849574",
        "naproxen sodium 220 MG Oral Tablet",
        "Take 1 tablet by mouth twice daily as needed for pain",
        1.0,
        0,
        60.0,
    ),
    oral(
        "313782",
        "acetaminophen 325 MG Oral Tablet",
        "Take 2 tablets by mouth every 6 hours as needed for pain or fever",
        2.0,
        0,
        40.0,
    ),
    oral(
        "310965",
        "ibuprofen 200 MG Oral Tablet",
        "Take 2 tablets by mouth every 6 hours as needed with food",
        2.0,
        0,
        40.0,
    ),
    oral(
        "834061",
        "penicillin V potassium 250 MG Oral Tablet",
        "Take 1 tablet by mouth four times daily for 10 days",
        1.0,
        4,
        40.0,
    ),
    MedDef {
        rxnorm: "308182",
        display: "amoxicillin 250 MG Oral Capsule",
        form: CAPSULE,
        route: Route::Oral,
        sig: "Take 1 capsule by mouth three times daily for 10 days",
        dose: (1.0, "capsule", "{cap}"),
        per_day: 3,
        dispense: (30.0, "capsule", "{cap}"),
        oncology_only: false,
    },
    oral(
        "309309",
        "ciprofloxacin 500 MG Oral Tablet",
        "Take 1 tablet by mouth twice daily for 3 days",
        1.0,
        2,
        6.0,
    ),
    MedDef {
        oncology_only: true,
        ..oral(
            "198240",
            "tamoxifen 10 MG Oral Tablet",
            "Take 1 tablet by mouth twice daily",
            1.0,
            2,
            60.0,
        )
    },
    MedDef {
        oncology_only: true,
        ..oral(
            "199224",
            "anastrozole 1 MG Oral Tablet",
            "Take 1 tablet by mouth once daily",
            1.0,
            1,
            30.0,
        )
    },
    infusion("583214", "paclitaxel 100 MG Injection", 175.0),
    infusion("1734919", "cyclophosphamide 1000 MG Injection", 600.0),
    infusion(
        "1790099",
        "10 ML doxorubicin hydrochloride 2 MG/ML Injection",
        60.0,
    ),
    infusion("1736854", "cisplatin 50 MG Injection", 75.0),
    infusion("597195", "carboplatin 10 MG/ML Injectable Solution", 450.0),
    infusion("1736776", "10 ML oxaliplatin 5 MG/ML Injection", 85.0),
    infusion("1803932", "leucovorin 100 MG Injection", 400.0),
];

/// Over-the-counter medications patients report taking.
pub(crate) const OTC: &[&str] = &["313782", "310965", "849574"];

/// Index of a medication in [`MEDS`].
///
/// # Panics
///
/// When the code is not in the table (a bug in the tables above).
pub(crate) fn med_index(rxnorm: &str) -> usize {
    MEDS.iter()
        .position(|m| m.rxnorm == rxnorm)
        .unwrap_or_else(|| panic!("RxNorm {rxnorm} missing from MEDS"))
}

/// A laboratory test with its unit and reference interval.
pub(crate) struct LabDef {
    pub loinc: &'static str,
    pub display: &'static str,
    /// UCUM code (also used as the human unit).
    pub unit: &'static str,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Typical value and spread in a healthy adult.
    pub mean: f64,
    pub sd: f64,
    /// Decimal places reported.
    pub decimals: u32,
}

#[allow(clippy::too_many_arguments)]
const fn lab(
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    low: Option<f64>,
    high: Option<f64>,
    mean: f64,
    sd: f64,
    decimals: u32,
) -> LabDef {
    LabDef {
        loinc,
        display,
        unit,
        low,
        high,
        mean,
        sd,
        decimals,
    }
}

/// A lab panel: the order code, the report code and its member tests.
pub(crate) struct PanelDef {
    pub loinc: &'static str,
    pub display: &'static str,
    pub text: &'static str,
    /// Specimen: SNOMED CT code and display.
    pub specimen: (&'static str, &'static str),
    pub tests: &'static [LabDef],
}

const BLOOD: (&str, &str) = ("119297000", "Blood specimen (specimen)");
const SERUM: (&str, &str) = ("119364003", "Serum specimen (specimen)");

pub(crate) const PANEL_BMP: usize = 0;
pub(crate) const PANEL_CBC: usize = 1;
pub(crate) const PANEL_LIPID: usize = 2;
pub(crate) const PANEL_A1C: usize = 3;
pub(crate) const PANEL_TSH: usize = 4;

pub(crate) const PANELS: &[PanelDef] = &[
    PanelDef {
        loinc: "51990-0",
        display: "Basic metabolic panel - Blood",
        text: "Basic metabolic panel",
        specimen: SERUM,
        tests: &[
            lab(
                "2345-7",
                "Glucose [Mass/volume] in Serum or Plasma",
                "mg/dL",
                Some(70.0),
                Some(99.0),
                88.0,
                8.0,
                0,
            ),
            lab(
                "3094-0",
                "Urea nitrogen [Mass/volume] in Serum or Plasma",
                "mg/dL",
                Some(7.0),
                Some(20.0),
                13.0,
                3.5,
                0,
            ),
            lab(
                "2160-0",
                "Creatinine [Mass/volume] in Serum or Plasma",
                "mg/dL",
                Some(0.6),
                Some(1.3),
                0.95,
                0.17,
                2,
            ),
            lab(
                "2951-2",
                "Sodium [Moles/volume] in Serum or Plasma",
                "mmol/L",
                Some(136.0),
                Some(145.0),
                140.0,
                2.2,
                0,
            ),
            lab(
                "2823-3",
                "Potassium [Moles/volume] in Serum or Plasma",
                "mmol/L",
                Some(3.5),
                Some(5.1),
                4.2,
                0.35,
                1,
            ),
        ],
    },
    PanelDef {
        loinc: "58410-2",
        display: "CBC panel - Blood by Automated count",
        text: "Complete blood count",
        specimen: BLOOD,
        tests: &[
            lab(
                "6690-2",
                "Leukocytes [#/volume] in Blood by Automated count",
                "10*3/uL",
                Some(4.5),
                Some(11.0),
                7.2,
                1.6,
                1,
            ),
            lab(
                "718-7",
                "Hemoglobin [Mass/volume] in Blood",
                "g/dL",
                Some(12.0),
                Some(17.5),
                14.2,
                1.2,
                1,
            ),
            lab(
                "777-3",
                "Platelets [#/volume] in Blood by Automated count",
                "10*3/uL",
                Some(150.0),
                Some(400.0),
                260.0,
                55.0,
                0,
            ),
        ],
    },
    PanelDef {
        loinc: "57698-3",
        display: "Lipid panel with direct LDL - Serum or Plasma",
        text: "Lipid panel",
        specimen: SERUM,
        tests: &[
            lab(
                "2093-3",
                "Cholesterol [Mass/volume] in Serum or Plasma",
                "mg/dL",
                None,
                Some(200.0),
                185.0,
                28.0,
                0,
            ),
            lab(
                "2085-9",
                "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
                "mg/dL",
                Some(40.0),
                None,
                52.0,
                11.0,
                0,
            ),
            lab(
                "18262-6",
                "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
                "mg/dL",
                None,
                Some(130.0),
                108.0,
                24.0,
                0,
            ),
            lab(
                "2571-8",
                "Triglyceride [Mass/volume] in Serum or Plasma",
                "mg/dL",
                None,
                Some(150.0),
                120.0,
                38.0,
                0,
            ),
        ],
    },
    PanelDef {
        loinc: "4548-4",
        display: "Hemoglobin A1c/Hemoglobin.total in Blood",
        text: "Hemoglobin A1c",
        specimen: BLOOD,
        tests: &[lab(
            "4548-4",
            "Hemoglobin A1c/Hemoglobin.total in Blood",
            "%",
            Some(4.0),
            Some(5.6),
            5.2,
            0.25,
            1,
        )],
    },
    PanelDef {
        loinc: "3016-3",
        display: "Thyrotropin [Units/volume] in Serum or Plasma",
        text: "TSH",
        specimen: SERUM,
        tests: &[lab(
            "3016-3",
            "Thyrotropin [Units/volume] in Serum or Plasma",
            "m[IU]/L",
            Some(0.4),
            Some(4.0),
            1.8,
            0.7,
            2,
        )],
    },
    PanelDef {
        loinc: "17842-6",
        display: "Cancer Ag 27-29 [Units/volume] in Serum or Plasma",
        text: "CA 27-29",
        specimen: SERUM,
        tests: &[lab(
            "17842-6",
            "Cancer Ag 27-29 [Units/volume] in Serum or Plasma",
            "[U]/mL",
            None,
            Some(38.0),
            22.0,
            9.0,
            0,
        )],
    },
    PanelDef {
        loinc: "2039-6",
        display: "Carcinoembryonic Ag [Mass/volume] in Serum or Plasma",
        text: "CEA",
        specimen: SERUM,
        tests: &[lab(
            "2039-6",
            "Carcinoembryonic Ag [Mass/volume] in Serum or Plasma",
            "ng/mL",
            None,
            Some(3.0),
            1.6,
            0.8,
            1,
        )],
    },
    PanelDef {
        loinc: "2857-1",
        display: "Prostate specific Ag [Mass/volume] in Serum or Plasma",
        text: "PSA",
        specimen: SERUM,
        tests: &[lab(
            "2857-1",
            "Prostate specific Ag [Mass/volume] in Serum or Plasma",
            "ng/mL",
            None,
            Some(4.0),
            1.4,
            0.9,
            2,
        )],
    },
];

/// Index in [`PANELS`] of the panel with this LOINC code.
pub(crate) fn panel_index(loinc: &str) -> usize {
    PANELS
        .iter()
        .position(|p| p.loinc == loinc)
        .unwrap_or_else(|| panic!("panel {loinc} missing from PANELS"))
}

/// A vaccine: CVX code and display.
pub(crate) type Vaccine = (&'static str, &'static str);

pub(crate) const FLU: Vaccine = ("140", "Influenza, seasonal, injectable, preservative free");
pub(crate) const COVID: Vaccine = ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose");
pub(crate) const TDAP: Vaccine = ("115", "Tdap");
pub(crate) const ZOSTER: Vaccine = ("187", "zoster vaccine recombinant");
pub(crate) const PCV20: Vaccine = (
    "216",
    "Pneumococcal conjugate PCV20, polysaccharide CRM197 conjugate, adjuvant, PF",
);
pub(crate) const HPV: Vaccine = ("165", "HPV9");

/// The childhood schedule: age in days at which each vaccine is given.
pub(crate) const CHILDHOOD_SCHEDULE: &[(i64, Vaccine)] = &[
    (61, ("110", "DTaP-hep B-IPV")),
    (61, ("133", "Pneumococcal conjugate PCV 13")),
    (61, ("49", "Hib (PRP-OMP)")),
    (122, ("110", "DTaP-hep B-IPV")),
    (122, ("133", "Pneumococcal conjugate PCV 13")),
    (183, ("110", "DTaP-hep B-IPV")),
    (183, ("133", "Pneumococcal conjugate PCV 13")),
    (365, ("94", "MMRV")),
    (365, ("83", "Hep A, ped/adol, 2 dose")),
    (456, ("20", "DTaP")),
    (548, ("83", "Hep A, ped/adol, 2 dose")),
    (1461, ("94", "MMRV")),
];

/// An allergy: substance code (SNOMED CT), display, category, type,
/// criticality and the reaction manifestations it causes.
pub(crate) struct AllergyDef {
    pub code: &'static str,
    pub display: &'static str,
    pub category: &'static str,
    pub kind: &'static str,
    pub criticality: &'static str,
    pub reactions: &'static [(&'static str, &'static str)],
}

const HIVES: (&str, &str) = ("247472004", "Hives (disorder)");
const RASH: (&str, &str) = ("271807003", "Eruption of skin (disorder)");
const ANAPHYLAXIS: (&str, &str) = ("39579001", "Anaphylaxis (disorder)");
const SNEEZING: (&str, &str) = ("76067001", "Sneezing (finding)");
const DERMATITIS: (&str, &str) = ("40275004", "Contact dermatitis (disorder)");
const NAUSEA: (&str, &str) = ("422587007", "Nausea (finding)");

pub(crate) const ALLERGIES: &[AllergyDef] = &[
    AllergyDef {
        code: "764146007",
        display: "Penicillin (substance)",
        category: "medication",
        kind: "allergy",
        criticality: "high",
        reactions: &[HIVES, RASH, ANAPHYLAXIS],
    },
    AllergyDef {
        code: "387406002",
        display: "Sulfamethoxazole (substance)",
        category: "medication",
        kind: "allergy",
        criticality: "low",
        reactions: &[RASH],
    },
    AllergyDef {
        code: "762952008",
        display: "Peanut (substance)",
        category: "food",
        kind: "allergy",
        criticality: "high",
        reactions: &[ANAPHYLAXIS, HIVES],
    },
    AllergyDef {
        code: "102263004",
        display: "Eggs (edible) (substance)",
        category: "food",
        kind: "intolerance",
        criticality: "low",
        reactions: &[NAUSEA, HIVES],
    },
    AllergyDef {
        code: "256259004",
        display: "Pollen (substance)",
        category: "environment",
        kind: "allergy",
        criticality: "low",
        reactions: &[SNEEZING],
    },
    AllergyDef {
        code: "111088007",
        display: "Latex (substance)",
        category: "environment",
        kind: "allergy",
        criticality: "unable-to-assess",
        reactions: &[DERMATITIS, HIVES],
    },
];

/// Smoking status values (SNOMED CT) with weights for adults.
pub(crate) const SMOKING: &[((&str, &str), u32)] = &[
    (("266919005", "Never smoked tobacco (finding)"), 55),
    (("8517006", "Ex-smoker (finding)"), 25),
    (("449868002", "Smokes tobacco daily (finding)"), 12),
    (("428041000124106", "Occasional tobacco smoker (finding)"), 8),
];

/// An occupation (ODH) with the industry it is usually practised in.
pub(crate) struct Occupation {
    pub code: &'static str,
    pub display: &'static str,
    pub industry: &'static str,
    pub industry_display: &'static str,
}

const fn job(
    code: &'static str,
    display: &'static str,
    industry: &'static str,
    industry_display: &'static str,
) -> Occupation {
    Occupation {
        code,
        display,
        industry,
        industry_display,
    }
}

pub(crate) const OCCUPATIONS: &[Occupation] = &[
    job(
        "29-1141.00",
        "Registered Nurses",
        "622110",
        "General medical and surgical hospitals",
    ),
    job(
        "25-2021.00",
        "Elementary School Teachers, Except Special Education",
        "611110",
        "Elementary and secondary schools",
    ),
    job(
        "15-1252.00",
        "Software Developers",
        "541511",
        "Custom computer programming services",
    ),
    job(
        "41-2031.00",
        "Retail Salespersons",
        "445110",
        "Supermarkets and other grocery (except convenience) stores",
    ),
    job(
        "43-4051.00",
        "Customer Service Representatives",
        "524114",
        "Direct health and medical insurance carriers",
    ),
    job(
        "53-3032.00",
        "Heavy and Tractor-Trailer Truck Drivers",
        "484121",
        "General freight trucking, long-distance, truckload",
    ),
    job(
        "35-2014.00",
        "Cooks, Restaurant",
        "722511",
        "Full-service restaurants",
    ),
    job("47-2031.00", "Carpenters", "236118", "Residential remodelers"),
    job(
        "13-2011.00",
        "Accountants and Auditors",
        "541211",
        "Offices of certified public accountants",
    ),
    job(
        "11-9111.00",
        "Medical and Health Services Managers",
        "621111",
        "Offices of physicians (except mental health specialists)",
    ),
];

/// OMB race categories with rough weights for a Chicago-area population.
pub(crate) const RACES: &[((&str, &str), u32)] = &[
    (("2106-3", "White"), 58),
    (("2054-5", "Black or African American"), 24),
    (("2028-9", "Asian"), 9),
    (("1002-5", "American Indian or Alaska Native"), 1),
    (("2076-8", "Native Hawaiian or Other Pacific Islander"), 1),
];

/// Preferred languages (BCP 47) with weights.
pub(crate) const LANGUAGES: &[((&str, &str), u32)] = &[
    (("en", "English"), 84),
    (("es", "Spanish"), 10),
    (("pl", "Polish"), 2),
    (("zh", "Chinese"), 2),
    (("vi", "Vietnamese"), 1),
    (("ar", "Arabic"), 1),
];

pub(crate) const GIVEN_FEMALE: &[&str] = &[
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Sandra",
    "Margaret",
    "Ashley",
    "Kimberly",
    "Emily",
    "Donna",
    "Michelle",
    "Carol",
    "Amanda",
    "Melissa",
    "Deborah",
    "Stephanie",
    "Rebecca",
    "Sharon",
    "Laura",
    "Cynthia",
    "Amy",
    "Angela",
    "Maria",
    "Guadalupe",
    "Mei",
    "Aisha",
    "Priya",
    "Olivia",
    "Emma",
    "Sophia",
    "Ava",
    "Isabella",
    "Mia",
    "Chloe",
    "Zoe",
    "Layla",
    "Nora",
];

pub(crate) const GIVEN_MALE: &[&str] = &[
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Christopher",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Donald",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kenneth",
    "Kevin",
    "Brian",
    "George",
    "Timothy",
    "Ronald",
    "Jason",
    "Edward",
    "Jose",
    "Luis",
    "Carlos",
    "Wei",
    "Hiroshi",
    "Omar",
    "Raj",
    "Tomasz",
    "Liam",
    "Noah",
    "Elijah",
    "Lucas",
    "Mateo",
    "Ethan",
    "Henry",
    "Jackson",
    "Aiden",
    "Samuel",
];

pub(crate) const FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Kowalski",
    "Nowak",
    "Wisniewski",
    "Chen",
    "Wang",
    "Patel",
    "Shah",
    "Kim",
    "Park",
    "Okafor",
    "Washington",
    "O'Brien",
    "Murphy",
    "Sullivan",
    "Schmidt",
    "Novak",
    "Ali",
    "Khan",
];

pub(crate) const STREETS: &[&str] = &[
    "N Clark St",
    "N Broadway",
    "W Lawrence Ave",
    "N Sheridan Rd",
    "W Foster Ave",
    "N Ashland Ave",
    "W Irving Park Rd",
    "N Damen Ave",
    "W Montrose Ave",
    "N Western Ave",
    "Chicago Ave",
    "Main St",
    "Oak St",
    "Maple Ave",
    "Elm St",
    "Church St",
    "Davis St",
    "Dempster St",
    "Greenwood Ave",
    "Hinman Ave",
    "Ridge Ave",
    "Lake St",
    "Forest Ave",
    "Park Ave",
];

/// Neighbouring towns for Illinois practices: (city, ZIP).
pub(crate) const NEARBY_IL: &[(&str, &str)] = &[
    ("Chicago", "60613"),
    ("Chicago", "60657"),
    ("Chicago", "60625"),
    ("Chicago", "60626"),
    ("Evanston", "60202"),
    ("Skokie", "60076"),
    ("Wilmette", "60091"),
    ("Oak Park", "60302"),
    ("Lincolnwood", "60712"),
];

/// PHQ-9 item LOINC codes and question texts, in order.
pub(crate) const PHQ9_ITEMS: &[(&str, &str)] = &[
    ("44250-9", "Little interest or pleasure in doing things"),
    ("44255-8", "Feeling down, depressed, or hopeless"),
    ("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
    ("44254-1", "Feeling tired or having little energy"),
    ("44251-7", "Poor appetite or overeating"),
    (
        "44258-2",
        "Feeling bad about yourself - or that you are a failure or have let yourself or your family down",
    ),
    (
        "44252-5",
        "Trouble concentrating on things, such as reading the newspaper or watching television",
    ),
    (
        "44253-3",
        "Moving or speaking so slowly that other people could have noticed, or being so fidgety or restless that you have been moving around a lot more than usual",
    ),
    (
        "44260-8",
        "Thoughts that you would be better off dead, or of hurting yourself in some way",
    ),
];

/// PHQ-9 answer options (LOINC answer codes) by score 0..=3.
pub(crate) const PHQ9_ANSWERS: &[(&str, &str)] = &[
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
];

/// Implantable devices: SNOMED CT type code, display, manufacturer,
/// model, GTIN-style device identifier.
pub(crate) const DEVICES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "14106009",
        "Cardiac pacemaker, device (physical object)",
        "Acme Cardiac Systems",
        "PM-2210",
        "00643169007222",
    ),
    (
        "72506001",
        "Implantable defibrillator, device (physical object)",
        "Acme Cardiac Systems",
        "ICD-550",
        "00643169001763",
    ),
    (
        "109228008",
        "Knee joint prosthesis (physical object)",
        "Lakefront Orthopedics",
        "KN-1.0",
        "00888480567324",
    ),
    (
        "304120007",
        "Total hip replacement prosthesis (physical object)",
        "Lakefront Orthopedics",
        "HP-42",
        "00888480563418",
    ),
];

//! The search-parameter registry: every resource type Flare serves and every
//! search parameter it supports, generated from the US Core 6.1.0
//! CapabilityStatement and SearchParameters plus the FHIR R4 base definitions
//! (`cargo xtask registry`, xtask/src/registry.rs).
//!
//! This is the single source of search capability: the edge's search parser,
//! index extraction, SQL compiler and CapabilityStatement, and the SDK's typed
//! parameters, all read it. Nothing else lists search parameters.

mod generated;

pub use generated::{ALL_R4_TYPES, RESOURCES};

/// FHIR search parameter types that Flare indexes. These are all the types the
/// served parameters use (the generator refuses others: quantity, number, uri and
/// composite parameters are not defined for any served type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Codes, identifiers, booleans: `[system]|[code]`.
    Token,
    /// Case- and accent-insensitive prefix matching over names, addresses, text.
    String,
    /// Dates, dateTimes, instants and Periods, matched as ranges.
    Date,
    /// References to other resources.
    Reference,
}

impl ParamKind {
    /// The spelling used in FHIR (`SearchParameter.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Token => "token",
            ParamKind::String => "string",
            ParamKind::Date => "date",
            ParamKind::Reference => "reference",
        }
    }
}

/// Where a parameter's definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A US Core 6.1.0 SearchParameter.
    UsCore,
    /// A FHIR R4 base SearchParameter.
    BaseR4,
}

/// One step of a (restricted) FHIRPath expression, as the generator parsed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A plain element name: `subject`.
    Field(&'static str),
    /// A choice element `name[x]`: with a type (`onset.as(dateTime)` is
    /// `Choice("onset", Some("DateTime"))`, the JSON key `onsetDateTime`), or any
    /// type when `None` (`Observation.effective`).
    Choice(&'static str, Option<&'static str>),
    /// `where(resolve() is Type)`: keep references whose target type is `Type`.
    ResolveIs(&'static str),
    /// `where(url = '...')`: keep extensions with this URL.
    WhereUrl(&'static str),
}

/// A path from the resource root: a sequence of steps.
pub type Path = &'static [Step];

/// A search parameter of one resource type.
#[derive(Debug)]
pub struct SearchParamDef {
    /// The parameter name used in URLs, e.g. `patient`.
    pub code: &'static str,
    /// Its FHIR type.
    pub kind: ParamKind,
    /// Canonical URL of the SearchParameter it implements.
    pub definition: &'static str,
    /// US Core or FHIR R4 base.
    pub source: Source,
    /// The US Core expectation for servers (`SHALL`, `SHOULD`, `MAY`).
    pub expectation: &'static str,
    /// Union of paths whose values are indexed for the parameter.
    pub paths: &'static [Path],
    /// Allowed target types (reference parameters).
    pub targets: &'static [&'static str],
    /// Date/number/quantity comparators the definition allows.
    pub comparators: &'static [&'static str],
    /// Modifiers the definition allows.
    pub modifiers: &'static [&'static str],
    /// First line of the definition's description.
    pub documentation: &'static str,
}

/// A required or recommended combination of parameters (US Core tables).
#[derive(Debug)]
pub struct Combination {
    /// `SHALL` or `SHOULD`.
    pub expectation: &'static str,
    /// The parameter codes, all present together.
    pub params: &'static [&'static str],
    /// The US Core versions that list it (`4.0.0`, `6.1.0`).
    pub versions: &'static [&'static str],
}

/// One resource type Flare serves.
#[derive(Debug)]
pub struct ResourceDef {
    /// The FHIR resource type name.
    pub name: &'static str,
    /// Listed by the US Core server CapabilityStatement (else served from the R4 base).
    pub us_core: bool,
    /// Supported profiles (canonical URLs).
    pub profiles: &'static [&'static str],
    /// Search parameters, besides the universal `_id` and `_lastUpdated`.
    pub params: &'static [SearchParamDef],
    /// Supported `_include` values, e.g. `MedicationRequest:medication`.
    pub includes: &'static [&'static str],
    /// Supported `_revinclude` values, e.g. `Provenance:target`.
    pub revincludes: &'static [&'static str],
    /// SHALL/SHOULD combinations from US Core 4.0.0 and 6.1.0.
    pub combinations: &'static [Combination],
    /// Paths whose Patient references place a resource in a Patient's compartment.
    pub compartment: &'static [Path],
}

impl ResourceDef {
    /// The parameter with this code, if the type supports it.
    pub fn param(&self, code: &str) -> Option<&'static SearchParamDef> {
        // Safe to extend the lifetime: RESOURCES is 'static.
        let params: &'static [SearchParamDef] = self.params;
        params.iter().find(|p| p.code == code)
    }

    /// Whether the type belongs to the Patient compartment (or is Patient).
    pub fn in_patient_compartment(&self) -> bool {
        self.name == "Patient" || !self.compartment.is_empty()
    }
}

/// The definition of a resource type Flare serves.
pub fn resource(name: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .binary_search_by(|r| r.name.cmp(name))
        .ok()
        .map(|i| &RESOURCES[i])
}

/// Every resource type name Flare serves.
pub fn resource_names() -> impl Iterator<Item = &'static str> {
    RESOURCES.iter().map(|r| r.name)
}

/// Whether `name` is a FHIR R4 resource type. Flare stores and reads every
/// R4 type (so newer US Core content still ingests); only registry types search.
pub fn is_r4_type(name: &str) -> bool {
    ALL_R4_TYPES.binary_search(&name).is_ok()
}

/// Definitions are unique statics: equal when they are the same definition.
impl PartialEq for SearchParamDef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

/// Definitions are unique statics: equal when they are the same definition.
impl PartialEq for ResourceDef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_sorted_for_binary_search() {
        assert!(RESOURCES.windows(2).all(|w| w[0].name < w[1].name));
        assert!(ALL_R4_TYPES.windows(2).all(|w| w[0] < w[1]));
        assert!(RESOURCES.iter().all(|r| is_r4_type(r.name)));
        assert!(is_r4_type("FamilyMemberHistory") && is_r4_type("Library") && !is_r4_type("Nope"));
    }

    #[test]
    fn every_combination_names_supported_params() {
        for r in RESOURCES {
            for c in r.combinations {
                for p in c.params {
                    assert!(
                        *p == "_id" || r.param(p).is_some(),
                        "{}: combination names unknown param {p}",
                        r.name
                    );
                }
            }
        }
    }

    #[test]
    fn reference_params_have_targets() {
        for r in RESOURCES {
            for p in r.params {
                if p.kind == ParamKind::Reference {
                    assert!(!p.targets.is_empty(), "{}.{}", r.name, p.code);
                }
            }
        }
    }

    #[test]
    fn vendor_types_are_served() {
        for t in [
            "AllergyIntolerance",
            "Appointment",
            "CarePlan",
            "CareTeam",
            "Condition",
            "Coverage",
            "Device",
            "DiagnosticReport",
            "DocumentReference",
            "Encounter",
            "Goal",
            "Immunization",
            "Location",
            "MedicationRequest",
            "MedicationAdministration",
            "MedicationStatement",
            "MedicationDispense",
            "Organization",
            "Patient",
            "Practitioner",
            "PractitionerRole",
            "Procedure",
            "Provenance",
            "RelatedPerson",
            "ServiceRequest",
            "Specimen",
            "Observation",
            "QuestionnaireResponse",
            "Medication",
            "Endpoint",
            "Group",
        ] {
            assert!(resource(t).is_some(), "{t} not served");
        }
    }
}

//! Typed search parameters for Rust callers, generated from the registry in
//! `flare-core` (the one the edge parses searches with): one builder per
//! searchable type ([`ObservationSearch`], [`PatientSearch`] …) with one method
//! per search parameter the server supports for that type, so an unknown
//! parameter is a compile error rather than a 400 at run time.
//!
//! Each parameter method takes the FHIR search value text (commas inside one
//! value are ORs) and appends a pair; calling it again appends another pair
//! (AND). Beside it, by the parameter's kind (the modifiers the edge's parser
//! accepts for that kind):
//!
//! - `{name}_modified(TokenModifier, ..)` for token parameters (`:not`, `:text`),
//!   `{name}_modified(StringModifier, ..)` for string parameters (`:exact`,
//!   `:contains`);
//! - `{name}_cmp(Comparator, ..)` for parameters whose definition allows
//!   comparators (dates): `ge2020-01-01` written as `(Comparator::Ge, "2020-01-01")`;
//! - `{name}_missing(bool)` for every registry parameter (`:missing`).
//!
//! Reference parameters take `Type/id` (the `:Type` modifier is the same search).
//! Every builder also has the result parameters of [`crate::search::COMMON_PARAMS`]:
//! `count`, `sort`/`sort_desc` (the type's sort keys: `_id`, `_lastUpdated`, its
//! date and string parameters), `include`/`revinclude` (only the values the
//! registry lists, as enums; only on types that have any), `elements`, `total`
//! and `summary`.
//!
//! Chained parameters (`practitioner.name`) and anything else go through
//! [`Raw`], whose names are checked at run time by
//! [`crate::search::check_params`].
//!
//! ```
//! use flare_sdk::params::{Comparator, ObservationSearch, SearchParams, TokenModifier};
//!
//! let search = ObservationSearch::new()
//!     .patient("Patient/p1")
//!     .category("laboratory")
//!     .date_cmp(Comparator::Ge, "2024-01-01")
//!     .date_cmp(Comparator::Lt, "2025")
//!     .code_modified(TokenModifier::Text, "glucose")
//!     .count(50);
//! assert_eq!(search.resource_type(), "Observation");
//! let pairs = search.into_pairs();
//! assert_eq!(pairs[0], ("patient".to_string(), "Patient/p1".to_string()));
//! assert_eq!(pairs[2], ("date".to_string(), "ge2024-01-01".to_string()));
//! assert_eq!(pairs[4], ("code:text".to_string(), "glucose".to_string()));
//! assert_eq!(pairs[5], ("_count".to_string(), "50".to_string()));
//! ```
//!
//! A parameter the registry does not list for the type does not compile:
//!
//! ```compile_fail
//! use flare_sdk::params::ObservationSearch;
//!
//! let _ = ObservationSearch::new().patient("Patient/p1").colour("red");
//! ```
//!
//! Nor does a modifier of the wrong kind (`:exact` is for string parameters):
//!
//! ```compile_fail
//! use flare_sdk::params::{ObservationSearch, StringModifier};
//!
//! let _ = ObservationSearch::new().code_modified(StringModifier::Exact, "x");
//! ```
//!
//! Nor an `_include` the type does not support:
//!
//! ```compile_fail
//! use flare_sdk::params::{MedicationRequestInclude, ObservationSearch};
//!
//! let _ = ObservationSearch::new().include(MedicationRequestInclude::Medication);
//! ```
//!
//! The same with values that are there:
//!
//! ```
//! use flare_sdk::params::{
//!     MedicationRequestInclude, MedicationRequestSearch, PatientSearch, StringModifier,
//! };
//!
//! let _ = PatientSearch::new().name_modified(StringModifier::Exact, "Smith");
//! let _ = MedicationRequestSearch::new().include(MedicationRequestInclude::Medication);
//! ```
//!
//! The generator is `flare-sdk-dts params` (src/params/codegen.rs, kept out of
//! the library); `tests/generated_up_to_date.rs` fails when `generated.rs`
//! differs from what the registry generates now.

use crate::error::SdkError;

mod generated;

pub use generated::*;

/// A search: its resource type and its query pairs, in order.
pub trait SearchParams {
    /// The resource type searched.
    fn resource_type(&self) -> &str;

    /// The query pairs so far.
    fn pairs(&self) -> &[(String, String)];

    /// The query pairs, in the order they were added.
    fn into_pairs(self) -> Vec<(String, String)>
    where
        Self: Sized;

    /// Checks the type and parameter names against the registry
    /// ([`crate::search::check_params`]). Generated builders always pass (the
    /// compiler checked them); [`Raw`] is checked here.
    fn check(&self) -> Result<(), SdkError> {
        crate::search::check_params(self.resource_type(), self.pairs())
    }
}

/// A generated builder: its resource type is known at compile time.
pub trait TypedSearch: SearchParams + Default {
    /// The resource type searched, e.g. `"Observation"`.
    const RESOURCE_TYPE: &'static str;
}

/// An escape hatch: any pairs on any type (chained parameters such as
/// `practitioner.name`), checked at run time by [`SearchParams::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raw {
    /// The resource type searched.
    pub resource_type: String,
    /// The query pairs, in order.
    pub pairs: Vec<(String, String)>,
}

impl Raw {
    /// A search on `resource_type` with no parameters yet.
    pub fn new(resource_type: impl Into<String>) -> Self {
        Raw {
            resource_type: resource_type.into(),
            pairs: Vec::new(),
        }
    }

    /// Appends `name=value`.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((name.into(), value.into()));
        self
    }
}

impl SearchParams for Raw {
    fn resource_type(&self) -> &str {
        &self.resource_type
    }

    fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }
}

/// Modifiers of token parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenModifier {
    /// `:not`: resources without a matching code (or without the element).
    Not,
    /// `:text`: the text or display of the code, matched like a string.
    Text,
}

impl TokenModifier {
    /// The modifier's spelling after `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenModifier::Not => "not",
            TokenModifier::Text => "text",
        }
    }
}

impl From<TokenModifier> for &'static str {
    fn from(m: TokenModifier) -> Self {
        m.as_str()
    }
}

/// Modifiers of string parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringModifier {
    /// `:exact`: the whole string, case- and accent-sensitive.
    Exact,
    /// `:contains`: anywhere in the string.
    Contains,
}

impl StringModifier {
    /// The modifier's spelling after `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            StringModifier::Exact => "exact",
            StringModifier::Contains => "contains",
        }
    }
}

impl From<StringModifier> for &'static str {
    fn from(m: StringModifier) -> Self {
        m.as_str()
    }
}

/// Comparison prefixes of date parameters (FHIR R4 search §3.1.1.4.1.1.1):
/// the edge's own type, so the builders write what its parser reads.
pub use flare_core::search::DatePrefix as Comparator;

/// `_total`: whether the Bundle carries the number of matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// `none`: no total.
    None,
    /// `estimate`: an estimate (Flare counts exactly).
    Estimate,
    /// `accurate`: the exact count.
    Accurate,
}

impl Total {
    /// The `_total` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Total::None => "none",
            Total::Estimate => "estimate",
            Total::Accurate => "accurate",
        }
    }
}

/// `_summary`: the summary form of the results (the values the edge accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// `count`: the total only, no resources.
    Count,
    /// `data`: everything but the narrative.
    Data,
    /// `text`: the narrative and the mandatory elements.
    Text,
    /// `false`: the whole resources (the default).
    False,
}

impl Summary {
    /// The `_summary` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Summary::Count => "count",
            Summary::Data => "data",
            Summary::Text => "text",
            Summary::False => "false",
        }
    }
}

/// The pairs of a generated builder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pairs(Vec<(String, String)>);

impl Pairs {
    /// Appends `name=value` (a repeated name is an AND).
    pub(crate) fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    /// Appends `name:modifier=value`.
    pub(crate) fn modified(
        &mut self,
        name: &str,
        modifier: impl Into<&'static str>,
        value: impl Into<String>,
    ) {
        self.0.push((format!("{name}:{}", modifier.into()), value.into()));
    }

    /// Appends `name=` the comparator followed by the value.
    pub(crate) fn compared(&mut self, name: &str, comparator: Comparator, value: impl Into<String>) {
        self.0.push((
            name.to_string(),
            format!("{}{}", comparator.as_str(), value.into()),
        ));
    }

    /// Appends `name:missing=true|false`.
    pub(crate) fn missing(&mut self, name: &str, missing: bool) {
        self.0.push((format!("{name}:missing"), missing.to_string()));
    }

    /// Sets a result parameter that takes one value (`_count`, `_sort`,
    /// `_total`, `_summary`, `_elements`): a later call replaces the earlier.
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_string(), value));
    }

    /// `_elements`: the names joined by commas.
    pub(crate) fn elements<I, S>(&mut self, names: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = names.into_iter().map(|s| s.as_ref().to_string()).collect();
        self.set("_elements", joined.join(","));
    }

    pub(crate) fn as_slice(&self) -> &[(String, String)] {
        &self.0
    }

    pub(crate) fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

/// The check the generated tests run on every method of every builder: the
/// pairs pass [`crate::search::check_params`] and the edge's own parser
/// (`flare_core::search::parse`).
#[cfg(test)]
pub(crate) fn assert_accepted<P: TypedSearch>(search: P) {
    let pairs = search.pairs().to_vec();
    assert!(!pairs.is_empty(), "{}: no pairs", P::RESOURCE_TYPE);
    assert_eq!(search.resource_type(), P::RESOURCE_TYPE);
    if let Err(e) = search.check() {
        panic!("{} {pairs:?}: check_params: {}", P::RESOURCE_TYPE, e.message);
    }
    let opts = flare_core::search::ParseOptions::default();
    if let Err(e) = flare_core::search::parse(P::RESOURCE_TYPE, &pairs, opts) {
        panic!("{} {pairs:?}: the edge's parser: {}", P::RESOURCE_TYPE, e.0);
    }
    assert_eq!(search.into_pairs(), pairs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_is_checked_at_run_time() {
        let ok = Raw::new("PractitionerRole").param("practitioner.name", "smith");
        assert!(ok.check().is_ok());
        let bad = Raw::new("Observation").param("colour", "red");
        let e = bad.check().unwrap_err();
        assert!(e.message.contains("colour"), "{}", e.message);
        assert!(Raw::new("Spaceship").check().is_err());
        assert_eq!(
            Raw::new("Patient").param("name", "x").into_pairs(),
            vec![("name".to_string(), "x".to_string())]
        );
    }

    #[test]
    fn repeated_calls_and_and_result_parameters_replace() {
        let pairs = ObservationSearch::new()
            .date_cmp(Comparator::Ge, "2020")
            .date_cmp(Comparator::Lt, "2021")
            .count(10)
            .count(20)
            .sort_desc(ObservationSort::Date)
            .elements(["status", "code"])
            .total(Total::Accurate)
            .summary(Summary::Data)
            .code_missing(false)
            .into_pairs();
        let expected: Vec<(String, String)> = [
            ("date", "ge2020"),
            ("date", "lt2021"),
            ("_count", "20"),
            ("_sort", "-date"),
            ("_elements", "status,code"),
            ("_total", "accurate"),
            ("_summary", "data"),
            ("code:missing", "false"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn every_searchable_type_has_a_builder() {
        let names: Vec<&str> = ALL.iter().map(|(t, _)| *t).collect();
        let registry: Vec<&str> = flare_core::registry::resource_names().collect();
        assert_eq!(names, registry);
        for (t, params) in ALL {
            let def = flare_core::registry::resource(t).unwrap();
            for p in def.params {
                assert!(params.contains(&p.code), "{t}.{} has no method", p.code);
            }
            for p in *params {
                let pairs = vec![(p.to_string(), String::new())];
                assert!(crate::search::check_params(t, &pairs).is_ok(), "{t}.{p}");
            }
        }
    }
}

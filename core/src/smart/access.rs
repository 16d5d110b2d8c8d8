//! What granted scopes permit: the pure decisions of the authorization server
//! (which requested scopes a client may be granted, whether a refresh asks for
//! a subset) and of the FHIR API (which context and query restrictions apply
//! to a type and interaction).

use super::scope::{Context, Permissions, ResourceScope, Scope, Syntax};

/// A FHIR interaction a scope letter permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// `r`: read by id.
    Read,
    /// `s`: search.
    Search,
}

/// What a token may do with one resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeAccess {
    /// The widest context granted for the type: `Patient` limits to the
    /// patient in context, `User` and `System` to the practice.
    pub context: Context,
    /// Query restrictions (OR of the scopes' queries); empty means unrestricted.
    pub queries: Vec<Vec<(String, String)>>,
}

/// Whether `allowed` covers `requested`: same context, the same type or `*`,
/// every permission, and no query (or the same query).
pub fn covers(allowed: &ResourceScope, requested: &ResourceScope) -> bool {
    let (a, r) = (allowed.permissions, requested.permissions);
    allowed.context == requested.context
        && match (&allowed.resource_type, &requested.resource_type) {
            (None, _) => true,
            (Some(a), Some(r)) => a == r,
            (Some(_), None) => false,
        }
        && (!r.create || a.create)
        && (!r.read || a.read)
        && (!r.update || a.update)
        && (!r.delete || a.delete)
        && (!r.search || a.search)
        && (allowed.query.is_empty() || allowed.query == requested.query)
}

/// Whether some scope in `set` covers `scope` (non-resource scopes: present in `set`).
pub fn set_covers(set: &[Scope], scope: &Scope) -> bool {
    match scope {
        Scope::Resource(r) => set
            .iter()
            .any(|s| matches!(s, Scope::Resource(a) if covers(a, r))),
        other => set.contains(other),
    }
}

/// The scopes a read-only server grants for `requested` when the client is
/// registered for `allowed`: resource scopes lose write permissions and are
/// kept when an allowed scope covers them; other scopes when allowed lists them.
pub fn grantable(requested: &[Scope], allowed: &[Scope]) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::new();
    for s in requested {
        let candidate = match s {
            Scope::Resource(r) => {
                let permissions = r.permissions.read_only();
                if permissions.is_empty() {
                    continue;
                }
                Scope::Resource(ResourceScope {
                    permissions,
                    ..r.clone()
                })
            }
            other => other.clone(),
        };
        if set_covers(allowed, &candidate) && !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

/// Whether every scope of `requested` is covered by `granted` (refresh may only narrow).
pub fn is_subset(requested: &[Scope], granted: &[Scope]) -> bool {
    requested.iter().all(|s| set_covers(granted, s))
}

/// The resource scopes of a list.
pub fn resource_scopes(scopes: &[Scope]) -> impl Iterator<Item = &ResourceScope> {
    scopes.iter().filter_map(|s| match s {
        Scope::Resource(r) => Some(r),
        _ => None,
    })
}

/// What `scopes` permit for `interaction` on `resource_type`, or `None` (403).
///
/// The widest matching context wins; among its scopes, one without a query
/// makes access unrestricted, otherwise their queries are ORed.
pub fn type_access(scopes: &[Scope], resource_type: &str, interaction: Interaction) -> Option<TypeAccess> {
    let matching: Vec<&ResourceScope> = resource_scopes(scopes)
        .filter(|r| r.covers_type(resource_type))
        .filter(|r| match interaction {
            Interaction::Read => r.permissions.read,
            Interaction::Search => r.permissions.search,
        })
        .collect();
    let context = matching.iter().map(|r| r.context).max()?;
    let widest: Vec<&&ResourceScope> = matching.iter().filter(|r| r.context == context).collect();
    let queries = if widest.iter().any(|r| r.query.is_empty()) {
        Vec::new()
    } else {
        widest.iter().map(|r| r.query.clone()).collect()
    };
    Some(TypeAccess { context, queries })
}

/// Category codes a user can pick instead of a whole type on the consent page
/// (US Core 6.1.0 category value sets), as `(system, code, label)`.
pub fn categories(resource_type: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    const OBS: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
    const COND: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
    const US_COND: &str = "http://hl7.org/fhir/us/core/CodeSystem/condition-category";
    const US_DOC: &str = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category";
    match resource_type {
        "Observation" => &[
            (OBS, "laboratory", "Laboratory results"),
            (OBS, "vital-signs", "Vital signs"),
            (OBS, "social-history", "Social history"),
            (OBS, "survey", "Surveys and assessments"),
            (OBS, "imaging", "Imaging results"),
            (OBS, "exam", "Examination findings"),
        ],
        "Condition" => &[
            (COND, "problem-list-item", "Problem list"),
            (US_COND, "health-concern", "Health concerns"),
            (COND, "encounter-diagnosis", "Encounter diagnoses"),
        ],
        "DocumentReference" => &[(US_DOC, "clinical-note", "Clinical notes")],
        _ => &[],
    }
}

/// The granular (category-level) alternatives of a type-level scope, in v2 syntax.
pub fn granular_alternatives(scope: &ResourceScope) -> Vec<ResourceScope> {
    let Some(t) = scope.resource_type.as_deref() else {
        return Vec::new();
    };
    if !scope.query.is_empty() {
        return Vec::new();
    }
    categories(t)
        .iter()
        .map(|(system, code, _)| ResourceScope {
            context: scope.context,
            resource_type: Some(t.to_string()),
            permissions: Permissions::READ,
            syntax: Syntax::V2,
            query: vec![("category".to_string(), format!("{system}|{code}"))],
        })
        .collect()
}

/// Joins scopes into the canonical space-separated form.
pub fn to_string(scopes: &[Scope]) -> String {
    scopes.iter().map(Scope::to_string).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<Scope> {
        Scope::parse_list(s).0
    }

    #[test]
    fn grantable_narrows_to_registration_and_read_only() {
        let allowed = list("openid fhirUser launch/patient offline_access patient/*.rs");
        let got = grantable(
            &list("openid profile patient/Observation.cruds patient/Condition.read user/Patient.rs patient/Encounter.write"),
            &allowed,
        );
        assert_eq!(
            to_string(&got),
            "openid patient/Observation.rs patient/Condition.read"
        );
    }

    #[test]
    fn query_scopes_are_covered_by_type_scopes_not_the_reverse() {
        let lab = list("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
        let all = list("patient/Observation.rs");
        assert!(is_subset(&lab, &all));
        assert!(!is_subset(&all, &lab));
        assert!(
            !is_subset(&list("user/Observation.rs"), &all),
            "context never widens"
        );
        assert!(!is_subset(&list("offline_access"), &all));
    }

    #[test]
    fn type_access_picks_widest_context_and_ors_queries() {
        let s = list(
            "patient/Observation.rs?category=a|lab patient/Observation.rs?category=a|vital patient/Condition.r patient/*.s",
        );
        let obs = type_access(&s, "Observation", Interaction::Search).unwrap();
        assert_eq!(obs.context, Context::Patient);
        assert!(
            obs.queries.is_empty(),
            "patient/*.s grants Observation search unrestricted"
        );
        let obs_read = type_access(&s, "Observation", Interaction::Read).unwrap();
        assert_eq!(obs_read.queries.len(), 2);
        assert!(type_access(&s, "Patient", Interaction::Read).is_none());
        assert!(type_access(&s, "Condition", Interaction::Read).is_some());
        let mixed = list("patient/Observation.rs user/Observation.rs?category=a|lab");
        let m = type_access(&mixed, "Observation", Interaction::Read).unwrap();
        assert_eq!(m.context, Context::User);
        assert_eq!(m.queries.len(), 1);
        assert!(type_access(&list("launch openid"), "Patient", Interaction::Read).is_none());
    }

    #[test]
    fn granular_alternatives_for_categorised_types() {
        let Scope::Resource(r) = Scope::parse("patient/Condition.read").unwrap() else {
            panic!()
        };
        let alts: Vec<String> = granular_alternatives(&r)
            .into_iter()
            .map(|a| Scope::Resource(a).to_string())
            .collect();
        assert_eq!(alts.len(), 3);
        assert_eq!(
            alts[1],
            "patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern"
        );
        let Scope::Resource(p) = Scope::parse("patient/Patient.rs").unwrap() else {
            panic!()
        };
        assert!(granular_alternatives(&p).is_empty());
    }
}

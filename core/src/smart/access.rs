//! What granted scopes permit: the pure decisions of the authorization server
//! (which requested scopes a client may be granted, by which grant type,
//! whether a refresh asks for a subset) and of the FHIR API (a token's
//! effective scopes today, which context and query restrictions apply to a
//! type and interaction).

use super::scope::{Context, Permissions, ResourceScope, Scope, Syntax};

/// How a token was obtained, which decides the scope contexts it may carry:
/// `system/` scopes belong to backend services (`client_credentials`, no user);
/// `patient/` and `user/` scopes, identity and launch scopes need a user
/// present (`authorization_code`, and refreshes of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// `authorization_code` (and `refresh_token` of such a grant): a user signed in.
    AuthorizationCode,
    /// `client_credentials`: a backend service, no user.
    ClientCredentials,
}

impl GrantKind {
    /// The kind of an OAuth `grant_type` value that issues scopes of its own
    /// (`refresh_token` only narrows an authorization code's grant).
    pub fn of_grant_type(grant_type: &str) -> Option<GrantKind> {
        match grant_type {
            "authorization_code" => Some(GrantKind::AuthorizationCode),
            "client_credentials" => Some(GrantKind::ClientCredentials),
            _ => None,
        }
    }

    /// Whether a token of this kind may carry `scope`.
    pub fn allows(self, scope: &Scope) -> bool {
        let system = matches!(scope, Scope::Resource(r) if r.context == Context::System);
        match self {
            GrantKind::ClientCredentials => system,
            GrantKind::AuthorizationCode => !system,
        }
    }
}

/// The scopes of `scopes` a token of `kind` may carry.
pub fn for_grant(kind: GrantKind, scopes: &[Scope]) -> Vec<Scope> {
    scopes.iter().filter(|s| kind.allows(s)).cloned().collect()
}

/// The first scope of a registration that none of its grant types can ever
/// grant (e.g. `system/*.rs` for an app that only signs users in), or `None`.
pub fn registration_conflict<'a>(scopes: &'a [Scope], kinds: &[GrantKind]) -> Option<&'a Scope> {
    scopes.iter().find(|s| !kinds.iter().any(|k| k.allows(s)))
}

/// What two resource scopes both permit, or `None` when that is nothing a
/// single scope can say (other contexts or types, no common interaction, two
/// different query restrictions).
pub fn intersect(a: &ResourceScope, b: &ResourceScope) -> Option<ResourceScope> {
    if a.context != b.context {
        return None;
    }
    let resource_type = match (&a.resource_type, &b.resource_type) {
        (None, t) | (t, None) => t.clone(),
        (Some(x), Some(y)) if x == y => Some(x.clone()),
        _ => return None,
    };
    let (p, q) = (a.permissions, b.permissions);
    let permissions = Permissions {
        create: p.create && q.create,
        read: p.read && q.read,
        update: p.update && q.update,
        delete: p.delete && q.delete,
        search: p.search && q.search,
    };
    if permissions.is_empty() {
        return None;
    }
    let query = match (a.query.is_empty(), b.query.is_empty()) {
        (true, _) => b.query.clone(),
        (_, true) => a.query.clone(),
        _ if a.query == b.query => a.query.clone(),
        _ => return None,
    };
    // SMART 1.0 can only say `.read` (= rs) without a query.
    let v1 = a.syntax == Syntax::V1
        && b.syntax == Syntax::V1
        && query.is_empty()
        && permissions == Permissions::READ;
    Some(ResourceScope {
        context: a.context,
        resource_type,
        permissions,
        syntax: if v1 { Syntax::V1 } else { Syntax::V2 },
        query,
    })
}

/// A token's effective scopes at the moment of use: what it was `granted`,
/// limited to what a token of `kind` may carry and to what the client is
/// approved for today (`allowed`). A practice's narrowing of an app's scopes
/// thus reaches every existing token and refresh at once: a granted
/// `patient/*.rs` under an approval of `patient/Patient.rs` is
/// `patient/Patient.rs`.
pub fn effective(granted: &[Scope], allowed: &[Scope], kind: GrantKind) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::new();
    let mut push = |s: Scope| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for g in granted.iter().filter(|g| kind.allows(g)) {
        match g {
            Scope::Resource(r) => {
                for a in resource_scopes(allowed) {
                    if let Some(both) = intersect(r, a) {
                        push(Scope::Resource(both));
                    }
                }
            }
            other if allowed.contains(other) => push(other.clone()),
            _ => {}
        }
    }
    // A narrower scope next to one that covers it says nothing more.
    let snapshot = out.clone();
    out.retain(|s| {
        !snapshot.iter().any(|o| {
            o != s && set_covers(std::slice::from_ref(o), s) && !set_covers(std::slice::from_ref(s), o)
        })
    });
    out
}

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
    fn grant_kinds_split_system_from_user_present_scopes() {
        let all = list("openid fhirUser launch/patient patient/*.rs user/Observation.rs system/*.rs");
        assert_eq!(
            to_string(&for_grant(GrantKind::AuthorizationCode, &all)),
            "openid fhirUser launch/patient patient/*.rs user/Observation.rs"
        );
        assert_eq!(
            to_string(&for_grant(GrantKind::ClientCredentials, &all)),
            "system/*.rs"
        );
        let public = list("openid patient/*.rs system/*.rs");
        assert_eq!(
            registration_conflict(&public, &[GrantKind::AuthorizationCode]).map(Scope::to_string),
            Some("system/*.rs".to_string())
        );
        assert_eq!(
            registration_conflict(&list("system/*.rs openid"), &[GrantKind::ClientCredentials])
                .map(Scope::to_string),
            Some("openid".to_string())
        );
        assert!(registration_conflict(
            &public,
            &[GrantKind::AuthorizationCode, GrantKind::ClientCredentials]
        )
        .is_none());
        assert_eq!(GrantKind::of_grant_type("refresh_token"), None);
    }

    #[test]
    fn effective_scopes_follow_the_current_approval() {
        let code = GrantKind::AuthorizationCode;
        let granted = list("openid fhirUser launch/patient offline_access patient/*.rs");
        // The practice narrowed the app to Patient only and dropped offline_access.
        let now = list("openid fhirUser launch/patient patient/Patient.rs");
        assert_eq!(
            to_string(&effective(&granted, &now, code)),
            "openid fhirUser launch/patient patient/Patient.rs"
        );
        // Unchanged approval: unchanged scopes.
        let same = list("openid fhirUser launch/patient offline_access patient/*.rs");
        assert_eq!(to_string(&effective(&granted, &same, code)), to_string(&granted));
        // A query-restricted grant under a type-wide approval keeps its query.
        let lab = list("patient/Observation.rs?category=a|lab");
        assert_eq!(
            to_string(&effective(&lab, &list("patient/*.rs"), code)),
            "patient/Observation.rs?category=a|lab"
        );
        // Two different queries have no common scope.
        assert!(effective(&lab, &list("patient/Observation.rs?category=a|vital"), code).is_empty());
        // Permissions intersect; v1 stays v1 when it can.
        assert_eq!(
            to_string(&effective(
                &list("patient/*.read"),
                &list("patient/Observation.read patient/Condition.r"),
                code
            )),
            "patient/Observation.read patient/Condition.r"
        );
        // system/ never survives in a user-present token, whatever was stored.
        assert!(effective(&list("system/*.rs"), &list("system/*.rs"), code).is_empty());
        assert_eq!(
            to_string(&effective(
                &list("system/*.rs"),
                &list("system/Patient.rs system/Observation.rs"),
                GrantKind::ClientCredentials
            )),
            "system/Patient.rs system/Observation.rs"
        );
        // Other contexts never meet.
        assert!(effective(&list("patient/*.rs"), &list("user/*.rs"), code).is_empty());
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

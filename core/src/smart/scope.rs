//! SMART scopes: parsing, canonical form, and what a scope permits.
//!
//! Resource scopes are `context/Type.permissions[?query]`:
//! - context: `patient`, `user` or `system`;
//! - type: a resource type or `*`;
//! - permissions: v1 `read`, `write`, `*`, or v2 letters from `cruds` in that
//!   order (`rs`, `cruds`, …);
//! - v2 may restrict by a search query (`patient/Observation.rs?category=…`).
//!
//! Other scopes are launch context and identity requests (`launch`,
//! `launch/patient`, `openid`, `fhirUser`, `offline_access`, …).

use std::fmt;

/// Whose data a resource scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    /// The patient in context (`patient/`).
    Patient,
    /// Whatever the signed-in user may see (`user/`).
    User,
    /// A backend client, no user (`system/`).
    System,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }
}

/// The interactions of SMART v2 (`c r u d s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions {
    /// create
    pub create: bool,
    /// read
    pub read: bool,
    /// update
    pub update: bool,
    /// delete
    pub delete: bool,
    /// search
    pub search: bool,
}

impl Permissions {
    /// `.rs`: read and search.
    pub const READ: Permissions = Permissions {
        create: false,
        read: true,
        update: false,
        delete: false,
        search: true,
    };

    fn letters(self) -> String {
        [
            (self.create, 'c'),
            (self.read, 'r'),
            (self.update, 'u'),
            (self.delete, 'd'),
            (self.search, 's'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect()
    }

    /// Keeps only what a read-only server can grant (read and search).
    pub fn read_only(self) -> Permissions {
        Permissions {
            read: self.read,
            search: self.search,
            ..Permissions::default()
        }
    }

    /// Whether nothing is permitted.
    pub fn is_empty(self) -> bool {
        self == Permissions::default()
    }
}

/// Which grammar a scope was written in; the canonical form keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// SMART 1.0: `.read`, `.write`, `.*`.
    V1,
    /// SMART 2.0: `.cruds` letters.
    V2,
}

/// A resource-level scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    /// `patient`, `user` or `system`.
    pub context: Context,
    /// The resource type, or `None` for `*`.
    pub resource_type: Option<String>,
    /// What it permits.
    pub permissions: Permissions,
    /// The grammar it was written in.
    pub syntax: Syntax,
    /// A v2 query restriction (`category=…`), as decoded pairs.
    pub query: Vec<(String, String)>,
}

impl ResourceScope {
    /// Whether the scope reaches `resource_type` (its type or `*`).
    pub fn covers_type(&self, resource_type: &str) -> bool {
        self.resource_type.as_deref().is_none_or(|t| t == resource_type)
    }
}

/// One scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `context/Type.permissions[?query]`.
    Resource(ResourceScope),
    /// `launch`: EHR launch context.
    Launch,
    /// `launch/patient`: ask for a patient in context.
    LaunchPatient,
    /// `launch/encounter`: ask for an encounter in context.
    LaunchEncounter,
    /// `openid`.
    OpenId,
    /// `fhirUser`.
    FhirUser,
    /// `profile` (SMART 1.0 identity).
    Profile,
    /// `offline_access`: a refresh token that outlives the session.
    OfflineAccess,
    /// `online_access`: a refresh token tied to the session.
    OnlineAccess,
}

/// Why a scope does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError(pub String);

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_permissions(p: &str, scope: &str) -> Result<(Permissions, Syntax), ScopeError> {
    let bad = || {
        ScopeError(format!(
            "'{scope}': permissions must be read, write, * or letters of cruds in order"
        ))
    };
    match p {
        "read" => return Ok((Permissions::READ, Syntax::V1)),
        "write" => {
            return Ok((
                Permissions {
                    create: true,
                    update: true,
                    delete: true,
                    ..Permissions::default()
                },
                Syntax::V1,
            ))
        }
        "*" => {
            return Ok((
                Permissions {
                    create: true,
                    read: true,
                    update: true,
                    delete: true,
                    search: true,
                },
                Syntax::V1,
            ))
        }
        "" => return Err(bad()),
        _ => {}
    }
    let mut perms = Permissions::default();
    let mut last = None;
    for ch in p.chars() {
        let pos = "cruds".find(ch).ok_or_else(bad)?;
        if last.is_some_and(|l| pos <= l) {
            return Err(bad()); // out of order or repeated
        }
        last = Some(pos);
        match ch {
            'c' => perms.create = true,
            'r' => perms.read = true,
            'u' => perms.update = true,
            'd' => perms.delete = true,
            _ => perms.search = true,
        }
    }
    Ok((perms, Syntax::V2))
}

impl Scope {
    /// Parses one scope token. Unknown non-resource tokens are errors so that
    /// callers can decide to drop them (OAuth servers ignore what they do not grant).
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        match s {
            "launch" => return Ok(Scope::Launch),
            "launch/patient" => return Ok(Scope::LaunchPatient),
            "launch/encounter" => return Ok(Scope::LaunchEncounter),
            "openid" => return Ok(Scope::OpenId),
            "fhirUser" => return Ok(Scope::FhirUser),
            "profile" => return Ok(Scope::Profile),
            "offline_access" => return Ok(Scope::OfflineAccess),
            "online_access" => return Ok(Scope::OnlineAccess),
            _ => {}
        }
        let (context, rest) = s
            .split_once('/')
            .ok_or_else(|| ScopeError(format!("'{s}' is not a SMART scope")))?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => {
                return Err(ScopeError(format!(
                    "'{s}': context must be patient, user or system"
                )))
            }
        };
        let (body, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (rtype, perms) = body
            .split_once('.')
            .ok_or_else(|| ScopeError(format!("'{s}': expected Type.permissions")))?;
        let resource_type = match rtype {
            "*" => None,
            t if crate::reference::is_type_name(t) => Some(t.to_string()),
            _ => return Err(ScopeError(format!("'{s}': '{rtype}' is not a resource type"))),
        };
        let (permissions, syntax) = parse_permissions(perms, s)?;
        let query: Vec<(String, String)> = match query {
            Some(q) if syntax == Syntax::V2 && !q.is_empty() => form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            Some(_) => return Err(ScopeError(format!("'{s}': only SMART v2 scopes take a query"))),
            None => Vec::new(),
        };
        Ok(Scope::Resource(ResourceScope {
            context,
            resource_type,
            permissions,
            syntax,
            query,
        }))
    }

    /// Parses a space-separated scope string; tokens that are not SMART scopes
    /// are returned separately so the caller can ignore or reject them.
    pub fn parse_list(s: &str) -> (Vec<Scope>, Vec<String>) {
        let mut ok = Vec::new();
        let mut unknown = Vec::new();
        for token in s.split_ascii_whitespace() {
            match Scope::parse(token) {
                Ok(scope) if !ok.contains(&scope) => ok.push(scope),
                Ok(_) => {}
                Err(_) => unknown.push(token.to_string()),
            }
        }
        (ok, unknown)
    }
}

/// The canonical spelling: v1 scopes as `.read`/`.write`/`.*`, v2 letters in
/// `cruds` order, query pairs re-encoded.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fixed = match self {
            Scope::Launch => "launch",
            Scope::LaunchPatient => "launch/patient",
            Scope::LaunchEncounter => "launch/encounter",
            Scope::OpenId => "openid",
            Scope::FhirUser => "fhirUser",
            Scope::Profile => "profile",
            Scope::OfflineAccess => "offline_access",
            Scope::OnlineAccess => "online_access",
            Scope::Resource(r) => {
                let t = r.resource_type.as_deref().unwrap_or("*");
                let p = r.permissions;
                let perms = match r.syntax {
                    Syntax::V1 if p == Permissions::READ => "read".to_string(),
                    Syntax::V1 if p.letters() == "cud" => "write".to_string(),
                    Syntax::V1 if p.letters() == "cruds" => "*".to_string(),
                    _ => p.letters(),
                };
                write!(f, "{}/{t}.{perms}", r.context.as_str())?;
                for (i, (k, v)) in r.query.iter().enumerate() {
                    let sep = if i == 0 { '?' } else { '&' };
                    write!(f, "{sep}{}={}", encode_query_part(k), encode_query_part(v))?;
                }
                return Ok(());
            }
        };
        f.write_str(fixed)
    }
}

/// Percent-encodes what would break a scope token or its query (space, `&`,
/// `=`, `%`, `+`, `#`, controls, non-ASCII) and keeps `:/|,` readable, as the
/// SMART examples spell them (`category=http://…|laboratory`).
fn encode_query_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(b as char),
            b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b'|' | b',' | b'@' | b'!' | b'$' | b'\'' | b'('
            | b')' | b'*' | b';' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Scope::parse(s).unwrap().to_string()
    }

    #[test]
    fn v1_and_v2_resource_scopes() {
        assert_eq!(canon("patient/Observation.read"), "patient/Observation.read");
        assert_eq!(canon("user/*.rs"), "user/*.rs");
        assert_eq!(canon("system/Patient.cruds"), "system/Patient.cruds");
        let Scope::Resource(r) = Scope::parse("patient/Observation.read").unwrap() else {
            panic!()
        };
        assert_eq!(r.permissions, Permissions::READ);
        assert!(r.covers_type("Observation") && !r.covers_type("Patient"));
        let Scope::Resource(all) = Scope::parse("patient/*.*").unwrap() else {
            panic!()
        };
        assert!(all.covers_type("Condition"));
        assert_eq!(all.permissions.read_only(), Permissions::READ);
    }

    #[test]
    fn query_restricted_scopes() {
        let s = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
        let Scope::Resource(r) = Scope::parse(s).unwrap() else {
            panic!()
        };
        assert_eq!(
            r.query,
            vec![(
                "category".into(),
                "http://terminology.hl7.org/CodeSystem/observation-category|laboratory".into()
            )]
        );
        assert_eq!(
            Scope::Resource(r.clone()).to_string(),
            s,
            "canonical form keeps :/| readable"
        );
        assert_eq!(
            Scope::parse(&Scope::Resource(r.clone()).to_string()).unwrap(),
            Scope::Resource(r)
        );
        assert!(Scope::parse("patient/Observation.read?category=x").is_err());
        let odd = Scope::parse("patient/Observation.rs?code=a%20b%26c").unwrap();
        assert_eq!(odd.to_string(), "patient/Observation.rs?code=a%20b%26c");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Observation.x",
            "admin/Patient.read",
            "patient/observation.read",
            "patient/Observation",
            "patient/Observation.",
            "nonsense",
        ] {
            assert!(Scope::parse(s).is_err(), "{s} parsed");
        }
    }

    #[test]
    fn lists_split_known_and_unknown() {
        let (ok, unknown) =
            Scope::parse_list("openid fhirUser launch/patient patient/*.rs  offline_access bogus openid");
        assert_eq!(ok.len(), 5);
        assert_eq!(unknown, vec!["bogus".to_string()]);
    }
}

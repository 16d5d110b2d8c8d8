//! FHIR ids and references: syntax checks and parsing.

/// Whether `id` is a valid FHIR logical id: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The target `(type, id)` of a reference to a resource on this server: a
/// relative reference, or an absolute one whose base is `local_base` (the
/// server's FHIR base). References to other servers have none.
pub fn local_target(parsed: &ParsedReference, local_base: Option<&str>) -> Option<(String, String)> {
    match parsed {
        ParsedReference::Local {
            resource_type, id, ..
        } => Some((resource_type.clone(), id.clone())),
        ParsedReference::Absolute {
            base: Some(b),
            resource_type: Some(t),
            id: Some(i),
        } if local_base.is_some_and(|l| l.trim_end_matches('/') == b.trim_end_matches('/')) => {
            Some((t.clone(), i.clone()))
        }
        _ => None,
    }
}

/// Whether `name` has the shape of a FHIR resource type name.
pub fn is_type_name(name: &str) -> bool {
    name.len() <= 64
        && name.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A reference string, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedReference {
    /// `Type/id` or `Type/id/_history/v`, relative to the server base.
    Local {
        /// Target type.
        resource_type: String,
        /// Target id.
        id: String,
        /// Version, if the reference names one.
        version: Option<String>,
    },
    /// An absolute URL; its type and id when its last segments read as `Type/id`.
    Absolute {
        /// The URL before `Type/id`, e.g. `https://example.org/fhir`.
        base: Option<String>,
        /// Target type, if readable.
        resource_type: Option<String>,
        /// Target id, if readable.
        id: Option<String>,
    },
    /// `urn:uuid:` or `urn:oid:`: a placeholder resolved inside a Bundle.
    Urn(String),
    /// `#id`: a contained resource.
    Contained(String),
}

impl ParsedReference {
    /// The target type, when the reference names one.
    pub fn resource_type(&self) -> Option<&str> {
        match self {
            ParsedReference::Local { resource_type, .. } => Some(resource_type),
            ParsedReference::Absolute { resource_type, .. } => resource_type.as_deref(),
            _ => None,
        }
    }
}

/// Why a reference string is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReference(pub String);

/// Parses a reference string as found in `Reference.reference`.
pub fn parse_reference(s: &str) -> Result<ParsedReference, BadReference> {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(BadReference(format!(
            "reference '{s}' is empty or contains white space"
        )));
    }
    if let Some(local) = s.strip_prefix('#') {
        return Ok(ParsedReference::Contained(local.to_string()));
    }
    if s.starts_with("urn:uuid:") || s.starts_with("urn:oid:") {
        return Ok(ParsedReference::Urn(s.to_string()));
    }
    if s.contains("://") {
        let path = s.split(['?', '#']).next().unwrap_or(s);
        let segs: Vec<&str> = path.split('/').collect();
        // …/Type/id or …/Type/id/_history/v
        let tail = if segs.len() >= 4 && segs[segs.len() - 2] == "_history" {
            &segs[..segs.len() - 2]
        } else {
            &segs[..]
        };
        if tail.len() >= 5 {
            let (t, id) = (tail[tail.len() - 2], tail[tail.len() - 1]);
            if is_type_name(t) && is_valid_id(id) {
                let base = tail[..tail.len() - 2].join("/");
                return Ok(ParsedReference::Absolute {
                    base: Some(base),
                    resource_type: Some(t.to_string()),
                    id: Some(id.to_string()),
                });
            }
        }
        return Ok(ParsedReference::Absolute {
            base: None,
            resource_type: None,
            id: None,
        });
    }
    let parts: Vec<&str> = s.split('/').collect();
    let ok = |t: &str, id: &str| is_type_name(t) && is_valid_id(id);
    match parts.as_slice() {
        [t, id] if ok(t, id) => Ok(ParsedReference::Local {
            resource_type: t.to_string(),
            id: id.to_string(),
            version: None,
        }),
        [t, id, "_history", v] if ok(t, id) && is_valid_id(v) => Ok(ParsedReference::Local {
            resource_type: t.to_string(),
            id: id.to_string(),
            version: Some(v.to_string()),
        }),
        _ => Err(BadReference(format!(
            "reference '{s}' is not Type/id, an absolute URL, a urn or #id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("abc-1.2"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id(&"x".repeat(65)));
        assert!(!is_valid_id("a b"));
    }

    #[test]
    fn references() {
        assert_eq!(
            parse_reference("Patient/1").unwrap(),
            ParsedReference::Local {
                resource_type: "Patient".into(),
                id: "1".into(),
                version: None
            }
        );
        assert_eq!(
            parse_reference("https://x.org/fhir/Patient/9/_history/2")
                .unwrap()
                .resource_type(),
            Some("Patient")
        );
        assert!(matches!(
            parse_reference("urn:uuid:1234").unwrap(),
            ParsedReference::Urn(_)
        ));
        assert!(matches!(
            parse_reference("#c1").unwrap(),
            ParsedReference::Contained(_)
        ));
        assert!(parse_reference("Patient").is_err());
        assert!(parse_reference("patient/1").is_err());
        assert!(parse_reference("Patient/a b").is_err());
        assert!(parse_reference("Patient/1/2").is_err());
    }
}

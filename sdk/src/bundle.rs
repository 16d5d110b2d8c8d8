//! Search result Bundles: their matches and included resources, the `next`
//! link, and which included resource belongs to which match (so `_include`
//! and `_revinclude` results reach the app attached, without more requests).

use flare_core::reference::{local_target, parse_reference, ParsedReference};

use crate::error::{ErrorKind, SdkError};
use crate::json::{text_at, Json};
use crate::keys::KeyIndex;

/// One Bundle entry and its resource.
#[derive(Debug, Clone)]
pub struct Entry<J> {
    /// The resource.
    pub resource: J,
    /// The entry itself (its `fullUrl` is read only when includes need it).
    pub entry: J,
    /// Its position in `Bundle.entry`.
    pub position: usize,
}

impl<J: Json> Entry<J> {
    /// `entry.fullUrl`.
    pub fn full_url(&self) -> Option<String> {
        text_at(&self.entry, "fullUrl")
    }
}

/// A searchset page, read.
#[derive(Debug, Clone)]
pub struct Page<J> {
    /// `search.mode = match` entries (or entries without a mode).
    pub matches: Vec<Entry<J>>,
    /// `search.mode = include` entries.
    pub included: Vec<Entry<J>>,
    /// `search.mode = outcome` entries (warnings such as ignored parameters).
    pub outcomes: Vec<Entry<J>>,
    /// The `next` link.
    pub next: Option<String>,
    /// `Bundle.total`, when the server counted.
    pub total: Option<f64>,
}

/// Reads a Bundle into its parts.
pub fn read_page<J: Json>(bundle: &J) -> Result<Page<J>, SdkError> {
    if text_at(bundle, "resourceType").as_deref() != Some("Bundle") {
        return Err(SdkError::new(
            ErrorKind::Protocol,
            "search answer is not a Bundle",
        ));
    }
    let mut page = Page {
        matches: Vec::new(),
        included: Vec::new(),
        outcomes: Vec::new(),
        next: None,
        total: bundle.member("total").and_then(|t| t.number()),
    };
    for link in bundle.member("link").map(|l| l.elements()).unwrap_or_default() {
        if text_at(&link, "relation").as_deref() == Some("next") {
            page.next = text_at(&link, "url");
        }
    }
    let entries = bundle.member("entry").map(|e| e.elements()).unwrap_or_default();
    for (position, entry) in entries.into_iter().enumerate() {
        let Some(resource) = entry.member("resource") else {
            continue;
        };
        let mode = entry.member("search").and_then(|s| s.member("mode"));
        let e = Entry {
            resource,
            entry,
            position,
        };
        match mode {
            Some(m) if m.text_is("include") => page.included.push(e),
            Some(m) if m.text_is("outcome") => page.outcomes.push(e),
            _ => page.matches.push(e),
        }
    }
    Ok(page)
}

/// Whether the bearer token may be sent to `url`: only under the server's own
/// FHIR base, so a `next` link (or a reference) to another host never
/// receives the token.
pub fn is_under_base(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    match url.strip_prefix(base) {
        Some(rest) => matches!(rest.as_bytes().first(), None | Some(b'/' | b'?')),
        None => false,
    }
}

/// The `next` link, checked to be under `base`.
pub fn checked_next(next: Option<&str>, base: &str) -> Result<Option<String>, SdkError> {
    match next {
        Some(url) if !is_under_base(url, base) => Err(SdkError::new(
            ErrorKind::Protocol,
            crate::form::cat(&[
                "next link ",
                url,
                " is not under the FHIR base ",
                base,
                "; not sending the token there",
            ]),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

/// The key a reference resolves by: `Type/id` for references to this server
/// (relative, or absolute under `base`), the URL itself for other absolute
/// references and `urn:` references, `None` for contained (`#id`) and
/// malformed ones.
pub fn reference_key(reference: &str, base: &str) -> Option<String> {
    let parsed = parse_reference(reference).ok()?;
    match &parsed {
        ParsedReference::Contained(_) => None,
        ParsedReference::Urn(u) => Some(u.clone()),
        _ => match local_target(&parsed, Some(base)) {
            Some((t, id)) => Some(crate::form::cat(&[t.as_str(), "/", id.as_str()])),
            None => Some(reference.split('#').next().unwrap_or(reference).to_string()),
        },
    }
}

/// The keys an entry answers to: `Type/id` and its `fullUrl` key.
pub fn entry_keys<J: Json>(entry: &Entry<J>, base: &str) -> Vec<String> {
    keys_of(
        text_at(&entry.resource, "resourceType").as_deref(),
        text_at(&entry.resource, "id").as_deref(),
        entry.full_url().as_deref(),
        base,
    )
}

/// The keys of a resource with this type, id and entry `fullUrl`.
pub fn keys_of(
    resource_type: Option<&str>,
    id: Option<&str>,
    full_url: Option<&str>,
    base: &str,
) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let (Some(t), Some(id)) = (resource_type, id) {
        keys.push(crate::form::cat(&[t, "/", id]));
    }
    if let Some(key) = full_url.and_then(|u| reference_key(u, base)) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// What attachment planning needs of one entry: the keys it answers to and
/// the references it makes (the browser layer collects both from the JS
/// objects; [`attachments`] from any [`Json`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryRefs {
    /// `Type/id` and the `fullUrl` key ([`keys_of`]).
    pub keys: Vec<String>,
    /// The `reference` strings of the resource ([`references`]).
    pub references: Vec<String>,
}

/// Every `reference` string in a resource, in document order, outside its
/// `contained` resources.
pub fn references<J: Json>(resource: &J) -> Vec<String> {
    fn walk<J: Json>(value: &J, out: &mut Vec<String>) {
        let members = value.members();
        if members.is_empty() {
            for element in value.elements() {
                walk(&element, out);
            }
            return;
        }
        for (key, child) in members {
            match key.as_str() {
                "contained" => {}
                "reference" => out.extend(child.text()),
                _ => walk(&child, out),
            }
        }
    }
    let mut out = Vec::new();
    walk(resource, &mut out);
    out
}

/// Where an included resource goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// Match `of` references `reference`, which an included (or other matching)
    /// resource answers: `of.$refs[reference] = target`.
    Reference {
        /// Index in `matches`.
        of: usize,
        /// The reference as written in the match.
        reference: String,
        /// Its position among the match's references.
        reference_index: usize,
        /// The resolved resource.
        target: Target,
    },
    /// Included resource `included` references match `of` (a `_revinclude`):
    /// it joins `of.$revincluded`.
    Reverse {
        /// Index in `matches`.
        of: usize,
        /// Index in `included`.
        included: usize,
    },
}

/// A resource of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `matches[i]`.
    Match(usize),
    /// `included[i]`.
    Included(usize),
}

/// Links the page's resources. Nothing to do (and no walk of the resources)
/// when the page has no included entries.
pub fn attachments<J: Json>(page: &Page<J>, base: &str) -> Vec<Attachment> {
    if page.included.is_empty() {
        return Vec::new();
    }
    let refs = |entries: &[Entry<J>]| -> Vec<EntryRefs> {
        entries
            .iter()
            .map(|e| EntryRefs {
                keys: entry_keys(e, base),
                references: references(&e.resource),
            })
            .collect()
    };
    plan_attachments(&refs(&page.included), &refs(&page.matches), base)
}

/// The attachment plan of a page from its entries' keys and references.
pub fn plan_attachments(included: &[EntryRefs], matches: &[EntryRefs], base: &str) -> Vec<Attachment> {
    let mut out = Vec::new();
    if included.is_empty() {
        return out;
    }
    // Included resources first: they win over a match with the same key.
    // Targets as numbers for the (non-generic) index: 2i a match, 2i+1 an include.
    let mut keyed: Vec<(String, u32)> = Vec::new();
    for (i, e) in included.iter().enumerate() {
        keyed.extend(e.keys.iter().map(|k| (k.clone(), (i as u32) << 1 | 1)));
    }
    let mut match_keys: Vec<(String, u32)> = Vec::new();
    for (i, e) in matches.iter().enumerate() {
        for k in &e.keys {
            match_keys.push((k.clone(), i as u32));
            keyed.push((k.clone(), (i as u32) << 1));
        }
    }
    let by_key = KeyIndex::new(keyed);
    let match_by_key = KeyIndex::new(match_keys);
    let target_of = |code: u32| {
        let i = (code >> 1) as usize;
        if code & 1 == 1 {
            Target::Included(i)
        } else {
            Target::Match(i)
        }
    };
    for (i, e) in matches.iter().enumerate() {
        for (n, reference) in e.references.iter().enumerate() {
            let Some(target) = reference_key(reference, base)
                .and_then(|k| by_key.get(&k))
                .map(target_of)
            else {
                continue;
            };
            if target != Target::Match(i) {
                out.push(Attachment::Reference {
                    of: i,
                    reference: reference.clone(),
                    reference_index: n,
                    target,
                });
            }
        }
    }
    for (j, e) in included.iter().enumerate() {
        let mut seen = Vec::new();
        for reference in &e.references {
            if let Some(of) = reference_key(reference, base).and_then(|k| match_by_key.get(&k)) {
                let of = of as usize;
                if !seen.contains(&of) {
                    seen.push(of);
                    out.push(Attachment::Reverse { of, included: j });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const BASE: &str = "http://ehr/fhir";

    fn bundle() -> Value {
        json!({"resourceType": "Bundle", "type": "searchset", "total": 2,
        "link": [{"relation": "self", "url": "http://ehr/fhir/MedicationRequest?x"},
                 {"relation": "next", "url": "http://ehr/fhir/MedicationRequest?_cursor=9"}],
        "entry": [
          {"fullUrl": "http://ehr/fhir/MedicationRequest/m1", "search": {"mode": "match"},
           "resource": {"resourceType": "MedicationRequest", "id": "m1",
              "medicationReference": {"reference": "Medication/med1"},
              "subject": {"reference": "http://ehr/fhir/Patient/p1"},
              "contained": [{"resourceType": "Medication", "id": "c", "manufacturer": {"reference": "Organization/o"}}]}},
          {"fullUrl": "http://ehr/fhir/MedicationRequest/m2",
           "resource": {"resourceType": "MedicationRequest", "id": "m2",
              "medicationReference": {"reference": "Medication/med1"}, "basedOn": [{"reference": "MedicationRequest/m1"}]}},
          {"fullUrl": "http://ehr/fhir/Medication/med1", "search": {"mode": "include"},
           "resource": {"resourceType": "Medication", "id": "med1"}},
          {"fullUrl": "http://ehr/fhir/Provenance/pv", "search": {"mode": "include"},
           "resource": {"resourceType": "Provenance", "id": "pv",
              "target": [{"reference": "MedicationRequest/m1"}, {"reference": "MedicationRequest/m1"},
                         {"reference": "MedicationRequest/m2"}]}},
          {"search": {"mode": "outcome"}, "resource": {"resourceType": "OperationOutcome"}}
        ]})
    }

    #[test]
    fn splits_matches_includes_and_outcomes() {
        let b = bundle();
        let page = read_page(&&b).unwrap();
        assert_eq!(page.matches.len(), 2);
        assert_eq!(page.included.len(), 2);
        assert_eq!(page.outcomes.len(), 1);
        assert_eq!(page.total, Some(2.0));
        assert_eq!(
            page.next.as_deref(),
            Some("http://ehr/fhir/MedicationRequest?_cursor=9")
        );
        assert!(read_page(&&json!({"resourceType": "Patient"})).is_err());
    }

    #[test]
    fn includes_attach_to_the_matches_that_reference_them() {
        let b = bundle();
        let page = read_page(&&b).unwrap();
        let links = attachments(&page, BASE);
        let refs = |of: usize| -> Vec<(String, Target)> {
            links
                .iter()
                .filter_map(|a| match a {
                    Attachment::Reference {
                        of: o,
                        reference,
                        target,
                        ..
                    } if *o == of => Some((reference.clone(), *target)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            refs(0),
            vec![("Medication/med1".to_string(), Target::Included(0))]
        );
        assert_eq!(
            refs(1),
            vec![
                ("Medication/med1".to_string(), Target::Included(0)),
                ("MedicationRequest/m1".to_string(), Target::Match(0))
            ]
        );
        let reverse: Vec<_> = links
            .iter()
            .filter(|a| matches!(a, Attachment::Reverse { .. }))
            .collect();
        assert_eq!(
            reverse,
            vec![
                &Attachment::Reverse { of: 0, included: 1 },
                &Attachment::Reverse { of: 1, included: 1 }
            ]
        );
    }

    #[test]
    fn no_includes_no_walk() {
        let b = json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "1",
            "managingOrganization": {"reference": "Organization/1"}}}]});
        assert!(attachments(&read_page(&&b).unwrap(), BASE).is_empty());
    }

    #[test]
    fn references_skip_contained_resources() {
        let b = bundle();
        let page = read_page(&&b).unwrap();
        assert_eq!(
            references(&page.matches[0].resource),
            vec!["Medication/med1", "http://ehr/fhir/Patient/p1"]
        );
    }

    #[test]
    fn reference_keys_normalise_local_urls() {
        assert_eq!(reference_key("Patient/1", BASE).as_deref(), Some("Patient/1"));
        assert_eq!(
            reference_key("Patient/1/_history/2", BASE).as_deref(),
            Some("Patient/1")
        );
        assert_eq!(
            reference_key("http://ehr/fhir/Patient/1", BASE).as_deref(),
            Some("Patient/1")
        );
        assert_eq!(
            reference_key("http://other/fhir/Patient/1", BASE).as_deref(),
            Some("http://other/fhir/Patient/1")
        );
        assert_eq!(
            reference_key("urn:uuid:abc", BASE).as_deref(),
            Some("urn:uuid:abc")
        );
        assert_eq!(reference_key("#c", BASE), None);
    }

    #[test]
    fn next_links_stay_on_the_server() {
        assert!(is_under_base("http://ehr/fhir/Patient?_cursor=1", BASE));
        assert!(is_under_base("http://ehr/fhir?x", "http://ehr/fhir/"));
        assert!(!is_under_base("http://ehr/fhirx/Patient", BASE));
        assert!(!is_under_base("http://evil/fhir/Patient", BASE));
        assert!(checked_next(Some("http://evil/x"), BASE).is_err());
        assert_eq!(checked_next(None, BASE).unwrap(), None);
    }
}

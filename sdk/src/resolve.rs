//! Reference resolution, planned without I/O: each reference is answered by
//! the referencing resource's `contained` resources first, then by the
//! resources already at hand (the Bundle page), and only then by the server,
//! with one `Type?_id=a,b,c` search per type and batch instead of one read
//! per reference. References to other servers are never fetched (the token
//! is not sent there).

use crate::bundle::{is_under_base, reference_key, references};
use crate::json::{text_at, Json};

/// Ids per server search (keeps URLs short and within `_count` limits).
pub const BATCH_SIZE: usize = 50;

/// Where one reference is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `resource.contained[i]`.
    Contained(usize),
    /// A resource at hand, by key (`Type/id` or URL).
    AtHand(String),
    /// Fetched from the server; the key is `Type/id`.
    Server(String),
}

/// One reference of one resource and where it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Index of the referencing resource.
    pub resource: usize,
    /// The reference as written.
    pub reference: String,
    /// Its source.
    pub source: Source,
}

/// One server search: `GET {base}/{resource_type}?_id={ids}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The type searched.
    pub resource_type: String,
    /// The ids (at most [`BATCH_SIZE`]).
    pub ids: Vec<String>,
}

impl Batch {
    /// The search parameters of this batch: `_id=a,b,c&_count=n`.
    pub fn search_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("_id".to_string(), self.ids.join(",")),
            ("_count".to_string(), self.ids.len().to_string()),
        ]
    }
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Every reference found and its source.
    pub resolutions: Vec<Resolution>,
    /// The server searches needed.
    pub batches: Vec<Batch>,
    /// References that cannot be resolved (other servers, missing contained).
    pub unresolvable: Vec<String>,
}

/// The values of member `step` of `nodes`, arrays flattened (one step of a
/// dotted path).
fn children<J: Json>(nodes: &[J], step: &str) -> Vec<J> {
    let mut next = Vec::new();
    for n in nodes {
        if let Some(child) = n.member(step) {
            let elements = child.elements();
            if elements.is_empty() {
                next.push(child);
            } else {
                next.extend(elements);
            }
        }
    }
    next
}

/// The references under a dotted path (`medicationReference`,
/// `performer.actor`), or all of them when `path` is empty.
pub fn references_at<J: Json>(resource: &J, path: &str) -> Vec<String> {
    let mut nodes = vec![resource.clone()];
    for step in path.split('.').filter(|s| !s.is_empty()) {
        nodes = children(&nodes, step);
    }
    nodes.iter().flat_map(|n| references(n)).collect()
}

/// Where `path` crosses a reference in `resource`: the part up to and
/// including the first element that is a Reference, and the rest, which
/// applies in the resource that reference points to. `encounter.serviceProvider`
/// is `encounter`, then `serviceProvider` of the Encounter; `performer.actor`
/// stays whole (`performer` is a BackboneElement, `actor` the Reference).
pub fn split_at_reference<J: Json>(resource: &J, path: &str) -> (String, Option<String>) {
    let steps: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    let mut nodes = vec![resource.clone()];
    for (i, step) in steps.iter().enumerate() {
        let next = children(&nodes, step);
        let is_reference = next.iter().any(|n| text_at(n, "reference").is_some());
        if is_reference && i + 1 < steps.len() {
            return (steps[..=i].join("."), Some(steps[i + 1..].join(".")));
        }
        nodes = next;
    }
    (steps.join("."), None)
}

/// What resolution planning needs of one resource: its references (under
/// the requested paths) and the ids of its `contained` resources.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceRefs {
    /// The references, in document order (duplicates allowed).
    pub references: Vec<String>,
    /// `contained[i].id` for each contained resource.
    pub contained_ids: Vec<String>,
}

/// Plans the resolution of the references under `paths` (all when empty) of
/// `resources`; `at_hand` holds the keys of resources already loaded.
pub fn plan<J: Json>(resources: &[J], paths: &[String], at_hand: &dyn Fn(&str) -> bool, base: &str) -> Plan {
    let refs: Vec<ResourceRefs> = resources
        .iter()
        .map(|resource| ResourceRefs {
            references: if paths.is_empty() {
                references(resource)
            } else {
                paths.iter().flat_map(|p| references_at(resource, p)).collect()
            },
            contained_ids: resource
                .member("contained")
                .map(|c| c.elements())
                .unwrap_or_default()
                .iter()
                .map(|c| text_at(c, "id").unwrap_or_default())
                .collect(),
        })
        .collect();
    plan_refs(&refs, at_hand, base)
}

/// [`plan`] over references already collected.
pub fn plan_refs(resources: &[ResourceRefs], at_hand: &dyn Fn(&str) -> bool, base: &str) -> Plan {
    let mut out = Plan::default();
    let mut queued: Vec<String> = Vec::new();
    for (i, resource) in resources.iter().enumerate() {
        let mut seen: Vec<&str> = Vec::new();
        for reference in &resource.references {
            if seen.contains(&reference.as_str()) {
                continue;
            }
            seen.push(reference);
            let reference = reference.clone();
            let source = if let Some(local) = reference.strip_prefix('#') {
                resource
                    .contained_ids
                    .iter()
                    .position(|id| !id.is_empty() && id == local)
                    .map(Source::Contained)
            } else {
                match reference_key(&reference, base) {
                    Some(key) if at_hand(&key) => Some(Source::AtHand(key)),
                    Some(key) if is_server_key(&key, base) => {
                        queued.push(key.clone());
                        Some(Source::Server(key))
                    }
                    _ => None,
                }
            };
            match source {
                Some(source) => out.resolutions.push(Resolution {
                    resource: i,
                    reference,
                    source,
                }),
                None => out.unresolvable.push(reference),
            }
        }
    }
    let queued: Vec<&String> =
        crate::keys::first_of_each_sorted(&queued.iter().map(String::as_str).collect::<Vec<_>>())
            .into_iter()
            .map(|i| &queued[i])
            .collect();
    for key in queued {
        let (t, id) = key.split_once('/').unwrap_or_default();
        match out
            .batches
            .iter_mut()
            .find(|b| b.resource_type == t && b.ids.len() < BATCH_SIZE)
        {
            Some(batch) => batch.ids.push(id.to_string()),
            None => out.batches.push(Batch {
                resource_type: t.to_string(),
                ids: vec![id.to_string()],
            }),
        }
    }
    out
}

/// Whether a key names a resource on this server (`Type/id`, not a URL).
fn is_server_key(key: &str, base: &str) -> bool {
    !key.contains(':') || is_under_base(key, base)
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_where_they_cross_a_reference() {
        let r = json!({"resourceType": "Observation", "encounter": {"reference": "Encounter/e1"},
            "performer": [{"reference": "Practitioner/d1"}],
            "component": [{"code": {"text": "x"}}]});
        assert_eq!(
            split_at_reference(&&r, "encounter.serviceProvider"),
            ("encounter".into(), Some("serviceProvider".into()))
        );
        assert_eq!(split_at_reference(&&r, "encounter"), ("encounter".into(), None));
        assert_eq!(
            split_at_reference(&&r, "encounter.serviceProvider.partOf"),
            ("encounter".into(), Some("serviceProvider.partOf".into()))
        );
        assert_eq!(
            split_at_reference(&&r, "component.code"),
            ("component.code".into(), None)
        );
        let mr = json!({"dispenseRequest": {"performer": {"reference": "Organization/o1"}}});
        assert_eq!(
            split_at_reference(&&mr, "dispenseRequest.performer.partOf"),
            ("dispenseRequest.performer".into(), Some("partOf".into()))
        );
        // Absent elements leave the path whole (nothing to resolve there).
        assert_eq!(
            split_at_reference(&&r, "subject.managingOrganization"),
            ("subject.managingOrganization".into(), None)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "http://ehr/fhir";

    #[test]
    fn contained_then_at_hand_then_batched_server_searches() {
        let a = json!({"resourceType": "MedicationRequest", "id": "1",
            "contained": [{"resourceType": "Medication", "id": "m"}],
            "medicationReference": {"reference": "#m"},
            "subject": {"reference": "Patient/p"},
            "requester": {"reference": "http://ehr/fhir/Practitioner/d1"},
            "recorder": {"reference": "http://other/fhir/Practitioner/x"},
            "performer": {"reference": "#missing"}});
        let b = json!({"resourceType": "MedicationRequest", "id": "2",
            "subject": {"reference": "Patient/p"}, "requester": {"reference": "Practitioner/d2"}});
        let p = plan(&[&a, &b], &[], &|k: &str| k == "Patient/p", BASE);
        assert_eq!(
            p.resolutions[0],
            Resolution {
                resource: 0,
                reference: "#m".into(),
                source: Source::Contained(0)
            }
        );
        assert_eq!(p.resolutions[1].source, Source::AtHand("Patient/p".into()));
        assert_eq!(p.resolutions[2].source, Source::Server("Practitioner/d1".into()));
        assert_eq!(
            p.unresolvable,
            vec!["http://other/fhir/Practitioner/x", "#missing"]
        );
        assert_eq!(
            p.batches,
            vec![Batch {
                resource_type: "Practitioner".into(),
                ids: vec!["d1".into(), "d2".into()]
            }]
        );
    }

    #[test]
    fn paths_limit_what_is_resolved_and_batches_are_bounded() {
        let resources: Vec<serde_json::Value> = (0..120)
            .map(|i| {
                json!({"resourceType": "Observation", "id": format!("o{i}"),
                "subject": {"reference": format!("Patient/p{i:03}")},
                "performer": [{"reference": "Practitioner/x"}]})
            })
            .collect();
        let refs: Vec<&serde_json::Value> = resources.iter().collect();
        let p = plan(&refs, &["subject".to_string()], &|_: &str| false, BASE);
        assert_eq!(p.resolutions.len(), 120);
        assert_eq!(
            p.batches.iter().map(|b| b.ids.len()).collect::<Vec<_>>(),
            vec![50, 50, 20]
        );
        assert!(p.batches.iter().all(|b| b.resource_type == "Patient"));
    }

    #[test]
    fn dotted_paths_cross_arrays() {
        let r = json!({"performer": [{"actor": {"reference": "Practitioner/1"}}, {"actor": {"reference": "Organization/2"}}]});
        assert_eq!(
            references_at(&&r, "performer.actor"),
            vec!["Practitioner/1", "Organization/2"]
        );
        assert!(references_at(&&r, "subject").is_empty());
    }
}

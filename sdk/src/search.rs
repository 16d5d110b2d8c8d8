//! FHIR URLs: read, search (parameters typed by the registry in `flare-core`,
//! the same one the edge parses with) and raw paths.

use flare_core::reference::{is_type_name, is_valid_id};
use flare_core::registry;

use crate::error::{ErrorKind, SdkError};
use crate::form;

/// Parameters every search accepts besides the registry's per-type ones.
pub const COMMON_PARAMS: &[&str] = &[
    "_id",
    "_lastUpdated",
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_total",
];

fn bad_request(message: String) -> SdkError {
    SdkError::new(ErrorKind::Launch, message)
}

/// `{base}/{type}/{id}`, with the type and id checked. An empty id (the JS
/// layer passes `undefined` as one) is named as a missing launch context:
/// `read("Patient", client.patient)` is the usual way to get here, when the
/// launch granted no patient.
pub fn read_url(base: &str, resource_type: &str, id: &str) -> Result<String, SdkError> {
    if id.is_empty() {
        return Err(bad_request(crate::form::cat(&[
            "read(\"",
            resource_type,
            "\"): no id given (`client.patient` and `client.encounter` are undefined when the launch granted no patient or encounter in context)",
        ])));
    }
    if !is_type_name(resource_type) || !is_valid_id(id) {
        return Err(bad_request(crate::form::cat(&[
            resource_type,
            "/",
            id,
            " is not a resource type and id",
        ])));
    }
    Ok(crate::form::cat(&[
        base.trim_end_matches('/'),
        "/",
        resource_type,
        "/",
        id,
    ]))
}

/// `{base}/{type}?{params}` (repeated names are ANDed by the server; commas
/// inside one value are ORs).
pub fn search_url(base: &str, resource_type: &str, params: &[(String, String)]) -> Result<String, SdkError> {
    if !is_type_name(resource_type) {
        return Err(bad_request(crate::form::cat(&[
            resource_type,
            " is not a resource type",
        ])));
    }
    let url = crate::form::cat(&[base.trim_end_matches('/'), "/", resource_type]);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(form::with_query(&url, &pairs))
}

/// An absolute URL for `path_or_url`: absolute URLs as they are, anything
/// else relative to the FHIR base.
pub fn absolute_url(base: &str, path_or_url: &str) -> String {
    if path_or_url.starts_with("https://") || path_or_url.starts_with("http://") {
        path_or_url.to_string()
    } else {
        crate::form::cat(&[
            base.trim_end_matches('/'),
            "/",
            path_or_url.trim_start_matches('/'),
        ])
    }
}

/// Checks parameter names against the registry: the type must be searchable
/// and each name (before a `:modifier` or a `.chain`) one of its parameters or
/// a common one. This is the runtime twin of the TypeScript types that
/// `flare-sdk-dts` generates from the same registry.
pub fn check_params(resource_type: &str, params: &[(String, String)]) -> Result<(), SdkError> {
    let def = registry::resource(resource_type)
        .ok_or_else(|| bad_request(format!("{resource_type} is not searchable")))?;
    for (name, _) in params {
        let code = name.split([':', '.']).next().unwrap_or(name);
        if !COMMON_PARAMS.contains(&code) && def.param(code).is_none() {
            return Err(bad_request(format!(
                "{resource_type} has no search parameter {code}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn builds_urls() {
        assert_eq!(
            read_url("http://f/fhir/", "Patient", "p-1").unwrap(),
            "http://f/fhir/Patient/p-1"
        );
        assert!(read_url("http://f/fhir", "Patient", "../admin").is_err());
        assert!(read_url("http://f/fhir", "patient", "1").is_err());
        // `read("Patient", client.patient)` without a patient in context.
        let e = read_url("http://f/fhir", "Patient", "").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Launch);
        assert!(e.message.contains("no patient"), "{}", e.message);
        let u = search_url(
            "http://f/fhir",
            "Observation",
            &pairs(&[
                ("patient", "p1"),
                ("date", "ge2020"),
                ("date", "lt2021"),
                ("code", "a|1,b|2"),
            ]),
        )
        .unwrap();
        assert_eq!(
            u,
            "http://f/fhir/Observation?patient=p1&date=ge2020&date=lt2021&code=a%7C1%2Cb%7C2"
        );
        assert_eq!(
            absolute_url("http://f/fhir", "/Patient/1"),
            "http://f/fhir/Patient/1"
        );
        assert_eq!(absolute_url("http://f/fhir", "https://x/y"), "https://x/y");
    }

    #[test]
    fn checks_names_against_the_registry() {
        assert!(check_params(
            "Observation",
            &pairs(&[("patient", "1"), ("code:text", "x"), ("_count", "5")])
        )
        .is_ok());
        assert!(check_params("PractitionerRole", &pairs(&[("practitioner.name", "x")])).is_ok());
        let e = check_params("Observation", &pairs(&[("colour", "red")])).unwrap_err();
        assert!(e.message.contains("colour"));
        assert!(check_params("Nope", &[]).is_err());
    }
}

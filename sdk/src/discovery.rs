//! SMART discovery: `GET {iss}/.well-known/smart-configuration`
//! (<https://hl7.org/fhir/smart-app-launch/conformance.html#using-well-known>),
//! read into `flare_core::smart::wire::SmartConfiguration`.

use flare_core::smart::wire::SmartConfiguration;

use crate::error::SdkError;
use crate::json::{text_at, texts_at, Json};

/// The discovery URL of a FHIR base (`iss`).
pub fn discovery_url(iss: &str) -> String {
    crate::form::cat(&[iss.trim_end_matches('/'), "/.well-known/smart-configuration"])
}

/// Reads a discovery document. Fails when an endpoint is missing, or when the
/// server lists PKCE methods without `S256`: the SDK always uses PKCE S256 and
/// never silently falls back to a launch without it.
pub fn parse<J: Json>(doc: &J) -> Result<SmartConfiguration, SdkError> {
    let endpoint = |name: &str| {
        text_at(doc, name)
            .ok_or_else(|| SdkError::launch(crate::form::cat(&["smart-configuration has no ", name])))
    };
    let config = SmartConfiguration {
        issuer: text_at(doc, "issuer"),
        jwks_uri: text_at(doc, "jwks_uri"),
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        revocation_endpoint: text_at(doc, "revocation_endpoint"),
        code_challenge_methods_supported: texts_at(doc, "code_challenge_methods_supported"),
        capabilities: texts_at(doc, "capabilities"),
        ..SmartConfiguration::default()
    };
    let methods = &config.code_challenge_methods_supported;
    if !methods.is_empty() && !methods.iter().any(|m| m == "S256") {
        return Err(SdkError::launch(crate::form::cat(&[
            "the server offers PKCE ",
            &crate::form::join(&methods.iter().map(String::as_str).collect::<Vec<_>>(), ", "),
            " but not S256; refusing to launch without PKCE S256",
        ])));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_ignores_trailing_slash() {
        assert_eq!(
            discovery_url("https://x/fhir/"),
            "https://x/fhir/.well-known/smart-configuration"
        );
        assert_eq!(
            discovery_url("https://x/fhir"),
            "https://x/fhir/.well-known/smart-configuration"
        );
    }

    #[test]
    fn reads_endpoints_and_capabilities() {
        let doc = json!({
            "issuer": "https://x/fhir", "jwks_uri": "https://x/jwks",
            "authorization_endpoint": "https://x/authorize", "token_endpoint": "https://x/token",
            "code_challenge_methods_supported": ["S256"], "capabilities": ["launch-ehr", "client-public"]
        });
        let c = parse(&&doc).unwrap();
        assert_eq!(c.token_endpoint, "https://x/token");
        assert_eq!(c.jwks_uri.as_deref(), Some("https://x/jwks"));
        assert_eq!(c.capabilities, vec!["launch-ehr", "client-public"]);
    }

    #[test]
    fn refuses_missing_endpoints_and_plain_only_pkce() {
        let doc = json!({"authorization_endpoint": "https://x/a"});
        assert!(parse(&&doc).unwrap_err().message.contains("token_endpoint"));
        let doc = json!({"authorization_endpoint": "a", "token_endpoint": "t",
            "code_challenge_methods_supported": ["plain"]});
        assert!(parse(&&doc).unwrap_err().message.contains("S256"));
        // Not advertised at all: PKCE S256 is still sent (SMART 1 servers ignore it).
        let doc = json!({"authorization_endpoint": "a", "token_endpoint": "t"});
        assert!(parse(&&doc).is_ok());
    }
}

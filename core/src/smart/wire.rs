//! OAuth and SMART wire types both halves agree on: the token response
//! (<https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5>) and
//! OAuth error bodies (RFC 6749 §5.2).

use serde::{Deserialize, Serialize};

/// A successful `/token` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token for the FHIR API.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scopes, canonical and space-separated.
    pub scope: String,
    /// Present when `offline_access` or `online_access` was granted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refresh_token: Option<String>,
    /// Present when `openid` was granted (RS256).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id_token: Option<String>,
    /// The patient in context (a Patient id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub patient: Option<String>,
    /// The encounter in context (an Encounter id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub encounter: Option<String>,
    /// Whether the app must show a patient banner.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub need_patient_banner: Option<bool>,
    /// URL of the EHR's style JSON.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub smart_style_url: Option<String>,
    /// Further context resources (`[{"reference": "Encounter/1"}]`).
    #[serde(rename = "fhirContext", skip_serializing_if = "Option::is_none", default)]
    pub fhir_context: Option<Vec<serde_json::Value>>,
}

/// An OAuth error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthError {
    /// The RFC 6749 error code (`invalid_grant`, …).
    pub error: String,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_description: Option<String>,
}

/// What a client reads from a server's `.well-known/smart-configuration`
/// (<https://hl7.org/fhir/smart-app-launch/conformance.html#metadata>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmartConfiguration {
    /// The issuer of id_tokens (required when `sso-openid-connect` is listed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub issuer: Option<String>,
    /// The JWKS that verifies id_tokens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jwks_uri: Option<String>,
    /// The OAuth authorization endpoint.
    pub authorization_endpoint: String,
    /// The OAuth token endpoint.
    pub token_endpoint: String,
    /// The RFC 7009 revocation endpoint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revocation_endpoint: Option<String>,
    /// PKCE methods; SMART 2 servers list `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// SMART capabilities (`launch-ehr`, `client-public`, `context-standalone-patient` …).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

//! OAuth and SMART wire types both halves agree on: the token response
//! (<https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5>),
//! OAuth error bodies (RFC 6749 §5.2) and the discovery documents.

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

/// A server's `.well-known/smart-configuration`
/// (<https://hl7.org/fhir/smart-app-launch/conformance.html#metadata>): what
/// the edge serves and the SDK reads. Lists a server leaves out read as empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// The RFC 7662 introspection endpoint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub introspection_endpoint: Option<String>,
    /// The RFC 7009 revocation endpoint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revocation_endpoint: Option<String>,
    /// The RFC 7591 registration endpoint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registration_endpoint: Option<String>,
    /// Where a user reviews and revokes the apps they authorized.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub management_endpoint: Option<String>,
    /// OAuth grant types.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub grant_types_supported: Vec<String>,
    /// OAuth response types (`code`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub response_types_supported: Vec<String>,
    /// PKCE methods; SMART 2 servers list `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Signature algorithms of `private_key_jwt` client assertions.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Scopes a client may ask for.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scopes_supported: Vec<String>,
    /// SMART capabilities (`launch-ehr`, `client-public`, `context-standalone-patient` …).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Where the User-access Brands Bundle of this endpoint is (SMART App
    /// Launch 2.2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_access_brand_bundle: Option<String>,
    /// The identifier of this endpoint's primary brand in that Bundle (a
    /// FHIR Identifier), when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_access_brand_identifier: Option<serde_json::Value>,
    /// Other FHIR endpoints that share this authorization server (SMART App
    /// Launch 2.2); a server with one FHIR endpoint lists none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub associated_endpoints: Vec<AssociatedEndpoint>,
}

/// One of a discovery document's `associated_endpoints` (SMART App Launch 2.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AssociatedEndpoint {
    /// The FHIR endpoint's base URL.
    pub url: String,
    /// Its SMART capabilities.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// A server's `.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OpenIdConfiguration {
    /// The issuer of id_tokens.
    pub issuer: String,
    /// The OAuth authorization endpoint.
    pub authorization_endpoint: String,
    /// The OAuth token endpoint.
    pub token_endpoint: String,
    /// The JWKS that verifies id_tokens.
    pub jwks_uri: String,
    /// The RFC 7591 registration endpoint.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registration_endpoint: Option<String>,
    /// OAuth response types.
    pub response_types_supported: Vec<String>,
    /// Subject identifier types (`public`).
    pub subject_types_supported: Vec<String>,
    /// id_token signature algorithms.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Scopes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scopes_supported: Vec<String>,
    /// Claims an id_token may carry.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub claims_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// PKCE methods.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// OAuth grant types.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub grant_types_supported: Vec<String>,
}

//! `GET [base]/.well-known/smart-configuration` (SMART App Launch 2.0
//! §Discovery), `GET /.well-known/openid-configuration` (OpenID Connect
//! Discovery 1.0), `GET /.well-known/jwks.json`, the CapabilityStatement's
//! `rest.security`, and the EHR style document (`smart_style_url`).
//! No authentication; every origin may read them.

use serde_json::{json, Value as Json};

use crate::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::jws::rsa_thumbprint;
use crate::platform::Platform;
use crate::store::Database;

/// The endpoints of the authorization server, derived from the request origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    /// The FHIR base: also the OAuth/OpenID `issuer`.
    pub issuer: String,
    /// `/authorize`.
    pub authorize: String,
    /// `/token`.
    pub token: String,
    /// `/introspect`.
    pub introspect: String,
    /// `/revoke`.
    pub revoke: String,
    /// `/register`.
    pub register: String,
    /// `/.well-known/jwks.json`.
    pub jwks: String,
    /// The patient portal, where patients review and revoke apps.
    pub manage: String,
    /// The default `smart_style_url`.
    pub style: String,
}

impl Endpoints {
    /// The endpoints for a FHIR base (`{origin}/fhir`).
    pub fn for_base(fhir_base: &str) -> Endpoints {
        let origin = fhir_base.trim_end_matches("/fhir");
        Endpoints {
            issuer: fhir_base.to_string(),
            authorize: format!("{origin}/authorize"),
            token: format!("{origin}/token"),
            introspect: format!("{origin}/introspect"),
            revoke: format!("{origin}/revoke"),
            register: format!("{origin}/register"),
            jwks: format!("{origin}/.well-known/jwks.json"),
            manage: format!("{origin}/portal"),
            style: format!("{origin}/smart-style/default.json"),
        }
    }

    /// The endpoints for a request.
    pub fn of(req: &HttpRequest) -> Endpoints {
        Endpoints::for_base(&req.fhir_base())
    }
}

/// Scopes listed in discovery (apps may ask for any type-level or granular scope).
const SCOPES_SUPPORTED: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.read",
    "patient/*.rs",
    "user/*.read",
    "user/*.rs",
    "system/*.read",
    "system/*.rs",
];

/// The SMART configuration document.
pub fn smart_configuration(e: &Endpoints) -> Json {
    json!({
        "issuer": e.issuer,
        "jwks_uri": e.jwks,
        "authorization_endpoint": e.authorize,
        "token_endpoint": e.token,
        "introspection_endpoint": e.introspect,
        "revocation_endpoint": e.revoke,
        "registration_endpoint": e.register,
        "management_endpoint": e.manage,
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": SCOPES_SUPPORTED,
        "capabilities": [
            "launch-ehr", "launch-standalone", "authorize-post",
            "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
            "sso-openid-connect", "context-banner", "context-style",
            "context-ehr-patient", "context-ehr-encounter",
            "context-standalone-patient", "context-standalone-encounter",
            "permission-offline", "permission-online", "permission-patient", "permission-user",
            "permission-v1", "permission-v2"
        ]
    })
}

/// The OpenID Connect discovery document.
pub fn openid_configuration(e: &Endpoints) -> Json {
    json!({
        "issuer": e.issuer,
        "authorization_endpoint": e.authorize,
        "token_endpoint": e.token,
        "jwks_uri": e.jwks,
        "registration_endpoint": e.register,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser", "name", "auth_time"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"]
    })
}

/// The CapabilityStatement's `rest.security`: the SMART service coding and
/// the oauth-uris extension with the same URLs as discovery.
pub fn capability_security(fhir_base: &str) -> Json {
    let e = Endpoints::for_base(fhir_base);
    let uri = |name: &str, value: &str| json!({"url": name, "valueUri": value});
    json!({
        "cors": true,
        "service": [{
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"
        }],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                uri("authorize", &e.authorize),
                uri("token", &e.token),
                uri("introspect", &e.introspect),
                uri("revoke", &e.revoke),
                uri("register", &e.register),
                uri("manage", &e.manage)
            ]
        }]
    })
}

/// The server's public signing key with its `kid` (RFC 7638 thumbprint).
pub async fn public_jwk<P: Platform>(platform: &P) -> Result<Json, ApiError> {
    let jwk = platform
        .signing_public_jwk()
        .await
        .map_err(|e| ApiError::new(500, "exception", format!("signing key unavailable: {e}")))?;
    let kid = rsa_thumbprint(&jwk);
    Ok(json!({
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": jwk.get("n").cloned().unwrap_or(Json::Null),
        "e": jwk.get("e").cloned().unwrap_or(Json::Null),
    }))
}

/// Routes the `.well-known` documents.
pub async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, doc: &str) -> ApiResult {
    let e = Endpoints::of(req);
    let body = match doc {
        "smart-configuration" => smart_configuration(&e),
        "openid-configuration" => openid_configuration(&e),
        "jwks.json" => json!({"keys": [public_jwk(&app.platform).await?]}),
        _ => return Err(ApiError::not_found(format!("no document .well-known/{doc}"))),
    };
    Ok(HttpResponse::json(200, &body).with_header("cache-control", "public, max-age=300"))
}

/// The EHR's default style (`smart_style_url`), per SMART's styling guidance.
pub fn style() -> HttpResponse {
    HttpResponse::json(
        200,
        &json!({
            "color_background": "#f4f6f8",
            "color_error": "#b3261e",
            "color_highlight": "#0b57d0",
            "color_modal_backdrop": "#1b1f24",
            "color_success": "#1e7d32",
            "color_text": "#1b1f24",
            "dim_border_radius": "8px",
            "dim_font_size": "16px",
            "dim_spacing_size": "16px",
            "font_family_body": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
            "font_family_heading": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
        }),
    )
    .with_header("cache-control", "public, max-age=3600")
}

//! `GET [base]/.well-known/smart-configuration` (SMART App Launch 2.2
//! §Conformance, <https://hl7.org/fhir/smart-app-launch/conformance.html>), `GET /.well-known/openid-configuration` (OpenID Connect
//! Discovery 1.0), `GET /.well-known/jwks.json`, the CapabilityStatement's
//! `rest.security`, and the EHR style document (`smart_style_url`).
//! No authentication; every origin may read them.

use flare_core::registry;
use flare_core::smart::access::granular_alternatives;
use flare_core::smart::scope::{Context, Permissions, ResourceScope, Scope, Syntax};
use flare_core::smart::wire::{OpenIdConfiguration, SmartConfiguration};
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

/// The scopes that are not about resources: identity, launch context, refresh.
const FIXED_SCOPES: &[Scope] = &[
    Scope::OpenId,
    Scope::FhirUser,
    Scope::Profile,
    Scope::Launch,
    Scope::LaunchPatient,
    Scope::LaunchEncounter,
    Scope::OfflineAccess,
    Scope::OnlineAccess,
];

/// Every scope this server grants, in canonical form: [`FIXED_SCOPES`]; then
/// for `patient/`, `user/` and `system/`, each resource type served (the
/// registry, as the CapabilityStatement lists them) and `*`, in the
/// read-only forms a grant can take (SMART v2 `.r`, `.s`, `.rs`; v1 `.read`);
/// then the granular category scopes (Condition, Observation, …) made by
/// [`granular_alternatives`], the source the consent page offers them from.
/// Written by `Scope`'s own `Display`, so the spelling is the grant's.
pub fn scopes_supported() -> Vec<String> {
    let read = Permissions {
        search: false,
        ..Permissions::READ
    };
    let search = Permissions {
        read: false,
        ..Permissions::READ
    };
    let forms = [
        (read, Syntax::V2),
        (search, Syntax::V2),
        (Permissions::READ, Syntax::V2),
        (Permissions::READ, Syntax::V1),
    ];
    let types: Vec<Option<&str>> = std::iter::once(None)
        .chain(registry::resource_names().map(Some))
        .collect();
    let mut out: Vec<String> = FIXED_SCOPES.iter().map(Scope::to_string).collect();
    let contexts = [Context::Patient, Context::User, Context::System];
    for context in contexts {
        for t in &types {
            for (permissions, syntax) in forms {
                let scope = ResourceScope {
                    context,
                    resource_type: t.map(str::to_string),
                    permissions,
                    syntax,
                    query: Vec::new(),
                };
                out.push(Scope::Resource(scope).to_string());
            }
        }
    }
    for context in contexts {
        for t in types.iter().flatten() {
            let whole = ResourceScope {
                context,
                resource_type: Some((*t).to_string()),
                permissions: Permissions::READ,
                syntax: Syntax::V2,
                query: Vec::new(),
            };
            out.extend(
                granular_alternatives(&whole)
                    .into_iter()
                    .map(|g| Scope::Resource(g).to_string()),
            );
        }
    }
    out
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Client authentication methods at the token endpoint.
const AUTH_METHODS: &[&str] = &["client_secret_basic", "private_key_jwt", "none"];

/// The SMART configuration document.
pub fn smart_configuration(e: &Endpoints, primary_brand: Option<Json>) -> SmartConfiguration {
    SmartConfiguration {
        // The brands Bundle is the service base Bundle (`GET /fhir`).
        user_access_brand_bundle: Some(e.issuer.clone()),
        user_access_brand_identifier: primary_brand,
        issuer: Some(e.issuer.clone()),
        jwks_uri: Some(e.jwks.clone()),
        authorization_endpoint: e.authorize.clone(),
        token_endpoint: e.token.clone(),
        introspection_endpoint: Some(e.introspect.clone()),
        revocation_endpoint: Some(e.revoke.clone()),
        registration_endpoint: Some(e.register.clone()),
        management_endpoint: Some(e.manage.clone()),
        grant_types_supported: strings(&["authorization_code", "client_credentials", "refresh_token"]),
        response_types_supported: strings(&["code"]),
        code_challenge_methods_supported: strings(&["S256"]),
        token_endpoint_auth_methods_supported: strings(AUTH_METHODS),
        token_endpoint_auth_signing_alg_values_supported: strings(&["RS384", "ES384"]),
        scopes_supported: scopes_supported(),
        capabilities: strings(&[
            "launch-ehr",
            "launch-standalone",
            "authorize-post",
            "client-public",
            "client-confidential-symmetric",
            "client-confidential-asymmetric",
            "sso-openid-connect",
            "context-banner",
            "context-style",
            "context-ehr-patient",
            "context-ehr-encounter",
            "context-standalone-patient",
            "context-standalone-encounter",
            "permission-offline",
            "permission-online",
            "permission-patient",
            "permission-user",
            "permission-v1",
            "permission-v2",
        ]),
        // Not listed: every practice is served from this one FHIR base
        // (`/fhir`, the address of each practice's Endpoint in the service
        // base Bundle), so no other endpoint shares this authorization server.
        associated_endpoints: Vec::new(),
    }
}

/// The OpenID Connect discovery document.
pub fn openid_configuration(e: &Endpoints) -> OpenIdConfiguration {
    OpenIdConfiguration {
        issuer: e.issuer.clone(),
        authorization_endpoint: e.authorize.clone(),
        token_endpoint: e.token.clone(),
        jwks_uri: e.jwks.clone(),
        registration_endpoint: Some(e.register.clone()),
        response_types_supported: strings(&["code"]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["RS256"]),
        scopes_supported: strings(&["openid", "fhirUser", "profile"]),
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nonce",
            "fhirUser",
            "name",
            "auth_time",
        ]),
        token_endpoint_auth_methods_supported: strings(AUTH_METHODS),
        code_challenge_methods_supported: strings(&["S256"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token", "client_credentials"]),
    }
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
        "smart-configuration" => serde_json::to_value(smart_configuration(&e, primary_brand(app).await?))
            .map_err(|e| ApiError::internal(e.to_string()))?,
        "openid-configuration" => {
            serde_json::to_value(openid_configuration(&e)).map_err(|e| ApiError::internal(e.to_string()))?
        }
        "jwks.json" => json!({"keys": [public_jwk(&app.platform).await?]}),
        _ => return Err(ApiError::not_found(format!("no document .well-known/{doc}"))),
    };
    Ok(HttpResponse::json(200, &body).with_header("cache-control", "public, max-age=300"))
}

/// The identifier of this endpoint's primary brand: the NPI of its practice
/// when it serves exactly one; none when it serves several, which are brands
/// of equal standing in the Bundle.
async fn primary_brand<D: Database, P: Platform>(app: &App<D, P>) -> Result<Option<Json>, ApiError> {
    let mut practices = Vec::new();
    for db in app.shards.all() {
        practices.extend(crate::store::resources::list_practices(db).await?);
    }
    Ok(match practices.as_slice() {
        [only] => only
            .npi
            .as_ref()
            .map(|npi| json!({"system": flare_core::identity::NPI_SYSTEM, "value": npi})),
        _ => None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_supported_are_canonical_read_only_and_complete() {
        let list = scopes_supported();
        let mut seen = std::collections::BTreeSet::new();
        for s in &list {
            let parsed = Scope::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(&parsed.to_string(), s, "not canonical");
            assert!(seen.insert(s.clone()), "{s} listed twice");
            if let Scope::Resource(r) = parsed {
                let p = r.permissions;
                assert!(!(p.create || p.update || p.delete), "{s} writes");
            }
        }
        for t in registry::resource_names() {
            for p in ["r", "s", "rs", "read"] {
                for c in ["patient", "user", "system"] {
                    assert!(seen.contains(&format!("{c}/{t}.{p}")), "{c}/{t}.{p}");
                }
            }
        }
        // The consent page's granular offers, from the same function.
        let lab = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
        let concern =
            "user/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern";
        assert!(seen.contains(lab) && seen.contains(concern));
        for s in [
            "launch/encounter",
            "openid",
            "fhirUser",
            "offline_access",
            "online_access",
        ] {
            assert!(seen.contains(s), "{s}");
        }
    }
}

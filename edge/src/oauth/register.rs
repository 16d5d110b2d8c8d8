//! `POST /register`: OAuth 2.0 Dynamic Client Registration (RFC 7591 §3),
//! with `ADMIN_TOKEN` or a developer API token (`app::developer`) as the
//! initial access token. A registration starts
//! `pending`: nothing works until the practice approves it
//! (`POST /admin/clients/{id}/approve`).
//!
//! Flare extensions to the client metadata: `practice` (the practice the app
//! serves; default `DEFAULT_PRACTICE`), `access_token_lifetime` (seconds,
//! 1 to 3600; default 3600), and `client_id` (the operator may choose a
//! stable id, 8-64 characters of `A-Za-z0-9._-`; otherwise a random one).

use serde_json::{json, Map, Value as Json};
use url::Url;

use crate::app::{App, Caller};
use crate::crypto::{random_token, sha256_b64};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::store::auth::{self as store, AuthMethod, Client, ClientStatus, GrantType};
use crate::store::{resources, Database};
use flare_core::smart::access::{self, registration_conflict, GrantKind};
use flare_core::smart::scope::{Context, Scope};

fn meta_error(message: impl Into<String>) -> ApiError {
    ApiError::oauth(400, "invalid_client_metadata", message)
}

/// Checks one redirect URI: absolute http(s), no fragment (RFC 6749 §3.1.2).
pub fn check_redirect_uri(uri: &str) -> Result<(), ApiError> {
    let bad = |m: &str| ApiError::oauth(400, "invalid_redirect_uri", format!("redirect URI {uri}: {m}"));
    let parsed = Url::parse(uri).map_err(|_| bad("not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be http or https"));
    }
    if parsed.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(())
}

/// The origin of a URL (`scheme://host:port`), for CORS.
pub fn origin_of(uri: &str) -> Option<String> {
    Url::parse(uri)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
}

/// Validates a JWKS: an object with a non-empty `keys` array of RSA or P-384
/// EC public keys, no private members.
pub fn check_jwks(jwks: &Json) -> Result<(), ApiError> {
    let keys = jwks
        .get("keys")
        .and_then(Json::as_array)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| meta_error("jwks must be an object with a non-empty keys array"))?;
    for (i, k) in keys.iter().enumerate() {
        let kty = k.get("kty").and_then(Json::as_str).unwrap_or_default();
        let usable = match kty {
            "RSA" => {
                k.get("n").and_then(Json::as_str).is_some() && k.get("e").and_then(Json::as_str).is_some()
            }
            "EC" => {
                k.get("crv").and_then(Json::as_str) == Some("P-384")
                    && k.get("x").and_then(Json::as_str).is_some()
                    && k.get("y").and_then(Json::as_str).is_some()
            }
            _ => false,
        };
        if !usable {
            return Err(meta_error(format!(
                "jwks.keys[{i}] is not an RSA or P-384 EC public key"
            )));
        }
        if ["d", "p", "q", "dp", "dq", "qi"]
            .iter()
            .any(|m| k.get(m).is_some())
        {
            return Err(meta_error(format!(
                "jwks.keys[{i}] contains private key material: register only the public key"
            )));
        }
    }
    Ok(())
}

/// Parses and canonicalizes a scope string for registration; unknown tokens are errors.
pub fn canonical_scope(scope: &str) -> Result<String, ApiError> {
    let (scopes, unknown) = Scope::parse_list(scope);
    if !unknown.is_empty() {
        return Err(meta_error(format!("unknown scopes: {}", unknown.join(" "))));
    }
    Ok(access::to_string(&scopes))
}

fn str_list(meta: &Map<String, Json>, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match meta.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| meta_error(format!("{name} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(meta_error(format!("{name} must be an array of strings"))),
    }
}

fn opt_str<'a>(meta: &'a Map<String, Json>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match meta.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if !s.is_empty() => Ok(Some(s)),
        _ => Err(meta_error(format!("{name} must be a non-empty string"))),
    }
}

/// The most registration metadata kept for one client (its JSON text): it
/// is stored whole, and a D1 row holds at most 2 MB.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Validates registration metadata into a pending [`Client`] (without id or secret).
pub fn client_from_metadata(meta: &Json, default_practice: &str, now: i64) -> Result<Client, ApiError> {
    let m = meta
        .as_object()
        .ok_or_else(|| meta_error("the registration must be a JSON object"))?;
    if meta.to_string().len() > MAX_METADATA_BYTES {
        return Err(meta_error(format!(
            "the registration metadata is larger than {} KiB",
            MAX_METADATA_BYTES / 1024
        )));
    }
    let name = opt_str(m, "client_name")?
        .ok_or_else(|| meta_error("client_name is required"))?
        .to_string();
    if name.chars().count() > 120 {
        return Err(meta_error("client_name has at most 120 characters"));
    }
    let auth_method =
        opt_str(m, "token_endpoint_auth_method")?.unwrap_or(AuthMethod::ClientSecretBasic.as_str());
    let Some(auth_method) = AuthMethod::parse(auth_method) else {
        return Err(meta_error(format!(
            "token_endpoint_auth_method {auth_method} is not supported (none, client_secret_basic, private_key_jwt)"
        )));
    };
    let grant_types = match str_list(m, "grant_types")? {
        None => vec![GrantType::AuthorizationCode],
        Some(list) => list
            .iter()
            .map(|g| {
                GrantType::parse(g).ok_or_else(|| meta_error(format!("grant type {g} is not supported")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let backend = grant_types.contains(&GrantType::ClientCredentials);
    if backend && auth_method != AuthMethod::PrivateKeyJwt {
        return Err(meta_error(
            "client_credentials needs token_endpoint_auth_method private_key_jwt",
        ));
    }
    let redirect_uris = str_list(m, "redirect_uris")?.unwrap_or_default();
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(ApiError::oauth(
            400,
            "invalid_redirect_uri",
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    for (i, uri) in redirect_uris.iter().enumerate() {
        check_redirect_uri(uri)?;
        if redirect_uris[..i].contains(uri) {
            return Err(ApiError::oauth(
                400,
                "invalid_redirect_uri",
                format!("redirect URI {uri} is listed twice"),
            ));
        }
    }
    let jwks = match m.get("jwks") {
        None | Some(Json::Null) => None,
        Some(j) => {
            check_jwks(j)?;
            Some(j.clone())
        }
    };
    let jwks_uri = opt_str(m, "jwks_uri")?.map(str::to_string);
    if let Some(u) = &jwks_uri {
        let parsed = Url::parse(u).map_err(|_| meta_error("jwks_uri must be an absolute URL"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(meta_error("jwks_uri must be http(s)"));
        }
    }
    match auth_method {
        AuthMethod::PrivateKeyJwt if jwks.is_none() && jwks_uri.is_none() => {
            return Err(meta_error("private_key_jwt needs jwks or jwks_uri"))
        }
        AuthMethod::PrivateKeyJwt => {}
        _ if jwks.is_some() || jwks_uri.is_some() => {
            return Err(meta_error(
                "jwks and jwks_uri are only for private_key_jwt clients",
            ))
        }
        _ => {}
    }
    let scope = canonical_scope(
        opt_str(m, "scope")?.unwrap_or("openid fhirUser launch launch/patient patient/*.rs"),
    )?;
    if backend {
        let (scopes, _) = Scope::parse_list(&scope);
        if scopes
            .iter()
            .any(|s| !matches!(s, Scope::Resource(r) if r.context == Context::System))
        {
            return Err(meta_error(
                "a backend-services client may only hold system/ scopes",
            ));
        }
    }
    check_grantable(&grant_types, &scope)?;
    let practice = opt_str(m, "practice")?.unwrap_or(default_practice).to_string();
    let lifetime = match m.get("access_token_lifetime") {
        None | Some(Json::Null) => 3600,
        Some(v) => v
            .as_i64()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| meta_error("access_token_lifetime must be 1 to 3600 seconds"))?,
    };
    let launch_uri = opt_str(m, "launch_uri")?.map(str::to_string);
    if let Some(l) = &launch_uri {
        check_redirect_uri(l).map_err(|_| meta_error("launch_uri must be an absolute http(s) URL"))?;
    }
    let mut metadata = m.clone();
    metadata.insert("access_token_lifetime".into(), json!(lifetime));
    Ok(Client {
        client_id: String::new(),
        practice,
        name,
        auth_method,
        secret_hash: None,
        jwks,
        jwks_uri,
        redirect_uris,
        grant_types,
        scope,
        pending_scope: None,
        launch_uri,
        status: ClientStatus::Pending,
        status_reason: None,
        metadata: Json::Object(metadata),
        created_at: now,
        owner_developer: None,
        transfer_to: None,
        secret_issued_at: None,
        scope_change_reason: None,
    })
}

/// Refuses a scope none of the client's grant types can grant: `system/`
/// scopes need `client_credentials` (backend services); `patient/` and
/// `user/` scopes, identity and launch scopes need `authorization_code`.
/// Checked at registration, on a scope change and again when a practice
/// approves either (registrations from before the rule).
pub fn check_grantable(grant_types: &[GrantType], scope: &str) -> Result<(), ApiError> {
    let kinds: Vec<GrantKind> = grant_types
        .iter()
        .filter_map(|g| GrantKind::of_grant_type(g.as_str()))
        .collect();
    let scopes = Scope::parse_list(scope).0;
    match registration_conflict(&scopes, &kinds) {
        None => Ok(()),
        Some(s @ Scope::Resource(r)) if r.context == Context::System => Err(meta_error(format!(
            "scope {s} can only be granted to a backend service (grant type client_credentials); \
             an app that signs users in holds patient/ or user/ scopes"
        ))),
        Some(s) => Err(meta_error(format!(
            "scope {s} needs a user to sign in (grant type authorization_code)"
        ))),
    }
}

/// The registration response body (RFC 7591 §3.2.1), without secrets.
pub fn client_json(c: &Client) -> Json {
    let mut out = json!({
        "client_id": c.client_id,
        "client_id_issued_at": c.created_at / 1000,
        "client_name": c.name,
        "redirect_uris": c.redirect_uris,
        "token_endpoint_auth_method": c.auth_method,
        "grant_types": c.grant_types,
        "response_types": if c.grant_types.contains(&GrantType::AuthorizationCode) { json!(["code"]) } else { json!([]) },
        "scope": c.scope,
        "practice": c.practice,
        "status": c.status,
        "access_token_lifetime": c.access_token_lifetime(),
    });
    if let Some(o) = out.as_object_mut() {
        if c.auth_method == AuthMethod::ClientSecretBasic {
            o.insert("client_secret_expires_at".into(), json!(0));
        }
        for (k, v) in [
            ("jwks", c.jwks.clone()),
            ("jwks_uri", c.jwks_uri.clone().map(Json::from)),
            ("launch_uri", c.launch_uri.clone().map(Json::from)),
            ("pending_scope", c.pending_scope.clone().map(Json::from)),
            ("status_reason", c.status_reason.clone().map(Json::from)),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), v);
            }
        }
    }
    out
}

/// Handles `POST /register` with the operator's initial access token (a
/// developer's API token is routed to [`crate::pages::developer::api::register`]).
pub async fn register<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let initial_token_ok = matches!(app.authenticate(req).await, Ok(Caller::Admin));
    if !initial_token_ok {
        return Err(ApiError::oauth(
            401,
            "invalid_token",
            "registration needs the initial access token (Authorization: Bearer …)",
        )
        .with_header(
            "www-authenticate",
            "Bearer realm=\"flare\", error=\"invalid_token\"",
        ));
    }
    let meta: Json =
        serde_json::from_slice(&req.body).map_err(|e| meta_error(format!("the body is not JSON: {e}")))?;
    let mut client = client_from_metadata(&meta, &app.config.default_practice, app.platform.now_ms())?;
    if let Some(uri) = &client.jwks_uri {
        crate::oauth::jwks_uri::allowed(app, uri).map_err(|_| meta_error(crate::oauth::jwks_uri::REFUSED))?;
    }
    let practices = resources::list_practices(app.shards.for_practice(&client.practice)).await?;
    if !practices.iter().any(|p| p.key == client.practice) {
        return Err(meta_error(format!("practice {} does not exist", client.practice)));
    }
    client.client_id = match meta.get("client_id") {
        None | Some(Json::Null) => random_token(&app.platform, 16),
        Some(Json::String(id))
            if (8..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
        {
            if store::client(app.auth_db(), id).await?.is_some() {
                return Err(meta_error(format!("client_id {id} is taken")));
            }
            id.clone()
        }
        Some(_) => return Err(meta_error("client_id must be 8-64 characters of A-Za-z0-9._-")),
    };
    let secret =
        (client.auth_method == AuthMethod::ClientSecretBasic).then(|| random_token(&app.platform, 32));
    client.secret_hash = secret.as_deref().map(sha256_b64);
    store::insert_client(app.auth_db(), &client).await?;
    let mut body = client_json(&client);
    if let (Some(s), Some(o)) = (secret, body.as_object_mut()) {
        o.insert("client_secret".into(), json!(s));
    }
    Ok(HttpResponse::json(201, &body)
        .with_header("cache-control", "no-store")
        .with_header("pragma", "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(extra: Json) -> Json {
        let mut m = json!({"client_name": "App", "redirect_uris": ["http://127.0.0.1:9000/cb"], "token_endpoint_auth_method": "none"});
        if let (Some(o), Some(e)) = (m.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        m
    }

    #[test]
    fn validates_registration_metadata() {
        let c =
            client_from_metadata(&meta(json!({"scope": "patient/Observation.read openid"})), "p", 0).unwrap();
        assert_eq!(c.scope, "patient/Observation.read openid");
        assert_eq!(c.status.as_str(), "pending");
        let err = |m: Json| client_from_metadata(&meta(m), "p", 0).unwrap_err();
        assert_eq!(
            err(json!({"redirect_uris": ["/relative"]})).body,
            crate::http::error::ErrorBody::OAuth("invalid_redirect_uri")
        );
        assert!(err(json!({"redirect_uris": ["http://a/cb", "http://a/cb"]}))
            .message
            .contains("twice"));
        assert!(err(json!({"redirect_uris": ["http://a/cb#x"]}))
            .message
            .contains("fragment"));
        assert!(err(json!({"scope": "patient/Observation.read bogus"}))
            .message
            .contains("bogus"));
        assert!(err(json!({"token_endpoint_auth_method": "private_key_jwt"}))
            .message
            .contains("jwks"));
        assert!(err(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "x"}]}}))
            .message
            .contains("not an RSA"));
        assert!(err(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "y"}]}}))
            .message
            .contains("private key"));
        assert!(err(json!({"grant_types": ["client_credentials"]}))
            .message
            .contains("private_key_jwt"));
        assert!(err(json!({"access_token_lifetime": 0}))
            .message
            .contains("1 to 3600"));
        let backend = json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks", "redirect_uris": [], "scope": "system/Patient.rs user/Observation.rs"});
        assert!(err(backend).message.contains("system/"));
    }
}

//! The SMART App Launch authorization server
//! (<https://hl7.org/fhir/smart-app-launch/app-launch.html>): one module per
//! endpoint, plus what they share here: client authentication (RFC 6749
//! §2.3, RFC 7523 / SMART asymmetric auth) and the lifetimes of what the
//! server issues. Forms, cookies, sessions and sign-in are the web layer's
//! ([`crate::web`]), shared with every page.
//!
//! All state lives in the directory shard's tables (`store::auth`); secrets
//! are stored only as SHA-256 hashes. Must not touch: FHIR data (the FHIR
//! API reads it under the visibility rule) or any page group's routes.

pub mod authorize;
pub mod discovery;
pub mod introspect;
pub mod jwks_cache;
pub mod jwks_uri;
pub mod jws;
pub mod manage;
pub mod register;
pub mod token;

use serde_json::Value as Json;

use self::discovery::Endpoints;
use self::jws::Jws;
use crate::app::App;
use crate::crypto::{self, b64url_decode, constant_time_eq, sha256_b64};
use crate::http::error::ApiError;
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::auth::{self as store, AuthMethod, Client, ClientStatus};
use crate::store::Database;
use crate::web::form::field;

/// Authorization codes live one minute.
pub const CODE_TTL_MS: i64 = 60_000;
/// `offline_access` refresh tokens live 180 days (SMART asks for at least 90).
pub const OFFLINE_REFRESH_TTL_MS: i64 = 180 * 24 * 3600 * 1000;
/// A rotated refresh token still works this long (two concurrent refreshes
/// both succeed); after it, using it again revokes its family.
pub const REFRESH_REUSE_WINDOW_MS: i64 = 30_000;
/// An `/authorize` request must be finished within 30 minutes.
pub const AUTHORIZE_REQUEST_TTL_MS: i64 = 30 * 60 * 1000;
/// EHR launch contexts live 5 minutes.
pub const LAUNCH_TTL_MS: i64 = 5 * 60 * 1000;
/// Client assertions may expire at most 5 minutes ahead.
pub const ASSERTION_MAX_LIFETIME_S: i64 = 300;
/// Clock skew tolerated on assertion `nbf`/`iat`.
pub const CLOCK_SKEW_S: i64 = 30;
/// id_tokens live one hour.
pub const ID_TOKEN_TTL_S: i64 = 3600;
/// The client-assertion type of RFC 7523.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a client proved who it is at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: only its `client_id`.
    Public,
    /// `client_secret_basic`.
    Secret,
    /// `private_key_jwt`.
    Assertion,
}

fn invalid_client(basic: bool, message: impl Into<String>) -> ApiError {
    let e = ApiError::oauth(401, "invalid_client", message);
    if basic {
        e.with_header("www-authenticate", "Basic realm=\"flare\"")
    } else {
        e
    }
}

/// An approved client, or `invalid_client`.
async fn approved_client<D: Database, P: Platform>(
    app: &App<D, P>,
    client_id: &str,
    basic: bool,
) -> Result<Client, ApiError> {
    let client = store::client(app.auth_db(), client_id)
        .await?
        .ok_or_else(|| invalid_client(basic, "unknown client"))?;
    if client.status != ClientStatus::Approved {
        return Err(invalid_client(
            basic,
            format!("the client is {} (not approved)", client.status),
        ));
    }
    Ok(client)
}

/// Authenticates the client of a token, introspection or revocation request.
pub async fn authenticate_client<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    pairs: &[(String, String)],
) -> Result<(Client, ClientAuth), ApiError> {
    let body_id = field(pairs, "client_id")?;
    if let Some(basic) = req
        .header_value("authorization")
        .and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
    {
        let decoded = base64_std_decode(basic.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| invalid_client(true, "malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| invalid_client(true, "malformed Basic credentials"))?;
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (decode(id), decode(secret));
        if body_id.is_some_and(|b| b != id) {
            return Err(invalid_client(
                true,
                "client_id differs from the Basic credentials",
            ));
        }
        let client = approved_client(app, &id, true).await?;
        let ok = client.auth_method == AuthMethod::ClientSecretBasic
            && client
                .secret_hash
                .as_deref()
                .is_some_and(|h| constant_time_eq(h.as_bytes(), sha256_b64(&secret).as_bytes()));
        return if ok {
            Ok((client, ClientAuth::Secret))
        } else {
            Err(invalid_client(true, "client authentication failed"))
        };
    }
    if let Some(kind) = field(pairs, "client_assertion_type")? {
        if kind != JWT_BEARER {
            return Err(ApiError::oauth(
                400,
                "invalid_request",
                format!("client_assertion_type must be {JWT_BEARER}"),
            ));
        }
        let assertion = field(pairs, "client_assertion")?
            .ok_or_else(|| ApiError::oauth(400, "invalid_request", "client_assertion is missing"))?;
        let client = verify_assertion(app, req, assertion, body_id).await?;
        return Ok((client, ClientAuth::Assertion));
    }
    let id = body_id.ok_or_else(|| invalid_client(false, "client authentication is required"))?;
    let client = approved_client(app, id, false).await?;
    if client.auth_method != AuthMethod::None {
        return Err(invalid_client(
            false,
            format!("this client must authenticate with {}", client.auth_method),
        ));
    }
    Ok((client, ClientAuth::Public))
}

fn base64_std_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    STANDARD.decode(s).ok()
}

/// The client's keys to verify an assertion naming `kid`: its inline JWKS
/// or the set at its `jwks_uri` (cached: [`jwks_cache`]).
async fn client_keys<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &Client,
    kid: &str,
) -> Result<Vec<Json>, ApiError> {
    let set = match (&client.jwks, &client.jwks_uri) {
        (Some(j), _) => j.clone(),
        (None, Some(uri)) => {
            jwks_cache::keys(app, &client.client_id, uri, kid)
                .await
                .map_err(|e| match e {
                    jwks_cache::Unavailable::Unreadable => invalid_client(false, jwks_uri::UNREADABLE),
                    jwks_cache::Unavailable::TooSoon => invalid_client(false, jwks_uri::TOO_SOON),
                })?
        }
        (None, None) => return Err(invalid_client(false, "the client has no registered keys")),
    };
    Ok(set
        .get("keys")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Verifies a `private_key_jwt` client assertion (SMART Backend Services
/// §Authenticating, RFC 7523 §3) and returns its client.
pub async fn verify_assertion<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    assertion: &str,
    body_id: Option<&str>,
) -> Result<Client, ApiError> {
    let bad = |m: String| invalid_client(false, m);
    let jws = Jws::parse(assertion).map_err(|e| bad(format!("client_assertion: {e}")))?;
    let alg = jws.alg().map_err(|e| bad(format!("client_assertion: {e}")))?;
    let iss = jws
        .claim_str("iss")
        .ok_or_else(|| bad("client_assertion has no iss".into()))?;
    if jws.claim_str("sub") != Some(iss) {
        return Err(bad("client_assertion sub must equal iss (the client_id)".into()));
    }
    if body_id.is_some_and(|b| b != iss) {
        return Err(bad("client_id differs from the assertion's iss".into()));
    }
    let client = approved_client(app, iss, false).await?;
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(bad(
            "this client does not authenticate with private_key_jwt".into()
        ));
    }
    let endpoints = Endpoints::of(req);
    let here = format!("{}{}", req.url.origin().ascii_serialization(), req.url.path());
    let aud_ok = |a: &str| a == endpoints.token || a == here;
    let aud_matches = match jws.claims.get("aud") {
        Some(Json::String(a)) => aud_ok(a),
        Some(Json::Array(list)) => list.iter().filter_map(Json::as_str).any(aud_ok),
        _ => false,
    };
    if !aud_matches {
        return Err(bad(format!(
            "client_assertion aud must be the token URL {}",
            endpoints.token
        )));
    }
    let now = app.platform.now_ms() / 1000;
    let exp = jws
        .claim_secs("exp")
        .ok_or_else(|| bad("client_assertion has no exp".into()))?;
    if exp <= now {
        return Err(bad("client_assertion has expired".into()));
    }
    if exp > now + ASSERTION_MAX_LIFETIME_S + CLOCK_SKEW_S {
        return Err(bad(format!(
            "client_assertion exp is more than {ASSERTION_MAX_LIFETIME_S} s ahead"
        )));
    }
    for claim in ["nbf", "iat"] {
        if jws.claim_secs(claim).is_some_and(|t| t > now + CLOCK_SKEW_S) {
            return Err(bad(format!("client_assertion {claim} is in the future")));
        }
    }
    let jti = jws
        .claim_str("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("client_assertion needs a jti".into()))?;
    // SMART Backend Services: the header names the key (`kid`); it is required.
    let kid = jws
        .header
        .get("kid")
        .and_then(Json::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad("client_assertion header needs the kid of a registered key".into()))?;
    let keys = client_keys(app, &client, kid).await?;
    let candidates: Vec<&Json> = keys
        .iter()
        .filter(|k| k.get("kid").and_then(Json::as_str) == Some(kid))
        .filter(|k| alg.fits(k))
        .collect();
    if candidates.is_empty() {
        return Err(bad(format!("no registered {} key with kid {kid}", alg.name())));
    }
    let mut verified = false;
    for key in candidates {
        if jws.verify(&app.platform, alg, key).await.unwrap_or(false) {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(bad("client_assertion signature does not verify".into()));
    }
    // Only a verified assertion may burn its jti, or anyone could block one.
    if !store::record_jti(
        app.auth_db(),
        &client.client_id,
        jti,
        exp * 1000,
        app.platform.now_ms(),
    )
    .await?
    {
        return Err(bad("client_assertion jti was already used".into()));
    }
    Ok(client)
}

/// Checks a PKCE `code_verifier` against the stored S256 challenge (RFC 7636 §4.6).
pub fn pkce_ok(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && constant_time_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes())
}

/// Decodes a base64url value, for callers outside this module.
pub fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    b64url_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rejects_malformed_and_plain_verifiers() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = crypto::pkce_s256(v);
        assert!(pkce_ok(&c, v));
        assert!(!pkce_ok(&c, &c), "the challenge itself is not a verifier");
        assert!(!pkce_ok(&c, ""));
        assert!(!pkce_ok(&c, "short"));
        assert!(!pkce_ok(&c, &format!("{v} ")));
    }
}

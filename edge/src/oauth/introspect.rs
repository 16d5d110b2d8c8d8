//! `POST /introspect` (RFC 7662; SMART App Launch 2.2, Token Introspection,
//! <https://hl7.org/fhir/smart-app-launch/token-introspection.html>) and
//! `POST /revoke` (RFC 7009).
//!
//! Introspection answers an authenticated caller: a registered client (as at
//! `/token`), the operator (`ADMIN_TOKEN`), or a resource server holding any
//! live access token. An active token's answer carries `active`, `scope`,
//! `client_id`, `exp`, `iat`, `sub`, `iss`, `aud` and `token_type`, plus what
//! [`echo`] kept of the token response that issued it: its launch context
//! parameters as sent and, when it carried an id_token, that id_token's
//! `iss`, `sub` and `fhirUser`. `scope` is what the token may do now (the
//! granted scopes within today's approval, `app::effective_scopes`): the
//! granted string, unless the practice narrowed the app since. Anything that
//! is not a live access token (unknown, expired, revoked, its grant, family
//! or app revoked, a refresh token) is exactly `{"active": false}`.
//! Revocation always answers 200; revoking a refresh token revokes its
//! family and the access tokens the family issued.

use serde_json::{json, Map, Value as Json};

use flare_core::smart::wire::TokenResponse;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::authenticate_client;
use crate::oauth::discovery::Endpoints;
use crate::platform::Platform;
use crate::store::auth as store;
use crate::store::Database;
use crate::web::form::{field, form, require_form};

/// The launch context parameters of SMART's Scopes and Launch Context that a
/// token response may carry; introspection echoes those it did.
pub const LAUNCH_CONTEXT: &[&str] = &[
    "patient",
    "encounter",
    "fhirContext",
    "need_patient_banner",
    "smart_style_url",
    "intent",
    "tenant",
];

/// The id_token claims introspection echoes: `iss` and `sub` (SHALL) and
/// `fhirUser` (SHOULD), when the token response carried an id_token.
pub const ID_TOKEN_CLAIMS: &[&str] = &["iss", "sub", "fhirUser"];

/// What introspection will echo of a token response: its launch context
/// parameters exactly as serialized in it and the [`ID_TOKEN_CLAIMS`] of the
/// id_token it carried (`id_claims`, the claims that were signed). Stored
/// with the access token when it is issued.
pub fn echo(resp: &TokenResponse, id_claims: Option<&Json>) -> Json {
    let sent = serde_json::to_value(resp).unwrap_or(Json::Null);
    let mut out = Map::new();
    for k in LAUNCH_CONTEXT {
        if let Some(v) = sent.get(*k) {
            out.insert((*k).into(), v.clone());
        }
    }
    if let Some(claims) = id_claims {
        for k in ID_TOKEN_CLAIMS {
            if let Some(v) = claims.get(*k) {
                out.insert((*k).into(), v.clone());
            }
        }
    }
    Json::Object(out)
}

fn no_store(r: HttpResponse) -> HttpResponse {
    r.with_header("cache-control", "no-store")
        .with_header("pragma", "no-cache")
}

/// Handles `POST /introspect`.
pub async fn introspect<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    require_form(req)?;
    let pairs = form(req);
    let bearer = req
        .header_value("authorization")
        .is_some_and(|h| h.starts_with("Bearer ") || h.starts_with("bearer "));
    if bearer {
        app.authenticate(req).await.map_err(|_| {
            ApiError::oauth(401, "invalid_token", "the caller's bearer token is not valid").with_header(
                "www-authenticate",
                "Bearer realm=\"flare\", error=\"invalid_token\"",
            )
        })?;
    } else {
        authenticate_client(app, req, &pairs).await?;
    }
    let token =
        field(&pairs, "token")?.ok_or_else(|| ApiError::oauth(400, "invalid_request", "token is missing"))?;
    let now = app.platform.now_ms();
    let hash = sha256_b64(token);
    let found = store::access_token(app.auth_db(), &hash, now).await?;
    let Some(t) = found else {
        return Ok(no_store(HttpResponse::json(200, &json!({"active": false}))));
    };
    let e = Endpoints::of(req);
    let mut body = Map::new();
    body.insert("active".into(), json!(true));
    body.insert("client_id".into(), json!(t.client_id));
    body.insert(
        "scope".into(),
        json!(flare_core::smart::access::to_string(
            &crate::app::effective_scopes(&t)
        )),
    );
    body.insert("exp".into(), json!(t.expires_at / 1000));
    body.insert("iat".into(), json!(t.issued_at / 1000));
    body.insert("iss".into(), json!(e.issuer));
    body.insert(
        "sub".into(),
        json!(t.user_id.clone().unwrap_or_else(|| t.client_id.clone())),
    );
    body.insert("aud".into(), json!(e.issuer));
    body.insert("token_type".into(), json!("Bearer"));
    match store::access_token_context(app.auth_db(), &hash).await? {
        // The token response's launch context and id_token claims, as sent
        // (the id_token's iss and sub are the ones above, as issued).
        Some(Json::Object(echoed)) => body.extend(echoed),
        // Issued before its response was recorded (migration 0009): what the token row holds.
        _ => {
            if let Some(p) = &t.patient {
                body.insert("patient".into(), json!(p));
            }
        }
    }
    Ok(no_store(HttpResponse::json(200, &Json::Object(body))))
}

/// Handles `POST /revoke`.
pub async fn revoke<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    require_form(req)?;
    let pairs = form(req);
    let (client, _) = authenticate_client(app, req, &pairs).await?;
    let token =
        field(&pairs, "token")?.ok_or_else(|| ApiError::oauth(400, "invalid_request", "token is missing"))?;
    let hash = sha256_b64(token);
    let now = app.platform.now_ms();
    let db = app.auth_db();
    // Only the client the token was issued to may revoke it (RFC 7009 §2.1);
    // for anyone else the answer is the same 200, and nothing changes.
    if let Some((family, owner)) = store::refresh_family_of(db, &hash).await? {
        if owner == client.client_id {
            store::revoke_family(db, &family, now).await?;
        }
    } else if let Some(t) = store::access_token(db, &hash, now).await? {
        if t.client_id == client.client_id {
            store::revoke_access_token(db, &hash, now).await?;
        }
    }
    Ok(no_store(HttpResponse::json(200, &json!({}))))
}

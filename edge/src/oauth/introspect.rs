//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009).
//!
//! Introspection answers an authenticated caller: a registered client (as at
//! `/token`), the operator (`ADMIN_TOKEN`), or a resource server holding any
//! live access token. Anything that is not a live access token is
//! `{"active": false}`. Revocation always answers 200; revoking a refresh
//! token revokes its family and the access tokens the family issued.

use serde_json::json;

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
    let found = store::access_token(app.auth_db(), &sha256_b64(token), now).await?;
    let Some(t) = found else {
        return Ok(no_store(HttpResponse::json(200, &json!({"active": false}))));
    };
    let e = Endpoints::of(req);
    let mut body = json!({
        "active": true,
        "client_id": t.client_id,
        "scope": flare_core::smart::access::to_string(&crate::app::effective_scopes(&t)),
        "exp": t.expires_at / 1000,
        "iat": t.issued_at / 1000,
        "iss": e.issuer,
        "sub": t.user_id.clone().unwrap_or_else(|| t.client_id.clone()),
        "token_type": "Bearer",
        "aud": e.issuer,
    });
    if let Some(o) = body.as_object_mut() {
        if let Some(p) = &t.patient {
            o.insert("patient".into(), json!(p));
        }
        if let Some(f) = &t.fhir_user {
            o.insert("fhirUser".into(), json!(format!("{}/{f}", e.issuer)));
        }
    }
    Ok(no_store(HttpResponse::json(200, &body)))
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

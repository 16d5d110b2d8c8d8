//! The developer portal as JSON. Errors are OAuth-style JSON
//! (`{"error", "error_description"}`).
//!
//! - `POST /developer/api/signup` `{email, name, password}` → 201
//! - `POST /developer/api/token` `{email, password}` → `{access_token}`: a
//!   developer API token (Bearer), the initial access token of RFC 7591
//! - `DELETE /developer/api/token`: ends the presented token (sign-out)
//! - `POST /developer/api/password` `{current_password, new_password}`
//! - `GET /developer/api/apps` → the developer's apps and those offered to them
//! - `POST /developer/api/apps/{id}/secret` `{"rotate": bool}` → `{client_secret}`
//! - `POST /developer/api/apps/{id}/transfer` `{"to": email}`,
//!   `…/transfer/accept`, `…/transfer/cancel`
//! - `POST /register` (RFC 7591) with the developer token: metadata plus
//!   `practice` and `practice_pin` → a pending app
//! - `GET | PUT | DELETE /register/{id}` (RFC 7592 client configuration) with
//!   the owner's developer token: read (status, pending scope, test
//!   patients), change `scope` (pending until approved), withdraw.

use serde_json::{json, Value as Json};

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::manage::decide_client;
use crate::pages::developer::{
    app_json, change_password, issue_secret, new_credential, offer_transfer, owned_app, register_app,
    replace_keys, request_scope, settle_transfer, sign_in, sign_up, token_developer, visible_app, Refusal,
};
use crate::platform::Platform;
use crate::store::auth::ClientStatus;
use crate::store::developer::{self as store, CredentialKind, Developer};
use crate::store::Database;

/// Writes any error of the developer API as OAuth-style JSON.
pub fn as_json_error(mut e: ApiError) -> ApiError {
    if !matches!(e.body, ErrorBody::OAuth(_)) {
        e.body = ErrorBody::OAuth(match e.status {
            401 => "invalid_token",
            403 => "access_denied",
            404 => "not_found",
            409 => "conflict",
            429 => "temporarily_unavailable",
            s if s >= 500 => "server_error",
            _ => "invalid_request",
        });
    }
    e
}

fn refusal(r: Refusal) -> ApiError {
    let e = ApiError::new(r.status(), "invalid", r.message());
    match r {
        Refusal::Throttled(s) => e.with_header("retry-after", &s.to_string()),
        _ => e,
    }
}

fn body(req: &HttpRequest) -> Result<Json, ApiError> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

fn str_field<'a>(b: &'a Json, name: &str) -> &'a str {
    b.get(name).and_then(Json::as_str).unwrap_or_default()
}

/// The developer of the Bearer token, or 401.
pub async fn developer_or_401<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
) -> Result<Developer, ApiError> {
    token_developer(app, req).await?.ok_or_else(|| {
        ApiError::unauthorized(
            "a developer API token is required (Authorization: Bearer fdt_…; POST /developer/api/token)",
            "Bearer realm=\"flare-developer\", error=\"invalid_token\"",
        )
    })
}

fn bearer_hash(req: &HttpRequest) -> String {
    let token = req
        .header_value("authorization")
        .and_then(|h| h.get(7..))
        .unwrap_or_default()
        .trim();
    sha256_b64(token)
}

/// One endpoint of the developer API: the router matches it in its table
/// ([`crate::router::routes::ROUTES`]) and hands it to [`route`] with the
/// path's `{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeveloperCall {
    /// `POST /developer/api/signup` `{email, name, password}` → 201.
    SignUp,
    /// `POST /developer/api/token` `{email, password}` → a developer API token.
    Token,
    /// `DELETE /developer/api/token`: ends the presented token (sign-out).
    EndToken,
    /// `POST /developer/api/password` `{current_password, new_password}`.
    ChangePassword,
    /// `GET /developer/api/apps`: the developer's apps and those offered to them.
    Apps,
    /// `POST /developer/api/apps/{id}/secret` `{"rotate": bool}` → `{client_secret}`.
    AppSecret,
    /// `PUT /developer/api/apps/{id}/keys` `{jwks}` or `{jwks_uri}`.
    AppKeys,
    /// `POST /developer/api/apps/{id}/transfer` `{"to": email}`.
    AppTransfer,
    /// `POST /developer/api/apps/{id}/transfer/accept`.
    AcceptTransfer,
    /// `POST /developer/api/apps/{id}/transfer/cancel`.
    CancelTransfer,
    /// Any other method or path under `/developer/api`: 404.
    NotFound,
}

/// Answers one call of the developer API; `id` is the path's `{id}` (empty
/// where it has none), `rest` the path below `/developer/api` (the 404 names
/// it). Every error is OAuth-style JSON.
pub async fn route<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    call: DeveloperCall,
    id: &str,
    rest: &[&str],
) -> ApiResult {
    // What the calls share: the developer of the Bearer token (401 without
    // one), for all but signing up, getting a token and the 404.
    let answer = match call {
        DeveloperCall::SignUp => sign_up_call(app, req).await,
        DeveloperCall::Token => token(app, req).await,
        DeveloperCall::NotFound => Err(no_route(req, rest)),
        _ => match developer_or_401(app, req).await {
            Ok(dev) => signed_in(app, req, call, id, &dev).await,
            Err(e) => Err(e),
        },
    };
    answer.map_err(as_json_error)
}

fn no_route(req: &HttpRequest, rest: &[&str]) -> ApiError {
    ApiError::not_found(format!(
        "no developer API route {} /developer/api/{}",
        req.method,
        rest.join("/")
    ))
}

/// The calls of a signed-in developer.
async fn signed_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    call: DeveloperCall,
    id: &str,
    dev: &Developer,
) -> ApiResult {
    match call {
        DeveloperCall::EndToken => {
            // Sign-out for API clients: the presented token ends.
            store::end_credential(app.auth_db(), &bearer_hash(req), app.platform.now_ms()).await?;
            Ok(HttpResponse::new(204, "text/plain", Vec::<u8>::new()))
        }
        DeveloperCall::ChangePassword => {
            let b = body(req)?;
            change_password(
                app,
                req,
                dev,
                str_field(&b, "current_password"),
                str_field(&b, "new_password"),
                &bearer_hash(req),
            )
            .await?
            .map_err(refusal)?;
            Ok(HttpResponse::json(200, &json!({"changed": true})))
        }
        DeveloperCall::Apps => {
            let (owned, offered) = store::developer_client_ids(app.auth_db(), &dev.developer_id).await?;
            let mut apps = Vec::new();
            for id in &owned {
                apps.push(app_json(app, &owned_app(app, dev, id).await?).await?);
            }
            let mut offers = Vec::new();
            for id in &offered {
                let c = visible_app(app, dev, id).await?;
                offers.push(json!({"client_id": c.client_id, "client_name": c.name, "practice": c.practice}));
            }
            Ok(HttpResponse::json(
                200,
                &json!({"apps": apps, "transfers_offered": offers}),
            ))
        }
        DeveloperCall::AppSecret => {
            let client = owned_app(app, dev, id).await?;
            let rotate = body(req)?.get("rotate").and_then(Json::as_bool).unwrap_or(false);
            let secret = issue_secret(app, &client, rotate).await?;
            Ok(HttpResponse::json(
                200,
                &json!({"client_id": client.client_id, "client_secret": secret}),
            )
            .with_header("cache-control", "no-store"))
        }
        DeveloperCall::AppKeys => {
            let client = owned_app(app, dev, id).await?;
            let b = body(req)?;
            replace_keys(
                app,
                &client,
                b.get("jwks"),
                b.get("jwks_uri").and_then(Json::as_str),
            )
            .await?;
            Ok(HttpResponse::json(
                200,
                &app_json(app, &owned_app(app, dev, id).await?).await?,
            ))
        }
        DeveloperCall::AppTransfer => {
            let client = owned_app(app, dev, id).await?;
            let to = offer_transfer(app, dev, &client, str_field(&body(req)?, "to")).await?;
            Ok(HttpResponse::json(
                202,
                &json!({"client_id": client.client_id, "transfer_to": to.email}),
            ))
        }
        DeveloperCall::AcceptTransfer | DeveloperCall::CancelTransfer => {
            let accept = call == DeveloperCall::AcceptTransfer;
            settle_transfer(app, dev, id, accept).await?;
            if accept {
                Ok(HttpResponse::json(
                    200,
                    &app_json(app, &owned_app(app, dev, id).await?).await?,
                ))
            } else {
                Ok(HttpResponse::json(
                    200,
                    &json!({"client_id": id, "transfer": "cancelled"}),
                ))
            }
        }
        // Answered without a token (see `route`).
        DeveloperCall::SignUp | DeveloperCall::Token | DeveloperCall::NotFound => {
            Err(ApiError::not_found("no developer API route"))
        }
    }
}

async fn sign_up_call<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let b = body(req)?;
    let dev = sign_up(
        app,
        str_field(&b, "email"),
        str_field(&b, "name"),
        str_field(&b, "password"),
    )
    .await?
    .map_err(refusal)?;
    Ok(HttpResponse::json(
        201,
        &json!({"developer_id": dev.developer_id, "email": dev.email, "name": dev.display_name}),
    ))
}

async fn token<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let b = body(req)?;
    let dev = sign_in(app, req, str_field(&b, "email"), str_field(&b, "password"))
        .await?
        .map_err(refusal)?;
    let token = new_credential(app, &dev.developer_id, CredentialKind::Api).await?;
    Ok(HttpResponse::json(
        200,
        &json!({"access_token": token, "token_type": "Bearer", "expires_in": crate::pages::developer::API_TOKEN_TTL_MS / 1000}),
    )
    .with_header("cache-control", "no-store"))
}

/// `POST /register` with a developer API token (RFC 7591 §3).
pub async fn register<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    dev: &Developer,
) -> ApiResult {
    let meta: Json = serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::oauth(
            400,
            "invalid_client_metadata",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let client = register_app(app, dev, &meta).await?;
    let mut out = app_json(app, &client).await?;
    if let Some(o) = out.as_object_mut() {
        o.insert(
            "registration_client_uri".into(),
            json!(format!(
                "{}/register/{}",
                req.url.origin().ascii_serialization(),
                client.client_id
            )),
        );
    }
    Ok(HttpResponse::json(201, &out).with_header("cache-control", "no-store"))
}

/// `GET | PUT | DELETE /register/{id}` (RFC 7592 §2) with the owner's developer token.
pub async fn configuration<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    id: &str,
) -> ApiResult {
    configure(app, req, id).await.map_err(|e| match e.body {
        ErrorBody::OAuth(_) => e,
        _ => as_json_error(e),
    })
}

async fn configure<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, id: &str) -> ApiResult {
    let dev = developer_or_401(app, req).await?;
    let client = owned_app(app, &dev, id).await?;
    match req.method.as_str() {
        "GET" => {
            Ok(HttpResponse::json(200, &app_json(app, &client).await?)
                .with_header("cache-control", "no-store"))
        }
        "PUT" => {
            let b = body(req)?;
            let b = b.as_object().ok_or_else(|| {
                ApiError::oauth(400, "invalid_client_metadata", "the body must be a JSON object")
            })?;
            if b.get("client_id").and_then(Json::as_str).is_some_and(|c| c != id) {
                return Err(ApiError::oauth(
                    400,
                    "invalid_request",
                    "client_id does not match the URL",
                ));
            }
            // Only the scope changes this way (through the practice's
            // approval); any other member must restate the current value.
            let current = crate::oauth::register::client_json(&client);
            for (k, v) in b {
                let unchanged = current.get(k) == Some(v) || client.metadata.get(k) == Some(v);
                if !matches!(k.as_str(), "scope" | "client_id" | "client_secret") && !unchanged {
                    return Err(ApiError::oauth(
                        400,
                        "invalid_client_metadata",
                        format!("{k} cannot be changed; only scope (register a new app for other changes)"),
                    ));
                }
            }
            if let Some(scope) = b.get("scope").and_then(Json::as_str) {
                if scope != client.scope {
                    request_scope(app, &client, scope).await?;
                }
            }
            Ok(HttpResponse::json(
                200,
                &app_json(app, &owned_app(app, &dev, id).await?).await?,
            ))
        }
        "DELETE" => {
            // An app the practice approved is disabled (it may enable it
            // again); one it never approved is rejected, so that no "Enable"
            // turns it on without the review.
            let action = match client.status {
                ClientStatus::Approved | ClientStatus::Disabled => "disable",
                ClientStatus::Pending | ClientStatus::Rejected => "reject",
            };
            decide_client(app, &client, action, Some("withdrawn by the developer")).await?;
            Ok(HttpResponse::new(204, "text/plain", Vec::<u8>::new()))
        }
        _ => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
    }
}

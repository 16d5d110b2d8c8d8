//! `POST /token` (RFC 6749 §3.2, SMART App Launch §Obtain access token,
//! SMART Backend Services §Obtain access token): the `authorization_code`
//! (with PKCE, RFC 7636), `refresh_token` (rotating, RFC 6749 §6) and
//! `client_credentials` (with a `private_key_jwt` assertion) grants.
//!
//! Responses carry `Cache-Control: no-store` and `Pragma: no-cache`; errors
//! are OAuth error JSON with the status codes the certification kits accept.

use serde_json::{json, Value as Json};

use flare_core::smart::access::{self, effective, grantable, is_subset, GrantKind};
use flare_core::smart::scope::{Context, Scope};
use flare_core::smart::wire::TokenResponse;

use crate::app::App;
use crate::crypto::{random_token, sha256_b64};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::discovery::{public_jwk, Endpoints};
use crate::oauth::introspect::echo;
use crate::oauth::jws::sign_rs256;
use crate::oauth::{
    authenticate_client, pkce_ok, ClientAuth, ID_TOKEN_TTL_S, OFFLINE_REFRESH_TTL_MS, REFRESH_REUSE_WINDOW_MS,
};
use crate::platform::log;
use crate::platform::Platform;
use crate::store::auth::{
    self as store, AuditEvent, Client, CodeUse, Grant, GrantType, NewAccessToken, NewRefreshToken,
};
use crate::store::Database;
use crate::web::form::{field, form, require_form};

fn invalid_grant(message: impl Into<String>) -> ApiError {
    ApiError::oauth(400, "invalid_grant", message)
}

fn invalid_request(message: impl Into<String>) -> ApiError {
    ApiError::oauth(400, "invalid_request", message)
}

/// A token request's parameters, by grant type. Each parameter appears at
/// most once (RFC 6749 §3.2); empty values read as absent.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenRequest<'a> {
    /// Exchanging an authorization code.
    AuthorizationCode {
        /// `code`.
        code: &'a str,
        /// `redirect_uri`: must equal the authorization request's.
        redirect_uri: Option<&'a str>,
        /// `code_verifier` (PKCE).
        code_verifier: Option<&'a str>,
    },
    /// Rotating a refresh token.
    RefreshToken {
        /// `refresh_token`.
        refresh_token: &'a str,
        /// `scope`: at most what was granted.
        scope: Option<&'a str>,
    },
    /// A backend service's own token.
    ClientCredentials {
        /// `scope`: at most what the client is approved for.
        scope: Option<&'a str>,
    },
}

impl<'a> TokenRequest<'a> {
    /// The parameters of `grant` from the form.
    pub fn parse(grant: GrantType, pairs: &'a [(String, String)]) -> Result<TokenRequest<'a>, ApiError> {
        Ok(match grant {
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode {
                code: field(pairs, "code")?.ok_or_else(|| invalid_request("code is missing"))?,
                redirect_uri: field(pairs, "redirect_uri")?,
                code_verifier: field(pairs, "code_verifier")?,
            },
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                refresh_token: field(pairs, "refresh_token")?
                    .ok_or_else(|| invalid_request("refresh_token is missing"))?,
                scope: field(pairs, "scope")?,
            },
            GrantType::ClientCredentials => TokenRequest::ClientCredentials {
                scope: field(pairs, "scope")?,
            },
        })
    }
}

/// Handles `POST /token`.
pub async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    require_form(req)?;
    let pairs = form(req);
    let grant_type = field(&pairs, "grant_type")?.ok_or_else(|| invalid_request("grant_type is missing"))?;
    let Some(grant) = GrantType::parse(grant_type) else {
        return Err(ApiError::oauth(
            400,
            "unsupported_grant_type",
            format!("grant_type {grant_type} is not supported"),
        ));
    };
    let (client, how) = authenticate_client(app, req, &pairs).await?;
    let registered = |g: GrantType| client.grant_types.contains(&g);
    let allowed = match grant {
        GrantType::AuthorizationCode | GrantType::RefreshToken => registered(GrantType::AuthorizationCode),
        GrantType::ClientCredentials => registered(GrantType::ClientCredentials),
    };
    if !allowed {
        return Err(ApiError::oauth(
            400,
            "unauthorized_client",
            format!("the client is not registered for {}", grant.as_str()),
        ));
    }
    if grant == GrantType::ClientCredentials && how != ClientAuth::Assertion {
        return Err(ApiError::oauth(
            401,
            "invalid_client",
            "client_credentials needs a private_key_jwt client assertion",
        ));
    }
    let body = match TokenRequest::parse(grant, &pairs)? {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => code_grant(app, req, (code, redirect_uri, code_verifier), &client, how).await?,
        TokenRequest::RefreshToken { refresh_token, scope } => {
            refresh_grant(app, req, refresh_token, scope, &client).await?
        }
        TokenRequest::ClientCredentials { scope } => client_credentials(app, scope, &client).await?,
    };
    Ok(
        HttpResponse::json(200, &serde_json::to_value(&body).unwrap_or(Json::Null))
            .with_header("cache-control", "no-store")
            .with_header("pragma", "no-cache"),
    )
}

async fn code_grant<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    (code, redirect_uri, verifier): (&str, Option<&str>, Option<&str>),
    client: &Client,
    how: ClientAuth,
) -> Result<TokenResponse, ApiError> {
    let now = app.platform.now_ms();
    let db = app.auth_db();
    let stored = match store::consume_code(db, &sha256_b64(code), now).await? {
        CodeUse::Fresh(c) => c,
        CodeUse::Replayed(grant_id) => {
            // RFC 6749 §4.1.2: a replayed code revokes what it issued.
            store::revoke_grant(db, &grant_id, now).await?;
            return Err(invalid_grant("the code was already used; its tokens are revoked"));
        }
        CodeUse::Unknown => return Err(invalid_grant("the code is not valid")),
    };
    if stored.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if stored.expires_at <= now {
        return Err(invalid_grant("the code has expired"));
    }
    if redirect_uri != Some(stored.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&stored.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce_ok(challenge, v) => {}
        (Some(_), Some(_)) => return Err(invalid_grant("code_verifier does not match the code_challenge")),
        (Some(_), None) => return Err(invalid_grant("code_verifier is missing")),
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier sent, but the request had no code_challenge",
            ))
        }
        (None, None) if how == ClientAuth::Public => {
            return Err(invalid_grant("public clients must use PKCE"))
        }
        (None, None) => {}
    }
    let grant = store::grant(db, &stored.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(|| invalid_grant("the authorization was revoked"))?;
    // Approved scopes may have narrowed since the consent.
    let scopes = effective(
        &Scope::parse_list(&grant.scope).0,
        &Scope::parse_list(&client.scope).0,
        GrantKind::AuthorizationCode,
    );
    let grant = Grant {
        scope: access::to_string(&scopes),
        ..grant
    };
    let family = refresh_kind(&scopes).map(|offline| (random_token(&app.platform, 16), offline));
    let resp = issue(
        app,
        req,
        client,
        &grant,
        &scopes,
        family.as_ref(),
        true,
        stored.nonce.as_deref(),
    )
    .await?;
    audit(app, client, &grant, "token", "authorization_code").await;
    Ok(resp)
}

/// `Some(true)` for `offline_access`, `Some(false)` for `online_access`.
fn refresh_kind(scopes: &[Scope]) -> Option<bool> {
    if scopes.contains(&Scope::OfflineAccess) {
        Some(true)
    } else if scopes.contains(&Scope::OnlineAccess) {
        Some(false)
    } else {
        None
    }
}

async fn refresh_grant<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    token: &str,
    scope: Option<&str>,
    client: &Client,
) -> Result<TokenResponse, ApiError> {
    let now = app.platform.now_ms();
    let db = app.auth_db();
    let rt = store::rotate_refresh(db, &sha256_b64(token), now)
        .await?
        .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
    if rt.client_id != client.client_id {
        return Err(invalid_grant("the refresh token was issued to another client"));
    }
    if rt.expires_at <= now {
        return Err(invalid_grant("the refresh token has expired"));
    }
    if let Some(rotated) = rt.rotated_at {
        if now - rotated > REFRESH_REUSE_WINDOW_MS {
            // A rotated token used again after the grace window: stolen. Revoke the family.
            store::revoke_family(db, &rt.family_id, now).await?;
            return Err(invalid_grant(
                "the refresh token was already used; its family is revoked",
            ));
        }
    }
    if !store::family_live(db, &rt.family_id).await? {
        return Err(invalid_grant("the refresh token was revoked"));
    }
    let grant = store::grant(db, &rt.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(|| invalid_grant("the authorization was revoked"))?;
    if !rt.offline {
        // online_access: only while the sign-in session lasts.
        let live = match &grant.session_hash {
            Some(h) => store::session_user(db, h, now).await?.is_some(),
            None => false,
        };
        if !live {
            return Err(invalid_grant(
                "the sign-in session of this online_access token has ended",
            ));
        }
    }
    // What the family may refresh to, limited to what the app is approved
    // for today: a practice's narrowing reaches existing grants here.
    let original = effective(
        &Scope::parse_list(&rt.scope).0,
        &Scope::parse_list(&client.scope).0,
        GrantKind::AuthorizationCode,
    );
    if refresh_kind(&original).is_none() {
        return Err(invalid_grant(
            "the app is no longer approved for refresh tokens (offline_access or online_access)",
        ));
    }
    let scopes = match scope {
        None => original.clone(),
        Some(s) => {
            let (asked, unknown) = Scope::parse_list(s);
            if !unknown.is_empty() || !is_subset(&asked, &original) {
                return Err(ApiError::oauth(
                    400,
                    "invalid_scope",
                    "a refresh may only ask for scopes that were granted",
                ));
            }
            asked
        }
    };
    let family = (rt.family_id.clone(), rt.offline);
    // Within the reuse window a concurrent twin may have rotated it too: both
    // callers get working tokens in the same family.
    let resp = issue_with_refresh_scope(app, req, client, &grant, &scopes, &original, &family).await?;
    audit(app, client, &grant, "refresh", "refresh_token").await;
    Ok(resp)
}

async fn client_credentials<D: Database, P: Platform>(
    app: &App<D, P>,
    scope: Option<&str>,
    client: &Client,
) -> Result<TokenResponse, ApiError> {
    let allowed = Scope::parse_list(&client.scope).0;
    let requested = match scope {
        Some(s) => {
            let (asked, unknown) = Scope::parse_list(s);
            if !unknown.is_empty() {
                return Err(ApiError::oauth(
                    400,
                    "invalid_scope",
                    format!("unknown scopes: {}", unknown.join(" ")),
                ));
            }
            asked
        }
        None => allowed.clone(),
    };
    if requested
        .iter()
        .any(|s| !matches!(s, Scope::Resource(r) if r.context == Context::System))
    {
        return Err(ApiError::oauth(
            400,
            "invalid_scope",
            "backend services may only ask for system/ scopes",
        ));
    }
    let granted = grantable(&requested, &allowed);
    if granted.is_empty() {
        return Err(ApiError::oauth(
            400,
            "invalid_scope",
            "none of the requested scopes is registered for this client",
        ));
    }
    let now = app.platform.now_ms();
    let token = random_token(&app.platform, 32);
    let scope = access::to_string(&granted);
    let lifetime = client.access_token_lifetime().min(300);
    store::insert_tokens(
        app.auth_db(),
        &NewAccessToken {
            token_hash: sha256_b64(&token),
            client_id: client.client_id.clone(),
            grant_id: None,
            family_id: None,
            practice: client.practice.clone(),
            user_id: None,
            patient: None,
            scope: scope.clone(),
            issued_at: now,
            expires_at: now + lifetime * 1000,
            // No user, so no launch context and no id_token to echo.
            context: json!({}),
        },
        None,
        false,
    )
    .await?;
    let grant = Grant {
        grant_id: String::new(),
        practice: client.practice.clone(),
        client_id: client.client_id.clone(),
        user_id: None,
        patient: None,
        scope: scope.clone(),
        context: Json::Null,
        session_hash: None,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    audit(app, client, &grant, "token", "client_credentials").await;
    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: lifetime,
        scope,
        refresh_token: None,
        id_token: None,
        patient: None,
        encounter: None,
        need_patient_banner: None,
        smart_style_url: None,
        fhir_context: None,
    })
}

/// Issues the tokens of an authorization-code response; `family` is the new
/// refresh family `(id, offline)` when the grant includes a refresh scope.
#[allow(clippy::too_many_arguments)]
async fn issue<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    client: &Client,
    grant: &Grant,
    scopes: &[Scope],
    family: Option<&(String, bool)>,
    new_family: bool,
    nonce: Option<&str>,
) -> Result<TokenResponse, ApiError> {
    let now = app.platform.now_ms();
    let access_token = random_token(&app.platform, 32);
    let scope = access::to_string(scopes);
    let refresh_token = family.map(|_| random_token(&app.platform, 32));
    let id_claims = if scopes.contains(&Scope::OpenId) {
        Some(id_token_claims(app, req, client, grant, scopes, nonce).await?)
    } else {
        None
    };
    let id_token = match &id_claims {
        Some(claims) => Some(sign_id_token(app, claims).await?),
        None => None,
    };
    let ctx = &grant.context;
    let s = |k: &str| ctx.get(k).and_then(Json::as_str).map(str::to_string);
    let resp = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: client.access_token_lifetime(),
        scope: scope.clone(),
        refresh_token,
        id_token,
        patient: s("patient"),
        encounter: s("encounter"),
        need_patient_banner: ctx.get("need_patient_banner").and_then(Json::as_bool),
        smart_style_url: s("smart_style_url"),
        fhir_context: ctx.get("fhirContext").and_then(Json::as_array).cloned(),
    };
    let access = NewAccessToken {
        token_hash: sha256_b64(&resp.access_token),
        client_id: client.client_id.clone(),
        grant_id: Some(grant.grant_id.clone()),
        family_id: family.map(|f| f.0.clone()),
        practice: grant.practice.clone(),
        user_id: grant.user_id.clone(),
        patient: grant.patient.clone(),
        scope,
        issued_at: now,
        expires_at: now + client.access_token_lifetime() * 1000,
        // Introspection echoes this very response.
        context: echo(&resp, id_claims.as_ref()),
    };
    let refresh = match (family, &resp.refresh_token) {
        (Some((family_id, offline)), Some(t)) => Some(NewRefreshToken {
            token_hash: sha256_b64(t),
            family_id: family_id.clone(),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            scope: grant.scope.clone(),
            offline: *offline,
            issued_at: now,
            expires_at: if *offline {
                now + OFFLINE_REFRESH_TTL_MS
            } else {
                now + crate::web::session::SESSION_TTL_MS
            },
        }),
        _ => None,
    };
    store::insert_tokens(app.auth_db(), &access, refresh.as_ref(), new_family).await?;
    Ok(resp)
}

/// A refresh: new access token with `scopes`, new refresh token in the same
/// family that may still refresh to the `original` grant.
async fn issue_with_refresh_scope<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    client: &Client,
    grant: &Grant,
    scopes: &[Scope],
    original: &[Scope],
    family: &(String, bool),
) -> Result<TokenResponse, ApiError> {
    let narrowed = Grant {
        scope: access::to_string(original),
        ..grant.clone()
    };
    issue(app, req, client, &narrowed, scopes, Some(family), false, None).await
}

/// The claims of the OpenID Connect id_token.
async fn id_token_claims<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    client: &Client,
    grant: &Grant,
    scopes: &[Scope],
    nonce: Option<&str>,
) -> Result<Json, ApiError> {
    let now_s = app.platform.now_ms() / 1000;
    let user = match &grant.user_id {
        Some(u) => store::user(app.auth_db(), u).await?,
        None => None,
    };
    let user = user.ok_or_else(|| invalid_grant("the user of this grant no longer exists"))?;
    let e = Endpoints::of(req);
    let mut claims = json!({
        "iss": e.issuer,
        "sub": user.user_id,
        "aud": client.client_id,
        "iat": now_s,
        "exp": now_s + ID_TOKEN_TTL_S,
    });
    if let Some(o) = claims.as_object_mut() {
        if scopes.contains(&Scope::FhirUser) || scopes.contains(&Scope::Profile) {
            o.insert(
                "fhirUser".into(),
                json!(format!("{}/{}", e.issuer, user.fhir_user)),
            );
            o.insert(
                "profile".into(),
                json!(format!("{}/{}", e.issuer, user.fhir_user)),
            );
            if let Some(n) = &user.display_name {
                o.insert("name".into(), json!(n));
            }
        }
        if let Some(n) = nonce {
            o.insert("nonce".into(), json!(n));
        }
    }
    Ok(claims)
}

/// The id_token: `claims` signed RS256 (in WebCrypto).
async fn sign_id_token<D: Database, P: Platform>(app: &App<D, P>, claims: &Json) -> Result<String, ApiError> {
    let jwk = public_jwk(&app.platform).await?;
    let kid = jwk
        .get("kid")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    sign_rs256(&app.platform, &kid, claims)
        .await
        .map_err(|e| ApiError::new(500, "exception", format!("id_token signing failed: {e}")))
}

/// Records a token event in the practice's audit trail.
async fn audit<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &Client,
    grant: &Grant,
    action: &str,
    how: &str,
) {
    let event = AuditEvent {
        at: app.platform.now_ms(),
        practice: grant.practice.clone(),
        client_id: Some(client.client_id.clone()),
        user_id: grant.user_id.clone(),
        patient: grant.patient.clone(),
        action: action.into(),
        what: format!("{how}: {}", grant.scope),
        status: 200,
    };
    if let Err(e) = store::insert_audit(app.shards.for_practice(&grant.practice), &event).await {
        log(&format!("audit event not recorded: {e}"));
    }
}

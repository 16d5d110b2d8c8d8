//! The operator's side of the authorization server (`/admin/…`, bearer
//! `ADMIN_TOKEN`): approving and managing registered apps, creating users,
//! creating EHR launch contexts, and reading the audit trail.
//!
//! - `GET /admin/clients[?practice=&status=]`
//! - `GET /admin/clients/{id}`
//! - `POST /admin/clients/{id}/approve | reject | disable | enable` (`{"reason": …}` optional)
//! - `POST /admin/clients/{id}/rotate-secret` → `{"client_secret": …}` (shown once)
//! - `PUT /admin/clients/{id}/jwks` `{"jwks": …}` or `{"jwks_uri": …}`
//! - `POST /admin/clients/{id}/scope-change` `{"scope": …}` → pending until
//!   `POST /admin/clients/{id}/scope-change/approve` (or `/reject`)
//! - `POST /admin/users` `{username, password, practice, fhirUser, name, role}`
//!   (`role`: `member`, the default, `practice_admin`, or `test_patient`: a
//!   patient account the practice shows to developers of its approved apps)
//! - `POST /admin/launch` `{username, client_id, patient, encounter, need_patient_banner, smart_style_url, fhirContext}`
//! - `GET /admin/audit?practice=&patient=&limit=`

use serde_json::{json, Value as Json};

use crate::app::App;
use crate::crypto::{check_password_rule, hash_password, random_token, sha256_b64};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::discovery::Endpoints;
use crate::oauth::register::{check_grantable, check_jwks, client_from_metadata, client_json, origin_of};
use crate::oauth::LAUNCH_TTL_MS;
use crate::platform::Platform;
use crate::store::auth::{self as store, AuthMethod, ClientColumn, ClientStatus, Role, User};
use crate::store::developer as developer_store;
use crate::store::{resources, Database};
use flare_core::reference::{is_valid_id, parse_reference, ParsedReference};

/// `Type/id` of a relative reference without version.
fn local_ref(s: &str) -> Option<(String, String)> {
    match parse_reference(s).ok()? {
        ParsedReference::Local {
            resource_type,
            id,
            version: None,
        } => Some((resource_type, id)),
        _ => None,
    }
}

fn body(req: &HttpRequest) -> Result<Json, ApiError> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// The optional `reason` of an operator's decision.
fn reason(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    Ok(body(req)?
        .get("reason")
        .and_then(Json::as_str)
        .map(str::to_string))
}

async fn load_client<D: Database, P: Platform>(app: &App<D, P>, id: &str) -> Result<store::Client, ApiError> {
    store::client(app.auth_db(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no client {id}")))
}

/// `GET /admin/clients[?status=]`: every practice's, or those of the
/// practice the operator names ([`App::operator_practice_named`]).
pub async fn list_clients<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let practice = app.operator_practice_named(req)?;
    // An unknown status matches no client (the list is empty).
    let list = match get("status").map(ClientStatus::parse) {
        Some(None) => Vec::new(),
        status => store::list_clients(app.auth_db(), practice.as_deref(), status.flatten()).await?,
    };
    Ok(HttpResponse::json(
        200,
        &json!({"clients": list.iter().map(client_json).collect::<Vec<_>>()}),
    ))
}

/// The client as it is now, as JSON.
async fn client_answer<D: Database, P: Platform>(app: &App<D, P>, id: &str) -> ApiResult {
    Ok(HttpResponse::json(
        200,
        &client_json(&load_client(app, id).await?),
    ))
}

/// `GET /admin/clients/{id}`.
pub async fn get_client<D: Database, P: Platform>(app: &App<D, P>, id: &str) -> ApiResult {
    client_answer(app, id).await
}

/// `POST /admin/clients/{id}/{approve|reject|disable|enable}` (`{"reason": …}` optional).
pub async fn client_decision<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    id: &str,
    action: &str,
) -> ApiResult {
    let client = load_client(app, id).await?;
    let reason = reason(req)?;
    let status = decide_client(app, &client, action, reason.as_deref()).await?;
    Ok(HttpResponse::json(
        200,
        &json!({"client_id": id, "status": status, "reason": reason}),
    ))
}

/// `POST /admin/clients/{id}/rotate-secret` → `{"client_secret": …}` (shown once).
pub async fn rotate_secret<D: Database, P: Platform>(app: &App<D, P>, id: &str) -> ApiResult {
    let client = load_client(app, id).await?;
    if client.auth_method != AuthMethod::ClientSecretBasic {
        return Err(ApiError::bad_request(
            "only client_secret_basic clients have a secret",
        ));
    }
    let secret = random_token(&app.platform, 32);
    developer_store::rotate_secret(app.auth_db(), id, &sha256_b64(&secret), app.platform.now_ms()).await?;
    Ok(
        HttpResponse::json(200, &json!({"client_id": id, "client_secret": secret}))
            .with_header("cache-control", "no-store"),
    )
}

/// `PUT /admin/clients/{id}/jwks` `{"jwks": …}` or `{"jwks_uri": …}`.
pub async fn put_jwks<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, id: &str) -> ApiResult {
    let (db, now) = (app.auth_db(), app.platform.now_ms());
    let client = load_client(app, id).await?;
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(ApiError::bad_request("only private_key_jwt clients have keys"));
    }
    let b = body(req)?;
    match (b.get("jwks"), b.get("jwks_uri").and_then(Json::as_str)) {
        (Some(j), None) => {
            check_jwks(j).map_err(|e| ApiError::bad_request(e.message))?;
            store::update_client(db, id, ClientColumn::Jwks, Some(j.to_string()), now).await?;
            store::update_client(db, id, ClientColumn::JwksUri, None, now).await?;
        }
        (None, Some(u)) => {
            crate::oauth::jwks_uri::allowed(app, u)
                .map_err(|_| ApiError::bad_request(crate::oauth::jwks_uri::REFUSED))?;
            store::update_client(db, id, ClientColumn::JwksUri, Some(u.to_string()), now).await?;
            store::update_client(db, id, ClientColumn::Jwks, None, now).await?;
        }
        _ => return Err(ApiError::bad_request("send either jwks or jwks_uri")),
    }
    // Keys withdrawn here stop working at once, not when a cached set expires.
    crate::oauth::jwks_cache::forget(app, id).await;
    client_answer(app, id).await
}

/// `POST /admin/clients/{id}/scope-change` `{"scope": …}`: pending until decided.
pub async fn scope_change<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    id: &str,
) -> ApiResult {
    let client = load_client(app, id).await?;
    let scope = body(req)?
        .get("scope")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("scope is required"))?;
    let scope = request_scope_change(app, &client, &scope)
        .await
        .map_err(|e| ApiError::bad_request(e.message))?;
    Ok(HttpResponse::json(
        202,
        &json!({"client_id": id, "pending_scope": scope}),
    ))
}

/// `POST /admin/clients/{id}/scope-change/{approve|reject}`.
pub async fn scope_decision<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    id: &str,
    decision: &str,
) -> ApiResult {
    let client = load_client(app, id).await?;
    let reason = reason(req)?;
    let expected = client.pending_scope.clone().unwrap_or_default();
    decide_scope_change(app, &client, &expected, decision == "approve", reason.as_deref()).await?;
    client_answer(app, id).await
}

/// A practice's decision on an app (`approve`, `reject`, `disable` or
/// `enable`); returns the new status. Shared by the admin API and the
/// practice administration pages. Approving publishes the redirect origins
/// for CORS and needs scopes its grant types can grant ([`check_grantable`]);
/// rejecting or disabling revokes every grant and token of the app (enabling
/// it again revives none of them).
pub async fn decide_client<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &store::Client,
    action: &str,
    reason: Option<&str>,
) -> Result<ClientStatus, ApiError> {
    let status = match action {
        "approve" | "enable" => ClientStatus::Approved,
        "reject" => ClientStatus::Rejected,
        "disable" => ClientStatus::Disabled,
        _ => return Err(ApiError::bad_request(format!("unknown decision {action}"))),
    };
    if action == "enable" && client.status != ClientStatus::Disabled {
        return Err(ApiError::new(
            409,
            "conflict",
            format!("client {} is {}, not disabled", client.client_id, client.status),
        ));
    }
    if status == ClientStatus::Approved {
        check_grantable(&client.grant_types, &client.scope)?;
    }
    let origins: Vec<String> = client.redirect_uris.iter().filter_map(|u| origin_of(u)).collect();
    store::set_client_status(
        app.auth_db(),
        &client.client_id,
        status,
        reason,
        &origins,
        app.platform.now_ms(),
    )
    .await?;
    Ok(status)
}

/// Records a requested scope change of `client` (pending until a practice
/// approves it; the current scope keeps working). The new scope passes the
/// same registration rules as the app's metadata (e.g. a backend service
/// holds only `system/` scopes). Returns the canonical pending scope.
pub async fn request_scope_change<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &store::Client,
    scope: &str,
) -> Result<String, ApiError> {
    let mut meta = client.metadata.clone();
    if let Some(m) = meta.as_object_mut() {
        m.insert("scope".into(), json!(scope));
    }
    let checked = client_from_metadata(&meta, &client.practice, 0)?;
    let now = app.platform.now_ms();
    let db = app.auth_db();
    store::update_client(
        db,
        &client.client_id,
        ClientColumn::PendingScope,
        Some(checked.scope.clone()),
        now,
    )
    .await?;
    store::update_client(db, &client.client_id, ClientColumn::ScopeChangeReason, None, now).await?;
    Ok(checked.scope)
}

/// Approves (the pending scope becomes the allowed scope) or rejects (with
/// an optional reason the developer sees) a pending scope change, if the
/// pending scope is still `expected` (what the practice reviewed): a
/// developer who swaps in other scopes meanwhile gets nothing approved.
pub async fn decide_scope_change<D: Database, P: Platform>(
    app: &App<D, P>,
    client: &store::Client,
    expected: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    if approve {
        check_grantable(&client.grant_types, expected)?;
    }
    let reason = (!approve).then(|| reason.unwrap_or("no reason given"));
    let settled = store::settle_scope_change(
        app.auth_db(),
        &client.client_id,
        expected,
        approve,
        reason,
        app.platform.now_ms(),
    )
    .await?;
    if settled {
        return Ok(());
    }
    Err(ApiError::new(
        409,
        "conflict",
        match &client.pending_scope {
            None => format!("client {} has no pending scope change", client.client_id),
            Some(_) => format!(
                "the scope change of {} is not the one reviewed (the developer changed it): review it again",
                client.name
            ),
        },
    ))
}

/// `POST /admin/users`.
pub async fn create_user<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let b = body(req)?;
    let s = |k: &str| {
        b.get(k)
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let username = s("username").ok_or_else(|| ApiError::bad_request("username is required"))?;
    if username.chars().count() > 64 || username.chars().any(char::is_whitespace) {
        return Err(ApiError::bad_request(
            "a username is 1-64 characters without spaces",
        ));
    }
    let password = b
        .get("password")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiError::bad_request("password is required"))?;
    check_password_rule(password).map_err(ApiError::bad_request)?;
    let practice = s("practice").unwrap_or(&app.config.default_practice).to_string();
    let fhir_user = s("fhirUser")
        .ok_or_else(|| ApiError::bad_request("fhirUser is required (Patient/… or Practitioner/…)"))?;
    let (target_type, target_id) = local_ref(fhir_user)
        .filter(|(t, _)| matches!(t.as_str(), "Patient" | "Practitioner"))
        .ok_or_else(|| {
            ApiError::bad_request("fhirUser must be a relative Patient/… or Practitioner/… reference")
        })?;
    let Some(role) = Role::parse(s("role").unwrap_or(Role::Member.as_str())) else {
        return Err(ApiError::bad_request(format!(
            "role is {}, {} or {}",
            Role::Member,
            Role::PracticeAdmin,
            Role::TestPatient
        )));
    };
    if role == Role::PracticeAdmin && target_type != "Practitioner" {
        return Err(ApiError::bad_request(
            "a practice administrator's fhirUser is a Practitioner",
        ));
    }
    if role == Role::TestPatient && target_type != "Patient" {
        return Err(ApiError::bad_request("a test patient's fhirUser is a Patient"));
    }
    let db = app.shards.for_practice(&practice);
    if !resources::list_practices(db)
        .await?
        .iter()
        .any(|p| p.key == practice)
    {
        return Err(ApiError::bad_request(format!(
            "practice {practice} does not exist"
        )));
    }
    if resources::read(db, &practice, &target_type, &target_id)
        .await?
        .is_none()
    {
        return Err(ApiError::bad_request(format!(
            "{target_type}/{target_id} does not exist in {practice}"
        )));
    }
    let hash = hash_password(&app.platform, password).await?;
    let user = User {
        user_id: random_token(&app.platform, 12),
        username: username.to_string(),
        practice: practice.clone(),
        fhir_user: format!("{target_type}/{target_id}"),
        display_name: s("name").map(str::to_string),
        password_hash: hash,
        failed_signins: 0,
        locked_until: 0,
        role,
    };
    if !store::insert_user(app.auth_db(), &user, app.platform.now_ms()).await? {
        return Err(ApiError::new(
            409,
            "duplicate",
            format!("username {username} is taken"),
        ));
    }
    Ok(HttpResponse::json(
        201,
        &json!({"user_id": user.user_id, "username": user.username, "practice": practice, "fhirUser": user.fhir_user, "name": user.display_name, "role": user.role}),
    ))
}

/// `POST /admin/launch`: an EHR launch context for a signed-in practitioner.
pub async fn create_launch<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let b = body(req)?;
    let username = b
        .get("username")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiError::bad_request("username is required"))?;
    let user = store::user_by_name(app.auth_db(), username)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("no user {username}")))?;
    let client_id = b
        .get("client_id")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiError::bad_request("client_id is required: a launch is made for one app"))?;
    let client = store::client(app.auth_db(), client_id)
        .await?
        .filter(|c| c.practice == user.practice)
        .ok_or_else(|| ApiError::bad_request(format!("no app {client_id} in {}", user.practice)))?;
    let (launch, expires_in) = new_launch(app, req, &user, &client, &b).await?;
    Ok(HttpResponse::json(
        201,
        &json!({"launch": launch, "expires_in": expires_in}),
    ))
}

/// Validates a launch context request and stores it for `client` (which
/// alone may use it, once); returns the opaque `launch` value and its
/// lifetime in seconds. Shared by the admin API and the EHR simulator page.
pub async fn new_launch<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    user: &User,
    client: &store::Client,
    b: &Json,
) -> Result<(String, i64), ApiError> {
    let db = app.shards.for_practice(&user.practice);
    let mut context = serde_json::Map::new();
    for (key, rtype) in [("patient", "Patient"), ("encounter", "Encounter")] {
        if let Some(id) = b.get(key).and_then(Json::as_str).filter(|v| !v.is_empty()) {
            let id = id.rsplit('/').next().unwrap_or(id);
            if !is_valid_id(id) || resources::read(db, &user.practice, rtype, id).await?.is_none() {
                return Err(ApiError::bad_request(format!(
                    "{rtype}/{id} does not exist in {}",
                    user.practice
                )));
            }
            context.insert(key.into(), json!(id));
        }
    }
    let banner = b
        .get("need_patient_banner")
        .and_then(Json::as_bool)
        .unwrap_or(true);
    context.insert("need_patient_banner".into(), json!(banner));
    match b.get("smart_style_url") {
        Some(Json::Bool(true)) => {
            context.insert("smart_style_url".into(), json!(Endpoints::of(req).style));
        }
        Some(Json::String(u)) if url::Url::parse(u).is_ok() => {
            context.insert("smart_style_url".into(), json!(u));
        }
        None | Some(Json::Bool(false)) | Some(Json::Null) => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "smart_style_url is true, false or an absolute URL",
            ))
        }
    }
    match b.get("fhirContext") {
        None | Some(Json::Null) => {}
        Some(Json::Array(list)) => {
            let items = list
                .iter()
                .map(fhir_context_item)
                .collect::<Result<Vec<_>, _>>()?;
            context.insert("fhirContext".into(), Json::Array(items));
        }
        Some(_) => return Err(ApiError::bad_request("fhirContext is an array")),
    }
    let launch = random_token(&app.platform, 24);
    let now = app.platform.now_ms();
    let stored = store::Launch {
        user_id: user.user_id.clone(),
        practice: user.practice.clone(),
        client_id: client.client_id.clone(),
        context: Json::Object(context),
    };
    store::insert_launch(app.auth_db(), &sha256_b64(&launch), &stored, now + LAUNCH_TTL_MS).await?;
    Ok((launch, LAUNCH_TTL_MS / 1000))
}

/// One `fhirContext` item in SMART App Launch 2.2's form, as the token
/// response carries it: exactly one of `reference` (a relative reference,
/// also accepted as a bare `"Encounter/1"` string), `canonical` (an absolute
/// URL, `|version` allowed) or `identifier` (`system` and `value`), with
/// `type` (the resource type: taken from a reference, required otherwise)
/// and `role` (an absolute URI; absent means the launch itself). Patient is
/// never an item: the patient in context is the `patient` parameter.
fn fhir_context_item(item: &Json) -> Result<Json, ApiError> {
    let bad = |m: &str| ApiError::bad_request(format!("fhirContext: {m}"));
    let item = match item {
        Json::String(r) => json!({"reference": r}),
        Json::Object(_) => item.clone(),
        _ => return Err(bad("each item is a relative reference or an object")),
    };
    let known = ["reference", "canonical", "identifier", "type", "role"];
    if let Some(k) = item
        .as_object()
        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
    {
        return Err(bad(&format!(
            "unknown member {k} (reference, canonical, identifier, type, role)"
        )));
    }
    let text = |k: &str| -> Result<Option<&str>, ApiError> {
        match item.get(k) {
            None => Ok(None),
            Some(Json::String(v)) if !v.trim().is_empty() => Ok(Some(v.as_str())),
            Some(_) => Err(bad(&format!("{k} is a non-empty string"))),
        }
    };
    let declared = text("type")?;
    if declared.is_some_and(|t| !flare_core::registry::is_r4_type(t)) {
        return Err(bad("type is a FHIR R4 resource type"));
    }
    let mut out = serde_json::Map::new();
    let kind = match (text("reference")?, text("canonical")?, item.get("identifier")) {
        (Some(r), None, None) => {
            let (t, id) =
                local_ref(r).ok_or_else(|| bad("reference is a relative reference such as Encounter/1"))?;
            if let Some(d) = declared.filter(|d| *d != t) {
                return Err(bad(&format!("type {d} differs from the reference's {t}")));
            }
            out.insert("reference".into(), json!(format!("{t}/{id}")));
            t
        }
        (None, Some(c), None) => {
            let url = c.split('|').next().unwrap_or(c);
            if url::Url::parse(url).is_err() {
                return Err(bad("canonical is an absolute URL"));
            }
            out.insert("canonical".into(), json!(c));
            declared
                .ok_or_else(|| bad("a canonical item names its type"))?
                .to_string()
        }
        (None, None, Some(identifier)) => {
            let part = |k: &str| identifier.get(k).and_then(Json::as_str).filter(|v| !v.is_empty());
            let (Some(system), Some(value)) = (part("system"), part("value")) else {
                return Err(bad("identifier has a system and a value"));
            };
            out.insert("identifier".into(), json!({"system": system, "value": value}));
            declared
                .ok_or_else(|| bad("an identifier item names its type"))?
                .to_string()
        }
        _ => {
            return Err(bad(
                "each item has exactly one of reference, canonical or identifier",
            ))
        }
    };
    if kind == "Patient" {
        return Err(bad(
            "the patient in context is the patient parameter, not a fhirContext item",
        ));
    }
    out.insert("type".into(), json!(kind));
    if let Some(role) = text("role")? {
        if url::Url::parse(role).is_err() && role != "launch" {
            return Err(bad("role is an absolute URI"));
        }
        out.insert("role".into(), json!(role));
    }
    Ok(Json::Object(out))
}

/// `GET /admin/audit?patient=&limit=` in the practice the operator names
/// ([`App::operator_practice`]).
pub async fn audit<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let practice = app.operator_practice(req)?;
    let limit = get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(200i64)
        .clamp(1, 1000);
    let events = store::audit_events(
        app.shards.for_practice(&practice),
        &practice,
        get("patient").as_deref(),
        limit,
    )
    .await?;
    let list: Vec<Json> = events
        .iter()
        .map(|e| {
            json!({"at": flare_core::datetime::format_instant(e.at), "client_id": e.client_id, "user_id": e.user_id,
                   "patient": e.patient, "action": e.action, "what": e.what, "status": e.status})
        })
        .collect();
    Ok(HttpResponse::json(200, &json!({"events": list})))
}

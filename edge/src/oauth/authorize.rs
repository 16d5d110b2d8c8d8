//! `GET|POST /authorize` (RFC 6749 §4.1.1, SMART App Launch §Obtain
//! authorization code) and the pages that follow it: sign-in, patient picker
//! (provider standalone launch), consent with type-level and granular
//! (category) choices.
//!
//! Until the client and redirect URI are validated every error is an error
//! page (never a redirect); after that, errors go back to the redirect URI
//! with `error` and the unchanged `state`. The request's state lives in
//! `authorize_requests`; each form carries its id and a CSRF token that must
//! equal both the row's and the browser's `flare_csrf` cookie.

use maud::html as markup;
use serde_json::{json, Value as Json};
use url::Url;

use flare_core::smart::access::{self, for_grant, grantable, granular_alternatives, GrantKind};
use flare_core::smart::scope::{Context, Scope};
use flare_core::text::normalize;

use crate::app::App;
use crate::crypto::{random_token, sha256_b64};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::discovery::Endpoints;
use crate::oauth::{AUTHORIZE_REQUEST_TTL_MS, CODE_TTL_MS};
use crate::platform::Platform;
use crate::store::auth::{self as store, AuthorizeRequest, Client, Code, Grant, User};
use crate::store::{resources, Database};
use crate::web::components::{hidden, sign_in as sign_in_form, Identity, Post, SignIn};
use crate::web::cookie::{cookie, set_cookie, CSRF_COOKIE, SESSION_COOKIE};
use crate::web::form::{field, form};
use crate::web::page::html;
use crate::web::signin::{sign_in, SignInError};

/// A 302 to the client's redirect URI with `params` added to its query.
pub fn redirect_to(uri: &str, params: &[(&str, Option<&str>)]) -> HttpResponse {
    let location = match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    if let Some(v) = v {
                        q.append_pair(k, v);
                    }
                }
            }
            url.to_string()
        }
        Err(_) => uri.to_string(),
    };
    HttpResponse {
        status: 302,
        headers: vec![
            ("location".into(), location),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Vec::new(),
        object: None,
    }
}

fn redirect_error(uri: &str, error: &str, description: &str, state: Option<&str>) -> ApiResult {
    Ok(redirect_to(
        uri,
        &[
            ("error", Some(error)),
            ("error_description", Some(description)),
            ("state", state),
        ],
    ))
}

fn is_pkce_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, PKCE RFC
/// 7636 §4.3, SMART App Launch: `aud`, `launch`), from the query of a GET or
/// the form of a POST. Each appears at most once; empty values read as
/// absent. Parsed before anything is checked, so that a repeated parameter
/// is an error page, never a redirect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthorizationRequest<'a> {
    /// `response_type` (`code`).
    pub response_type: Option<&'a str>,
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `redirect_uri`: exactly one the app registered.
    pub redirect_uri: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
    /// `state`, echoed to the app.
    pub state: Option<&'a str>,
    /// `aud`: this server's FHIR base.
    pub aud: Option<&'a str>,
    /// `launch`: an EHR launch context's id.
    pub launch: Option<&'a str>,
    /// `nonce`, echoed in the id_token.
    pub nonce: Option<&'a str>,
    /// `code_challenge` (PKCE).
    pub code_challenge: Option<&'a str>,
    /// `code_challenge_method` (`S256`).
    pub code_challenge_method: Option<&'a str>,
}

impl<'a> AuthorizationRequest<'a> {
    /// Reads the parameters; a repeated one is a 400 error page.
    pub fn parse(pairs: &'a [(String, String)]) -> Result<AuthorizationRequest<'a>, ApiError> {
        let get = |k: &str| field(pairs, k).map_err(|e| ApiError::page(400, e.message));
        Ok(AuthorizationRequest {
            response_type: get("response_type")?,
            client_id: get("client_id")?,
            redirect_uri: get("redirect_uri")?,
            scope: get("scope")?,
            state: get("state")?,
            aud: get("aud")?,
            launch: get("launch")?,
            nonce: get("nonce")?,
            code_challenge: get("code_challenge")?,
            code_challenge_method: get("code_challenge_method")?,
        })
    }
}

/// Handles `GET|POST /authorize`: validates, stores the request, shows the first page.
pub async fn start<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = if req.method == "POST" {
        form(req)
    } else {
        req.query_pairs()
    };
    let page_err = |m: &str| ApiError::page(400, m.to_string());
    let params = AuthorizationRequest::parse(&pairs)?;
    let client_id = params.client_id.ok_or_else(|| page_err("client_id is missing"))?;
    let client = store::client(app.auth_db(), client_id)
        .await?
        .ok_or_else(|| page_err("this app is not registered here (unknown client_id)"))?;
    if client.status != store::ClientStatus::Approved {
        return Err(page_err(&format!(
            "the app \"{}\" is not approved to connect (its registration is {})",
            client.name, client.status
        )));
    }
    if !client.grant_types.contains(&store::GrantType::AuthorizationCode) {
        return Err(page_err("this app is a backend service and cannot sign users in"));
    }
    let redirect_uri = params
        .redirect_uri
        .ok_or_else(|| page_err("redirect_uri is missing"))?;
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(page_err(
            "redirect_uri is not one the app registered (they must match exactly)",
        ));
    }
    // From here on, errors go back to the app.
    let state = params.state;
    if params.response_type != Some("code") {
        return redirect_error(
            redirect_uri,
            "unsupported_response_type",
            "response_type must be code",
            state,
        );
    }
    let base = req.fhir_base();
    match params.aud {
        Some(aud) if aud.trim_end_matches('/') == base => {}
        Some(_) => {
            return redirect_error(
                redirect_uri,
                "invalid_request",
                "aud is not this FHIR server's base URL",
                state,
            )
        }
        None => {
            return redirect_error(
                redirect_uri,
                "invalid_request",
                "aud (the FHIR base URL) is required",
                state,
            )
        }
    }
    let challenge = params.code_challenge;
    match (challenge, params.code_challenge_method) {
        (Some(c), Some("S256")) if is_pkce_challenge(c) => {}
        (Some(_), Some("S256")) => {
            return redirect_error(
                redirect_uri,
                "invalid_request",
                "code_challenge is not a base64url SHA-256",
                state,
            )
        }
        (Some(_), _) => {
            return redirect_error(
                redirect_uri,
                "invalid_request",
                "code_challenge_method must be S256 (plain is not supported)",
                state,
            )
        }
        (None, Some(_)) => {
            return redirect_error(
                redirect_uri,
                "invalid_request",
                "code_challenge is missing",
                state,
            )
        }
        (None, None) if client.auth_method == store::AuthMethod::None => {
            return redirect_error(
                redirect_uri,
                "invalid_request",
                "public clients must use PKCE (S256)",
                state,
            )
        }
        (None, None) => {}
    }
    let Some(scope) = params.scope else {
        return redirect_error(redirect_uri, "invalid_scope", "scope is required", state);
    };
    let requested = Scope::parse_list(scope).0;
    // `system/` scopes are never granted with a user present, whatever the
    // registration says (they belong to backend services).
    let possible = grantable(
        &for_grant(GrantKind::AuthorizationCode, &requested),
        &Scope::parse_list(&client.scope).0,
    );
    let now = app.platform.now_ms();
    let launch_value = params.launch;
    if requested.contains(&Scope::Launch) && launch_value.is_none() {
        return redirect_error(
            redirect_uri,
            "invalid_request",
            "scope launch needs the launch parameter (EHR launch)",
            state,
        );
    }
    if !possible
        .iter()
        .any(|s| matches!(s, Scope::Resource(_) | Scope::OpenId))
    {
        return redirect_error(
            redirect_uri,
            "invalid_scope",
            "none of the requested scopes is allowed for this app",
            state,
        );
    }
    // Last check, because it uses the launch up: single use, and only by
    // the app it was made for.
    let launch = match launch_value {
        Some(l) => {
            match store::consume_launch(app.auth_db(), &sha256_b64(l), &client.client_id, now).await? {
                Some(found) if found.practice == client.practice => {
                    Some(json!({"user_id": found.user_id, "context": found.context}))
                }
                _ => {
                    return redirect_error(
                        redirect_uri,
                        "invalid_request",
                        "launch is unknown, expired, already used or made for another app",
                        state,
                    )
                }
            }
        }
        None => None,
    };
    let csrf = cookie(req, CSRF_COOKIE)
        .filter(|c| c.len() >= 22)
        .map(str::to_string)
        .unwrap_or_else(|| random_token(&app.platform, 24));
    let areq = AuthorizeRequest {
        request_id: random_token(&app.platform, 18),
        csrf: csrf.clone(),
        client_id: client.client_id.clone(),
        params: json!({
            "redirect_uri": redirect_uri,
            "state": state,
            "nonce": params.nonce,
            "code_challenge": challenge,
            "requested": access::to_string(&possible),
            "launch": launch,
        }),
        user_id: None,
        patient: None,
        done: false,
    };
    store::insert_authorize_request(app.auth_db(), &areq, now, now + AUTHORIZE_REQUEST_TTL_MS).await?;
    let resp = next_step(app, req, areq, &client, None).await?;
    Ok(resp.with_header(
        "set-cookie",
        &set_cookie(req, CSRF_COOKIE, &csrf, AUTHORIZE_REQUEST_TTL_MS / 1000),
    ))
}

fn param<'a>(areq: &'a AuthorizeRequest, k: &str) -> Option<&'a str> {
    areq.params.get(k).and_then(Json::as_str)
}

fn launch_context(areq: &AuthorizeRequest) -> Option<&Json> {
    areq.params.get("launch").and_then(|l| l.get("context"))
}

fn launch_user(areq: &AuthorizeRequest) -> Option<&str> {
    areq.params
        .get("launch")
        .and_then(|l| l.get("user_id"))
        .and_then(Json::as_str)
}

/// Loads the request a form names and checks CSRF: the form's token, the
/// browser's cookie and the request's token must all be equal.
async fn load_checked<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    request_id: Option<&str>,
    csrf: Option<&str>,
) -> Result<(AuthorizeRequest, Client), ApiError> {
    let id = request_id.ok_or_else(|| ApiError::page(400, "the form is missing its request"))?;
    let areq = store::authorize_request(app.auth_db(), id, app.platform.now_ms())
        .await?
        .ok_or_else(|| ApiError::page(400, "this sign-in request has expired; start again from the app"))?;
    let cookie_csrf = cookie(req, CSRF_COOKIE);
    let ok = csrf.is_some_and(|c| {
        crate::crypto::constant_time_eq(c.as_bytes(), areq.csrf.as_bytes())
            && cookie_csrf.is_some_and(|k| crate::crypto::constant_time_eq(k.as_bytes(), c.as_bytes()))
    });
    if !ok {
        return Err(ApiError::page(
            403,
            "this form was not submitted from the page we showed you (CSRF check failed); start again from the app",
        ));
    }
    if areq.done {
        return Err(ApiError::page(400, "this request was already completed"));
    }
    let client = store::client(app.auth_db(), &areq.client_id)
        .await?
        .filter(|c| c.status == store::ClientStatus::Approved)
        .ok_or_else(|| ApiError::page(400, "the app is no longer approved"))?;
    Ok((areq, client))
}

fn continue_to(areq: &AuthorizeRequest) -> HttpResponse {
    HttpResponse {
        status: 303,
        headers: vec![
            (
                "location".into(),
                format!("/authorize/continue?request={}", areq.request_id),
            ),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Vec::new(),
        object: None,
    }
}

/// Handles `POST /authorize/signin`.
pub async fn signin<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = form(req);
    let get = |k: &str| field(&pairs, k).map_err(|e| ApiError::page(400, e.message));
    let (areq, client) = load_checked(app, req, get("request")?, get("csrf")?).await?;
    let username = get("username")?.unwrap_or_default();
    let password = get("password")?.unwrap_or_default();
    let user = match sign_in(app, req, username, password).await {
        Ok(u) => u,
        Err(SignInError::Wrong) => {
            return Ok(signin_page(
                401,
                &areq,
                &client,
                Some("The username or password is not right."),
            ))
        }
        Err(SignInError::Throttled(s)) => {
            return Ok(signin_page(
                429,
                &areq,
                &client,
                Some(&format!("Too many failed attempts. Try again in {s} seconds.")),
            )
            .with_header("retry-after", &s.to_string()))
        }
    };
    if user.practice != client.practice {
        return Ok(signin_page(
            403,
            &areq,
            &client,
            Some("This account belongs to another practice."),
        ));
    }
    if launch_user(&areq).is_some_and(|u| u != user.user_id) {
        return Ok(signin_page(
            403,
            &areq,
            &client,
            Some("This launch was started in the EHR by another user. Sign in as that user."),
        ));
    }
    let cookie = crate::web::session::start_session(app, req, &user.user_id).await?;
    store::update_authorize_request(app.auth_db(), &areq.request_id, Some(&user.user_id), None).await?;
    Ok(continue_to(&areq).with_header("set-cookie", &cookie))
}

/// Handles `GET /authorize/continue?request=…[&name=…]`: the next page.
pub async fn resume<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let q = req.query_pairs();
    let request_id = q.iter().find(|(k, _)| k == "request").map(|(_, v)| v.as_str());
    // The cookie is the CSRF token here: a GET from another browser cannot continue.
    let (areq, client) = load_checked(app, req, request_id, cookie(req, CSRF_COOKIE)).await?;
    let name = q.iter().find(|(k, _)| k == "name").map(|(_, v)| v.as_str());
    next_step(app, req, areq, &client, name).await
}

/// Handles `POST /authorize/patient`: the practitioner picked a patient.
pub async fn pick_patient<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = form(req);
    let get = |k: &str| field(&pairs, k).map_err(|e| ApiError::page(400, e.message));
    let (areq, client) = load_checked(app, req, get("request")?, get("csrf")?).await?;
    let user = signed_in_user(app, req, &areq).await?;
    if !user.fhir_user.starts_with("Practitioner/") {
        return Err(ApiError::page(403, "only practitioners choose a patient"));
    }
    let patient = get("patient")?.ok_or_else(|| ApiError::page(400, "choose a patient"))?;
    let db = app.shards.for_practice(&client.practice);
    if !flare_core::reference::is_valid_id(patient)
        || resources::read(db, &client.practice, "Patient", patient)
            .await?
            .is_none()
    {
        return Err(ApiError::page(400, "that patient is not in this practice"));
    }
    store::update_authorize_request(app.auth_db(), &areq.request_id, None, Some(patient)).await?;
    Ok(continue_to(&areq))
}

/// The request's user, who must also be the browser's signed-in session.
async fn signed_in_user<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    areq: &AuthorizeRequest,
) -> Result<User, ApiError> {
    let id = areq
        .user_id
        .as_deref()
        .ok_or_else(|| ApiError::page(400, "sign in first"))?;
    let session = match cookie(req, SESSION_COOKIE) {
        Some(s) => store::session_user(app.auth_db(), &sha256_b64(s), app.platform.now_ms()).await?,
        None => None,
    };
    match session {
        Some(u) if u.user_id == id => Ok(u),
        _ => Err(ApiError::page(
            403,
            "this browser is not signed in as the user of this request; start again from the app",
        )),
    }
}

fn wants_patient(areq: &AuthorizeRequest) -> bool {
    let requested = Scope::parse_list(param(areq, "requested").unwrap_or_default()).0;
    requested.contains(&Scope::LaunchPatient)
        || access::resource_scopes(&requested).any(|r| r.context == Context::Patient)
}

/// Decides and renders the next page: sign-in, patient picker or consent.
async fn next_step<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    mut areq: AuthorizeRequest,
    client: &Client,
    name_filter: Option<&str>,
) -> ApiResult {
    let db = app.auth_db();
    if areq.user_id.is_none() {
        let now = app.platform.now_ms();
        let session_user = match cookie(req, SESSION_COOKIE) {
            Some(s) => store::session_user(db, &sha256_b64(s), now).await?,
            None => None,
        };
        match session_user {
            Some(u) if u.practice == client.practice && launch_user(&areq).is_none_or(|l| l == u.user_id) => {
                store::update_authorize_request(db, &areq.request_id, Some(&u.user_id), None).await?;
                areq.user_id = Some(u.user_id);
            }
            _ => return Ok(signin_page(200, &areq, client, None)),
        }
    }
    let user = signed_in_user(app, req, &areq).await?;
    if areq.patient.is_none() {
        let from_launch = launch_context(&areq)
            .and_then(|c| c.get("patient"))
            .and_then(Json::as_str)
            .map(str::to_string);
        let own = user.fhir_user.strip_prefix("Patient/").map(str::to_string);
        let patient = from_launch.or(own);
        match patient {
            Some(p) => {
                store::update_authorize_request(db, &areq.request_id, None, Some(&p)).await?;
                areq.patient = Some(p);
            }
            None if wants_patient(&areq) => return picker_page(app, &areq, client, &user, name_filter).await,
            None => {}
        }
    }
    consent_page(app, &areq, client, &user).await
}

fn signin_page(status: u16, areq: &AuthorizeRequest, client: &Client, error: Option<&str>) -> HttpResponse {
    html(
        status,
        "Sign in",
        markup! {
            h1 { "Sign in" }
            p class="muted" { strong { (client.name) } " wants to connect to your health record." }
            (sign_in_form(&SignIn {
                action: "/authorize/signin",
                csrf: &areq.csrf,
                request: Some(&areq.request_id),
                identity: Identity::Username,
                error,
            }))
        },
    )
}

/// A person's display name from a Patient resource.
pub fn patient_name(json: &Json) -> String {
    let name = json.get("name").and_then(|n| n.get(0));
    let text = name.and_then(|n| n.get("text")).and_then(Json::as_str);
    if let Some(t) = text {
        return t.to_string();
    }
    let given: Vec<&str> = name
        .and_then(|n| n.get("given"))
        .and_then(Json::as_array)
        .map(|g| g.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let family = name
        .and_then(|n| n.get("family"))
        .and_then(Json::as_str)
        .unwrap_or_default();
    let full = format!("{} {family}", given.join(" ")).trim().to_string();
    if full.is_empty() {
        json.get("id")
            .and_then(Json::as_str)
            .unwrap_or("(no name)")
            .to_string()
    } else {
        full
    }
}

async fn picker_page<D: Database, P: Platform>(
    app: &App<D, P>,
    areq: &AuthorizeRequest,
    client: &Client,
    user: &User,
    name_filter: Option<&str>,
) -> ApiResult {
    let db = app.shards.for_practice(&client.practice);
    let norm = name_filter.map(normalize);
    let patients = store::patients_for_picker(db, &client.practice, norm.as_deref(), 50).await?;
    let signed_in_as = user.display_name.as_deref().unwrap_or(&user.username);
    Ok(html(
        200,
        "Choose a patient",
        markup! {
            h1 { "Choose a patient" }
            p class="muted" {
                "Signed in as " (signed_in_as) ". " strong { (client.name) } " will open with the patient you choose."
            }
            form method="get" action="/authorize/continue" role="search" {
                (hidden("request", &areq.request_id))
                label for="name" { "Find by name" }
                input type="search" id="name" name="name" value=(name_filter.unwrap_or_default());
                button type="submit" class="secondary" { "Search" }
            }
            (Post::to("/authorize/patient", &areq.csrf).request(Some(&areq.request_id)).form(markup! {
                fieldset {
                    legend { "Patients" }
                    @for (i, (id, json)) in patients.iter().enumerate() {
                        @let v: Json = serde_json::from_str(json).unwrap_or(Json::Null);
                        label class="scope" {
                            input type="radio" name="patient" value=(id) required[i == 0];
                            " "
                            span {
                                (patient_name(&v)) " "
                                span class="muted" {
                                    "· born " (v.get("birthDate").and_then(Json::as_str).unwrap_or("unknown"))
                                    " · " (v.get("gender").and_then(Json::as_str).unwrap_or("unknown"))
                                }
                            }
                        }
                    }
                    @if patients.is_empty() { p { "No patients match." } }
                }
                button type="submit" { "Continue" }
            }))
        },
    ))
}

fn describe(scope: &Scope) -> String {
    match scope {
        Scope::Resource(r) => {
            let what = r.resource_type.as_deref().unwrap_or("all record types");
            let whose = match r.context {
                Context::Patient => "for the patient",
                Context::User => "that you can see",
                Context::System => "of the practice",
            };
            let restricted = r.query.iter().find(|(k, _)| k == "category").and_then(|(_, v)| {
                let code = v.rsplit('|').next()?;
                flare_core::smart::access::categories(what)
                    .iter()
                    .find(|(_, c, _)| *c == code)
                    .map(|(_, _, label)| label.to_string())
            });
            match restricted {
                Some(label) => format!("{label} only ({what})"),
                None => format!("{what} {whose}"),
            }
        }
        Scope::OfflineAccess => "Stay connected when you are away (offline access)".into(),
        Scope::OnlineAccess => "Stay connected while you are signed in (online access)".into(),
        other => other.to_string(),
    }
}

async fn consent_page<D: Database, P: Platform>(
    app: &App<D, P>,
    areq: &AuthorizeRequest,
    client: &Client,
    user: &User,
) -> ApiResult {
    let possible = Scope::parse_list(param(areq, "requested").unwrap_or_default()).0;
    let patient = match &areq.patient {
        Some(p) => {
            let db = app.shards.for_practice(&client.practice);
            let name = resources::read(db, &client.practice, "Patient", p)
                .await?
                .and_then(|s| serde_json::from_str::<Json>(&s.json).ok())
                .map(|v| patient_name(&v))
                .unwrap_or_else(|| p.clone());
            Some(name)
        }
        None => None,
    };
    // Each offered scope: ticked at first or not, and its class.
    let mut offered: Vec<(Scope, bool, &str)> = Vec::new();
    for s in &possible {
        if let Scope::Resource(r) = s {
            offered.push((s.clone(), true, ""));
            for alt in granular_alternatives(r) {
                offered.push((Scope::Resource(alt), false, "granular"));
            }
        }
    }
    for s in possible
        .iter()
        .filter(|s| matches!(s, Scope::OfflineAccess | Scope::OnlineAccess))
    {
        offered.push((s.clone(), true, ""));
    }
    let fixed: Vec<&Scope> = possible
        .iter()
        .filter(|s| !matches!(s, Scope::Resource(_) | Scope::OfflineAccess | Scope::OnlineAccess))
        .collect();
    let signed_in_as = user.display_name.as_deref().unwrap_or(&user.username);
    Ok(html(
        200,
        "Allow access",
        markup! {
            h1 { "Allow " (client.name) " to access your data?" }
            p class="muted" { "Signed in as " (signed_in_as) "." }
            @if let Some(name) = &patient { p { "Patient: " strong { (name) } } }
            (Post::to("/authorize/consent", &areq.csrf).request(Some(&areq.request_id)).form(markup! {
                fieldset {
                    legend { "Share these records (untick what you do not want to share; tick a category instead of a whole type to share only that part)" }
                    @for (n, (scope, checked, class)) in offered.iter().enumerate() {
                        @let id = format!("s{}", n + 1);
                        label class={ "scope " (class) } for=(id) {
                            input type="checkbox" id=(id) name="scope" value=(scope.to_string()) checked[*checked];
                            " "
                            span { (describe(scope)) " " code { (scope.to_string()) } }
                        }
                    }
                }
                @if !fixed.is_empty() {
                    p class="muted" {
                        "The app also learns who you are and the launch context: "
                        @for (i, s) in fixed.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (s.to_string()) }
                        }
                        "."
                    }
                }
                button type="submit" name="decision" value="allow" { "Allow" }
                button type="submit" name="decision" value="deny" class="secondary" { "Deny" }
            }))
        },
    ))
}

/// The scopes granted by a consent form: the fixed (identity and launch)
/// scopes, plus what was ticked among what was offered. A ticked category
/// covered by a ticked type-level scope adds nothing.
pub fn consented_scopes(possible: &[Scope], ticked: &[Scope]) -> Vec<Scope> {
    let mut offered: Vec<Scope> = Vec::new();
    for s in possible {
        match s {
            Scope::Resource(r) => {
                offered.push(s.clone());
                offered.extend(granular_alternatives(r).into_iter().map(Scope::Resource));
            }
            Scope::OfflineAccess | Scope::OnlineAccess => offered.push(s.clone()),
            _ => {}
        }
    }
    let mut out: Vec<Scope> = possible
        .iter()
        .filter(|s| !offered.contains(s))
        .cloned()
        .collect();
    let chosen: Vec<&Scope> = ticked.iter().filter(|t| offered.contains(t)).collect();
    for t in &chosen {
        let covered_by_other = matches!(t, Scope::Resource(r) if !r.query.is_empty())
            && chosen.iter().any(|o| {
                matches!((o, t), (Scope::Resource(a), Scope::Resource(b)) if a.query.is_empty() && access::covers(a, b))
            });
        if !covered_by_other && !out.contains(t) {
            out.push((*t).clone());
        }
    }
    out
}

/// Handles `POST /authorize/consent`: allow (code) or deny (`access_denied`).
pub async fn consent<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = form(req);
    let get = |k: &str| field(&pairs, k).map_err(|e| ApiError::page(400, e.message));
    let (areq, client) = load_checked(app, req, get("request")?, get("csrf")?).await?;
    let user = signed_in_user(app, req, &areq).await?;
    if areq.patient.is_none() && wants_patient(&areq) && user.fhir_user.starts_with("Practitioner/") {
        return Err(ApiError::page(400, "choose a patient first"));
    }
    let redirect_uri = param(&areq, "redirect_uri").unwrap_or_default().to_string();
    let state = param(&areq, "state").map(str::to_string);
    let decision = get("decision")?;
    if !matches!(decision, Some("allow") | Some("deny")) {
        return Err(ApiError::page(400, "choose Allow or Deny"));
    }
    if !store::finish_authorize_request(app.auth_db(), &areq.request_id).await? {
        return Err(ApiError::page(400, "this request was already completed"));
    }
    if decision == Some("deny") {
        return redirect_error(
            &redirect_uri,
            "access_denied",
            "the user denied access",
            state.as_deref(),
        );
    }
    let possible = Scope::parse_list(param(&areq, "requested").unwrap_or_default()).0;
    let ticked: Vec<Scope> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .filter_map(|(_, v)| Scope::parse(v).ok())
        .collect();
    let granted = consented_scopes(&possible, &ticked);
    let now = app.platform.now_ms();
    let grant_context = grant_context(app, req, &areq, &client, &possible).await?;
    let session_hash = if granted.contains(&Scope::OnlineAccess) {
        cookie(req, SESSION_COOKIE).map(sha256_b64)
    } else {
        None
    };
    let grant = Grant {
        grant_id: random_token(&app.platform, 16),
        practice: client.practice.clone(),
        client_id: client.client_id.clone(),
        user_id: Some(user.user_id.clone()),
        patient: areq.patient.clone(),
        scope: access::to_string(&granted),
        context: grant_context,
        session_hash,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    let code = random_token(&app.platform, 32);
    store::insert_grant_and_code(
        app.auth_db(),
        &grant,
        &Code {
            code_hash: sha256_b64(&code),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: param(&areq, "code_challenge").map(str::to_string),
            nonce: param(&areq, "nonce").map(str::to_string),
            expires_at: now + CODE_TTL_MS,
        },
    )
    .await?;
    Ok(redirect_to(
        &redirect_uri,
        &[("code", Some(&code)), ("state", state.as_deref())],
    ))
}

/// The launch context a grant echoes in its token responses.
async fn grant_context<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    areq: &AuthorizeRequest,
    client: &Client,
    possible: &[Scope],
) -> Result<Json, ApiError> {
    let mut ctx = serde_json::Map::new();
    let launch = launch_context(areq);
    if let Some(p) = &areq.patient {
        ctx.insert("patient".into(), json!(p));
    }
    let mut encounter = launch
        .and_then(|c| c.get("encounter"))
        .and_then(Json::as_str)
        .map(str::to_string);
    if encounter.is_none() && possible.contains(&Scope::LaunchEncounter) {
        if let Some(p) = &areq.patient {
            let db = app.shards.for_practice(&client.practice);
            encounter = resources::latest_in_compartment(db, &client.practice, p, "Encounter").await?;
        }
    }
    if let Some(e) = encounter {
        ctx.insert("encounter".into(), json!(e));
    }
    match launch {
        Some(c) => {
            for k in ["need_patient_banner", "smart_style_url", "fhirContext"] {
                if let Some(v) = c.get(k) {
                    ctx.insert(k.into(), v.clone());
                }
            }
        }
        None => {
            // Standalone: the app runs outside any EHR frame.
            ctx.insert("need_patient_banner".into(), json!(true));
            ctx.insert("smart_style_url".into(), json!(Endpoints::of(req).style));
        }
    }
    Ok(Json::Object(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_keeps_fixed_scopes_and_ticked_offers_only() {
        let possible = Scope::parse_list(
            "openid fhirUser launch/patient offline_access patient/Observation.rs patient/Condition.rs",
        )
        .0;
        let lab = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
        let ticked = Scope::parse_list(&format!(
            "{lab} patient/Condition.rs user/Patient.rs patient/Encounter.rs"
        ))
        .0;
        let got = access::to_string(&consented_scopes(&possible, &ticked));
        assert_eq!(
            got,
            format!("openid fhirUser launch/patient {lab} patient/Condition.rs")
        );
        let both = Scope::parse_list(&format!("patient/Observation.rs {lab} offline_access")).0;
        let got = access::to_string(&consented_scopes(&possible, &both));
        assert_eq!(
            got,
            "openid fhirUser launch/patient patient/Observation.rs offline_access"
        );
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        let r = redirect_to(
            "https://app.example/cb?x=1",
            &[("code", Some("c d")), ("state", None)],
        );
        assert_eq!(
            r.header_value("location"),
            Some("https://app.example/cb?x=1&code=c+d")
        );
    }
}

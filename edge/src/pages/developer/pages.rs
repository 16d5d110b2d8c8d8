//! The developer portal's pages (`/developer/…`): sign-up, sign-in,
//! password change, the app list, one registration form per use case, each
//! app's status page (credentials once approved, scope change, ownership
//! transfer, test patients). Server-rendered, every value escaped, every
//! form CSRF-protected (double-submitted `flare_csrf` cookie); the only
//! script (`/developer/password-rule.js`) just shows the password rule live.

use maud::{html, Markup};
use serde_json::{json, Map, Value as Json};

use flare_core::datetime::format_instant;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{HttpRequest, HttpResponse};
use crate::pages::developer::{
    auth_label, change_password, issue_secret, new_credential, offer_transfer, owned_app, register_app,
    replace_keys, request_scope, session_developer, settle_transfer, sign_in, sign_up, use_case_label,
    visible_app, Refusal, DEV_SESSION_COOKIE, USE_CASES,
};
use crate::platform::Platform;
use crate::store::auth::{AuthMethod, ClientStatus, GrantType, UseCase};
use crate::store::developer::{self as store, CredentialKind, Developer};
use crate::store::{resources, Database};
use crate::web::components::{
    alert, hidden, notice, sign_in as sign_in_form, status_badge, Identity, Post, SignIn,
};
use crate::web::cookie::{cookie, set_cookie};
use crate::web::csrf::{check_csrf, csrf_token, with_csrf_cookie};
use crate::web::form::{field, form};
use crate::web::page::{html as page, html_with_scripts, see_other};
use crate::web::session::SESSION_TTL_MS;

/// The password-rule script.
pub const PASSWORD_RULE_JS: &str = include_str!("password-rule.js");

/// `GET /developer/password-rule.js`.
pub fn password_rule_js() -> HttpResponse {
    HttpResponse::new(200, "text/javascript; charset=utf-8", PASSWORD_RULE_JS)
        .with_header("cache-control", "public, max-age=3600")
        .with_header("x-content-type-options", "nosniff")
}

/// Every page error is an HTML error page.
fn as_page(mut e: ApiError) -> ApiError {
    e.body = ErrorBody::Page;
    e
}

/// One endpoint of the developer portal's pages: the router matches it in
/// its table ([`crate::router::routes::ROUTES`]) and hands it to [`route`]
/// with the path's `{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeveloperPage {
    /// `GET /developer/password-rule.js`: the password-rule script.
    PasswordRuleJs,
    /// `GET /developer`: the sign-in form, or the signed-in developer's apps.
    Home,
    /// `GET /developer/signup`: the sign-up form.
    SignUpForm,
    /// `GET /developer/password`: the password change form (signed in).
    PasswordForm,
    /// `GET /developer/apps/new[?use={use case}]`: a registration form (signed in).
    NewApp,
    /// `GET /developer/apps/{id}`: an app's status page (signed in).
    App,
    /// Any other `GET /developer/…`: 404 "no such page" (signed in first).
    NoSuchPage,
    /// `POST /developer/signup`: creates an account and signs it in.
    SignUp,
    /// `POST /developer/signin`.
    SignIn,
    /// `POST /developer/signout`.
    SignOut,
    /// `POST /developer/password`: changes the password (signed in).
    ChangePassword,
    /// `POST /developer/token`: a new API token, shown once (signed in).
    Token,
    /// `POST /developer/apps`: registers an app (signed in).
    Register,
    /// `POST /developer/apps/{id}/secret`: the client secret, shown once; rotates with `rotate=1`.
    AppSecret,
    /// `POST /developer/apps/{id}/keys`: replaces the public keys (JWKS URL or pasted JWKS).
    AppKeys,
    /// `POST /developer/apps/{id}/scope`: asks the practice for other scopes.
    AppScope,
    /// `POST /developer/apps/{id}/transfer`: offers the app to another developer.
    AppTransfer,
    /// `POST /developer/apps/{id}/transfer/accept`: takes an app offered to you.
    AcceptTransfer,
    /// `POST /developer/apps/{id}/transfer/cancel`: withdraws or declines an offer.
    CancelTransfer,
    /// Any other form `POST /developer/…`: 404 "no such form" (CSRF checked and signed in first).
    NoSuchForm,
    /// Any other method under `/developer`: 405.
    MethodNotAllowed,
}

/// Answers one developer portal page or form; `id` is the path's `{id}`
/// (empty where it has none). Every error is an HTML error page.
pub async fn route<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    endpoint: DeveloperPage,
    id: &str,
) -> ApiResult {
    use DeveloperPage as Pg;
    // What every page shares: a CSRF token (its cookie set on the pages shown),
    // the CSRF check of every form before anything else, and sign-in where the
    // page or form needs it.
    let answer: ApiResult = async {
        let (csrf, fresh) = csrf_token(&app.platform, req);
        let shown = match endpoint {
            Pg::PasswordRuleJs => return Ok(password_rule_js()),
            Pg::Home => match session_developer(app, req).await? {
                None => page(200, "Developer sign-in", signin_form(&csrf, "", None)),
                Some(dev) => dashboard(app, &dev, &csrf, None).await?,
            },
            Pg::SignUpForm => signup_page(200, &csrf, "", "", None),
            Pg::PasswordForm | Pg::NewApp | Pg::App | Pg::NoSuchPage => {
                let dev = signed_in(app, req).await?;
                match endpoint {
                    Pg::PasswordForm => password_page(200, &dev, &csrf, None),
                    Pg::NewApp => new_app_page(app, req, &dev, &csrf).await?,
                    Pg::App => app_page(app, &dev, id, &csrf, None).await?,
                    _ => return Err(ApiError::page(404, "no such page")),
                }
            }
            Pg::SignUp
            | Pg::SignIn
            | Pg::SignOut
            | Pg::ChangePassword
            | Pg::Token
            | Pg::Register
            | Pg::AppSecret
            | Pg::AppKeys
            | Pg::AppScope
            | Pg::AppTransfer
            | Pg::AcceptTransfer
            | Pg::CancelTransfer
            | Pg::NoSuchForm => {
                let pairs = form(req);
                check_csrf(req, &pairs)?;
                return post(app, req, endpoint, id, &pairs, &csrf).await;
            }
            Pg::MethodNotAllowed => return Err(ApiError::page(405, "this page takes GET or a form POST")),
        };
        Ok(with_csrf_cookie(shown, req, &csrf, fresh))
    }
    .await;
    answer.map_err(as_page)
}

/// `GET /developer/apps/new[?use={use case}]` (404 for an unknown use case).
async fn new_app_page<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    dev: &Developer,
    csrf: &str,
) -> ApiResult {
    let q = req.query_pairs();
    let use_case = q
        .iter()
        .find(|(k, _)| k == "use")
        .map_or("patient", |(_, v)| v.as_str());
    if UseCase::parse(use_case).is_none() {
        return Err(ApiError::page(404, "no such registration form"));
    }
    registration_page(app, 200, dev, csrf, use_case, &[], None).await
}

async fn signed_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
) -> Result<Developer, ApiError> {
    session_developer(app, req)
        .await?
        .ok_or_else(|| ApiError::page(401, "sign in to the developer portal first (/developer)"))
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    field(pairs, name).ok().flatten().unwrap_or_default()
}

async fn post<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    endpoint: DeveloperPage,
    id: &str,
    pairs: &[(String, String)],
    csrf: &str,
) -> ApiResult {
    match endpoint {
        DeveloperPage::SignUp => {
            let (email, name) = (get(pairs, "email"), get(pairs, "name"));
            match sign_up(app, email, name, get(pairs, "password")).await? {
                Ok(dev) => {
                    let session = new_credential(app, &dev.developer_id, CredentialKind::Session).await?;
                    Ok(see_other("/developer").with_header("set-cookie", &session_cookie(req, &session)))
                }
                Err(r) => Ok(signup_page(r.status(), csrf, email, name, Some(&r.message()))),
            }
        }
        DeveloperPage::SignIn => {
            let email = get(pairs, "email");
            match sign_in(app, req, email, get(pairs, "password")).await? {
                Ok(dev) => {
                    let session = new_credential(app, &dev.developer_id, CredentialKind::Session).await?;
                    Ok(see_other("/developer").with_header("set-cookie", &session_cookie(req, &session)))
                }
                Err(r) => {
                    let shown = page(
                        r.status(),
                        "Developer sign-in",
                        signin_form(csrf, email, Some(&r.message())),
                    );
                    Ok(match r {
                        Refusal::Throttled(s) => shown.with_header("retry-after", &s.to_string()),
                        _ => shown,
                    })
                }
            }
        }
        DeveloperPage::SignOut => {
            if let Some(s) = cookie(req, DEV_SESSION_COOKIE) {
                store::end_credential(app.auth_db(), &sha256_b64(s), app.platform.now_ms()).await?;
            }
            Ok(
                see_other("/developer")
                    .with_header("set-cookie", &set_cookie(req, DEV_SESSION_COOKIE, "", 0)),
            )
        }
        _ => {
            let dev = signed_in(app, req).await?;
            post_signed_in(app, req, endpoint, id, pairs, csrf, &dev).await
        }
    }
}

async fn post_signed_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    endpoint: DeveloperPage,
    id: &str,
    pairs: &[(String, String)],
    csrf: &str,
    dev: &Developer,
) -> ApiResult {
    match endpoint {
        DeveloperPage::ChangePassword => {
            let keep = cookie(req, DEV_SESSION_COOKIE)
                .map(sha256_b64)
                .unwrap_or_default();
            match change_password(app, req, dev, get(pairs, "current_password"), get(pairs, "new_password"), &keep).await? {
                Ok(()) => Ok(password_page(200, dev, csrf, Some(Ok("Your password was changed. Other sessions and API tokens of your account were signed out.")))),
                Err(r) => Ok(password_page(r.status(), dev, csrf, Some(Err(&r.message())))),
            }
        }
        DeveloperPage::Token => {
            let token = new_credential(app, &dev.developer_id, CredentialKind::Api).await?;
            let body = html! {
                (nav(dev, csrf))
                h1 { "Your new API token" }
                p class="secret" role="status" { "API token: " code id="api-token" { (token) } }
                p {
                    "Copy it now: it is shown only this once. Use it as " code { "Authorization: Bearer …" } " for "
                    code { "POST /register" } " and " code { "/developer/api/…" } " (see the README); it lasts 90 days."
                }
                p { a href="/developer" { "Back to your apps" } }
            };
            Ok(page(200, "API token", body))
        }
        DeveloperPage::Register => {
            let use_case = get(pairs, "use_case");
            if UseCase::parse(use_case).is_none() {
                return Err(ApiError::page(400, "unknown use case"));
            }
            let result = match metadata_from_form(use_case, pairs) {
                Ok(meta) => register_app(app, dev, &meta).await,
                Err(message) => Err(ApiError::bad_request(message)),
            };
            match result {
                Ok(client) => Ok(see_other(&format!("/developer/apps/{}", client.client_id))),
                Err(e) if e.status < 500 => {
                    registration_page(app, e.status, dev, csrf, use_case, pairs, Some(&e.message)).await
                }
                Err(e) => Err(e),
            }
        }
        DeveloperPage::AppSecret => {
            let client = owned_app(app, dev, id).await?;
            let rotate = get(pairs, "rotate") == "1";
            match issue_secret(app, &client, rotate).await {
                Ok(secret) => {
                    let body = html! {
                        (nav(dev, csrf))
                        h1 { "Client secret of " (client.name) }
                        p class="secret" role="status" {
                            "Client ID: " code id="client-id" { (client.client_id) } br;
                            "Client secret: " code id="client-secret" { (secret) }
                        }
                        p {
                            "Copy the secret now: it is shown only this once."
                            @if rotate { " The previous secret no longer works." }
                            " Your app sends both with HTTP Basic authentication to the token endpoint."
                        }
                        p { a href={ "/developer/apps/" (client.client_id) } { "Back to the app" } }
                    };
                    Ok(page(200, "Client secret", body))
                }
                Err(e) => app_page_refused(app, dev, id, csrf, e).await,
            }
        }
        DeveloperPage::AppKeys => {
            let client = owned_app(app, dev, id).await?;
            let (uri, pasted) = (get(pairs, "jwks_uri").trim(), get(pairs, "jwks").trim());
            let result = match (uri.is_empty(), pasted.is_empty()) {
                (false, true) => replace_keys(app, &client, None, Some(uri)).await,
                (true, false) => match serde_json::from_str::<Json>(pasted) {
                    Ok(set) => replace_keys(app, &client, Some(&set), None).await,
                    Err(_) => Err(ApiError::bad_request("the pasted JWKS is not JSON")),
                },
                _ => Err(ApiError::bad_request("give either a JWKS URL or a pasted JWKS")),
            };
            match result {
                Ok(()) => Ok(see_other(&format!("/developer/apps/{id}"))),
                Err(e) => app_page_refused(app, dev, id, csrf, e).await,
            }
        }
        DeveloperPage::AppScope => {
            let client = owned_app(app, dev, id).await?;
            let mut scope = get(pairs, "scope").to_string();
            if get(pairs, "offline_access") == "1" && !scope.split_whitespace().any(|s| s == "offline_access")
            {
                scope.push_str(" offline_access");
            }
            match request_scope(app, &client, &scope).await {
                Ok(_) => Ok(see_other(&format!("/developer/apps/{id}"))),
                Err(e) => app_page_refused(app, dev, id, csrf, e).await,
            }
        }
        DeveloperPage::AppTransfer => {
            let client = owned_app(app, dev, id).await?;
            match offer_transfer(app, dev, &client, get(pairs, "to")).await {
                Ok(_) => Ok(see_other(&format!("/developer/apps/{id}"))),
                Err(e) => app_page_refused(app, dev, id, csrf, e).await,
            }
        }
        DeveloperPage::AcceptTransfer | DeveloperPage::CancelTransfer => {
            settle_transfer(app, dev, id, endpoint == DeveloperPage::AcceptTransfer).await?;
            // The owner (or new owner) goes back to the app; a recipient who
            // declined goes back to their list.
            Ok(match visible_app(app, dev, id).await {
                Ok(_) => see_other(&format!("/developer/apps/{id}")),
                Err(_) => see_other("/developer"),
            })
        }
        _ => Err(ApiError::page(404, "no such form")),
    }
}

/// A refused form on an app's page: the page again with the reason and the
/// refusal's status (a server failure stays an error).
async fn app_page_refused<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    id: &str,
    csrf: &str,
    e: ApiError,
) -> ApiResult {
    if e.status >= 500 {
        return Err(e);
    }
    app_page(app, dev, id, csrf, Some(&e.message))
        .await
        .map(|p| p.with_status(e.status))
}

trait WithStatus {
    fn with_status(self, status: u16) -> Self;
}

impl WithStatus for HttpResponse {
    fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

fn session_cookie(req: &HttpRequest, session: &str) -> String {
    set_cookie(req, DEV_SESSION_COOKIE, session, SESSION_TTL_MS / 1000)
}

fn nav(dev: &Developer, csrf: &str) -> Markup {
    html! {
        nav aria-label="Developer portal" {
            strong { "Flare developer portal" }
            a href="/developer" { "Your apps" }
            a href="/developer/password" { "Change password" }
            span class="muted" { "Signed in as " (dev.display_name) }
            (Post::to("/developer/signout", csrf).inline().form(html! {
                button type="submit" class="secondary" { "Sign out" }
            }))
        }
    }
}

fn signin_form(csrf: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Developer portal" }
        p class="muted" { "Register apps that use a practice's FHIR API, follow their review and get their credentials." }
        (sign_in_form(&SignIn {
            action: "/developer/signin",
            csrf,
            request: None,
            identity: Identity::Email(email),
            error,
        }))
        p { "New here? " a href="/developer/signup" { "Create a developer account" } "." }
    }
}

/// The password rule as a list the script ticks off.
fn password_rule(list_id: &str) -> Markup {
    let items = [
        ("length", "at least 8 characters"),
        ("upper", "an upper-case letter"),
        ("lower", "a lower-case letter"),
        ("digit", "a digit"),
        ("symbol", "a symbol (such as ! - # or %)"),
    ];
    html! {
        p class="muted" id={ (list_id) "-intro" } { "The password needs:" }
        ul class="rule" id=(list_id) aria-live="polite" {
            @for (k, t) in items {
                li data-check=(k) { (t) span class="state" {} }
            }
        }
    }
}

/// The page's one script: it ticks off the password rule as the user types.
fn password_rule_script() -> Markup {
    html! { script src="/developer/password-rule.js" defer {} }
}

fn signup_page(status: u16, csrf: &str, email: &str, name: &str, error: Option<&str>) -> HttpResponse {
    let body = html! {
        h1 { "Create a developer account" }
        (alert(error))
        (Post::to("/developer/signup", csrf).form(html! {
            label for="email" { "E-mail address" }
            input type="email" id="email" name="email" value=(email) autocomplete="username" required;
            label for="name" { "Display name" }
            input type="text" id="name" name="name" value=(name) autocomplete="name" required;
            label for="password" { "Password" }
            input type="password" id="password" name="password" autocomplete="new-password"
                data-password-rule="password-rule" aria-describedby="password-rule-intro password-rule" required;
            (password_rule("password-rule"))
            button type="submit" { "Create account" }
        }))
        p { "Have an account? " a href="/developer" { "Sign in" } "." }
        (password_rule_script())
    };
    html_with_scripts(status, "Create a developer account", body)
}

fn password_page(
    status: u16,
    dev: &Developer,
    csrf: &str,
    outcome: Option<Result<&str, &str>>,
) -> HttpResponse {
    let body = html! {
        (nav(dev, csrf))
        h1 { "Change your password" }
        @match outcome {
            Some(Ok(m)) => (notice(m)),
            Some(Err(e)) => (alert(Some(e))),
            None => {},
        }
        (Post::to("/developer/password", csrf).form(html! {
            label for="current_password" { "Current password" }
            input type="password" id="current_password" name="current_password" autocomplete="current-password" required;
            label for="new_password" { "New password" }
            input type="password" id="new_password" name="new_password" autocomplete="new-password"
                data-password-rule="new-password-rule" aria-describedby="new-password-rule-intro new-password-rule" required;
            (password_rule("new-password-rule"))
            button type="submit" { "Change password" }
        }))
        (password_rule_script())
    };
    html_with_scripts(status, "Change your password", body)
}

async fn dashboard<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    csrf: &str,
    error: Option<&str>,
) -> ApiResult {
    let db = app.auth_db();
    let (owned, offered) = store::developer_client_ids(db, &dev.developer_id).await?;
    let mut apps = Vec::new();
    for id in &owned {
        let c = owned_app(app, dev, id).await?;
        let notes = [
            c.pending_scope.as_ref().map(|_| "scope change pending review"),
            c.transfer_to.as_ref().map(|_| "transfer offered"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        apps.push((c, notes));
    }
    let mut offers = Vec::new();
    for id in &offered {
        let c = visible_app(app, dev, id).await?;
        let from = match &c.owner_developer {
            Some(o) => store::developer(db, o)
                .await?
                .map(|d| d.email)
                .unwrap_or_default(),
            None => String::new(),
        };
        offers.push((c, from));
    }
    let body = html! {
        (nav(dev, csrf))
        h1 { "Your apps" }
        (alert(error))
        @if apps.is_empty() {
            p { "You have not registered an app yet." }
        } @else {
            table {
                caption class="muted" { "Your apps" }
                thead { tr { th { "App" } th { "Practice" } th { "Use case" } th { "Status" } th { "Notes" } } }
                tbody {
                    @for (c, notes) in &apps {
                        tr {
                            td { a href={ "/developer/apps/" (c.client_id) } { (c.name) } }
                            td { (c.practice) }
                            td { (use_case_label(c.metadata.get("use_case").and_then(Json::as_str).unwrap_or(""))) }
                            td { (status_badge(c.status)) }
                            td { (notes) }
                        }
                    }
                }
            }
        }
        @if !offers.is_empty() {
            h2 { "Apps offered to you" }
            table {
                thead { tr { th { "App" } th { "Practice" } th { "From" } th {} } }
                tbody {
                    @for (c, from) in &offers {
                        tr {
                            td { (c.name) }
                            td { (c.practice) }
                            td { (from) }
                            td {
                                (Post::to(&format!("/developer/apps/{}/transfer/accept", c.client_id), csrf).inline().form(html! {
                                    button type="submit" aria-label={ "Accept " (c.name) } { "Accept" }
                                }))
                                (Post::to(&format!("/developer/apps/{}/transfer/cancel", c.client_id), csrf).inline().form(html! {
                                    button type="submit" class="secondary" aria-label={ "Decline " (c.name) } { "Decline" }
                                }))
                            }
                        }
                    }
                }
            }
        }
        h2 { "Register an app" }
        ul {
            @for (k, label) in USE_CASES {
                li { a href={ "/developer/apps/new?use=" (k) } { "Register a " (label.to_lowercase()) } }
            }
        }
        h2 { "API access" }
        p { "Everything here is also available as JSON (see the README). Create an API token to call it:" }
        (Post::to("/developer/token", csrf).form(html! {
            button type="submit" class="secondary" { "Create an API token" }
        }))
    };
    Ok(page(200, "Your apps", body))
}

/// Default scopes of each use case.
fn default_scope(use_case: &str) -> &'static str {
    match use_case {
        "provider" => "openid fhirUser launch user/*.rs",
        "backend" => "system/*.rs",
        _ => "openid fhirUser launch/patient patient/*.rs",
    }
}

/// Turns the registration form into RFC 7591 metadata (plus `practice`,
/// `practice_pin` and `use_case`); all checks are `register_app`'s, except
/// that a pasted JWKS must be JSON.
pub fn metadata_from_form(use_case: &str, pairs: &[(String, String)]) -> Result<Json, String> {
    let v = |k: &str| get(pairs, k).trim().to_string();
    let mut m = Map::new();
    m.insert("use_case".into(), json!(use_case));
    for (k, name) in [
        ("client_name", "client_name"),
        ("practice", "practice"),
        ("practice_pin", "practice_pin"),
    ] {
        if !v(k).is_empty() {
            m.insert(name.into(), json!(v(k)));
        }
    }
    let backend = use_case == "backend";
    let auth = if backend {
        "private_key_jwt".to_string()
    } else {
        v("token_endpoint_auth_method")
    };
    m.insert("token_endpoint_auth_method".into(), json!(auth));
    if auth == "private_key_jwt" {
        let (uri, pasted) = (v("jwks_uri"), v("jwks"));
        match (uri.is_empty(), pasted.is_empty()) {
            (false, true) => {
                m.insert("jwks_uri".into(), json!(uri));
            }
            (true, false) => {
                let set: Json =
                    serde_json::from_str(&pasted).map_err(|e| format!("The pasted JWKS is not JSON: {e}"))?;
                m.insert("jwks".into(), set);
            }
            (false, false) => return Err("Give either a JWKS URL or a pasted JWKS, not both.".into()),
            (true, true) => {
                return Err("Private key JWT needs your public keys: a JWKS URL or a pasted JWKS.".into())
            }
        }
    }
    let mut scopes: Vec<String> = v("scope")
        .split_whitespace()
        .filter(|s| *s != "offline_access")
        .map(str::to_string)
        .collect();
    if backend {
        m.insert("grant_types".into(), json!(["client_credentials"]));
    } else {
        m.insert(
            "grant_types".into(),
            json!(["authorization_code", "refresh_token"]),
        );
        let uris: Vec<String> = v("redirect_uris")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        m.insert("redirect_uris".into(), json!(uris));
        if !v("launch_uri").is_empty() {
            m.insert("launch_uri".into(), json!(v("launch_uri")));
        }
        if v("offline_access") == "1" {
            scopes.push("offline_access".into());
        }
    }
    m.insert("scope".into(), json!(scopes.join(" ")));
    Ok(Json::Object(m))
}

async fn registration_page<D: Database, P: Platform>(
    app: &App<D, P>,
    status: u16,
    dev: &Developer,
    csrf: &str,
    use_case: &str,
    pairs: &[(String, String)],
    error: Option<&str>,
) -> ApiResult {
    let submitted = !pairs.is_empty();
    let v = |k: &str| get(pairs, k).to_string();
    let mut practices = Vec::new();
    for db in app.shards.all() {
        practices.extend(resources::list_practices(db).await?);
    }
    let chosen = v("practice");
    let backend = use_case == "backend";
    let auth = if submitted {
        v("token_endpoint_auth_method")
    } else {
        "none".into()
    };
    let auth_methods = [
        (
            "none",
            "Public app (no secret: runs in a browser or on a phone; uses PKCE)",
        ),
        (
            "client_secret_basic",
            "Client secret (a confidential server-side app)",
        ),
        (
            "private_key_jwt",
            "Private key JWT (signs assertions with your key)",
        ),
    ];
    let scope = if submitted {
        v("scope")
    } else {
        default_scope(use_case).to_string()
    };
    let body = html! {
        (nav(dev, csrf))
        h1 { "Register a " (use_case_label(use_case).to_lowercase()) }
        (alert(error))
        (Post::to("/developer/apps", csrf).form(html! {
            (hidden("use_case", use_case))
            label for="client_name" { "Application name" }
            input type="text" id="client_name" name="client_name" value=(v("client_name")) required maxlength="120";
            label for="practice" { "Practice" }
            select id="practice" name="practice" required {
                @for p in &practices {
                    option value=(p.key) selected[p.key == chosen] { (p.name) " (" (p.key) ")" }
                }
            }
            label for="practice_pin" { "The practice's PIN" }
            input type="text" id="practice_pin" name="practice_pin" value=(v("practice_pin")) autocomplete="off" required
                aria-describedby="pin-help";
            p class="muted" id="pin-help" { "Each practice gives its PIN to the developers it works with." }
            @if backend {
                p { strong { "Client authentication:" } " private key JWT (backend services always sign their requests)." }
            } @else {
                fieldset {
                    legend { "Client authentication" }
                    @for (value, label) in auth_methods {
                        label class="scope" {
                            input type="radio" name="token_endpoint_auth_method" value=(value) checked[auth == value];
                            " " (label)
                        }
                    }
                }
            }
            fieldset {
                legend { "Public keys (private key JWT only)" }
                label for="jwks_uri" { "JWKS URL" }
                input type="url" id="jwks_uri" name="jwks_uri" value=(v("jwks_uri")) placeholder="https://app.example/.well-known/jwks.json";
                label for="jwks" { "or paste your JWKS" }
                textarea id="jwks" name="jwks" rows="5" spellcheck="false" { (v("jwks")) }
                p class="muted" { "RSA or P-384 EC public keys with a " code { "kid" } "; checked when you submit." }
            }
            @if !backend {
                label for="redirect_uris" { "Redirect URIs (one per line)" }
                textarea id="redirect_uris" name="redirect_uris" rows="3" required spellcheck="false" { (v("redirect_uris")) }
                label for="launch_uri" { "Launch URI (for EHR launch; optional)" }
                input type="url" id="launch_uri" name="launch_uri" value=(v("launch_uri"));
            }
            label for="scope" { "Requested scopes (space-separated)" }
            input type="text" id="scope" name="scope" value=(scope) required spellcheck="false";
            @if !backend {
                label class="scope" {
                    input type="checkbox" name="offline_access" value="1" checked[v("offline_access") == "1"];
                    " Offline access (a refresh token that outlives the sign-in)"
                }
            }
            button type="submit" { "Submit for review" }
        }))
    };
    Ok(page(status, "Register an app", body))
}

/// Values as a list of `<code>` (or a muted "none").
fn list(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() {
            span class="muted" { "none" }
        } @else {
            ul { @for i in items { li { code { (i) } } } }
        }
    }
}

async fn app_page<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    id: &str,
    csrf: &str,
    error: Option<&str>,
) -> ApiResult {
    let c = visible_app(app, dev, id).await?;
    let db = app.auth_db();
    let mine = c.owner_developer.as_deref() == Some(dev.developer_id.as_str());
    let action = |path: &str| format!("/developer/apps/{}/{path}", c.client_id);
    let approved = c.status == ClientStatus::Approved;
    let patients = if approved {
        Some(store::test_patients(db, &c.practice).await?)
    } else {
        None
    };
    let transfer_email = match (&c.transfer_to, mine) {
        (Some(to), true) => Some(
            store::developer(db, to)
                .await?
                .map(|d| d.email)
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let body = html! {
        (nav(dev, csrf))
        h1 { (c.name) " " (status_badge(c.status)) }
        (alert(error))
        @match (c.status.as_str(), &c.status_reason) {
            ("rejected" | "disabled", Some(r)) => p { strong { "Reason:" } " " (r) },
            ("pending", _) => p { "The practice reviews your registration. Its credentials work once it is approved." },
            _ => {},
        }
        dl {
            dt { "Client ID" } dd { code id="client-id" { (c.client_id) } }
            dt { "Practice" } dd { (c.practice) }
            dt { "Use case" } dd { (use_case_label(c.metadata.get("use_case").and_then(Json::as_str).unwrap_or(""))) }
            dt { "Client authentication" } dd { (auth_label(c.auth_method)) }
            @match (&c.jwks_uri, &c.jwks) {
                (Some(u), _) => { dt { "JWKS URL" } dd { code { (u) } } },
                (None, Some(j)) => {
                    dt { "Keys" }
                    dd { (j.get("keys").and_then(Json::as_array).map_or(0, Vec::len)) " pasted key(s)" }
                },
                _ => {},
            }
            dt { "Redirect URIs" } dd { (list(&c.redirect_uris)) }
            dt { "Launch URI" }
            dd {
                @match &c.launch_uri {
                    Some(u) => code { (u) },
                    None => span class="muted" { "none" },
                }
            }
            dt { "Scopes" } dd { code id="scope" class="scopes" { (c.scope) } }
            @if let Some(s) = &c.pending_scope {
                dt { "Requested scope change (pending review)" }
                dd { code id="pending-scope" class="scopes" { (s) } }
            }
            @if let Some(r) = &c.scope_change_reason {
                dt { "Last scope change" } dd { "Rejected: " (r) }
            }
            dt { "Registered" } dd { (format_instant(c.created_at)) }
        }
        @if approved && mine && c.auth_method == AuthMethod::ClientSecretBasic {
            h2 { "Client secret" }
            @match c.secret_issued_at {
                None => {
                    p { "Your app is approved. Get its client secret: it is shown once." }
                    (Post::to(&action("secret"), csrf).form(html! {
                        button type="submit" { "Show the client secret" }
                    }))
                },
                Some(at) => {
                    p {
                        "The client secret was shown on " (format_instant(at)) "; it is not shown again. "
                        "Rotating it gives a new one (shown once) and the old one stops working."
                    }
                    (Post::to(&action("secret"), csrf).form(html! {
                        (hidden("rotate", "1"))
                        button type="submit" class="secondary" { "Rotate the client secret" }
                    }))
                },
            }
        }
        @if mine && c.auth_method == AuthMethod::PrivateKeyJwt && c.status != ClientStatus::Rejected {
            h2 { "Public keys" }
            @if c.jwks.is_none() && c.jwks_uri.is_none() {
                p class="error" role="alert" {
                    "This app has no public keys (they are cleared when an app changes owner): "
                    "register yours; until then the token endpoint refuses its assertions."
                }
            }
            p class="muted" { "Replacing the keys takes effect at once: assertions signed with other keys stop working." }
            (Post::to(&action("keys"), csrf).form(html! {
                label for="new_jwks_uri" { "JWKS URL" }
                input type="url" id="new_jwks_uri" name="jwks_uri" placeholder="https://app.example/.well-known/jwks.json";
                label for="new_jwks" { "or paste your JWKS" }
                textarea id="new_jwks" name="jwks" rows="4" spellcheck="false" {}
                button type="submit" class="secondary" { "Replace the public keys" }
            }))
        }
        @if approved && mine {
            @let backend = c.grant_types.contains(&GrantType::ClientCredentials);
            @let current = c.scope.split(' ').filter(|s| *s != "offline_access").collect::<Vec<_>>().join(" ");
            h2 { "Change scopes" }
            p class="muted" { "The practice reviews the change; until it approves, the current scopes keep working." }
            (Post::to(&action("scope"), csrf).form(html! {
                label for="new_scope" { "Scopes (space-separated)" }
                input type="text" id="new_scope" name="scope" value=(current) required spellcheck="false";
                @if !backend {
                    label class="scope" {
                        input type="checkbox" name="offline_access" value="1"
                            checked[c.scope.split(' ').any(|s| s == "offline_access")];
                        " Offline access (refresh tokens)"
                    }
                }
                button type="submit" { "Request scope change" }
            }))
        }
        @if let Some(list) = &patients {
            h2 { "Test patients" }
            @if list.is_empty() {
                p { "The practice has no test patients yet." }
            } @else {
                p class="muted" {
                    "Sign in with these names to try your app (the demo data's password is in the operator's run banner)."
                }
                table id="test-patients" {
                    thead { tr { th { "Sign-in name" } th { "Name" } th { "Record" } } }
                    tbody {
                        @for (u, n, f) in list {
                            tr { td { code { (u) } } td { (n.as_deref().unwrap_or("")) } td { code { (f) } } }
                        }
                    }
                }
            }
        }
        h2 { "Ownership transfer" }
        @match (&transfer_email, mine) {
            (Some(email), true) => {
                p { "Waiting for " strong { (email) } " to accept this app." }
                (Post::to(&action("transfer/cancel"), csrf).form(html! {
                    button type="submit" class="secondary" { "Cancel the transfer" }
                }))
            },
            (None, true) => {
                p class="muted" {
                    "Hand this app to another developer account; it moves once they accept, and then the credentials "
                    "you hold stop working (they are shown a new client secret, or register their own keys)."
                }
                (Post::to(&action("transfer"), csrf).form(html! {
                    label for="to" { "The other developer's e-mail address" }
                    input type="email" id="to" name="to" required;
                    button type="submit" class="secondary" { "Offer the transfer" }
                }))
            },
            (_, false) => {
                p { "This app is offered to you." }
                (Post::to(&action("transfer/accept"), csrf).inline().form(html! {
                    button type="submit" { "Accept" }
                }))
                (Post::to(&action("transfer/cancel"), csrf).inline().form(html! {
                    button type="submit" class="secondary" { "Decline" }
                }))
            },
        }
    };
    Ok(page(200, &c.name, body))
}

//! The developer portal's pages (`/developer/…`): sign-up, sign-in,
//! password change, the app list, one registration form per use case, each
//! app's status page (credentials once approved, scope change, ownership
//! transfer, test patients). Server-rendered, every value escaped, every
//! form CSRF-protected (double-submitted `flare_csrf` cookie); the only
//! script (`/developer/password-rule.js`) just shows the password rule live.

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
use crate::web::cookie::{cookie, set_cookie};
use crate::web::csrf::{check_csrf, csrf_token, with_csrf_cookie};
use crate::web::form::{field, form};
use crate::web::page::{alert, attr, esc, hidden, html, html_with_scripts, see_other};
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

/// Routes `/developer…` (pages).
pub async fn route<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, rest: &[&str]) -> ApiResult {
    handle(app, req, rest).await.map_err(as_page)
}

async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, rest: &[&str]) -> ApiResult {
    let (csrf, fresh) = csrf_token(&app.platform, req);
    let page = match (req.method.as_str(), rest) {
        ("GET", ["password-rule.js"]) => return Ok(password_rule_js()),
        ("GET", []) => match session_developer(app, req).await? {
            None => html(200, "Developer sign-in", &signin_form(&csrf, "", None)),
            Some(dev) => dashboard(app, &dev, &csrf, None).await?,
        },
        ("GET", ["signup"]) => signup_page(200, &csrf, "", "", None),
        ("GET", [..]) => {
            let dev = signed_in(app, req).await?;
            match rest {
                ["password"] => password_page(200, &dev, &csrf, None),
                ["apps", "new"] => {
                    let q = req.query_pairs();
                    let use_case = q
                        .iter()
                        .find(|(k, _)| k == "use")
                        .map_or("patient", |(_, v)| v.as_str());
                    if UseCase::parse(use_case).is_none() {
                        return Err(ApiError::page(404, "no such registration form"));
                    }
                    registration_page(app, 200, &dev, &csrf, use_case, &[], None).await?
                }
                ["apps", id] => app_page(app, &dev, id, &csrf, None).await?,
                _ => return Err(ApiError::page(404, "no such page")),
            }
        }
        ("POST", _) => {
            let pairs = form(req);
            check_csrf(req, &pairs)?;
            return post(app, req, rest, &pairs, &csrf).await;
        }
        _ => return Err(ApiError::page(405, "this page takes GET or a form POST")),
    };
    Ok(with_csrf_cookie(page, req, &csrf, fresh))
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
    rest: &[&str],
    pairs: &[(String, String)],
    csrf: &str,
) -> ApiResult {
    match rest {
        ["signup"] => {
            let (email, name) = (get(pairs, "email"), get(pairs, "name"));
            match sign_up(app, email, name, get(pairs, "password")).await? {
                Ok(dev) => {
                    let session = new_credential(app, &dev.developer_id, CredentialKind::Session).await?;
                    Ok(see_other("/developer").with_header("set-cookie", &session_cookie(req, &session)))
                }
                Err(r) => Ok(signup_page(r.status(), csrf, email, name, Some(&r.message()))),
            }
        }
        ["signin"] => {
            let email = get(pairs, "email");
            match sign_in(app, req, email, get(pairs, "password")).await? {
                Ok(dev) => {
                    let session = new_credential(app, &dev.developer_id, CredentialKind::Session).await?;
                    Ok(see_other("/developer").with_header("set-cookie", &session_cookie(req, &session)))
                }
                Err(r) => {
                    let page = html(
                        r.status(),
                        "Developer sign-in",
                        &signin_form(csrf, email, Some(&r.message())),
                    );
                    Ok(match r {
                        Refusal::Throttled(s) => page.with_header("retry-after", &s.to_string()),
                        _ => page,
                    })
                }
            }
        }
        ["signout"] => {
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
            post_signed_in(app, req, rest, pairs, csrf, &dev).await
        }
    }
}

async fn post_signed_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    rest: &[&str],
    pairs: &[(String, String)],
    csrf: &str,
    dev: &Developer,
) -> ApiResult {
    match rest {
        ["password"] => {
            let keep = cookie(req, DEV_SESSION_COOKIE)
                .map(sha256_b64)
                .unwrap_or_default();
            match change_password(app, req, dev, get(pairs, "current_password"), get(pairs, "new_password"), &keep).await? {
                Ok(()) => Ok(password_page(200, dev, csrf, Some(Ok("Your password was changed. Other sessions and API tokens of your account were signed out.")))),
                Err(r) => Ok(password_page(r.status(), dev, csrf, Some(Err(&r.message())))),
            }
        }
        ["token"] => {
            let token = new_credential(app, &dev.developer_id, CredentialKind::Api).await?;
            let body = format!(
                "{}<h1>Your new API token</h1><p class=\"secret\" role=\"status\">API token: <code id=\"api-token\">{}</code></p>\
                 <p>Copy it now: it is shown only this once. Use it as <code>Authorization: Bearer …</code> for \
                 <code>POST /register</code> and <code>/developer/api/…</code> (see the README); it lasts 90 days.</p>\
                 <p><a href=\"/developer\">Back to your apps</a></p>",
                nav(dev, csrf),
                esc(&token)
            );
            Ok(html(200, "API token", &body))
        }
        ["apps"] => {
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
        ["apps", id, "secret"] => {
            let client = owned_app(app, dev, id).await?;
            let rotate = get(pairs, "rotate") == "1";
            match issue_secret(app, &client, rotate).await {
                Ok(secret) => {
                    let body = format!(
                        "{}<h1>Client secret of {}</h1><p class=\"secret\" role=\"status\">Client ID: <code id=\"client-id\">{}</code><br>\
                         Client secret: <code id=\"client-secret\">{}</code></p>\
                         <p>Copy the secret now: it is shown only this once.{} Your app sends both with HTTP Basic \
                         authentication to the token endpoint.</p><p><a href=\"/developer/apps/{}\">Back to the app</a></p>",
                        nav(dev, csrf),
                        esc(&client.name),
                        esc(&client.client_id),
                        esc(&secret),
                        if rotate { " The previous secret no longer works." } else { "" },
                        attr(&client.client_id)
                    );
                    Ok(html(200, "Client secret", &body))
                }
                Err(e) if e.status < 500 => app_page(app, dev, id, csrf, Some(&e.message))
                    .await
                    .map(|p| p.with_status(e.status)),
                Err(e) => Err(e),
            }
        }
        ["apps", id, "keys"] => {
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
                Err(e) if e.status < 500 => app_page(app, dev, id, csrf, Some(&e.message))
                    .await
                    .map(|p| p.with_status(e.status)),
                Err(e) => Err(e),
            }
        }
        ["apps", id, "scope"] => {
            let client = owned_app(app, dev, id).await?;
            let mut scope = get(pairs, "scope").to_string();
            if get(pairs, "offline_access") == "1" && !scope.split_whitespace().any(|s| s == "offline_access")
            {
                scope.push_str(" offline_access");
            }
            match request_scope(app, &client, &scope).await {
                Ok(_) => Ok(see_other(&format!("/developer/apps/{id}"))),
                Err(e) if e.status < 500 => app_page(app, dev, id, csrf, Some(&e.message))
                    .await
                    .map(|p| p.with_status(e.status)),
                Err(e) => Err(e),
            }
        }
        ["apps", id, "transfer"] => {
            let client = owned_app(app, dev, id).await?;
            match offer_transfer(app, dev, &client, get(pairs, "to")).await {
                Ok(_) => Ok(see_other(&format!("/developer/apps/{id}"))),
                Err(e) if e.status < 500 => app_page(app, dev, id, csrf, Some(&e.message))
                    .await
                    .map(|p| p.with_status(e.status)),
                Err(e) => Err(e),
            }
        }
        ["apps", id, "transfer", decision @ ("accept" | "cancel")] => {
            settle_transfer(app, dev, id, *decision == "accept").await?;
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

fn nav(dev: &Developer, csrf: &str) -> String {
    format!(
        "<nav aria-label=\"Developer portal\"><strong>Flare developer portal</strong><a href=\"/developer\">Your apps</a>\
         <a href=\"/developer/password\">Change password</a><span class=\"muted\">Signed in as {}</span>\
         <form method=\"post\" action=\"/developer/signout\" class=\"inline\">{}<button type=\"submit\" class=\"secondary\">Sign out</button></form></nav>",
        esc(&dev.display_name),
        hidden("csrf", csrf)
    )
}

fn signin_form(csrf: &str, email: &str, error: Option<&str>) -> String {
    format!(
        "<h1>Developer portal</h1><p class=\"muted\">Register apps that use a practice's FHIR API, follow their review and get their credentials.</p>{}\
         <form method=\"post\" action=\"/developer/signin\">{}\
         <label for=\"email\">E-mail address</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>\
         <p>New here? <a href=\"/developer/signup\">Create a developer account</a>.</p>",
        alert(error),
        hidden("csrf", csrf),
        attr(email)
    )
}

/// The password rule as a list the script ticks off.
fn password_rule(list_id: &str) -> String {
    let items = [
        ("length", "at least 8 characters"),
        ("upper", "an upper-case letter"),
        ("lower", "a lower-case letter"),
        ("digit", "a digit"),
        ("symbol", "a symbol (such as ! - # or %)"),
    ];
    let lis: String = items
        .iter()
        .map(|(k, t)| format!("<li data-check=\"{k}\">{t}<span class=\"state\"></span></li>"))
        .collect();
    format!("<p class=\"muted\" id=\"{list_id}-intro\">The password needs:</p><ul class=\"rule\" id=\"{list_id}\" aria-live=\"polite\">{lis}</ul>")
}

fn signup_page(status: u16, csrf: &str, email: &str, name: &str, error: Option<&str>) -> HttpResponse {
    let body = format!(
        "<h1>Create a developer account</h1>{}\
         <form method=\"post\" action=\"/developer/signup\">{}\
         <label for=\"email\">E-mail address</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" autocomplete=\"username\" required>\
         <label for=\"name\">Display name</label><input type=\"text\" id=\"name\" name=\"name\" value=\"{}\" autocomplete=\"name\" required>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" \
         data-password-rule=\"password-rule\" aria-describedby=\"password-rule-intro password-rule\" required>{}\
         <button type=\"submit\">Create account</button></form>\
         <p>Have an account? <a href=\"/developer\">Sign in</a>.</p>\
         <script src=\"/developer/password-rule.js\" defer></script>",
        alert(error),
        hidden("csrf", csrf),
        attr(email),
        attr(name),
        password_rule("password-rule")
    );
    html_with_scripts(status, "Create a developer account", &body)
}

fn password_page(
    status: u16,
    dev: &Developer,
    csrf: &str,
    outcome: Option<Result<&str, &str>>,
) -> HttpResponse {
    let message = match outcome {
        Some(Ok(m)) => format!("<p class=\"secret\" role=\"status\">{}</p>", esc(m)),
        Some(Err(e)) => alert(Some(e)),
        None => String::new(),
    };
    let body = format!(
        "{}<h1>Change your password</h1>{message}\
         <form method=\"post\" action=\"/developer/password\">{}\
         <label for=\"current_password\">Current password</label><input type=\"password\" id=\"current_password\" name=\"current_password\" autocomplete=\"current-password\" required>\
         <label for=\"new_password\">New password</label><input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" \
         data-password-rule=\"new-password-rule\" aria-describedby=\"new-password-rule-intro new-password-rule\" required>{}\
         <button type=\"submit\">Change password</button></form>\
         <script src=\"/developer/password-rule.js\" defer></script>",
        nav(dev, csrf),
        hidden("csrf", csrf),
        password_rule("new-password-rule")
    );
    html_with_scripts(status, "Change your password", &body)
}

/// The status as the developer sees it.
pub fn status_label(status: ClientStatus) -> &'static str {
    match status {
        ClientStatus::Pending => "Pending Review",
        ClientStatus::Approved => "Approved",
        ClientStatus::Rejected => "Rejected",
        ClientStatus::Disabled => "Disabled",
    }
}

/// A status badge.
pub fn status_badge(status: ClientStatus) -> String {
    format!(
        "<span class=\"status status-{}\">{}</span>",
        attr(status.as_str()),
        status_label(status)
    )
}

async fn dashboard<D: Database, P: Platform>(
    app: &App<D, P>,
    dev: &Developer,
    csrf: &str,
    error: Option<&str>,
) -> ApiResult {
    let db = app.auth_db();
    let (owned, offered) = store::developer_client_ids(db, &dev.developer_id).await?;
    let mut rows = String::new();
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
        rows.push_str(&format!(
            "<tr><td><a href=\"/developer/apps/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            attr(&c.client_id),
            esc(&c.name),
            esc(&c.practice),
            esc(use_case_label(c.metadata.get("use_case").and_then(Json::as_str).unwrap_or(""))),
            status_badge(c.status),
            esc(&notes)
        ));
    }
    let apps = if rows.is_empty() {
        "<p>You have not registered an app yet.</p>".to_string()
    } else {
        format!("<table><caption class=\"muted\">Your apps</caption><thead><tr><th>App</th><th>Practice</th><th>Use case</th><th>Status</th><th>Notes</th></tr></thead><tbody>{rows}</tbody></table>")
    };
    let mut offers = String::new();
    for id in &offered {
        let c = visible_app(app, dev, id).await?;
        let from = match &c.owner_developer {
            Some(o) => store::developer(db, o)
                .await?
                .map(|d| d.email)
                .unwrap_or_default(),
            None => String::new(),
        };
        offers.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/developer/apps/{id}/transfer/accept\" class=\"inline\">{csrf_field}<button type=\"submit\" aria-label=\"Accept {name_attr}\">Accept</button></form>\
             <form method=\"post\" action=\"/developer/apps/{id}/transfer/cancel\" class=\"inline\">{csrf_field}<button type=\"submit\" class=\"secondary\" aria-label=\"Decline {name_attr}\">Decline</button></form></td></tr>",
            esc(&c.name),
            esc(&c.practice),
            esc(&from),
            id = attr(&c.client_id),
            csrf_field = hidden("csrf", csrf),
            name_attr = attr(&c.name),
        ));
    }
    let offers = if offers.is_empty() {
        String::new()
    } else {
        format!("<h2>Apps offered to you</h2><table><thead><tr><th>App</th><th>Practice</th><th>From</th><th></th></tr></thead><tbody>{offers}</tbody></table>")
    };
    let register: String = USE_CASES
        .iter()
        .map(|(k, label)| {
            format!(
                "<li><a href=\"/developer/apps/new?use={k}\">Register a {}</a></li>",
                label.to_lowercase()
            )
        })
        .collect();
    let body = format!(
        "{}<h1>Your apps</h1>{}{apps}{offers}<h2>Register an app</h2><ul>{register}</ul>\
         <h2>API access</h2><p>Everything here is also available as JSON (see the README). Create an API token to call it:</p>\
         <form method=\"post\" action=\"/developer/token\">{}<button type=\"submit\" class=\"secondary\">Create an API token</button></form>",
        nav(dev, csrf),
        alert(error),
        hidden("csrf", csrf)
    );
    Ok(html(200, "Your apps", &body))
}

/// Default scopes of each use case.
fn default_scope(use_case: &str) -> &'static str {
    match UseCase::parse(use_case) {
        Some(UseCase::Provider) => "openid fhirUser launch user/*.rs",
        Some(UseCase::Backend) => "system/*.rs",
        Some(UseCase::Patient) | None => "openid fhirUser launch/patient patient/*.rs",
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
    let backend = UseCase::parse(use_case) == Some(UseCase::Backend);
    let auth = if backend {
        AuthMethod::PrivateKeyJwt.as_str().to_string()
    } else {
        v("token_endpoint_auth_method")
    };
    m.insert("token_endpoint_auth_method".into(), json!(auth));
    if AuthMethod::parse(&auth) == Some(AuthMethod::PrivateKeyJwt) {
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
    let options: String = practices
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{}\"{}>{} ({})</option>",
                attr(&p.key),
                if p.key == chosen { " selected" } else { "" },
                esc(&p.name),
                esc(&p.key)
            )
        })
        .collect();
    let backend = UseCase::parse(use_case) == Some(UseCase::Backend);
    let auth = if submitted {
        v("token_endpoint_auth_method")
    } else {
        "none".into()
    };
    let auth_choice = if backend {
        "<p><strong>Client authentication:</strong> private key JWT (backend services always sign their requests).</p>".to_string()
    } else {
        let radio = |value: &str, label: &str| {
            format!(
                "<label class=\"scope\"><input type=\"radio\" name=\"token_endpoint_auth_method\" value=\"{value}\"{}> {label}</label>",
                if auth == value { " checked" } else { "" }
            )
        };
        format!(
            "<fieldset><legend>Client authentication</legend>{}{}{}</fieldset>",
            radio(
                "none",
                "Public app (no secret: runs in a browser or on a phone; uses PKCE)"
            ),
            radio(
                "client_secret_basic",
                "Client secret (a confidential server-side app)"
            ),
            radio(
                "private_key_jwt",
                "Private key JWT (signs assertions with your key)"
            )
        )
    };
    let jwks = format!(
        "<fieldset><legend>Public keys (private key JWT only)</legend>\
         <label for=\"jwks_uri\">JWKS URL</label><input type=\"url\" id=\"jwks_uri\" name=\"jwks_uri\" value=\"{}\" placeholder=\"https://app.example/.well-known/jwks.json\">\
         <label for=\"jwks\">or paste your JWKS</label><textarea id=\"jwks\" name=\"jwks\" rows=\"5\" spellcheck=\"false\">{}</textarea>\
         <p class=\"muted\">RSA or P-384 EC public keys with a <code>kid</code>; checked when you submit.</p></fieldset>",
        attr(&v("jwks_uri")),
        esc(&v("jwks"))
    );
    let scope = if submitted {
        v("scope")
    } else {
        default_scope(use_case).to_string()
    };
    let web_fields = if backend {
        String::new()
    } else {
        format!(
            "<label for=\"redirect_uris\">Redirect URIs (one per line)</label><textarea id=\"redirect_uris\" name=\"redirect_uris\" rows=\"3\" required spellcheck=\"false\">{}</textarea>\
             <label for=\"launch_uri\">Launch URI (for EHR launch; optional)</label><input type=\"url\" id=\"launch_uri\" name=\"launch_uri\" value=\"{}\">",
            esc(&v("redirect_uris")),
            attr(&v("launch_uri"))
        )
    };
    let offline = if backend {
        String::new()
    } else {
        format!(
            "<label class=\"scope\"><input type=\"checkbox\" name=\"offline_access\" value=\"1\"{}> Offline access (a refresh token that outlives the sign-in)</label>",
            if v("offline_access") == "1" { " checked" } else { "" }
        )
    };
    let body = format!(
        "{nav}<h1>Register a {label}</h1>{error}\
         <form method=\"post\" action=\"/developer/apps\">{csrf}{use_case_field}\
         <label for=\"client_name\">Application name</label><input type=\"text\" id=\"client_name\" name=\"client_name\" value=\"{name}\" required maxlength=\"120\">\
         <label for=\"practice\">Practice</label><select id=\"practice\" name=\"practice\" required>{options}</select>\
         <label for=\"practice_pin\">The practice's PIN</label><input type=\"text\" id=\"practice_pin\" name=\"practice_pin\" value=\"{pin}\" autocomplete=\"off\" required \
         aria-describedby=\"pin-help\"><p class=\"muted\" id=\"pin-help\">Each practice gives its PIN to the developers it works with.</p>\
         {auth_choice}{jwks}{web_fields}\
         <label for=\"scope\">Requested scopes (space-separated)</label><input type=\"text\" id=\"scope\" name=\"scope\" value=\"{scope}\" required spellcheck=\"false\">\
         {offline}<button type=\"submit\">Submit for review</button></form>",
        nav = nav(dev, csrf),
        label = esc(&use_case_label(use_case).to_lowercase()),
        error = alert(error),
        csrf = hidden("csrf", csrf),
        use_case_field = hidden("use_case", use_case),
        name = attr(&v("client_name")),
        pin = attr(&v("practice_pin")),
        scope = attr(&scope),
    );
    Ok(html(status, "Register an app", &body))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "<span class=\"muted\">none</span>".into();
    }
    let lis: String = items
        .iter()
        .map(|i| format!("<li><code>{}</code></li>", esc(i)))
        .collect();
    format!("<ul>{lis}</ul>")
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
    let csrf_field = hidden("csrf", csrf);
    let action = |path: &str| format!("/developer/apps/{}/{path}", attr(&c.client_id));
    let reason = match (c.status, &c.status_reason) {
        (ClientStatus::Rejected | ClientStatus::Disabled, Some(r)) => {
            format!("<p><strong>Reason:</strong> {}</p>", esc(r))
        }
        (ClientStatus::Pending, _) => {
            "<p>The practice reviews your registration. Its credentials work once it is approved.</p>".into()
        }
        _ => String::new(),
    };
    let auth = auth_label(c.auth_method);
    let keys = match (&c.jwks_uri, &c.jwks) {
        (Some(u), _) => format!("<dt>JWKS URL</dt><dd><code>{}</code></dd>", esc(u)),
        (None, Some(j)) => format!(
            "<dt>Keys</dt><dd>{} pasted key(s)</dd>",
            j.get("keys").and_then(Json::as_array).map_or(0, Vec::len)
        ),
        _ => String::new(),
    };
    let pending = c
        .pending_scope
        .as_ref()
        .map(|s| format!("<dt>Requested scope change (pending review)</dt><dd><code id=\"pending-scope\" class=\"scopes\">{}</code></dd>", esc(s)))
        .unwrap_or_default();
    let rejected_change = c
        .scope_change_reason
        .as_ref()
        .map(|r| format!("<dt>Last scope change</dt><dd>Rejected: {}</dd>", esc(r)))
        .unwrap_or_default();
    let details = format!(
        "<dl><dt>Client ID</dt><dd><code id=\"client-id\">{}</code></dd><dt>Practice</dt><dd>{}</dd><dt>Use case</dt><dd>{}</dd>\
         <dt>Client authentication</dt><dd>{auth}</dd>{keys}<dt>Redirect URIs</dt><dd>{}</dd><dt>Launch URI</dt><dd>{}</dd>\
         <dt>Scopes</dt><dd><code id=\"scope\" class=\"scopes\">{}</code></dd>{pending}{rejected_change}<dt>Registered</dt><dd>{}</dd></dl>",
        esc(&c.client_id),
        esc(&c.practice),
        esc(use_case_label(c.metadata.get("use_case").and_then(Json::as_str).unwrap_or(""))),
        list(&c.redirect_uris),
        c.launch_uri.as_ref().map_or_else(|| "<span class=\"muted\">none</span>".into(), |u| format!("<code>{}</code>", esc(u))),
        esc(&c.scope),
        esc(&format_instant(c.created_at)),
    );
    let approved = c.status == ClientStatus::Approved;
    let credentials = if approved && mine && c.auth_method == AuthMethod::ClientSecretBasic {
        match c.secret_issued_at {
            None => format!(
                "<h2>Client secret</h2><p>Your app is approved. Get its client secret: it is shown once.</p>\
                 <form method=\"post\" action=\"{}\">{csrf_field}<button type=\"submit\">Show the client secret</button></form>",
                action("secret")
            ),
            Some(at) => format!(
                "<h2>Client secret</h2><p>The client secret was shown on {}; it is not shown again. \
                 Rotating it gives a new one (shown once) and the old one stops working.</p>\
                 <form method=\"post\" action=\"{}\">{csrf_field}{}<button type=\"submit\" class=\"secondary\">Rotate the client secret</button></form>",
                esc(&format_instant(at)),
                action("secret"),
                hidden("rotate", "1")
            ),
        }
    } else {
        String::new()
    };
    let scope_form = if approved && mine {
        let backend = c.grant_types.contains(&GrantType::ClientCredentials);
        let offline = if backend {
            String::new()
        } else {
            format!(
                "<label class=\"scope\"><input type=\"checkbox\" name=\"offline_access\" value=\"1\"{}> Offline access (refresh tokens)</label>",
                if c.scope.split(' ').any(|s| s == "offline_access") { " checked" } else { "" }
            )
        };
        let current: String = c
            .scope
            .split(' ')
            .filter(|s| *s != "offline_access")
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "<h2>Change scopes</h2><p class=\"muted\">The practice reviews the change; until it approves, the current scopes keep working.</p>\
             <form method=\"post\" action=\"{}\">{csrf_field}<label for=\"new_scope\">Scopes (space-separated)</label>\
             <input type=\"text\" id=\"new_scope\" name=\"scope\" value=\"{}\" required spellcheck=\"false\">{offline}\
             <button type=\"submit\">Request scope change</button></form>",
            action("scope"),
            attr(&current)
        )
    } else {
        String::new()
    };
    let patients = if approved {
        let list = store::test_patients(db, &c.practice).await?;
        if list.is_empty() {
            "<h2>Test patients</h2><p>The practice has no test patients yet.</p>".into()
        } else {
            let rows: String = list
                .iter()
                .map(|(u, n, f)| {
                    format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                        esc(u),
                        esc(n.as_deref().unwrap_or("")),
                        esc(f)
                    )
                })
                .collect();
            format!(
                "<h2>Test patients</h2><p class=\"muted\">Sign in with these names to try your app (the demo data's password is in the operator's run banner).</p>\
                 <table id=\"test-patients\"><thead><tr><th>Sign-in name</th><th>Name</th><th>Record</th></tr></thead><tbody>{rows}</tbody></table>"
            )
        }
    } else {
        String::new()
    };
    let keys_form = if mine
        && c.auth_method == AuthMethod::PrivateKeyJwt
        && c.status != ClientStatus::Rejected
    {
        let missing = if c.jwks.is_none() && c.jwks_uri.is_none() {
            "<p class=\"error\" role=\"alert\">This app has no public keys (they are cleared when an app changes owner): \
             register yours; until then the token endpoint refuses its assertions.</p>"
        } else {
            ""
        };
        format!(
            "<h2>Public keys</h2>{missing}<p class=\"muted\">Replacing the keys takes effect at once: assertions signed with other keys stop working.</p>\
             <form method=\"post\" action=\"{}\">{csrf_field}<label for=\"new_jwks_uri\">JWKS URL</label>\
             <input type=\"url\" id=\"new_jwks_uri\" name=\"jwks_uri\" placeholder=\"https://app.example/.well-known/jwks.json\">\
             <label for=\"new_jwks\">or paste your JWKS</label><textarea id=\"new_jwks\" name=\"jwks\" rows=\"4\" spellcheck=\"false\"></textarea>\
             <button type=\"submit\" class=\"secondary\">Replace the public keys</button></form>",
            action("keys")
        )
    } else {
        String::new()
    };
    let transfer = match (&c.transfer_to, mine) {
        (Some(to), true) => {
            let email = store::developer(db, to).await?.map(|d| d.email).unwrap_or_default();
            format!(
                "<h2>Ownership transfer</h2><p>Waiting for <strong>{}</strong> to accept this app.</p>\
                 <form method=\"post\" action=\"{}\">{csrf_field}<button type=\"submit\" class=\"secondary\">Cancel the transfer</button></form>",
                esc(&email),
                action("transfer/cancel")
            )
        }
        (None, true) => format!(
            "<h2>Ownership transfer</h2><p class=\"muted\">Hand this app to another developer account; it moves once they accept, and then the credentials you hold stop working (they are shown a new client secret, or register their own keys).</p>\
             <form method=\"post\" action=\"{}\">{csrf_field}<label for=\"to\">The other developer's e-mail address</label>\
             <input type=\"email\" id=\"to\" name=\"to\" required><button type=\"submit\" class=\"secondary\">Offer the transfer</button></form>",
            action("transfer")
        ),
        (_, false) => format!(
            "<h2>Ownership transfer</h2><p>This app is offered to you.</p>\
             <form method=\"post\" action=\"{}\" class=\"inline\">{csrf_field}<button type=\"submit\">Accept</button></form>\
             <form method=\"post\" action=\"{}\" class=\"inline\">{csrf_field}<button type=\"submit\" class=\"secondary\">Decline</button></form>",
            action("transfer/accept"),
            action("transfer/cancel")
        ),
    };
    let body = format!(
        "{}<h1>{} {}</h1>{}{reason}{details}{credentials}{keys_form}{scope_form}{patients}{transfer}",
        nav(dev, csrf),
        esc(&c.name),
        status_badge(c.status),
        alert(error)
    );
    Ok(html(200, &c.name, &body))
}

//! Practice administration (`/practice`): a practice user with the
//! `practice_admin` role signs in (the authorization server's sign-in, with
//! its slow-down and lockout) and decides which apps may reach the
//! practice's data: pending registrations and scope changes of THEIR
//! practice only, approved with one click or rejected with a reason;
//! approved apps can be disabled (every token stops) and enabled again.
//! The decisions are the admin API's (`oauth::manage`).

use maud::{html, Markup};
use serde_json::Value as Json;

use flare_core::datetime::format_instant;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::manage::{decide_client, decide_scope_change};
use crate::pages::developer::{auth_label, use_case_label};
use crate::platform::Platform;
use crate::store::auth::{self as store, Client, ClientStatus, Role, User};
use crate::store::developer as developer_store;
use crate::store::{resources, Database};
use crate::web::components::{alert, hidden, sign_in, status_badge, Identity, Post, SignIn};
use crate::web::cookie::{cookie, SESSION_COOKIE};
use crate::web::csrf::{check_csrf, csrf_token, with_csrf_cookie};
use crate::web::form::{field, form};
use crate::web::page::{html as page, see_other};
use crate::web::signin::{sign_in_form, sign_out, SignInPage};

fn as_page(mut e: ApiError) -> ApiError {
    e.body = ErrorBody::Page;
    e
}

/// One endpoint of practice administration: the router matches it in its
/// table ([`crate::router::routes::ROUTES`]) and hands it to [`route`] with
/// the path's `{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PracticePage {
    /// `GET /practice`: the sign-in form, or the practice's apps to review.
    Home,
    /// `POST /practice/signin`.
    SignIn,
    /// `POST /practice/signout`.
    SignOut,
    /// `POST /practice/clients/{id}/decide`: approves, rejects, disables or enables an app.
    Decide,
    /// `POST /practice/clients/{id}/scope`: approves or rejects a scope change.
    ScopeDecision,
    /// `POST /practice/clients/{id}/{other}`: 409 once signed in (no such decision).
    OtherDecision,
    /// Any other form `POST /practice/…`: 404 "no such form" (CSRF checked first).
    NoSuchForm,
    /// Any other method or page under `/practice`: 404 "no such page".
    NoSuchPage,
}

/// Answers one page or form of practice administration; `id` is the path's
/// `{id}` (empty where it has none). Every error is an HTML error page.
pub async fn route<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    endpoint: PracticePage,
    id: &str,
) -> ApiResult {
    use PracticePage as Pg;
    // What the pages share: a CSRF token (its cookie set on the page shown) and
    // the CSRF check of every form before anything else.
    let answer: ApiResult = async {
        let (csrf, fresh) = csrf_token(&app.platform, req);
        match endpoint {
            Pg::Home => {
                let page = match admin_user(app, req).await? {
                    None => page(200, "Practice administration", signin_form(&csrf, None)),
                    Some(user) => dashboard(app, &user, &csrf, None).await?,
                };
                Ok(with_csrf_cookie(page, req, &csrf, fresh))
            }
            Pg::SignIn
            | Pg::SignOut
            | Pg::Decide
            | Pg::ScopeDecision
            | Pg::OtherDecision
            | Pg::NoSuchForm => {
                let pairs = form(req);
                check_csrf(req, &pairs)?;
                post(app, req, endpoint, id, &pairs, &csrf).await
            }
            Pg::NoSuchPage => Err(ApiError::page(404, "no such page")),
        }
    }
    .await;
    answer.map_err(as_page)
}

async fn admin_user<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
) -> Result<Option<User>, ApiError> {
    Ok(match cookie(req, SESSION_COOKIE) {
        Some(s) => store::session_user(app.auth_db(), &sha256_b64(s), app.platform.now_ms())
            .await?
            .filter(|u| u.role == Role::PracticeAdmin),
        None => None,
    })
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    field(pairs, name).ok().flatten().unwrap_or_default()
}

async fn post<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    endpoint: PracticePage,
    id: &str,
    pairs: &[(String, String)],
    csrf: &str,
) -> ApiResult {
    match endpoint {
        PracticePage::SignIn => {
            let page = SignInPage {
                home: "/practice",
                title: "Practice administration",
                form: signin_form,
                allowed: |user| match user.role == Role::PracticeAdmin {
                    true => Ok(()),
                    false => Err("This account is not a practice administrator."),
                },
            };
            sign_in_form(app, req, pairs, csrf, &page).await
        }
        PracticePage::SignOut => sign_out(app, req, "/practice").await,
        PracticePage::Decide | PracticePage::ScopeDecision | PracticePage::OtherDecision => {
            let user = admin_user(app, req).await?.ok_or_else(|| {
                ApiError::page(401, "sign in as a practice administrator first (/practice)")
            })?;
            // Another practice's app is not found, as if it did not exist.
            let client = store::client(app.auth_db(), id)
                .await?
                .filter(|c| c.practice == user.practice)
                .ok_or_else(|| ApiError::page(404, "no such app in your practice"))?;
            let decision = get(pairs, "decision");
            let reason = Some(get(pairs, "reason").trim()).filter(|r| !r.is_empty());
            if reason.is_some_and(|r| r.chars().count() > 500) {
                return Err(ApiError::page(400, "a reason has at most 500 characters"));
            }
            let outcome = match (endpoint, decision) {
                (PracticePage::Decide, "approve" | "reject") if client.status == ClientStatus::Pending => {
                    decide_client(app, &client, decision, reason).await.map(|_| ())
                }
                (PracticePage::Decide, "disable") if client.status == ClientStatus::Approved => {
                    decide_client(app, &client, decision, reason).await.map(|_| ())
                }
                (PracticePage::Decide, "enable") if client.status == ClientStatus::Disabled => {
                    decide_client(app, &client, decision, None).await.map(|_| ())
                }
                // The decision is on the scopes the page showed: if the
                // developer asked for other scopes since, nothing changes.
                (PracticePage::ScopeDecision, "approve" | "reject") => {
                    let shown = Some(get(pairs, "pending_scope")).filter(|s| !s.is_empty());
                    match shown {
                        Some(shown) => {
                            decide_scope_change(app, &client, shown, decision == "approve", reason).await
                        }
                        None => Err(ApiError::page(
                            400,
                            "the form lacks the scopes it decides on; reload the page",
                        )),
                    }
                }
                _ => Err(ApiError::new(
                    409,
                    "conflict",
                    format!(
                        "{} cannot be {decision}d now: it is {}",
                        client.name, client.status
                    ),
                )),
            };
            match outcome {
                Ok(()) => Ok(see_other("/practice")),
                Err(e) if e.status < 500 => {
                    let mut page = dashboard(app, &user, csrf, Some(&e.message)).await?;
                    page.status = e.status;
                    Ok(page)
                }
                Err(e) => Err(e),
            }
        }
        _ => Err(ApiError::page(404, "no such form")),
    }
}

fn signin_form(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Practice administration" }
        p class="muted" { "Practice administrators review the apps that ask to reach the practice's records." }
        (sign_in(&SignIn {
            action: "/practice/signin",
            csrf,
            request: None,
            identity: Identity::Username,
            error,
        }))
    }
}

/// Values in `<code>`, one per line (or a muted "none").
fn codes(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() {
            span class="muted" { "none" }
        }
        @for (i, item) in items.iter().enumerate() {
            @if i > 0 { br; }
            code { (item) }
        }
    }
}

fn decision_form(
    c: &Client,
    csrf: &str,
    what: &str,
    buttons: &[(&str, &str, bool)],
    with_reason: bool,
) -> Markup {
    let reason_id = format!("reason-{what}-{}", c.client_id);
    let action = format!("/practice/clients/{}/{what}", c.client_id);
    Post::to(&action, csrf).form(html! {
        // A scope decision names the scopes it was made on (see `post`).
        @if let ("scope", Some(p)) = (what, &c.pending_scope) { (hidden("pending_scope", p)) }
        @if with_reason {
            label for=(reason_id) { "Reason (shown to the developer)" }
            input type="text" id=(reason_id) name="reason" maxlength="500";
        }
        @for (value, label, primary) in buttons {
            button type="submit" name="decision" value=(value) class=[(!primary).then_some("secondary")]
                aria-label={ (label) " " (c.name) } { (label) }
        }
    })
}

async fn developer_email<D: Database, P: Platform>(app: &App<D, P>, c: &Client) -> Result<String, ApiError> {
    Ok(match &c.owner_developer {
        Some(id) => developer_store::developer(app.auth_db(), id)
            .await?
            .map(|d| format!("{} <{}>", d.display_name, d.email))
            .unwrap_or_default(),
        None => "the operator".into(),
    })
}

async fn dashboard<D: Database, P: Platform>(
    app: &App<D, P>,
    user: &User,
    csrf: &str,
    error: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let practice_name = resources::list_practices(app.shards.for_practice(&user.practice))
        .await?
        .into_iter()
        .find(|p| p.key == user.practice)
        .map_or_else(|| user.practice.clone(), |p| p.name);
    let clients = store::list_clients(app.auth_db(), Some(&user.practice), None).await?;
    let mut rows = Vec::new();
    for c in &clients {
        rows.push((c, developer_email(app, c).await?));
    }
    let pending: Vec<_> = rows
        .iter()
        .filter(|(c, _)| c.status == ClientStatus::Pending)
        .collect();
    let scope_changes: Vec<_> = rows
        .iter()
        .filter(|(c, _)| c.status != ClientStatus::Pending && c.pending_scope.is_some())
        .collect();
    let others: Vec<_> = rows
        .iter()
        .filter(|(c, _)| c.status != ClientStatus::Pending)
        .collect();
    let use_case =
        |c: &Client| use_case_label(c.metadata.get("use_case").and_then(Json::as_str).unwrap_or(""));
    let approve_reject = [("approve", "Approve", true), ("reject", "Reject", false)];
    let body = html! {
        nav aria-label="Practice administration" {
            strong { (practice_name) }
            span class="muted" { "Signed in as " (user.display_name.as_deref().unwrap_or(&user.username)) }
            (Post::to("/practice/signout", csrf).inline().form(html! {
                button type="submit" class="secondary" { "Sign out" }
            }))
        }
        h1 { "App registrations" }
        (alert(error))
        h2 { "Pending review" }
        @for (c, email) in &pending {
            @let heading = format!("reg-{}", c.client_id);
            section class="registration" aria-labelledby=(heading) {
                h3 id=(heading) { (c.name) }
                table {
                    tbody {
                        tr { th scope="row" { "Developer" } td { (email) } }
                        tr { th scope="row" { "Use case" } td { (use_case(c)) } }
                        tr { th scope="row" { "Client authentication" } td { (auth_label(c.auth_method)) } }
                        tr { th scope="row" { "Redirect URIs" } td { (codes(&c.redirect_uris)) } }
                        tr {
                            th scope="row" { "Launch URI" }
                            td {
                                @match c.launch_uri.as_deref() {
                                    Some(u) => code { (u) },
                                    None => span class="muted" { "none" },
                                }
                            }
                        }
                        tr { th scope="row" { "Requested scopes" } td { code class="scopes" { (c.scope) } } }
                        tr { th scope="row" { "Registered" } td { (format_instant(c.created_at)) } }
                    }
                }
                (decision_form(c, csrf, "decide", &approve_reject, true))
            }
        }
        @if pending.is_empty() { p { "No registrations are waiting." } }
        h2 { "Scope changes" }
        @if scope_changes.is_empty() {
            p { "No scope changes are waiting." }
        } @else {
            table {
                thead { tr { th { "App" } th { "Current scopes" } th { "Requested scopes" } th { "Decision" } } }
                tbody {
                    @for (c, _) in &scope_changes {
                        tr {
                            td { (c.name) }
                            td { code class="scopes" { (c.scope) } }
                            td { code class="scopes" { (c.pending_scope.as_deref().unwrap_or_default()) } }
                            td { (decision_form(c, csrf, "scope", &approve_reject, true)) }
                        }
                    }
                }
            }
        }
        h2 { "Apps" }
        @if others.is_empty() {
            p { "No other apps." }
        } @else {
            table {
                thead { tr { th { "App" } th { "Developer" } th { "Status" } th { "Scopes" } th {} } }
                tbody {
                    @for (c, email) in &others {
                        tr {
                            td { (c.name) br; code { (c.client_id) } }
                            td { (email) }
                            td {
                                (status_badge(c.status))
                                @if let Some(r) = &c.status_reason { br; span class="muted" { (r) } }
                            }
                            td { code class="scopes" { (c.scope) } }
                            td {
                                @match c.status {
                                    ClientStatus::Approved => (decision_form(c, csrf, "decide", &[("disable", "Disable", false)], true)),
                                    ClientStatus::Disabled => (decision_form(c, csrf, "decide", &[("enable", "Enable", false)], false)),
                                    _ => {},
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(200, "Practice administration", body))
}

//! Practice administration (`/practice`): a practice user with the
//! `practice_admin` role signs in (the authorization server's sign-in, with
//! its slow-down and lockout) and decides which apps may reach the
//! practice's data: pending registrations and scope changes of THEIR
//! practice only, approved with one click or rejected with a reason;
//! approved apps can be disabled (every token stops) and enabled again.
//! The decisions are the admin API's (`oauth::manage`).

use serde_json::Value as Json;

use flare_core::datetime::format_instant;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth::manage::{decide_client, decide_scope_change};
use crate::pages::developer::pages::status_badge;
use crate::pages::developer::{auth_label, use_case_label};
use crate::platform::Platform;
use crate::store::auth::{self as store, Client, ClientStatus, Role, User};
use crate::store::developer as developer_store;
use crate::store::{resources, Database};
use crate::web::cookie::{cookie, SESSION_COOKIE};
use crate::web::csrf::{check_csrf, csrf_token, with_csrf_cookie};
use crate::web::form::{field, form};
use crate::web::page::{alert, attr, esc, hidden, html, see_other};
use crate::web::signin::{sign_in_form, sign_out, SignInPage};

fn as_page(mut e: ApiError) -> ApiError {
    e.body = ErrorBody::Page;
    e
}

/// Routes `/practice…`.
pub async fn route<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, rest: &[&str]) -> ApiResult {
    handle(app, req, rest).await.map_err(as_page)
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

async fn handle<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, rest: &[&str]) -> ApiResult {
    let (csrf, fresh) = csrf_token(&app.platform, req);
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let page = match admin_user(app, req).await? {
                None => html(200, "Practice administration", &signin_form(&csrf, None)),
                Some(user) => dashboard(app, &user, &csrf, None).await?,
            };
            Ok(with_csrf_cookie(page, req, &csrf, fresh))
        }
        ("POST", _) => {
            let pairs = form(req);
            check_csrf(req, &pairs)?;
            post(app, req, rest, &pairs, &csrf).await
        }
        _ => Err(ApiError::page(404, "no such page")),
    }
}

async fn post<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    rest: &[&str],
    pairs: &[(String, String)],
    csrf: &str,
) -> ApiResult {
    match rest {
        ["signin"] => {
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
        ["signout"] => sign_out(app, req, "/practice").await,
        ["clients", id, what] => {
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
            let outcome = match (*what, decision) {
                ("decide", "approve" | "reject") if client.status == ClientStatus::Pending => {
                    decide_client(app, &client, decision, reason).await.map(|_| ())
                }
                ("decide", "disable") if client.status == ClientStatus::Approved => {
                    decide_client(app, &client, decision, reason).await.map(|_| ())
                }
                ("decide", "enable") if client.status == ClientStatus::Disabled => {
                    decide_client(app, &client, decision, None).await.map(|_| ())
                }
                // The decision is on the scopes the page showed: if the
                // developer asked for other scopes since, nothing changes.
                ("scope", "approve" | "reject") => {
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

fn signin_form(csrf: &str, error: Option<&str>) -> String {
    format!(
        "<h1>Practice administration</h1><p class=\"muted\">Practice administrators review the apps that ask to reach the practice's records.</p>{}\
         <form method=\"post\" action=\"/practice/signin\">{}\
         <label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        alert(error),
        hidden("csrf", csrf)
    )
}

fn codes(items: &[String]) -> String {
    if items.is_empty() {
        return "<span class=\"muted\">none</span>".into();
    }
    items
        .iter()
        .map(|i| format!("<code>{}</code>", esc(i)))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn decision_form(
    c: &Client,
    csrf: &str,
    what: &str,
    buttons: &[(&str, &str, bool)],
    with_reason: bool,
) -> String {
    let reason_id = format!("reason-{what}-{}", c.client_id);
    let reason = if with_reason {
        format!(
            "<label for=\"{}\">Reason (shown to the developer)</label><input type=\"text\" id=\"{}\" name=\"reason\" maxlength=\"500\">",
            attr(&reason_id),
            attr(&reason_id)
        )
    } else {
        String::new()
    };
    let buttons: String = buttons
        .iter()
        .map(|(value, label, primary)| {
            format!(
                "<button type=\"submit\" name=\"decision\" value=\"{value}\"{} aria-label=\"{label} {}\">{label}</button>",
                if *primary { "" } else { " class=\"secondary\"" },
                attr(&c.name)
            )
        })
        .collect();
    // A scope decision names the scopes it was made on (see `post`).
    let shown = match (what, &c.pending_scope) {
        ("scope", Some(p)) => hidden("pending_scope", p),
        _ => String::new(),
    };
    format!(
        "<form method=\"post\" action=\"/practice/clients/{}/{what}\">{}{shown}{reason}{buttons}</form>",
        attr(&c.client_id),
        hidden("csrf", csrf)
    )
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
    let mut pending = String::new();
    let mut scope_changes = String::new();
    let mut others = String::new();
    for c in &clients {
        let use_case = use_case_label(c.metadata.get("use_case").and_then(Json::as_str).unwrap_or(""));
        if c.status == ClientStatus::Pending {
            pending.push_str(&format!(
                "<section class=\"registration\" aria-labelledby=\"reg-{id}\"><h3 id=\"reg-{id}\">{}</h3>\
                 <table><tbody><tr><th scope=\"row\">Developer</th><td>{}</td></tr><tr><th scope=\"row\">Use case</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Client authentication</th><td>{}</td></tr><tr><th scope=\"row\">Redirect URIs</th><td>{}</td></tr>\
                 <tr><th scope=\"row\">Launch URI</th><td>{}</td></tr><tr><th scope=\"row\">Requested scopes</th><td><code class=\"scopes\">{}</code></td></tr>\
                 <tr><th scope=\"row\">Registered</th><td>{}</td></tr></tbody></table>{}</section>",
                esc(&c.name),
                esc(&developer_email(app, c).await?),
                esc(use_case),
                esc(auth_label(c.auth_method)),
                codes(&c.redirect_uris),
                c.launch_uri.as_deref().map_or_else(|| "<span class=\"muted\">none</span>".into(), |u| format!("<code>{}</code>", esc(u))),
                esc(&c.scope),
                esc(&format_instant(c.created_at)),
                decision_form(c, csrf, "decide", &[("approve", "Approve", true), ("reject", "Reject", false)], true),
                id = attr(&c.client_id),
            ));
            continue;
        }
        if let Some(p) = &c.pending_scope {
            scope_changes.push_str(&format!(
                "<tr><td>{}</td><td><code class=\"scopes\">{}</code></td><td><code class=\"scopes\">{}</code></td><td>{}</td></tr>",
                esc(&c.name),
                esc(&c.scope),
                esc(p),
                decision_form(c, csrf, "scope", &[("approve", "Approve", true), ("reject", "Reject", false)], true)
            ));
        }
        let action = match c.status {
            ClientStatus::Approved => {
                decision_form(c, csrf, "decide", &[("disable", "Disable", false)], true)
            }
            ClientStatus::Disabled => decision_form(c, csrf, "decide", &[("enable", "Enable", false)], false),
            ClientStatus::Pending | ClientStatus::Rejected => String::new(),
        };
        others.push_str(&format!(
            "<tr><td>{}<br><code>{}</code></td><td>{}</td><td>{}{}</td><td><code class=\"scopes\">{}</code></td><td>{action}</td></tr>",
            esc(&c.name),
            esc(&c.client_id),
            esc(&developer_email(app, c).await?),
            status_badge(c.status),
            c.status_reason
                .as_deref()
                .map(|r| format!("<br><span class=\"muted\">{}</span>", esc(r)))
                .unwrap_or_default(),
            esc(&c.scope)
        ));
    }
    let pending = if pending.is_empty() {
        "<p>No registrations are waiting.</p>".to_string()
    } else {
        pending
    };
    let scope_changes = if scope_changes.is_empty() {
        "<p>No scope changes are waiting.</p>".to_string()
    } else {
        format!("<table><thead><tr><th>App</th><th>Current scopes</th><th>Requested scopes</th><th>Decision</th></tr></thead><tbody>{scope_changes}</tbody></table>")
    };
    let others = if others.is_empty() {
        "<p>No other apps.</p>".to_string()
    } else {
        format!("<table><thead><tr><th>App</th><th>Developer</th><th>Status</th><th>Scopes</th><th></th></tr></thead><tbody>{others}</tbody></table>")
    };
    let body = format!(
        "<nav aria-label=\"Practice administration\"><strong>{}</strong><span class=\"muted\">Signed in as {}</span>\
         <form method=\"post\" action=\"/practice/signout\" class=\"inline\">{}<button type=\"submit\" class=\"secondary\">Sign out</button></form></nav>\
         <h1>App registrations</h1>{}<h2>Pending review</h2>{pending}<h2>Scope changes</h2>{scope_changes}<h2>Apps</h2>{others}",
        esc(&practice_name),
        esc(user.display_name.as_deref().unwrap_or(&user.username)),
        hidden("csrf", csrf),
        alert(error)
    );
    Ok(html(200, "Practice administration", &body))
}

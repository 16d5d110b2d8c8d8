//! The patient portal (`/portal`): a patient signs in, sees the apps they
//! authorized (scopes, when, last use) and the access history of their
//! record, and revokes an app. Revocation is one UPDATE of the grant in the
//! consistent primary that every token lookup joins, so the app's access and
//! refresh tokens fail on their next use.
//!
//! Forms double-submit the `flare_csrf` cookie; pages work without JavaScript.

use std::collections::BTreeMap;

use flare_core::datetime::format_instant;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult};
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::auth::{self as store, User};
use crate::store::Database;
use crate::web::cookie::{cookie, set_cookie, CSRF_COOKIE, SESSION_COOKIE};
use crate::web::csrf::{check_csrf, csrf_token};
use crate::web::form::{field, form};
use crate::web::page::{attr, esc, hidden, html, see_other};
use crate::web::session::SESSION_TTL_MS;
use crate::web::signin::{anyone, sign_in_form, sign_out, SignInPage};

/// The user of the browser's sign-in session, if it is live.
pub(crate) async fn session_user<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
) -> Result<Option<User>, ApiError> {
    Ok(match cookie(req, SESSION_COOKIE) {
        Some(s) => store::session_user(app.auth_db(), &sha256_b64(s), app.platform.now_ms()).await?,
        None => None,
    })
}

fn signin_form(csrf: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<h1>Patient portal</h1><p class=\"muted\">Sign in to see and manage the apps that can read your health record.</p>{err}\
         <form method=\"post\" action=\"/portal/signin\">{}\
         <label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        hidden("csrf", csrf)
    )
}

/// `GET /portal`.
pub async fn home<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let (csrf, fresh) = csrf_token(&app.platform, req);
    let page = match session_user(app, req).await? {
        None => html(200, "Patient portal", &signin_form(&csrf, None)),
        Some(user) => connected_apps(app, &user, &csrf).await?,
    };
    Ok(if fresh {
        page.with_header(
            "set-cookie",
            &set_cookie(req, CSRF_COOKIE, &csrf, SESSION_TTL_MS / 1000),
        )
    } else {
        page
    })
}

async fn connected_apps<D: Database, P: Platform>(app: &App<D, P>, user: &User, csrf: &str) -> ApiResult {
    let signout = format!(
        "<form method=\"post\" action=\"/portal/signout\">{}<button type=\"submit\" class=\"secondary\">Sign out</button></form>",
        hidden("csrf", csrf)
    );
    let Some(patient) = user.fhir_user.strip_prefix("Patient/") else {
        return Ok(html(
            200,
            "Patient portal",
            &format!(
                "<h1>Patient portal</h1><p>The portal is for patients; you are signed in as {}.</p>{signout}",
                esc(&user.username)
            ),
        ));
    };
    let grants = store::grants_for_patient(app.auth_db(), &user.practice, patient).await?;
    let events = store::audit_events(
        app.shards.for_practice(&user.practice),
        &user.practice,
        Some(patient),
        200,
    )
    .await?;
    let mut app_names: BTreeMap<String, String> = BTreeMap::new();
    for (g, name) in &grants {
        app_names.insert(g.client_id.clone(), name.clone());
    }
    // Apps whose access was revoked still appear in the history by name.
    for e in &events {
        if let Some(c) = &e.client_id {
            if !app_names.contains_key(c) {
                let name = store::client(app.auth_db(), c)
                    .await?
                    .map_or_else(|| c.clone(), |cl| cl.name);
                app_names.insert(c.clone(), name);
            }
        }
    }
    let mut rows = String::new();
    for (g, name) in &grants {
        let last = events
            .iter()
            .find(|e| e.client_id.as_deref() == Some(g.client_id.as_str()))
            .map(|e| when(e.at))
            .unwrap_or_else(|| "not yet".into());
        rows.push_str(&format!(
            "<tr><td><strong>{}</strong></td><td>{}<details><summary>Scopes</summary><code>{}</code></details></td><td>{}</td><td>{}</td>\
             <td><form method=\"post\" action=\"/portal/revoke\">{}{}<button type=\"submit\" aria-label=\"Revoke {}\">Revoke</button></form></td></tr>",
            esc(name),
            esc(&scope_summary(&g.scope)),
            esc(&g.scope),
            esc(&when(g.created_at)),
            esc(&last),
            hidden("csrf", csrf),
            hidden("grant", &g.grant_id),
            attr(name),
        ));
    }
    let apps = if grants.is_empty() {
        "<p>No apps can read your record.</p>".to_string()
    } else {
        format!("<table><caption class=\"muted\">Apps you allowed</caption><thead><tr><th>App</th><th>Can read</th><th>Allowed</th><th>Last used</th><th></th></tr></thead><tbody>{rows}</tbody></table>")
    };
    let mut history = String::new();
    for e in events.iter().take(50) {
        let who = e
            .client_id
            .as_ref()
            .map(|c| app_names.get(c).cloned().unwrap_or_else(|| c.clone()))
            .unwrap_or_default();
        history.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&when(e.at)),
            esc(&who),
            esc(&e.action),
            esc(&e.what),
            e.status
        ));
    }
    let history = if history.is_empty() {
        "<p>No app has read your record yet.</p>".into()
    } else {
        format!("<table><thead><tr><th>When</th><th>App</th><th>Action</th><th>What</th><th>Result</th></tr></thead><tbody>{history}</tbody></table>")
    };
    Ok(html(
        200,
        "Connected apps",
        &format!(
            "<h1>Connected apps</h1><p class=\"muted\">Signed in as {}.</p>{apps}<h2>Access history</h2>{history}{signout}",
            esc(user.display_name.as_deref().unwrap_or(&user.username))
        ),
    ))
}

/// An instant as people read it: `2026-11-23 03:17:44 UTC`.
fn when(ms: i64) -> String {
    let iso = format_instant(ms);
    let seconds = iso.get(..19).unwrap_or(&iso).replace('T', " ");
    format!("{seconds} UTC")
}

/// What a grant's scopes share, in words: the record types (a category
/// restriction in brackets), then whether the app stays connected.
pub fn scope_summary(scope: &str) -> String {
    let mut kinds: Vec<String> = Vec::new();
    let mut extra = Vec::new();
    for s in scope.split_whitespace() {
        let resource = s
            .split_once('/')
            .filter(|(ctx, _)| matches!(*ctx, "patient" | "user" | "system"));
        match resource {
            Some((_, rest)) => {
                let (kind, query) = rest.split_once('?').unwrap_or((rest, ""));
                let kind = kind.split('.').next().unwrap_or(kind);
                let kind = if kind == "*" { "all record types" } else { kind };
                let label = match query
                    .rsplit('|')
                    .next()
                    .filter(|c| !c.is_empty() && !query.is_empty())
                {
                    Some(code) => format!("{kind} ({code})"),
                    None => kind.to_string(),
                };
                if !kinds.contains(&label) {
                    kinds.push(label);
                }
            }
            None if s == "offline_access" => extra.push("stays connected"),
            None if s == "online_access" => extra.push("connected while you are signed in"),
            None => {}
        }
    }
    let mut out = if kinds.is_empty() {
        "no records".to_string()
    } else {
        kinds.join(", ")
    };
    for e in extra {
        out.push_str("; ");
        out.push_str(e);
    }
    out
}

/// `POST /portal/signin`.
pub async fn signin<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = form(req);
    check_csrf(req, &pairs)?;
    let csrf = field(&pairs, "csrf")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let page = SignInPage {
        home: "/portal",
        title: "Patient portal",
        form: signin_form,
        allowed: anyone,
    };
    sign_in_form(app, req, &pairs, &csrf, &page).await
}

/// `POST /portal/revoke`: revokes one of the signed-in patient's grants.
pub async fn revoke<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let pairs = form(req);
    check_csrf(req, &pairs)?;
    let user = session_user(app, req)
        .await?
        .ok_or_else(|| ApiError::page(401, "sign in to the portal first"))?;
    let grant_id = field(&pairs, "grant")
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::page(400, "which app?"))?;
    let grant = store::grant(app.auth_db(), grant_id)
        .await?
        .filter(|g| {
            g.practice == user.practice && g.patient.as_deref() == user.fhir_user.strip_prefix("Patient/")
        })
        .ok_or_else(|| ApiError::page(404, "no such app connection"))?;
    let now = app.platform.now_ms();
    store::revoke_grant(app.auth_db(), grant_id, now).await?;
    let event = store::AuditEvent {
        at: now,
        practice: user.practice.clone(),
        client_id: Some(grant.client_id.clone()),
        user_id: Some(user.user_id.clone()),
        patient: user.fhir_user.strip_prefix("Patient/").map(str::to_string),
        action: "revoke".into(),
        what: format!("grant {grant_id}"),
        status: 200,
    };
    store::insert_audit(app.shards.for_practice(&user.practice), &event).await?;
    Ok(see_other("/portal"))
}

/// `POST /portal/signout`.
pub async fn signout<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    check_csrf(req, &form(req))?;
    sign_out(app, req, "/portal").await
}

#[cfg(test)]
mod tests {
    use super::{scope_summary, when};

    #[test]
    fn scope_summaries_name_the_record_types() {
        assert_eq!(
            scope_summary("openid fhirUser launch/patient patient/Condition.rs patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory offline_access"),
            "Condition, Observation (laboratory); stays connected"
        );
        assert_eq!(scope_summary("patient/*.read user/*.rs"), "all record types");
        assert_eq!(scope_summary("openid"), "no records");
        assert_eq!(when(1_795_403_041_123), "2026-11-23 03:04:01 UTC");
    }
}

//! The patient portal (`/portal`): a patient signs in, sees the apps they
//! authorized (scopes, when, last use) and the access history of their
//! record, and revokes an app. Revocation is one UPDATE of the grant in the
//! consistent primary that every token lookup joins, so the app's access and
//! refresh tokens fail on their next use.
//!
//! Forms double-submit the `flare_csrf` cookie; pages work without JavaScript.

use std::collections::BTreeMap;

use maud::{html, Markup};

use flare_core::datetime::format_instant;

use crate::app::App;
use crate::crypto::sha256_b64;
use crate::http::error::{ApiError, ApiResult};
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::auth::{self as store, User};
use crate::store::Database;
use crate::web::components::{hidden, sign_in, Identity, Post, SignIn};
use crate::web::cookie::{cookie, SESSION_COOKIE};
use crate::web::csrf::{check_csrf, csrf_token, with_csrf_cookie};
use crate::web::form::{field, form};
use crate::web::page::{html as page, see_other};
use crate::web::signin::{anyone, posted_sign_in, sign_out, SignInPage};

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

fn signin_form(csrf: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Patient portal" }
        p class="muted" { "Sign in to see and manage the apps that can read your health record." }
        (sign_in(&SignIn {
            action: "/portal/signin",
            csrf,
            request: None,
            identity: Identity::Username,
            error,
        }))
    }
}

/// `GET /portal`.
pub async fn home<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest) -> ApiResult {
    let (csrf, fresh) = csrf_token(&app.platform, req);
    let page = match session_user(app, req).await? {
        None => page(200, "Patient portal", signin_form(&csrf, None)),
        Some(user) => connected_apps(app, &user, &csrf).await?,
    };
    Ok(with_csrf_cookie(page, req, &csrf, fresh))
}

async fn connected_apps<D: Database, P: Platform>(app: &App<D, P>, user: &User, csrf: &str) -> ApiResult {
    let signout = Post::to("/portal/signout", csrf)
        .form(html! { button type="submit" class="secondary" { "Sign out" } });
    let Some(patient) = user.fhir_user.strip_prefix("Patient/") else {
        return Ok(page(
            200,
            "Patient portal",
            html! {
                h1 { "Patient portal" }
                p { "The portal is for patients; you are signed in as " (user.username) "." }
                (signout)
            },
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
    let last_used = |client_id: &str| {
        events
            .iter()
            .find(|e| e.client_id.as_deref() == Some(client_id))
            .map(|e| when(e.at))
            .unwrap_or_else(|| "not yet".into())
    };
    let who = |client_id: &Option<String>| {
        client_id
            .as_ref()
            .map(|c| app_names.get(c).cloned().unwrap_or_else(|| c.clone()))
            .unwrap_or_default()
    };
    let history: Vec<_> = events.iter().take(50).collect();
    Ok(page(
        200,
        "Connected apps",
        html! {
            h1 { "Connected apps" }
            p class="muted" { "Signed in as " (user.display_name.as_deref().unwrap_or(&user.username)) "." }
            @if grants.is_empty() {
                p { "No apps can read your record." }
            } @else {
                table {
                    caption class="muted" { "Apps you allowed" }
                    thead { tr { th { "App" } th { "Can read" } th { "Allowed" } th { "Last used" } th {} } }
                    tbody {
                        @for (g, name) in &grants {
                            tr {
                                td { strong { (name) } }
                                td { (scope_summary(&g.scope)) details { summary { "Scopes" } code { (g.scope) } } }
                                td { (when(g.created_at)) }
                                td { (last_used(&g.client_id)) }
                                td {
                                    (Post::to("/portal/revoke", csrf).form(html! {
                                        (hidden("grant", &g.grant_id))
                                        button type="submit" aria-label={ "Revoke " (name) } { "Revoke" }
                                    }))
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Access history" }
            @if history.is_empty() {
                p { "No app has read your record yet." }
            } @else {
                table {
                    thead { tr { th { "When" } th { "App" } th { "Action" } th { "What" } th { "Result" } } }
                    tbody {
                        @for e in &history {
                            tr {
                                td { (when(e.at)) }
                                td { (who(&e.client_id)) }
                                td { (e.action) }
                                td { code { (e.what) } }
                                td { (e.status) }
                            }
                        }
                    }
                }
            }
            (signout)
        },
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
    let page = SignInPage {
        home: "/portal",
        title: "Patient portal",
        form: signin_form,
        allowed: anyone,
    };
    posted_sign_in(app, req, &page).await
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

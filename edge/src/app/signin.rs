//! The browser sign-in and sign-out that the patient portal, the EHR
//! simulator and practice administration share: one session cookie
//! (`flare_session`, made by [`start_session`]) and the authorization
//! server's sign-in throttle per name and address ([`sign_in`]). Callers
//! check CSRF first.

use super::error::ApiResult;
use super::http::HttpRequest;
use super::oauth::authorize::{sign_in, SignInError};
use super::oauth::crypto::sha256_b64;
use super::oauth::{cookie, field, set_cookie, start_session, SESSION_COOKIE};
use super::pages::{html, see_other};
use super::{App, Platform};
use crate::store::auth::{self as store, User};
use crate::store::Database;

/// A page's sign-in: where a signed-in user goes, the page title, its
/// sign-in form (CSRF token, error) and who may sign in there (`Err` holds
/// the message a refused user sees, answered 403 without a session).
pub struct SignInPage<'a> {
    /// Where to go once signed in (303).
    pub home: &'a str,
    /// The page title.
    pub title: &'a str,
    /// The sign-in form: CSRF token and an error to show.
    pub form: fn(&str, Option<&str>) -> String,
    /// Who may sign in here.
    pub allowed: fn(&User) -> Result<(), &'static str>,
}

/// Anyone with a right password.
pub fn anyone(_: &User) -> Result<(), &'static str> {
    Ok(())
}

/// Handles the posted sign-in form (`username`, `password`): a session and
/// a 303 to `page.home`, or the form again with 401, 403 or 429.
pub async fn sign_in_form<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    pairs: &[(String, String)],
    csrf: &str,
    page: &SignInPage<'_>,
) -> ApiResult {
    let value = |name| field(pairs, name).ok().flatten().unwrap_or_default();
    let again = |status, error: &str| html(status, page.title, &(page.form)(csrf, Some(error)));
    match sign_in(app, req, value("username"), value("password")).await {
        Ok(user) => match (page.allowed)(&user) {
            Ok(()) => {
                let cookie = start_session(app, req, &user.user_id).await?;
                Ok(see_other(page.home).with_header("set-cookie", &cookie))
            }
            Err(refused) => Ok(again(403, refused)),
        },
        Err(SignInError::Wrong) => Ok(again(401, "The username or password is not right.")),
        Err(SignInError::Throttled(s)) => Ok(again(
            429,
            &format!("Too many failed attempts. Try again in {s} seconds."),
        )
        .with_header("retry-after", &s.to_string())),
    }
}

/// Ends the browser's session and clears its cookie; a 303 to `home`.
pub async fn sign_out<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, home: &str) -> ApiResult {
    if let Some(s) = cookie(req, SESSION_COOKIE) {
        store::end_session(app.auth_db(), &sha256_b64(s), app.platform.now_ms()).await?;
    }
    Ok(see_other(home).with_header("set-cookie", &set_cookie(req, SESSION_COOKIE, "", 0)))
}

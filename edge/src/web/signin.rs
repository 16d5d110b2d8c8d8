//! The browser sign-in and sign-out that the patient portal, the EHR
//! simulator and practice administration share: one session cookie
//! (`flare_session`, made by [`start_session`]) and the authorization
//! server's sign-in throttle per name and address ([`sign_in`]). Callers
//! check CSRF first.

use maud::Markup;

use crate::app::App;
use crate::crypto::{hash_password, sha256_b64, verify_password};
use crate::http::error::ApiResult;
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::auth::{self as store, User};
use crate::store::{Database, DbError};
use crate::web::attempts::PasswordCheck;
use crate::web::cookie::{cookie, set_cookie, SESSION_COOKIE};
use crate::web::form::field;
use crate::web::page::{html, see_other};
use crate::web::session::start_session;

/// After this many consecutive wrong PINs a developer is slowed down
/// (sign-ins: [`crate::web::attempts::SIGN_IN`]).
pub const SLOWDOWN_AFTER: i64 = 3;
/// After this many it is locked.
pub const LOCK_AFTER: i64 = 10;
/// How long a lock lasts.
pub const LOCK_MS: i64 = 15 * 60 * 1000;

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq)]
pub enum SignInError {
    /// Unknown user or wrong password (indistinguishable to the caller).
    Wrong,
    /// Too many failures: try again after this many seconds.
    Throttled(i64),
}

/// The slow-down and lockout of a developer's PIN checks.
pub const LOCK_POLICY: store::LockPolicy = store::LockPolicy {
    slowdown_after: SLOWDOWN_AFTER,
    lock_after: LOCK_AFTER,
    lock_ms: LOCK_MS,
};

/// A secret to check: whose failures it counts, the account's id, the
/// stored hash and the lock the account had when the request read it.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// The failure counter the check counts against.
    pub counter: store::FailureCounter,
    /// The user's or developer's id.
    pub id: &'a str,
    /// `pbkdf2-sha256$…`.
    pub hash: &'a str,
    /// Locked until (ms), as read with the account.
    pub locked_until: i64,
}

fn seconds_until(until: i64, now: i64) -> i64 {
    ((until - now + 999) / 1000).max(1)
}

/// Checks `password` (a practice PIN) against an account's counter with
/// slow-down and lockout (`None`: nothing to check against, the same work
/// is spent). Sign-ins use [`crate::web::attempts::check_sign_in`]. The attempt is counted
/// as a failure before the slow hash check, atomically
/// ([`store::claim_attempt`]), so parallel guesses cannot each use the
/// failure count read before any of them failed; a right one clears it.
pub async fn check_password<D: Database, P: Platform>(
    app: &App<D, P>,
    account: Option<Account<'_>>,
    password: &str,
) -> Result<PasswordCheck, DbError> {
    let Some(account) = account else {
        // Spend the same work as a real check, so timing does not reveal names.
        let _ = hash_password(&app.platform, password).await;
        return Ok(PasswordCheck::Wrong);
    };
    let (db, now) = (app.auth_db(), app.platform.now_ms());
    if account.locked_until > now {
        return Ok(PasswordCheck::Throttled(seconds_until(account.locked_until, now)));
    }
    if store::claim_attempt(db, account.counter, account.id, now, LOCK_POLICY)
        .await?
        .is_none()
    {
        // A parallel attempt locked the account since it was read.
        let until = store::locked_until(db, account.counter, account.id).await?;
        return Ok(PasswordCheck::Throttled(seconds_until(until, now)));
    }
    if verify_password(&app.platform, password, account.hash)
        .await
        .unwrap_or(false)
    {
        store::clear_failures(db, account.counter, account.id).await?;
        return Ok(PasswordCheck::Right);
    }
    Ok(PasswordCheck::Wrong)
}

/// Checks a username and password under the sign-in throttle per (name,
/// client address) ([`crate::web::attempts::check_sign_in`]): an unknown name and
/// a wrong password answer alike, and a stranger's failures elsewhere never
/// lock the user out.
pub async fn sign_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    username: &str,
    password: &str,
) -> Result<User, SignInError> {
    let user = store::user_by_name(app.auth_db(), username).await.ok().flatten();
    let key = crate::web::attempts::sign_in_key(crate::web::attempts::SignInKind::User, username, req);
    let hash = user.as_ref().map(|u| u.password_hash.as_str());
    // A storage failure refuses the sign-in (it never lets one through).
    match (
        crate::web::attempts::check_sign_in(app, &key, hash, password).await,
        user,
    ) {
        (Ok(PasswordCheck::Right), Some(user)) => Ok(user),
        (Ok(PasswordCheck::Throttled(s)), _) => Err(SignInError::Throttled(s)),
        _ => Err(SignInError::Wrong),
    }
}

/// A page's sign-in: where a signed-in user goes, the page title, its
/// sign-in form (CSRF token, error) and who may sign in there (`Err` holds
/// the message a refused user sees, answered 403 without a session).
pub struct SignInPage<'a> {
    /// Where to go once signed in (303).
    pub home: &'a str,
    /// The page title.
    pub title: &'a str,
    /// The sign-in page's body (heading and [`crate::web::components::sign_in`]):
    /// CSRF token and an error to show.
    pub form: fn(&str, Option<&str>) -> Markup,
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
    let again = |status, error: &str| html(status, page.title, (page.form)(csrf, Some(error)));
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

/// `POST …/signin` of a page group: the CSRF check, then [`sign_in_form`]
/// with the form's CSRF token (shown again on a refused sign-in).
pub async fn posted_sign_in<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    page: &SignInPage<'_>,
) -> ApiResult {
    let pairs = crate::web::form::form(req);
    crate::web::csrf::check_csrf(req, &pairs)?;
    let csrf = field(&pairs, "csrf")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    sign_in_form(app, req, &pairs, &csrf, page).await
}

/// Ends the browser's session and clears its cookie; a 303 to `home`.
pub async fn sign_out<D: Database, P: Platform>(app: &App<D, P>, req: &HttpRequest, home: &str) -> ApiResult {
    if let Some(s) = cookie(req, SESSION_COOKIE) {
        store::end_session(app.auth_db(), &sha256_b64(s), app.platform.now_ms()).await?;
    }
    Ok(see_other(home).with_header("set-cookie", &set_cookie(req, SESSION_COOKIE, "", 0)))
}

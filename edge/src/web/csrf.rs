//! CSRF protection for every form: the double-submit cookie
//! ([`CSRF_COOKIE`]) whose value each form carries in its hidden `csrf` field.

use crate::crypto::{constant_time_eq, random_token};
use crate::http::error::ApiError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::web::cookie::{cookie, set_cookie, CSRF_COOKIE};
use crate::web::form::field;
use crate::web::session::SESSION_TTL_MS;

/// The browser's CSRF token (the `flare_csrf` cookie), and whether it is new
/// and must be set with [`with_csrf_cookie`].
pub fn csrf_token<P: Platform>(platform: &P, req: &HttpRequest) -> (String, bool) {
    match cookie(req, CSRF_COOKIE).filter(|c| c.len() >= 22) {
        Some(c) => (c.to_string(), false),
        None => (random_token(platform, 24), true),
    }
}

/// Sets the CSRF cookie on a page when [`csrf_token`] made a new one.
pub fn with_csrf_cookie(page: HttpResponse, req: &HttpRequest, csrf: &str, fresh: bool) -> HttpResponse {
    if fresh {
        page.with_header(
            "set-cookie",
            &set_cookie(req, CSRF_COOKIE, csrf, SESSION_TTL_MS / 1000),
        )
    } else {
        page
    }
}

/// Double-submit check: the form's `csrf` field must equal the browser's
/// `flare_csrf` cookie (a page of another site can send neither).
pub fn check_csrf(req: &HttpRequest, pairs: &[(String, String)]) -> Result<(), ApiError> {
    let form_token = field(pairs, "csrf").ok().flatten();
    let ok = matches!((form_token, cookie(req, CSRF_COOKIE)), (Some(f), Some(c)) if constant_time_eq(f.as_bytes(), c.as_bytes()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::page(403, "this form was not submitted from this site's page (CSRF check failed); reload the page and try again"))
    }
}

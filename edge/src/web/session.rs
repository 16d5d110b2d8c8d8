//! Browser sign-in sessions: an opaque id in [`SESSION_COOKIE`], only its
//! hash stored.

use crate::app::App;
use crate::crypto::{self, sha256_b64};
use crate::http::error::ApiError;
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::auth as store;
use crate::store::Database;
use crate::web::cookie::{set_cookie, SESSION_COOKIE};

/// Browser sign-in sessions last 12 hours (online_access ends with them).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// Starts a browser sign-in session for `user_id`; returns the `Set-Cookie`
/// value that carries it (only the session id's hash is stored).
pub async fn start_session<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    user_id: &str,
) -> Result<String, ApiError> {
    let session = crypto::random_token(&app.platform, 32);
    let now = app.platform.now_ms();
    store::insert_session(
        app.auth_db(),
        &sha256_b64(&session),
        user_id,
        now,
        now + SESSION_TTL_MS,
    )
    .await?;
    Ok(set_cookie(req, SESSION_COOKIE, &session, SESSION_TTL_MS / 1000))
}

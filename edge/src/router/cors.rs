//! CORS for browser apps (<https://fetch.spec.whatwg.org/#http-cors-protocol>):
//! discovery documents, metadata, JWKS and the style JSON answer any origin;
//! the FHIR API and the token, introspection and revocation endpoints answer
//! only the origins of approved apps' redirect URIs. Pages (authorize, portal)
//! and the admin API are not for cross-origin scripts and get no CORS headers.
//! Each route's policy is declared in [`crate::router::routes::ROUTES`].

use crate::app::App;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::Platform;
use crate::router::routes::Cors as Policy;
use crate::store::auth::origin_allowed;
use crate::store::Database;

const EXPOSE: &str =
    "Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, Retry-After, X-Progress";

async fn allowed_origin<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    policy: Policy,
) -> Option<String> {
    let origin = req.header_value("origin")?;
    match policy {
        Policy::Public => Some("*".to_string()),
        Policy::Apps => match origin_allowed(app.auth_db(), origin).await {
            Ok(true) => Some(origin.to_string()),
            _ => None,
        },
        Policy::None => None,
    }
}

/// Adds CORS headers to a response.
pub async fn decorate<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    mut resp: HttpResponse,
    pol: Policy,
) -> HttpResponse {
    if pol == Policy::Apps {
        resp.headers.push(("vary".into(), "Origin".into()));
    }
    if pol == Policy::Public && req.header_value("origin").is_none() {
        // Non-browser callers still learn the document is public.
        resp.headers
            .push(("access-control-allow-origin".into(), "*".into()));
        return resp;
    }
    if let Some(origin) = allowed_origin(app, req, pol).await {
        resp.headers.push(("access-control-allow-origin".into(), origin));
        resp.headers
            .push(("access-control-expose-headers".into(), EXPOSE.into()));
    }
    resp
}

/// Answers an `OPTIONS` preflight: 204, with the CORS grant if the origin may call.
pub async fn preflight<D: Database, P: Platform>(
    app: &App<D, P>,
    req: &HttpRequest,
    policy: Policy,
) -> HttpResponse {
    let mut resp = HttpResponse {
        status: 204,
        headers: vec![("vary".into(), "Origin".into())],
        body: Vec::new(),
        object: None,
    };
    if let Some(origin) = allowed_origin(app, req, policy).await {
        let requested = req
            .header_value("access-control-request-headers")
            .unwrap_or("authorization, content-type, accept, prefer, if-none-match");
        resp.headers.extend([
            ("access-control-allow-origin".into(), origin),
            (
                "access-control-allow-methods".into(),
                "GET, POST, DELETE, OPTIONS".into(),
            ),
            ("access-control-allow-headers".into(), requested.to_string()),
            ("access-control-max-age".into(), "600".into()),
        ]);
    }
    resp
}

//! Request body caps per route, checked in `App::route` before any handler
//! reads a body (and by the Worker adapter, which reads at most one byte
//! more than the cap and nothing at all when `Content-Length` is over it).
//! An answer over the cap is 413 in the route's error shape: an
//! OperationOutcome on `/fhir` and `/admin`, OAuth error JSON on the OAuth
//! endpoints and the developer API, an HTML page on the browser pages.

use crate::fhir::import::MAX_IMPORT_BYTES;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::HttpRequest;

/// OAuth endpoints, FHIR `POST _search` and `$export`, browser forms.
pub const FORM_BODY_MAX: usize = 16 * 1024;
/// The developer API, `/register` and the developer portal's forms (pasted JWKS).
pub const DEVELOPER_BODY_MAX: usize = 64 * 1024;
/// The admin API except imports (users, clients, practices, launch contexts).
pub const ADMIN_BODY_MAX: usize = 1024 * 1024;

/// The most body bytes a route reads, and how it refuses more.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyCap {
    /// At most this many bytes.
    pub max: usize,
    /// The shape of the 413.
    pub shape: ErrorBody,
}

/// How errors of the route at `path` are written (also a 5xx's shape).
pub fn error_shape(path: &str) -> ErrorBody {
    body_cap(path).shape
}

/// The cap of the route at `path`.
pub fn body_cap(path: &str) -> BodyCap {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (max, shape) = match segs.as_slice() {
        ["admin", "import"] => (MAX_IMPORT_BYTES, ErrorBody::OperationOutcome),
        ["admin", ..] => (ADMIN_BODY_MAX, ErrorBody::OperationOutcome),
        ["developer", "api", ..] | ["register", ..] => {
            (DEVELOPER_BODY_MAX, ErrorBody::OAuth("invalid_request"))
        }
        ["developer", ..] => (DEVELOPER_BODY_MAX, ErrorBody::Page),
        ["token"] | ["introspect"] | ["revoke"] => (FORM_BODY_MAX, ErrorBody::OAuth("invalid_request")),
        ["authorize", ..] | ["portal", ..] | ["practice", ..] | ["ehr", ..] => {
            (FORM_BODY_MAX, ErrorBody::Page)
        }
        _ => (FORM_BODY_MAX, ErrorBody::OperationOutcome),
    };
    BodyCap { max, shape }
}

/// 413 when the body, or the length the request declares, is over the
/// route's cap.
pub fn check_body(req: &HttpRequest) -> Result<(), ApiError> {
    let cap = body_cap(req.url.path());
    let declared = req
        .header_value("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if req.body.len() <= cap.max && declared <= cap.max as u64 {
        return Ok(());
    }
    let mut e = ApiError::new(
        413,
        "too-costly",
        format!(
            "the request body is over the {} KiB limit of {}",
            cap.max / 1024,
            req.url.path()
        ),
    );
    e.body = cap.shape;
    Err(e)
}

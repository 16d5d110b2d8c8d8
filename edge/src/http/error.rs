//! Client-visible errors, turned into responses in exactly one place
//! ([`ApiError::into_response`]): an OperationOutcome on FHIR routes, OAuth
//! error JSON on OAuth endpoints, an HTML page on the browser pages.
//!
//! A server-side failure (storage, WebCrypto, the queue) never reaches the
//! caller: [`ApiError::with_incident`] (called by `App::respond` for every
//! 5xx) logs its message under a random id and answers "internal error
//! (id …)" only.

use serde_json::json;

use crate::http::HttpResponse;
use crate::platform::PlatformError;
use crate::store::DbError;

/// An error answered with a FHIR OperationOutcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// OperationOutcome issue code (`invalid`, `not-found`, `security`, …).
    pub code: &'static str,
    /// Human-readable diagnostics.
    pub message: String,
    /// Per-entry issues (e.g. each bad Bundle entry), with their FHIRPath location.
    pub details: Vec<(String, String)>,
    /// Extra headers (`WWW-Authenticate`, `Allow`).
    pub headers: Vec<(String, String)>,
    /// How the error is written.
    pub body: ErrorBody,
}

/// The shape of an error response.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ErrorBody {
    /// A FHIR OperationOutcome.
    #[default]
    OperationOutcome,
    /// An OAuth error (RFC 6749 §5.2): `{"error": code, "error_description": message}`.
    OAuth(&'static str),
    /// A server-rendered HTML page (authorize and portal pages).
    Page,
}

impl ApiError {
    /// An error with a status, issue code and message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
            body: ErrorBody::OperationOutcome,
        }
    }
    /// 500 for a server-side failure: `detail` goes to the log, the caller
    /// reads "internal error (id …)" (see [`ApiError::with_incident`]).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, "exception", detail)
    }
    /// A 5xx gets an incident id: its message (the detail) is logged under it, and the caller sees only
    /// "internal error (id …)", in `shape` (the route's) unless the error
    /// already has a shape of its own. Other errors are returned unchanged.
    pub fn with_incident(mut self, id: &str, shape: ErrorBody) -> Self {
        if self.status < 500 {
            return self;
        }
        crate::platform::log(&format!("internal error {id}: {}", self.message));
        self.message = format!("internal error (id {id})");
        self.code = "exception";
        self.details.clear();
        if self.body == ErrorBody::OperationOutcome {
            self.body = shape;
        }
        if let ErrorBody::OAuth(_) = self.body {
            self.body = ErrorBody::OAuth("server_error");
        }
        self
    }
    /// An OAuth error JSON with `Cache-Control: no-store`.
    pub fn oauth(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        let mut e = Self::new(status, "security", description);
        e.body = ErrorBody::OAuth(error);
        e
    }
    /// An HTML error page.
    pub fn page(status: u16, message: impl Into<String>) -> Self {
        let mut e = Self::new(status, "security", message);
        e.body = ErrorBody::Page;
        e
    }
    /// 403 `forbidden` with `WWW-Authenticate: Bearer error="insufficient_scope"`.
    pub fn insufficient_scope(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(403, "forbidden", message.clone());
        e.headers.push((
            "www-authenticate".into(),
            format!(
                "Bearer realm=\"flare\", error=\"insufficient_scope\", error_description=\"{}\"",
                message.replace(['"', '\\'], "'")
            ),
        ));
        e
    }
    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_s: i64, body: ErrorBody) -> Self {
        let mut e = Self::new(
            429,
            "throttled",
            format!("too many requests; retry after {retry_after_s} s"),
        );
        e.headers.push(("retry-after".into(), retry_after_s.to_string()));
        e.body = body;
        e
    }
    /// 400 `invalid`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "invalid", message)
    }
    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not-found", message)
    }
    /// 401 with `WWW-Authenticate`.
    pub fn unauthorized(message: impl Into<String>, www_authenticate: &str) -> Self {
        let mut e = Self::new(401, "login", message);
        e.headers
            .push(("www-authenticate".into(), www_authenticate.into()));
        e
    }
    /// 405 with `Allow`.
    pub fn method_not_allowed(allow: &str) -> Self {
        let mut e = Self::new(
            405,
            "not-supported",
            format!("this server is read-only here; allowed: {allow}"),
        );
        e.headers.push(("allow".into(), allow.into()));
        e
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The OperationOutcome body.
    pub fn outcome(&self) -> serde_json::Value {
        let mut issues = vec![json!({"severity": "error", "code": self.code, "diagnostics": self.message})];
        for (loc, msg) in &self.details {
            issues.push(
                json!({"severity": "error", "code": self.code, "diagnostics": msg, "expression": [loc]}),
            );
        }
        json!({"resourceType": "OperationOutcome", "issue": issues})
    }

    /// The response: status, body in its shape, headers. `page` renders the
    /// HTML error page of [`ErrorBody::Page`] (the web layer's frame, which
    /// this layer does not know).
    pub fn into_response(self, page: fn(u16, &str) -> HttpResponse) -> HttpResponse {
        let mut r = match &self.body {
            ErrorBody::OperationOutcome => HttpResponse::fhir(self.status, self.outcome().to_string()),
            ErrorBody::OAuth(code) => {
                let error = if self.status == 429 {
                    "temporarily_unavailable"
                } else {
                    code
                };
                HttpResponse::json(
                    self.status,
                    &json!({"error": error, "error_description": self.message}),
                )
                .with_header("cache-control", "no-store")
                .with_header("pragma", "no-cache")
            }
            ErrorBody::Page => page(self.status, &self.message),
        };
        r.headers.extend(self.headers);
        r
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        // Not the client's fault: the cause goes to the operator's log only.
        ApiError::internal(e.to_string())
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        // WebCrypto, R2 or the queue failed: logged under an incident id.
        ApiError::internal(e.to_string())
    }
}

impl From<flare_core::search::SearchError> for ApiError {
    fn from(e: flare_core::search::SearchError) -> Self {
        ApiError::bad_request(e.0)
    }
}

/// Result of a handler.
pub type ApiResult = Result<HttpResponse, ApiError>;

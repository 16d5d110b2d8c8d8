//! Client-visible errors, turned into OperationOutcome responses in exactly
//! one place ([`ApiError::into_response`]).

use serde_json::json;

use super::http::HttpResponse;
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
        }
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

    /// The response: status, OperationOutcome, headers.
    pub fn into_response(self) -> HttpResponse {
        let mut r = HttpResponse::fhir(self.status, self.outcome().to_string());
        r.headers.extend(self.headers);
        r
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        // Not the client's fault: a 500 with the cause for the operator's logs.
        ApiError::new(500, "exception", e.to_string())
    }
}

impl From<flare_core::search::SearchError> for ApiError {
    fn from(e: flare_core::search::SearchError) -> Self {
        ApiError::bad_request(e.0)
    }
}

/// Result of a handler.
pub type ApiResult = Result<HttpResponse, ApiError>;

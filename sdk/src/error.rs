//! Typed errors: what went wrong, with the HTTP status and the server's own
//! words (OperationOutcome issues or the OAuth error code) when there are any.

use crate::json::{text_at, texts_at, Json};

/// The kind of failure, so an app can branch without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request never got an HTTP answer (offline, DNS, CORS refused).
    Network,
    /// A FHIR server answered with an error status (usually an OperationOutcome).
    Fhir,
    /// The authorization server answered with an OAuth error (RFC 6749 §5.2), or
    /// the redirect carried `error=…`.
    OAuth,
    /// The launch cannot proceed: bad options, unknown `state`, unsupported server.
    Launch,
    /// The id_token failed verification (signature, `iss`, `aud`, `exp`, `nonce`).
    IdToken,
    /// Browser storage is unavailable (blocked third-party storage in an EHR iframe).
    StorageUnavailable,
    /// The request was aborted through its `AbortSignal`.
    Aborted,
    /// The popup could not be opened (not called from a user gesture) or was closed.
    Popup,
    /// A response was not what the protocol says (not JSON, not a Bundle).
    Protocol,
}

impl ErrorKind {
    /// The name JS sees as `error.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Network => "network",
            ErrorKind::Fhir => "fhir",
            ErrorKind::OAuth => "oauth",
            ErrorKind::Launch => "launch",
            ErrorKind::IdToken => "id_token",
            ErrorKind::StorageUnavailable => "storage_unavailable",
            ErrorKind::Aborted => "aborted",
            ErrorKind::Popup => "popup",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `fatal | error | warning | information`.
    pub severity: String,
    /// The issue type code (`invalid`, `not-found`, `forbidden`, `throttled` …).
    pub code: String,
    /// `diagnostics`, else `details.text`.
    pub diagnostics: Option<String>,
    /// `expression` (FHIRPath of the offending element or parameter).
    pub expression: Vec<String>,
}

/// An error of the SDK.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// A sentence for people.
    pub message: String,
    /// The HTTP status, when a server answered.
    pub status: Option<u16>,
    /// The OAuth `error` code (`invalid_grant`, `access_denied` …).
    pub oauth_error: Option<String>,
    /// OperationOutcome issues from a FHIR error response.
    pub issues: Vec<Issue>,
    /// Seconds the server asked to wait (`Retry-After`), when it did.
    pub retry_after: Option<f64>,
}

impl SdkError {
    /// An error with a kind and a message only.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> SdkError {
        SdkError {
            kind,
            message: message.into(),
            status: None,
            oauth_error: None,
            issues: Vec::new(),
            retry_after: None,
        }
    }

    /// A launch error (bad options, unknown state …).
    pub fn launch(message: impl Into<String>) -> SdkError {
        SdkError::new(ErrorKind::Launch, message)
    }

    /// An OAuth error with its code.
    pub fn oauth(code: &str, description: Option<&str>, status: Option<u16>) -> SdkError {
        let message = match description {
            Some(d) => format!("{code}: {d}"),
            None => code.to_string(),
        };
        SdkError {
            oauth_error: Some(code.to_string()),
            status,
            ..SdkError::new(ErrorKind::OAuth, message)
        }
    }

    /// The error for an HTTP error status from a FHIR endpoint, with the issues
    /// of the OperationOutcome body when there is one.
    pub fn from_fhir_response<J: Json>(status: u16, body: Option<&J>) -> SdkError {
        let issues = body.map(operation_outcome_issues).unwrap_or_default();
        let detail = issues
            .iter()
            .find_map(|i| i.diagnostics.clone())
            .unwrap_or_else(|| "no OperationOutcome".to_string());
        SdkError {
            status: Some(status),
            issues,
            ..SdkError::new(ErrorKind::Fhir, format!("HTTP {status}: {detail}"))
        }
    }

    /// The error for an error status from an OAuth endpoint (`/token`): the
    /// RFC 6749 body when present, else a generic one.
    pub fn from_oauth_response<J: Json>(status: u16, body: Option<&J>) -> SdkError {
        match body.and_then(|b| text_at(b, "error")) {
            Some(code) => SdkError::oauth(
                &code,
                body.and_then(|b| text_at(b, "error_description")).as_deref(),
                Some(status),
            ),
            None => SdkError {
                status: Some(status),
                ..SdkError::new(ErrorKind::OAuth, format!("token endpoint answered HTTP {status}"))
            },
        }
    }
}

impl std::fmt::Display for SdkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SdkError {}

/// The issues of an OperationOutcome (empty when `body` is not one).
pub fn operation_outcome_issues<J: Json>(body: &J) -> Vec<Issue> {
    if text_at(body, "resourceType").as_deref() != Some("OperationOutcome") {
        return Vec::new();
    }
    let issues = body.member("issue").map(|i| i.elements()).unwrap_or_default();
    issues
        .iter()
        .map(|issue| Issue {
            severity: text_at(issue, "severity").unwrap_or_default(),
            code: text_at(issue, "code").unwrap_or_default(),
            diagnostics: text_at(issue, "diagnostics")
                .or_else(|| issue.member("details").and_then(|d| text_at(&d, "text"))),
            expression: texts_at(issue, "expression"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fhir_error_carries_status_and_issues() {
        let body = json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "invalid", "diagnostics": "unknown parameter 'foo'", "expression": ["foo"]},
            {"severity": "warning", "code": "processing", "details": {"text": "second"}}
        ]});
        let e = SdkError::from_fhir_response(400, Some(&&body));
        assert_eq!(e.kind, ErrorKind::Fhir);
        assert_eq!(e.status, Some(400));
        assert_eq!(e.issues.len(), 2);
        assert_eq!(e.issues[0].expression, vec!["foo"]);
        assert_eq!(e.issues[1].diagnostics.as_deref(), Some("second"));
        assert!(e.message.contains("unknown parameter 'foo'"));
    }

    #[test]
    fn non_outcome_bodies_give_no_issues() {
        let e = SdkError::from_fhir_response::<&serde_json::Value>(502, None);
        assert!(e.issues.is_empty());
        assert_eq!(e.message, "HTTP 502: no OperationOutcome");
        let body = json!({"resourceType": "Patient"});
        assert!(operation_outcome_issues(&&body).is_empty());
    }

    #[test]
    fn oauth_error_reads_rfc6749_body() {
        let body = json!({"error": "invalid_grant", "error_description": "code used"});
        let e = SdkError::from_oauth_response(400, Some(&&body));
        assert_eq!(e.kind, ErrorKind::OAuth);
        assert_eq!(e.oauth_error.as_deref(), Some("invalid_grant"));
        assert_eq!(e.message, "invalid_grant: code used");
        let e = SdkError::from_oauth_response::<&serde_json::Value>(500, None);
        assert_eq!(e.oauth_error, None);
        assert_eq!(e.status, Some(500));
    }
}

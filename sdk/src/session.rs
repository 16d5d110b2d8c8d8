//! The session after a launch: tokens, their expiry, the launch context, and
//! the refresh decisions (refresh shortly before expiry; on a 401 refresh at
//! most once, and not at all when another request already refreshed).

use flare_core::smart::wire::TokenResponse;

use crate::error::{ErrorKind, SdkError};
use crate::form;
use crate::json::{text_at, Json};

/// Refresh this long before expiry, at most …
pub const REFRESH_MARGIN_MS: f64 = 60_000.0;
/// … and at most this fraction of the token's lifetime (short test lifetimes).
pub const REFRESH_MARGIN_FRACTION: f64 = 0.1;

/// Reads a token response. `fhirContext` is left to the caller, which keeps
/// it as the raw JSON it came as (it is returned to the app untouched).
pub fn token_response<J: Json>(body: &J) -> Result<TokenResponse, SdkError> {
    let required = |name: &str| {
        text_at(body, name).ok_or_else(|| {
            SdkError::new(
                ErrorKind::Protocol,
                crate::form::cat(&["token response has no ", name]),
            )
        })
    };
    let token_type = required("token_type")?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(SdkError::new(
            ErrorKind::Protocol,
            crate::form::cat(&["token_type ", &token_type, " is not Bearer"]),
        ));
    }
    Ok(TokenResponse {
        access_token: required("access_token")?,
        token_type,
        expires_in: body
            .member("expires_in")
            .and_then(|v| v.number())
            .map(|n| n as i64)
            .unwrap_or(0),
        scope: text_at(body, "scope").unwrap_or_default(),
        refresh_token: text_at(body, "refresh_token"),
        id_token: text_at(body, "id_token"),
        patient: text_at(body, "patient"),
        encounter: text_at(body, "encounter"),
        need_patient_banner: body.member("need_patient_banner").and_then(|v| v.boolean()),
        smart_style_url: text_at(body, "smart_style_url"),
        fhir_context: None,
    })
}

/// An authorized session with one FHIR server.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The FHIR base.
    pub server: String,
    /// Client id (sent with refresh requests).
    pub client_id: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// The current access token.
    pub access_token: String,
    /// The current refresh token, if granted.
    pub refresh_token: Option<String>,
    /// When the access token expires (epoch ms), if the server said.
    pub expires_at_ms: Option<f64>,
    /// The access token's lifetime as issued (ms).
    pub lifetime_ms: Option<f64>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Patient in context.
    pub patient: Option<String>,
    /// Encounter in context.
    pub encounter: Option<String>,
    /// Whether the app must show a patient banner (SMART default: true).
    pub need_patient_banner: Option<bool>,
    /// The EHR's style URL.
    pub smart_style_url: Option<String>,
    /// `fhirContext` as JSON text.
    pub fhir_context_json: Option<String>,
    /// `fhirUser` from the verified id_token.
    pub fhir_user: Option<String>,
    /// The token response as JSON text, with the fields of later refresh
    /// responses merged over it: what the server sent beyond SMART's own
    /// fields (`intent`, `tenant`, vendor fields) reaches the app.
    pub token_response_json: Option<String>,
    /// The claims of the verified id_token as JSON text.
    pub id_token_claims_json: Option<String>,
}

impl Session {
    /// The session a code exchange created.
    pub fn new(
        server: &str,
        client_id: &str,
        token_endpoint: &str,
        response: &TokenResponse,
        fhir_context_json: Option<String>,
        fhir_user: Option<String>,
        now_ms: f64,
    ) -> Session {
        let mut s = Session {
            server: server.to_string(),
            client_id: client_id.to_string(),
            token_endpoint: token_endpoint.to_string(),
            access_token: String::new(),
            refresh_token: None,
            expires_at_ms: None,
            lifetime_ms: None,
            scope: String::new(),
            patient: response.patient.clone(),
            encounter: response.encounter.clone(),
            need_patient_banner: response.need_patient_banner,
            smart_style_url: response.smart_style_url.clone(),
            fhir_context_json,
            fhir_user,
            token_response_json: None,
            id_token_claims_json: None,
        };
        s.apply(response, now_ms);
        s
    }

    /// Takes in a (refresh) token response: new tokens, expiry and scopes; a
    /// refresh token is kept when the response does not rotate it. Launch
    /// context stays as the launch set it.
    pub fn apply(&mut self, response: &TokenResponse, now_ms: f64) {
        self.access_token = response.access_token.clone();
        if response.refresh_token.is_some() {
            self.refresh_token = response.refresh_token.clone();
        }
        if !response.scope.is_empty() {
            self.scope = response.scope.clone();
        }
        let lifetime = (response.expires_in > 0).then_some(response.expires_in as f64 * 1000.0);
        self.lifetime_ms = lifetime;
        self.expires_at_ms = lifetime.map(|l| now_ms + l);
    }

    /// Granted scopes, one per element.
    pub fn scopes(&self) -> Vec<String> {
        self.scope.split_ascii_whitespace().map(str::to_string).collect()
    }

    /// Whether a request at `now_ms` should refresh first: the token is within
    /// its refresh margin of expiry (or past it) and a refresh token exists.
    pub fn needs_refresh(&self, now_ms: f64) -> bool {
        let (Some(expires), Some(_)) = (self.expires_at_ms, &self.refresh_token) else {
            return false;
        };
        let margin = self.lifetime_ms.map_or(REFRESH_MARGIN_MS, |l| {
            (l * REFRESH_MARGIN_FRACTION).min(REFRESH_MARGIN_MS)
        });
        now_ms >= expires - margin
    }

    /// Whether the access token is past its expiry.
    pub fn is_expired(&self, now_ms: f64) -> bool {
        self.expires_at_ms.is_some_and(|e| now_ms >= e)
    }

    /// The refresh request body (public client), if a refresh token exists.
    pub fn refresh_request(&self) -> Option<String> {
        let token = self.refresh_token.as_deref()?;
        Some(form::encode(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", self.client_id.as_str()),
        ]))
    }

    /// What to do after a 401 to a request sent with `token_sent`.
    pub fn after_unauthorized(&self, token_sent: &str, already_retried: bool) -> AuthRetry {
        if already_retried {
            AuthRetry::GiveUp
        } else if self.access_token != token_sent {
            AuthRetry::RetryWithCurrentToken
        } else if self.refresh_token.is_some() {
            AuthRetry::RefreshThenRetry
        } else {
            AuthRetry::GiveUp
        }
    }

    /// The storage form (the tab's session; cleared with the tab).
    pub fn encode(&self) -> String {
        // Whole milliseconds: integer formatting keeps float printing out of the wasm.
        let expires = self.expires_at_ms.map(form::integer);
        let lifetime = self.lifetime_ms.map(form::integer);
        let banner = self
            .need_patient_banner
            .map(|b| if b { "true" } else { "false" }.to_string());
        let optional = [
            ("refresh_token", &self.refresh_token),
            ("expires_at_ms", &expires),
            ("lifetime_ms", &lifetime),
            ("patient", &self.patient),
            ("encounter", &self.encounter),
            ("need_patient_banner", &banner),
            ("smart_style_url", &self.smart_style_url),
            ("fhir_context", &self.fhir_context_json),
            ("fhir_user", &self.fhir_user),
            ("token_response", &self.token_response_json),
            ("id_token_claims", &self.id_token_claims_json),
        ];
        let mut pairs = vec![
            ("server", self.server.as_str()),
            ("client_id", self.client_id.as_str()),
            ("token_endpoint", self.token_endpoint.as_str()),
            ("access_token", self.access_token.as_str()),
            ("scope", self.scope.as_str()),
        ];
        pairs.extend(optional.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))));
        form::encode(&pairs)
    }

    /// Reads the storage form.
    pub fn decode(text: &str) -> Option<Session> {
        let pairs = form::decode(text);
        let get = |n: &str| form::first(&pairs, n);
        Some(Session {
            server: get("server")?,
            client_id: get("client_id")?,
            token_endpoint: get("token_endpoint")?,
            access_token: get("access_token")?,
            refresh_token: get("refresh_token"),
            expires_at_ms: get("expires_at_ms")
                .and_then(|v| form::digits(&v))
                .map(|v| v as f64),
            lifetime_ms: get("lifetime_ms")
                .and_then(|v| form::digits(&v))
                .map(|v| v as f64),
            scope: get("scope").unwrap_or_default(),
            patient: get("patient"),
            encounter: get("encounter"),
            need_patient_banner: get("need_patient_banner").map(|v| v == "true"),
            smart_style_url: get("smart_style_url"),
            fhir_context_json: get("fhir_context"),
            fhir_user: get("fhir_user"),
            token_response_json: get("token_response"),
            id_token_claims_json: get("id_token_claims"),
        })
    }
}

/// The decision after a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRetry {
    /// Another request refreshed meanwhile: retry with the current token.
    RetryWithCurrentToken,
    /// Refresh (shared with concurrent requests), then retry once.
    RefreshThenRetry,
    /// Report the 401.
    GiveUp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(expires_in: i64, refresh: Option<&str>) -> TokenResponse {
        let body = json!({"access_token": "a1", "token_type": "bearer", "expires_in": expires_in,
            "scope": "openid patient/*.rs", "refresh_token": refresh, "patient": "p1",
            "need_patient_banner": false, "smart_style_url": "http://s"});
        token_response(&&body).unwrap()
    }

    #[test]
    fn reads_token_responses_strictly() {
        let r = response(3600, Some("r1"));
        assert_eq!(r.patient.as_deref(), Some("p1"));
        assert_eq!(r.need_patient_banner, Some(false));
        assert_eq!(r.refresh_token.as_deref(), Some("r1"));
        let body = json!({"token_type": "Bearer"});
        assert!(token_response(&&body)
            .unwrap_err()
            .message
            .contains("access_token"));
        let body = json!({"access_token": "a", "token_type": "mac"});
        assert!(token_response(&&body).is_err());
    }

    #[test]
    fn refreshes_within_margin_and_only_with_a_refresh_token() {
        let s = Session::new(
            "http://f",
            "c",
            "http://t",
            &response(3600, Some("r1")),
            None,
            None,
            0.0,
        );
        assert!(!s.needs_refresh(3_539_999.0));
        assert!(s.needs_refresh(3_540_000.0));
        // A 30 s token refreshes 3 s before expiry, not on every request.
        let s = Session::new(
            "http://f",
            "c",
            "http://t",
            &response(30, Some("r1")),
            None,
            None,
            0.0,
        );
        assert!(!s.needs_refresh(26_999.0));
        assert!(s.needs_refresh(27_000.0));
        let s = Session::new("http://f", "c", "http://t", &response(30, None), None, None, 0.0);
        assert!(!s.needs_refresh(40_000.0));
        assert!(s.is_expired(30_000.0));
        assert_eq!(s.refresh_request(), None);
    }

    #[test]
    fn refresh_keeps_context_and_unrotated_refresh_token() {
        let mut s = Session::new(
            "http://f",
            "c",
            "http://t",
            &response(60, Some("r1")),
            None,
            None,
            0.0,
        );
        let body = form::decode(&s.refresh_request().unwrap());
        assert_eq!(form::first(&body, "grant_type").as_deref(), Some("refresh_token"));
        assert_eq!(form::first(&body, "refresh_token").as_deref(), Some("r1"));
        let mut refreshed = response(60, None);
        refreshed.access_token = "a2".into();
        refreshed.patient = None;
        s.apply(&refreshed, 50_000.0);
        assert_eq!(s.access_token, "a2");
        assert_eq!(s.refresh_token.as_deref(), Some("r1"));
        assert_eq!(s.patient.as_deref(), Some("p1"));
        assert_eq!(s.expires_at_ms, Some(110_000.0));
    }

    #[test]
    fn one_refresh_per_401() {
        let s = Session::new(
            "http://f",
            "c",
            "http://t",
            &response(60, Some("r1")),
            None,
            None,
            0.0,
        );
        assert_eq!(s.after_unauthorized("a1", false), AuthRetry::RefreshThenRetry);
        assert_eq!(
            s.after_unauthorized("old", false),
            AuthRetry::RetryWithCurrentToken
        );
        assert_eq!(s.after_unauthorized("a1", true), AuthRetry::GiveUp);
        let s = Session::new("http://f", "c", "http://t", &response(60, None), None, None, 0.0);
        assert_eq!(s.after_unauthorized("a1", false), AuthRetry::GiveUp);
    }

    #[test]
    fn session_round_trips_through_storage_form() {
        let s = Session::new(
            "http://f",
            "c",
            "http://t",
            &response(60, Some("r1")),
            Some(r#"[{"reference":"Encounter/1"}]"#.into()),
            Some("http://f/Patient/p1".into()),
            5.0,
        );
        assert_eq!(Session::decode(&s.encode()), Some(s.clone()));
        assert_eq!(s.scopes(), vec!["openid", "patient/*.rs"]);
    }
}

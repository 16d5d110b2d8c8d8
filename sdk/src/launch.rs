//! The launch state machine of SMART App Launch
//! (<https://hl7.org/fhir/smart-app-launch/app-launch.html>), without I/O:
//!
//! 1. [`plan`]: from the app's options and the page URL (`iss`, `launch` for an
//!    EHR launch) to the server, client and scopes of this launch.
//! 2. [`PendingLaunch`]: after discovery, the record kept under its `state`
//!    (PKCE verifier, nonce, endpoints) and the authorization URL.
//! 3. [`redirect`]: what the redirect back says (`code` + `state`, or an error).
//! 4. [`PendingLaunch::token_request`]: the code exchange body.
//!
//! Each launch is keyed by its own `state`, so several launches can be in
//! flight in one tab (two iframes, two servers) without overwriting each other.

use flare_core::smart::scope::Scope;
use flare_core::smart::wire::SmartConfiguration;

use crate::error::{ErrorKind, SdkError};
use crate::form;

/// How long a pending launch stays valid in storage (authorization codes
/// live for minutes; a user may take a while to sign in).
pub const PENDING_TTL_MS: f64 = 30.0 * 60.0 * 1000.0;

/// Storage key of the pending launch with this `state`.
pub fn launch_key(state: &str) -> String {
    crate::form::cat(&["flare-smart:launch:", state])
}

/// Storage key of the session completed from the launch with this `state`.
pub fn session_key(state: &str) -> String {
    crate::form::cat(&["flare-smart:session:", state])
}

/// Storage key naming the tab's most recent session (for a page reload).
pub const CURRENT_SESSION_KEY: &str = "flare-smart:current";

/// One server the app can launch against, as the app configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchOptions {
    /// The app's client id at this server.
    pub client_id: String,
    /// Requested scopes, space-separated.
    pub scope: String,
    /// The registered redirect URI (absolute).
    pub redirect_uri: String,
    /// The FHIR base: required for a standalone launch; for an EHR launch it
    /// selects this entry when the URL's `iss` equals it.
    pub iss: Option<String>,
    /// An EHR launch id given explicitly instead of through the URL.
    pub launch: Option<String>,
}

/// What a page URL says about a launch or its completion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlParams {
    /// `iss`: the FHIR base of an EHR launch.
    pub iss: Option<String>,
    /// `launch`: the EHR launch id.
    pub launch: Option<String>,
    /// `code`: the authorization code of a redirect.
    pub code: Option<String>,
    /// `state` of a redirect.
    pub state: Option<String>,
    /// `error` of a redirect.
    pub error: Option<String>,
    /// `error_description` of a redirect.
    pub error_description: Option<String>,
}

/// Reads the launch parameters from a URL's query.
pub fn url_params(url: &str) -> UrlParams {
    let pairs = form::decode(form::query_of(url));
    let get = |n: &str| form::first(&pairs, n).filter(|v| !v.is_empty());
    UrlParams {
        iss: get("iss"),
        launch: get("launch"),
        code: get("code"),
        state: get("state"),
        error: get("error"),
        error_description: get("error_description"),
    }
}

/// The launch the SDK will perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    /// The FHIR base, also sent as `aud`.
    pub server: String,
    /// The EHR launch id (EHR launch only).
    pub launch: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Scopes as sent (`launch` added for an EHR launch).
    pub scope: String,
    /// Redirect URI.
    pub redirect_uri: String,
}

fn same_base(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Chooses the server and completes the scopes.
///
/// - EHR launch (`iss` and `launch` in the URL): with a single entry without
///   `iss`, any `iss` is accepted (as fhirclient does); otherwise the URL's
///   `iss` must equal one entry's `iss`, so a forged link cannot send the user
///   to a server the app does not know. `launch` is added to the scopes.
/// - Standalone launch: the first entry with an `iss`.
///
/// Scopes that look like SMART resource scopes (`patient/`, `user/`,
/// `system/`) must parse under the SMART grammar, so a typo fails here and
/// not as a silent denial at the server.
pub fn plan(options: &[LaunchOptions], url: &UrlParams) -> Result<LaunchPlan, SdkError> {
    let chosen = match (&url.iss, &url.launch) {
        (None, Some(_)) => return Err(SdkError::launch("the URL has `launch` but no `iss`")),
        (Some(iss), _) => {
            let entry = match options {
                [only] if only.iss.is_none() => Some(only),
                _ => options
                    .iter()
                    .find(|o| o.iss.as_deref().is_some_and(|i| same_base(i, iss))),
            };
            let entry = entry.ok_or_else(|| {
                SdkError::launch(crate::form::cat(&[
                    "iss ",
                    iss,
                    " is not one of the servers this app is configured for",
                ]))
            })?;
            (
                entry,
                iss.clone(),
                url.launch.clone().or_else(|| entry.launch.clone()),
            )
        }
        (None, None) => {
            let entry = options.iter().find(|o| o.iss.is_some()).ok_or_else(|| {
                SdkError::launch("a standalone launch needs `iss` (the FHIR base) in the options")
            })?;
            (entry, entry.iss.clone().unwrap_or_default(), entry.launch.clone())
        }
    };
    let (entry, server, launch) = chosen;
    if entry.client_id.is_empty() {
        return Err(SdkError::launch("clientId is required"));
    }
    if entry.redirect_uri.is_empty() {
        return Err(SdkError::launch("redirectUri is required"));
    }
    check_scopes(&entry.scope)?;
    let mut scope = form::join(&entry.scope.split_ascii_whitespace().collect::<Vec<_>>(), " ");
    if launch.is_some() && !scope.split(' ').any(|s| s == "launch") {
        scope = if scope.is_empty() {
            "launch".into()
        } else {
            crate::form::cat(&["launch ", &scope])
        };
    }
    Ok(LaunchPlan {
        server: server.trim_end_matches('/').to_string(),
        launch,
        client_id: entry.client_id.clone(),
        scope,
        redirect_uri: entry.redirect_uri.clone(),
    })
}

/// Rejects malformed SMART resource scopes (other tokens pass: servers may
/// define their own).
pub fn check_scopes(scope: &str) -> Result<(), SdkError> {
    for token in scope.split_ascii_whitespace() {
        let resource_like = ["patient/", "user/", "system/"]
            .iter()
            .any(|p| token.starts_with(p));
        if resource_like {
            Scope::parse(token).map_err(|e| SdkError::launch(crate::form::cat(&["bad scope: ", &e.0])))?;
        }
    }
    Ok(())
}

/// A launch in flight, kept in storage under its `state` until the redirect
/// returns. It holds the PKCE verifier, which a public client needs; it never
/// holds tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLaunch {
    /// The `state` sent to the authorization endpoint.
    pub state: String,
    /// The FHIR base.
    pub server: String,
    /// Client id.
    pub client_id: String,
    /// Redirect URI sent (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// Scopes requested.
    pub scope: String,
    /// The PKCE code verifier.
    pub code_verifier: String,
    /// The OpenID Connect nonce (when `openid` was requested).
    pub nonce: Option<String>,
    /// Token endpoint from discovery.
    pub token_endpoint: String,
    /// JWKS from discovery (id_token verification).
    pub jwks_uri: Option<String>,
    /// Issuer from discovery (id_token `iss`).
    pub issuer: Option<String>,
    /// When this record stops being accepted (epoch ms).
    pub expires_at_ms: f64,
}

impl PendingLaunch {
    /// The record for `plan` at a server described by `config`.
    pub fn new(
        plan: &LaunchPlan,
        config: &SmartConfiguration,
        state: String,
        code_verifier: String,
        nonce: Option<String>,
        now_ms: f64,
    ) -> PendingLaunch {
        let wants_openid = plan.scope.split(' ').any(|s| s == "openid");
        PendingLaunch {
            state,
            server: plan.server.clone(),
            client_id: plan.client_id.clone(),
            redirect_uri: plan.redirect_uri.clone(),
            scope: plan.scope.clone(),
            code_verifier,
            nonce: nonce.filter(|_| wants_openid),
            token_endpoint: config.token_endpoint.clone(),
            jwks_uri: config.jwks_uri.clone(),
            issuer: config.issuer.clone(),
            expires_at_ms: now_ms + PENDING_TTL_MS,
        }
    }

    /// The authorization URL (code flow, PKCE S256, `aud`, optional `launch` and `nonce`).
    pub fn authorize_url(
        &self,
        authorization_endpoint: &str,
        challenge: &str,
        launch: Option<&str>,
    ) -> String {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", self.scope.as_str()),
            ("state", self.state.as_str()),
            ("aud", self.server.as_str()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        if let Some(l) = launch {
            pairs.push(("launch", l));
        }
        if let Some(n) = &self.nonce {
            pairs.push(("nonce", n));
        }
        form::with_query(authorization_endpoint, &pairs)
    }

    /// The body of the code exchange (`POST token_endpoint`, public client).
    pub fn token_request(&self, code: &str) -> String {
        form::encode(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", self.code_verifier.as_str()),
        ])
    }

    /// Whether the record is still valid at `now_ms`.
    pub fn is_live(&self, now_ms: f64) -> bool {
        now_ms < self.expires_at_ms
    }

    /// The storage form.
    pub fn encode(&self) -> String {
        let expires = crate::form::integer(self.expires_at_ms);
        let mut pairs = vec![
            ("state", self.state.as_str()),
            ("server", self.server.as_str()),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", self.scope.as_str()),
            ("code_verifier", self.code_verifier.as_str()),
            ("token_endpoint", self.token_endpoint.as_str()),
            ("expires_at_ms", expires.as_str()),
        ];
        for (k, v) in [
            ("nonce", &self.nonce),
            ("jwks_uri", &self.jwks_uri),
            ("issuer", &self.issuer),
        ] {
            if let Some(v) = v {
                pairs.push((k, v.as_str()));
            }
        }
        form::encode(&pairs)
    }

    /// Reads the storage form; `None` if it is not one.
    pub fn decode(text: &str) -> Option<PendingLaunch> {
        let pairs = form::decode(text);
        let get = |n: &str| form::first(&pairs, n);
        Some(PendingLaunch {
            state: get("state")?,
            server: get("server")?,
            client_id: get("client_id")?,
            redirect_uri: get("redirect_uri")?,
            scope: get("scope")?,
            code_verifier: get("code_verifier")?,
            nonce: get("nonce"),
            token_endpoint: get("token_endpoint")?,
            jwks_uri: get("jwks_uri"),
            issuer: get("issuer"),
            expires_at_ms: form::digits(&get("expires_at_ms")?)? as f64,
        })
    }
}

/// What the page URL is, from the point of view of `ready()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// A successful redirect: exchange `code` for the launch `state`.
    Code {
        /// The authorization code.
        code: String,
        /// The launch it belongs to.
        state: String,
    },
    /// The server redirected with an OAuth error (the user denied, bad scope …).
    Error {
        /// The launch it belongs to, if echoed.
        state: Option<String>,
        /// The OAuth error code.
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// Not a redirect: a page load after the launch (restore the session).
    None,
}

/// Classifies a page URL.
pub fn redirect(url: &UrlParams) -> Redirect {
    match (&url.code, &url.state, &url.error) {
        (_, state, Some(error)) => Redirect::Error {
            state: state.clone(),
            error: error.clone(),
            description: url.error_description.clone(),
        },
        (Some(code), Some(state), None) => Redirect::Code {
            code: code.clone(),
            state: state.clone(),
        },
        _ => Redirect::None,
    }
}

/// The error `ready()` reports for an error redirect.
pub fn redirect_error(error: &str, description: Option<&str>) -> SdkError {
    SdkError::oauth(error, description, None)
}

/// The error when a redirect's `state` has no pending launch in storage:
/// the launch was started in another storage partition (an EHR iframe with
/// blocked or partitioned storage), expired, or was already completed.
pub fn unknown_state_error() -> SdkError {
    SdkError::new(
        ErrorKind::StorageUnavailable,
        "no pending launch for this `state`: it expired, was already completed, or was started where \
         this page cannot read its storage (an EHR iframe with partitioned storage); launch with \
         target \"popup\" or \"_top\"",
    )
}

/// Whether `authorize` with `target` restarts the launch at the top level
/// instead of starting it here: `_top` from a frame (`in_frame`), unless the
/// app passed its own store (`own_store`, which it says the top level can
/// read) or asked for the URL only (`no_redirect`). The redirect lands at the
/// top level, whose storage a frame cannot write (third-party storage blocked,
/// or partitioned by the embedding site), so a record kept by the frame would
/// be lost; the top level loads the launch page (with its `iss` and `launch`)
/// and the launch runs there with first-party storage.
pub fn restarts_at_top(target: &str, in_frame: bool, own_store: bool, no_redirect: bool) -> bool {
    target == "_top" && in_frame && !own_store && !no_redirect
}

/// The launch `state` whose session `ready()` restores when no redirect is
/// pending: the one the app names (`explicit`), else the one this page
/// completed (`page`, kept in `history.state`: per frame and per history
/// entry, and kept over a reload), else the tab's latest (`tab`, the
/// [`CURRENT_SESSION_KEY`] record, shared by every same-origin frame of the
/// tab, so only for a page that kept none, such as another page of the app).
pub fn restore_state<'a>(
    explicit: Option<&'a str>,
    page: Option<&'a str>,
    tab: Option<&'a str>,
) -> Option<&'a str> {
    let given = |s: Option<&'a str>| s.filter(|s| !s.is_empty());
    given(explicit).or(given(page)).or(given(tab))
}

/// `url` without the OAuth redirect parameters (`code`, `state`, `error`,
/// `error_description`, `error_uri`), for `history.replaceState`: a reload or
/// a shared link then never replays a code.
pub fn strip_redirect_params(url: &str) -> String {
    let (no_fragment, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    let (path, query) = match no_fragment.split_once('?') {
        Some((p, q)) => (p, q),
        None => return url.to_string(),
    };
    const DROP: [&str; 5] = ["code", "state", "error", "error_description", "error_uri"];
    let mut out = path.to_string();
    let mut first = true;
    for part in query.split('&') {
        let name = part.split('=').next().unwrap_or("");
        if part.is_empty() || DROP.contains(&name) {
            continue;
        }
        out.push(if first { '?' } else { '&' });
        first = false;
        out.push_str(part);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_target_restarts_at_the_top_level_only_from_a_frame() {
        assert!(restarts_at_top("_top", true, false, false));
        // At the top level `_top` is this window; the app's own store is shared; noRedirect only wants the URL.
        assert!(!restarts_at_top("_top", false, false, false));
        assert!(!restarts_at_top("_top", true, true, false));
        assert!(!restarts_at_top("_top", true, false, true));
        for other in ["_self", "popup", "_parent", "named"] {
            assert!(!restarts_at_top(other, true, false, false), "{other}");
        }
    }

    #[test]
    fn a_reload_restores_this_page_launch_before_the_tab_latest() {
        // Two same-origin frames share the tab's latest ("b"); each page keeps its own.
        assert_eq!(restore_state(None, Some("a"), Some("b")), Some("a"));
        assert_eq!(restore_state(Some("x"), Some("a"), Some("b")), Some("x"));
        assert_eq!(restore_state(None, None, Some("b")), Some("b"));
        assert_eq!(restore_state(Some(""), Some(""), Some("b")), Some("b"));
        assert_eq!(restore_state(None, None, None), None);
    }

    fn opts(iss: Option<&str>, client: &str) -> LaunchOptions {
        LaunchOptions {
            client_id: client.into(),
            scope: "openid fhirUser patient/*.rs".into(),
            redirect_uri: "http://app/".into(),
            iss: iss.map(Into::into),
            launch: None,
        }
    }

    fn config() -> SmartConfiguration {
        SmartConfiguration {
            issuer: Some("http://ehr/fhir".into()),
            jwks_uri: Some("http://ehr/jwks".into()),
            authorization_endpoint: "http://ehr/authorize".into(),
            token_endpoint: "http://ehr/token".into(),
            revocation_endpoint: None,
            code_challenge_methods_supported: vec!["S256".into()],
            capabilities: vec![],
            ..SmartConfiguration::default()
        }
    }

    #[test]
    fn standalone_uses_the_configured_server() {
        let p = plan(&[opts(Some("http://ehr/fhir/"), "app")], &UrlParams::default()).unwrap();
        assert_eq!(p.server, "http://ehr/fhir");
        assert_eq!(p.launch, None);
        assert_eq!(p.scope, "openid fhirUser patient/*.rs");
        let err = plan(&[opts(None, "app")], &UrlParams::default()).unwrap_err();
        assert!(err.message.contains("standalone"));
    }

    #[test]
    fn ehr_launch_picks_the_entry_for_iss_and_adds_launch_scope() {
        let url = url_params("http://app/launch?iss=http%3A%2F%2Fb%2Ffhir&launch=L1");
        let entries = [
            opts(Some("http://a/fhir"), "app-a"),
            opts(Some("http://b/fhir"), "app-b"),
        ];
        let p = plan(&entries, &url).unwrap();
        assert_eq!(
            (p.client_id.as_str(), p.server.as_str()),
            ("app-b", "http://b/fhir")
        );
        assert_eq!(p.launch.as_deref(), Some("L1"));
        assert_eq!(p.scope, "launch openid fhirUser patient/*.rs");
        let url = url_params("http://app/launch?iss=http%3A%2F%2Fevil%2Ffhir&launch=L1");
        assert!(plan(&entries, &url)
            .unwrap_err()
            .message
            .contains("not one of the servers"));
        // A single entry without iss accepts any iss.
        assert_eq!(plan(&[opts(None, "x")], &url).unwrap().server, "http://evil/fhir");
        let url = url_params("http://app/launch?launch=L1");
        assert!(plan(&[opts(None, "x")], &url).is_err());
    }

    #[test]
    fn malformed_smart_scopes_fail_before_the_redirect() {
        let mut o = opts(Some("http://a/fhir"), "app");
        o.scope = "patient/Observation.reed".into();
        assert!(plan(&[o.clone()], &UrlParams::default())
            .unwrap_err()
            .message
            .contains("bad scope"));
        o.scope = "patient/Observation.rs?category=laboratory custom_scope".into();
        assert!(plan(&[o], &UrlParams::default()).is_ok());
    }

    #[test]
    fn authorize_url_carries_pkce_aud_launch_and_nonce() {
        let url = url_params("http://app/?iss=http://ehr/fhir&launch=xyz");
        let p = plan(&[opts(None, "app")], &url).unwrap();
        let pending = PendingLaunch::new(&p, &config(), "st".into(), "ver".into(), Some("n1".into()), 0.0);
        let a = pending.authorize_url("http://ehr/authorize", "chal", p.launch.as_deref());
        let q = form::decode(form::query_of(&a));
        let get = |n: &str| form::first(&q, n).unwrap();
        assert!(a.starts_with("http://ehr/authorize?response_type=code&"));
        assert_eq!(get("aud"), "http://ehr/fhir");
        assert_eq!(get("code_challenge"), "chal");
        assert_eq!(get("code_challenge_method"), "S256");
        assert_eq!(get("launch"), "xyz");
        assert_eq!(get("nonce"), "n1");
        assert_eq!(get("state"), "st");
        assert_eq!(get("scope"), "launch openid fhirUser patient/*.rs");
    }

    #[test]
    fn nonce_only_with_openid_and_record_round_trips() {
        let mut o = opts(Some("http://ehr/fhir"), "app");
        o.scope = "patient/*.rs".into();
        let p = plan(&[o], &UrlParams::default()).unwrap();
        let pending = PendingLaunch::new(&p, &config(), "s".into(), "v".into(), Some("n".into()), 1000.0);
        assert_eq!(pending.nonce, None);
        assert_eq!(PendingLaunch::decode(&pending.encode()), Some(pending.clone()));
        assert!(pending.is_live(1000.0 + PENDING_TTL_MS - 1.0));
        assert!(!pending.is_live(1000.0 + PENDING_TTL_MS));
        assert_eq!(PendingLaunch::decode("state=x"), None);
        let body = form::decode(&pending.token_request("c&1"));
        assert_eq!(form::first(&body, "code").as_deref(), Some("c&1"));
        assert_eq!(form::first(&body, "code_verifier").as_deref(), Some("v"));
        assert_eq!(
            form::first(&body, "grant_type").as_deref(),
            Some("authorization_code")
        );
    }

    #[test]
    fn redirects_are_classified() {
        let r = redirect(&url_params("http://app/?code=c1&state=s1"));
        assert_eq!(
            r,
            Redirect::Code {
                code: "c1".into(),
                state: "s1".into()
            }
        );
        let r = redirect(&url_params("http://app/?error=access_denied&state=s1"));
        assert!(matches!(r, Redirect::Error { ref error, .. } if error == "access_denied"));
        assert_eq!(redirect(&url_params("http://app/?code=c1")), Redirect::None);
        assert_eq!(redirect(&url_params("http://app/")), Redirect::None);
    }

    #[test]
    fn strips_only_redirect_parameters() {
        assert_eq!(
            strip_redirect_params("http://app/p?code=1&state=2"),
            "http://app/p"
        );
        assert_eq!(
            strip_redirect_params("http://app/p?a=1&code=1&state=2&b=2#f"),
            "http://app/p?a=1&b=2#f"
        );
        assert_eq!(
            strip_redirect_params("http://app/p?error=x&error_description=y&state=2"),
            "http://app/p"
        );
        assert_eq!(strip_redirect_params("http://app/p"), "http://app/p");
        assert_eq!(
            strip_redirect_params("http://app/p?codec=1"),
            "http://app/p?codec=1"
        );
    }
}

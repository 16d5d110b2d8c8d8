//! The launch in motion: discovery and the authorization URL ([`Runtime::start`]),
//! the one-time code exchange, shared by every `ready()` that asks for the same
//! `state` so a code is never replayed ([`Runtime::complete`]), id_token
//! verification, and which session a later page load restores
//! ([`Runtime::restore`]). The decisions are [`crate::launch`]'s; this module
//! sequences them over a [`Platform`] and a [`Store`].

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use serde_json::Value;

use crate::error::{ErrorKind, SdkError};
use crate::id_token;
use crate::launch::{self, LaunchPlan, PendingLaunch};
use crate::pkce;
use crate::retry::RetryPolicy;
use crate::runtime::abort::AbortHandle;
use crate::runtime::client::Client;
use crate::runtime::http::{public_json, token_post};
use crate::runtime::platform::{Platform, Store};
use crate::session::{self, Session};

/// A code exchange in flight, awaited by every `ready()` of its `state`.
type SharedExchange = Shared<LocalBoxFuture<'static, Result<Session, SdkError>>>;

/// A launch whose authorization URL is known.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedLaunch {
    /// The authorization URL to send the user to.
    pub url: String,
    /// The launch's `state` (its key in storage and in the redirect).
    pub state: String,
}

/// One page's SDK: its platform and retry policy, the launches it started
/// (a popup's redirect completes here without storage), and its code
/// exchanges in flight. Several servers and clients share one runtime.
pub struct Runtime<P: Platform> {
    platform: Rc<P>,
    policy: RetryPolicy,
    // A few launches per page at most: lists keyed by `state`.
    started: RefCell<Vec<PendingLaunch>>,
    exchanging: RefCell<Vec<(String, SharedExchange)>>,
    latest: RefCell<Option<String>>,
}

impl<P: Platform> Runtime<P> {
    /// A runtime on `platform` with the default retry policy.
    pub fn new(platform: P) -> Rc<Runtime<P>> {
        Runtime::with_policy(platform, RetryPolicy::default())
    }

    /// A runtime with its own retry policy.
    pub fn with_policy(platform: P, policy: RetryPolicy) -> Rc<Runtime<P>> {
        Rc::new(Runtime {
            platform: Rc::new(platform),
            policy,
            started: RefCell::default(),
            exchanging: RefCell::default(),
            latest: RefCell::default(),
        })
    }

    /// The platform.
    pub fn platform(&self) -> &Rc<P> {
        &self.platform
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Discovers the server of `plan`, keeps the pending launch (PKCE
    /// verifier, nonce, endpoints) in `store` under a fresh `state`, and
    /// returns the authorization URL.
    pub async fn start(
        &self,
        plan: &LaunchPlan,
        store: &dyn Store,
        abort: &AbortHandle,
    ) -> Result<StartedLaunch, SdkError> {
        let p = &*self.platform;
        let doc = public_json(
            p,
            &self.policy,
            &crate::discovery::discovery_url(&plan.server),
            abort,
        )
        .await?;
        let config = crate::discovery::parse(&&doc)?;
        let state = pkce::random_token(&p.random_bytes()?);
        let verifier = pkce::verifier(&p.random_bytes()?);
        let nonce = pkce::random_token(&p.random_bytes()?);
        let pending = PendingLaunch::new(plan, &config, state.clone(), verifier, Some(nonce), p.now_ms());
        let digest = p.sha256(pending.code_verifier.as_bytes()).await?;
        let url = pending.authorize_url(
            &config.authorization_endpoint,
            &pkce::challenge(&digest),
            plan.launch.as_deref(),
        );
        store.set(&launch::launch_key(&state), &pending.encode()).await?;
        self.started.borrow_mut().push(pending);
        Ok(StartedLaunch { url, state })
    }

    /// Exchanges `code` for the launch `state` once: a second call for the
    /// same `state` (a second `ready()` on the page) joins the first instead
    /// of replaying the code. The session is kept in `store`.
    pub fn complete(
        self: &Rc<Self>,
        store: Rc<dyn Store>,
        code: String,
        state: String,
    ) -> impl std::future::Future<Output = Result<Session, SdkError>> {
        let running = self.exchange_of(&state).unwrap_or_else(|| {
            let me = self.clone();
            let key = state.clone();
            let running = async move {
                let result = me.exchange(&*store, &key, &code).await;
                me.exchanging.borrow_mut().retain(|(s, _)| *s != key);
                result
            }
            .boxed_local()
            .shared();
            self.exchanging
                .borrow_mut()
                .push((state.clone(), running.clone()));
            running
        });
        *self.latest.borrow_mut() = Some(state);
        running
    }

    fn exchange_of(&self, state: &str) -> Option<SharedExchange> {
        let exchanging = self.exchanging.borrow();
        exchanging
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, r)| r.clone())
    }

    fn take_started(&self, state: &str) -> Option<PendingLaunch> {
        let mut started = self.started.borrow_mut();
        let i = started.iter().position(|p| p.state == state)?;
        Some(started.remove(i))
    }

    /// The exchange most recently started on this page, while it runs: a
    /// `ready()` after the address bar was cleaned joins it.
    pub fn latest_exchange(&self) -> Option<(String, SharedExchange)> {
        let latest = self.latest.borrow().clone()?;
        let running = self.exchange_of(&latest)?;
        Some((latest, running))
    }

    /// Forgets the pending launch of a redirect that came back with an error.
    pub async fn forget_launch(&self, store: &dyn Store, state: &str) -> Result<(), SdkError> {
        self.take_started(state);
        store.remove(&launch::launch_key(state)).await
    }

    async fn exchange(&self, store: &dyn Store, state: &str, code: &str) -> Result<Session, SdkError> {
        let key = launch::launch_key(state);
        let stored = store.get(&key).await?.and_then(|t| PendingLaunch::decode(&t));
        let here = self.take_started(state);
        let pending = stored.or(here).ok_or_else(launch::unknown_state_error)?;
        store.remove(&key).await?;
        let p = &*self.platform;
        if !pending.is_live(p.now_ms()) {
            return Err(SdkError::launch("the launch expired; start it again"));
        }
        let never = AbortHandle::new();
        let body = token_post(
            p,
            &self.policy,
            &pending.token_endpoint,
            pending.token_request(code),
            &never,
        )
        .await?;
        // The token response is checked before the id_token.
        let token = session::token_response(&&body)?;
        let (fhir_user, claims) = match &token.id_token {
            Some(id_token) => {
                let (user, claims) = self.verify_id_token(id_token, &pending).await?;
                (user, Some(claims.to_string()))
            }
            None => (None, None),
        };
        let context = body
            .get("fhirContext")
            .filter(|c| c.is_array() || c.is_object())
            .map(Value::to_string);
        let mut s = Session::new(
            pending.server.trim_end_matches('/'),
            &pending.client_id,
            &pending.token_endpoint,
            &token,
            context,
            fhir_user,
            p.now_ms(),
        );
        s.token_response_json = Some(body.to_string());
        s.id_token_claims_json = claims;
        store.set(&launch::session_key(state), &s.encode()).await?;
        store.set(launch::CURRENT_SESSION_KEY, state).await?;
        Ok(s)
    }

    /// Verifies an id_token: RS256 with the server's JWKS key (the platform's
    /// verifier), then the claims. Its `fhirUser` and every claim.
    async fn verify_id_token(
        &self,
        token: &str,
        pending: &PendingLaunch,
    ) -> Result<(Option<String>, Value), SdkError> {
        let bad = |m: &str| SdkError::new(ErrorKind::IdToken, m);
        let parsed = id_token::parse(token)?;
        let jwks_uri = pending
            .jwks_uri
            .as_deref()
            .ok_or_else(|| bad("the server lists no jwks_uri to verify the id_token"))?;
        let p = &*self.platform;
        let jwks = public_json(p, &self.policy, jwks_uri, &AbortHandle::new()).await?;
        let keys: Vec<&Value> = jwks["keys"]
            .as_array()
            .map(|k| k.iter().collect())
            .unwrap_or_default();
        let key = keys[id_token::select_key_index(&keys, parsed.kid.as_deref())?];
        let (Some(n), Some(e)) = (key["n"].as_str(), key["e"].as_str()) else {
            return Err(bad("JWKS key lacks n or e"));
        };
        let verified = p
            .verify_rs256(n, e, parsed.signing_input.as_bytes(), &parsed.signature)
            .await?;
        if !verified {
            return Err(bad("id_token signature does not verify"));
        }
        let mut issuers = vec![pending.server.as_str()];
        issuers.extend(pending.issuer.as_deref());
        let expected = id_token::Expected {
            issuers,
            client_id: &pending.client_id,
            nonce: pending.nonce.as_deref(),
            now_s: p.now_ms() / 1000.0,
        };
        let checked = id_token::validate(&&parsed.claims, &expected)?;
        Ok((checked.fhir_user, parsed.claims))
    }

    /// The session a page load without a redirect restores, and its `state`:
    /// the launch the app names, else this page's (`page`, kept in
    /// `history.state` by the browser layer), else the tab's latest
    /// ([`launch::restore_state`]).
    pub async fn restore(
        &self,
        store: &dyn Store,
        explicit: Option<&str>,
        page: Option<&str>,
    ) -> Result<Option<(String, Session)>, SdkError> {
        let tab = store.get(launch::CURRENT_SESSION_KEY).await?;
        let Some(state) = launch::restore_state(explicit, page, tab.as_deref()).map(str::to_string) else {
            return Ok(None);
        };
        let stored = store.get(&launch::session_key(&state)).await?;
        Ok(stored.and_then(|t| Session::decode(&t)).map(|s| (state, s)))
    }

    /// A client over `session`; `kept` is where a refreshed session is saved.
    pub fn client(self: &Rc<Self>, session: Session, kept: Option<(Rc<dyn Store>, String)>) -> Client<P> {
        Client::new(self.platform.clone(), self.policy, session, kept)
    }
}

//! The application's state and who is calling: [`App`] (databases, platform,
//! configuration, the isolate's token cache), [`Config`], [`Caller`]
//! and [`Access`] (a live access token and its effective scopes). Handlers
//! take `&App`; the router ([`crate::router`]) decides the [`Caller`], with
//! access tokens validated through the isolate's [`token_cache`]. Must not
//! touch: routes, pages or any endpoint's logic.

pub mod token_cache;

use std::rc::Rc;

use flare_core::smart::access::{effective, GrantKind};
use flare_core::smart::scope::Scope;

use crate::crypto;
use crate::http::error::ApiError;
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::auth::AccessToken;
use crate::store::{Database, Shards};
use token_cache::TokenCache;

/// Most resources in one output file (larger types are split into several).
pub const FILE_MAX_RESOURCES: i64 = 10_000;
/// Patients whose compartments one query reads.
pub const MEMBER_WINDOW: usize = 200;

/// Deployment configuration (Worker vars and secrets).
#[derive(Debug, Clone)]
pub struct Config {
    /// `ADMIN_TOKEN` secret: admin API and system-level read access. `None` disables both.
    pub admin_token: Option<String>,
    /// The practice used when a request names none.
    pub default_practice: String,
    /// Most resources per Bulk Data output file.
    pub export_file_resources: i64,
    /// Patients whose compartments one export query reads.
    pub export_member_window: usize,
    /// `JWKS_ALLOW_LOOPBACK = "true"` (development only): a client's
    /// `jwks_uri` may name a loopback host, over `http` too
    /// ([`crate::oauth::jwks_uri`]).
    pub jwks_allow_loopback: bool,
}

impl Config {
    /// A configuration with the documented defaults.
    pub fn new(admin_token: Option<String>, default_practice: &str) -> Config {
        Config {
            admin_token,
            default_practice: default_practice.to_string(),
            export_file_resources: FILE_MAX_RESOURCES,
            export_member_window: MEMBER_WINDOW,
            jwks_allow_loopback: false,
        }
    }
}

/// Who is calling, decided once per request before any handler runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// The operator, with `ADMIN_TOKEN`: everything, in the practice it names.
    Admin,
    /// An app, with an access token the authorization server issued.
    App(Box<Access>),
}

/// A live access token and its effective scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The token as stored.
    pub token: AccessToken,
    /// Its effective scopes ([`effective_scopes`]).
    pub scopes: Vec<Scope>,
}

impl Access {
    /// The token with its effective scopes.
    pub fn new(token: AccessToken) -> Access {
        let scopes = effective_scopes(&token);
        Access { token, scopes }
    }
}

/// What a token may do now: its granted scopes, limited to its grant type
/// (`system/` only without a user, i.e. without a grant) and to the scopes
/// its client is approved for today, so a practice's narrowing reaches
/// every existing token at its next use. Used for FHIR requests, bulk
/// kick-offs and introspection alike.
pub fn effective_scopes(token: &AccessToken) -> Vec<Scope> {
    let kind = match token.grant_id {
        Some(_) => GrantKind::AuthorizationCode,
        None => GrantKind::ClientCredentials,
    };
    effective(
        &Scope::parse_list(&token.scope).0,
        &Scope::parse_list(&token.client_scope).0,
        kind,
    )
}

/// The application.
pub struct App<D, P> {
    /// Practice → database directory. Shard 0 also holds the authorization server.
    pub shards: Shards<D>,
    /// Clock, randomness, WebCrypto, rate limiters.
    pub platform: P,
    /// Configuration.
    pub config: Config,
    /// Validated access tokens, shared by every request of the isolate.
    tokens: Rc<TokenCache>,
}

/// Header an admin caller uses to pick the practice it reads.
pub const PRACTICE_HEADER: &str = "x-flare-practice";

impl<D: Database, P: Platform> App<D, P> {
    /// The application over its databases, platform and configuration.
    pub fn new(shards: Shards<D>, platform: P, config: Config) -> Self {
        App {
            shards,
            platform,
            config,
            tokens: Rc::new(TokenCache::new()),
        }
    }

    /// The application with the isolate's token cache instead of its own
    /// (the Worker builds an `App` per request; the cache outlives them).
    pub fn with_token_cache(mut self, tokens: Rc<TokenCache>) -> Self {
        self.tokens = tokens;
        self
    }

    /// The isolate's cache of validated access tokens.
    pub fn token_cache(&self) -> &TokenCache {
        &self.tokens
    }

    /// A random id naming one server-side failure in the answer and the log.
    pub fn incident_id(&self) -> String {
        let mut b = [0u8; 8];
        self.platform.random_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The database of the authorization server (shard 0, the directory shard).
    pub fn auth_db(&self) -> &D {
        self.shards.directory_db()
    }

    /// Authenticates the bearer token: `ADMIN_TOKEN` or a live access token,
    /// from the isolate's [`TokenCache`] when the store validated it less than
    /// [`token_cache::TOKEN_CACHE_TTL_MS`] ago, else from the store.
    /// Missing, unknown, expired or revoked: 401 with `WWW-Authenticate`.
    pub async fn authenticate(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let realm = "Bearer realm=\"flare\"";
        let header = req.header_value("authorization").ok_or_else(|| {
            ApiError::unauthorized("an access token is required (Authorization: Bearer …)", realm)
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("Authorization must use the Bearer scheme", realm))?;
        if let Some(admin) = &self.config.admin_token {
            if crypto::constant_time_eq(admin.as_bytes(), token.as_bytes()) {
                return Ok(Caller::Admin);
            }
        }
        let invalid = || {
            ApiError::unauthorized(
                "the access token is not valid (unknown, expired or revoked)",
                "Bearer realm=\"flare\", error=\"invalid_token\", error_description=\"the access token is not valid\"",
            )
        };
        if token.is_empty() || token.len() > 200 {
            return Err(invalid());
        }
        let hash = crypto::sha256_b64(token);
        let now = self.platform.now_ms();
        if let Some(t) = self.tokens.get(&hash, now) {
            return Ok(Caller::App(Box::new(Access::new(t))));
        }
        let found = crate::store::auth::access_token(self.auth_db(), &hash, now).await?;
        let t = found.ok_or_else(invalid)?;
        self.tokens.put(&hash, t.clone(), now);
        Ok(Caller::App(Box::new(Access::new(t))))
    }

    /// The practice a request acts in: the token's, or for the operator
    /// [`App::operator_practice`].
    pub fn practice_for(&self, caller: &Caller, req: &HttpRequest) -> Result<String, ApiError> {
        match caller {
            // On the FHIR API query parameters are search parameters: the
            // header alone names the practice.
            Caller::Admin => Ok(req
                .header_value(PRACTICE_HEADER)
                .map(str::to_string)
                .unwrap_or_else(|| self.config.default_practice.clone())),
            Caller::App(a) => Ok(a.token.practice.clone()),
        }
    }

    /// The practice an operator's admin request acts on (`/admin/import`,
    /// `/admin/audit`, `/admin/clients`): the [`PRACTICE_HEADER`] header, as on
    /// the FHIR API, or its alias the `practice` query parameter, else the
    /// default practice. Naming two different practices is a 400.
    pub fn operator_practice(&self, req: &HttpRequest) -> Result<String, ApiError> {
        Ok(self
            .operator_practice_named(req)?
            .unwrap_or_else(|| self.config.default_practice.clone()))
    }

    /// The practice an operator's request names, if any ([`App::operator_practice`]).
    pub fn operator_practice_named(&self, req: &HttpRequest) -> Result<Option<String>, ApiError> {
        let header = req.header_value(PRACTICE_HEADER).map(str::to_string);
        let query = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "practice")
            .map(|(_, v)| v.into_owned());
        match (header, query) {
            (Some(h), Some(q)) if h != q => Err(ApiError::bad_request(format!(
                "the request names two practices: {PRACTICE_HEADER}: {h} and ?practice={q}"
            ))),
            (h, q) => Ok(h.or(q)),
        }
    }
}

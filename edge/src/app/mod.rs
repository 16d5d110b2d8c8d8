//! The application: routing, authentication and the FHIR and admin handlers,
//! written against [`Database`] and [`Platform`] so that the same code runs
//! in workerd (D1) and in native tests (SQLite).

pub mod access;
pub mod admin;
pub mod bulk;
pub mod capability;
pub mod cors;
pub mod developer;
pub mod ehr;
pub mod error;
pub mod http;
pub mod import;
pub mod limits;
pub mod oauth;
pub mod pages;
pub mod portal;
pub mod practice;
pub mod read;
pub mod search;
pub mod service_base;
pub mod signin;

use error::{ApiError, ApiResult};
use http::{HttpRequest, HttpResponse};

use crate::store::{Database, Shards};

/// What the runtime provides besides storage: clock, randomness, WebCrypto
/// and the rate limiters. The Worker adapter implements it with the JS
/// runtime; native tests with deterministic doubles.
#[allow(async_fn_in_trait)] // single-threaded runtimes only: futures need not be Send
pub trait Platform {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// Fills `buf` from a CSPRNG.
    fn random_bytes(&self, buf: &mut [u8]);
    /// PBKDF2-HMAC-SHA256, 32 bytes.
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>, String>;
    /// RS256 signature with the server's private key (never leaves WebCrypto).
    async fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, String>;
    /// The public JWK of the signing key (`kty`, `n`, `e`).
    async fn signing_public_jwk(&self) -> Result<serde_json::Value, String>;
    /// Verifies a client-assertion signature with a public JWK.
    async fn verify_signature(
        &self,
        alg: oauth::jws::Alg,
        jwk: &serde_json::Value,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, String>;
    /// GETs a JSON document (a client's `jwks_uri`, already allowed by
    /// [`oauth::jwks_uri::check`]): no redirect followed, at most
    /// [`oauth::jwks_uri::JWKS_MAX_BYTES`] read, within
    /// [`oauth::jwks_uri::JWKS_TIMEOUT_MS`]; `Err` says why, for the log.
    async fn fetch_json(&self, url: &str) -> Result<serde_json::Value, String>;
    /// Counts one request against a limiter; `false` once the key is over its limit.
    async fn allow(&self, limiter: Limiter, key: &str) -> bool;
    /// Stores an object in the blob store (R2), replacing one of the same key.
    async fn put_object(&self, key: &str, body: String) -> Result<(), String>;
    /// Deletes every object whose key starts with `prefix`.
    async fn delete_objects(&self, prefix: &str) -> Result<(), String>;
    /// Queues one run of an export job (the Worker's queue consumer calls
    /// [`bulk::run`]).
    async fn enqueue_export(&self, practice: &str, job_id: &str) -> Result<(), String>;
}

/// The rate limiters (`[[ratelimits]]` in wrangler.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    /// FHIR requests per client.
    Client,
    /// Authorization-server and page requests per IP.
    Ip,
}

impl Limiter {
    /// The limiter's period in seconds: the `Retry-After` a throttled caller gets.
    pub fn period_s(self) -> i64 {
        60
    }
}

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
    /// ([`oauth::jwks_uri`]).
    pub jwks_allow_loopback: bool,
}

impl Config {
    /// A configuration with the documented defaults.
    pub fn new(admin_token: Option<String>, default_practice: &str) -> Config {
        Config {
            admin_token,
            default_practice: default_practice.to_string(),
            export_file_resources: bulk::FILE_MAX_RESOURCES,
            export_member_window: bulk::MEMBER_WINDOW,
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
    App(Box<access::Access>),
}

/// The application.
pub struct App<D, P> {
    /// Practice → database directory. Shard 0 also holds the authorization server.
    pub shards: Shards<D>,
    /// Clock, randomness, WebCrypto, rate limiters.
    pub platform: P,
    /// Configuration.
    pub config: Config,
    /// Audit events of this request, written after the response is sent.
    deferred: std::cell::RefCell<Vec<crate::store::auth::AuditEvent>>,
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
            deferred: Default::default(),
        }
    }

    /// Handles one request and then writes its audit events (natively and in
    /// tests; the Worker uses [`App::respond`] and writes them after responding).
    pub async fn handle(&self, req: HttpRequest) -> HttpResponse {
        let resp = self.respond(req).await;
        self.flush_deferred().await;
        resp
    }

    /// Records an audit event to write after the response.
    pub fn defer_audit(&self, event: crate::store::auth::AuditEvent) {
        self.deferred.borrow_mut().push(event);
    }

    /// Writes the deferred audit events, each to its practice's shard. A
    /// failure is logged: the answer was already given.
    pub async fn flush_deferred(&self) {
        let mut events: Vec<_> = self.deferred.borrow_mut().drain(..).collect();
        while let Some(first) = events.first() {
            let practice = first.practice.clone();
            let (mine, rest): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| e.practice == practice);
            events = rest;
            let db = self.shards.for_practice(&practice);
            if let Err(err) = crate::store::auth::insert_audits(db, &mine).await {
                access::log(&format!("audit events not recorded: {err}"));
            }
        }
    }

    /// Answers one request. Never panics on client input; every error becomes
    /// an OperationOutcome, an OAuth error or an error page. CORS headers are
    /// added here, for answers and errors alike.
    pub async fn respond(&self, req: HttpRequest) -> HttpResponse {
        if req.method == "OPTIONS" {
            return cors::preflight(self, &req).await;
        }
        let resp = match self.route(&req).await {
            Ok(r) => r,
            Err(e) => e
                .with_incident(&self.incident_id(), limits::error_shape(req.url.path()))
                .into_response(),
        };
        cors::decorate(self, &req, resp).await
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

    async fn route(&self, req: &HttpRequest) -> ApiResult {
        limits::check_body(req)?;
        let path = req.url.path().trim_end_matches('/').to_string();
        let segs: Vec<&str> = path.split('/').skip(1).collect();
        let method = req.method.as_str();
        match segs.as_slice() {
            ["fhir"] if method == "GET" => service_base::handle(self, req).await,
            ["fhir", "metadata"] if method == "GET" => capability::handle(req),
            [".well-known", doc] | ["fhir", ".well-known", doc] if method == "GET" => {
                oauth::discovery::handle(self, req, doc).await
            }
            ["smart-style", "default.json"] if method == "GET" => Ok(oauth::discovery::style()),
            ["fhir", ..] => self.fhir(req, &path, &segs[1..]).await,
            ["authorize", ..]
            | ["token"]
            | ["introspect"]
            | ["revoke"]
            | ["register"]
            | ["register", _]
            | ["portal", ..]
            | ["developer", ..]
            | ["practice", ..]
            | ["ehr", ..] => {
                self.throttle_ip(req, &segs).await?;
                match (method, segs.as_slice()) {
                    ("GET" | "POST", ["authorize"]) => oauth::authorize::start(self, req).await,
                    ("POST", ["authorize", "signin"]) => oauth::authorize::signin(self, req).await,
                    ("GET", ["authorize", "continue"]) => oauth::authorize::resume(self, req).await,
                    ("POST", ["authorize", "patient"]) => oauth::authorize::pick_patient(self, req).await,
                    ("POST", ["authorize", "consent"]) => oauth::authorize::consent(self, req).await,
                    ("POST", ["token"]) => oauth::token::handle(self, req).await,
                    ("POST", ["introspect"]) => oauth::introspect::introspect(self, req).await,
                    ("POST", ["revoke"]) => oauth::introspect::revoke(self, req).await,
                    ("POST", ["register"]) => oauth::register::register(self, req).await,
                    ("GET", ["portal"]) => portal::home(self, req).await,
                    ("POST", ["portal", "signin"]) => portal::signin(self, req).await,
                    ("POST", ["portal", "revoke"]) => portal::revoke(self, req).await,
                    ("POST", ["portal", "signout"]) => portal::signout(self, req).await,
                    (_, ["register", id]) => developer::api::configuration(self, req, id).await,
                    (_, ["developer", "api", rest @ ..]) => developer::api::route(self, req, rest).await,
                    (_, ["developer", rest @ ..]) => developer::pages::route(self, req, rest).await,
                    (_, ["practice", rest @ ..]) => practice::route(self, req, rest).await,
                    ("GET", ["ehr"]) => ehr::home(self, req).await,
                    ("POST", ["ehr", "signin"]) => ehr::signin(self, req).await,
                    ("POST", ["ehr", "launch"]) => ehr::launch(self, req).await,
                    ("POST", ["ehr", "signout"]) => ehr::signout(self, req).await,
                    (_, ["token"] | ["introspect"] | ["revoke"] | ["register"]) => {
                        Err(
                            ApiError::oauth(405, "invalid_request", format!("{path} accepts POST only"))
                                .with_header("allow", "POST"),
                        )
                    }
                    _ => Err(ApiError::page(404, format!("no page at {method} {path}"))),
                }
            }
            ["admin", rest @ ..] => {
                if self.authenticate(req).await? != Caller::Admin {
                    return Err(ApiError::new(403, "forbidden", "the admin API needs ADMIN_TOKEN"));
                }
                admin::route(self, req, rest).await
            }
            [""] | [] => Ok(HttpResponse::json(
                200,
                &serde_json::json!({"service": "Flare", "fhir": req.fhir_base()}),
            )),
            _ => Err(ApiError::not_found(format!("no route for {method} {path}"))),
        }
    }

    /// The FHIR API: authenticate, throttle, authorize per interaction, audit.
    async fn fhir(&self, req: &HttpRequest, path: &str, segs: &[&str]) -> ApiResult {
        if segs.first() != Some(&"$export-file") {
            // Export files are ndjson; everything else speaks JSON only.
            search::check_format(req)?;
        }
        let caller = self.authenticate(req).await?;
        if let Caller::App(a) = &caller {
            if !self.platform.allow(Limiter::Client, &a.token.client_id).await {
                return Err(ApiError::too_many_requests(
                    Limiter::Client.period_s(),
                    error::ErrorBody::OperationOutcome,
                ));
            }
        }
        let practice = self.practice_for(&caller, req)?;
        let method = req.method.as_str();
        // Reads and searches also say whose records they returned (the access history).
        let answered = |r: ApiResult| r.map(|r| (r, Vec::new()));
        let result = match (method, segs) {
            ("GET" | "POST", ["Group", id, "$export"]) => answered(
                bulk::kick_off(self, req, &caller, &practice, bulk::Level::Group(id.to_string())).await,
            ),
            ("GET" | "POST", ["Patient", "$export"]) => {
                answered(bulk::kick_off(self, req, &caller, &practice, bulk::Level::Patient).await)
            }
            ("GET" | "POST", ["$export"]) => {
                answered(bulk::kick_off(self, req, &caller, &practice, bulk::Level::System).await)
            }
            ("GET", ["$export-status", job]) => {
                answered(bulk::status(self, req, &caller, &practice, job).await)
            }
            ("DELETE", ["$export-status", job]) => {
                answered(bulk::cancel(self, &caller, &practice, job).await)
            }
            ("GET", ["$export-file", job, name]) => {
                answered(bulk::file(self, &caller, &practice, job, name).await)
            }
            ("GET", [t]) => search::handle(self, req, &caller, &practice, t, req.query_pairs()).await,
            ("POST", [t, "_search"]) => match search::form_pairs(req) {
                Ok(form) => {
                    let mut pairs = req.query_pairs();
                    pairs.extend(form);
                    search::handle(self, req, &caller, &practice, t, pairs).await
                }
                Err(e) => Err(e),
            },
            ("GET", [t, id]) => read::handle(self, req, &caller, &practice, t, id).await,
            ("GET", _) => Err(ApiError::not_found(format!("no FHIR interaction at {path}"))),
            _ => Err(ApiError::method_not_allowed("GET, POST [type]/_search, $export")),
        };
        let (result, patients) = match result {
            Ok((r, patients)) => (Ok(r), patients),
            Err(e) => (Err(e), Vec::new()),
        };
        // Answers depend on the token: a browser must not reuse one without
        // asking again (a revoked token's data would come from its cache);
        // `no-cache` still lets it revalidate with the ETag (304).
        let result = result.map(|r| {
            if r.header_value("cache-control").is_some() {
                r
            } else {
                r.with_header("cache-control", "private, no-cache")
            }
        });
        if let Caller::App(a) = &caller {
            let status = match &result {
                Ok(r) => r.status,
                Err(e) => e.status,
            };
            access::audit_fhir(self, a, req, segs, status, &patients);
        }
        result
    }

    /// Authenticates the bearer token: `ADMIN_TOKEN` or a live access token.
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
            if oauth::crypto::constant_time_eq(admin.as_bytes(), token.as_bytes()) {
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
        let hash = oauth::crypto::sha256_b64(token);
        let found = crate::store::auth::access_token(self.auth_db(), &hash, self.platform.now_ms()).await?;
        found
            .map(|t| Caller::App(Box::new(access::Access::new(t))))
            .ok_or_else(invalid)
    }

    /// The practice a request acts in: the token's, or for the operator the
    /// one named by [`PRACTICE_HEADER`].
    fn practice_for(&self, caller: &Caller, req: &HttpRequest) -> Result<String, ApiError> {
        match caller {
            Caller::Admin => Ok(req
                .header_value(PRACTICE_HEADER)
                .map(str::to_string)
                .unwrap_or_else(|| self.config.default_practice.clone())),
            Caller::App(a) => Ok(a.token.practice.clone()),
        }
    }

    /// Per-IP throttling of the authorization server and its pages.
    async fn throttle_ip(&self, req: &HttpRequest, segs: &[&str]) -> Result<(), ApiError> {
        let ip = req.header_value("cf-connecting-ip").unwrap_or("unknown");
        if self.platform.allow(Limiter::Ip, ip).await {
            return Ok(());
        }
        let body = match segs.first() {
            Some(&"developer") if segs.get(1) == Some(&"api") => {
                error::ErrorBody::OAuth("temporarily_unavailable")
            }
            Some(&"authorize") | Some(&"portal") | Some(&"developer") | Some(&"practice") | Some(&"ehr") => {
                error::ErrorBody::Page
            }
            _ => error::ErrorBody::OAuth("temporarily_unavailable"),
        };
        Err(ApiError::too_many_requests(Limiter::Ip.period_s(), body))
    }
}

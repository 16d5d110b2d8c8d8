//! The application: routing, authentication and the FHIR and admin handlers,
//! written against [`Database`] and [`Platform`] so that the same code runs
//! in workerd (D1) and in native tests (SQLite).

pub mod admin;
pub mod capability;
pub mod error;
pub mod http;
pub mod import;
pub mod read;
pub mod search;
pub mod service_base;

use error::{ApiError, ApiResult};
use http::{HttpRequest, HttpResponse};

use crate::store::{Database, Shards};

/// What the runtime provides besides storage.
pub trait Platform {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// Fills `buf` from a CSPRNG.
    fn random_bytes(&self, buf: &mut [u8]);
}

/// Deployment configuration (Worker vars and secrets).
#[derive(Debug, Clone)]
pub struct Config {
    /// `ADMIN_TOKEN` secret: admin API and system-level read access. `None` disables both.
    pub admin_token: Option<String>,
    /// The practice used when a request names none.
    pub default_practice: String,
}

/// Who is calling, decided once per request before any handler runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// The operator, with `ADMIN_TOKEN`: everything, in the practice it names.
    Admin,
}

/// The application.
pub struct App<D, P> {
    /// Practice → database directory.
    pub shards: Shards<D>,
    /// Clock and randomness.
    pub platform: P,
    /// Configuration.
    pub config: Config,
}

/// Header an admin caller uses to pick the practice it reads.
pub const PRACTICE_HEADER: &str = "x-flare-practice";

impl<D: Database, P: Platform> App<D, P> {
    /// Handles one request. Never panics on client input; every error becomes
    /// an OperationOutcome.
    pub async fn handle(&self, req: HttpRequest) -> HttpResponse {
        match self.route(&req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
    }

    async fn route(&self, req: &HttpRequest) -> ApiResult {
        let path = req.url.path().trim_end_matches('/').to_string();
        let segs: Vec<&str> = path.split('/').skip(1).collect();
        let method = req.method.as_str();
        match segs.as_slice() {
            ["fhir"] if method == "GET" => service_base::handle(self, req).await,
            ["fhir", "metadata"] if method == "GET" => capability::handle(req),
            ["fhir", ..] => {
                search::check_format(req)?;
                let caller = self.authenticate(req)?;
                let practice = self.practice_for(&caller, req)?;
                match (method, &segs[1..]) {
                    ("GET", [t]) => search::handle(self, req, &practice, t, req.query_pairs()).await,
                    ("POST", [t, "_search"]) => {
                        let mut pairs = req.query_pairs();
                        pairs.extend(search::form_pairs(req)?);
                        search::handle(self, req, &practice, t, pairs).await
                    }
                    ("GET", [t, id]) => read::handle(self, req, &practice, t, id).await,
                    ("GET", _) => Err(ApiError::not_found(format!("no FHIR interaction at {path}"))),
                    _ => Err(ApiError::method_not_allowed("GET, POST [type]/_search")),
                }
            }
            ["admin", rest @ ..] => {
                self.authenticate(req)?;
                admin::route(self, req, rest).await
            }
            [""] | [] => Ok(HttpResponse::json(
                200,
                &serde_json::json!({"service": "Flare", "fhir": req.fhir_base()}),
            )),
            _ => Err(ApiError::not_found(format!("no route for {method} {path}"))),
        }
    }

    /// Authenticates the bearer token. Missing or wrong: 401 with `WWW-Authenticate`.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<Caller, ApiError> {
        let realm = "Bearer realm=\"flare\"";
        let header = req.header_value("authorization").ok_or_else(|| {
            ApiError::unauthorized("an access token is required (Authorization: Bearer …)", realm)
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("Authorization must use the Bearer scheme", realm))?;
        match &self.config.admin_token {
            Some(admin) if constant_time_eq(admin.as_bytes(), token.as_bytes()) => Ok(Caller::Admin),
            _ => Err(ApiError::unauthorized(
                "the access token is not valid",
                "Bearer realm=\"flare\", error=\"invalid_token\", error_description=\"the access token is not valid\"",
            )),
        }
    }

    /// The practice a request acts in.
    fn practice_for(&self, caller: &Caller, req: &HttpRequest) -> Result<String, ApiError> {
        match caller {
            Caller::Admin => Ok(req
                .header_value(PRACTICE_HEADER)
                .map(str::to_string)
                .unwrap_or_else(|| self.config.default_practice.clone())),
        }
    }
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

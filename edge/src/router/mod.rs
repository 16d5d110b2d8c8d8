//! The router: every request enters here ([`App::respond`]), is matched to
//! its route, authenticated, throttled and answered with CORS headers and
//! its route's error shape.

pub mod cors;
pub mod limits;

use crate::admin;
use crate::app::{App, Caller};
use crate::fhir::{access, bulk, capability, read, search, service_base};
use crate::http::error::{self, ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth;
use crate::pages::{developer, ehr, portal, practice};
use crate::platform::{Limiter, Platform};
use crate::store::Database;
use crate::web::page::error_response;

impl<D: Database, P: Platform> App<D, P> {
    /// Answers one request. Never panics on client input; every error becomes
    /// an OperationOutcome, an OAuth error or an error page. CORS headers are
    /// added here, for answers and errors alike.
    pub async fn respond(&self, req: HttpRequest) -> HttpResponse {
        if req.method == "OPTIONS" {
            return cors::preflight(self, &req).await;
        }
        let resp = match self.route(&req).await {
            Ok(r) => r,
            Err(e) => {
                error_response(e.with_incident(&self.incident_id(), limits::error_shape(req.url.path())))
            }
        };
        cors::decorate(self, &req, resp).await
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
                    ("POST", ["register"]) => {
                        // A developer's API token registers a pending app they
                        // own, with the practice's PIN; else the operator's.
                        match developer::token_developer(self, req).await? {
                            Some(dev) => developer::api::register(self, req, &dev).await,
                            None => oauth::register::register(self, req).await,
                        }
                    }
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

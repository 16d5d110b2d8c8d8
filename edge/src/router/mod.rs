//! The router: every request enters here ([`App::respond`]), is matched to
//! its route in the one table ([`routes::ROUTES`]), and gets what that route
//! declares: its body cap, authentication, throttle, CORS and error shape.
//! Handlers below it take parsed requests and never route. Must not hold
//! any endpoint's logic: a new endpoint is a row of the table and a function
//! in its room.

pub mod cors;
pub mod routes;

use routes::{Auth, Endpoint as E, Matched, Shape, Throttle};

use crate::admin;
use crate::app::{App, Caller};
use crate::fhir::{access, bulk, capability, docref, everything, import, read, search, service_base};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{HttpRequest, HttpResponse};
use crate::oauth;
use crate::pages::{developer, ehr, portal, practice};
use crate::platform::{Limiter, Platform};
use crate::store::Database;
use crate::web::page::error_response;

/// The body cap of the route at `path`, for the Worker's entry (which reads
/// at most one byte more than it).
pub fn body_max(path: &str) -> usize {
    routes::find_path(path).body_max
}

impl<D: Database, P: Platform> App<D, P> {
    /// Answers one request. Never panics on client input; every error becomes
    /// an OperationOutcome, an OAuth error or an error page, as its route
    /// declares. CORS headers are added here, for answers and errors alike.
    pub async fn respond(&self, req: HttpRequest) -> HttpResponse {
        let path = req.url.path().to_string();
        if req.method == "OPTIONS" {
            return cors::preflight(self, &req, routes::find_path(&path).cors).await;
        }
        let matched = routes::find(&req.method, &path);
        let route = matched.route;
        let resp = match self.dispatch(&req, &matched).await {
            Ok(r) => r,
            Err(e) => {
                error_response(e.with_incident(&self.incident_id(), route.errors.body("invalid_request")))
            }
        };
        // Any request that is not a read may have revoked, suspended or
        // narrowed something: this isolate then trusts no cached token (other
        // isolates within the cache's one-second bound).
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            self.token_cache().forget_all();
        }
        cors::decorate(self, &req, resp, routes::find_path(&path).cors).await
    }

    async fn dispatch(&self, req: &HttpRequest, m: &Matched<'_>) -> ApiResult {
        let route = m.route;
        check_body(req, routes::find_path(req.url.path()).body_max, route.errors)?;
        if route.throttle == Throttle::PerIp {
            let ip = req.header_value("cf-connecting-ip").unwrap_or("unknown");
            if !self.platform.allow(Limiter::Ip, ip).await {
                return Err(ApiError::too_many_requests(
                    Limiter::Ip.period_s(),
                    route.errors.body("temporarily_unavailable"),
                ));
            }
        }
        match route.auth {
            Auth::Bearer => self.fhir(req, m).await,
            Auth::Operator => {
                if self.authenticate(req).await? != Caller::Admin {
                    return Err(ApiError::new(403, "forbidden", "the admin API needs ADMIN_TOKEN"));
                }
                self.admin(req, m).await
            }
            _ => self.open(req, m).await,
        }
    }

    /// Routes whose callers prove themselves inside the request (or need not).
    async fn open(&self, req: &HttpRequest, m: &Matched<'_>) -> ApiResult {
        let path = req.url.path().trim_end_matches('/');
        match m.route.endpoint {
            E::Root => Ok(HttpResponse::json(
                200,
                &serde_json::json!({"service": "Flare", "fhir": req.fhir_base()}),
            )),
            E::ServiceBase => service_base::handle(self, req).await,
            E::Capability => capability::handle(req),
            E::WellKnown => {
                oauth::discovery::handle(
                    self,
                    req,
                    routes::segments(path).last().copied().unwrap_or_default(),
                )
                .await
            }
            E::Style => Ok(oauth::discovery::style()),
            E::Authorize => oauth::authorize::start(self, req).await,
            E::AuthorizeSignIn => oauth::authorize::signin(self, req).await,
            E::AuthorizeContinue => oauth::authorize::resume(self, req).await,
            E::AuthorizePatient => oauth::authorize::pick_patient(self, req).await,
            E::AuthorizeConsent => oauth::authorize::consent(self, req).await,
            E::Token => oauth::token::handle(self, req).await,
            E::Introspect => oauth::introspect::introspect(self, req).await,
            E::Revoke => oauth::introspect::revoke(self, req).await,
            // A developer's API token registers a pending app they own, with
            // the practice's PIN; else the operator's initial access token.
            E::Register => match developer::token_developer(self, req).await? {
                Some(dev) => developer::api::register(self, req, &dev).await,
                None => oauth::register::register(self, req).await,
            },
            E::RegisterConfiguration => developer::api::configuration(self, req, m.param(0)).await,
            E::OAuthPostOnly => {
                Err(
                    ApiError::oauth(405, "invalid_request", format!("{path} accepts POST only"))
                        .with_header("allow", "POST"),
                )
            }
            E::PortalHome => portal::home(self, req).await,
            E::PortalSignIn => portal::signin(self, req).await,
            E::PortalRevoke => portal::revoke(self, req).await,
            E::PortalSignOut => portal::signout(self, req).await,
            E::EhrHome => ehr::home(self, req).await,
            E::EhrSignIn => ehr::signin(self, req).await,
            E::EhrLaunch => ehr::launch(self, req).await,
            E::EhrSignOut => ehr::signout(self, req).await,
            E::DeveloperApi(call) => developer::api::route(self, req, call, m.param(0), &m.rest).await,
            E::DeveloperPages(page) => developer::pages::route(self, req, page, m.param(0)).await,
            E::Practice(page) => practice::route(self, req, page, m.param(0)).await,
            E::PageNotFound => Err(ApiError::page(404, format!("no page at {} {path}", req.method))),
            _ => Err(ApiError::not_found(format!("no route for {} {path}", req.method))),
        }
    }

    /// The operator's API (`ADMIN_TOKEN` already checked).
    async fn admin(&self, req: &HttpRequest, m: &Matched<'_>) -> ApiResult {
        let last = || {
            routes::segments(req.url.path())
                .last()
                .copied()
                .unwrap_or_default()
        };
        match m.route.endpoint {
            E::AdminImport => import::handle(self, req).await,
            E::AdminClients => oauth::manage::list_clients(self, req).await,
            E::AdminClient => oauth::manage::get_client(self, m.param(0)).await,
            E::AdminClientDecision => oauth::manage::client_decision(self, req, m.param(0), last()).await,
            E::AdminClientRotateSecret => oauth::manage::rotate_secret(self, m.param(0)).await,
            E::AdminClientJwks => oauth::manage::put_jwks(self, req, m.param(0)).await,
            E::AdminClientScopeChange => oauth::manage::scope_change(self, req, m.param(0)).await,
            E::AdminClientScopeDecision => oauth::manage::scope_decision(self, req, m.param(0), last()).await,
            E::AdminUsers => oauth::manage::create_user(self, req).await,
            E::AdminLaunch => oauth::manage::create_launch(self, req).await,
            E::AdminAudit => oauth::manage::audit(self, req).await,
            E::AdminPractices => admin::practices(self).await,
            E::AdminPractice => admin::practice(self, m.param(0)).await,
            E::AdminPutPractice => admin::put_practice(self, req, m.param(0)).await,
            E::AdminDeletePractice => admin::delete_practice(self, req, m.param(0)).await,
            E::AdminPutPin => admin::put_pin(self, req, m.param(0)).await,
            E::AdminBenchNoop => admin::bench_noop(),
            E::AdminBenchSelect1 => admin::bench_select1(self).await,
            _ => admin::not_found(req, &m.rest),
        }
    }

    /// The FHIR API: authenticate, throttle per client, answer, audit.
    async fn fhir(&self, req: &HttpRequest, m: &Matched<'_>) -> ApiResult {
        if m.route.endpoint != E::ExportFile {
            // Export files are ndjson; everything else speaks JSON only.
            search::check_format(req)?;
        }
        let caller = self.authenticate(req).await?;
        if let (Caller::App(a), Throttle::PerClient) = (&caller, m.route.throttle) {
            if !self.platform.allow(Limiter::Client, &a.token.client_id).await {
                return Err(ApiError::too_many_requests(
                    Limiter::Client.period_s(),
                    Shape::OperationOutcome.body("temporarily_unavailable"),
                ));
            }
        }
        let practice = self.practice_for(&caller, req)?;
        let path = req.url.path().trim_end_matches('/');
        let (p0, p1) = (m.param(0), m.param(1));
        // An app's request is recorded in the access history: reads and
        // searches write it with their query, in the same round trip; for
        // anything else (errors, Bulk Data) it is written below, before the
        // answer goes out.
        let record = match &caller {
            Caller::App(a) => Some(access::access_record(self, a, req, &routes::segments(path)[1..])),
            Caller::Admin => None,
        };
        let answered = |r: ApiResult| r.map(|r| (r, Vec::new()));
        let result = match m.route.endpoint {
            E::ExportGroup => answered(
                bulk::kick_off(self, req, &caller, &practice, bulk::Level::Group(p0.to_string())).await,
            ),
            E::ExportPatient => {
                answered(bulk::kick_off(self, req, &caller, &practice, bulk::Level::Patient).await)
            }
            E::ExportSystem => {
                answered(bulk::kick_off(self, req, &caller, &practice, bulk::Level::System).await)
            }
            E::ExportStatus => answered(bulk::status(self, req, &caller, &practice, p0).await),
            E::ExportCancel => answered(bulk::cancel(self, &caller, &practice, p0).await),
            E::ExportFile => answered(bulk::file(self, &caller, &practice, p0, p1).await),
            E::Search => {
                search::handle(
                    self,
                    req,
                    &caller,
                    &practice,
                    p0,
                    req.query_pairs(),
                    record.as_ref(),
                )
                .await
            }
            E::SearchPost => match search::form_pairs(req) {
                Ok(form) => {
                    let mut pairs = req.query_pairs();
                    pairs.extend(form);
                    search::handle(self, req, &caller, &practice, p0, pairs, record.as_ref()).await
                }
                Err(e) => Err(e),
            },
            E::Read => read::handle(self, req, &caller, &practice, p0, p1, record.as_ref()).await,
            E::DocRef => docref::handle(self, req, &caller, &practice, record.as_ref()).await,
            E::Everything => everything::handle(self, req, &caller, &practice, p0, record.as_ref()).await,
            E::FhirNotFound => Err(ApiError::not_found(format!("no FHIR interaction at {path}"))),
            _ => Err(ApiError::method_not_allowed(
                "GET, POST [type]/_search, $export, $docref",
            )),
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
        if let Some(record) = record.as_ref().filter(|r| !r.written.get()) {
            let status = match &result {
                Ok(r) => r.status,
                Err(e) => e.status,
            };
            access::record_now(self, record, status, &patients).await;
        }
        result
    }
}

/// 413 when the body, or the length the request declares, is over the
/// route's cap, in the route's error shape.
fn check_body(req: &HttpRequest, body_max: usize, errors: Shape) -> Result<(), ApiError> {
    let declared = req
        .header_value("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if req.body.len() <= body_max && declared <= body_max as u64 {
        return Ok(());
    }
    let mut e = ApiError::new(
        413,
        "too-costly",
        format!(
            "the request body is over the {} KiB limit of {}",
            body_max / 1024,
            req.url.path()
        ),
    );
    e.body = errors.body("invalid_request");
    Err(e)
}

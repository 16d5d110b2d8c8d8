//! Every endpoint of the edge, declared once in [`ROUTES`]: its method, path
//! pattern, who may call it, its throttle, its error shape, its CORS policy
//! and the most body bytes it reads. The router ([`crate::router`]) applies
//! all of it; a handler only ever sees a request its route admitted.
//!
//! Routes are tried in order and the first whose method and path match
//! wins, so the table ends each area with its catch-alls (the FHIR API's 404
//! and 405, the pages' 404, the OAuth endpoints' 405, the developer portal's
//! "no such page", "no such form" and 405): an unknown path still gets its
//! area's authentication, throttle, error shape and CORS.
//!
//! The developer portal, its API and practice administration name their
//! endpoints with an enum of their own ([`DeveloperPage`], [`DeveloperCall`],
//! [`PracticePage`]) that [`Endpoint`] carries: the pages sit below the
//! router and cannot import it.

use crate::fhir::import::MAX_IMPORT_BYTES;
use crate::http::error::ErrorBody;
use crate::pages::developer::api::DeveloperCall;
use crate::pages::developer::pages::DeveloperPage;
use crate::pages::practice::PracticePage;

/// OAuth endpoints, FHIR `POST _search` and `$export`, browser forms.
pub const FORM_BODY_MAX: usize = 16 * 1024;
/// The developer API, `/register` and the developer portal's forms (pasted JWKS).
pub const DEVELOPER_BODY_MAX: usize = 64 * 1024;
/// The admin API except imports (users, clients, practices, launch contexts).
pub const ADMIN_BODY_MAX: usize = 1024 * 1024;

/// The HTTP methods a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `GET` or `POST` (`/authorize`, `$export`).
    GetOrPost,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// Any method (catch-alls, and areas that route methods themselves).
    Any,
}

impl Method {
    fn admits(self, method: &str) -> bool {
        match self {
            Method::Get => method == "GET",
            Method::Post => method == "POST",
            Method::GetOrPost => matches!(method, "GET" | "POST"),
            Method::Put => method == "PUT",
            Method::Delete => method == "DELETE",
            Method::Any => true,
        }
    }
}

/// Who may call a route. The router enforces [`Auth::Bearer`] and
/// [`Auth::Operator`] before the handler runs; the other kinds are proved
/// inside the request itself and checked by the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone: discovery, metadata, the service base.
    None,
    /// A browser: the page group's session cookie decides what it shows (a
    /// signed-out visitor gets its sign-in form); every form POST carries
    /// the CSRF token.
    Session,
    /// An OAuth client authenticating at the endpoint (`/token`,
    /// `/introspect`, `/revoke`): none, a secret or a signed assertion.
    Client,
    /// An access token or `ADMIN_TOKEN` (401 otherwise).
    Bearer,
    /// `ADMIN_TOKEN` only (401 without a valid token, 403 with another).
    Operator,
    /// A developer's API token (signing up and making a token take a password).
    DeveloperToken,
    /// RFC 7591 registration: `ADMIN_TOKEN` (the initial access token) or a
    /// developer's API token.
    InitialAccess,
}

/// Which rate limiter a route counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Not throttled.
    None,
    /// Per client address (`CF-Connecting-IP`).
    PerIp,
    /// Per app (`client_id` of the access token; the operator is not throttled).
    PerClient,
}

/// How a route's errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A FHIR OperationOutcome.
    OperationOutcome,
    /// OAuth error JSON (RFC 6749 §5.2).
    OAuth,
    /// An HTML error page.
    Page,
}

impl Shape {
    /// The error body of this shape, with `oauth_error` as the OAuth `error` code.
    pub fn body(self, oauth_error: &'static str) -> ErrorBody {
        match self {
            Shape::OperationOutcome => ErrorBody::OperationOutcome,
            Shape::OAuth => ErrorBody::OAuth(oauth_error),
            Shape::Page => ErrorBody::Page,
        }
    }
}

/// A route's CORS policy (<https://fetch.spec.whatwg.org/#http-cors-protocol>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cors {
    /// Public documents: any origin (`*`).
    Public,
    /// APIs for registered apps: an approved app's origin is echoed.
    Apps,
    /// Not for cross-origin scripts: no CORS headers.
    None,
}

/// What answers a route: one variant per endpoint, dispatched in
/// [`crate::router`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /`: the service's name and FHIR base.
    Root,
    /// `GET /fhir`: the service base bundle (Endpoint + Organization per practice).
    ServiceBase,
    /// `GET /fhir/metadata`: the CapabilityStatement.
    Capability,
    /// `/.well-known/{doc}`: SMART configuration, OpenID configuration, JWKS.
    WellKnown,
    /// `GET /smart-style/default.json`.
    Style,
    /// `[GET|POST] /fhir/Group/{id}/$export`.
    ExportGroup,
    /// `[GET|POST] /fhir/Patient/$export`.
    ExportPatient,
    /// `[GET|POST] /fhir/$export`.
    ExportSystem,
    /// `GET /fhir/$export-status/{job}`.
    ExportStatus,
    /// `DELETE /fhir/$export-status/{job}`.
    ExportCancel,
    /// `GET /fhir/$export-file/{job}/{name}`.
    ExportFile,
    /// `GET|POST /fhir/DocumentReference/$docref`: US Core's Fetch DocumentReference.
    DocRef,
    /// `GET /fhir/Patient/{id}/$everything`.
    Everything,
    /// `GET /fhir/{type}`.
    Search,
    /// `POST /fhir/{type}/_search`.
    SearchPost,
    /// `GET /fhir/{type}/{id}`.
    Read,
    /// Any other `GET` under `/fhir`: 404.
    FhirNotFound,
    /// Any other method under `/fhir`: 405.
    FhirMethodNotAllowed,
    /// `GET|POST /authorize`.
    Authorize,
    /// `POST /authorize/signin`.
    AuthorizeSignIn,
    /// `GET /authorize/continue`.
    AuthorizeContinue,
    /// `POST /authorize/patient`.
    AuthorizePatient,
    /// `POST /authorize/consent`.
    AuthorizeConsent,
    /// `POST /token`.
    Token,
    /// `POST /introspect`.
    Introspect,
    /// `POST /revoke`.
    Revoke,
    /// `POST /register` (RFC 7591).
    Register,
    /// `/register/{id}` (RFC 7592 client configuration).
    RegisterConfiguration,
    /// Another method on a POST-only OAuth endpoint: 405.
    OAuthPostOnly,
    /// `GET /portal`.
    PortalHome,
    /// `POST /portal/signin`.
    PortalSignIn,
    /// `POST /portal/revoke`.
    PortalRevoke,
    /// `POST /portal/signout`.
    PortalSignOut,
    /// `GET /ehr`.
    EhrHome,
    /// `POST /ehr/signin`.
    EhrSignIn,
    /// `POST /ehr/launch`.
    EhrLaunch,
    /// `POST /ehr/signout`.
    EhrSignOut,
    /// `/developer/api/…`: one call of the developer API (one variant per endpoint).
    DeveloperApi(DeveloperCall),
    /// `/developer/…`: one of the developer portal's pages or forms (one
    /// variant per endpoint).
    DeveloperPages(DeveloperPage),
    /// `/practice/…`: one page or form of practice administration (one
    /// variant per endpoint).
    Practice(PracticePage),
    /// Any other path of a page area: a 404 page.
    PageNotFound,
    /// `POST /admin/import`.
    AdminImport,
    /// `GET /admin/clients`.
    AdminClients,
    /// `GET /admin/clients/{id}`.
    AdminClient,
    /// `POST /admin/clients/{id}/{approve|reject|disable|enable}`.
    AdminClientDecision,
    /// `POST /admin/clients/{id}/rotate-secret`.
    AdminClientRotateSecret,
    /// `PUT /admin/clients/{id}/jwks`.
    AdminClientJwks,
    /// `POST /admin/clients/{id}/scope-change`.
    AdminClientScopeChange,
    /// `POST /admin/clients/{id}/scope-change/{approve|reject}`.
    AdminClientScopeDecision,
    /// `POST /admin/users`.
    AdminUsers,
    /// `POST /admin/launch`.
    AdminLaunch,
    /// `GET /admin/audit`.
    AdminAudit,
    /// `GET /admin/practices`.
    AdminPractices,
    /// `GET /admin/practices/{key}`.
    AdminPractice,
    /// `PUT /admin/practices/{key}`.
    AdminPutPractice,
    /// `DELETE /admin/practices/{key}[?purge=true]`.
    AdminDeletePractice,
    /// `PUT /admin/practices/{key}/pin`.
    AdminPutPin,
    /// `GET /admin/bench/noop`: the benchmark's floor without storage.
    AdminBenchNoop,
    /// `GET /admin/bench/select1`: the benchmark's floor, one D1 `SELECT 1`.
    AdminBenchSelect1,
    /// Any other path under `/admin`: 404.
    AdminNotFound,
    /// Anything else: 404.
    NotFound,
}

/// One endpoint and everything the router applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The methods it answers.
    pub method: Method,
    /// The path pattern: literal segments, `{name}` for one segment, and a
    /// final `{*rest}` for any number of them (trailing `/` ignored).
    pub path: &'static str,
    /// What answers it.
    pub endpoint: Endpoint,
    /// Who may call it.
    pub auth: Auth,
    /// Its rate limiter.
    pub throttle: Throttle,
    /// How its errors (and a 5xx's "internal error (id …)") are written.
    pub errors: Shape,
    /// Its CORS policy.
    pub cors: Cors,
    /// The most body bytes it reads (413 over it, in its error shape).
    pub body_max: usize,
}

const fn route(method: Method, path: &'static str, endpoint: Endpoint, area: Area) -> Route {
    Route {
        method,
        path,
        endpoint,
        auth: area.auth,
        throttle: area.throttle,
        errors: area.errors,
        cors: area.cors,
        body_max: area.body_max,
    }
}

/// The defaults a group of routes shares; each [`Route`] still carries its own copy.
#[derive(Clone, Copy)]
struct Area {
    auth: Auth,
    throttle: Throttle,
    errors: Shape,
    cors: Cors,
    body_max: usize,
}

impl Area {
    const fn cors(mut self, cors: Cors) -> Area {
        self.cors = cors;
        self
    }
    const fn body_max(mut self, body_max: usize) -> Area {
        self.body_max = body_max;
        self
    }
}

/// Public documents: discovery, metadata, the service base.
const PUBLIC: Area = Area {
    auth: Auth::None,
    throttle: Throttle::None,
    errors: Shape::OperationOutcome,
    cors: Cors::Public,
    body_max: FORM_BODY_MAX,
};
/// The FHIR API.
const FHIR: Area = Area {
    auth: Auth::Bearer,
    throttle: Throttle::PerClient,
    errors: Shape::OperationOutcome,
    cors: Cors::Apps,
    body_max: FORM_BODY_MAX,
};
/// The OAuth endpoints apps call from scripts.
const OAUTH: Area = Area {
    auth: Auth::Client,
    throttle: Throttle::PerIp,
    errors: Shape::OAuth,
    cors: Cors::Apps,
    body_max: FORM_BODY_MAX,
};
/// Registration and the developer API.
const REGISTRATION: Area = Area {
    auth: Auth::InitialAccess,
    throttle: Throttle::PerIp,
    errors: Shape::OAuth,
    cors: Cors::None,
    body_max: DEVELOPER_BODY_MAX,
};
/// The browser pages.
const PAGES: Area = Area {
    auth: Auth::Session,
    throttle: Throttle::PerIp,
    errors: Shape::Page,
    cors: Cors::None,
    body_max: FORM_BODY_MAX,
};
/// The operator's API.
const ADMIN: Area = Area {
    auth: Auth::Operator,
    throttle: Throttle::None,
    errors: Shape::OperationOutcome,
    cors: Cors::None,
    body_max: ADMIN_BODY_MAX,
};
/// Paths no route claims.
const NOWHERE: Area = Area {
    auth: Auth::None,
    throttle: Throttle::None,
    errors: Shape::OperationOutcome,
    cors: Cors::None,
    body_max: FORM_BODY_MAX,
};

/// A call of the developer API.
const fn dev_api(method: Method, path: &'static str, call: DeveloperCall) -> Route {
    route(method, path, Endpoint::DeveloperApi(call), REGISTRATION)
}

/// A page or form of the developer portal (its forms take pasted JWKS).
const fn dev_page(method: Method, path: &'static str, page: DeveloperPage) -> Route {
    route(
        method,
        path,
        Endpoint::DeveloperPages(page),
        PAGES.body_max(DEVELOPER_BODY_MAX),
    )
}

/// A page or form of practice administration.
const fn practice_page(method: Method, path: &'static str, page: PracticePage) -> Route {
    route(method, path, Endpoint::Practice(page), PAGES)
}

use DeveloperCall as Api;
use DeveloperPage as Dev;
use Endpoint as E;
use Method::{Any, Delete, Get, GetOrPost, Post, Put};
use PracticePage as Practice;

/// Every route, in the order they are tried.
pub static ROUTES: &[Route] = &[
    route(Any, "/", E::Root, NOWHERE),
    // Public documents.
    route(Get, "/fhir", E::ServiceBase, PUBLIC),
    route(Get, "/fhir/metadata", E::Capability, PUBLIC),
    route(Get, "/.well-known/smart-configuration", E::WellKnown, PUBLIC),
    route(Get, "/.well-known/openid-configuration", E::WellKnown, PUBLIC),
    route(Get, "/.well-known/jwks.json", E::WellKnown, PUBLIC),
    route(Get, "/.well-known/{doc}", E::WellKnown, PUBLIC.cors(Cors::None)),
    route(Get, "/fhir/.well-known/smart-configuration", E::WellKnown, PUBLIC),
    route(
        Get,
        "/fhir/.well-known/openid-configuration",
        E::WellKnown,
        PUBLIC,
    ),
    route(
        Get,
        "/fhir/.well-known/{doc}",
        E::WellKnown,
        PUBLIC.cors(Cors::Apps),
    ),
    route(Get, "/smart-style/default.json", E::Style, PUBLIC),
    // The FHIR API.
    route(GetOrPost, "/fhir/Group/{id}/$export", E::ExportGroup, FHIR),
    route(GetOrPost, "/fhir/Patient/$export", E::ExportPatient, FHIR),
    route(GetOrPost, "/fhir/$export", E::ExportSystem, FHIR),
    route(Get, "/fhir/$export-status/{job}", E::ExportStatus, FHIR),
    route(Delete, "/fhir/$export-status/{job}", E::ExportCancel, FHIR),
    route(Get, "/fhir/$export-file/{job}/{name}", E::ExportFile, FHIR),
    route(GetOrPost, "/fhir/DocumentReference/$docref", E::DocRef, FHIR),
    route(Get, "/fhir/Patient/{id}/$everything", E::Everything, FHIR),
    route(Get, "/fhir/{type}", E::Search, FHIR),
    route(Post, "/fhir/{type}/_search", E::SearchPost, FHIR),
    route(Get, "/fhir/{type}/{id}", E::Read, FHIR),
    route(Get, "/fhir/{*rest}", E::FhirNotFound, FHIR),
    route(Any, "/fhir/{*rest}", E::FhirMethodNotAllowed, FHIR),
    // The authorization server.
    route(GetOrPost, "/authorize", E::Authorize, PAGES),
    route(Post, "/authorize/signin", E::AuthorizeSignIn, PAGES),
    route(Get, "/authorize/continue", E::AuthorizeContinue, PAGES),
    route(Post, "/authorize/patient", E::AuthorizePatient, PAGES),
    route(Post, "/authorize/consent", E::AuthorizeConsent, PAGES),
    route(Any, "/authorize/{*rest}", E::PageNotFound, PAGES),
    route(Post, "/token", E::Token, OAUTH),
    route(Any, "/token", E::OAuthPostOnly, OAUTH),
    route(Post, "/introspect", E::Introspect, OAUTH),
    route(Any, "/introspect", E::OAuthPostOnly, OAUTH),
    route(Post, "/revoke", E::Revoke, OAUTH),
    route(Any, "/revoke", E::OAuthPostOnly, OAUTH),
    route(Post, "/register", E::Register, REGISTRATION),
    route(Any, "/register", E::OAuthPostOnly, REGISTRATION.cors(Cors::None)),
    route(Any, "/register/{id}", E::RegisterConfiguration, REGISTRATION),
    // The browser pages.
    route(Get, "/portal", E::PortalHome, PAGES),
    route(Post, "/portal/signin", E::PortalSignIn, PAGES),
    route(Post, "/portal/revoke", E::PortalRevoke, PAGES),
    route(Post, "/portal/signout", E::PortalSignOut, PAGES),
    route(Any, "/portal/{*rest}", E::PageNotFound, PAGES),
    // The developer API.
    dev_api(Post, "/developer/api/signup", Api::SignUp),
    dev_api(Post, "/developer/api/token", Api::Token),
    dev_api(Delete, "/developer/api/token", Api::EndToken),
    dev_api(Post, "/developer/api/password", Api::ChangePassword),
    dev_api(Get, "/developer/api/apps", Api::Apps),
    dev_api(Post, "/developer/api/apps/{id}/secret", Api::AppSecret),
    dev_api(Put, "/developer/api/apps/{id}/keys", Api::AppKeys),
    dev_api(Post, "/developer/api/apps/{id}/transfer", Api::AppTransfer),
    dev_api(
        Post,
        "/developer/api/apps/{id}/transfer/accept",
        Api::AcceptTransfer,
    ),
    dev_api(
        Post,
        "/developer/api/apps/{id}/transfer/cancel",
        Api::CancelTransfer,
    ),
    dev_api(Any, "/developer/api/{*rest}", Api::NotFound),
    // The developer portal's pages: pages and forms, then the catch-alls (a
    // page needs sign-in before its 404, a form the CSRF check and sign-in).
    dev_page(Get, "/developer/password-rule.js", Dev::PasswordRuleJs),
    dev_page(Get, "/developer", Dev::Home),
    dev_page(Get, "/developer/signup", Dev::SignUpForm),
    dev_page(Get, "/developer/password", Dev::PasswordForm),
    dev_page(Get, "/developer/apps/new", Dev::NewApp),
    dev_page(Get, "/developer/apps/{id}", Dev::App),
    dev_page(Post, "/developer/signup", Dev::SignUp),
    dev_page(Post, "/developer/signin", Dev::SignIn),
    dev_page(Post, "/developer/signout", Dev::SignOut),
    dev_page(Post, "/developer/password", Dev::ChangePassword),
    dev_page(Post, "/developer/token", Dev::Token),
    dev_page(Post, "/developer/apps", Dev::Register),
    dev_page(Post, "/developer/apps/{id}/secret", Dev::AppSecret),
    dev_page(Post, "/developer/apps/{id}/keys", Dev::AppKeys),
    dev_page(Post, "/developer/apps/{id}/scope", Dev::AppScope),
    dev_page(Post, "/developer/apps/{id}/transfer", Dev::AppTransfer),
    dev_page(Post, "/developer/apps/{id}/transfer/accept", Dev::AcceptTransfer),
    dev_page(Post, "/developer/apps/{id}/transfer/cancel", Dev::CancelTransfer),
    dev_page(Get, "/developer/{*rest}", Dev::NoSuchPage),
    dev_page(Post, "/developer/{*rest}", Dev::NoSuchForm),
    dev_page(Any, "/developer/{*rest}", Dev::MethodNotAllowed),
    // Practice administration (an unknown form is 404 after the CSRF check,
    // without sign-in; an unknown decision 409 once signed in).
    practice_page(Get, "/practice", Practice::Home),
    practice_page(Post, "/practice/signin", Practice::SignIn),
    practice_page(Post, "/practice/signout", Practice::SignOut),
    practice_page(Post, "/practice/clients/{id}/decide", Practice::Decide),
    practice_page(Post, "/practice/clients/{id}/scope", Practice::ScopeDecision),
    practice_page(Post, "/practice/clients/{id}/{other}", Practice::OtherDecision),
    practice_page(Post, "/practice/{*rest}", Practice::NoSuchForm),
    practice_page(Any, "/practice/{*rest}", Practice::NoSuchPage),
    route(Get, "/ehr", E::EhrHome, PAGES),
    route(Post, "/ehr/signin", E::EhrSignIn, PAGES),
    route(Post, "/ehr/launch", E::EhrLaunch, PAGES),
    route(Post, "/ehr/signout", E::EhrSignOut, PAGES),
    route(Any, "/ehr/{*rest}", E::PageNotFound, PAGES),
    // The operator's API.
    route(
        Post,
        "/admin/import",
        E::AdminImport,
        ADMIN.body_max(MAX_IMPORT_BYTES),
    ),
    route(Get, "/admin/clients", E::AdminClients, ADMIN),
    route(Get, "/admin/clients/{id}", E::AdminClient, ADMIN),
    route(Post, "/admin/clients/{id}/approve", E::AdminClientDecision, ADMIN),
    route(Post, "/admin/clients/{id}/reject", E::AdminClientDecision, ADMIN),
    route(Post, "/admin/clients/{id}/disable", E::AdminClientDecision, ADMIN),
    route(Post, "/admin/clients/{id}/enable", E::AdminClientDecision, ADMIN),
    route(
        Post,
        "/admin/clients/{id}/rotate-secret",
        E::AdminClientRotateSecret,
        ADMIN,
    ),
    route(Put, "/admin/clients/{id}/jwks", E::AdminClientJwks, ADMIN),
    route(
        Post,
        "/admin/clients/{id}/scope-change",
        E::AdminClientScopeChange,
        ADMIN,
    ),
    route(
        Post,
        "/admin/clients/{id}/scope-change/approve",
        E::AdminClientScopeDecision,
        ADMIN,
    ),
    route(
        Post,
        "/admin/clients/{id}/scope-change/reject",
        E::AdminClientScopeDecision,
        ADMIN,
    ),
    route(Post, "/admin/users", E::AdminUsers, ADMIN),
    route(Post, "/admin/launch", E::AdminLaunch, ADMIN),
    route(Get, "/admin/audit", E::AdminAudit, ADMIN),
    route(Get, "/admin/practices", E::AdminPractices, ADMIN),
    route(Get, "/admin/practices/{key}", E::AdminPractice, ADMIN),
    route(Put, "/admin/practices/{key}", E::AdminPutPractice, ADMIN),
    route(Delete, "/admin/practices/{key}", E::AdminDeletePractice, ADMIN),
    route(Put, "/admin/practices/{key}/pin", E::AdminPutPin, ADMIN),
    route(Get, "/admin/bench/noop", E::AdminBenchNoop, ADMIN),
    route(Get, "/admin/bench/select1", E::AdminBenchSelect1, ADMIN),
    route(Any, "/admin/{*rest}", E::AdminNotFound, ADMIN),
    route(Any, "/{*rest}", E::NotFound, NOWHERE),
];

/// A request matched to its route, with the path's captured segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched<'p> {
    /// The route.
    pub route: &'static Route,
    /// The `{name}` segments, in order.
    pub params: Vec<&'p str>,
    /// The `{*rest}` segments (empty without one).
    pub rest: Vec<&'p str>,
}

impl<'p> Matched<'p> {
    /// The `i`-th `{name}` segment.
    pub fn param(&self, i: usize) -> &'p str {
        self.params.get(i).copied().unwrap_or_default()
    }
}

/// The segments of a path, as the table's patterns are written (a trailing
/// `/` ignored; `/` itself has none).
pub fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

fn matches_path<'p>(pattern: &str, segs: &[&'p str]) -> Option<(Vec<&'p str>, Vec<&'p str>)> {
    let pat = segments(pattern);
    let mut params = Vec::new();
    for (i, p) in pat.iter().enumerate() {
        if p.starts_with("{*") {
            return Some((params, segs[i.min(segs.len())..].to_vec()));
        }
        let s = segs.get(i)?;
        if p.starts_with('{') {
            params.push(*s);
        } else if p != s {
            return None;
        }
    }
    (pat.len() == segs.len()).then_some((params, Vec::new()))
}

/// The first route answering `method` at `path` (the table ends with a
/// catch-all, so there always is one).
pub fn find<'p>(method: &str, path: &'p str) -> Matched<'p> {
    find_where(path, |r| r.method.admits(method))
}

/// The first route at `path` whatever the method: a path's CORS policy and
/// body cap do not depend on the method (a preflight and the Worker's body
/// read happen before the method is known to be answered).
pub fn find_path(path: &str) -> &'static Route {
    find_where(path, |_| true).route
}

fn find_where<'p>(path: &'p str, admits: impl Fn(&Route) -> bool) -> Matched<'p> {
    let segs = segments(path);
    ROUTES
        .iter()
        .filter(|r| admits(r))
        .find_map(|route| {
            matches_path(route.path, &segs).map(|(params, rest)| Matched { route, params, rest })
        })
        .unwrap_or(Matched {
            route: &ROUTES[ROUTES.len() - 1],
            params: Vec::new(),
            rest: segs,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(find("GET", "/fhir/Patient/1").route.endpoint, E::Read);
        assert_eq!(find("GET", "/fhir/Patient/1").params, vec!["Patient", "1"]);
        assert_eq!(find("GET", "/fhir/Patient/").route.endpoint, E::Search);
        assert_eq!(
            find("POST", "/fhir/Patient/1").route.endpoint,
            E::FhirMethodNotAllowed
        );
        assert_eq!(find("GET", "/fhir/a/b/c").route.endpoint, E::FhirNotFound);
        assert_eq!(
            find("GET", "/fhir/DocumentReference/$docref").route.endpoint,
            E::DocRef
        );
        assert_eq!(
            find("POST", "/fhir/DocumentReference/$docref").route.endpoint,
            E::DocRef
        );
        assert_eq!(find("GET", "/fhir/DocumentReference/x").route.endpoint, E::Read);
        let everything = find("GET", "/fhir/Patient/p1/$everything");
        assert_eq!(
            (everything.route.endpoint, everything.param(0)),
            (E::Everything, "p1")
        );
        assert_eq!(
            find("GET", "/fhir/Observation/p1/$everything").route.endpoint,
            E::FhirNotFound
        );
        assert_eq!(find("PUT", "/token").route.endpoint, E::OAuthPostOnly);
        assert_eq!(find("GET", "/").route.endpoint, E::Root);
        assert_eq!(find("GET", "/nowhere").route.endpoint, E::NotFound);
        // The developer portal, its API and practice administration: one
        // row per endpoint, then each area's catch-alls.
        #[rustfmt::skip]
        let cases = [
            ("POST", "/developer/apps/x/keys", E::DeveloperPages(Dev::AppKeys), "x"),
            ("GET", "/developer", E::DeveloperPages(Dev::Home), ""),
            ("GET", "/developer/", E::DeveloperPages(Dev::Home), ""),
            ("GET", "/developer/apps/new", E::DeveloperPages(Dev::NewApp), ""),
            ("GET", "/developer/apps/y", E::DeveloperPages(Dev::App), "y"),
            ("GET", "/developer/apps/x/keys", E::DeveloperPages(Dev::NoSuchPage), ""),
            ("POST", "/developer", E::DeveloperPages(Dev::NoSuchForm), ""),
            ("PUT", "/developer/apps/x/keys", E::DeveloperPages(Dev::MethodNotAllowed), ""),
            ("PUT", "/developer/api/apps/x/keys", E::DeveloperApi(Api::AppKeys), "x"),
            ("POST", "/developer/api/apps/x/keys", E::DeveloperApi(Api::NotFound), ""),
            ("DELETE", "/developer/api/token", E::DeveloperApi(Api::EndToken), ""),
            ("POST", "/practice/clients/z/scope", E::Practice(Practice::ScopeDecision), "z"),
            ("POST", "/practice/clients/z/other", E::Practice(Practice::OtherDecision), "z"),
            ("POST", "/practice", E::Practice(Practice::NoSuchForm), ""),
            ("GET", "/practice/signin", E::Practice(Practice::NoSuchPage), ""),
        ];
        for (method, path, endpoint, id) in cases {
            let m = find(method, path);
            assert_eq!((m.route.endpoint, m.param(0)), (endpoint, id), "{method} {path}");
        }
        assert_eq!(
            find("POST", "/developer/apps/x/keys").route.body_max,
            DEVELOPER_BODY_MAX
        );
        assert_eq!(
            find("POST", "/developer/api/apps/x/keys").rest,
            vec!["apps", "x", "keys"]
        );
        assert_eq!(find("GET", "/.well-known/jwks.json").route.cors, Cors::Public);
        assert_eq!(find("GET", "/fhir/.well-known/jwks.json").route.cors, Cors::Apps);
        assert_eq!(find("POST", "/admin/import").route.body_max, MAX_IMPORT_BYTES);
    }

    #[test]
    fn every_route_is_reachable() {
        // A route shadowed by an earlier one with the same method and a
        // pattern that covers it would never answer.
        for (i, r) in ROUTES.iter().enumerate() {
            let path: String = r
                .path
                .split('/')
                // A tail stands for several segments, so that it is not a
                // shorter route's.
                .map(|s| match s {
                    s if s.starts_with("{*") => "x/y/z/w",
                    s if s.starts_with('{') => "x",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = match r.method {
                Get | GetOrPost => "GET",
                Post => "POST",
                Put => "PUT",
                Delete => "DELETE",
                Any => "PATCH",
            };
            let found = find(method, if path.is_empty() { "/" } else { &path });
            assert!(
                std::ptr::eq(found.route, &ROUTES[i]),
                "{} {} is shadowed",
                method,
                r.path
            );
        }
    }
}

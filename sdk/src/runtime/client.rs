//! An authorized FHIR client: every request carries the bearer token (only
//! under the FHIR base), refreshes shortly before expiry, refreshes at most
//! once after a 401 (one refresh shared by every request that needs it),
//! and retries 429/503 as [`crate::retry`] says. Reads, searches (a page,
//! all pages within limits, a `Stream` of pages), reference resolution,
//! any other request with its headers, and writes for servers that allow them.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures_core::Stream;
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use futures_util::stream;
use serde_json::Value;

use crate::bundle::{is_under_base, reference_key};
use crate::error::{ErrorKind, SdkError};
use crate::keys::KeyIndex;
use crate::launch;
use crate::params::SearchParams;
use crate::resolve::{self, Source};
use crate::retry::{retry_after_ms, RetryPolicy};
use crate::runtime::abort::{or_abort, AbortHandle};
use crate::runtime::http::{send, token_post};
use crate::runtime::page::SearchPage;
use crate::runtime::platform::{HttpRequest, HttpResponse, Platform, Store};
use crate::search;
use crate::session::{self, AuthRetry, Session};

/// The media type of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";

type SharedRefresh = Shared<LocalBoxFuture<'static, Result<(), SdkError>>>;

struct Inner<P: Platform> {
    platform: Rc<P>,
    policy: RetryPolicy,
    session: RefCell<Session>,
    kept: Option<(Rc<dyn Store>, String)>,
    refreshing: RefCell<Option<SharedRefresh>>,
}

/// A client of one FHIR server for one session. Clones share the session
/// (and its refresh); [`Client::with_abort`] gives a view whose requests an
/// [`AbortHandle`] cancels.
pub struct Client<P: Platform> {
    inner: Rc<Inner<P>>,
    abort: AbortHandle,
}

impl<P: Platform> Clone for Client<P> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
            abort: self.abort.clone(),
        }
    }
}

/// Bounds of [`Client::search_all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many resources (default 10,000).
    pub max_resources: usize,
    /// At most this many pages (default 1,000).
    pub max_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_resources: 10_000,
            max_pages: 1_000,
        }
    }
}

/// A request to the FHIR server beyond read and search ([`Client::request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirRequest {
    /// The method (`GET` unless set).
    pub method: String,
    /// A path relative to the FHIR base (`Patient/1/_history`), or an
    /// absolute URL under it.
    pub path: String,
    /// Extra headers (`If-None-Match`, `If-Match`, `Prefer` …). `Accept` is
    /// `application/fhir+json` unless given.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<String>,
}

impl FhirRequest {
    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> FhirRequest {
        FhirRequest {
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A request with `method` and a FHIR JSON body.
    pub fn with_json(method: &str, path: impl Into<String>, body: &Value) -> FhirRequest {
        FhirRequest {
            method: method.into(),
            path: path.into(),
            headers: vec![("Content-Type".into(), FHIR_JSON.into())],
            body: Some(body.to_string()),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> FhirRequest {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A successful answer of [`Client::request`].
#[derive(Debug, Clone, PartialEq)]
pub struct FhirResponse {
    /// The status (2xx, or 304 to a conditional read).
    pub status: u16,
    /// `ETag`, `Location`, `Last-Modified`, `Content-Type` … as sent.
    pub headers: Vec<(String, String)>,
    /// The body: JSON as parsed, other text as a string, `None` when empty.
    pub body: Option<Value>,
}

impl FhirResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How many references deep [`Client::resolve`] follows a path
/// (`encounter.serviceProvider.partOf` is two).
pub const MAX_HOPS: usize = 4;

/// A resource (or a resolved target) and the paths it still has to follow.
struct Hop {
    origin: usize,
    via: Vec<String>,
    value: Value,
    paths: Vec<String>,
}

/// One reference answered by [`Client::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedReference {
    /// Index of the resource the path starts from.
    pub resource: usize,
    /// The references followed from that resource to the one this
    /// reference is in (empty: in the resource itself;
    /// `["Encounter/e1"]`: in the Encounter it references).
    pub via: Vec<String>,
    /// The reference as written.
    pub reference: String,
    /// Where it was found: the resource's `contained`, the resources at hand,
    /// or a batched server search.
    pub source: Source,
    /// The resource it points to.
    pub target: Value,
}

/// The body of a response: JSON, else text, else nothing.
fn body_of(response: &HttpResponse) -> Option<Value> {
    if response.body.is_empty() {
        None
    } else {
        Some(
            response
                .json()
                .unwrap_or_else(|| Value::String(response.body.clone())),
        )
    }
}

impl<P: Platform> Client<P> {
    /// A client over `session`; `kept` is the store and key where a
    /// refreshed session is saved (none for a session the app supplied).
    pub fn new(
        platform: Rc<P>,
        policy: RetryPolicy,
        session: Session,
        kept: Option<(Rc<dyn Store>, String)>,
    ) -> Client<P> {
        Client {
            inner: Rc::new(Inner {
                platform,
                policy,
                session: RefCell::new(session),
                kept,
                refreshing: RefCell::new(None),
            }),
            abort: AbortHandle::new(),
        }
    }

    /// This client with its requests (and its waits for retries and for a
    /// shared refresh) cancelled by `abort`.
    pub fn with_abort(&self, abort: &AbortHandle) -> Client<P> {
        Client {
            inner: self.inner.clone(),
            abort: abort.clone(),
        }
    }

    /// The session as it is now (tokens, context, expiry).
    pub fn session(&self) -> Session {
        self.inner.session.borrow().clone()
    }

    /// The FHIR base URL.
    pub fn server_url(&self) -> String {
        self.inner.session.borrow().server.clone()
    }

    /// The patient in context (`patient` of the token response).
    pub fn patient(&self) -> Option<String> {
        self.inner.session.borrow().patient.clone()
    }

    /// The encounter in context.
    pub fn encounter(&self) -> Option<String> {
        self.inner.session.borrow().encounter.clone()
    }

    /// The user (`fhirUser` of the verified id_token), as the server wrote it.
    pub fn fhir_user(&self) -> Option<String> {
        self.inner.session.borrow().fhir_user.clone()
    }

    /// The user as a reference relative to this server (`Practitioner/1`),
    /// when it is on this server.
    pub fn user(&self) -> Option<String> {
        let s = self.inner.session.borrow();
        let user = s.fhir_user.as_deref()?;
        reference_key(user, &s.server).filter(|k| !k.contains(':'))
    }

    /// `fhirContext` of the token response (an array; empty when none).
    pub fn fhir_context(&self) -> Value {
        let s = self.inner.session.borrow();
        s.fhir_context_json
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_else(|| Value::Array(Vec::new()))
    }

    /// The token response as the server sent it (later refreshes merged over
    /// it): SMART's fields and any others (`intent`, `tenant`, vendor fields).
    pub fn token_response(&self) -> Value {
        let s = self.inner.session.borrow();
        s.token_response_json
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_else(|| Value::Object(Default::default()))
    }

    /// The verified id_token's claims, when the launch asked for `openid`.
    pub fn id_token_claims(&self) -> Option<Value> {
        let s = self.inner.session.borrow();
        s.id_token_claims_json
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    /// Whether the app must show a patient banner (SMART's default: yes).
    pub fn need_patient_banner(&self) -> bool {
        self.inner.session.borrow().need_patient_banner != Some(false)
    }

    /// The EHR's style URL.
    pub fn smart_style_url(&self) -> Option<String> {
        self.inner.session.borrow().smart_style_url.clone()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> Vec<String> {
        self.inner.session.borrow().scopes()
    }

    /// The current access token (empty for an open server).
    pub fn access_token(&self) -> String {
        self.inner.session.borrow().access_token.clone()
    }

    /// When the access token expires (epoch ms), if the server said.
    pub fn expires_at_ms(&self) -> Option<f64> {
        self.inner.session.borrow().expires_at_ms
    }

    /// Whether the session has a refresh token.
    pub fn can_refresh(&self) -> bool {
        self.inner.session.borrow().refresh_token.is_some()
    }

    /// The store key of this session, when it is kept.
    pub fn state(&self) -> Option<String> {
        let (_, key) = self.inner.kept.as_ref()?;
        key.strip_prefix(&launch::session_key("")).map(str::to_string)
    }

    /// Refreshes now (shared with any refresh already running).
    pub async fn refresh(&self) -> Result<(), SdkError> {
        or_abort(self.refresh_shared(), &self.abort, "refresh").await
    }

    /// Removes the kept session from its store (a later `ready()` does not
    /// restore it).
    pub async fn forget(&self) -> Result<(), SdkError> {
        match &self.inner.kept {
            Some((store, key)) => store.remove(key).await,
            None => Ok(()),
        }
    }

    fn refresh_shared(&self) -> SharedRefresh {
        if let Some(running) = &*self.inner.refreshing.borrow() {
            return running.clone();
        }
        // Weak: a refresh nobody waits for any more keeps no client alive.
        let weak: Weak<Inner<P>> = Rc::downgrade(&self.inner);
        let running = async move {
            let inner = weak
                .upgrade()
                .ok_or_else(|| SdkError::new(ErrorKind::Aborted, "refresh: the client is gone"))?;
            let result = refresh_now(&inner).await;
            *inner.refreshing.borrow_mut() = None;
            result
        }
        .boxed_local()
        .shared();
        *self.inner.refreshing.borrow_mut() = Some(running.clone());
        running
    }

    /// Sends `request` with the bearer token: refreshes first when due,
    /// after a 401 refreshes (or picks up another request's refresh) and
    /// retries once. The token only goes under the FHIR base.
    async fn authorized(&self, mut request: HttpRequest) -> Result<HttpResponse, SdkError> {
        let inner = &*self.inner;
        let base = inner.session.borrow().server.clone();
        if !is_under_base(&request.url, &base) {
            return Err(SdkError::new(
                ErrorKind::Protocol,
                format!(
                    "{} is not under the FHIR base {base}; the access token is only sent there",
                    request.url
                ),
            ));
        }
        let now = inner.platform.now_ms();
        if inner.session.borrow().needs_refresh(now) {
            if let Err(e) = or_abort(self.refresh_shared(), &self.abort, &request.url).await {
                // A failed early refresh is no failure while the token still works.
                if e.kind == ErrorKind::Aborted || inner.session.borrow().is_expired(inner.platform.now_ms())
                {
                    return Err(e);
                }
            }
        }
        if request.header("Accept").is_none() {
            request.headers.push(("Accept".into(), FHIR_JSON.into()));
        }
        let plain = request.headers.len();
        let mut retried = false;
        loop {
            let token = inner.session.borrow().access_token.clone();
            request.headers.truncate(plain);
            if !token.is_empty() {
                request
                    .headers
                    .push(("Authorization".into(), format!("Bearer {token}")));
            }
            let response = send(&*inner.platform, &inner.policy, &request, &self.abort).await?;
            if response.status == 401 && !token.is_empty() {
                let next = inner.session.borrow().after_unauthorized(&token, retried);
                retried = true;
                match next {
                    AuthRetry::RetryWithCurrentToken => continue,
                    AuthRetry::RefreshThenRetry => {
                        or_abort(self.refresh_shared(), &self.abort, &request.url).await?;
                        continue;
                    }
                    AuthRetry::GiveUp => {}
                }
            }
            return Ok(response);
        }
    }

    /// The error for a FHIR error answer: status, OperationOutcome issues,
    /// `Retry-After` in seconds.
    fn fhir_error(&self, response: &HttpResponse) -> SdkError {
        let body = response.json();
        let mut e = SdkError::from_fhir_response(response.status, body.as_ref().as_ref());
        e.retry_after = response
            .header("retry-after")
            .and_then(|v| retry_after_ms(v, self.inner.platform.now_ms()))
            .map(|ms| ms / 1000.0);
        e
    }

    async fn get_json(&self, url: String) -> Result<Value, SdkError> {
        let response = self.authorized(HttpRequest::get(url, FHIR_JSON)).await?;
        if !response.ok() {
            return Err(self.fhir_error(&response));
        }
        response
            .json()
            .ok_or_else(|| SdkError::new(ErrorKind::Protocol, "the FHIR server answered without JSON"))
    }

    /// `GET [base]/[type]/[id]`.
    pub async fn read(&self, resource_type: &str, id: &str) -> Result<Value, SdkError> {
        let url = search::read_url(&self.server_url(), resource_type, id)?;
        self.get_json(url).await
    }

    /// One page of a typed search: a builder generated from the registry
    /// ([`crate::params`], so an unknown parameter does not compile), or a
    /// [`crate::params::Raw`] search checked against the registry now.
    pub async fn search(&self, params: impl SearchParams) -> Result<SearchPage, SdkError> {
        params.check()?;
        let resource_type = params.resource_type().to_string();
        self.search_pairs(&resource_type, &params.into_pairs()).await
    }

    /// The pages of a typed search as a `Stream` (see [`Client::pages`]).
    pub fn pages_of(
        &self,
        params: impl SearchParams,
        max_pages: usize,
    ) -> impl Stream<Item = Result<SearchPage, SdkError>> + 'static {
        use futures_util::StreamExt;
        match params.check() {
            Err(e) => stream::once(async move { Err(e) }).left_stream(),
            Ok(()) => {
                let resource_type = params.resource_type().to_string();
                self.pages(&resource_type, &params.into_pairs(), max_pages)
                    .right_stream()
            }
        }
    }

    /// One page of a search given as name/value pairs (checked against the
    /// registry at run time).
    pub async fn search_pairs(
        &self,
        resource_type: &str,
        params: &[(String, String)],
    ) -> Result<SearchPage, SdkError> {
        let url = search::search_url(&self.server_url(), resource_type, params)?;
        self.page(url).await
    }

    /// The page at `url` (a `next` link).
    pub async fn page(&self, url: String) -> Result<SearchPage, SdkError> {
        let bundle = self.get_json(url).await?;
        SearchPage::from_bundle(bundle, &self.server_url())
    }

    /// The page after `page`, if there is one.
    pub async fn next_page(&self, page: &SearchPage) -> Result<Option<SearchPage>, SdkError> {
        match &page.next {
            Some(next) => self.page(next.clone()).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every match of a search, page after page, within `limits`; `on_page`
    /// sees each page as it arrives.
    pub async fn search_all(
        &self,
        resource_type: &str,
        params: &[(String, String)],
        limits: Limits,
        mut on_page: impl FnMut(&SearchPage),
    ) -> Result<Vec<Value>, SdkError> {
        let mut all = Vec::new();
        self.search_all_pages(resource_type, params, limits, |page, room| {
            on_page(&page);
            let taken = page.into_bundle_resources(room);
            let n = taken.len();
            all.extend(taken);
            n
        })
        .await?;
        Ok(all)
    }

    /// The paging of [`Client::search_all`]: `take(page, room)` keeps at most
    /// `room` of the page's matches and says how many it kept; the pages stop
    /// at the limits or at the last page.
    pub async fn search_all_pages(
        &self,
        resource_type: &str,
        params: &[(String, String)],
        limits: Limits,
        mut take: impl FnMut(SearchPage, usize) -> usize,
    ) -> Result<(), SdkError> {
        let mut kept = 0;
        let mut pages = 0;
        let mut url = Some(search::search_url(&self.server_url(), resource_type, params)?);
        while let Some(u) = url.take() {
            if pages >= limits.max_pages || kept >= limits.max_resources {
                break;
            }
            let page = self.page(u).await?;
            pages += 1;
            url = page.next.clone();
            kept += take(page, limits.max_resources - kept);
        }
        Ok(())
    }

    /// The pages of a search as a `Stream`, at most `max_pages`. Dropping the
    /// stream cancels the page in flight.
    pub fn pages(
        &self,
        resource_type: &str,
        params: &[(String, String)],
        max_pages: usize,
    ) -> impl Stream<Item = Result<SearchPage, SdkError>> + 'static {
        let first = search::search_url(&self.server_url(), resource_type, params);
        let client = self.clone();
        stream::unfold((Some(first), max_pages), move |(url, left)| {
            let client = client.clone();
            async move {
                let url = match url {
                    Some(_) if left == 0 => return None,
                    Some(Ok(url)) => url,
                    Some(Err(e)) => return Some((Err(e), (None, 0))),
                    None => return None,
                };
                match client.page(url).await {
                    Ok(page) => {
                        let next = page.next.clone().map(Ok);
                        Some((Ok(page), (next, left - 1)))
                    }
                    Err(e) => Some((Err(e), (None, 0))),
                }
            }
        })
    }

    /// Resolves the references of `resources` under the dotted `paths`
    /// (`medicationReference`, `performer.actor`; all references when empty):
    /// a resource's `contained` first, then `at_hand` (the page's resources),
    /// then one batched `_id` search per type. A path that goes on past a
    /// reference (`encounter.serviceProvider`) is followed into the resolved
    /// resource, up to [`MAX_HOPS`] references deep; `via` says where. References
    /// to other servers are never fetched.
    pub async fn resolve(
        &self,
        resources: &[Value],
        paths: &[String],
        at_hand: &[&Value],
    ) -> Result<Vec<ResolvedReference>, SdkError> {
        let mut out = Vec::new();
        // One level: the resources (or resolved targets) and the paths they still have to follow.
        let mut level: Vec<Hop> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| Hop {
                origin: i,
                via: Vec::new(),
                value: r.clone(),
                paths: paths.to_vec(),
            })
            .collect();
        for depth in 0..=MAX_HOPS {
            if level.is_empty() {
                break;
            }
            // Each path up to its first reference here; the rest continues in the target.
            let mut local: Vec<String> = Vec::new();
            let mut onward: Vec<(usize, String, String)> = Vec::new();
            for (i, hop) in level.iter().enumerate() {
                for p in &hop.paths {
                    let (here, rest) = resolve::split_at_reference(&&hop.value, p);
                    if !local.contains(&here) {
                        local.push(here.clone());
                    }
                    if let (Some(rest), true) = (rest, depth < MAX_HOPS) {
                        onward.push((i, here, rest));
                    }
                }
            }
            let values: Vec<&Value> = level.iter().map(|h| &h.value).collect();
            let found = self.resolve_level(&values, &local, at_hand).await?;
            let mut next: Vec<Hop> = Vec::new();
            for (i, here, rest) in onward {
                let refs = resolve::references_at(&&level[i].value, &here);
                for f in found.iter().filter(|f| f.0 == i && refs.contains(&f.1)) {
                    let mut via = level[i].via.clone();
                    via.push(f.1.clone());
                    next.push(Hop {
                        origin: level[i].origin,
                        via,
                        value: f.3.clone(),
                        paths: vec![rest.clone()],
                    });
                }
            }
            for (i, reference, source, target) in found {
                out.push(ResolvedReference {
                    resource: level[i].origin,
                    via: level[i].via.clone(),
                    reference,
                    source,
                    target,
                });
            }
            level = next;
        }
        Ok(out)
    }

    /// One level of [`Client::resolve`]: `(index, reference, source, target)`.
    async fn resolve_level(
        &self,
        resources: &[&Value],
        paths: &[String],
        at_hand: &[&Value],
    ) -> Result<Vec<(usize, String, Source, Value)>, SdkError> {
        let base = self.server_url();
        let key_of = |r: &Value| -> Option<String> {
            Some(format!(
                "{}/{}",
                r.get("resourceType")?.as_str()?,
                r.get("id")?.as_str()?
            ))
        };
        let hand_list: Vec<&Value> = resources.iter().copied().chain(at_hand.iter().copied()).collect();
        let hand = KeyIndex::new(
            hand_list
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((key_of(r)?, i as u32)))
                .collect(),
        );
        let plan = resolve::plan(resources, paths, &|k: &str| hand.contains(k), &base);
        let mut fetched_list: Vec<Value> = Vec::new();
        for batch in &plan.batches {
            let url = search::search_url(&base, &batch.resource_type, &batch.search_pairs())?;
            fetched_list.extend(self.page(url).await?.resources().cloned());
        }
        let fetched = KeyIndex::new(
            fetched_list
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((key_of(r)?, i as u32)))
                .collect(),
        );
        let mut out = Vec::new();
        for r in plan.resolutions {
            let target = match &r.source {
                Source::Contained(i) => resources[r.resource]["contained"].get(*i).cloned(),
                Source::AtHand(k) => hand.get(k).map(|i| hand_list[i as usize].clone()),
                Source::Server(k) => fetched.get(k).map(|i| fetched_list[i as usize].clone()),
            };
            if let Some(target) = target {
                out.push((r.resource, r.reference, r.source, target));
            }
        }
        Ok(out)
    }

    /// Any request to the FHIR server (conditional reads with
    /// `If-None-Match`, `Prefer`, history, operations …). A 2xx or 304 is an
    /// answer; any other status is a `fhir` error with its issues.
    pub async fn request(&self, request: FhirRequest) -> Result<FhirResponse, SdkError> {
        let url = search::absolute_url(&self.server_url(), &request.path);
        let response = self
            .authorized(HttpRequest {
                method: request.method.to_ascii_uppercase(),
                url,
                headers: request.headers,
                body: request.body,
            })
            .await?;
        if !response.ok() && response.status != 304 {
            return Err(self.fhir_error(&response));
        }
        Ok(FhirResponse {
            status: response.status,
            body: body_of(&response),
            headers: response.headers,
        })
    }

    /// `POST [base]/[type]` (for servers that allow writes).
    pub async fn create(&self, resource: &Value) -> Result<FhirResponse, SdkError> {
        let t = type_of(resource)?;
        self.request(FhirRequest::with_json("POST", t, resource)).await
    }

    /// `PUT [base]/[type]/[id]`; `if_match` is the version's ETag
    /// (`W/"3"`) for an update that fails if someone else updated first.
    pub async fn update(&self, resource: &Value, if_match: Option<&str>) -> Result<FhirResponse, SdkError> {
        let t = type_of(resource)?;
        let id = resource["id"]
            .as_str()
            .ok_or_else(|| SdkError::launch("update needs a resource with an id"))?;
        let mut r = FhirRequest::with_json("PUT", format!("{t}/{id}"), resource);
        if let Some(v) = if_match {
            r = r.header("If-Match", v);
        }
        self.request(r).await
    }

    /// `DELETE [base]/[type]/[id]`.
    pub async fn delete(&self, resource_type: &str, id: &str) -> Result<FhirResponse, SdkError> {
        let url = search::read_url(&self.server_url(), resource_type, id)?;
        self.request(FhirRequest {
            method: "DELETE".into(),
            path: url,
            headers: Vec::new(),
            body: None,
        })
        .await
    }

    /// `PATCH [base]/[type]/[id]` with a JSON Patch document.
    pub async fn patch(
        &self,
        resource_type: &str,
        id: &str,
        json_patch: &Value,
    ) -> Result<FhirResponse, SdkError> {
        let url = search::read_url(&self.server_url(), resource_type, id)?;
        let mut r = FhirRequest::with_json("PATCH", url, json_patch);
        r.headers = vec![("Content-Type".into(), "application/json-patch+json".into())];
        self.request(r).await
    }
}

fn type_of(resource: &Value) -> Result<&str, SdkError> {
    resource["resourceType"]
        .as_str()
        .ok_or_else(|| SdkError::launch("the resource has no resourceType"))
}

impl SearchPage {
    /// The first `max` matches, taken out of the page.
    fn into_bundle_resources(self, max: usize) -> Vec<Value> {
        let (matches, _, _) = self.entry_positions();
        let matches: Vec<usize> = matches.iter().copied().take(max).collect();
        let mut bundle = self.into_bundle();
        matches
            .into_iter()
            .map(|i| bundle["entry"][i]["resource"].take())
            .collect()
    }
}

/// The refresh itself: one POST to the token endpoint; the session takes
/// the new tokens (a refresh token is kept unless rotated) and is saved.
async fn refresh_now<P: Platform>(inner: &Inner<P>) -> Result<(), SdkError> {
    let (endpoint, body) = {
        let s = inner.session.borrow();
        let body = s.refresh_request().filter(|_| !s.token_endpoint.is_empty());
        (s.token_endpoint.clone(), body)
    };
    let body = body
        .ok_or_else(|| SdkError::oauth("no_refresh_token", Some("the session has no refresh token"), None))?;
    let json = token_post(
        &*inner.platform,
        &inner.policy,
        &endpoint,
        body,
        &AbortHandle::new(),
    )
    .await?;
    let token = session::token_response(&&json)?;
    let encoded = {
        let mut s = inner.session.borrow_mut();
        s.apply(&token, inner.platform.now_ms());
        let mut merged = s
            .token_response_json
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let (Some(m), Value::Object(new)) = (merged.as_object_mut(), json) {
            m.extend(new);
        }
        s.token_response_json = Some(merged.to_string());
        s.encode()
    };
    if let Some((store, key)) = &inner.kept {
        store.set(key, &encoded).await?;
    }
    Ok(())
}

//! The `Client` of an authorized session: context accessors, `read`,
//! `search` (with `_include`/`_revinclude` attached), paging, reference
//! resolution, raw `request`, and the token refresh rules (shortly before
//! expiry; once on a 401; concurrent requests share one refresh).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::js::{define_hidden, now_ms, object, opt_str, parse_json, set, signal_of, to_js_error};
use super::net::{self, Answer, Call};
use super::storage::Store;
use crate::bundle::{self, Attachment, Target};
use crate::error::{ErrorKind, SdkError};
use crate::json::{text_at, Json};
use crate::keys::KeyIndex;
use crate::resolve::{self, Source};
use crate::retry::RetryPolicy;
use crate::search;
use crate::session::{self, AuthRetry, Session};

/// Default bound of `searchAll` (resources) …
pub const SEARCH_ALL_LIMIT: f64 = 10_000.0;
/// … and of pages fetched by `searchAll` and `pages`.
pub const MAX_PAGES: u32 = 1000;

/// The shared state of a client and the requests it runs.
pub(crate) struct Inner {
    session: RefCell<Session>,
    store: Store,
    storage_key: Option<String>,
    fhir_context: JsValue,
    refreshing: RefCell<Option<Promise>>,
    refresh_error: RefCell<Option<SdkError>>,
    policy: RetryPolicy,
}

/// A FHIR client for one authorized session.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

/// A boxed future: the requests below are awaited from many API methods, and
/// boxing keeps one copy of each state machine in the wasm instead of one per
/// caller.
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, SdkError>> + 'a>>;

fn fhir_json<'a>(
    inner: &'a Rc<Inner>,
    url: &'a str,
    method: &'a str,
    body: Option<String>,
    content_type: Option<String>,
    signal: Option<web_sys::AbortSignal>,
) -> Boxed<'a, JsValue> {
    Box::pin(fhir_json_inner(inner, url, method, body, content_type, signal))
}

fn fetch_page<'a>(
    inner: &'a Rc<Inner>,
    url: &'a str,
    signal: Option<web_sys::AbortSignal>,
) -> Boxed<'a, JsValue> {
    Box::pin(fetch_page_inner(inner, url, signal))
}

fn refresh_shared(inner: &Rc<Inner>) -> Boxed<'_, ()> {
    Box::pin(refresh_shared_inner(inner))
}

/// Runs an API method's future as a JS promise. The future is boxed so the
/// promise plumbing is compiled once, not once per method.
fn spawn<F>(future: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, SdkError>> + 'static,
{
    promise_of(Box::pin(future))
}

fn promise_of(future: Boxed<'static, JsValue>) -> Promise {
    future_to_promise(async move { future.await.map_err(to_js_error) })
}

impl Client {
    /// A client over `session`, persisted under `storage_key` in `store`.
    pub fn new(session: Session, store: Store, storage_key: Option<String>) -> Client {
        let fhir_context = session
            .fhir_context_json
            .as_deref()
            .map_or_else(|| Array::new().into(), parse_json);
        Client {
            inner: Rc::new(Inner {
                session: RefCell::new(session),
                store,
                storage_key,
                fhir_context,
                refreshing: RefCell::new(None),
                refresh_error: RefCell::new(None),
                policy: RetryPolicy::default(),
            }),
        }
    }

    /// A copy of the session (tokens and context).
    pub fn session(&self) -> Session {
        self.inner.session.borrow().clone()
    }

    /// GETs a FHIR URL under the server base with the session's token.
    pub async fn get_json(
        &self,
        url: &str,
        signal: Option<web_sys::AbortSignal>,
    ) -> Result<JsValue, SdkError> {
        fhir_json(&self.inner, url, "GET", None, None, signal).await
    }

    /// Rust API: reads `{type}/{id}`.
    pub async fn read_resource(&self, resource_type: &str, id: &str) -> Result<JsValue, SdkError> {
        let url = search::read_url(&self.inner.session.borrow().server, resource_type, id)?;
        fhir_json(&self.inner, &url, "GET", None, None, None).await
    }

    /// Rust API: one page of a search, the parameter names checked against
    /// the registry first (the runtime twin of the TypeScript types); the
    /// page has the shape of the JS `SearchPage`.
    pub async fn search_checked(
        &self,
        resource_type: &str,
        params: &[(String, String)],
    ) -> Result<JsValue, SdkError> {
        search::check_params(resource_type, params)?;
        let url = search::search_url(&self.inner.session.borrow().server, resource_type, params)?;
        fetch_page(&self.inner, &url, None).await
    }
}

async fn persist(inner: &Inner) -> Result<(), SdkError> {
    match &inner.storage_key {
        Some(key) => {
            let text = inner.session.borrow().encode();
            inner.store.set(key, &text).await
        }
        None => Ok(()),
    }
}

async fn refresh_now(inner: &Inner) -> Result<(), SdkError> {
    let (endpoint, body) = {
        let s = inner.session.borrow();
        (s.token_endpoint.clone(), s.refresh_request())
    };
    let body = match body {
        Some(b) if !endpoint.is_empty() => b,
        _ => {
            return Err(SdkError::oauth(
                "no_refresh_token",
                Some("the session has no refresh token"),
                None,
            ))
        }
    };
    let answer = net::send(&Call::form_post(&endpoint, &body), &inner.policy).await?;
    if !answer.ok() {
        return Err(SdkError::from_oauth_response(answer.status, answer.json()));
    }
    let response = session::token_response(&answer.body)?;
    inner.session.borrow_mut().apply(&response, now_ms());
    persist(inner).await
}

/// Refreshes, sharing one refresh among all callers while it runs.
async fn refresh_shared_inner(inner: &Rc<Inner>) -> Result<(), SdkError> {
    let running = inner.refreshing.borrow().clone();
    let promise = match running {
        Some(p) => p,
        None => {
            let owner = inner.clone();
            let p = future_to_promise(async move {
                let result = refresh_now(&owner).await;
                owner.refreshing.borrow_mut().take();
                match result {
                    Ok(()) => Ok(JsValue::TRUE),
                    Err(e) => {
                        *owner.refresh_error.borrow_mut() = Some(e);
                        Err(JsValue::FALSE)
                    }
                }
            });
            *inner.refreshing.borrow_mut() = Some(p.clone());
            p
        }
    };
    match JsFuture::from(promise).await {
        Ok(_) => Ok(()),
        Err(_) => Err(inner
            .refresh_error
            .borrow()
            .clone()
            .unwrap_or_else(|| SdkError::new(ErrorKind::OAuth, "token refresh failed"))),
    }
}

/// Sends a request with the bearer token: refreshes first when the token is
/// about to expire, and after a 401 retries once (refreshing unless another
/// request already did). The token only ever goes to URLs under the FHIR base.
async fn authorized(
    inner: &Rc<Inner>,
    url: &str,
    method: &str,
    body: Option<String>,
    content_type: Option<String>,
    signal: Option<web_sys::AbortSignal>,
) -> Result<Answer, SdkError> {
    let base = inner.session.borrow().server.clone();
    if !bundle::is_under_base(url, &base) {
        return Err(SdkError::new(
            ErrorKind::Protocol,
            format!("{url} is not under the FHIR base {base}; the access token is only sent there"),
        ));
    }
    let due = inner.session.borrow().needs_refresh(now_ms());
    if due {
        if let Err(e) = refresh_shared(inner).await {
            if inner.session.borrow().is_expired(now_ms()) {
                return Err(e);
            }
        }
    }
    let mut retried = false;
    loop {
        let token = inner.session.borrow().access_token.clone();
        let mut headers = vec![
            ("Accept", "application/fhir+json".to_string()),
            ("Authorization", format!("Bearer {token}")),
        ];
        if let Some(ct) = &content_type {
            headers.push(("Content-Type", ct.clone()));
        }
        let call = Call {
            url,
            method,
            headers,
            body: body.as_deref(),
            signal: signal.as_ref(),
        };
        let answer = net::send(&call, &inner.policy).await?;
        if answer.status == 401 {
            let decision = inner.session.borrow().after_unauthorized(&token, retried);
            retried = true;
            match decision {
                AuthRetry::RetryWithCurrentToken => continue,
                AuthRetry::RefreshThenRetry => {
                    refresh_shared(inner).await?;
                    continue;
                }
                AuthRetry::GiveUp => {}
            }
        }
        return Ok(answer);
    }
}

async fn fhir_json_inner(
    inner: &Rc<Inner>,
    url: &str,
    method: &str,
    body: Option<String>,
    content_type: Option<String>,
    signal: Option<web_sys::AbortSignal>,
) -> Result<JsValue, SdkError> {
    let answer = authorized(inner, url, method, body, content_type, signal).await?;
    if answer.ok() {
        return Ok(answer.body);
    }
    let mut e = SdkError::from_fhir_response(answer.status, answer.json());
    e.retry_after = answer.retry_after_s();
    Err(e)
}

/// Search parameters from a JS object: arrays repeat the parameter,
/// numbers and booleans become text, `undefined`/`null` are skipped.
fn param_pairs(params: &JsValue) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (name, value) in params.members() {
        let values = if js_sys::Array::is_array(&value) {
            value.elements()
        } else {
            vec![value]
        };
        for v in values {
            // Numbers and booleans as JS prints them (no float formatting in Rust).
            let printable = v.as_f64().is_some() || v.as_bool().is_some();
            let text = v
                .as_string()
                .or_else(|| if printable { super::js::stringify(&v) } else { None });
            if let Some(text) = text {
                pairs.push((name.clone(), text));
            }
        }
    }
    pairs
}

fn hidden_object(target: &JsValue, key: &str) -> Object {
    let existing = Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    if existing.is_object() {
        return existing.unchecked_into();
    }
    let created = object();
    if let Some(t) = target.dyn_ref::<Object>() {
        define_hidden(t, key, &created);
    }
    created
}

fn hidden_array(target: &JsValue, key: &str) -> Array {
    let existing = Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    if Array::is_array(&existing) {
        return existing.unchecked_into();
    }
    let created = Array::new();
    if let Some(t) = target.dyn_ref::<Object>() {
        define_hidden(t, key, &created);
    }
    created
}

/// A Bundle as the `SearchPage` object apps get.
fn page_object(bundle_value: JsValue, base: &str) -> Result<JsValue, SdkError> {
    let page = bundle::read_page(&bundle_value)?;
    for attachment in bundle::attachments(&page, base) {
        match attachment {
            Attachment::Reference {
                of,
                reference,
                target,
            } => {
                let resource = match target {
                    Target::Match(i) => &page.matches[i].resource,
                    Target::Included(i) => &page.included[i].resource,
                };
                set(
                    &hidden_object(&page.matches[of].resource, "$refs"),
                    &reference,
                    resource,
                );
            }
            Attachment::Reverse { of, included } => {
                hidden_array(&page.matches[of].resource, "$revincluded")
                    .push(&page.included[included].resource);
            }
        }
    }
    let out = object();
    let list = |entries: &[bundle::Entry<JsValue>]| -> Array {
        entries.iter().map(|e| e.resource.clone()).collect()
    };
    set(&out, "resources", &list(&page.matches));
    set(&out, "included", &list(&page.included));
    set(
        &out,
        "outcomes",
        &page.outcomes.iter().cloned().collect::<Array>(),
    );
    set(
        &out,
        "next",
        &page.next.as_deref().map_or(JsValue::NULL, JsValue::from_str),
    );
    set(
        &out,
        "total",
        &page.total.map_or(JsValue::UNDEFINED, JsValue::from),
    );
    set(&out, "bundle", &bundle_value);
    Ok(out.into())
}

async fn fetch_page_inner(
    inner: &Rc<Inner>,
    url: &str,
    signal: Option<web_sys::AbortSignal>,
) -> Result<JsValue, SdkError> {
    let bundle_value = fhir_json(inner, url, "GET", None, None, signal).await?;
    let base = inner.session.borrow().server.clone();
    page_object(bundle_value, &base)
}

fn search_url_of(inner: &Inner, resource_type: &str, params: &JsValue) -> Result<String, SdkError> {
    search::search_url(
        &inner.session.borrow().server,
        resource_type,
        &param_pairs(params),
    )
}

fn limit_of(options: &JsValue, key: &str, default: f64) -> f64 {
    options
        .member(key)
        .and_then(|v| v.as_f64())
        .filter(|n| *n >= 0.0)
        .unwrap_or(default)
}

#[wasm_bindgen]
impl Client {
    /// The FHIR base URL.
    #[wasm_bindgen(getter, js_name = serverUrl)]
    pub fn server_url(&self) -> String {
        self.inner.session.borrow().server.clone()
    }

    /// The patient in context (a Patient id), if any.
    #[wasm_bindgen(getter)]
    pub fn patient(&self) -> Option<String> {
        self.inner.session.borrow().patient.clone()
    }

    /// The encounter in context (an Encounter id), if any.
    #[wasm_bindgen(getter)]
    pub fn encounter(&self) -> Option<String> {
        self.inner.session.borrow().encounter.clone()
    }

    /// The signed-in user as the id_token's `fhirUser` URL, if `openid fhirUser` was granted.
    #[wasm_bindgen(getter, js_name = fhirUser)]
    pub fn fhir_user(&self) -> Option<String> {
        self.inner.session.borrow().fhir_user.clone()
    }

    /// The signed-in user as a relative reference (`Practitioner/123`), if known.
    #[wasm_bindgen(getter)]
    pub fn user(&self) -> Option<String> {
        let fhir_user = self.inner.session.borrow().fhir_user.clone()?;
        let base = self.inner.session.borrow().server.clone();
        bundle::reference_key(&fhir_user, &base).filter(|k| !k.contains(':'))
    }

    /// Whether the app must show a patient banner (`true` unless the EHR said `false`).
    #[wasm_bindgen(getter, js_name = needPatientBanner)]
    pub fn need_patient_banner(&self) -> bool {
        self.inner.session.borrow().need_patient_banner.unwrap_or(true)
    }

    /// The EHR's style URL (`smart_style_url`), if any.
    #[wasm_bindgen(getter, js_name = smartStyleUrl)]
    pub fn smart_style_url(&self) -> Option<String> {
        self.inner.session.borrow().smart_style_url.clone()
    }

    /// `fhirContext` from the token response (an empty array when none).
    #[wasm_bindgen(getter, js_name = fhirContext, unchecked_return_type = "FhirContextItem[]")]
    pub fn fhir_context(&self) -> JsValue {
        self.inner.fhir_context.clone()
    }

    /// The scopes the server granted (may be fewer than requested).
    #[wasm_bindgen(getter)]
    pub fn scopes(&self) -> Vec<String> {
        self.inner.session.borrow().scopes()
    }

    /// The current access token.
    #[wasm_bindgen(getter, js_name = accessToken)]
    pub fn access_token(&self) -> String {
        self.inner.session.borrow().access_token.clone()
    }

    /// When the access token expires (epoch ms), if the server said.
    #[wasm_bindgen(getter, js_name = expiresAt)]
    pub fn expires_at(&self) -> Option<f64> {
        self.inner.session.borrow().expires_at_ms
    }

    /// Whether a refresh token was granted.
    #[wasm_bindgen(getter, js_name = canRefresh)]
    pub fn can_refresh(&self) -> bool {
        self.inner.session.borrow().refresh_token.is_some()
    }

    /// Reads `{type}/{id}`.
    #[wasm_bindgen(skip_typescript)]
    pub fn read(&self, resource_type: String, id: String, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            let url = search::read_url(&inner.session.borrow().server, &resource_type, &id)?;
            fhir_json(&inner, &url, "GET", None, None, signal_of(&options)).await
        })
    }

    /// Searches `type` with `params`; resolves to a `SearchPage`.
    #[wasm_bindgen(skip_typescript)]
    pub fn search(&self, resource_type: String, params: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            let url = search_url_of(&inner, &resource_type, &params)?;
            fetch_page(&inner, &url, signal_of(&options)).await
        })
    }

    /// The page after `page` (a `SearchPage` or its `next` URL); `null` at the end.
    #[wasm_bindgen(js_name = nextPage, skip_typescript)]
    pub fn next_page(&self, page: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            let next = page.as_string().or_else(|| text_at(&page, "next"));
            match next {
                Some(url) => fetch_page(&inner, &url, signal_of(&options)).await,
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// Every matching resource across pages, up to `limit` resources
    /// (default 10,000) and `maxPages` pages (default 1,000).
    #[wasm_bindgen(js_name = searchAll, skip_typescript)]
    pub fn search_all(&self, resource_type: String, params: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            let limit = limit_of(&options, "limit", SEARCH_ALL_LIMIT) as u32;
            let max_pages = limit_of(&options, "maxPages", f64::from(MAX_PAGES)) as u32;
            let mut url = Some(search_url_of(&inner, &resource_type, &params)?);
            let all = Array::new();
            let mut pages = 0;
            while let Some(u) = url.take() {
                if pages >= max_pages || all.length() >= limit {
                    break;
                }
                let page = fetch_page(&inner, &u, signal_of(&options)).await?;
                pages += 1;
                for r in page.member("resources").map(|r| r.elements()).unwrap_or_default() {
                    if all.length() < limit {
                        all.push(&r);
                    }
                }
                url = text_at(&page, "next");
            }
            Ok(all.into())
        })
    }

    /// An async iterator over the pages of a search (`for await … of`),
    /// bounded by `maxPages` (default 1,000).
    #[wasm_bindgen(skip_typescript)]
    pub fn pages(
        &self,
        resource_type: String,
        params: JsValue,
        options: JsValue,
    ) -> Result<PageIterator, JsValue> {
        let url = search_url_of(&self.inner, &resource_type, &params).map_err(to_js_error)?;
        Ok(PageIterator {
            inner: self.inner.clone(),
            state: Rc::new(RefCell::new(IterState {
                next_url: Some(url),
                pages_left: limit_of(&options, "maxPages", f64::from(MAX_PAGES)) as u32,
                signal: signal_of(&options),
            })),
        })
    }

    /// Resolves the references of `resources` (under `paths`, or all):
    /// contained resources first, then resources already at hand (`page`), then
    /// the server with one `_id` search per type and batch. Each resolved
    /// reference is attached as `resource.$refs[reference]`. Resolves to the
    /// number of references resolved.
    #[wasm_bindgen(js_name = resolveReferences, skip_typescript)]
    pub fn resolve_references(&self, resources: JsValue, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            let list: Vec<JsValue> = if Array::is_array(&resources) {
                resources.elements()
            } else {
                vec![resources]
            };
            let base = inner.session.borrow().server.clone();
            let paths: Vec<String> = options
                .member("paths")
                .map(|p| p.elements().iter().filter_map(|x| x.as_string()).collect())
                .unwrap_or_default();
            let key_of = |r: &JsValue| Some(format!("{}/{}", text_at(r, "resourceType")?, text_at(r, "id")?));
            let mut at_hand: Vec<(String, JsValue)> = list
                .iter()
                .filter_map(|r| Some((key_of(r)?, r.clone())))
                .collect();
            if let Some(page) = options.member("page") {
                for key in ["resources", "included"] {
                    for r in page.member(key).map(|v| v.elements()).unwrap_or_default() {
                        at_hand.extend(key_of(&r).map(|k| (k, r)));
                    }
                }
            }
            let at_hand = KeyIndex::new(at_hand);
            let plan = resolve::plan(&list, &paths, &|k: &str| at_hand.contains(k), &base);
            let signal = signal_of(&options);
            let mut fetched: Vec<(String, JsValue)> = Vec::new();
            for batch in &plan.batches {
                let count = batch.ids.len().to_string();
                let params = [
                    ("_id".to_string(), batch.ids.join(",")),
                    ("_count".to_string(), count),
                ];
                let url = search::search_url(&base, &batch.resource_type, &params)?;
                let page = fetch_page(&inner, &url, signal.clone()).await?;
                for r in page.member("resources").map(|r| r.elements()).unwrap_or_default() {
                    fetched.extend(key_of(&r).map(|k| (k, r)));
                }
            }
            let fetched = KeyIndex::new(fetched);
            let mut resolved = 0u32;
            for r in &plan.resolutions {
                let target = match &r.source {
                    Source::Contained(i) => list[r.resource]
                        .member("contained")
                        .map(|c| c.elements())
                        .and_then(|c| c.get(*i).cloned()),
                    Source::AtHand(key) => at_hand.get(key).cloned(),
                    Source::Server(key) => fetched.get(key).cloned(),
                };
                if let Some(target) = target {
                    set(&hidden_object(&list[r.resource], "$refs"), &r.reference, &target);
                    resolved += 1;
                }
            }
            Ok(JsValue::from(resolved))
        })
    }

    /// Any request under the FHIR base with the session's token: `path` is
    /// relative to the base or an absolute URL under it. Resolves to the parsed
    /// JSON body (text when not JSON, `null` when empty).
    #[wasm_bindgen(skip_typescript)]
    pub fn request(&self, path: String, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            let url = search::absolute_url(&inner.session.borrow().server, &path);
            let method = options
                .member("method")
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "GET".into());
            let body = options.member("body").map(|b| {
                b.as_string()
                    .or_else(|| super::js::stringify(&b))
                    .unwrap_or_default()
            });
            let content_type = options
                .member("contentType")
                .and_then(|c| c.as_string())
                .or_else(|| body.as_ref().map(|_| "application/fhir+json".to_string()));
            fhir_json(&inner, &url, &method, body, content_type, signal_of(&options)).await
        })
    }

    /// Refreshes the access token now (shared with any refresh in progress).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn refresh(&self) -> Promise {
        let inner = self.inner.clone();
        spawn(async move { refresh_shared(&inner).await.map(|_| JsValue::UNDEFINED) })
    }

    /// Forgets the session: removes it from storage (tokens stay valid at the
    /// server until they expire or are revoked).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(&self) -> Promise {
        let inner = self.inner.clone();
        spawn(async move {
            if let Some(key) = &inner.storage_key {
                inner.store.remove(key).await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

struct IterState {
    next_url: Option<String>,
    pages_left: u32,
    signal: Option<web_sys::AbortSignal>,
}

/// The pages of a search, one `next()` at a time (an async iterator).
#[wasm_bindgen]
pub struct PageIterator {
    inner: Rc<Inner>,
    state: Rc<RefCell<IterState>>,
}

#[wasm_bindgen]
impl PageIterator {
    /// The next page as `{ done, value }`.
    #[wasm_bindgen(skip_typescript)]
    pub fn next(&self) -> Promise {
        let inner = self.inner.clone();
        let state = self.state.clone();
        spawn(async move {
            let (url, signal) = {
                let mut s = state.borrow_mut();
                if s.pages_left == 0 {
                    s.next_url = None;
                }
                (s.next_url.take(), s.signal.clone())
            };
            let result = object();
            match url {
                None => {
                    set(&result, "done", &JsValue::TRUE);
                    set(&result, "value", &JsValue::UNDEFINED);
                }
                Some(url) => {
                    let page = fetch_page(&inner, &url, signal).await?;
                    let mut s = state.borrow_mut();
                    s.pages_left -= 1;
                    s.next_url = text_at(&page, "next");
                    set(&result, "done", &JsValue::FALSE);
                    set(&result, "value", &page);
                }
            }
            Ok(result.into())
        })
    }
}

/// A client for a token the app already has (no launch): `serverUrl` and
/// `accessToken`, optionally `refreshToken` + `tokenEndpoint` + `clientId`,
/// `expiresIn`, `scope`, `patient`, `encounter`.
pub fn from_token(options: &JsValue) -> Result<Client, SdkError> {
    let get = |k: &str| text_at(options, k);
    let server = get("serverUrl").ok_or_else(|| SdkError::launch("serverUrl is required"))?;
    let body = object();
    set(&body, "access_token", &opt_str(get("accessToken").as_deref()));
    set(&body, "token_type", &JsValue::from_str("Bearer"));
    set(
        &body,
        "expires_in",
        &options.member("expiresIn").unwrap_or(JsValue::UNDEFINED),
    );
    for (from, to) in [
        ("refreshToken", "refresh_token"),
        ("scope", "scope"),
        ("patient", "patient"),
        ("encounter", "encounter"),
    ] {
        set(&body, to, &opt_str(get(from).as_deref()));
    }
    let response = session::token_response(&JsValue::from(body))?;
    let session = Session::new(
        server.trim_end_matches('/'),
        &get("clientId").unwrap_or_default(),
        &get("tokenEndpoint").unwrap_or_default(),
        &response,
        None,
        None,
        now_ms(),
    );
    Ok(Client::new(session, Store::Memory, None))
}

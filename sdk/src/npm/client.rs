//! The `Client` and `PageIterator` classes of the npm package.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;

use futures_core::Stream;
use futures_util::StreamExt;
use js_sys::{Array, Function, Object, Promise};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use super::convert::{abort_of, array, count, error, from_js, hidden, member, pairs, set, text, to_js};
use crate::bundle::{Attachment, Target};
use crate::error::SdkError;
use crate::keys::KeyIndex;
use crate::resolve::Source;
use crate::runtime::{FhirRequest, Limits, SearchPage};
use crate::web::WebClient;

/// A FHIR client after a launch (see `pkg/index.d.ts`).
#[wasm_bindgen(js_name = Client)]
pub struct JsClient {
    inner: WebClient,
}

impl From<WebClient> for JsClient {
    fn from(inner: WebClient) -> JsClient {
        JsClient { inner }
    }
}

fn opt(v: Option<String>) -> JsValue {
    v.map_or(JsValue::UNDEFINED, JsValue::from)
}

/// A page as the app sees it: `{resources, included, outcomes, next, total,
/// bundle}`, the Bundle converted once and the resources taken from it, with
/// `_include`d resources under each match's hidden `$refs` and
/// `_revinclude`d ones under `$revincluded`.
fn page_to_js(page: &SearchPage) -> JsValue {
    let bundle = to_js(page.bundle());
    let entries = array(&member(&bundle, "entry"));
    let resource = |i: &usize| member(&entries.get(*i as u32), "resource");
    let (matches, included, outcomes) = page.entry_positions();
    let resources: Vec<JsValue> = matches.iter().map(resource).collect();
    let includes: Vec<JsValue> = included.iter().map(resource).collect();
    for a in page.attachments() {
        match a {
            Attachment::Reference {
                of,
                reference,
                target,
                ..
            } => {
                let t = match target {
                    Target::Match(i) => &resources[*i],
                    Target::Included(i) => &includes[*i],
                };
                set(
                    &hidden(&resources[*of], "$refs", Object::new().into()),
                    reference,
                    t,
                );
            }
            Attachment::Reverse { of, included } => {
                hidden(&resources[*of], "$revincluded", Array::new().into())
                    .unchecked_into::<Array>()
                    .push(&includes[*included]);
            }
        }
    }
    let out: JsValue = Object::new().into();
    set(&out, "resources", &resources.iter().collect::<Array>());
    set(&out, "included", &includes.iter().collect::<Array>());
    set(
        &out,
        "outcomes",
        &outcomes.iter().map(resource).collect::<Array>(),
    );
    set(
        &out,
        "next",
        &page.next.as_deref().map_or(JsValue::NULL, JsValue::from),
    );
    set(
        &out,
        "total",
        &page.total.map_or(JsValue::UNDEFINED, JsValue::from),
    );
    set(&out, "bundle", &bundle);
    out
}

/// `work` as a Promise; a failure rejects with a `FlareError`. Boxed, so
/// the wasm carries one instantiation of `future_to_promise`, not one per method.
pub(super) fn promise(
    work: impl std::future::Future<Output = Result<JsValue, SdkError>> + 'static,
) -> Promise {
    boxed_promise(Box::pin(work))
}

fn boxed_promise(work: futures_util::future::LocalBoxFuture<'static, Result<JsValue, SdkError>>) -> Promise {
    future_to_promise(async move { work.await.map_err(error) })
}

#[wasm_bindgen(js_class = Client)]
impl JsClient {
    /// The FHIR base URL.
    #[wasm_bindgen(getter, js_name = serverUrl)]
    pub fn server_url(&self) -> String {
        self.inner.server_url()
    }
    /// The patient in context.
    #[wasm_bindgen(getter)]
    pub fn patient(&self) -> JsValue {
        opt(self.inner.patient())
    }
    /// The encounter in context.
    #[wasm_bindgen(getter)]
    pub fn encounter(&self) -> JsValue {
        opt(self.inner.encounter())
    }
    /// `fhirUser` of the verified id_token.
    #[wasm_bindgen(getter, js_name = fhirUser)]
    pub fn fhir_user(&self) -> JsValue {
        opt(self.inner.fhir_user())
    }
    /// The user as `Type/id` on this server.
    #[wasm_bindgen(getter)]
    pub fn user(&self) -> JsValue {
        opt(self.inner.user())
    }
    /// Whether the app must show a patient banner.
    #[wasm_bindgen(getter, js_name = needPatientBanner)]
    pub fn need_patient_banner(&self) -> bool {
        self.inner.need_patient_banner()
    }
    /// The EHR's style URL.
    #[wasm_bindgen(getter, js_name = smartStyleUrl)]
    pub fn smart_style_url(&self) -> JsValue {
        opt(self.inner.smart_style_url())
    }
    /// `fhirContext` of the token response.
    #[wasm_bindgen(getter, js_name = fhirContext)]
    pub fn fhir_context(&self) -> JsValue {
        to_js(&self.inner.fhir_context())
    }
    /// Granted scopes.
    #[wasm_bindgen(getter)]
    pub fn scopes(&self) -> Vec<String> {
        self.inner.scopes()
    }
    /// The current access token.
    #[wasm_bindgen(getter, js_name = accessToken)]
    pub fn access_token(&self) -> String {
        self.inner.access_token()
    }
    /// When the access token expires (epoch ms).
    #[wasm_bindgen(getter, js_name = expiresAt)]
    pub fn expires_at(&self) -> Option<f64> {
        self.inner.expires_at_ms()
    }
    /// Whether the session can refresh.
    #[wasm_bindgen(getter, js_name = canRefresh)]
    pub fn can_refresh(&self) -> bool {
        self.inner.can_refresh()
    }
    /// The token response as sent (SMART's fields and any others).
    #[wasm_bindgen(getter, js_name = tokenResponse)]
    pub fn token_response(&self) -> JsValue {
        to_js(&self.inner.token_response())
    }
    /// The verified id_token's claims.
    #[wasm_bindgen(getter, js_name = idTokenClaims)]
    pub fn id_token_claims(&self) -> JsValue {
        self.inner
            .id_token_claims()
            .as_ref()
            .map_or(JsValue::UNDEFINED, to_js)
    }
    /// The launch `state` this session is kept under (`ready({ state })` restores it).
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        opt(self.inner.state())
    }

    /// The session as one object (fhirclient's `getState()`): server,
    /// client, endpoints, tokens, expiry, scope, context, token response.
    #[wasm_bindgen(js_name = getState)]
    pub fn get_state(&self) -> JsValue {
        let s = self.inner.session();
        let o: JsValue = Object::new().into();
        set(&o, "serverUrl", &s.server.as_str().into());
        set(&o, "clientId", &s.client_id.as_str().into());
        set(&o, "tokenEndpoint", &s.token_endpoint.as_str().into());
        set(&o, "scope", &s.scope.as_str().into());
        set(&o, "accessToken", &s.access_token.as_str().into());
        set(&o, "refreshToken", &opt(s.refresh_token.clone()));
        set(
            &o,
            "expiresAt",
            &s.expires_at_ms.map_or(JsValue::UNDEFINED, JsValue::from),
        );
        set(&o, "patient", &opt(s.patient.clone()));
        set(&o, "encounter", &opt(s.encounter.clone()));
        set(&o, "fhirUser", &opt(s.fhir_user.clone()));
        set(&o, "key", &opt(self.inner.state()));
        set(&o, "tokenResponse", &self.token_response());
        o
    }

    /// `read(type, id, { signal })`.
    pub fn read(&self, resource_type: String, id: JsValue, options: JsValue) -> Promise {
        let c = self.inner.with_abort(&abort_of(&options));
        let id = id.as_string().unwrap_or_default();
        promise(async move { c.read(&resource_type, &id).await.map(|v| to_js(&v)) })
    }

    /// `search(type, params, { signal })`: one page.
    pub fn search(&self, resource_type: String, params: JsValue, options: JsValue) -> Promise {
        let c = self.inner.with_abort(&abort_of(&options));
        let params = pairs(&params);
        promise(async move {
            c.search_pairs(&resource_type, &params)
                .await
                .map(|p| page_to_js(&p))
        })
    }

    /// `nextPage(page | url, { signal })`: the next page, or null.
    #[wasm_bindgen(js_name = nextPage)]
    pub fn next_page(&self, page: JsValue, options: JsValue) -> Promise {
        let c = self.inner.with_abort(&abort_of(&options));
        let next = page.as_string().or_else(|| text(&page, "next"));
        promise(async move {
            match next {
                Some(url) => c.page(url).await.map(|p| page_to_js(&p)),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// `searchAll(type, params, { limit, maxPages, onPage, signal })`.
    #[wasm_bindgen(js_name = searchAll)]
    pub fn search_all(&self, resource_type: String, params: JsValue, options: JsValue) -> Promise {
        let c = self.inner.with_abort(&abort_of(&options));
        let params = pairs(&params);
        let defaults = Limits::default();
        let limits = Limits {
            max_resources: count(&options, "limit").unwrap_or(defaults.max_resources),
            max_pages: count(&options, "maxPages").unwrap_or(defaults.max_pages),
        };
        let on_page = member(&options, "onPage").dyn_into::<Function>().ok();
        promise(async move {
            let all = Array::new();
            let mut callback_error = None;
            c.search_all_pages(&resource_type, &params, limits, |page, room| {
                let js = page_to_js(&page);
                if let Some(f) = &on_page {
                    if let Err(e) = f.call1(&JsValue::UNDEFINED, &js) {
                        callback_error.get_or_insert(e);
                    }
                }
                let resources = array(&member(&js, "resources"));
                let n = (resources.length() as usize).min(room);
                for r in resources.iter().take(n) {
                    all.push(&r);
                }
                n
            })
            .await?;
            match callback_error {
                // The app's own exception from onPage, as it threw it.
                Some(e) => Err(SdkError::launch(crate::web::platform::js_message(&e))),
                None => Ok(all.into()),
            }
        })
    }

    /// `pages(type, params, { maxPages, signal })`: an async iterator of pages.
    pub fn pages(&self, resource_type: String, params: JsValue, options: JsValue) -> PageIterator {
        let c = self.inner.with_abort(&abort_of(&options));
        let max = count(&options, "maxPages").unwrap_or(Limits::default().max_pages);
        let stream = c.pages(&resource_type, &pairs(&params), max);
        PageIterator {
            stream: Rc::new(RefCell::new(Some(Box::pin(stream)))),
        }
    }

    /// `resolveReferences(resources, { paths, page, signal })`: attaches each
    /// resolved reference under the hidden `$refs` of the object it is in (a
    /// resource, or for `encounter.serviceProvider` the resolved Encounter);
    /// the count.
    #[wasm_bindgen(js_name = resolveReferences)]
    pub fn resolve_references(&self, resources: JsValue, options: JsValue) -> Promise {
        let c = self.inner.with_abort(&abort_of(&options));
        let list: Vec<JsValue> = if Array::is_array(&resources) {
            Array::from(&resources).to_vec()
        } else {
            vec![resources]
        };
        let paths: Vec<String> = {
            let p = member(&options, "paths");
            if Array::is_array(&p) {
                Array::from(&p).iter().filter_map(|x| x.as_string()).collect()
            } else {
                Vec::new()
            }
        };
        let page = member(&options, "page");
        let mut hand_js: Vec<JsValue> = Vec::new();
        for k in ["resources", "included"] {
            let a = member(&page, k);
            if Array::is_array(&a) {
                hand_js.extend(Array::from(&a).iter());
            }
        }
        promise(async move {
            let values: Vec<Value> = list.iter().map(|r| from_js(r).unwrap_or(Value::Null)).collect();
            let hand: Vec<Value> = hand_js
                .iter()
                .map(|r| from_js(r).unwrap_or(Value::Null))
                .collect();
            let hand_refs: Vec<&Value> = hand.iter().collect();
            let resolved = c.resolve(&values, &paths, &hand_refs).await?;
            // The app's own objects where the target is at hand or contained.
            let js_list: Vec<&JsValue> = list.iter().chain(&hand_js).collect();
            let by_key = KeyIndex::new(
                values
                    .iter()
                    .chain(&hand)
                    .enumerate()
                    .filter_map(|(i, v)| {
                        Some((
                            format!("{}/{}", v["resourceType"].as_str()?, v["id"].as_str()?),
                            i as u32,
                        ))
                    })
                    .collect(),
            );
            // One JavaScript object per resource fetched, however many reference it.
            let mut fetched: Vec<(String, JsValue)> = Vec::new();
            let n = resolved.len();
            for r in resolved {
                // The object the reference is in: the resource, or a target resolved
                // before it (a path such as `encounter.serviceProvider`).
                let mut holder = list[r.resource].clone();
                for v in &r.via {
                    holder = member(&member(&holder, "$refs"), v);
                }
                if !holder.is_object() {
                    continue;
                }
                let target = match &r.source {
                    Source::Contained(i) => array(&member(&holder, "contained")).get(*i as u32),
                    Source::AtHand(k) => by_key
                        .get(k)
                        .map_or_else(|| to_js(&r.target), |i| js_list[i as usize].clone()),
                    Source::Server(k) => match fetched.iter().find(|(key, _)| key == k) {
                        Some((_, js)) => js.clone(),
                        None => {
                            let js = to_js(&r.target);
                            fetched.push((k.clone(), js.clone()));
                            js
                        }
                    },
                };
                set(
                    &hidden(&holder, "$refs", Object::new().into()),
                    &r.reference,
                    &target,
                );
            }
            Ok(JsValue::from(n as u32))
        })
    }

    /// `request(path, { method, body, contentType, headers, signal })`: the
    /// body of the answer (JSON as objects, other text as a string, or null).
    pub fn request(&self, path: String, options: JsValue) -> Promise {
        let c = self.inner.with_abort(&abort_of(&options));
        let b = member(&options, "body");
        let body = if b.is_null() || b.is_undefined() {
            None
        } else {
            b.as_string()
                .or_else(|| js_sys::JSON::stringify(&b).ok().and_then(|s| s.as_string()))
        };
        let mut headers = Vec::new();
        if let Some(t) = text(&options, "contentType")
            .or_else(|| body.as_ref().map(|_| crate::runtime::client::FHIR_JSON.into()))
        {
            headers.push(("Content-Type".to_string(), t));
        }
        let h = member(&options, "headers");
        if let Some(o) = h.dyn_ref::<Object>() {
            for k in Object::keys(o).iter().filter_map(|k| k.as_string()) {
                if let Some(v) = text(&h, &k) {
                    headers.push((k, v));
                }
            }
        }
        let request = FhirRequest {
            method: text(&options, "method").unwrap_or_else(|| "GET".into()),
            path,
            headers,
            body,
        };
        promise(async move {
            let response = c.request(request).await?;
            Ok(response.body.as_ref().map_or(JsValue::NULL, to_js))
        })
    }

    /// `refresh()`: refreshes now (shared with a refresh already running).
    pub fn refresh(&self) -> Promise {
        let c = self.inner.clone();
        promise(async move { c.refresh().await.map(|()| JsValue::UNDEFINED) })
    }

    /// `forget()`: removes the kept session.
    pub fn forget(&self) -> Promise {
        let c = self.inner.clone();
        promise(async move { c.forget().await.map(|()| JsValue::UNDEFINED) })
    }
}

type PageStream = Pin<Box<dyn Stream<Item = Result<SearchPage, SdkError>>>>;

/// The pages of a search (`client.pages(…)`): an async iterator.
#[wasm_bindgen]
pub struct PageIterator {
    stream: Rc<RefCell<Option<PageStream>>>,
}

#[wasm_bindgen]
impl PageIterator {
    /// The next page as `{ done, value }`.
    pub fn next(&self) -> Promise {
        let slot = self.stream.clone();
        promise(async move {
            let taken = slot.borrow_mut().take();
            let Some(mut stream) = taken else {
                return Err(SdkError::launch(
                    "the previous page is still being fetched: await it first",
                ));
            };
            let item = stream.next().await;
            *slot.borrow_mut() = Some(stream);
            let out: JsValue = Object::new().into();
            match item {
                Some(page) => {
                    set(&out, "done", &JsValue::FALSE);
                    set(&out, "value", &page_to_js(&page?));
                }
                None => {
                    set(&out, "done", &JsValue::TRUE);
                    set(&out, "value", &JsValue::UNDEFINED);
                }
            }
            Ok(out)
        })
    }
}

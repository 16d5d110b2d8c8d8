//! The browser platform: HTTP through gloo-net (`fetch`, aborted through an
//! `AbortController` when the request is aborted or its future dropped),
//! timers through `setTimeout`, randomness, SHA-256 and RS256 through
//! WebCrypto (web-sys).

use std::future::Future;

use futures_util::future::{select, Either};
use gloo_net::http::{Method, RequestBuilder};
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{ErrorKind, SdkError};
use crate::runtime::abort::{aborted_error, AbortHandle};
use crate::runtime::platform::{HttpRequest, HttpResponse, Platform, KEPT_HEADERS};

/// The page's platform (stateless: every call reaches the page's globals).
#[derive(Debug, Default, Clone, Copy)]
pub struct WebPlatform;

/// The message of a JavaScript exception.
pub(crate) fn js_message(e: &JsValue) -> String {
    let name = Reflect::get(e, &"name".into()).ok().and_then(|v| v.as_string());
    let message = Reflect::get(e, &"message".into())
        .ok()
        .and_then(|v| v.as_string());
    match (name, message) {
        (Some(n), Some(m)) => format!("{n} {m}"),
        (None, Some(m)) => m,
        _ => e.as_string().unwrap_or_else(|| "unknown error".into()),
    }
}

fn subtle() -> Result<web_sys::SubtleCrypto, SdkError> {
    web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.subtle())
        .filter(|s| !JsValue::from(s).is_undefined())
        .ok_or_else(|| SdkError::launch("WebCrypto is unavailable (a secure context is required)"))
}

fn set(target: &Object, key: &str, value: impl Into<JsValue>) {
    // Setting a member of a fresh plain object cannot fail.
    let _ = Reflect::set(target, &key.into(), &value.into());
}

/// Aborts the `fetch` in flight when the request's future is dropped
/// before it completes (Rust's cancellation reaches the network).
struct AbortOnDrop(Option<web_sys::AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

async fn fetch_once(request: &HttpRequest, signal: &web_sys::AbortSignal) -> Result<HttpResponse, SdkError> {
    let network = |e: gloo_net::Error| SdkError::new(ErrorKind::Network, format!("{}: {e}", request.url));
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| SdkError::launch(format!("{} is not an HTTP method", request.method)))?;
    let mut builder = RequestBuilder::new(&request.url)
        .method(method)
        .abort_signal(Some(signal));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let built = match &request.body {
        Some(body) => builder.body(body.as_str()),
        None => builder.build(),
    }
    .map_err(network)?;
    let response = built.send().await.map_err(network)?;
    let headers = response.headers();
    let kept = KEPT_HEADERS
        .iter()
        .filter_map(|name| headers.get(name).map(|v| (name.to_string(), v)))
        .collect();
    let body = response.text().await.map_err(network)?;
    Ok(HttpResponse {
        status: response.status(),
        headers: kept,
        body,
    })
}

impl Platform for WebPlatform {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn jitter(&self) -> f64 {
        js_sys::Math::random()
    }

    fn random_bytes(&self) -> Result<[u8; 32], SdkError> {
        let mut bytes = [0u8; 32];
        web_sys::window()
            .and_then(|w| w.crypto().ok())
            .ok_or_else(|| SdkError::launch("WebCrypto is unavailable"))?
            .get_random_values_with_u8_array(&mut bytes)
            .map_err(|e| SdkError::launch(format!("getRandomValues: {}", js_message(&e))))?;
        Ok(bytes)
    }

    fn fetch(
        &self,
        request: &HttpRequest,
        abort: &AbortHandle,
    ) -> impl Future<Output = Result<HttpResponse, SdkError>> {
        let request = request.clone();
        let abort = abort.clone();
        async move {
            let controller = web_sys::AbortController::new()
                .map_err(|e| SdkError::new(ErrorKind::Network, js_message(&e)))?;
            let mut guard = AbortOnDrop(Some(controller.clone()));
            let signal = controller.signal();
            let sending = std::pin::pin!(fetch_once(&request, &signal));
            let result = match select(sending, abort.aborted()).await {
                Either::Left((result, _)) => result,
                Either::Right(((), _)) => Err(aborted_error(&request.url)),
            };
            if result.is_ok() {
                guard.0 = None;
            }
            result
        }
    }

    fn sleep(&self, ms: f64) -> impl Future<Output = ()> {
        let promise = Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms.ceil() as i32);
            }
        });
        async move {
            let _ = JsFuture::from(promise).await;
        }
    }

    fn sha256(&self, data: &[u8]) -> impl Future<Output = Result<Vec<u8>, SdkError>> {
        let digest = subtle().and_then(|s| {
            s.digest_with_str_and_u8_array("SHA-256", data)
                .map_err(|e| SdkError::launch(format!("SHA-256: {}", js_message(&e))))
        });
        async move {
            let buffer = JsFuture::from(digest?)
                .await
                .map_err(|e| SdkError::launch(format!("SHA-256: {}", js_message(&e))))?;
            Ok(Uint8Array::new(&buffer).to_vec())
        }
    }

    fn verify_rs256(
        &self,
        n: &str,
        e: &str,
        signed: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, SdkError>> {
        let (n, e, signed, signature) = (n.to_string(), e.to_string(), signed.to_vec(), signature.to_vec());
        async move {
            let bad = |_| SdkError::new(ErrorKind::IdToken, "JWKS key does not import");
            let subtle = subtle()?;
            let jwk = Object::new();
            set(&jwk, "kty", "RSA");
            set(&jwk, "n", n.as_str());
            set(&jwk, "e", e.as_str());
            let algorithm = Object::new();
            set(&algorithm, "name", "RSASSA-PKCS1-v1_5");
            set(&algorithm, "hash", "SHA-256");
            let usages = Array::of1(&"verify".into());
            let key = subtle
                .import_key_with_object("jwk", &jwk, &algorithm, false, &usages)
                .map_err(bad)?;
            let key: web_sys::CryptoKey = JsFuture::from(key).await.map_err(bad)?.unchecked_into();
            let verified = subtle
                .verify_with_object_and_u8_array_and_u8_array(&algorithm, &key, &signature, &signed)
                .map_err(bad)?;
            Ok(JsFuture::from(verified).await.map_err(bad)?.as_bool() == Some(true))
        }
    }
}

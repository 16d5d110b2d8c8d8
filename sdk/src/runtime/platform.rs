//! What the runtime needs from its host, and nothing more: HTTP, a clock,
//! randomness, timers, SHA-256, RS256 verification and a key-value store.
//! The browser implements it with gloo-net and web-sys (`crate::web`); the
//! native tests implement it with a scripted server, so the protocol code
//! they run is the code the browser runs.

use std::cell::RefCell;
use std::future::Future;

use futures_util::future::LocalBoxFuture;

use crate::error::SdkError;
use crate::runtime::abort::AbortHandle;

/// An HTTP request as the runtime builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` …
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body text, if any.
    pub body: Option<String>,
}

impl HttpRequest {
    /// A `GET` of `url` accepting `accept`.
    pub fn get(url: impl Into<String>, accept: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![("Accept".into(), accept.into())],
            body: None,
        }
    }

    /// A form `POST` to an OAuth endpoint (`application/x-www-form-urlencoded`).
    pub fn form_post(url: impl Into<String>, body: String) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            url: url.into(),
            headers: vec![
                ("Accept".into(), "application/json".into()),
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
            ],
            body: Some(body),
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }
}

/// An HTTP answer, its body read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The response headers the SDK reads or hands to the app (lower-case
    /// names: `retry-after`, `etag`, `location`, `content-location`,
    /// `last-modified`, `content-type`).
    pub headers: Vec<(String, String)>,
    /// The body text (empty when there is none).
    pub body: String,
}

/// The response headers a platform keeps (`HttpResponse::headers`).
pub const KEPT_HEADERS: [&str; 6] = [
    "retry-after",
    "etag",
    "location",
    "content-location",
    "last-modified",
    "content-type",
];

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }

    /// The body as JSON, or `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_str(&self.body).ok()
    }
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The host the runtime runs on. Futures are not `Send`: a browser page (and
/// a wasm module) runs one thread.
#[allow(async_fn_in_trait)]
pub trait Platform: 'static {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> f64;
    /// A random number in [0, 1) for retry jitter.
    fn jitter(&self) -> f64;
    /// 32 random bytes from a cryptographic source (PKCE verifier, `state`, nonce).
    fn random_bytes(&self) -> Result<[u8; 32], SdkError>;
    /// Sends one request (no retries: [`crate::runtime::http::send`] decides
    /// those). An abort of `abort` ends it with an `aborted` error, and a
    /// dropped future cancels the request.
    fn fetch(
        &self,
        request: &HttpRequest,
        abort: &AbortHandle,
    ) -> impl Future<Output = Result<HttpResponse, SdkError>>;
    /// Completes after `ms` milliseconds.
    fn sleep(&self, ms: f64) -> impl Future<Output = ()>;
    /// The SHA-256 digest of `data` (the PKCE challenge).
    fn sha256(&self, data: &[u8]) -> impl Future<Output = Result<Vec<u8>, SdkError>>;
    /// Whether `signature` is a valid RS256 signature of `signed` under the
    /// RSA public key with base64url modulus `n` and exponent `e`.
    fn verify_rs256(
        &self,
        n: &str,
        e: &str,
        signed: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, SdkError>>;
}

/// Where launches and sessions are kept between page loads (sessionStorage
/// in the browser, memory, or the app's own). Errors are
/// `storage_unavailable`.
pub trait Store {
    /// The value under `key`.
    fn get<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, Result<Option<String>, SdkError>>;
    /// Sets `key`.
    fn set<'a>(&'a self, key: &'a str, value: &'a str) -> LocalBoxFuture<'a, Result<(), SdkError>>;
    /// Removes `key`.
    fn remove<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, Result<(), SdkError>>;
}

/// A store that lives as long as the page (or the test). A few records (a
/// launch, a session per server), so a list.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: RefCell<Vec<(String, String)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, Result<Option<String>, SdkError>> {
        let value = self
            .items
            .borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone());
        Box::pin(async move { Ok(value) })
    }
    fn set<'a>(&'a self, key: &'a str, value: &'a str) -> LocalBoxFuture<'a, Result<(), SdkError>> {
        let mut items = self.items.borrow_mut();
        items.retain(|(k, _)| k != key);
        items.push((key.to_string(), value.to_string()));
        Box::pin(async { Ok(()) })
    }
    fn remove<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, Result<(), SdkError>> {
        self.items.borrow_mut().retain(|(k, _)| k != key);
        Box::pin(async { Ok(()) })
    }
}

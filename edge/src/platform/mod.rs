//! What the runtime provides besides storage ([`Platform`]), and its two
//! adapters: [`worker`] (wasm32, the Cloudflare Worker: WebCrypto, D1, KV,
//! R2, Queues and rate-limit bindings) and [`native`] (tests and examples).
//! Nothing above this room touches `worker::` types or the JS runtime.

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(target_arch = "wasm32")]
pub mod worker;

use serde_json::Value as Json;

/// The most bytes of a key set read.
pub const JWKS_MAX_BYTES: usize = 64 * 1024;
/// How long a key set fetch may take (ms).
pub const JWKS_TIMEOUT_MS: u32 = 5000;
/// The shortest lifetime KV accepts for a value (s): `expirationTtl` below it is refused.
pub const KV_MIN_TTL_S: u64 = 60;

/// A fetched JSON document with the response headers that say how long it
/// may be kept (RFC 9111 §4.2): read by [`crate::oauth::jwks_cache`].
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedJson {
    /// The parsed body.
    pub body: Json,
    /// `Cache-Control`, as sent.
    pub cache_control: Option<String>,
    /// `Expires`, as sent.
    pub expires: Option<String>,
    /// `Date`, as sent.
    pub date: Option<String>,
    /// `Age`, as sent (a shared cache on the way says how old its copy is).
    pub age: Option<String>,
}

/// Why a platform service failed. Never the caller's fault: each becomes a
/// 500 with an incident id (`From<PlatformError> for ApiError`), its message
/// going to the operator's log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformError {
    /// Signing, verification or key derivation (WebCrypto, or the native crates).
    Crypto(String),
    /// The signing key is missing or unreadable (`SIGNING_KEY`).
    SigningKey(String),
    /// A fetch (a client's `jwks_uri`): refused, failed, too large, not JSON.
    Fetch(String),
    /// The blob store (R2): a put, list or delete failed, or it is not bound.
    Object(String),
    /// The export queue: a send failed, or it is not bound.
    Queue(String),
    /// The key-value cache (KV): a read or write failed, or it is not bound.
    Kv(String),
}

impl std::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, message) = match self {
            PlatformError::Crypto(m) => ("crypto", m),
            PlatformError::SigningKey(m) => ("signing key", m),
            PlatformError::Fetch(m) => ("fetch", m),
            PlatformError::Object(m) => ("object store", m),
            PlatformError::Queue(m) => ("queue", m),
            PlatformError::Kv(m) => ("key-value cache", m),
        };
        write!(f, "{what}: {message}")
    }
}

impl std::error::Error for PlatformError {}

/// What the runtime provides besides storage: clock, randomness, WebCrypto,
/// outbound fetches, the key-value cache and the rate limiters. The Worker adapter implements it with the JS
/// runtime; the native one with the RustCrypto crates, a movable clock and
/// counting limiters.
#[allow(async_fn_in_trait)] // single-threaded runtimes only: futures need not be Send
pub trait Platform {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// Fills `buf` from a CSPRNG.
    fn random_bytes(&self, buf: &mut [u8]);
    /// PBKDF2-HMAC-SHA256, 32 bytes.
    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Vec<u8>, PlatformError>;
    /// RS256 signature with the server's private key (never leaves WebCrypto).
    async fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, PlatformError>;
    /// The public JWK of the signing key (`kty`, `n`, `e`).
    async fn signing_public_jwk(&self) -> Result<serde_json::Value, PlatformError>;
    /// Verifies a client-assertion signature with a public JWK: `Ok(false)`
    /// for a signature that does not verify, `Err` for a key that cannot be used.
    async fn verify_signature(
        &self,
        alg: Alg,
        jwk: &serde_json::Value,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PlatformError>;
    /// GETs a JSON document (a client's `jwks_uri`, already allowed by
    /// [`crate::oauth::jwks_uri::check`]): no redirect followed, at most
    /// [`JWKS_MAX_BYTES`] read, within
    /// [`JWKS_TIMEOUT_MS`]; with its caching headers. `Err` says why, for the log.
    async fn fetch_json(&self, url: &str) -> Result<FetchedJson, PlatformError>;
    /// Reads a value of the key-value cache (KV: eventually consistent, so
    /// only for what may be briefly stale); `None` when absent or expired.
    async fn kv_get(&self, key: &str) -> Result<Option<String>, PlatformError>;
    /// Writes a value of the key-value cache that expires after `ttl_s`
    /// seconds (at least [`KV_MIN_TTL_S`], as KV requires).
    async fn kv_put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), PlatformError>;
    /// Counts one request against a limiter; `false` once the key is over its limit.
    async fn allow(&self, limiter: Limiter, key: &str) -> bool;
    /// Stores an object in the blob store (R2), replacing one of the same key.
    async fn put_object(&self, key: &str, body: String) -> Result<(), PlatformError>;
    /// Deletes every object whose key starts with `prefix`.
    async fn delete_objects(&self, prefix: &str) -> Result<(), PlatformError>;
    /// Queues one run of an export job (the Worker's queue consumer calls
    /// [`crate::fhir::bulk::run`]).
    async fn enqueue_export(&self, practice: &str, job_id: &str) -> Result<(), PlatformError>;
}

/// The rate limiters (`[[ratelimits]]` in wrangler.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// How many requests a key may make per period in the deployed Worker
    /// (`simple.limit` of the binding in wrangler.toml; the native platform's
    /// default, checked against wrangler.toml by the hygiene tests).
    pub fn deployed_limit(self) -> u32 {
        match self {
            Limiter::Client => 3000,
            Limiter::Ip => 300,
        }
    }

    /// The binding's name in wrangler.toml.
    pub fn binding(self) -> &'static str {
        match self {
            Limiter::Client => "CLIENT_LIMITER",
            Limiter::Ip => "IP_LIMITER",
        }
    }
}

/// The signature algorithms Flare accepts for client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// ECDSA P-384 with SHA-384 (raw `r || s` signature).
    Es384,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs384 => "RS384",
            Alg::Es384 => "ES384",
        }
    }

    /// Whether `jwk` is a key of the kind this algorithm uses (no key confusion).
    pub fn fits(self, jwk: &Json) -> bool {
        let kty = jwk.get("kty").and_then(Json::as_str);
        match self {
            Alg::Rs384 => kty == Some("RSA") && jwk.get("n").is_some() && jwk.get("e").is_some(),
            Alg::Es384 => kty == Some("EC") && jwk.get("crv").and_then(Json::as_str) == Some("P-384"),
        }
    }
}

/// Writes to the operator's log (the Worker's console; stderr natively, where
/// tests can also read it back: [`native::take_log`]).
pub fn log(message: &str) {
    #[cfg(not(target_arch = "wasm32"))]
    native::record_log(message);
    #[cfg(target_arch = "wasm32")]
    web_log(message);
}

#[cfg(target_arch = "wasm32")]
fn web_log(message: &str) {
    use wasm_bindgen::JsValue;
    let console = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("console")).ok();
    if let Some(c) = console {
        if let Ok(f) = js_sys::Reflect::get(&c, &JsValue::from_str("warn")) {
            if let Ok(f) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f) {
                let _ = f.call1(&c, &JsValue::from_str(message));
            }
        }
    }
}

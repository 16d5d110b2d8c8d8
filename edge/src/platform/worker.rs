//! The Worker's adapters: [`Database`] over D1 ([`D1`]) and [`Platform`] over
//! the JS runtime ([`JsPlatform`]: WebCrypto, outbound fetches, the
//! rate-limit bindings, KV, R2 and the export queue). With the thin entry in `crate::worker` (which builds
//! the [`crate::app::App`] from the bindings), the only code that touches
//! `worker::` types.

use wasm_bindgen::{JsCast, JsValue};
use worker::D1Database;

use crate::platform::Alg;
use crate::platform::{FetchedJson, Limiter, Platform, PlatformError, KV_MIN_TTL_S};
use crate::store::{Database, DbError, Row, SqlValue, Statement};

/// D1 behind the [`Database`] trait.
pub struct D1(pub D1Database);

fn bind(db: &D1Database, s: &Statement) -> Result<worker::D1PreparedStatement, DbError> {
    let values: Vec<JsValue> = s
        .params
        .iter()
        .map(|p| match p {
            SqlValue::Null => JsValue::NULL,
            SqlValue::Int(i) => JsValue::from_f64(*i as f64),
            SqlValue::Text(t) => JsValue::from_str(t),
        })
        .collect();
    db.prepare(&s.sql)
        .bind(&values)
        .map_err(|e| DbError(e.to_string()))
}

impl Database for D1 {
    async fn query(&self, stmt: Statement) -> Result<Vec<Row>, DbError> {
        // `raw()` gives each row as an array in select order, as rusqlite
        // does: `store::row` decodes by that position. (`all()` would give
        // objects keyed by column name, which keep one of two joined columns
        // of the same name.) Numbers come back as doubles.
        bind(&self.0, &stmt)?
            .raw::<serde_json::Value>()
            .await
            .map_err(|e| DbError(e.to_string()))
    }

    async fn batch(&self, stmts: Vec<Statement>) -> Result<(), DbError> {
        let prepared = stmts
            .iter()
            .map(|s| bind(&self.0, s))
            .collect::<Result<Vec<_>, _>>()?;
        self.0.batch(prepared).await.map_err(|e| DbError(e.to_string()))?;
        Ok(())
    }

    async fn query_after(&self, writes: Vec<Statement>, read: Statement) -> Result<Vec<Row>, DbError> {
        let prepared = writes
            .iter()
            .chain(std::iter::once(&read))
            .map(|s| bind(&self.0, s))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.0.batch(prepared).await.map_err(|e| DbError(e.to_string()))?;
        let last = results
            .last()
            .ok_or_else(|| DbError("D1 batch answered no result".into()))?;
        // A batch answers rows as objects; the statement's columns have
        // unique names (`store::positional`), kept in select order.
        let rows: Vec<InOrder> = last.results().map_err(|e| DbError(e.to_string()))?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

/// A row answered as an object, read back as its values in key order (JS
/// keeps insertion order for keys that are not integers).
struct InOrder(Vec<serde_json::Value>);

impl<'de> serde::Deserialize<'de> for InOrder {
    fn deserialize<De: serde::Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct Values;
        impl<'de> serde::de::Visitor<'de> for Values {
            type Value = InOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a result row object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<InOrder, A::Error> {
                let mut values = Vec::new();
                while let Some((_, v)) = map.next_entry::<serde::de::IgnoredAny, serde_json::Value>()? {
                    values.push(v);
                }
                Ok(InOrder(values))
            }
        }
        d.deserialize_map(Values)
    }
}

/// Clock, CSPRNG, WebCrypto and the rate-limit bindings of the JS runtime.
pub struct JsPlatform {
    /// `SIGNING_KEY`: base64 of the PKCS#8 DER of the RSA key that signs id_tokens.
    pub signing_key: Option<String>,
    /// The `[[ratelimits]]` bindings, called through JS directly: the
    /// `worker` crate's typed getter checks a constructor name that local
    /// workerd spells differently.
    pub client_limiter: Option<JsValue>,
    /// The per-IP limiter binding.
    pub ip_limiter: Option<JsValue>,
    /// `EXPORTS`: the R2 bucket of Bulk Data output files.
    pub exports: Option<worker::Bucket>,
    /// `EXPORT_QUEUE`: runs of export jobs.
    pub export_queue: Option<worker::Queue>,
    /// `CACHE`: the KV namespace of what may be briefly stale (client key sets).
    pub cache: Option<worker::KvStore>,
}

/// How long the isolate remembers a KV value it wrote (ms): KV may answer an
/// older value (or none) at this location for up to a minute after a write,
/// so the isolate reads its own writes for that long.
const KV_MEMO_MS: i64 = 60_000;
/// The most values the isolate remembers (past it, the memo starts over).
const KV_MEMO_CAPACITY: usize = 1024;

thread_local! {
    /// KV values this isolate wrote, with when the memory lapses (ms):
    /// read-your-writes within the isolate, never longer than KV's own
    /// propagation delay, so a value replaced elsewhere is seen as soon as KV
    /// would show it.
    static KV_MEMO: std::cell::RefCell<std::collections::HashMap<String, (String, i64)>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    /// The imported signing key, per isolate: `(secret it came from, CryptoKey, public JWK)`.
    static SIGNING_KEY: std::cell::RefCell<Option<(String, JsValue, serde_json::Value)>> =
        const { std::cell::RefCell::new(None) };
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(&e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

fn subtle() -> Result<JsValue, String> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(js_err)?;
    js_sys::Reflect::get(&crypto, &JsValue::from_str("subtle")).map_err(js_err)
}

/// Calls `crypto.subtle[method](...args)` and awaits its promise.
async fn subtle_call(method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let subtle = subtle()?;
    let f: js_sys::Function = js_sys::Reflect::get(&subtle, &JsValue::from_str(method))
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| format!("crypto.subtle.{method} is not a function"))?;
    let array = js_sys::Array::new();
    for a in args {
        array.push(a);
    }
    let promise: js_sys::Promise = f
        .apply(&subtle, &array)
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| format!("crypto.subtle.{method} did not return a promise"))?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(js_err)
}

fn js_json(v: &serde_json::Value) -> Result<JsValue, String> {
    js_sys::JSON::parse(&v.to_string()).map_err(js_err)
}

fn bytes(b: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(b).into()
}

fn buffer_bytes(v: &JsValue) -> Vec<u8> {
    js_sys::Uint8Array::new(v).to_vec()
}

/// Reads a `ReadableStream` (or `null`) up to `limit + 1` bytes: more than
/// `limit` bytes back means the stream was longer (the rest is not read, the
/// stream is cancelled).
pub async fn read_capped(stream: &JsValue, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if stream.is_null() || stream.is_undefined() {
        return Ok(out);
    }
    let get_reader: js_sys::Function = js_sys::Reflect::get(stream, &JsValue::from_str("getReader"))
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "getReader is not a function".to_string())?;
    let reader = get_reader.call0(stream).map_err(js_err)?;
    let read: js_sys::Function = js_sys::Reflect::get(&reader, &JsValue::from_str("read"))
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "read is not a function".to_string())?;
    loop {
        let promise: js_sys::Promise = read
            .call0(&reader)
            .map_err(js_err)?
            .dyn_into()
            .map_err(|_| "read did not return a promise".to_string())?;
        let chunk = wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(js_err)?;
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .map(|d| d.as_bool() == Some(true))
            .map_err(js_err)?;
        if done {
            return Ok(out);
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value")).map_err(js_err)?;
        let bytes = js_sys::Uint8Array::new(&value);
        let room = limit + 1 - out.len();
        let take = (bytes.length() as usize).min(room);
        out.extend_from_slice(&bytes.subarray(0, take as u32).to_vec());
        if out.len() > limit {
            if let Ok(cancel) = js_sys::Reflect::get(&reader, &JsValue::from_str("cancel"))
                .and_then(|c| c.dyn_into::<js_sys::Function>())
            {
                if let Ok(p) = cancel
                    .call0(&reader)
                    .and_then(|p| p.dyn_into::<js_sys::Promise>())
                {
                    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
                }
            }
            return Ok(out);
        }
    }
}

/// Cancels a `ReadableStream` (or does nothing for `null`): a body not read.
async fn cancel_stream(stream: &JsValue) {
    if stream.is_null() || stream.is_undefined() {
        return;
    }
    if let Ok(cancel) = js_sys::Reflect::get(stream, &JsValue::from_str("cancel"))
        .and_then(|c| c.dyn_into::<js_sys::Function>())
    {
        if let Ok(p) = cancel.call0(stream).and_then(|p| p.dyn_into::<js_sys::Promise>()) {
            let _ = wasm_bindgen_futures::JsFuture::from(p).await;
        }
    }
}

/// PBKDF2-HMAC-SHA256 (32 bytes) with WebCrypto.
async fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>, String> {
    let base = subtle_call(
        "importKey",
        &[
            JsValue::from_str("raw"),
            bytes(password),
            JsValue::from_str("PBKDF2"),
            JsValue::FALSE,
            js_json(&serde_json::json!(["deriveBits"]))?,
        ],
    )
    .await?;
    let params =
        js_json(&serde_json::json!({"name": "PBKDF2", "hash": "SHA-256", "iterations": iterations}))?;
    js_sys::Reflect::set(&params, &JsValue::from_str("salt"), &bytes(salt)).map_err(js_err)?;
    let bits = subtle_call("deriveBits", &[params, base, JsValue::from_f64(256.0)]).await?;
    Ok(buffer_bytes(&bits))
}

/// Verifies a JOSE signature with WebCrypto (`alg` fits `jwk`: checked by the caller).
async fn verify(alg: Alg, jwk: &serde_json::Value, message: &[u8], signature: &[u8]) -> Result<bool, String> {
    let g = |k: &str| jwk.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let (public, import_alg, verify_alg) = match alg {
        Alg::Rs384 => (
            serde_json::json!({"kty": "RSA", "n": g("n"), "e": g("e")}),
            serde_json::json!({"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-384"}),
            serde_json::json!({"name": "RSASSA-PKCS1-v1_5"}),
        ),
        Alg::Es384 => (
            serde_json::json!({"kty": "EC", "crv": "P-384", "x": g("x"), "y": g("y")}),
            serde_json::json!({"name": "ECDSA", "namedCurve": "P-384"}),
            serde_json::json!({"name": "ECDSA", "hash": "SHA-384"}),
        ),
    };
    let key = subtle_call(
        "importKey",
        &[
            JsValue::from_str("jwk"),
            js_json(&public)?,
            js_json(&import_alg)?,
            JsValue::FALSE,
            js_json(&serde_json::json!(["verify"]))?,
        ],
    )
    .await?;
    let ok = subtle_call(
        "verify",
        &[js_json(&verify_alg)?, key, bytes(signature), bytes(message)],
    )
    .await?;
    Ok(ok.as_bool() == Some(true))
}

/// A response header, if sent.
fn header(resp: &JsValue, name: &str) -> Option<String> {
    let headers = js_sys::Reflect::get(resp, &JsValue::from_str("headers")).ok()?;
    let get: js_sys::Function = js_sys::Reflect::get(&headers, &JsValue::from_str("get"))
        .ok()?
        .dyn_into()
        .ok()?;
    get.call1(&headers, &JsValue::from_str(name)).ok()?.as_string()
}

/// GETs a JSON document: no redirect, capped, within a deadline; with the
/// headers that say how long it may be kept.
async fn fetch_json(url: &str) -> Result<FetchedJson, String> {
    use crate::platform::{JWKS_MAX_BYTES, JWKS_TIMEOUT_MS};
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &JsValue::from_str("fetch"))
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "fetch is not a function".to_string())?;
    // No redirects (a 3xx is an answer, refused below) and a deadline.
    let abort = js_sys::Reflect::get(&global, &JsValue::from_str("AbortSignal")).map_err(js_err)?;
    let timeout: js_sys::Function = js_sys::Reflect::get(&abort, &JsValue::from_str("timeout"))
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "AbortSignal.timeout is not a function".to_string())?;
    let signal = timeout
        .call1(&abort, &JsValue::from_f64(JWKS_TIMEOUT_MS as f64))
        .map_err(js_err)?;
    let init = js_json(&serde_json::json!({
        "method": "GET",
        "redirect": "manual",
        "headers": {"accept": "application/json"},
    }))?;
    js_sys::Reflect::set(&init, &JsValue::from_str("signal"), &signal).map_err(js_err)?;
    let promise: js_sys::Promise = fetch
        .call2(&global, &JsValue::from_str(url), &init)
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "fetch did not return a promise".to_string())?;
    let resp = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(js_err)?;
    let status = js_sys::Reflect::get(&resp, &JsValue::from_str("status"))
        .ok()
        .and_then(|s| s.as_f64())
        .unwrap_or(0.0);
    let body = js_sys::Reflect::get(&resp, &JsValue::from_str("body")).map_err(js_err)?;
    if status != 200.0 {
        cancel_stream(&body).await;
        return Err(format!("{url} answered HTTP {status}"));
    }
    let bytes = read_capped(&body, JWKS_MAX_BYTES).await?;
    if bytes.len() > JWKS_MAX_BYTES {
        return Err(format!("{url}: the key set is over {JWKS_MAX_BYTES} bytes"));
    }
    let body = serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not JSON: {e}"))?;
    Ok(FetchedJson {
        body,
        cache_control: header(&resp, "cache-control"),
        expires: header(&resp, "expires"),
        date: header(&resp, "date"),
        age: header(&resp, "age"),
    })
}

impl JsPlatform {
    /// The `CACHE` KV namespace, if bound.
    fn kv(&self) -> Result<&worker::KvStore, PlatformError> {
        self.cache
            .as_ref()
            .ok_or_else(|| PlatformError::Kv("the CACHE KV namespace is not bound".into()))
    }

    /// The `EXPORTS` bucket, if bound.
    fn bucket(&self) -> Result<&worker::Bucket, PlatformError> {
        self.exports
            .as_ref()
            .ok_or_else(|| PlatformError::Object("the EXPORTS bucket is not bound".into()))
    }

    /// The imported signing key and its public JWK (imported once per isolate).
    async fn signing_key(&self) -> Result<(JsValue, serde_json::Value), PlatformError> {
        let secret = self.signing_key.clone().ok_or_else(|| {
            PlatformError::SigningKey("the SIGNING_KEY secret is not set (see README: Deploy)".into())
        })?;
        let cached = SIGNING_KEY.with(|k| {
            k.borrow()
                .as_ref()
                .filter(|(s, _, _)| *s == secret)
                .map(|(_, key, jwk)| (key.clone(), jwk.clone()))
        });
        if let Some(c) = cached {
            return Ok(c);
        }
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|e| PlatformError::SigningKey(format!("SIGNING_KEY is not base64: {e}")))?;
        let key_err = |e: String| PlatformError::SigningKey(format!("SIGNING_KEY: {e}"));
        let algorithm =
            js_json(&serde_json::json!({"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"})).map_err(key_err)?;
        let usages = js_json(&serde_json::json!(["sign"])).map_err(key_err)?;
        let key = subtle_call(
            "importKey",
            &[
                JsValue::from_str("pkcs8"),
                bytes(&der),
                algorithm,
                JsValue::TRUE,
                usages,
            ],
        )
        .await
        .map_err(key_err)?;
        let exported = subtle_call("exportKey", &[JsValue::from_str("jwk"), key.clone()])
            .await
            .map_err(key_err)?;
        let text = js_sys::JSON::stringify(&exported).map_err(|e| key_err(js_err(e)))?;
        let full: serde_json::Value =
            serde_json::from_str(&String::from(text)).map_err(|e| key_err(format!("exported JWK: {e}")))?;
        // Only the public members ever leave this function.
        let public = serde_json::json!({"kty": "RSA", "n": full.get("n"), "e": full.get("e")});
        SIGNING_KEY.with(|k| *k.borrow_mut() = Some((secret, key.clone(), public.clone())));
        Ok((key, public))
    }
}

impl Platform for JsPlatform {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        let array = js_sys::Uint8Array::new_with_length(buf.len() as u32);
        let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok();
        let get = crypto
            .as_ref()
            .and_then(|c| js_sys::Reflect::get(c, &JsValue::from_str("getRandomValues")).ok())
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let (Some(c), Some(f)) = (crypto, get) {
            // getRandomValues only fails for buffers over 64 KiB; ours are tokens.
            let _ = f.call1(&c, &array);
        }
        array.copy_to(buf);
    }

    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Vec<u8>, PlatformError> {
        pbkdf2(password, salt, iterations)
            .await
            .map_err(|e| PlatformError::Crypto(format!("PBKDF2: {e}")))
    }

    async fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, PlatformError> {
        let (key, _) = self.signing_key().await?;
        let sig = subtle_call(
            "sign",
            &[JsValue::from_str("RSASSA-PKCS1-v1_5"), key, bytes(message)],
        )
        .await
        .map_err(|e| PlatformError::Crypto(format!("RS256 signing: {e}")))?;
        Ok(buffer_bytes(&sig))
    }

    async fn signing_public_jwk(&self) -> Result<serde_json::Value, PlatformError> {
        Ok(self.signing_key().await?.1)
    }

    async fn verify_signature(
        &self,
        alg: Alg,
        jwk: &serde_json::Value,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PlatformError> {
        verify(alg, jwk, message, signature)
            .await
            .map_err(|e| PlatformError::Crypto(format!("{} verification: {e}", alg.name())))
    }

    async fn fetch_json(&self, url: &str) -> Result<FetchedJson, PlatformError> {
        fetch_json(url).await.map_err(PlatformError::Fetch)
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        let now = self.now_ms();
        let remembered = KV_MEMO.with(|m| {
            let mut m = m.borrow_mut();
            match m.get(key) {
                Some((value, until)) if *until > now => Some(value.clone()),
                Some(_) => {
                    m.remove(key);
                    None
                }
                None => None,
            }
        });
        if remembered.is_some() {
            return Ok(remembered);
        }
        let kv = self.kv()?;
        kv.get(key)
            .text()
            .await
            .map_err(|e| PlatformError::Kv(format!("get {key}: {e}")))
    }

    async fn kv_put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), PlatformError> {
        let until = self.now_ms() + KV_MEMO_MS.min(ttl_s as i64 * 1000);
        KV_MEMO.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= KV_MEMO_CAPACITY && !m.contains_key(key) {
                m.clear();
            }
            m.insert(key.to_string(), (value.to_string(), until));
        });
        let kv = self.kv()?;
        kv.put(key, value)
            .map_err(|e| PlatformError::Kv(format!("put {key}: {e}")))?
            .expiration_ttl(ttl_s.max(KV_MIN_TTL_S))
            .execute()
            .await
            .map_err(|e| PlatformError::Kv(format!("put {key}: {e}")))
    }

    async fn allow(&self, limiter: Limiter, key: &str) -> bool {
        let binding = match limiter {
            Limiter::Client => &self.client_limiter,
            Limiter::Ip => &self.ip_limiter,
        };
        let Some(binding) = binding else {
            return true;
        };
        // A limiter that fails open: throttling protects capacity, not data.
        let outcome = async {
            let f: js_sys::Function = js_sys::Reflect::get(binding, &JsValue::from_str("limit"))
                .map_err(js_err)?
                .dyn_into()
                .map_err(|_| "limit is not a function".to_string())?;
            let arg = js_json(&serde_json::json!({ "key": key }))?;
            let promise: js_sys::Promise = f
                .call1(binding, &arg)
                .map_err(js_err)?
                .dyn_into()
                .map_err(|_| "limit did not return a promise".to_string())?;
            let result = wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(js_err)?;
            js_sys::Reflect::get(&result, &JsValue::from_str("success"))
                .map(|v| v.as_bool() != Some(false))
                .map_err(js_err)
        };
        outcome.await.unwrap_or(true)
    }

    async fn put_object(&self, key: &str, body: String) -> Result<(), PlatformError> {
        let bucket = self.bucket()?;
        bucket
            .put(key, body.into_bytes())
            .execute()
            .await
            .map(|_| ())
            .map_err(|e| PlatformError::Object(format!("put {key}: {e}")))
    }

    async fn delete_objects(&self, prefix: &str) -> Result<(), PlatformError> {
        let bucket = self.bucket()?;
        loop {
            let list = bucket
                .list()
                .prefix(prefix)
                .execute()
                .await
                .map_err(|e| PlatformError::Object(format!("list {prefix}: {e}")))?;
            let keys: Vec<String> = list.objects().iter().map(|o| o.key()).collect();
            if keys.is_empty() {
                return Ok(());
            }
            for k in keys {
                bucket
                    .delete(&k)
                    .await
                    .map_err(|e| PlatformError::Object(format!("delete {k}: {e}")))?;
            }
            if !list.truncated() {
                return Ok(());
            }
        }
    }

    async fn enqueue_export(&self, practice: &str, job_id: &str) -> Result<(), PlatformError> {
        let queue = self
            .export_queue
            .as_ref()
            .ok_or_else(|| PlatformError::Queue("the EXPORT_QUEUE queue is not bound".into()))?;
        // Sent as JSON text: a plain string survives every serializer.
        queue
            .send(serde_json::json!({"practice": practice, "job": job_id}).to_string())
            .await
            .map_err(|e| PlatformError::Queue(e.to_string()))
    }
}

//! The native [`Platform`] (tests, examples): the Worker's behaviour with
//! the RustCrypto crates in place of WebCrypto and deterministic where tests
//! need it. Real RS256 signing (a fixed test key,
//! `native-signing-key.pem`), RS384 and ES384 verification and
//! PBKDF2-HMAC-SHA256; counting rate limiters with the deployed limits
//! (tests may lower them); a settable clock; counter-based "random" bytes
//! (SHA-256 of a counter); no network, but documents a test serves by URL
//! ([`NativePlatform::serve`], with their response headers, each fetch
//! counted); an in-memory key-value cache whose values expire by the clock
//! (and refuses lifetimes under KV's minimum); an in-memory blob store and
//! export queue; and the operator's log kept per thread for tests to read
//! ([`take_log`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use rsa::pkcs1v15;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::platform::{Alg, FetchedJson, Limiter, Platform, PlatformError, KV_MIN_TTL_S};

/// The native platform's RSA signing key (2048 bit, PKCS#8): a test key,
/// public in this repository, never a deployment's `SIGNING_KEY`.
const SIGNING_KEY_PEM: &str = include_str!("native-signing-key.pem");

/// PBKDF2 outputs already derived in this process, by `(password, salt,
/// iterations)`. PBKDF2 is deliberately slow, and slower still in a debug
/// build (its generic HMAC code is compiled unoptimized into this crate),
/// while the suites sign the same test users in with the same password and
/// deterministic salts hundreds of times: a pure function's memo keeps
/// every answer real and the suites fast.
static PBKDF2_MEMO: LazyLock<Mutex<HashMap<Pbkdf2Input, Vec<u8>>>> = LazyLock::new(Mutex::default);

/// `(password, salt, iterations)`.
type Pbkdf2Input = (Vec<u8>, Vec<u8>, u32);

/// The most outputs [`PBKDF2_MEMO`] keeps (it is emptied when full).
const PBKDF2_MEMO_MAX: usize = 4096;

/// How many log lines a thread keeps for [`take_log`] (the oldest go first).
const LOG_KEPT: usize = 10_000;

thread_local! {
    /// The operator's log of this thread (a test runs on one thread).
    static LOG: RefCell<VecDeque<String>> = const { RefCell::new(VecDeque::new()) };
}

/// Writes a log line to stderr and keeps it for [`take_log`].
pub(crate) fn record_log(message: &str) {
    eprintln!("{message}");
    LOG.with(|log| {
        let mut log = log.borrow_mut();
        if log.len() >= LOG_KEPT {
            log.pop_front();
        }
        log.push_back(message.to_string());
    });
}

/// Takes the log lines this thread wrote ([`crate::platform::log`]), oldest first.
pub fn take_log() -> Vec<String> {
    LOG.with(|log| log.borrow_mut().drain(..).collect())
}

/// The server's signing key; its `Debug` shows only the key's size.
struct SigningKey(RsaPrivateKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} bit RSA)", self.0.size() * 8)
    }
}

/// Past this many (limiter, key) counters, those of earlier windows are dropped.
const WINDOWS_KEPT: usize = 10_000;

/// A limiter's count in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// `now_s / period`: counts reset when it changes (fixed windows).
    index: i64,
    count: u32,
}

/// The native platform.
#[derive(Debug)]
pub struct NativePlatform {
    /// The clock (ms since the epoch); tests move it.
    pub now: Cell<i64>,
    counter: Cell<u64>,
    signing_key: Result<SigningKey, String>,
    limits: RefCell<HashMap<Limiter, u32>>,
    windows: RefCell<HashMap<(Limiter, String), Window>>,
    objects: RefCell<BTreeMap<String, String>>,
    queue: RefCell<Vec<(String, String)>>,
    served: RefCell<HashMap<String, Served>>,
    fetches: RefCell<HashMap<String, usize>>,
    kv: RefCell<HashMap<String, (String, i64)>>,
}

/// A document [`NativePlatform::serve`] answers for a URL.
#[derive(Debug, Clone)]
struct Served {
    /// The body (`None`: the server answers 503, as one that is down).
    body: Option<Value>,
    /// Response headers, names in lower case.
    headers: Vec<(String, String)>,
}

impl NativePlatform {
    /// A platform whose clock reads `now_ms`, with the test signing key and
    /// the deployed rate limits.
    pub fn at(now_ms: i64) -> NativePlatform {
        let signing_key = RsaPrivateKey::from_pkcs8_pem(SIGNING_KEY_PEM)
            .map(SigningKey)
            .map_err(|e| format!("the native signing key does not parse: {e}"));
        NativePlatform {
            now: Cell::new(now_ms),
            counter: Cell::new(0),
            signing_key,
            limits: RefCell::default(),
            windows: RefCell::default(),
            objects: RefCell::default(),
            queue: RefCell::default(),
            served: RefCell::default(),
            fetches: RefCell::default(),
            kv: RefCell::default(),
        }
    }

    /// Serves `body` at `url` with response `headers` (`Cache-Control`,
    /// `Expires`, `Date`, `Age`), replacing what was served there.
    pub fn serve(&self, url: &str, body: Value, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        self.served.borrow_mut().insert(
            url.to_string(),
            Served {
                body: Some(body),
                headers,
            },
        );
    }

    /// Makes `url` answer 503 from now on (a key server that is down).
    pub fn serve_unavailable(&self, url: &str) {
        self.served.borrow_mut().insert(
            url.to_string(),
            Served {
                body: None,
                headers: Vec::new(),
            },
        );
    }

    /// How many times `url` was fetched ([`Platform::fetch_json`]), answered or not.
    pub fn fetches(&self, url: &str) -> usize {
        self.fetches.borrow().get(url).copied().unwrap_or(0)
    }

    /// The keys of the key-value cache that have not expired by the clock.
    pub fn kv_keys(&self) -> Vec<String> {
        let now = self.now.get();
        let mut keys: Vec<String> = self
            .kv
            .borrow()
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// The same platform without a signing key (like a Worker whose
    /// `SIGNING_KEY` is not set): signing fails.
    pub fn without_signing_key(mut self) -> NativePlatform {
        self.signing_key = Err("no signing key (NativePlatform::without_signing_key)".into());
        self
    }

    /// Sets how many requests a key may make per period of `limiter`
    /// (default [`Limiter::deployed_limit`]).
    pub fn set_limit(&self, limiter: Limiter, limit: u32) {
        self.limits.borrow_mut().insert(limiter, limit);
    }

    /// Takes the queued export runs `(practice, job)`, oldest first.
    pub fn take_queue(&self) -> Vec<(String, String)> {
        self.queue.borrow_mut().drain(..).collect()
    }

    /// How many export runs are queued.
    pub fn queue_len(&self) -> usize {
        self.queue.borrow().len()
    }

    /// An object of the blob store.
    pub fn object(&self, key: &str) -> Option<String> {
        self.objects.borrow().get(key).cloned()
    }

    /// The keys of the objects under `prefix`.
    pub fn objects_under(&self, prefix: &str) -> Vec<String> {
        self.objects
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn key(&self) -> Result<&RsaPrivateKey, PlatformError> {
        self.signing_key
            .as_ref()
            .map(|k| &k.0)
            .map_err(|e| PlatformError::SigningKey(e.clone()))
    }
}

/// base64url without padding, as JOSE writes it.
fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A base64url JWK member as an unsigned big-endian integer.
fn member(jwk: &Value, name: &str) -> Result<Vec<u8>, PlatformError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        .ok_or_else(|| PlatformError::Crypto(format!("the JWK's {name} is not base64url")))
}

fn verify_rs384(jwk: &Value, message: &[u8], signature: &[u8]) -> Result<bool, PlatformError> {
    let n = BigUint::from_bytes_be(&member(jwk, "n")?);
    let e = BigUint::from_bytes_be(&member(jwk, "e")?);
    let key = RsaPublicKey::new(n, e).map_err(|e| PlatformError::Crypto(format!("RSA key: {e}")))?;
    let Ok(signature) = pkcs1v15::Signature::try_from(signature) else {
        return Ok(false);
    };
    Ok(pkcs1v15::VerifyingKey::<Sha384>::new(key)
        .verify(message, &signature)
        .is_ok())
}

fn verify_es384(jwk: &Value, message: &[u8], signature: &[u8]) -> Result<bool, PlatformError> {
    use p384::ecdsa::{Signature, VerifyingKey};
    let (x, y) = (member(jwk, "x")?, member(jwk, "y")?);
    if x.len() != 48 || y.len() != 48 {
        return Err(PlatformError::Crypto("a P-384 coordinate has 48 bytes".into()));
    }
    // The uncompressed SEC1 point: 0x04 || x || y.
    let point = [&[0x04][..], &x, &y].concat();
    let key = VerifyingKey::from_sec1_bytes(&point)
        .map_err(|e| PlatformError::Crypto(format!("P-384 key: {e}")))?;
    // JOSE's raw `r || s` (96 bytes), as WebCrypto takes it.
    let Ok(signature) = Signature::from_slice(signature) else {
        return Ok(false);
    };
    Ok(key.verify(message, &signature).is_ok())
}

impl Platform for NativePlatform {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
    fn random_bytes(&self, buf: &mut [u8]) {
        // SHA-256 of a counter: deterministic, and no value repeats (a plain
        // byte counter repeats every 256 bytes, so tokens could collide).
        for chunk in buf.chunks_mut(32) {
            self.counter.set(self.counter.get() + 1);
            let block = Sha256::digest(self.counter.get().to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Vec<u8>, PlatformError> {
        if iterations == 0 {
            // WebCrypto refuses it too.
            return Err(PlatformError::Crypto(
                "PBKDF2 needs at least one iteration".into(),
            ));
        }
        let key = (password.to_vec(), salt.to_vec(), iterations);
        let known = PBKDF2_MEMO.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(out) = known {
            return Ok(out);
        }
        let mut out = vec![0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
        if let Ok(mut memo) = PBKDF2_MEMO.lock() {
            if memo.len() >= PBKDF2_MEMO_MAX {
                memo.clear();
            }
            memo.insert(key, out.clone());
        }
        Ok(out)
    }
    async fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, PlatformError> {
        let signer = pkcs1v15::SigningKey::<Sha256>::new(self.key()?.clone());
        signer
            .try_sign(message)
            .map(|s| s.to_vec())
            .map_err(|e| PlatformError::Crypto(format!("RS256 signing: {e}")))
    }
    async fn signing_public_jwk(&self) -> Result<Value, PlatformError> {
        let key = self.key()?;
        Ok(json!({
            "kty": "RSA",
            "n": b64url(&key.n().to_bytes_be()),
            "e": b64url(&key.e().to_bytes_be()),
        }))
    }
    async fn verify_signature(
        &self,
        alg: Alg,
        jwk: &Value,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PlatformError> {
        match alg {
            Alg::Rs384 => verify_rs384(jwk, message, signature),
            Alg::Es384 => verify_es384(jwk, message, signature),
        }
    }
    async fn fetch_json(&self, url: &str) -> Result<FetchedJson, PlatformError> {
        *self.fetches.borrow_mut().entry(url.to_string()).or_default() += 1;
        let served = self.served.borrow().get(url).cloned();
        let Some(served) = served else {
            return Err(PlatformError::Fetch(format!("no network natively ({url})")));
        };
        let Some(body) = served.body else {
            return Err(PlatformError::Fetch(format!("{url} answered HTTP 503")));
        };
        let header = |name: &str| {
            served
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        Ok(FetchedJson {
            body,
            cache_control: header("cache-control"),
            expires: header("expires"),
            date: header("date"),
            age: header("age"),
        })
    }
    async fn kv_get(&self, key: &str) -> Result<Option<String>, PlatformError> {
        let now = self.now.get();
        let mut kv = self.kv.borrow_mut();
        match kv.get(key) {
            Some((value, until)) if *until > now => Ok(Some(value.clone())),
            Some(_) => {
                kv.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }
    async fn kv_put(&self, key: &str, value: &str, ttl_s: u64) -> Result<(), PlatformError> {
        if ttl_s < KV_MIN_TTL_S {
            // KV refuses it too: native tests catch a lifetime the Worker would refuse.
            return Err(PlatformError::Kv(format!(
                "expirationTtl {ttl_s} is under KV's minimum of {KV_MIN_TTL_S} s"
            )));
        }
        let until = self.now.get().saturating_add((ttl_s as i64).saturating_mul(1000));
        self.kv
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), until));
        Ok(())
    }
    async fn allow(&self, limiter: Limiter, key: &str) -> bool {
        let limit = self
            .limits
            .borrow()
            .get(&limiter)
            .copied()
            .unwrap_or_else(|| limiter.deployed_limit());
        let index = (self.now.get() / 1000).div_euclid(limiter.period_s());
        let mut windows = self.windows.borrow_mut();
        if windows.len() >= WINDOWS_KEPT {
            windows.retain(|(l, _), w| *l != limiter || w.index == index);
        }
        let window = windows
            .entry((limiter, key.to_string()))
            .or_insert(Window { index, count: 0 });
        if window.index != index {
            *window = Window { index, count: 0 };
        }
        window.count = window.count.saturating_add(1);
        window.count <= limit
    }
    async fn put_object(&self, key: &str, body: String) -> Result<(), PlatformError> {
        self.objects.borrow_mut().insert(key.to_string(), body);
        Ok(())
    }
    async fn delete_objects(&self, prefix: &str) -> Result<(), PlatformError> {
        self.objects.borrow_mut().retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
    async fn enqueue_export(&self, practice: &str, job_id: &str) -> Result<(), PlatformError> {
        self.queue
            .borrow_mut()
            .push((practice.to_string(), job_id.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn pbkdf2_matches_the_published_vectors() {
        let p = NativePlatform::at(0);
        let run = |pw: &[u8], salt: &[u8], c| pollster::block_on(p.pbkdf2_sha256(pw, salt, c)).unwrap();
        // RFC 7914 §11 (first 32 bytes) and the widely published SHA-256 vectors.
        assert_eq!(
            hex(&run(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex(&run(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        // A second call (from the memo) answers the same.
        assert_eq!(
            hex(&run(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        assert!(pollster::block_on(p.pbkdf2_sha256(b"pw", b"salt", 0)).is_err());
    }

    #[test]
    fn limiters_count_per_key_within_the_period() {
        let p = NativePlatform::at(59_000);
        p.set_limit(Limiter::Ip, 2);
        let allow = |l, k| pollster::block_on(p.allow(l, k));
        assert!(allow(Limiter::Ip, "a") && allow(Limiter::Ip, "a"));
        assert!(!allow(Limiter::Ip, "a"), "the third in the period");
        assert!(allow(Limiter::Ip, "b"), "per key");
        assert!(allow(Limiter::Client, "a"), "per limiter");
        p.now.set(60_000);
        assert!(allow(Limiter::Ip, "a"), "a new period");
    }

    #[test]
    fn signatures_are_real() {
        let p = NativePlatform::at(0);
        let sig = pollster::block_on(p.sign_rs256(b"message")).unwrap();
        let jwk = pollster::block_on(p.signing_public_jwk()).unwrap();
        assert_eq!(sig.len(), 256, "RSA-2048");
        assert!(jwk.get("d").is_none());
        let n = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap());
        let e = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap());
        let key = pkcs1v15::VerifyingKey::<Sha256>::new(RsaPublicKey::new(n, e).unwrap());
        let s = pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
        assert!(key.verify(b"message", &s).is_ok());
        assert!(key.verify(b"massage", &s).is_err());
        // RS384 verification refuses another key's signature and garbage.
        let jwk384 = json!({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]});
        let signer = pkcs1v15::SigningKey::<Sha384>::new(p.key().unwrap().clone());
        let good = signer.sign(b"m").to_vec();
        let verify =
            |alg, jwk: &Value, sig: &[u8]| pollster::block_on(p.verify_signature(alg, jwk, b"m", sig));
        assert_eq!(verify(Alg::Rs384, &jwk384, &good), Ok(true));
        assert_eq!(verify(Alg::Rs384, &jwk384, &sig), Ok(false));
        assert_eq!(verify(Alg::Rs384, &jwk384, b"short"), Ok(false));
        assert!(verify(Alg::Es384, &json!({"kty": "EC", "x": "AAAA", "y": "AAAA"}), &good).is_err());
        // Without a key, signing is a typed error.
        let keyless = NativePlatform::at(0).without_signing_key();
        assert!(matches!(
            pollster::block_on(keyless.sign_rs256(b"m")),
            Err(PlatformError::SigningKey(_))
        ));
    }
}

//! A deterministic [`Platform`] for native runs (tests, examples): a settable
//! clock, counter-based "random" bytes, a fast stand-in KDF, no signing key,
//! no network, no throttling. The real primitives are WebCrypto's and are
//! exercised end to end under `wrangler dev`.

use std::cell::Cell;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::oauth::jws::Alg;
use crate::app::{Limiter, Platform};

/// The native test double of the runtime.
#[derive(Debug)]
pub struct NativePlatform {
    /// The clock (ms since the epoch); tests move it.
    pub now: Cell<i64>,
    counter: Cell<u8>,
}

impl NativePlatform {
    /// A platform whose clock reads `now_ms`.
    pub fn at(now_ms: i64) -> NativePlatform {
        NativePlatform {
            now: Cell::new(now_ms),
            counter: Cell::new(0),
        }
    }
}

impl Platform for NativePlatform {
    fn now_ms(&self) -> i64 {
        self.now.get()
    }
    fn random_bytes(&self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            self.counter.set(self.counter.get().wrapping_add(1));
            *b = self.counter.get();
        }
    }
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>, String> {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(password);
        h.update(iterations.to_be_bytes());
        Ok(h.finalize().to_vec())
    }
    async fn sign_rs256(&self, _message: &[u8]) -> Result<Vec<u8>, String> {
        Err("no signing key natively (id_tokens are tested end to end)".into())
    }
    async fn signing_public_jwk(&self) -> Result<Value, String> {
        Err("no signing key natively".into())
    }
    async fn verify_signature(&self, _: Alg, _: &Value, _: &[u8], _: &[u8]) -> Result<bool, String> {
        Ok(false)
    }
    async fn fetch_json(&self, url: &str) -> Result<Value, String> {
        Err(format!("no network natively ({url})"))
    }
    async fn allow(&self, _: Limiter, _: &str) -> bool {
        true
    }
}

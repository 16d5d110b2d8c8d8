//! A deterministic [`Platform`] for native runs (tests, examples): a settable
//! clock, counter-based "random" bytes (SHA-256 of a counter), a fast stand-in KDF, no signing key,
//! no network, no throttling, an in-memory blob store and export queue. The real primitives are WebCrypto's and are
//! exercised end to end under `wrangler dev`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::platform::Alg;
use crate::platform::{Limiter, Platform};

/// The native test double of the runtime.
#[derive(Debug)]
pub struct NativePlatform {
    /// The clock (ms since the epoch); tests move it.
    pub now: Cell<i64>,
    counter: Cell<u64>,
    objects: RefCell<BTreeMap<String, String>>,
    queue: RefCell<Vec<(String, String)>>,
}

impl NativePlatform {
    /// A platform whose clock reads `now_ms`.
    pub fn at(now_ms: i64) -> NativePlatform {
        NativePlatform {
            now: Cell::new(now_ms),
            counter: Cell::new(0),
            objects: RefCell::default(),
            queue: RefCell::default(),
        }
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
    async fn put_object(&self, key: &str, body: String) -> Result<(), String> {
        self.objects.borrow_mut().insert(key.to_string(), body);
        Ok(())
    }
    async fn delete_objects(&self, prefix: &str) -> Result<(), String> {
        self.objects.borrow_mut().retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
    async fn enqueue_export(&self, practice: &str, job_id: &str) -> Result<(), String> {
        self.queue
            .borrow_mut()
            .push((practice.to_string(), job_id.to_string()));
        Ok(())
    }
}

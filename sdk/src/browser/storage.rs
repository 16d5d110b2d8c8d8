//! Where launches and sessions are kept: `sessionStorage` (default), memory
//! (this document only), or the app's own store (`getItem`/`setItem`/
//! `removeItem`, synchronous or returning promises).

use std::cell::RefCell;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js::{from_js_exception, window};
use crate::error::{ErrorKind, SdkError};
use crate::json::Json;

thread_local! {
    static MEMORY: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// The key written and removed to probe that storage works.
const PROBE_KEY: &str = "flare-smart:probe";

/// A key-value store for launch records and sessions.
#[derive(Clone)]
pub enum Store {
    /// `window.sessionStorage`: per tab, survives the redirect.
    Session(web_sys::Storage),
    /// A map in this document: survives nothing but the popup hand-over.
    Memory,
    /// The app's store object.
    Custom(JsValue),
}

/// The error for unusable `sessionStorage`, with the fallbacks.
pub fn unavailable(detail: &str) -> SdkError {
    SdkError::new(
        ErrorKind::StorageUnavailable,
        format!(
            "sessionStorage is unavailable ({detail}), as in an EHR iframe that blocks third-party \
             storage. Launch with target \"popup\" (completes without storage) or \"_top\", or pass \
             your own `storage`"
        ),
    )
}

impl Store {
    /// The store an options object asks for: `storage` absent or `"session"`,
    /// `"memory"`, or an object. `sessionStorage` is probed with a write, so a
    /// blocked one fails here, at once, instead of losing the launch later.
    pub fn from_options(options: &JsValue) -> Result<Store, SdkError> {
        match options.member("storage") {
            None => Store::session(),
            Some(v) if v.as_string().as_deref() == Some("session") => Store::session(),
            Some(v) if v.as_string().as_deref() == Some("memory") => Ok(Store::Memory),
            Some(v) if v.is_object() => Ok(Store::Custom(v)),
            Some(_) => Err(SdkError::launch(
                "storage must be \"session\", \"memory\" or an object",
            )),
        }
    }

    fn session() -> Result<Store, SdkError> {
        let storage = window()?
            .session_storage()
            .map_err(|e| unavailable(&from_js_exception(&e, "access").message))?
            .ok_or_else(|| unavailable("no sessionStorage"))?;
        storage
            .set_item(PROBE_KEY, "1")
            .and_then(|_| storage.remove_item(PROBE_KEY))
            .map_err(|e| unavailable(&from_js_exception(&e, "write").message))?;
        Ok(Store::Session(storage))
    }

    /// Whether this is the in-document store.
    pub fn is_memory(&self) -> bool {
        matches!(self, Store::Memory)
    }

    async fn call(target: &JsValue, method: &str, args: &[&str]) -> Result<JsValue, SdkError> {
        let f: Function = Reflect::get(target, &JsValue::from_str(method))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| SdkError::launch(format!("storage has no {method}()")))?;
        let result = match args {
            [a] => f.call1(target, &JsValue::from_str(a)),
            [a, b] => f.call2(target, &JsValue::from_str(a), &JsValue::from_str(b)),
            _ => f.call0(target),
        }
        .map_err(|e| from_js_exception(&e, method))?;
        if result.is_instance_of::<Promise>() {
            JsFuture::from(result.unchecked_into::<Promise>())
                .await
                .map_err(|e| from_js_exception(&e, method))
        } else {
            Ok(result)
        }
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, SdkError> {
        match self {
            Store::Session(s) => s
                .get_item(key)
                .map_err(|e| unavailable(&from_js_exception(&e, "read").message)),
            Store::Memory => {
                Ok(MEMORY.with(|m| m.borrow().iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())))
            }
            Store::Custom(o) => Ok(Store::call(o, "getItem", &[key]).await?.as_string()),
        }
    }

    /// Stores `value` under `key`.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), SdkError> {
        match self {
            Store::Session(s) => s
                .set_item(key, value)
                .map_err(|e| unavailable(&from_js_exception(&e, "write").message)),
            Store::Memory => {
                MEMORY.with(|m| {
                    let mut m = m.borrow_mut();
                    m.retain(|(k, _)| k != key);
                    m.push((key.to_string(), value.to_string()));
                });
                Ok(())
            }
            Store::Custom(o) => Store::call(o, "setItem", &[key, value]).await.map(|_| ()),
        }
    }

    /// Removes `key`.
    pub async fn remove(&self, key: &str) -> Result<(), SdkError> {
        match self {
            Store::Session(s) => s
                .remove_item(key)
                .map_err(|e| unavailable(&from_js_exception(&e, "remove").message)),
            Store::Memory => {
                MEMORY.with(|m| m.borrow_mut().retain(|(k, _)| k != key));
                Ok(())
            }
            Store::Custom(o) => Store::call(o, "removeItem", &[key]).await.map(|_| ()),
        }
    }
}

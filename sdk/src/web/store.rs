//! The browser's stores: `sessionStorage` (probed with a write, so a blocked
//! one fails at once with `storage_unavailable`), and the page's memory.

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;

use crate::error::{ErrorKind, SdkError};
use crate::runtime::platform::{MemoryStore, Store};
use crate::web::platform::js_message;

const PROBE: &str = "flare-smart:probe";

/// The error when sessionStorage cannot be used, with what to do instead.
pub fn unavailable(detail: &str) -> SdkError {
    SdkError::new(
        ErrorKind::StorageUnavailable,
        format!(
            "sessionStorage is unavailable ({detail}), as in an EHR iframe that blocks third-party storage. \
             Launch with target \"popup\" (completes without storage) or, from a frame, \"_top\" (the launch \
             restarts in the whole tab), or pass your own `storage`"
        ),
    )
}

/// The tab's `sessionStorage`.
pub struct SessionStore(web_sys::Storage);

impl SessionStore {
    /// sessionStorage, if this page may write it.
    pub fn open() -> Result<SessionStore, SdkError> {
        let storage = web_sys::window()
            .ok_or_else(|| unavailable("no window"))?
            .session_storage()
            .map_err(|e| unavailable(&js_message(&e)))?
            .ok_or_else(|| unavailable("absent"))?;
        storage
            .set_item(PROBE, "1")
            .map_err(|e| unavailable(&js_message(&e)))?;
        storage
            .remove_item(PROBE)
            .map_err(|e| unavailable(&js_message(&e)))?;
        Ok(SessionStore(storage))
    }
}

impl Store for SessionStore {
    fn get<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, Result<Option<String>, SdkError>> {
        let r = self
            .0
            .get_item(key)
            .map_err(|e| unavailable(&format!("getItem: {}", js_message(&e))));
        Box::pin(async move { r })
    }
    fn set<'a>(&'a self, key: &'a str, value: &'a str) -> LocalBoxFuture<'a, Result<(), SdkError>> {
        let r = self
            .0
            .set_item(key, value)
            .map_err(|e| unavailable(&format!("setItem: {}", js_message(&e))));
        Box::pin(async move { r })
    }
    fn remove<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, Result<(), SdkError>> {
        let r = self
            .0
            .remove_item(key)
            .map_err(|e| unavailable(&format!("removeItem: {}", js_message(&e))));
        Box::pin(async move { r })
    }
}

thread_local! {
    static MEMORY: Rc<MemoryStore> = Rc::new(MemoryStore::new());
}

/// The page's memory store (lives until the page unloads).
pub fn memory() -> Rc<MemoryStore> {
    MEMORY.with(Rc::clone)
}

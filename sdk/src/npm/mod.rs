//! The npm package `@flare/smart`: the JavaScript API as wasm-bindgen
//! exports returning Promises, over [`crate::web`] and [`crate::runtime`].
//! Only with the `npm` feature (`scripts/build-sdk.sh`). `pkg/index.js` is
//! the short entry module: it loads the wasm lazily (importing the package
//! does no I/O, so Node and server-side rendering can import it) and adds
//! `Symbol.asyncIterator` to [`PageIterator`].

mod client;
mod convert;

use std::rc::Rc;

use futures_util::FutureExt;
use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub use client::{JsClient, PageIterator};
use convert::{count, error, member, text};

use crate::error::{ErrorKind, SdkError};
use crate::web::{self, AuthorizeOptions, Launched, ReadyOptions, Server, Storage, Target, TokenOptions};

/// A JavaScript store (`getItem`/`setItem`/`removeItem`, sync or async).
struct JsStore(JsValue);

impl JsStore {
    async fn call(&self, method: &str, args: &[&str]) -> Result<JsValue, SdkError> {
        let unavailable = |detail: String| crate::web::store::unavailable(&format!("{method}: {detail}"));
        let f: js_sys::Function = member(&self.0, method)
            .dyn_into()
            .map_err(|_| unavailable("not a function".into()))?;
        let result = match args {
            [k] => f.call1(&self.0, &(*k).into()),
            [k, v] => f.call2(&self.0, &(*k).into(), &(*v).into()),
            _ => f.call0(&self.0),
        }
        .map_err(|e| unavailable(crate::web::platform::js_message(&e)))?;
        match result.dyn_into::<Promise>() {
            Ok(p) => wasm_bindgen_futures::JsFuture::from(p)
                .await
                .map_err(|e| unavailable(crate::web::platform::js_message(&e))),
            Err(v) => Ok(v),
        }
    }
}

impl crate::runtime::Store for JsStore {
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<Option<String>, SdkError>> {
        async move { Ok(self.call("getItem", &[key]).await?.as_string()) }.boxed_local()
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> futures_util::future::LocalBoxFuture<'a, Result<(), SdkError>> {
        async move { self.call("setItem", &[key, value]).await.map(drop) }.boxed_local()
    }
    fn remove<'a>(&'a self, key: &'a str) -> futures_util::future::LocalBoxFuture<'a, Result<(), SdkError>> {
        async move { self.call("removeItem", &[key]).await.map(drop) }.boxed_local()
    }
}

/// `options.storage`: "session" (default), "memory" or the app's object.
fn storage_of(options: &JsValue) -> Result<Storage, SdkError> {
    let s = member(options, "storage");
    if s.is_undefined() || s.is_null() || s.as_string().as_deref() == Some("session") {
        Ok(Storage::Session)
    } else if s.as_string().as_deref() == Some("memory") {
        Ok(Storage::Memory)
    } else if s.is_object() {
        Ok(Storage::Custom(Rc::new(JsStore(s))))
    } else {
        Err(SdkError::launch(
            "storage must be \"session\", \"memory\" or an object",
        ))
    }
}

fn authorize_options(options: &JsValue) -> Result<AuthorizeOptions, SdkError> {
    let entries: Vec<JsValue> = if Array::is_array(options) {
        Array::from(options).to_vec()
    } else {
        vec![options.clone()]
    };
    let first = entries.first().cloned().unwrap_or(JsValue::UNDEFINED);
    if !first.is_object() {
        return Err(SdkError::launch("authorize() needs options"));
    }
    let target = match text(&first, "target").as_deref() {
        None | Some("_self") => Target::SameWindow,
        Some("_top") => Target::Top,
        Some("popup") => Target::Popup {
            width: count(&first, "width").unwrap_or(520) as u32,
            height: count(&first, "height").unwrap_or(720) as u32,
        },
        Some(other) => Target::Named(other.to_string()),
    };
    Ok(AuthorizeOptions {
        servers: entries
            .iter()
            .map(|o| Server {
                client_id: text(o, "clientId").unwrap_or_default(),
                scope: text(o, "scope").unwrap_or_default(),
                redirect_uri: text(o, "redirectUri"),
                iss: text(o, "iss"),
                launch: text(o, "launch"),
            })
            .collect(),
        target,
        no_redirect: member(&first, "noRedirect").as_bool() == Some(true),
        storage: storage_of(&first)?,
    })
}

fn launched(l: Launched) -> JsValue {
    match l {
        Launched::Redirecting(url) | Launched::Url(url) | Launched::RestartingAtTop(url) => url.into(),
        Launched::Client(c) => JsClient::from(c).into(),
    }
}

/// `authorize(options)`: starts a launch (see `pkg/index.d.ts`). `popup` is
/// the window the entry module opened in the click while the wasm loaded
/// (`null` if the browser blocked it), or undefined.
#[wasm_bindgen]
pub fn authorize(options: JsValue, popup: JsValue) -> Promise {
    let first = if Array::is_array(&options) {
        Array::from(&options).get(0)
    } else {
        options.clone()
    };
    if let Some(url) = text(&first, "fhirServiceUrl") {
        // An open server: no launch, no token.
        let c: JsValue = JsClient::from(web::open_server(&url)).into();
        return Promise::resolve(&c);
    }
    let parsed = match authorize_options(&options) {
        Ok(o) => o,
        Err(e) => {
            if popup.is_object() {
                let _ = popup.unchecked_ref::<web_sys::Window>().close();
            }
            return Promise::reject(&error(e));
        }
    };
    let work = if popup.is_undefined() {
        web::authorize(parsed).left_future()
    } else {
        // A WindowProxy of another window is no `instanceof Window` here: checked as an object.
        let window = popup
            .is_object()
            .then(|| popup.unchecked_into::<web_sys::Window>());
        if window.is_none() {
            return Promise::reject(&error(SdkError::new(
                ErrorKind::Popup,
                "the popup was blocked: call authorize() from a click handler",
            )));
        }
        if let (Some(w), Target::Popup { width, height }) = (&window, &parsed.target) {
            let _ = w.resize_to(*width as i32, *height as i32);
        }
        web::authorize_in(parsed, window).right_future()
    };
    client::promise(async move { work.await.map(launched) })
}

/// `ready(options)`: completes the launch or restores the session.
#[wasm_bindgen]
pub fn ready(options: JsValue) -> Promise {
    let storage = storage_of(&options);
    let state = text(&options, "state");
    client::promise(async move {
        web::ready(ReadyOptions {
            storage: storage?,
            state,
        })
        .await
        .map(|c| JsClient::from(c).into())
    })
}

/// `client(options)`: a client from tokens the app already has.
#[wasm_bindgen]
pub fn client(options: JsValue) -> Result<JsClient, JsValue> {
    let server_url =
        text(&options, "serverUrl").ok_or_else(|| error(SdkError::launch("serverUrl is required")))?;
    Ok(JsClient::from(web::with_token(TokenOptions {
        server_url,
        access_token: text(&options, "accessToken").unwrap_or_default(),
        expires_in: member(&options, "expiresIn").as_f64().map(|n| n as i64),
        refresh_token: text(&options, "refreshToken"),
        client_id: text(&options, "clientId").unwrap_or_default(),
        token_endpoint: text(&options, "tokenEndpoint").unwrap_or_default(),
        scope: text(&options, "scope").unwrap_or_default(),
        patient: text(&options, "patient"),
        encounter: text(&options, "encounter"),
    })))
}

/// `byCode(observations, property = "code")`: the resources by each
/// `system|code` and bare `code` of `property` ([`crate::codes`]).
#[wasm_bindgen(js_name = byCode)]
pub fn by_code(resources: JsValue, property: Option<String>) -> JsValue {
    let list: Vec<JsValue> = if Array::is_array(&resources) {
        Array::from(&resources).to_vec()
    } else {
        vec![resources]
    };
    let values: Vec<serde_json::Value> = list
        .iter()
        .map(|r| convert::from_js(r).unwrap_or_default())
        .collect();
    let map = crate::codes::by_code(&values, property.as_deref().unwrap_or("code"));
    let out: JsValue = Object::new().into();
    for (code, indexes) in map {
        let group: Array = indexes.iter().map(|&i| list[i].clone()).collect();
        convert::set(&out, &code, &group);
    }
    out
}

/// At instantiation: a panic (a bug in the SDK) is reported on the console
/// with its message before the wasm traps, instead of a bare "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("@flare/smart: internal error: {info}").into());
    }));
}

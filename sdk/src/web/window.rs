//! The page around the app: its address, its history entry, whether it is
//! framed, and the windows a launch opens (web-sys).

use js_sys::{Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{ErrorKind, SdkError};

/// The key of this page's launch `state` in `history.state`.
pub const PAGE_STATE: &str = "flare-smart:state";
/// The sign-in popup's window name starts with this; its `ready()` hands the
/// redirect to the opener.
pub const POPUP_NAME: &str = "flare-smart-popup:";
/// The `type` of the message a popup posts to its opener.
pub const REDIRECT_MESSAGE: &str = "flare-smart:redirect";

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// `location.href` (empty outside a page).
pub fn page_url() -> String {
    window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// `location.origin`.
pub fn origin() -> String {
    window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// `url` resolved against `base` (as `new URL(url, base)`), or as given.
pub fn absolute(url: &str, base: &str) -> String {
    web_sys::Url::new_with_base(url, base)
        .map(|u| u.href())
        .unwrap_or_else(|_| url.to_string())
}

/// Whether this page runs in a frame (an EHR iframe); a cross-origin parent
/// that refuses the comparison counts as framed.
pub fn in_frame() -> bool {
    let Some(w) = window() else { return false };
    match w.top() {
        Ok(Some(top)) => !JsValue::from(&top).loose_eq(&JsValue::from(&w)),
        _ => true,
    }
}

/// Replaces the address bar's URL, keeping `history.state`.
pub fn replace_address(url: &str) {
    if let Some(h) = window().and_then(|w| w.history().ok()) {
        let state = h.state().unwrap_or(JsValue::NULL);
        let _ = h.replace_state_with_url(&state, "", Some(url));
    }
}

/// Keeps the launch's `state` with this page's history entry: sessionStorage
/// is shared by the tab's same-origin frames, `history.state` belongs to this
/// frame and survives a reload. An app's own non-object state is left alone.
pub fn remember_launch(state: &str) {
    let Some(h) = window().and_then(|w| w.history().ok()) else {
        return;
    };
    let current = h.state().unwrap_or(JsValue::NULL);
    let next = if current.is_null() || current.is_undefined() {
        Object::new()
    } else if current.is_object() && !js_sys::Array::is_array(&current) {
        Object::assign(&Object::new(), current.unchecked_ref())
    } else {
        return;
    };
    let _ = Reflect::set(&next, &PAGE_STATE.into(), &state.into());
    let _ = h.replace_state(&next, "");
}

/// The launch `state` kept with this page's history entry.
pub fn remembered_launch() -> Option<String> {
    let state = window()?.history().ok()?.state().ok()?;
    if !state.is_object() {
        return None;
    }
    Reflect::get(&state, &PAGE_STATE.into()).ok()?.as_string()
}

/// Sends this window to `url`.
pub fn navigate(url: &str) -> Result<(), SdkError> {
    window()
        .ok_or_else(|| SdkError::launch("no window"))?
        .location()
        .set_href(url)
        .map_err(|_| SdkError::launch("cannot navigate"))
}

/// `window.open(url, target, features)`; `None` when the browser refused.
pub fn open(url: &str, target: &str, features: &str) -> Option<web_sys::Window> {
    window()?
        .open_with_url_and_target_and_features(url, target, features)
        .ok()
        .flatten()
}

/// This window's name.
pub fn name() -> String {
    window().and_then(|w| w.name().ok()).unwrap_or_default()
}

/// In the sign-in popup (named [`POPUP_NAME`]… and opened by the app): posts
/// the redirect to the opener and closes. False when this is no such popup.
pub fn hand_redirect_to_opener(url: &str) -> Result<bool, SdkError> {
    let Some(w) = window() else { return Ok(false) };
    if !name().starts_with(POPUP_NAME) {
        return Ok(false);
    }
    let opener = w.opener().unwrap_or(JsValue::NULL);
    if opener.is_null() || opener.is_undefined() {
        return Ok(false);
    }
    let message = Object::new();
    let _ = Reflect::set(&message, &"type".into(), &REDIRECT_MESSAGE.into());
    let _ = Reflect::set(&message, &"url".into(), &url.into());
    let opener: web_sys::Window = opener.unchecked_into();
    opener
        .post_message(&message, &origin())
        .map_err(|_| SdkError::launch("cannot reach the opener"))?;
    let _ = w.close();
    Ok(true)
}

/// The popup's listeners; dropping it (the launch finished, failed or was
/// cancelled) removes them before their closures are freed.
struct PopupWatch {
    window: web_sys::Window,
    timer: i32,
    listener: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
    poll: Option<Closure<dyn FnMut()>>,
}

impl Drop for PopupWatch {
    fn drop(&mut self) {
        self.window.clear_interval_with_handle(self.timer);
        if let Some(l) = &self.listener {
            let _ = self
                .window
                .remove_event_listener_with_callback("message", l.as_ref().unchecked_ref());
        }
    }
}

/// The redirect URL the popup posts back for the launch `state`, or a
/// `popup` error once the popup is closed first. Never waits forever.
pub async fn popup_redirect(popup: web_sys::Window, state: String) -> Result<String, SdkError> {
    let w = window().ok_or_else(|| SdkError::launch("no window"))?;
    let origin = origin();
    let mut watch = PopupWatch {
        window: w.clone(),
        timer: 0,
        listener: None,
        poll: None,
    };
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let wanted = state.clone();
        let origin = origin.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                let data = event.data();
                let field = |k: &str| Reflect::get(&data, &k.into()).ok().and_then(|v| v.as_string());
                if event.origin() != origin || field("type").as_deref() != Some(REDIRECT_MESSAGE) {
                    return;
                }
                let url = field("url").unwrap_or_default();
                if crate::launch::url_params(&url).state.as_deref() == Some(wanted.as_str()) {
                    let _ = resolve.call1(&JsValue::UNDEFINED, &url.into());
                }
            });
        let _ = w.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
        let watched = popup.clone();
        let on_tick = Closure::<dyn FnMut()>::new(move || {
            if watched.closed().unwrap_or(true) {
                let _ = reject.call1(&JsValue::UNDEFINED, &JsValue::NULL);
            }
        });
        watch.timer = w
            .set_interval_with_callback_and_timeout_and_arguments_0(on_tick.as_ref().unchecked_ref(), 500)
            .unwrap_or(0);
        watch.listener = Some(on_message);
        watch.poll = Some(on_tick);
    });
    let result = JsFuture::from(promise).await;
    drop(watch);
    match result {
        Ok(url) => Ok(url.as_string().unwrap_or_default()),
        Err(_) => Err(SdkError::new(
            ErrorKind::Popup,
            "the sign-in popup was closed before the launch completed",
        )),
    }
}

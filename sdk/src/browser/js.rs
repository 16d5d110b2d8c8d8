//! JS values as [`Json`], small object helpers, the window and the clock.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{ErrorKind, SdkError};
use crate::json::Json;

thread_local! {
    /// JS strings of the member names the SDK reads (a few dozen literals),
    /// so reading `entry.resource` a thousand times does not make a thousand
    /// JS strings.
    static KEYS: std::cell::RefCell<Vec<(String, JsValue)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The JS string for a member name, cached.
fn key(name: &str) -> JsValue {
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some((_, v)) = keys.iter().find(|(k, _)| k == name) {
            return v.clone();
        }
        let v = JsValue::from_str(name);
        if keys.len() < 64 {
            keys.push((name.to_string(), v.clone()));
        }
        v
    })
}

impl Json for JsValue {
    fn member(&self, key_name: &str) -> Option<Self> {
        // Reflect.get throws on primitives: that is the `None` of non-objects.
        let v = Reflect::get(self, &key(key_name)).ok()?;
        (!v.is_undefined() && !v.is_null()).then_some(v)
    }
    fn text(&self) -> Option<String> {
        self.as_string()
    }
    fn text_is(&self, expected: &str) -> bool {
        *self == key(expected)
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn elements(&self) -> Vec<Self> {
        if Array::is_array(self) {
            self.unchecked_ref::<Array>().iter().collect()
        } else {
            Vec::new()
        }
    }
    fn members(&self) -> Vec<(String, Self)> {
        if !self.is_object() || Array::is_array(self) {
            return Vec::new();
        }
        Object::entries(self.unchecked_ref())
            .iter()
            .map(|pair| {
                let pair: Array = pair.unchecked_into();
                (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
            })
            .collect()
    }
}

/// The browser window (the SDK runs in documents only).
pub fn window() -> Result<web_sys::Window, SdkError> {
    web_sys::window().ok_or_else(|| SdkError::launch("the SDK needs a browser window"))
}

/// Epoch milliseconds.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A new plain object.
pub fn object() -> Object {
    Object::new()
}

/// `target[key] = value`.
pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// An optional string as a JS value (`undefined` when absent).
pub fn opt_str(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

/// The string member `key` of an options object.
pub fn opt_text(options: &JsValue, key: &str) -> Option<String> {
    options.member(key).and_then(|v| v.as_string())
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `JSON.parse` of a JS string (no copy through wasm memory).
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    pub fn parse_json_value(text: &JsValue) -> Result<JsValue, JsValue>;
}

/// `JSON.parse`, or the text itself when it is not JSON.
pub fn parse_json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| JsValue::from_str(text))
}

/// `JSON.stringify`.
pub fn stringify(value: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(value).ok().and_then(|s| s.as_string())
}

/// Defines a non-enumerable property (kept off `JSON.stringify`).
pub fn define_hidden(target: &Object, key: &str, value: &JsValue) {
    let descriptor = object();
    set(&descriptor, "value", value);
    set(&descriptor, "configurable", &JsValue::TRUE);
    let _ = Reflect::define_property(target, &JsValue::from_str(key), &descriptor);
}

/// The `AbortSignal` of an options object, if any.
pub fn signal_of(options: &JsValue) -> Option<web_sys::AbortSignal> {
    options.member("signal").and_then(|s| s.dyn_into().ok())
}

/// Turns a JS exception from `fetch` (or an abort) into a typed error.
pub fn from_js_exception(error: &JsValue, what: &str) -> SdkError {
    let name = error
        .member("name")
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    let message = error
        .member("message")
        .and_then(|m| m.as_string())
        .unwrap_or_default();
    if name == "AbortError" {
        return SdkError::new(ErrorKind::Aborted, format!("{what}: aborted"));
    }
    SdkError::new(
        ErrorKind::Network,
        format!("{what}: {name} {message}").trim_end().to_string(),
    )
}

/// A typed error as a JS `Error` named `FlareError`, with `kind`, `status`,
/// `oauthError`, `issues` and `retryAfter` properties.
pub fn to_js_error(e: SdkError) -> JsValue {
    let error = js_sys::Error::new(&e.message);
    error.set_name("FlareError");
    let target: &JsValue = error.as_ref();
    set(target, "kind", &JsValue::from_str(e.kind.as_str()));
    if let Some(status) = e.status {
        set(target, "status", &JsValue::from(status));
    }
    set(target, "oauthError", &opt_str(e.oauth_error.as_deref()));
    let issues = Array::new();
    for issue in &e.issues {
        let o = object();
        set(&o, "severity", &JsValue::from_str(&issue.severity));
        set(&o, "code", &JsValue::from_str(&issue.code));
        set(&o, "diagnostics", &opt_str(issue.diagnostics.as_deref()));
        let expression: Array = issue.expression.iter().map(|x| JsValue::from_str(x)).collect();
        set(&o, "expression", &expression);
        issues.push(&o);
    }
    set(target, "issues", &issues);
    if let Some(r) = e.retry_after {
        set(target, "retryAfter", &JsValue::from(r));
    }
    error.into()
}

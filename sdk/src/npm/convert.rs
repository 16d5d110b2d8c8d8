//! Values crossing to and from JavaScript: FHIR JSON through
//! serde-wasm-bindgen (objects, not text), options read off the app's
//! objects, errors as `FlareError`s, AbortSignals as [`AbortHandle`]s.

use js_sys::{Array, Function, Object, Reflect};
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::SdkError;
use crate::runtime::AbortHandle;

/// A JSON value as a JavaScript value (objects as plain objects).
pub fn to_js(value: &Value) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}

/// A JavaScript value as JSON (what `JSON.stringify` would keep).
pub fn from_js(value: &JsValue) -> Option<Value> {
    serde_wasm_bindgen::from_value(value.clone()).ok()
}

/// Member `key` of `object` (undefined when `object` is not an object).
pub fn member(object: &JsValue, key: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// `value` as an array (an empty one when it is not an array: a Bundle
/// without `entry`). `Array.from` would copy, and throw on `undefined`.
pub fn array(value: &JsValue) -> Array {
    if Array::is_array(value) {
        value.clone().unchecked_into()
    } else {
        Array::new()
    }
}

/// A string member.
pub fn text(object: &JsValue, key: &str) -> Option<String> {
    member(object, key).as_string()
}

/// A non-negative number member, floored.
pub fn count(object: &JsValue, key: &str) -> Option<usize> {
    member(object, key)
        .as_f64()
        .filter(|n| *n >= 0.0)
        .map(|n| n.floor() as usize)
}

/// Sets `object[key]`.
pub fn set(object: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &key.into(), value);
}

/// `object[key]`, created as a hidden (non-enumerable) `empty` when absent,
/// so `JSON.stringify` of a resource is unchanged by what the SDK attaches.
pub fn hidden(object: &JsValue, key: &str, empty: JsValue) -> JsValue {
    let current = member(object, key);
    let wanted_array = Array::is_array(&empty);
    if (wanted_array && Array::is_array(&current)) || (!wanted_array && current.is_object()) {
        return current;
    }
    let descriptor = Object::new();
    set(&descriptor, "value", &empty);
    set(&descriptor, "configurable", &JsValue::TRUE);
    if let Some(o) = object.dyn_ref::<Object>() {
        Object::define_property(o, &key.into(), &descriptor);
    }
    empty
}

/// Search parameters: an object's members, arrays repeated, scalars as
/// JavaScript prints them, objects and null left out.
pub fn pairs(params: &JsValue) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(o) = params.dyn_ref::<Object>() else {
        return out;
    };
    for key in Object::keys(o).iter() {
        let Some(k) = key.as_string() else { continue };
        let v = member(params, &k);
        let values: Vec<JsValue> = if Array::is_array(&v) {
            Array::from(&v).to_vec()
        } else {
            vec![v]
        };
        for v in values {
            if v.is_null() || v.is_undefined() || (v.is_object() && !v.is_function()) || v.is_function() {
                continue;
            }
            let printed = v
                .as_string()
                .or_else(|| js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string()));
            if let Some(p) = printed {
                out.push((k.clone(), p));
            }
        }
    }
    out
}

/// The `FlareError` an app catches: an `Error` named `FlareError` with
/// `kind`, `status`, `oauthError`, `issues` and `retryAfter`.
pub fn error(e: SdkError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("FlareError");
    let v: JsValue = err.into();
    set(&v, "kind", &e.kind.as_str().into());
    set(&v, "status", &e.status.map_or(JsValue::UNDEFINED, JsValue::from));
    set(
        &v,
        "oauthError",
        &e.oauth_error.as_deref().map_or(JsValue::UNDEFINED, JsValue::from),
    );
    let issues = Array::new();
    for i in &e.issues {
        let o: JsValue = Object::new().into();
        set(&o, "severity", &i.severity.as_str().into());
        set(&o, "code", &i.code.as_str().into());
        set(
            &o,
            "diagnostics",
            &i.diagnostics.as_deref().map_or(JsValue::UNDEFINED, JsValue::from),
        );
        set(
            &o,
            "expression",
            &i.expression
                .iter()
                .map(|x| JsValue::from(x.as_str()))
                .collect::<Array>(),
        );
        issues.push(&o);
    }
    set(&v, "issues", &issues);
    if let Some(r) = e.retry_after {
        set(&v, "retryAfter", &r.into());
    }
    v
}

/// The handle an `AbortSignal` (`options.signal`) aborts.
pub fn abort_of(options: &JsValue) -> AbortHandle {
    let handle = AbortHandle::new();
    let signal = member(options, "signal");
    let Some(signal) = signal.dyn_ref::<web_sys::AbortSignal>() else {
        return handle;
    };
    if signal.aborted() {
        handle.abort();
        return handle;
    }
    let h = handle.clone();
    let on_abort = Closure::once_into_js(move || h.abort());
    let opts = web_sys::AddEventListenerOptions::new();
    opts.set_once(true);
    let _ = signal.add_event_listener_with_callback_and_add_event_listener_options(
        "abort",
        on_abort.unchecked_ref::<Function>(),
        &opts,
    );
    handle
}

//! `fetch` with the SDK's retry rule (429/503, `Retry-After`, bounded
//! backoff) and `AbortSignal` support. Bodies are parsed with `JSON.parse`.

use js_sys::Promise;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js::{from_js_exception, now_ms, object, parse_json_value, set, window};
use crate::error::{ErrorKind, SdkError};
use crate::retry::{self, RetryPolicy};

/// An HTTP answer with its body parsed (`null` when empty).
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// The parsed JSON body, the text when it is not JSON, or `null`.
    pub body: JsValue,
    /// `Retry-After`, when the server sent one and CORS exposes it.
    pub retry_after: Option<String>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body, if it is a JSON object or array.
    pub fn json(&self) -> Option<&JsValue> {
        self.body.is_object().then_some(&self.body)
    }

    /// Seconds of `Retry-After`, for error reports.
    pub fn retry_after_s(&self) -> Option<f64> {
        self.retry_after
            .as_deref()
            .and_then(|v| retry::retry_after_ms(v, now_ms()))
            .map(|ms| ms / 1000.0)
    }
}

/// One request.
pub struct Call<'a> {
    /// Absolute URL.
    pub url: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Headers.
    pub headers: Vec<(&'a str, String)>,
    /// Body text.
    pub body: Option<&'a str>,
    /// Abort signal.
    pub signal: Option<&'a web_sys::AbortSignal>,
}

impl<'a> Call<'a> {
    /// A GET accepting JSON.
    pub fn get(url: &'a str, accept: &str) -> Call<'a> {
        Call {
            url,
            method: "GET",
            headers: vec![("Accept", accept.to_string())],
            body: None,
            signal: None,
        }
    }

    /// A form POST (OAuth endpoints).
    pub fn form_post(url: &'a str, body: &'a str) -> Call<'a> {
        Call {
            url,
            method: "POST",
            headers: vec![
                ("Accept", "application/json".to_string()),
                ("Content-Type", "application/x-www-form-urlencoded".to_string()),
            ],
            body: Some(body),
            signal: None,
        }
    }
}

/// Waits `ms` milliseconds (a `setTimeout` promise).
pub async fn sleep(ms: f64) {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = JsFuture::from(promise).await;
}

async fn send_once(call: &Call<'_>) -> Result<Answer, SdkError> {
    let init = web_sys::RequestInit::new();
    init.set_method(call.method);
    let headers = object();
    for (k, v) in &call.headers {
        set(&headers, k, &JsValue::from_str(v));
    }
    init.set_headers(&headers);
    if let Some(body) = call.body {
        init.set_body(&JsValue::from_str(body));
    }
    init.set_signal(call.signal);
    let response = JsFuture::from(window()?.fetch_with_str_and_init(call.url, &init))
        .await
        .map_err(|e| from_js_exception(&e, call.url))?;
    let response: web_sys::Response = response.unchecked_into();
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let text = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .map_err(|e| from_js_exception(&e, call.url))?,
        Err(e) => return Err(from_js_exception(&e, call.url)),
    };
    // The body stays a JS string: parsed by JS, never copied into wasm memory.
    let body = if text.unchecked_ref::<js_sys::JsString>().length() == 0 {
        JsValue::NULL
    } else {
        parse_json_value(&text).unwrap_or(text)
    };
    Ok(Answer {
        status: response.status(),
        body,
        retry_after,
    })
}

/// Sends `call`, retrying 429 and 503 as `policy` allows (boxed: one copy of
/// the state machine for all callers).
pub fn send<'a>(
    call: &'a Call<'a>,
    policy: &'a RetryPolicy,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, SdkError>> + 'a>> {
    Box::pin(send_inner(call, policy))
}

async fn send_inner(call: &Call<'_>, policy: &RetryPolicy) -> Result<Answer, SdkError> {
    let mut attempt = 0;
    loop {
        let answer = send_once(call).await?;
        let wait = retry::delay_ms(
            policy,
            answer.status,
            answer.retry_after.as_deref(),
            attempt,
            now_ms(),
            js_sys::Math::random(),
        );
        match wait {
            Some(ms) => {
                sleep(ms).await;
                if call.signal.is_some_and(|s| s.aborted()) {
                    return Err(SdkError::new(
                        ErrorKind::Aborted,
                        format!("{}: aborted", call.url),
                    ));
                }
                attempt += 1;
            }
            None => return Ok(answer),
        }
    }
}

/// GETs JSON from a public endpoint (discovery, JWKS): errors for non-2xx.
pub async fn get_public_json(url: &str) -> Result<JsValue, SdkError> {
    let answer = send(&Call::get(url, "application/json"), &RetryPolicy::default()).await?;
    match answer.json() {
        Some(body) if answer.ok() => Ok(body.clone()),
        _ => Err(SdkError {
            status: Some(answer.status),
            ..SdkError::new(
                ErrorKind::Protocol,
                format!("GET {url} answered HTTP {} without JSON", answer.status),
            )
        }),
    }
}

//! Sending with the retry rule ([`crate::retry`]): 429, and 503 to an
//! idempotent method, are sent again after `Retry-After` or a bounded
//! backoff; the wait ends at once when the request is aborted.

use serde_json::Value;

use crate::error::{ErrorKind, SdkError};
use crate::retry::{delay_ms, RetryPolicy};
use crate::runtime::abort::{or_abort, AbortHandle};
use crate::runtime::platform::{HttpRequest, HttpResponse, Platform};

/// Sends `request`, retrying as [`crate::retry::delay_ms`] decides.
pub async fn send<P: Platform>(
    platform: &P,
    policy: &RetryPolicy,
    request: &HttpRequest,
    abort: &AbortHandle,
) -> Result<HttpResponse, SdkError> {
    let mut attempt = 0;
    loop {
        let response = or_abort(platform.fetch(request, abort), abort, &request.url).await?;
        let wait = delay_ms(
            policy,
            &request.method,
            response.status,
            response.header("retry-after"),
            attempt,
            platform.now_ms(),
            platform.jitter(),
        );
        match wait {
            None => return Ok(response),
            Some(ms) => {
                let wait = async {
                    platform.sleep(ms).await;
                    Ok(())
                };
                or_abort(wait, abort, &request.url).await?;
                attempt += 1;
            }
        }
    }
}

/// `GET` JSON from a public endpoint (discovery, JWKS): a 2xx JSON object or
/// a `protocol` error.
pub async fn public_json<P: Platform>(
    platform: &P,
    policy: &RetryPolicy,
    url: &str,
    abort: &AbortHandle,
) -> Result<Value, SdkError> {
    let request = HttpRequest::get(url, "application/json");
    let response = send(platform, policy, &request, abort).await?;
    match response.json() {
        Some(body @ Value::Object(_)) if response.ok() => Ok(body),
        _ => Err(SdkError {
            status: Some(response.status),
            ..SdkError::new(
                ErrorKind::Protocol,
                format!("GET {url} answered HTTP {} without JSON", response.status),
            )
        }),
    }
}

/// A form `POST` to the token endpoint: the JSON body of a 2xx, else the
/// OAuth error it carries.
pub async fn token_post<P: Platform>(
    platform: &P,
    policy: &RetryPolicy,
    url: &str,
    body: String,
    abort: &AbortHandle,
) -> Result<Value, SdkError> {
    let response = send(platform, policy, &HttpRequest::form_post(url, body), abort).await?;
    let json = response.json();
    match json {
        Some(body @ Value::Object(_)) if response.ok() => Ok(body),
        Some(_) | None if response.ok() => Err(SdkError::new(
            ErrorKind::Protocol,
            "token endpoint answered without a JSON object",
        )),
        other => Err(SdkError::from_oauth_response(
            response.status,
            other.as_ref().as_ref(),
        )),
    }
}

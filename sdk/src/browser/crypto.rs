//! WebCrypto: random bytes, SHA-256 and RS256 verification. No hash or RSA
//! code is compiled into the wasm.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js::{object, set, window};
use crate::error::{ErrorKind, SdkError};
use crate::json::{text_at, Json};
use crate::pkce::RANDOM_BYTES;

fn crypto_error(what: &str) -> SdkError {
    SdkError::new(
        ErrorKind::Launch,
        format!("WebCrypto {what} failed (a secure context is required)"),
    )
}

fn subtle() -> Result<web_sys::SubtleCrypto, SdkError> {
    Ok(window()?.crypto().map_err(|_| crypto_error("access"))?.subtle())
}

/// 32 bytes from `crypto.getRandomValues` (a CSPRNG).
pub fn random_bytes() -> Result<[u8; RANDOM_BYTES], SdkError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    window()?
        .crypto()
        .and_then(|c| c.get_random_values_with_u8_array(&mut bytes))
        .map_err(|_| crypto_error("getRandomValues"))?;
    Ok(bytes)
}

/// SHA-256 through `crypto.subtle.digest`.
pub async fn sha256(data: &[u8]) -> Result<Vec<u8>, SdkError> {
    let promise = subtle()?
        .digest_with_str_and_u8_array("SHA-256", data)
        .map_err(|_| crypto_error("digest"))?;
    let buffer = JsFuture::from(promise)
        .await
        .map_err(|_| crypto_error("digest"))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Verifies an RS256 signature over `data` with an RSA JWK.
pub async fn verify_rs256(jwk: &JsValue, signature: &[u8], data: &[u8]) -> Result<bool, SdkError> {
    let subtle = subtle()?;
    // Only the public members: WebCrypto rejects a JWK whose `alg`/`key_ops`
    // disagree with the usage, and nothing else is needed.
    let key_data = object();
    for member in ["kty", "n", "e"] {
        let value =
            text_at(jwk, member).ok_or_else(|| SdkError::new(ErrorKind::IdToken, "JWKS key lacks n or e"))?;
        set(&key_data, member, &JsValue::from_str(&value));
    }
    let algorithm = object();
    set(&algorithm, "name", &JsValue::from_str("RSASSA-PKCS1-v1_5"));
    set(&algorithm, "hash", &JsValue::from_str("SHA-256"));
    let usages = Array::of1(&JsValue::from_str("verify"));
    let key = subtle
        .import_key_with_object("jwk", &key_data, &algorithm, false, &usages)
        .map_err(|_| crypto_error("importKey"))?;
    let key = JsFuture::from(key)
        .await
        .map_err(|_| SdkError::new(ErrorKind::IdToken, "JWKS key does not import"))?;
    let key: web_sys::CryptoKey = key.unchecked_into();
    let verified = subtle
        .verify_with_str_and_u8_array_and_u8_array("RSASSA-PKCS1-v1_5", &key, signature, data)
        .map_err(|_| crypto_error("verify"))?;
    let verified = JsFuture::from(verified)
        .await
        .map_err(|_| crypto_error("verify"))?;
    Ok(verified.boolean() == Some(true))
}

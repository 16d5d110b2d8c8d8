//! id_token checks (OpenID Connect Core §3.1.3.7) without the cryptography:
//! splitting the JWS, refusing every algorithm but RS256, choosing the JWKS
//! key, and validating `iss`, `aud`, `exp`, `iat` and `nonce`. The RS256
//! signature itself is verified by WebCrypto in the browser layer.

use crate::base64url;
use crate::error::{ErrorKind, SdkError};
use crate::json::{text_at, texts_at, Json};

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_S: f64 = 60.0;

fn bad(message: impl Into<String>) -> SdkError {
    SdkError::new(ErrorKind::IdToken, message)
}

/// A compact JWS split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsParts {
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: String,
    /// The decoded header JSON text.
    pub header_json: String,
    /// The decoded payload JSON text.
    pub payload_json: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS.
pub fn split(token: &str) -> Result<JwsParts, SdkError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad("id_token is not a compact JWS (three parts)"));
    };
    let text = |part: &str| {
        base64url::decode(part)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad("id_token part is not base64url JSON"))
    };
    Ok(JwsParts {
        signing_input: crate::form::cat(&[h, ".", p]),
        header_json: text(h)?,
        payload_json: text(p)?,
        signature: base64url::decode(s).ok_or_else(|| bad("id_token signature is not base64url"))?,
    })
}

/// Checks the JWS header: `alg` must be RS256 (never `none`, never HMAC), and
/// returns its `kid`.
pub fn check_header<J: Json>(header: &J) -> Result<Option<String>, SdkError> {
    match text_at(header, "alg").as_deref() {
        Some("RS256") => Ok(text_at(header, "kid")),
        other => Err(bad(crate::form::cat(&[
            "id_token alg ",
            other.unwrap_or("(none)"),
            " is not RS256",
        ]))),
    }
}

/// The RSA signing key for `kid` in a JWKS (`kty` RSA, `use` sig or absent,
/// `alg` RS256 or absent). Without a `kid`, only a JWKS with exactly one such
/// key matches.
pub fn select_key<J: Json>(jwks: &J, kid: Option<&str>) -> Result<J, SdkError> {
    let keys = jwks.member("keys").map(|k| k.elements()).unwrap_or_default();
    let i = select_key_index(&keys, kid)?;
    Ok(keys[i].clone())
}

/// [`select_key`] over the JWKS's `keys`: the index of the key to verify with.
pub fn select_key_index<J: Json>(keys: &[J], kid: Option<&str>) -> Result<usize, SdkError> {
    let is = |k: &J, name: &str, wanted: &str, absent_ok: bool| match text_at(k, name) {
        Some(v) => v == wanted,
        None => absent_ok,
    };
    let mut found = None;
    let mut usable = 0;
    for (i, k) in keys.iter().enumerate() {
        if !(is(k, "kty", "RSA", false) && is(k, "use", "sig", true) && is(k, "alg", "RS256", true)) {
            continue;
        }
        usable += 1;
        let chosen = match kid {
            Some(kid) => found.is_none() && is(k, "kid", kid, false),
            None => true,
        };
        if chosen {
            found = Some(i);
        }
    }
    // Without a kid, only a JWKS with exactly one usable key matches.
    if kid.is_none() && usable != 1 {
        found = None;
    }
    found.ok_or_else(|| {
        bad(crate::form::cat(&[
            "no RS256 key ",
            kid.unwrap_or("(without kid)"),
            " in the server's JWKS",
        ]))
    })
}

/// The verified claims an app may use.
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenClaims {
    /// Subject.
    pub sub: String,
    /// The user as a FHIR resource URL (`fhirUser`, or `profile` in SMART 1).
    pub fhir_user: Option<String>,
}

/// What the claims must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected<'a> {
    /// Issuers accepted: the discovery `issuer` and the FHIR base.
    pub issuers: Vec<&'a str>,
    /// The client id (`aud`, and `azp` when several audiences).
    pub client_id: &'a str,
    /// The nonce sent, if any.
    pub nonce: Option<&'a str>,
    /// Now, in epoch seconds.
    pub now_s: f64,
}

/// Validates the claims of a signature-checked id_token.
pub fn validate<J: Json>(claims: &J, expected: &Expected<'_>) -> Result<IdTokenClaims, SdkError> {
    let iss = text_at(claims, "iss").ok_or_else(|| bad("id_token has no iss"))?;
    let trim = |s: &str| s.trim_end_matches('/').to_string();
    if !expected.issuers.iter().any(|i| trim(i) == trim(&iss)) {
        return Err(bad(crate::form::cat(&[
            "id_token iss ",
            &iss,
            " is not the server's",
        ])));
    }
    let aud = match text_at(claims, "aud") {
        Some(a) => vec![a],
        None => texts_at(claims, "aud"),
    };
    if !aud.iter().any(|a| a == expected.client_id) {
        return Err(bad("id_token aud does not name this client"));
    }
    if aud.len() > 1 && text_at(claims, "azp").as_deref() != Some(expected.client_id) {
        return Err(bad("id_token has several audiences and azp is not this client"));
    }
    let number = |n: &str| claims.member(n).and_then(|v| v.number());
    let exp = number("exp").ok_or_else(|| bad("id_token has no exp"))?;
    if expected.now_s > exp + LEEWAY_S {
        return Err(bad("id_token has expired"));
    }
    if number("iat").is_some_and(|iat| iat > expected.now_s + LEEWAY_S) {
        return Err(bad("id_token is issued in the future"));
    }
    if let Some(nonce) = expected.nonce {
        if text_at(claims, "nonce").as_deref() != Some(nonce) {
            return Err(bad("id_token nonce does not match the launch"));
        }
    }
    Ok(IdTokenClaims {
        sub: text_at(claims, "sub").ok_or_else(|| bad("id_token has no sub"))?,
        fhir_user: text_at(claims, "fhirUser").or_else(|| text_at(claims, "profile")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn expected(nonce: Option<&str>) -> Expected<'_> {
        Expected {
            issuers: vec!["http://ehr/fhir"],
            client_id: "app",
            nonce,
            now_s: 1000.0,
        }
    }

    fn claims() -> Value {
        json!({"iss": "http://ehr/fhir/", "aud": "app", "sub": "u1", "exp": 1100, "iat": 990,
            "nonce": "n1", "fhirUser": "http://ehr/fhir/Patient/1"})
    }

    #[test]
    fn splits_compact_jws() {
        let token = format!(
            "{}.{}.{}",
            base64url::encode(br#"{"alg":"RS256"}"#),
            base64url::encode(b"{}"),
            base64url::encode(&[1, 2, 3])
        );
        let parts = split(&token).unwrap();
        assert_eq!(parts.header_json, r#"{"alg":"RS256"}"#);
        assert_eq!(parts.signature, vec![1, 2, 3]);
        assert!(token.starts_with(&parts.signing_input));
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d").is_err());
    }

    #[test]
    fn only_rs256_headers_pass() {
        assert_eq!(
            check_header(&&json!({"alg": "RS256", "kid": "k1"}))
                .unwrap()
                .as_deref(),
            Some("k1")
        );
        for alg in ["none", "HS256", "RS384"] {
            assert!(check_header(&&json!({ "alg": alg })).is_err(), "{alg}");
        }
    }

    #[test]
    fn selects_signing_keys_by_kid() {
        let jwks = json!({"keys": [
            {"kty": "EC", "kid": "k1"},
            {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": "x", "e": "AQAB"},
            {"kty": "RSA", "kid": "k2", "use": "enc"}
        ]});
        assert_eq!(
            text_at(&select_key(&&jwks, Some("k1")).unwrap(), "n").as_deref(),
            Some("x")
        );
        assert!(select_key(&&jwks, Some("k2")).is_err());
        assert!(select_key(&&jwks, None).is_ok());
        let two = json!({"keys": [{"kty": "RSA", "kid": "a"}, {"kty": "RSA", "kid": "b"}]});
        assert!(select_key(&&two, None).is_err());
    }

    #[test]
    fn validates_claims() {
        let c = claims();
        let ok = validate(&&c, &expected(Some("n1"))).unwrap();
        assert_eq!(ok.fhir_user.as_deref(), Some("http://ehr/fhir/Patient/1"));
        assert!(validate(&&c, &expected(Some("other")))
            .unwrap_err()
            .message
            .contains("nonce"));
        let mut e = expected(None);
        e.client_id = "other";
        assert!(validate(&&c, &e).unwrap_err().message.contains("aud"));
        let mut e = expected(None);
        e.now_s = 1161.0;
        assert!(validate(&&c, &e).unwrap_err().message.contains("expired"));
        let mut e = expected(None);
        e.issuers = vec!["http://evil/fhir"];
        assert!(validate(&&c, &e).unwrap_err().message.contains("iss"));
        let mut multi = claims();
        multi["aud"] = json!(["app", "other"]);
        assert!(validate(&&multi, &expected(None))
            .unwrap_err()
            .message
            .contains("azp"));
        multi["azp"] = json!("app");
        assert!(validate(&&multi, &expected(None)).is_ok());
        let mut future = claims();
        future["iat"] = json!(2000);
        assert!(validate(&&future, &expected(None)).is_err());
    }
}

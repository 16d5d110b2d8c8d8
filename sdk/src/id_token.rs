//! id_token checks (OpenID Connect Core §3.1.3.7) without the cryptography:
//! reading the JWS (jwt-compact), refusing every algorithm but RS256,
//! choosing the JWKS key, and validating `iss`, `aud`, `exp`, `iat` and
//! `nonce`. The RS256 signature itself is verified by the platform
//! ([`crate::runtime::Platform::verify_rs256`]: WebCrypto in the browser).

use crate::error::{ErrorKind, SdkError};
use crate::json::{text_at, texts_at, Json};

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_S: f64 = 60.0;

fn bad(message: impl Into<String>) -> SdkError {
    SdkError::new(ErrorKind::IdToken, message)
}

/// An id_token read by jwt-compact, its signature not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedIdToken {
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: String,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// Every claim, `exp`, `iat` and `nbf` as epoch seconds.
    pub claims: serde_json::Value,
}

/// Reads a compact JWS with jwt-compact (structure, base64url, header and
/// claims JSON) and refuses every algorithm but RS256 (never `none`, never
/// HMAC with the public key as secret).
pub fn parse(token: &str) -> Result<UnverifiedIdToken, SdkError> {
    use jwt_compact::UntrustedToken;
    let untrusted =
        UntrustedToken::new(token).map_err(|e| bad(format!("id_token is not a compact JWS: {e}")))?;
    if untrusted.algorithm() != "RS256" {
        return Err(bad(crate::form::cat(&[
            "id_token alg ",
            untrusted.algorithm(),
            " is not RS256",
        ])));
    }
    let claims = untrusted
        .deserialize_claims_unchecked::<serde_json::Map<String, serde_json::Value>>()
        .map_err(|e| bad(format!("id_token claims are not a JSON object: {e}")))?;
    let mut all = claims.custom;
    for (name, at) in [
        ("exp", claims.expiration),
        ("iat", claims.issued_at),
        ("nbf", claims.not_before),
    ] {
        if let Some(at) = at {
            all.insert(name.into(), at.timestamp().into());
        }
    }
    let dot = token.rfind('.').unwrap_or(0);
    Ok(UnverifiedIdToken {
        signing_input: token[..dot].to_string(),
        kid: untrusted.header().key_id.clone(),
        signature: untrusted.signature_bytes().to_vec(),
        claims: serde_json::Value::Object(all),
    })
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
    use crate::base64url;
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

    fn jws(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(claims.as_bytes()),
            base64url::encode(&[1, 2, 3])
        )
    }

    #[test]
    fn reads_compact_jws_with_jwt_compact() {
        let token = jws(
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"iss":"i","exp":1100,"iat":990,"fhirUser":"Patient/1"}"#,
        );
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.signature, vec![1, 2, 3]);
        assert!(token.starts_with(&parsed.signing_input));
        assert_eq!(parsed.signing_input.matches('.').count(), 1);
        assert_eq!(
            parsed.claims,
            json!({"iss": "i", "fhirUser": "Patient/1", "exp": 1100, "iat": 990})
        );
        assert!(parse("a.b").is_err());
        assert!(parse("a.b.c.d").is_err());
        assert!(parse(&jws(r#"{"alg":"RS256"}"#, "[1]")).is_err());
    }

    #[test]
    fn only_rs256_passes() {
        for alg in ["none", "HS256", "RS384"] {
            let token = jws(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            let e = parse(&token).unwrap_err();
            assert!(e.message.contains("is not RS256"), "{alg}: {}", e.message);
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

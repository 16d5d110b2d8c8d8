//! JSON Web Signatures (RFC 7515 compact form): parsing client assertions and
//! signing id_tokens. The signature maths is the platform's (WebCrypto in
//! the Worker, the RustCrypto crates natively), behind [`Platform`]; this module only splits, decodes and checks algorithms and
//! key types, so an `alg: none` or HMAC-with-a-public-key token never reaches
//! a verifier.

use serde_json::{json, Value as Json};

use crate::crypto::{b64url, b64url_decode};
use crate::platform::{Alg, Platform, PlatformError};

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone, PartialEq)]
pub struct Jws {
    /// The protected header.
    pub header: Json,
    /// The claims.
    pub claims: Json,
    /// `BASE64URL(header) . BASE64URL(payload)`: what the signature covers.
    pub signing_input: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Jws {
    /// Splits and decodes a compact JWS; `Err` says why it is malformed.
    pub fn parse(token: &str) -> Result<Jws, String> {
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err("a JWT has three dot-separated parts".into());
        };
        let decode_json = |part: &str, what: &str| -> Result<Json, String> {
            let bytes = b64url_decode(part).ok_or_else(|| format!("the JWT {what} is not base64url"))?;
            let v: Json =
                serde_json::from_slice(&bytes).map_err(|_| format!("the JWT {what} is not JSON"))?;
            if v.is_object() {
                Ok(v)
            } else {
                Err(format!("the JWT {what} is not a JSON object"))
            }
        };
        Ok(Jws {
            header: decode_json(h, "header")?,
            claims: decode_json(p, "payload")?,
            signing_input: format!("{h}.{p}"),
            signature: b64url_decode(s).ok_or("the JWT signature is not base64url")?,
        })
    }

    /// The header's algorithm, if it is one Flare accepts.
    pub fn alg(&self) -> Result<Alg, String> {
        match self.header.get("alg").and_then(Json::as_str) {
            Some("RS384") => Ok(Alg::Rs384),
            Some("ES384") => Ok(Alg::Es384),
            Some(other) => Err(format!("alg {other} is not accepted (RS384 or ES384)")),
            None => Err("the JWT header has no alg".into()),
        }
    }

    /// Verifies the signature with `jwk` (which must fit the algorithm).
    pub async fn verify<P: Platform>(
        &self,
        platform: &P,
        alg: Alg,
        jwk: &Json,
    ) -> Result<bool, PlatformError> {
        if !alg.fits(jwk) {
            return Ok(false);
        }
        platform
            .verify_signature(alg, jwk, self.signing_input.as_bytes(), &self.signature)
            .await
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Json::as_str)
    }

    /// A numeric-date claim, in seconds.
    pub fn claim_secs(&self, name: &str) -> Option<i64> {
        self.claims
            .get(name)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    }
}

/// Signs `claims` as an RS256 JWT with the server's key (the platform's).
pub async fn sign_rs256<P: Platform>(
    platform: &P,
    kid: &str,
    claims: &Json,
) -> Result<String, PlatformError> {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = platform.sign_rs256(input.as_bytes()).await?;
    Ok(format!("{input}.{}", b64url(&sig)))
}

/// The RFC 7638 thumbprint of an RSA public JWK: Flare's `kid`.
pub fn rsa_thumbprint(jwk: &Json) -> String {
    use sha2::{Digest, Sha256};
    let e = jwk.get("e").and_then(Json::as_str).unwrap_or_default();
    let n = jwk.get("n").and_then(Json::as_str).unwrap_or_default();
    // Members in lexicographic order, no whitespace (RFC 7638 §3).
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    b64url(&Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(v: &Json) -> String {
        b64url(v.to_string().as_bytes())
    }

    #[test]
    fn parses_and_refuses_unaccepted_algorithms() {
        let t = format!(
            "{}.{}.{}",
            part(&json!({"alg":"none"})),
            part(&json!({"iss":"a"})),
            ""
        );
        let jws = Jws::parse(&t).unwrap();
        assert!(jws.alg().is_err());
        assert_eq!(jws.claim_str("iss"), Some("a"));
        let hs = format!("{}.{}.c2ln", part(&json!({"alg":"HS384"})), part(&json!({})));
        assert!(Jws::parse(&hs).unwrap().alg().unwrap_err().contains("HS384"));
        assert!(Jws::parse("a.b").is_err());
        assert!(Jws::parse("!!.e30.").is_err());
        assert!(
            Jws::parse(&format!("{}.W10.", part(&json!({"alg":"RS384"})))).is_err(),
            "claims must be an object"
        );
    }

    #[test]
    fn key_types_must_fit_the_algorithm() {
        let rsa = json!({"kty":"RSA","n":"AQAB","e":"AQAB"});
        let ec = json!({"kty":"EC","crv":"P-384","x":"a","y":"b"});
        let ec256 = json!({"kty":"EC","crv":"P-256","x":"a","y":"b"});
        assert!(Alg::Rs384.fits(&rsa) && !Alg::Rs384.fits(&ec));
        assert!(Alg::Es384.fits(&ec) && !Alg::Es384.fits(&rsa) && !Alg::Es384.fits(&ec256));
        assert!(!Alg::Rs384.fits(&json!({"kty":"oct","k":"c2VjcmV0"})));
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let jwk = json!({"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            rsa_thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}

//! PKCE (RFC 7636, S256 only) and the `state` / `nonce` values, from random
//! bytes the caller draws (WebCrypto `getRandomValues` in the browser) and a
//! SHA-256 digest the caller computes (WebCrypto `subtle.digest`).

use crate::base64url;

/// Random bytes behind each verifier, `state` and `nonce`: 256 bits (the
/// SMART guide asks for at least 128 bits of entropy in `state`).
pub const RANDOM_BYTES: usize = 32;

/// The code verifier: 43 base64url characters from 32 random bytes.
pub fn verifier(random: &[u8; RANDOM_BYTES]) -> String {
    base64url::encode(random)
}

/// The S256 challenge: base64url of SHA-256 of the verifier's ASCII bytes.
pub fn challenge(sha256_of_verifier: &[u8]) -> String {
    base64url::encode(sha256_of_verifier)
}

/// An opaque, unguessable token for `state` or `nonce`.
pub fn random_token(random: &[u8; RANDOM_BYTES]) -> String {
    base64url::encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// RFC 7636 Appendix B.
    #[test]
    fn rfc7636_appendix_b() {
        let random = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105,
            214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let v = verifier(&random);
        assert_eq!(v, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            challenge(&Sha256::digest(v.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn tokens_carry_256_bits_in_43_characters() {
        let t = random_token(&[0xff; RANDOM_BYTES]);
        assert_eq!(t.len(), 43);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}

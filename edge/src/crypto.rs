//! Small cryptographic helpers over [`Platform`]: random tokens, hashes of
//! secrets, password hashing, and constant-time comparison. Must not touch:
//! requests, storage.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::platform::{Platform, PlatformError};

/// PBKDF2 iterations: the most deployed Workers allow (WebCrypto refuses
/// more than 100,000 there, while local workerd does not; see TOOLCHAIN.md).
pub const PBKDF2_ITERATIONS: u32 = 100_000;
/// The production ceiling, enforced here so local runs fail where production would.
pub const PBKDF2_MAX_ITERATIONS: u32 = 100_000;

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (padding tolerated).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// A random token of `bytes` CSPRNG bytes, base64url.
pub fn random_token<P: Platform>(platform: &P, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    platform.random_bytes(&mut buf);
    b64url(&buf)
}

/// SHA-256 of a secret, base64url: how tokens, codes and secrets are stored.
pub fn sha256_b64(s: &str) -> String {
    b64url(&Sha256::digest(s.as_bytes()))
}

/// PKCE S256: `BASE64URL(SHA256(verifier))`.
pub fn pkce_s256(verifier: &str) -> String {
    sha256_b64(verifier)
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The vendor's password rule: at least 8 characters with an upper-case
/// letter, a lower-case letter, a digit and a symbol. `Err` says what is missing.
pub fn check_password_rule(password: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    if password.chars().count() < 8 {
        missing.push("at least 8 characters");
    }
    if !password.chars().any(char::is_uppercase) {
        missing.push("an upper-case letter");
    }
    if !password.chars().any(char::is_lowercase) {
        missing.push("a lower-case letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        missing.push("a symbol");
    }
    if password.len() > 256 {
        return Err("a password has at most 256 bytes".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("the password needs {}", missing.join(", ")))
    }
}

/// Hashes a password: `pbkdf2-sha256$iterations$salt$hash`, so the scheme and
/// count can be raised later without invalidating stored hashes.
pub async fn hash_password<P: Platform>(platform: &P, password: &str) -> Result<String, PlatformError> {
    let mut salt = [0u8; 16];
    platform.random_bytes(&mut salt);
    let hash = platform
        .pbkdf2_sha256(password.as_bytes(), &salt, PBKDF2_ITERATIONS)
        .await?;
    Ok(format!(
        "pbkdf2-sha256${PBKDF2_ITERATIONS}${}${}",
        b64url(&salt),
        b64url(&hash)
    ))
}

/// Checks a password against a stored hash.
pub async fn verify_password<P: Platform>(
    platform: &P,
    password: &str,
    stored: &str,
) -> Result<bool, String> {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return Err("unknown password hash format".into());
    };
    if *scheme != "pbkdf2-sha256" {
        return Err(format!("unknown password scheme {scheme}"));
    }
    let iterations: u32 = iterations.parse().map_err(|_| "bad iteration count")?;
    if iterations > PBKDF2_MAX_ITERATIONS {
        return Err(format!(
            "{iterations} PBKDF2 iterations exceed the deployed limit"
        ));
    }
    let (Some(salt), Some(hash)) = (b64url_decode(salt), b64url_decode(hash)) else {
        return Err("bad password hash encoding".into());
    };
    let got = platform
        .pbkdf2_sha256(password.as_bytes(), &salt, iterations)
        .await
        .map_err(|e| e.to_string())?;
    Ok(constant_time_eq(&got, &hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rule_names_what_is_missing() {
        assert!(check_password_rule("Flare-demo-2026").is_ok());
        assert!(check_password_rule("Aa1!aaaa").is_ok());
        let e = check_password_rule("short").unwrap_err();
        assert!(
            e.contains("8 characters")
                && e.contains("upper-case")
                && e.contains("digit")
                && e.contains("symbol")
        );
        assert!(check_password_rule("alllowercase1!")
            .unwrap_err()
            .contains("upper-case"));
        assert!(check_password_rule("NoSymbol123").unwrap_err().contains("symbol"));
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn iterations_stay_within_the_deployed_limit() {
        const { assert!(PBKDF2_ITERATIONS <= PBKDF2_MAX_ITERATIONS) };
    }
}

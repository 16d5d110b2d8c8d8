//! National Provider Identifier check digits.
//!
//! An NPI is ten digits; the last is a Luhn check digit computed over the
//! first nine prefixed with `80840` (the ISO 7812 issuer prefix for US health
//! applications), as CMS specifies.

/// Luhn check digit of `80840` followed by `first9` (nine ASCII digits):
/// the server's own rule (`flare_core::identity`), so what the generator
/// makes the admin API accepts.
///
/// Returns `None` when `first9` is not exactly nine decimal digits.
///
/// ```
/// assert_eq!(flare_synth::npi_check_digit("123456789"), Some(3));
/// ```
pub fn npi_check_digit(first9: &str) -> Option<u8> {
    flare_core::identity::npi_check_digit(first9)
}

/// True when `npi` is ten digits whose last digit is its valid check digit.
///
/// ```
/// assert!(flare_synth::is_valid_npi("1234567893"));
/// assert!(!flare_synth::is_valid_npi("1234567890"));
/// ```
pub fn is_valid_npi(npi: &str) -> bool {
    npi.len() == 10
        && npi.bytes().all(|b| b.is_ascii_digit())
        && npi_check_digit(&npi[..9]).is_some_and(|c| npi.as_bytes()[9] == b'0' + c)
}

/// The ten-digit NPI made of `first9` and its check digit.
///
/// # Panics
///
/// When `first9` is not nine decimal digits.
#[allow(
    clippy::expect_used,
    reason = "documented panic: callers build the prefix from digits"
)]
pub fn npi_from_prefix(first9: &str) -> String {
    let check = npi_check_digit(first9).expect("an NPI prefix is nine decimal digits");
    format!("{first9}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // The example NPI from the CMS check-digit document.
        assert!(is_valid_npi("1234567893"));
        assert!(is_valid_npi(&npi_from_prefix("987654321")));
        assert!(!is_valid_npi("123456789"));
        assert!(!is_valid_npi("12345678a3"));
        assert_eq!(npi_check_digit("12345678"), None);
    }
}

//! Who a practice is, as the public documents name it: its NPI and postal
//! address (what the federal rule on publishing service base URLs and SMART
//! App Launch 2.2's User-access Brands require of each Organization).

use serde_json::{json, Value as Json};

/// The FHIR identifier system of the US National Provider Identifier.
pub const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";

/// A National Provider Identifier: ten digits whose last is the Luhn check
/// digit of the other nine prefixed with `80840` (CMS's NPI check digit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npi(String);

impl Npi {
    /// The NPI in `s`, or why it is not one.
    pub fn parse(s: &str) -> Result<Npi, String> {
        if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("NPI {s:?} is not ten digits"));
        }
        if npi_check_digit(&s[..9]).map(|c| b'0' + c) != Some(s.as_bytes()[9]) {
            return Err(format!("NPI {s} fails its check digit"));
        }
        Ok(Npi(s.to_string()))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As a FHIR Identifier.
    pub fn identifier(&self) -> Json {
        json!({"system": NPI_SYSTEM, "value": self.0})
    }
}

/// The check digit of an NPI whose first nine digits are `first9`: the
/// Luhn check digit of `80840` followed by them; `None` unless `first9` is
/// nine decimal digits.
pub fn npi_check_digit(first9: &str) -> Option<u8> {
    if first9.len() != 9 || !first9.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // From the right of the payload, every other digit doubled (the check
    // digit would take the rightmost, undoubled, position).
    let sum: u32 = format!("80840{first9}")
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match i % 2 {
                0 => (d * 2) / 10 + (d * 2) % 10,
                _ => d,
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// A postal address with what the rule needs to find the place: street
/// lines, city, state and postal code (country defaults to US).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalAddress {
    /// Street lines, at least one.
    pub line: Vec<String>,
    /// City.
    pub city: String,
    /// State (two-letter code in the US).
    pub state: String,
    /// ZIP or postal code.
    pub postal_code: String,
    /// Country (ISO 3166 code; `US` when not given).
    pub country: String,
}

impl PostalAddress {
    /// The address in a FHIR Address JSON object, or what it lacks.
    pub fn parse(v: &Json) -> Result<PostalAddress, String> {
        let Some(o) = v.as_object() else {
            return Err("address must be a FHIR Address object".into());
        };
        let text = |k: &str| {
            o.get(k)
                .and_then(Json::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 200)
                .map(str::to_string)
        };
        let line: Vec<String> = o
            .get("line")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.len() <= 200)
            .map(str::to_string)
            .collect();
        let mut missing = Vec::new();
        if line.is_empty() || line.len() > 4 {
            missing.push("line (1 to 4 street lines)");
        }
        let (city, state, postal_code) = (text("city"), text("state"), text("postalCode"));
        if city.is_none() {
            missing.push("city");
        }
        if state.is_none() {
            missing.push("state");
        }
        if postal_code.is_none() {
            missing.push("postalCode");
        }
        match (city, state, postal_code, missing.is_empty()) {
            (Some(city), Some(state), Some(postal_code), true) => Ok(PostalAddress {
                line,
                city,
                state,
                postal_code,
                country: text("country").unwrap_or_else(|| "US".into()),
            }),
            _ => Err(format!("address lacks {}", missing.join(", "))),
        }
    }

    /// As a FHIR Address.
    pub fn to_fhir(&self) -> Json {
        json!({"use": "work", "type": "physical", "line": self.line, "city": self.city,
            "state": self.state, "postalCode": self.postal_code, "country": self.country})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npis_are_ten_digits_with_their_check_digit() {
        // CMS's example: 123456789 has check digit 3.
        assert!(Npi::parse("1234567893").is_ok());
        assert!(Npi::parse("1234567890").is_err());
        assert!(Npi::parse("123456789").is_err());
        assert!(Npi::parse("12345678a3").is_err());
        assert_eq!(
            Npi::parse("1234567893").map(|n| n.identifier()),
            Ok(json!({"system": NPI_SYSTEM, "value": "1234567893"}))
        );
    }

    #[test]
    fn an_address_needs_street_city_state_and_postal_code() {
        let ok = json!({"line": ["1 Main St"], "city": "Springfield", "state": "IL", "postalCode": "62701"});
        let a = PostalAddress::parse(&ok).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.country, "US");
        assert_eq!(a.to_fhir()["postalCode"], "62701");
        let e = PostalAddress::parse(&json!({"city": "Springfield"})).unwrap_err();
        assert!(
            e.contains("line") && e.contains("state") && e.contains("postalCode"),
            "{e}"
        );
        assert!(PostalAddress::parse(&json!("1 Main St")).is_err());
    }
}

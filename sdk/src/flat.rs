//! Flat JSON objects carried across the wasm boundary as form strings.
//!
//! The browser layer walks the objects `JSON.parse` returns (discovery
//! documents, token responses, id_token claims, JWKS keys) and hands the
//! members the protocol reads to Rust as `application/x-www-form-urlencoded`
//! text: strings as they are, numbers and booleans as JS prints them, arrays
//! as repeated names, `null` and nested objects left out. [`Flat`] reads that
//! text through the same [`Json`] view the native code uses, so the checks
//! (discovery, token responses, id_token claims, key choice) are the very
//! functions the native tests exercise, and no JSON parser is linked into
//! the wasm.

use crate::json::Json;

/// The decoded pairs of one flat object.
pub type Pairs = Vec<(String, String)>;

/// A flat object, or the value(s) of one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flat<'a> {
    /// The object.
    Object(&'a [(String, String)]),
    /// A member: one value, or the elements of an array.
    Values(Vec<&'a str>),
}

impl<'a> Flat<'a> {
    /// A view of decoded pairs.
    pub fn of(pairs: &'a [(String, String)]) -> Flat<'a> {
        Flat::Object(pairs)
    }
}

/// Decodes the form text of a flat object.
pub fn pairs(text: &str) -> Pairs {
    crate::form::decode(text)
}

/// Reads a number as JS prints it (`3600`, `-2`, `1.5`); exponents are not
/// produced for the values the protocol reads (times, lifetimes).
pub fn number(text: &str) -> Option<f64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value = 0.0;
    for b in whole.bytes() {
        value = value * 10.0 + f64::from(b - b'0');
    }
    let mut scale = 0.1;
    for b in fraction.bytes() {
        value += f64::from(b - b'0') * scale;
        scale /= 10.0;
    }
    Some(if negative { -value } else { value })
}

impl Json for Flat<'_> {
    fn member(&self, key: &str) -> Option<Self> {
        match self {
            Flat::Object(pairs) => {
                let mut values = Vec::new();
                for (k, v) in pairs.iter() {
                    if k == key {
                        values.push(v.as_str());
                    }
                }
                (!values.is_empty()).then_some(Flat::Values(values))
            }
            Flat::Values(_) => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Flat::Values(v) if v.len() == 1 => Some(v[0].to_string()),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Flat::Values(v) if v.len() == 1 => number(v[0]),
            _ => None,
        }
    }

    fn boolean(&self) -> Option<bool> {
        match self {
            Flat::Values(v) if v.len() == 1 && v[0] == "true" => Some(true),
            Flat::Values(v) if v.len() == 1 && v[0] == "false" => Some(false),
            _ => None,
        }
    }

    fn elements(&self) -> Vec<Self> {
        match self {
            Flat::Values(v) => v.iter().map(|s| Flat::Values(vec![s])).collect(),
            Flat::Object(_) => Vec::new(),
        }
    }

    fn members(&self) -> Vec<(String, Self)> {
        match self {
            Flat::Object(pairs) => pairs
                .iter()
                .map(|(k, v)| (k.clone(), Flat::Values(vec![v.as_str()])))
                .collect(),
            Flat::Values(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{text_at, texts_at};

    #[test]
    fn members_strings_arrays_numbers_and_booleans() {
        let p = pairs("a=x&list=1&list=2&n=3600&f=1.25&neg=-2&t=true&one=S256");
        let o = Flat::of(&p);
        assert_eq!(text_at(&o, "a").as_deref(), Some("x"));
        assert_eq!(text_at(&o, "list"), None);
        assert_eq!(texts_at(&o, "list"), vec!["1", "2"]);
        assert_eq!(texts_at(&o, "one"), vec!["S256"]);
        assert_eq!(o.member("n").and_then(|v| v.number()), Some(3600.0));
        assert_eq!(o.member("f").and_then(|v| v.number()), Some(1.25));
        assert_eq!(o.member("neg").and_then(|v| v.number()), Some(-2.0));
        assert_eq!(o.member("t").and_then(|v| v.boolean()), Some(true));
        assert_eq!(o.member("a").and_then(|v| v.boolean()), None);
        assert_eq!(o.member("missing"), None);
        assert_eq!(number("1e3"), None);
        assert_eq!(number(""), None);
        assert_eq!(number("-"), None);
    }
}

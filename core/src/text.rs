//! String normalization for FHIR string search: case- and accent-insensitive.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Folds `s` for string search: canonical decomposition, combining marks
/// removed, lower-cased, runs of white space collapsed to one space.
/// `"  José  Ñúñez"` becomes `"jose nunez"`.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn folds_case_accents_and_space() {
        assert_eq!(normalize("  José  Ñúñez "), "jose nunez");
        assert_eq!(normalize("MÜLLER"), "muller");
        assert_eq!(normalize("Ǆ"), "ǆ");
        assert_eq!(normalize(""), "");
    }
}

//! `application/x-www-form-urlencoded` helpers: token request bodies, URL
//! query strings, and the compact records the SDK keeps in storage.

/// Encodes pairs as a form/query string.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(form_urlencoded::byte_serialize(k.as_bytes()));
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(v.as_bytes()));
    }
    out
}

/// Decodes a form/query string into pairs.
pub fn decode(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name` among `pairs`.
pub fn first(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The query string of a URL (between `?` and `#`), empty when none.
pub fn query_of(url: &str) -> &str {
    let no_fragment = url.split('#').next().unwrap_or("");
    no_fragment.split_once('?').map(|(_, q)| q).unwrap_or("")
}

/// `url` with `pairs` appended to its query.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return url.to_string();
    }
    let sep = if url.contains('?') { "&" } else { "?" };
    cat(&[url, sep, &encode(pairs)])
}

/// The concatenation of `parts`: one non-generic routine for the crate's
/// messages and URLs, instead of `concat()`/`format!` per call site.
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// `parts` joined with `sep`.
pub fn join(parts: &[&str], sep: &str) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(p);
    }
    out
}

/// A non-negative decimal integer (ASCII digits only, at most 15 so it is
/// exact as an `f64`), or `None`: one small parser instead of `str::parse`
/// per integer type.
pub fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n = 0i64;
    for b in text.bytes() {
        n = n * 10 + i64::from(b - b'0');
    }
    Some(n)
}

/// An integral number as decimal text (fractions dropped), without
/// `core::fmt`, which the wasm build avoids.
pub fn integer(value: f64) -> String {
    let mut n = value as i64;
    let negative = n < 0;
    let mut digits = Vec::with_capacity(20);
    loop {
        digits.push(b'0' + (n % 10).unsigned_abs() as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        digits.push(b'-');
    }
    digits.iter().rev().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip() {
        let q = encode(&[
            ("scope", "patient/*.rs openid"),
            ("redirect_uri", "http://a/b?c=d"),
        ]);
        assert_eq!(
            q,
            "scope=patient%2F*.rs+openid&redirect_uri=http%3A%2F%2Fa%2Fb%3Fc%3Dd"
        );
        let pairs = decode(&q);
        assert_eq!(first(&pairs, "scope").as_deref(), Some("patient/*.rs openid"));
    }

    #[test]
    fn query_of_ignores_fragment() {
        assert_eq!(query_of("http://a/?x=1#y=2"), "x=1");
        assert_eq!(query_of("http://a/#y=2"), "");
        assert_eq!(with_query("http://a/p", &[("a", "1")]), "http://a/p?a=1");
        assert_eq!(with_query("http://a/p?z=0", &[("a", "1")]), "http://a/p?z=0&a=1");
    }
}

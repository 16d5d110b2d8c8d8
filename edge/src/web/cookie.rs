//! Cookies: reading one from a request and writing `Set-Cookie` values.

use crate::http::HttpRequest;

/// Cookie holding the browser's CSRF token (double-submitted by every form).
pub const CSRF_COOKIE: &str = "flare_csrf";
/// Cookie holding the sign-in session id.
pub const SESSION_COOKIE: &str = "flare_session";

/// A cookie's value.
pub fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure over https.
pub fn set_cookie(req: &HttpRequest, name: &str, value: &str, max_age_s: i64) -> String {
    let secure = if req.url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::form::field;

    #[test]
    fn cookies_and_repeated_fields() {
        let req = HttpRequest::new("GET", "http://x/".parse().unwrap())
            .header("cookie", "a=1; flare_csrf=abc; b=")
            .header("cookie", "flare_session=s1");
        assert_eq!(cookie(&req, CSRF_COOKIE), Some("abc"));
        assert_eq!(cookie(&req, SESSION_COOKIE), Some("s1"));
        assert_eq!(cookie(&req, "b"), None);
        let pairs = vec![
            ("code".to_string(), "1".to_string()),
            ("code".to_string(), "2".to_string()),
        ];
        assert!(field(&pairs, "code").is_err());
        assert_eq!(field(&pairs, "scope").unwrap(), None);
    }
}

//! Form bodies (`application/x-www-form-urlencoded`): the token endpoint's,
//! the authorization pages' and every page's POSTs.

use crate::http::error::ApiError;
use crate::http::HttpRequest;

/// The decoded `application/x-www-form-urlencoded` body.
pub fn form(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The single value of a form field; `Err` if it is repeated (RFC 6749 §3.1).
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::oauth(
            400,
            "invalid_request",
            format!("parameter {name} is repeated"),
        ));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// Requires a form body for a POST endpoint.
pub fn require_form(req: &HttpRequest) -> Result<(), ApiError> {
    let ct = req.header_value("content-type").unwrap_or_default();
    if ct
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    {
        Ok(())
    } else {
        Err(ApiError::oauth(
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ))
    }
}

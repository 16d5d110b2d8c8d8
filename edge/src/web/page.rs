//! The page frame of every browser page (authorize, portal, EHR, developer
//! portal, practice administration) and the HTML responses that carry it.
//!
//! Pages are [`maud`] templates: every interpolated value is escaped by
//! construction, and only trusted constants (the stylesheet) are inserted
//! unescaped. The shared pieces (forms with CSRF, sign-in, alerts) live in
//! [`crate::web::components`].

use maud::{html as markup, Markup, PreEscaped};

use crate::http::error::ApiError;
use crate::http::HttpResponse;

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1b1f24}\
main{max-width:48rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input[type=text],input[type=password],input[type=search]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #6b7785;border-radius:4px;font-size:1rem}\
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:4px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;margin:.75rem .5rem 0 0;cursor:pointer}\
button.secondary{background:#fff;color:#0b57d0}button:focus,input:focus{outline:3px solid #f2a900;outline-offset:2px}\
.error{background:#fde8e8;border:1px solid #b3261e;color:#8c1d18;padding:.6rem;border-radius:4px}\
.muted{color:#4a5561}fieldset{border:1px solid #c9d1d9;border-radius:6px;margin:.75rem 0;padding:.5rem 1rem}\
.scope{display:flex;gap:.5rem;align-items:flex-start;margin:.4rem 0;font-weight:400}.granular{margin-left:1.75rem}\
textarea,select{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #6b7785;border-radius:4px;font-size:1rem;font-family:inherit}\
input[type=email],input[type=url]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #6b7785;border-radius:4px;font-size:1rem}\
textarea:focus,select:focus,a:focus{outline:3px solid #f2a900;outline-offset:2px}a{color:#0b57d0}\
.status{display:inline-block;padding:.15rem .5rem;border-radius:4px;font-weight:600;border:1px solid}\
.status-pending{background:#fff4d6;color:#6b4e00;border-color:#b38600}.status-approved{background:#e3f4e6;color:#1e5b2a;border-color:#2e7d3c}\
.status-rejected,.status-disabled{background:#fde8e8;color:#8c1d18;border-color:#b3261e}\
.secret{background:#e3f4e6;border:1px solid #2e7d3c;padding:.6rem;border-radius:4px}.inline{display:inline}\
.rule li{list-style:none}.rule li.ok::before{content:\"\\2713  \";color:#1e5b2a}.rule li.missing::before{content:\"\\2717  \";color:#8c1d18}\
nav{display:flex;gap:1rem;flex-wrap:wrap;align-items:center;margin-bottom:1rem}nav button{margin:0}\
h2{font-size:1.15rem;margin-top:1.5rem}h3{font-size:1rem}dt{font-weight:600;margin-top:.5rem}dd{margin-left:1rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #dde3e9;vertical-align:top}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}\
code.scopes{word-break:normal;overflow-wrap:anywhere}\
main:has(iframe),main:has(.ehr-top){max-width:80rem}main:has(table){max-width:64rem}details summary{cursor:pointer;color:#0b57d0}.ehr-top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem 1rem}\
.ehr-top h1{margin:0}form.inline{display:inline}form.inline button{margin:0 0 0 .5rem;padding:.3rem .8rem}\
.ehr-banner{background:#e8eef7;border-left:6px solid #0b57d0;padding:.6rem 1rem;margin:1rem 0;border-radius:4px}.big{font-size:1.2rem}\
ul.patients{columns:2 18rem;padding-left:1.2rem}ul.patients a[aria-current]{font-weight:700}a{color:#0b57d0}\
iframe{width:100%;height:80vh;min-height:36rem;border:1px solid #6b7785;border-radius:6px;background:#fff}";

/// A complete page: doctype, head (title, stylesheet) and `body` in `<main>`.
pub fn layout(title: &str, body: Markup) -> Markup {
    markup! {
        // Lower-case, as the pages have always been written.
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Flare" }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

/// An HTML response that is never cached or framed by other origins.
pub fn html(status: u16, title: &str, body: Markup) -> HttpResponse {
    HttpResponse::new(
        status,
        "text/html; charset=utf-8",
        layout(title, body).into_string(),
    )
    .with_header("cache-control", "no-store")
    .with_header("x-content-type-options", "nosniff")
    .with_header("referrer-policy", "no-referrer")
    // Framing only by this origin (the EHR page that launches apps in an
    // iframe): no other site can overlay the consent page (clickjacking).
    .with_header("x-frame-options", "SAMEORIGIN")
    .with_header("content-security-policy", CSP)
}

/// The pages' content security policy: no scripts, forms to this origin (and
/// the redirects they cause to apps), framed only by this origin.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'self'";

/// `page` with a CSP that lets its frames show `origins` and this origin
/// (the EHR simulator's launch page frames the launched app, which goes to
/// this server's `/authorize` and back to its redirect URI).
pub fn with_frame_src(mut page: HttpResponse, origins: &[String]) -> HttpResponse {
    page.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("content-security-policy"));
    // An origin is scheme://host[:port]; anything else is not put into the header.
    let safe = |o: &&String| {
        o.starts_with("http")
            && o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'.' | b'-' | b'[' | b']'))
    };
    let mut sources = vec!["'self'".to_string()];
    sources.extend(origins.iter().filter(safe).cloned());
    sources.dedup();
    page.with_header(
        "content-security-policy",
        &format!("{CSP}; frame-src {}", sources.join(" ")),
    )
}

/// An HTML page that also loads same-origin scripts (`/developer/*.js`):
/// progressive enhancement only, every page works without them.
pub fn html_with_scripts(status: u16, title: &str, body: Markup) -> HttpResponse {
    let mut r = html(status, title, body);
    for (k, v) in r.headers.iter_mut() {
        if k == "content-security-policy" {
            *v = v.replace("default-src 'none';", "default-src 'none'; script-src 'self';");
        }
    }
    r
}

/// A 303 See Other (after a form post).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse {
        status: 303,
        headers: vec![
            ("location".into(), location.into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Vec::new(),
        object: None,
    }
}

/// An error page (no redirect: the client or redirect URI could not be trusted).
pub fn error_page(status: u16, message: &str) -> HttpResponse {
    html(
        status,
        "Something went wrong",
        markup! {
            h1 { "Something went wrong" }
            p class="error" role="alert" { (message) }
        },
    )
}

/// The response of an error: [`ApiError::into_response`] with an HTML
/// error page for the page-shaped errors.
pub fn error_response(e: ApiError) -> HttpResponse {
    e.into_response(error_page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_escapes_the_title_and_keeps_the_doctype() {
        let page = layout("<b>&", markup! { p { "x" } }).into_string();
        assert!(page.starts_with("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"));
        assert!(page.contains("<title>&lt;b&gt;&amp; · Flare</title>"));
        assert!(page.ends_with("<main><p>x</p></main></body></html>"));
    }
}

//! The pieces every page is built from: a form that carries its CSRF token,
//! the sign-in form, an alert, a hidden field and a status badge. They are
//! [`maud`] templates, so every value they show is escaped by construction.
//!
//! Stable field names (`csrf`, `request`, `username`, `password`) let
//! scripts, tests and assistive tech drive the forms.

use maud::{html, Markup};

use crate::store::auth::ClientStatus;

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

/// A form posted to this origin that carries the `csrf` token
/// (double-submitted with the `flare_csrf` cookie), after the authorization
/// `request` it continues if any: `Post::to(action, csrf).form(fields)`.
#[derive(Debug, Clone, Copy)]
pub struct Post<'a> {
    action: &'a str,
    csrf: &'a str,
    request: Option<&'a str>,
    inline: bool,
}

impl<'a> Post<'a> {
    /// A form posted to `action` with the CSRF token `csrf`.
    pub fn to(action: &'a str, csrf: &'a str) -> Self {
        Post {
            action,
            csrf,
            request: None,
            inline: false,
        }
    }
    /// Also carries the `/authorize` request `id` (before the token).
    pub fn request(self, id: Option<&'a str>) -> Self {
        Post { request: id, ..self }
    }
    /// Shown in a line of text (`class="inline"`: a button beside others).
    pub fn inline(self) -> Self {
        Post { inline: true, ..self }
    }
    /// The form with its hidden fields, then `fields`.
    pub fn form(&self, fields: Markup) -> Markup {
        html! {
            form method="post" action=(self.action) class=[self.inline.then_some("inline")] {
                @if let Some(r) = self.request { (hidden("request", r)) }
                (hidden("csrf", self.csrf))
                (fields)
            }
        }
    }
}

/// The first letter of an error message in upper case: messages shared
/// with the JSON API start in lower case, but a leading identifier
/// (`jwks.keys[0]`, `client_name`) stays as is.
fn sentence(e: &str) -> String {
    let first_word = e.split(' ').next().unwrap_or_default();
    if first_word.chars().all(|c| c.is_ascii_lowercase()) {
        let mut chars = e.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    } else {
        e.to_string()
    }
}

/// An alert paragraph for a form error (nothing without one).
pub fn alert(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            p class="error" role="alert" { (sentence(e)) }
        }
    }
}

/// A confirmation paragraph (`role="status"`).
pub fn notice(message: &str) -> Markup {
    html! { p class="secret" role="status" { (message) } }
}

/// The name a sign-in form asks for.
#[derive(Debug, Clone, Copy)]
pub enum Identity<'a> {
    /// A user's `username` (patients, clinicians, practice administrators).
    Username,
    /// A developer's `email`, with the value typed before (kept after an error).
    Email(&'a str),
}

/// A sign-in form posted to `action`: an error (if any) that the name field
/// refers to, the CSRF token and an optional authorization `request`, the
/// name and password fields and the submit button.
pub struct SignIn<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// The authorization request the sign-in continues (`/authorize`).
    pub request: Option<&'a str>,
    /// The name asked for.
    pub identity: Identity<'a>,
    /// The error of the previous attempt.
    pub error: Option<&'a str>,
}

/// Renders a [`SignIn`].
pub fn sign_in(s: &SignIn<'_>) -> Markup {
    let described = s.error.map(|_| "signin-error");
    html! {
        @if let Some(e) = s.error {
            p class="error" role="alert" id="signin-error" { (sentence(e)) }
        }
        (Post::to(s.action, s.csrf).request(s.request).form(html! {
            @match s.identity {
                Identity::Username => {
                    label for="username" { "Username" }
                    input type="text" id="username" name="username" autocomplete="username" required autofocus
                        aria-describedby=[described];
                }
                Identity::Email(email) => {
                    label for="email" { "E-mail address" }
                    input type="email" id="email" name="email" value=(email) autocomplete="username" required autofocus
                        aria-describedby=[described];
                }
            }
            label for="password" { "Password" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }))
    }
}

/// The status of an app registration as its developer reads it.
pub fn status_label(status: ClientStatus) -> &'static str {
    match status {
        ClientStatus::Pending => "Pending Review",
        ClientStatus::Approved => "Approved",
        ClientStatus::Rejected => "Rejected",
        ClientStatus::Disabled => "Disabled",
    }
}

/// A registration's status badge (`status-pending`, `status-approved`, …).
pub fn status_badge(status: ClientStatus) -> Markup {
    html! { span class={ "status status-" (status.as_str()) } { (status_label(status)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_fields_keep_their_names() {
        assert_eq!(
            hidden("a", "\"onload=<x>").into_string(),
            "<input type=\"hidden\" name=\"a\" value=\"&quot;onload=&lt;x&gt;\">"
        );
        assert_eq!(
            alert(Some("client_name is <b>")).into_string(),
            "<p class=\"error\" role=\"alert\">client_name is &lt;b&gt;</p>"
        );
        assert_eq!(
            alert(Some("bad & worse")).into_string(),
            "<p class=\"error\" role=\"alert\">Bad &amp; worse</p>"
        );
        assert_eq!(alert(None).into_string(), "");
        assert_eq!(
            Post::to("/x", "t").inline().form(html! { button { "Go" } }).into_string(),
            "<form method=\"post\" action=\"/x\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"t\"><button>Go</button></form>"
        );
        assert_eq!(
            Post::to("/y", "t").request(Some("r")).form(html! {}).into_string(),
            "<form method=\"post\" action=\"/y\"><input type=\"hidden\" name=\"request\" value=\"r\"><input type=\"hidden\" name=\"csrf\" value=\"t\"></form>"
        );
    }

    #[test]
    fn the_sign_in_form_points_at_its_error() {
        let form = sign_in(&SignIn {
            action: "/authorize/signin",
            csrf: "c",
            request: Some("r"),
            identity: Identity::Username,
            error: Some("The username or password is not right."),
        })
        .into_string();
        assert!(form.starts_with("<p class=\"error\" role=\"alert\" id=\"signin-error\">The username"));
        assert!(form.contains("<form method=\"post\" action=\"/authorize/signin\"><input type=\"hidden\" name=\"request\" value=\"r\"><input type=\"hidden\" name=\"csrf\" value=\"c\">"));
        assert!(form.contains("<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus aria-describedby=\"signin-error\">"));
        let plain = sign_in(&SignIn {
            action: "/developer/signin",
            csrf: "c",
            request: None,
            identity: Identity::Email("a\"b"),
            error: None,
        })
        .into_string();
        assert!(plain.contains("value=\"a&quot;b\"") && !plain.contains("aria-describedby"));
        assert!(plain.ends_with("<button type=\"submit\">Sign in</button></form>"));
    }

    #[test]
    fn badges_name_the_status() {
        assert_eq!(
            status_badge(ClientStatus::Pending).into_string(),
            "<span class=\"status status-pending\">Pending Review</span>"
        );
    }
}

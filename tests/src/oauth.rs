//! OAuth 2 / SMART App Launch client pieces for the end-to-end tests: PKCE,
//! a cookie jar, a parser for the server-rendered forms, a "browser" that
//! follows redirects within the edge's origin and stops at the app's
//! redirect, JWT client assertions (RS384, ES384 and forged ones), JWKS
//! encoding of public keys, and RS256 verification of id_tokens.
//!
//! Everything here is deliberately small and strict: the HTML parser
//! understands just enough (`<form>`, `<input>`, `<button>`, quoted
//! attributes, the five common entities) to drive the pages as a browser
//! without JavaScript would.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rsa::pkcs1v15;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384};

use crate::http::{encode_pairs, Client, Req, Resp};

// ---------------------------------------------------------------- encoding

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url (padding tolerated).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// `n` random bytes as base64url.
pub fn random_string(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut buf);
    b64url(&buf)
}

/// Seconds since the epoch (the edge runs on this machine: same clock).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The query pairs of a URL (after `?`, before `#`), decoded.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = q.split('#').next().unwrap_or("");
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    query_pairs(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

// -------------------------------------------------------------------- PKCE

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// `code_verifier` (43 characters).
    pub verifier: String,
    /// `code_challenge` = base64url(SHA-256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A fresh random pair.
    pub fn new() -> Pkce {
        let verifier = random_string(32);
        Pkce {
            challenge: s256(&verifier),
            verifier,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}

/// The S256 challenge of `verifier`.
pub fn s256(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

// ------------------------------------------------------------------ cookies

/// The cookies a browser keeps for one origin (names → values; attributes
/// other than expiry are ignored, but the raw `Set-Cookie` lines are kept
/// for assertions).
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: BTreeMap<String, String>,
    /// The last `Set-Cookie` line seen for each name.
    pub raw: BTreeMap<String, String>,
}

impl CookieJar {
    /// Takes the `Set-Cookie` headers of `resp` (a `Max-Age=0` or an empty
    /// value deletes).
    pub fn absorb(&mut self, resp: &Resp) {
        self.absorb_headers(resp.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }

    /// Takes the `set-cookie` lines of response headers (lower-cased names,
    /// values) as [`CookieJar::absorb`] does: the same jar serves a browser
    /// over HTTP ([`Browser`]) and one calling the edge's app in-process
    /// (`edge/tests/common`).
    pub fn absorb_headers<'h>(&mut self, headers: impl IntoIterator<Item = (&'h str, &'h str)>) {
        for (k, line) in headers {
            if k != "set-cookie" {
                continue;
            }
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_string(), value.trim().to_string());
            let deleted = value.is_empty()
                || parts.any(|a| {
                    let a = a.trim().to_ascii_lowercase();
                    a == "max-age=0" || a.starts_with("max-age=-") || a.contains("expires=thu, 01 jan 1970")
                });
            self.raw.insert(name.clone(), line.to_string());
            if deleted {
                self.cookies.remove(&name);
            } else {
                self.cookies.insert(name, value);
            }
        }
    }

    /// A cookie's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Sets a cookie by hand (for attacks).
    pub fn set(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_string(), value.to_string());
    }

    /// Drops a cookie.
    pub fn remove(&mut self, name: &str) {
        self.cookies.remove(name);
    }

    /// The `Cookie` request header, if any cookie is held.
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

// --------------------------------------------------------------------- HTML

/// Decodes `&amp; &quot; &lt; &gt; &#39;` (and numeric `&#NN;` / `&#xNN;`).
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let decoded = match ent {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
            }
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One start or end tag.
#[derive(Debug, Clone)]
struct Tag {
    /// Lower-cased name; `/form` for an end tag.
    name: String,
    /// Attributes, names lower-cased, values decoded (`None`: no value).
    attrs: Vec<(String, Option<String>)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }
    fn has(&self, name: &str) -> bool {
        self.attrs.iter().any(|(k, _)| k == name)
    }
}

/// The tags of `html` in order (comments, scripts' contents and text skipped).
fn tags(html: &str) -> Vec<Tag> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(b.len(), |e| i + e + 3);
            continue;
        }
        let mut j = i + 1;
        let closing = j < b.len() && b[j] == b'/';
        if closing {
            j += 1;
        }
        let start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
            j += 1;
        }
        if j == start {
            i += 1;
            continue;
        }
        let name = html[start..j].to_ascii_lowercase();
        let mut attrs = Vec::new();
        // Attributes until '>'.
        loop {
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                j += 1;
            }
            if j >= b.len() || b[j] == b'>' {
                break;
            }
            let ks = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'=' && b[j] != b'>' && b[j] != b'/' {
                j += 1;
            }
            let key = html[ks..j].to_ascii_lowercase();
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b'=' {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let value = if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    let q = b[j];
                    let vs = j + 1;
                    let mut e = vs;
                    while e < b.len() && b[e] != q {
                        e += 1;
                    }
                    j = (e + 1).min(b.len());
                    &html[vs..e.min(b.len())]
                } else {
                    let vs = j;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    &html[vs..j]
                };
                attrs.push((key, Some(decode_entities(value))));
            } else if !key.is_empty() {
                attrs.push((key, None));
            }
            if ks == j {
                j += 1;
            }
        }
        out.push(Tag {
            name: if closing { format!("/{name}") } else { name.clone() },
            attrs,
        });
        i = j + 1;
        if !closing && (name == "script" || name == "style") {
            let end = format!("</{name}");
            i = html[i.min(b.len())..]
                .to_ascii_lowercase()
                .find(&end)
                .map_or(b.len(), |e| i + e);
        }
    }
    out
}

/// An `<input>` of a form.
#[derive(Debug, Clone)]
pub struct Input {
    /// `type`, lower-cased (`text` when absent).
    pub kind: String,
    /// `name`.
    pub name: String,
    /// `value` (decoded; empty when absent).
    pub value: String,
    /// `checked` is present.
    pub checked: bool,
}

/// One HTML form.
#[derive(Debug, Clone)]
pub struct Form {
    /// `method`, lower-cased.
    pub method: String,
    /// `action` (decoded, as written).
    pub action: String,
    /// Its inputs in order.
    pub inputs: Vec<Input>,
    /// Its buttons as (name, value).
    pub buttons: Vec<(String, String)>,
}

impl Form {
    /// The value of the hidden input `name`.
    pub fn hidden(&self, name: &str) -> Option<&str> {
        self.inputs
            .iter()
            .find(|i| i.kind == "hidden" && i.name == name)
            .map(|i| i.value.as_str())
    }

    /// Whether an input named `name` exists.
    pub fn has_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|i| i.name == name)
    }

    /// The checkboxes named `name`: (value, checked).
    pub fn checkboxes(&self, name: &str) -> Vec<(String, bool)> {
        self.inputs
            .iter()
            .filter(|i| i.kind == "checkbox" && i.name == name)
            .map(|i| (i.value.clone(), i.checked))
            .collect()
    }

    /// The values of the radio inputs named `name`.
    pub fn radios(&self, name: &str) -> Vec<String> {
        self.inputs
            .iter()
            .filter(|i| i.kind == "radio" && i.name == name)
            .map(|i| i.value.clone())
            .collect()
    }

    /// What a browser would send without touching anything: hidden and
    /// text inputs, checked checkboxes and radios (no button).
    pub fn submission(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|i| !i.name.is_empty())
            .filter(|i| match i.kind.as_str() {
                "checkbox" | "radio" => i.checked,
                "submit" | "button" | "image" | "reset" | "file" => false,
                _ => true,
            })
            .map(|i| (i.name.clone(), i.value.clone()))
            .collect()
    }

    /// The hidden inputs only.
    pub fn hidden_pairs(&self) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|i| i.kind == "hidden")
            .map(|i| (i.name.clone(), i.value.clone()))
            .collect()
    }
}

/// An `<input>` tag read as a form input.
fn input(t: &Tag) -> Input {
    Input {
        kind: t.attr("type").unwrap_or("text").to_ascii_lowercase(),
        name: t.attr("name").unwrap_or("").to_string(),
        value: t.attr("value").unwrap_or("").to_string(),
        checked: t.has("checked"),
    }
}

/// Every `<input>` of `html` (a page or a part of one) in order, inside a
/// form or not.
pub fn inputs(html: &str) -> Vec<Input> {
    tags(html)
        .iter()
        .filter(|t| t.name == "input")
        .map(input)
        .collect()
}

/// Every `<form>` of `html`, with the inputs and buttons up to its `</form>`.
pub fn forms(html: &str) -> Vec<Form> {
    let mut out: Vec<Form> = Vec::new();
    let mut open = false;
    for t in tags(html) {
        match t.name.as_str() {
            "form" => {
                out.push(Form {
                    method: t.attr("method").unwrap_or("get").to_ascii_lowercase(),
                    action: t.attr("action").unwrap_or("").to_string(),
                    inputs: Vec::new(),
                    buttons: Vec::new(),
                });
                open = true;
            }
            "/form" => open = false,
            "input" if open => {
                if let Some(f) = out.last_mut() {
                    f.inputs.push(input(&t));
                }
            }
            "button" if open => {
                if let Some(f) = out.last_mut() {
                    f.buttons.push((
                        t.attr("name").unwrap_or("").to_string(),
                        t.attr("value").unwrap_or("").to_string(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// The one `<form method="post">` of a page; panics (with the page) unless
/// there is exactly one.
pub fn the_form(resp: &Resp) -> Form {
    let posts: Vec<Form> = forms(&resp.body)
        .into_iter()
        .filter(|f| f.method == "post")
        .collect();
    crate::check::count();
    assert!(
        posts.len() == 1,
        "{} → {}: expected exactly one <form method=\"post\">, found {}: {}",
        resp.request,
        resp.status,
        posts.len(),
        crate::http::excerpt(&resp.body)
    );
    posts.into_iter().next().expect("one form")
}

// ------------------------------------------------------------------ browser

/// Where navigation stopped.
#[derive(Debug, Clone)]
pub enum Step {
    /// A page of the edge (any status other than a redirect, or a redirect without Location).
    Page(Resp),
    /// A redirect off the edge's origin (to the app): the absolute Location.
    Away {
        /// The `Location`.
        location: String,
        /// The redirect response.
        resp: Resp,
    },
}

impl Step {
    /// The page; panics if this is a redirect away.
    pub fn page(self) -> Resp {
        match self {
            Step::Page(r) => r,
            Step::Away { location, resp } => {
                panic!(
                    "{} redirected away to {location} where a page was expected",
                    resp.request
                )
            }
        }
    }

    /// The redirect Location; panics if this is a page.
    pub fn away(self) -> String {
        match self {
            Step::Away { location, .. } => location,
            Step::Page(r) => panic!(
                "{} answered {} where a redirect to the app was expected: {}",
                r.request,
                r.status,
                crate::http::excerpt(&r.body)
            ),
        }
    }
}

/// A cookie-keeping client without JavaScript: sends no `Authorization`,
/// follows 302/303 on the edge's origin and stops at redirects elsewhere.
#[derive(Clone)]
pub struct Browser {
    client: Client,
    /// The cookies held.
    pub jar: CookieJar,
    /// Extra headers on every request (e.g. `CF-Connecting-IP`).
    pub headers: Vec<(String, String)>,
    /// Every response seen, in order (for messages).
    pub trail: Vec<String>,
}

impl Browser {
    /// A browser for the edge of `client` (its token is not used).
    pub fn new(client: &Client) -> Browser {
        Browser {
            client: client.clone(),
            jar: CookieJar::default(),
            headers: Vec::new(),
            trail: Vec::new(),
        }
    }

    /// Adds a header to every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Browser {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.client.origin)
        } else {
            url.to_string()
        }
    }

    fn decorate<'a>(&self, mut r: Req<'a>) -> Req<'a> {
        r = r.no_auth();
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        if let Some(c) = self.jar.header() {
            r = r.header("Cookie", &c);
        }
        r
    }

    fn record(&mut self, resp: Resp) -> Resp {
        self.jar.absorb(&resp);
        self.trail.push(format!("{} → {}", resp.request, resp.status));
        resp
    }

    /// `GET url` (a path on the edge or an absolute URL), no redirect followed.
    pub fn get(&mut self, url: &str) -> Resp {
        let url = self.absolute(url);
        let resp = self.decorate(self.client.get(&url)).send();
        self.record(resp)
    }

    /// Form `POST`, no redirect followed.
    pub fn post(&mut self, url: &str, pairs: &[(String, String)]) -> Resp {
        let url = self.absolute(url);
        let req = self
            .client
            .post(&url, "application/x-www-form-urlencoded", encode_pairs(pairs));
        let resp = self.decorate(req).send();
        self.record(resp)
    }

    /// Follows 302/303 redirects on the edge's origin (at most 10) from `resp`.
    pub fn follow(&mut self, mut resp: Resp) -> Step {
        for _ in 0..10 {
            if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                return Step::Page(resp);
            }
            let Some(loc) = resp.header("location").map(str::to_string) else {
                return Step::Page(resp);
            };
            let abs = self.absolute(&loc);
            let on_edge = abs == self.client.origin || abs.starts_with(&format!("{}/", self.client.origin));
            if !on_edge {
                return Step::Away { location: abs, resp };
            }
            resp = self.get(&abs);
        }
        panic!("more than 10 redirects: {:?}", self.trail)
    }

    /// `GET url` and follow redirects.
    pub fn open(&mut self, url: &str) -> Step {
        let r = self.get(url);
        self.follow(r)
    }

    /// Posts `pairs` to the form's action and follows redirects.
    pub fn submit(&mut self, form: &Form, pairs: &[(String, String)]) -> Step {
        let action = if form.action.is_empty() {
            panic!("form without action")
        } else {
            form.action.clone()
        };
        let r = self.post(&action, pairs);
        self.follow(r)
    }
}

// ---------------------------------------------------------------------- JWT

/// The two RSA test keys (2048 bit, PKCS#8 PEM, test-only).
const RSA_PEMS: [&str; 2] = [include_str!("keys/rsa-a.pem"), include_str!("keys/rsa-b.pem")];

/// RSA test key `i` (0 or 1), parsed once.
pub fn rsa_key(i: usize) -> &'static RsaPrivateKey {
    static KEYS: [OnceLock<RsaPrivateKey>; 2] = [OnceLock::new(), OnceLock::new()];
    KEYS[i].get_or_init(|| RsaPrivateKey::from_pkcs8_pem(RSA_PEMS[i]).expect("test RSA key parses"))
}

/// The SubjectPublicKeyInfo PEM of an RSA key's public half.
pub fn rsa_public_pem(key: &RsaPrivateKey) -> String {
    RsaPublicKey::from(key)
        .to_public_key_pem(LineEnding::LF)
        .expect("public key encodes")
}

/// A fresh P-384 key.
pub fn ec_key() -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng)
}

/// `header.claims.signature` with `sign` over `header.claims`.
pub fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

/// A JWT signed RS384 with `key`, header `kid`.
pub fn sign_rs384(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS384", "typ": "JWT", "kid": kid});
    let signer = pkcs1v15::SigningKey::<Sha384>::new(key.clone());
    jwt(&header, claims, |m| signer.sign(m).to_vec())
}

/// A JWT signed RS256 with `key`, header `kid` (an algorithm clients may not use).
pub fn sign_rs256(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signer = pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    jwt(&header, claims, |m| signer.sign(m).to_vec())
}

/// Replaces the claims of a signed JWT, keeping header and signature.
pub fn tamper_claims(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts.first().copied().unwrap_or_default(),
        b64url(claims.to_string().as_bytes()),
        parts.get(2).copied().unwrap_or_default()
    )
}

/// A JWT signed ES384 (raw 96-byte r‖s signature) with `key`, header `kid`.
pub fn sign_es384(key: &p384::ecdsa::SigningKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "ES384", "typ": "JWT", "kid": kid});
    jwt(&header, claims, |m| {
        let sig: p384::ecdsa::Signature = key.sign(m);
        sig.to_bytes().to_vec()
    })
}

/// A JWT "signed" HS384 with `secret` (the key-confusion attack).
pub fn sign_hs384(secret: &[u8], kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "HS384", "typ": "JWT", "kid": kid});
    jwt(&header, claims, |m| {
        let mut mac = Hmac::<Sha384>::new_from_slice(secret).expect("any key length");
        mac.update(m);
        mac.finalize().into_bytes().to_vec()
    })
}

/// An unsigned JWT (`alg: none`, empty signature).
pub fn unsigned_jwt(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    jwt(&header, claims, |_| Vec::new())
}

/// The public JWK of an RSA key.
pub fn rsa_jwk(key: &RsaPrivateKey, kid: &str, alg: &str) -> Value {
    let public = RsaPublicKey::from(key);
    json!({"kty": "RSA", "kid": kid, "alg": alg, "use": "sig",
           "n": b64url(&public.n().to_bytes_be()), "e": b64url(&public.e().to_bytes_be())})
}

/// The public JWK of a P-384 key.
pub fn ec_jwk(key: &p384::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let x = point.x().expect("uncompressed point has x");
    let y = point.y().expect("uncompressed point has y");
    json!({"kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384", "use": "sig",
           "x": b64url(x), "y": b64url(y)})
}

/// Client-assertion claims: iss = sub = `client_id`, `aud`, exp `lifetime` s
/// from now, iat now, a random jti.
pub fn assertion_claims(client_id: &str, aud: &str, lifetime: i64) -> Value {
    let t = now();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": t + lifetime, "iat": t,
           "jti": random_string(16)})
}

/// The decoded header and claims of a JWT (no verification).
pub fn jwt_decode(token: &str) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("a JWT has 3 parts, this has {}", parts.len()));
    }
    let dec = |p: &str| -> Result<Value, String> {
        let bytes = b64url_decode(p).ok_or("part is not base64url")?;
        serde_json::from_slice(&bytes).map_err(|e| format!("part is not JSON: {e}"))
    };
    Ok((dec(parts[0])?, dec(parts[1])?))
}

/// Verifies an RS256 JWT against the JWKS key with its `kid`; returns
/// (header, claims).
pub fn verify_rs256(jwks: &Value, token: &str) -> Result<(Value, Value), String> {
    let (header, claims) = jwt_decode(token)?;
    if header["alg"] != "RS256" {
        return Err(format!("alg is {}, not RS256", header["alg"]));
    }
    let kid = header["kid"].as_str().ok_or("no kid in the header")?;
    let jwk = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let num = |name: &str| -> Result<BigUint, String> {
        let s = jwk[name].as_str().ok_or_else(|| format!("JWK without {name}"))?;
        let bytes = b64url_decode(s).ok_or_else(|| format!("JWK {name} is not base64url"))?;
        Ok(BigUint::from_bytes_be(&bytes))
    };
    let public = RsaPublicKey::new(num("n")?, num("e")?).map_err(|e| format!("bad JWK: {e}"))?;
    let (input, sig) = token.rsplit_once('.').ok_or("no signature")?;
    let sig = b64url_decode(sig).ok_or("signature is not base64url")?;
    let sig = pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|e| format!("bad signature: {e}"))?;
    pkcs1v15::VerifyingKey::<Sha256>::new(public)
        .verify(input.as_bytes(), &sig)
        .map_err(|e| format!("signature does not verify: {e}"))?;
    Ok((header, claims))
}

// -------------------------------------------------------------- token calls

/// How a client authenticates at /token, /introspect and /revoke.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Nothing.
    Nothing,
    /// Public client: `client_id` in the body.
    Public(String),
    /// HTTP Basic with id and secret.
    Basic(String, String),
    /// `client_assertion` (JWT bearer) with this JWT.
    Assertion(String),
    /// `Authorization: Bearer` (introspection with an access token or ADMIN).
    Bearer(String),
}

/// `POST path` form-encoded with `pairs` and client authentication `auth`,
/// plus extra headers.
pub fn post_oauth(
    client: &Client,
    path: &str,
    pairs: &[(&str, &str)],
    auth: &ClientAuth,
    headers: &[(&str, &str)],
) -> Resp {
    let mut body: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut req = client
        .post(path, "application/x-www-form-urlencoded", Vec::<u8>::new())
        .no_auth();
    match auth {
        ClientAuth::Nothing => {}
        ClientAuth::Public(id) => body.push(("client_id".into(), id.clone())),
        ClientAuth::Basic(id, secret) => {
            // RFC 6749 §2.3.1: form-urlencode id and secret before Base64.
            let user = encode_pairs(&[("", id.as_str())]);
            let pass = encode_pairs(&[("", secret.as_str())]);
            let cred = format!("{}:{}", &user[1..], &pass[1..]);
            req = req.header("Authorization", &format!("Basic {}", STANDARD.encode(cred)));
        }
        ClientAuth::Assertion(jwt) => {
            body.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            body.push(("client_assertion".into(), jwt.clone()));
        }
        ClientAuth::Bearer(t) => req = req.token(t),
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.body(encode_pairs(&body)).send()
}

/// The OAuth error code of a JSON error body (`""` if none).
pub fn oauth_error(resp: &Resp) -> String {
    serde_json::from_str::<Value>(&resp.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

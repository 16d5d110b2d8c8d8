//! A small blocking HTTP client for the edge: the admin bearer token by
//! default, the practice header on demand, and responses of any status
//! returned as values (never as errors) so tests can assert on them.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

/// The header that selects the practice an admin caller reads.
pub const PRACTICE_HEADER: &str = "X-Flare-Practice";

/// Client for one running edge.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// Server origin, `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The admin token sent as `Authorization: Bearer …`.
    pub token: String,
}

/// A request being built; [`Req::send`] performs it.
pub struct Req<'a> {
    client: &'a Client,
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    auth: Option<String>,
}

/// A response of any status.
#[derive(Debug, Clone)]
pub struct Resp {
    /// `METHOD url` of the request, for messages.
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Client {
    /// A client for the edge at `origin` using the admin `token`.
    pub fn new(origin: &str, token: &str) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(120))
            .redirects(0)
            .build();
        Client {
            agent,
            origin: origin.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// The FHIR base URL, `{origin}/fhir`.
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.origin)
    }

    fn req(&self, method: &'static str, path_or_url: &str) -> Req<'_> {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.origin)
        };
        Req {
            client: self,
            method,
            url,
            headers: Vec::new(),
            body: None,
            auth: Some(self.token.clone()),
        }
    }

    /// `GET` of a path (`/fhir/Patient/1`) or an absolute URL (a `next` link).
    pub fn get(&self, path_or_url: &str) -> Req<'_> {
        self.req("GET", path_or_url)
    }

    /// `POST` with a body of `content_type`.
    pub fn post(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Req<'_> {
        self.req("POST", path)
            .header("Content-Type", content_type)
            .body(body)
    }

    /// `PUT` with a JSON body.
    pub fn put_json(&self, path: &str, body: &Value) -> Req<'_> {
        self.req("PUT", path)
            .header("Content-Type", "application/json")
            .body(body.to_string())
    }

    /// `OPTIONS` (a CORS preflight).
    pub fn options(&self, path: &str) -> Req<'_> {
        self.req("OPTIONS", path).no_auth()
    }

    /// `DELETE`.
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req("DELETE", path)
    }

    /// `POST /admin/import?practice=…` of one JSON resource or Bundle.
    pub fn import(&self, practice: &str, body: &Value) -> Resp {
        self.post(
            &format!("/admin/import?practice={practice}"),
            "application/fhir+json",
            body.to_string(),
        )
        .send()
    }

    /// `POST /admin/import?practice=…` of ndjson lines.
    pub fn import_ndjson(&self, practice: &str, lines: &[Value]) -> Resp {
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        self.post(
            &format!("/admin/import?practice={practice}"),
            "application/fhir+ndjson",
            body,
        )
        .send()
    }

    /// Imports and panics unless the server answers 200.
    pub fn import_ok(&self, practice: &str, body: &Value) -> Value {
        self.import(practice, body).expect_status(200).json()
    }
}

/// `application/x-www-form-urlencoded` form of `pairs` (also used for query strings).
pub fn encode_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

impl<'a> Req<'a> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Selects the practice with `X-Flare-Practice`.
    pub fn practice(self, key: &str) -> Self {
        self.header(PRACTICE_HEADER, key)
    }

    /// Sends no `Authorization` header.
    pub fn no_auth(mut self) -> Self {
        self.auth = None;
        self
    }

    /// Uses another bearer token.
    pub fn token(mut self, token: &str) -> Self {
        self.auth = Some(token.to_string());
        self
    }

    /// Appends encoded query pairs to the URL.
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        if !pairs.is_empty() {
            let sep = if self.url.contains('?') { '&' } else { '?' };
            self.url = format!("{}{sep}{}", self.url, encode_pairs(pairs));
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the request; a transport failure is an `Err` with a message.
    pub fn try_send(self) -> Result<Resp, String> {
        let request = format!("{} {}", self.method, self.url);
        let mut r = self.client.agent.request(self.method, &self.url);
        if let Some(t) = &self.auth {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in &self.headers {
            r = r.set(k, v);
        }
        let result = match &self.body {
            Some(b) => r.send_bytes(b),
            None => r.call(),
        };
        let resp = match result {
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
            Err(e) => return Err(format!("{request}: {e}")),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .iter()
            .flat_map(|n| {
                resp.all(n)
                    .into_iter()
                    .map(move |v| (n.to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        let mut body = String::new();
        resp.into_reader()
            .read_to_string(&mut body)
            .map_err(|e| format!("{request}: reading the body: {e}"))?;
        Ok(Resp {
            request,
            status,
            headers,
            body,
        })
    }

    /// Sends the request; panics on a transport failure.
    pub fn send(self) -> Resp {
        self.try_send().unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Resp {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the request and body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} → {}: body is not JSON ({e}): {}",
                self.request,
                self.status,
                excerpt(&self.body)
            )
        })
    }

    /// Panics (counted as a failed check) unless the status is `status`.
    pub fn expect_status(self, status: u16) -> Resp {
        crate::check::count();
        assert_eq!(
            self.status,
            status,
            "{} answered {} (expected {status}): {}",
            self.request,
            self.status,
            excerpt(&self.body)
        );
        self
    }
}

/// The first 600 characters of `s`, for messages.
pub fn excerpt(s: &str) -> String {
    if s.chars().count() <= 600 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(600).collect::<String>())
    }
}

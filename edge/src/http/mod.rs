//! Runtime-neutral HTTP request and response types: the Worker adapter
//! converts to and from `worker::Request`/`Response`, native tests build them
//! directly. [`error`] is the one error type every handler returns and the one
//! place errors become OperationOutcomes or OAuth errors (an error page's
//! HTML is the web layer's). Must not touch: storage, the platform, HTML.

pub mod error;

pub use url::Url;

/// An HTTP request as the application sees it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// The full request URL.
    pub url: Url,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request without body or headers.
    pub fn new(method: &str, url: Url) -> Self {
        HttpRequest {
            method: method.to_string(),
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The query pairs, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The origin and path prefix of the FHIR base (`http://host:port/fhir`).
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.url.origin().ascii_serialization())
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// When set, the body is this object of the blob store (an export
    /// file), streamed by the runtime adapter instead of `body`.
    pub object: Option<String>,
}

impl HttpResponse {
    /// A response with a body and content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            object: None,
        }
    }

    /// A FHIR JSON response.
    pub fn fhir(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "application/fhir+json; charset=utf-8", body)
    }

    /// A plain JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, "application/json; charset=utf-8", body.to_string())
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A body-less response with a status and headers.
    pub fn empty(status: u16, headers: Vec<(String, String)>) -> Self {
        HttpResponse {
            status,
            headers,
            body: Vec::new(),
            object: None,
        }
    }

    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The first value of header `name` (lower-case) in a header list.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

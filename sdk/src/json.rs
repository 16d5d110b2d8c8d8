//! A read-only view of JSON values, so the protocol logic (discovery, token
//! responses, id_token claims, Bundles, OperationOutcomes) is written once and
//! runs over `serde_json` values natively and over JS objects in the browser,
//! where `JSON.parse` does the parsing and no Rust JSON parser is linked.

/// What the SDK reads from a JSON value. Missing members and `null` are `None`.
pub trait Json: Sized + Clone {
    /// The member `key` of an object.
    fn member(&self, key: &str) -> Option<Self>;
    /// The value as a string, if it is one.
    fn text(&self) -> Option<String>;
    /// The value as a number, if it is one.
    fn number(&self) -> Option<f64>;
    /// The value as a boolean, if it is one.
    fn boolean(&self) -> Option<bool>;
    /// The elements of an array (empty for anything else).
    fn elements(&self) -> Vec<Self>;
    /// The members of an object, in order (empty for anything else).
    fn members(&self) -> Vec<(String, Self)>;
    /// Whether the value is the string `expected` (JS compares without
    /// copying the string into wasm memory).
    fn text_is(&self, expected: &str) -> bool {
        self.text().as_deref() == Some(expected)
    }
}

/// The string member `key`.
pub fn text_at<J: Json>(value: &J, key: &str) -> Option<String> {
    value.member(key).and_then(|v| v.text())
}

/// The string elements of the array member `key` (non-strings skipped).
pub fn texts_at<J: Json>(value: &J, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = value.member(key) {
        for e in v.elements() {
            if let Some(t) = e.text() {
                out.push(t);
            }
        }
    }
    out
}

impl Json for &serde_json::Value {
    fn member(&self, key: &str) -> Option<Self> {
        self.get(key).filter(|v| !v.is_null())
    }
    fn text(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn elements(&self) -> Vec<Self> {
        self.as_array().map(|a| a.iter().collect()).unwrap_or_default()
    }
    fn members(&self) -> Vec<(String, Self)> {
        self.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v)).collect())
            .unwrap_or_default()
    }
}

//! A practice body as `PUT /admin/practices/{key}` requires it: a name, an
//! NPI and a postal address (the public service base Bundle names every
//! practice by both).

use serde_json::{json, Value};

/// A valid NPI (CMS's example: check digit 3).
pub const NPI: &str = "1234567893";

/// The body of `PUT /admin/practices/{key}` for a practice named `name`.
pub fn practice(name: &str) -> Value {
    json!({
        "name": name,
        "npi": NPI,
        "address": {"line": ["100 Example Street"], "city": "Springfield", "state": "IL", "postalCode": "62701"},
    })
}

/// [`practice`] whose Organization resource has the id `organization_id`.
pub fn practice_with_organization(name: &str, organization_id: &str) -> Value {
    let mut p = practice(name);
    p["organizationId"] = json!(organization_id);
    p
}

//! Discovery: the SMART configuration (at the root and under `/fhir`), the
//! OpenID configuration, the JWKS, and the CapabilityStatement's security
//! section, which must agree with the discovery document.

use serde_json::Value;

use super::{COND_CAT, OBS_CAT};

use flare_tests::http::Resp;
use flare_tests::{check, check_eq};

use crate::context::Ctx;
use crate::TrialFn;

/// The trials of this module.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("smart::discovery::smart_configuration", smart_configuration),
    ("smart::discovery::openid_configuration_and_jwks", openid_and_jwks),
    (
        "smart::discovery::capability_statement_security",
        capability_security,
    ),
];

/// The capabilities CONFORMANCE.md lists.
const CAPABILITIES: &[&str] = &[
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-standalone-encounter",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
];

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn json_doc(r: &Resp) -> Value {
    check_eq!(r.status, 200, "{}: {}", r.request, r.body);
    let ct = r.header("content-type").unwrap_or_default();
    check!(
        ct.starts_with("application/json"),
        "{}: Content-Type {ct:?} (must be application/json, not fhir+json)",
        r.request
    );
    check_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "{}: CORS",
        r.request
    );
    r.json()
}

/// `GET /.well-known/smart-configuration` and `/fhir/.well-known/…`.
fn smart_configuration(ctx: &Ctx) {
    let c = &ctx.client;
    let o = &c.origin;
    let root = json_doc(&c.get("/.well-known/smart-configuration").no_auth().send());
    let fhir = json_doc(
        &c.get("/fhir/.well-known/smart-configuration")
            .no_auth()
            .header("Origin", "http://random-origin.example")
            .send(),
    );
    check_eq!(root, fhir, "the two SMART configuration documents differ");
    let d = root;
    for (key, want) in [
        ("issuer", format!("{o}/fhir")),
        ("jwks_uri", format!("{o}/.well-known/jwks.json")),
        ("authorization_endpoint", format!("{o}/authorize")),
        ("token_endpoint", format!("{o}/token")),
        ("introspection_endpoint", format!("{o}/introspect")),
        ("revocation_endpoint", format!("{o}/revoke")),
        ("registration_endpoint", format!("{o}/register")),
        // SMART 2.2: the brands Bundle is the service base Bundle.
        ("user_access_brand_bundle", format!("{o}/fhir")),
    ] {
        check_eq!(d[key], want.as_str(), "smart-configuration {key}: {d}");
    }
    check!(
        d.get("user_access_brand_identifier").is_none(),
        "several practices share this endpoint, so none is its primary brand: {d}"
    );
    let grants = strings(&d["grant_types_supported"]);
    for g in ["authorization_code", "client_credentials", "refresh_token"] {
        check!(
            grants.iter().any(|x| x == g),
            "grant_types_supported lacks {g}: {grants:?}"
        );
    }
    check_eq!(
        strings(&d["code_challenge_methods_supported"]),
        vec!["S256".to_string()],
        "code_challenge_methods_supported must be exactly [S256]"
    );
    let methods = strings(&d["token_endpoint_auth_methods_supported"]);
    for m in ["client_secret_basic", "private_key_jwt"] {
        check!(
            methods.iter().any(|x| x == m),
            "token_endpoint_auth_methods_supported lacks {m}"
        );
    }
    let mut algs = strings(&d["token_endpoint_auth_signing_alg_values_supported"]);
    algs.sort();
    check_eq!(algs, vec!["ES384".to_string(), "RS384".to_string()]);
    let scopes = strings(&d["scopes_supported"]);
    for s in [
        "openid",
        "fhirUser",
        "launch",
        "launch/patient",
        "offline_access",
        "online_access",
    ] {
        check!(
            scopes.iter().any(|x| x == s),
            "scopes_supported lacks {s}: {scopes:?}"
        );
    }
    check_resource_scopes(ctx, &scopes);
    check!(
        d.get("associated_endpoints").is_none(),
        "associated_endpoints: this server has one FHIR endpoint: {d}"
    );
    check!(
        strings(&d["response_types_supported"])
            .iter()
            .any(|x| x == "code"),
        "response_types_supported lacks code"
    );
    let caps = strings(&d["capabilities"]);
    for cap in CAPABILITIES {
        check!(caps.iter().any(|x| x == cap), "capabilities lack {cap}: {caps:?}");
    }
}

/// `scopes_supported` lists what this read-only server grants: for every
/// resource type the CapabilityStatement serves, in `patient/`, `user/` and
/// `system/`, the SMART v2 `.r`, `.s`, `.rs` and v1 `.read` forms; the
/// granular category scopes the certification kit asks for (Condition and
/// Observation by category); `launch/encounter`; and no write permission.
fn check_resource_scopes(ctx: &Ctx, scopes: &[String]) {
    let metadata = ctx.client.get("/fhir/metadata").no_auth().send();
    check_eq!(metadata.status, 200, "GET /fhir/metadata: {}", metadata.body);
    let cs = metadata.json();
    let types: Vec<String> = cs["rest"][0]["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["type"].as_str().map(str::to_string))
        .collect();
    check!(types.len() > 20, "the CapabilityStatement serves {types:?}");
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut missing = Vec::new();
    for context in ["patient", "user", "system"] {
        for t in types.iter().map(String::as_str).chain(["*"]) {
            for p in ["r", "s", "rs", "read"] {
                let s = format!("{context}/{t}.{p}");
                if !has(&s) {
                    missing.push(s);
                }
            }
        }
        for (system, code) in [
            (COND_CAT, "problem-list-item"),
            (COND_CAT, "encounter-diagnosis"),
            (
                "http://hl7.org/fhir/us/core/CodeSystem/condition-category",
                "health-concern",
            ),
        ] {
            let s = format!("{context}/Condition.rs?category={system}|{code}");
            if !has(&s) {
                missing.push(s);
            }
        }
        for code in ["laboratory", "vital-signs", "social-history", "survey"] {
            let s = format!("{context}/Observation.rs?category={OBS_CAT}|{code}");
            if !has(&s) {
                missing.push(s);
            }
        }
    }
    check!(missing.is_empty(), "scopes_supported lacks {missing:?}");
    check!(has("launch/encounter"), "scopes_supported lacks launch/encounter");
    // Read-only: every resource scope's permissions are r, s, rs or read.
    let writes: Vec<&String> = scopes
        .iter()
        .filter(|s| s.contains('/') && !s.starts_with("launch/"))
        .filter(|s| {
            let head = s.split('?').next().unwrap_or_default();
            let perms = head.rsplit('.').next().unwrap_or_default();
            !["r", "s", "rs", "read"].contains(&perms)
        })
        .collect();
    check!(
        writes.is_empty(),
        "scopes_supported offers write access: {writes:?}"
    );
    let mut sorted = scopes.to_vec();
    sorted.sort();
    sorted.dedup();
    check_eq!(sorted.len(), scopes.len(), "scopes_supported has duplicates");
}

/// `/.well-known/openid-configuration` (both places) and the JWKS it names.
fn openid_and_jwks(ctx: &Ctx) {
    let c = &ctx.client;
    let o = &c.origin;
    let root = json_doc(&c.get("/.well-known/openid-configuration").no_auth().send());
    let fhir = json_doc(&c.get("/fhir/.well-known/openid-configuration").no_auth().send());
    check_eq!(root, fhir, "the two OpenID configuration documents differ");
    check_eq!(root["issuer"], format!("{o}/fhir").as_str());
    check_eq!(root["authorization_endpoint"], format!("{o}/authorize").as_str());
    check_eq!(root["token_endpoint"], format!("{o}/token").as_str());
    check_eq!(root["jwks_uri"], format!("{o}/.well-known/jwks.json").as_str());
    check!(strings(&root["response_types_supported"]).contains(&"code".to_string()));
    check!(
        !strings(&root["subject_types_supported"]).is_empty(),
        "subject_types_supported: {root}"
    );
    check_eq!(
        strings(&root["id_token_signing_alg_values_supported"]),
        vec!["RS256".to_string()]
    );

    let r = c.get("/.well-known/jwks.json").no_auth().send();
    check_eq!(r.status, 200, "{}: {}", r.request, r.body);
    check!(r.header("content-type").is_some_and(|t| t.contains("json")));
    let jwks = r.json();
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    check!(!keys.is_empty(), "JWKS without keys: {jwks}");
    for k in &keys {
        check_eq!(k["kty"], "RSA", "{k}");
        check_eq!(k["alg"], "RS256", "{k}");
        check_eq!(k["use"], "sig", "{k}");
        check!(
            k["kid"].as_str().is_some_and(|s| !s.is_empty()),
            "JWK without kid: {k}"
        );
        let n = k["n"]
            .as_str()
            .and_then(flare_tests::oauth::b64url_decode)
            .unwrap_or_default();
        check!(
            n.len() >= 256,
            "RSA modulus shorter than 2048 bits ({} bytes)",
            n.len()
        );
        check!(k["e"].is_string(), "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            check!(
                k.get(private).is_none(),
                "JWKS publishes private member {private}"
            );
        }
    }
}

/// `GET /fhir/metadata` (no token): the SMART service coding and the
/// oauth-uris extension, equal to the discovery document's URLs.
fn capability_security(ctx: &Ctx) {
    let c = &ctx.client;
    let d = c
        .get("/.well-known/smart-configuration")
        .no_auth()
        .send()
        .expect_status(200)
        .json();
    let r = c
        .get("/fhir/metadata")
        .no_auth()
        .header("Origin", "http://other.example")
        .send()
        .expect_status(200);
    check_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "metadata CORS"
    );
    let cs = r.json();
    let sec = &cs["rest"][0]["security"];
    check_eq!(
        sec["service"][0]["coding"][0]["code"],
        "SMART-on-FHIR",
        "rest[0].security.service: {sec}"
    );
    let ext = sec["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris")
        .cloned()
        .unwrap_or_else(|| panic!("no oauth-uris extension in {sec}"));
    let sub = |name: &str| -> Value {
        ext["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["url"] == name)
            .map(|e| e["valueUri"].clone())
            .unwrap_or(Value::Null)
    };
    for (name, key) in [
        ("authorize", "authorization_endpoint"),
        ("token", "token_endpoint"),
        ("introspect", "introspection_endpoint"),
        ("revoke", "revocation_endpoint"),
        ("register", "registration_endpoint"),
    ] {
        check_eq!(sub(name), d[key], "oauth-uris {name} vs discovery {key}");
        check!(d[key].is_string(), "discovery {key} missing");
    }
}

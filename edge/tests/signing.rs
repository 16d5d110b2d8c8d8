//! Signatures and throttling natively, with the native platform's real
//! primitives (RustCrypto in place of WebCrypto, counting rate limiters):
//! id_tokens verify with the served JWKS, `private_key_jwt` clients
//! authenticate with RS384 and ES384 assertions (and a wrongly signed one is
//! refused), backend services get `system/` tokens, a `jwks_uri` is cached
//! as its `Cache-Control`/`Expires` allow (refetched after expiry and once
//! for an unknown `kid`, at most once per 10 s, `no-store` honoured, a
//! rotation picked up, forgotten when the keys are replaced; the native
//! platform serves and counts the fetches), the limiters answer 429 in each
//! route's shape, and a 5xx writes its incident to the log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap fails it"
)]

mod common;

use common::{admin, app, call, import, TestApp, BASE, NOW};
use flare_edge::http::{HttpRequest, HttpResponse, Url};
use flare_edge::platform::native::take_log;
use flare_edge::platform::Limiter;
use rsa::pkcs1v15;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const PASSWORD: &str = "Flare-demo-2026";
const REDIRECT: &str = "http://127.0.0.1:9000/cb";
const VERIFIER: &str = "a-perfectly-fine-code-verifier-of-enough-length-0123456789";
const TOKEN_URL: &str = "http://flare.test/token";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn text(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn request(method: &str, path: &str) -> HttpRequest {
    HttpRequest::new(method, Url::parse(&format!("{BASE}{path}")).unwrap())
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)], ip: &str) -> HttpResponse {
    call(
        app,
        request("POST", path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cf-connecting-ip", ip)
            .body(form_body(pairs)),
    )
}

fn fhir(app: &TestApp, token: &str, path: &str) -> HttpResponse {
    call(
        app,
        request("GET", path).header("authorization", &format!("Bearer {token}")),
    )
}

/// Registers and approves a client.
fn register(app: &TestApp, meta: Value) {
    let r = call(app, admin("POST", "/register").body(meta.to_string()));
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r.json_body()["client_id"].as_str().unwrap().to_string();
    let r = call(app, admin("POST", &format!("/admin/clients/{id}/approve")));
    assert_eq!(r.status, 200, "{}", text(&r));
}

/// A practice with one patient and her record, and a patient user `ann`.
fn world() -> TestApp {
    let app = app();
    import(
        &app,
        "northside",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": "a", "name": [{"family": "Alpha", "given": ["Ann"]}]},
             "request": {"method": "PUT", "url": "Patient/a"}},
            {"resource": {"resourceType": "Observation", "id": "a-lab", "status": "final",
                "code": {"text": "test"}, "subject": {"reference": "Patient/a"}},
             "request": {"method": "PUT", "url": "Observation/a-lab"}}
        ]}),
    );
    let r = call(
        &app,
        admin("POST", "/admin/users").body(
            json!({"username": "ann", "password": PASSWORD, "practice": "northside",
                "fhirUser": "Patient/a", "name": "Ann Alpha"})
            .to_string(),
        ),
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    app
}

// ------------------------------------------------------------------ browser

/// Cookies and the `CF-Connecting-IP` of one browser.
struct Browser<'a> {
    app: &'a TestApp,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    fn send(&mut self, mut req: HttpRequest) -> HttpResponse {
        if !self.cookies.is_empty() {
            let c: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", &c.join("; "));
        }
        let r = call(self.app, req);
        for (k, v) in &r.headers {
            if k == "set-cookie" {
                let pair = v.split(';').next().unwrap_or_default();
                if let Some((n, val)) = pair.split_once('=') {
                    self.cookies.retain(|(k, _)| k != n);
                    if !val.is_empty() {
                        self.cookies.push((n.to_string(), val.to_string()));
                    }
                }
            }
        }
        r
    }

    fn get(&mut self, path: &str) -> HttpResponse {
        let path = path.strip_prefix(BASE).unwrap_or(path);
        self.send(request("GET", path))
    }

    fn post(&mut self, path: &str, pairs: &[(String, String)]) -> HttpResponse {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.send(
            request("POST", path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&pairs)),
        )
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The hidden inputs of a page.
fn hidden(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        let value = rest.split("value=\"").nth(1).unwrap().split('"').next().unwrap();
        out.push((name.to_string(), unescape(value)));
    }
    out
}

fn location(r: &HttpResponse) -> String {
    r.header_value("location").unwrap_or_default().to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Ann's standalone launch of `client_id` with `scope` (sign-in, consent
/// with the defaults ticked); returns the authorization code.
fn ann_code(app: &TestApp, client_id: &str, scope: &str, nonce: &str) -> String {
    let challenge = b64(&Sha256::digest(VERIFIER.as_bytes()));
    let fhir = format!("{BASE}/fhir");
    let query = form_body(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", nonce),
        ("aud", &fhir),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let mut b = Browser {
        app,
        cookies: Vec::new(),
    };
    let page = b.get(&format!("/authorize?{query}"));
    let mut f = hidden(&text(&page));
    f.push(("username".into(), "ann".into()));
    f.push(("password".into(), PASSWORD.into()));
    let r = b.post("/authorize/signin", &f);
    assert_eq!(r.status, 303, "{}", text(&r));
    let page = b.get(&location(&r));
    let html = text(&page);
    assert!(html.contains("action=\"/authorize/consent\""), "{html}");
    let mut f = hidden(&html);
    for part in html.split("name=\"scope\" value=\"").skip(1) {
        let (v, rest) = part.split_once('"').unwrap();
        if rest.starts_with(" checked") {
            f.push(("scope".into(), unescape(v)));
        }
    }
    f.push(("decision".into(), "allow".into()));
    let r = b.post("/authorize/consent", &f);
    assert_eq!(r.status, 302, "{}", text(&r));
    query_param(&location(&r), "code").expect("a code")
}

/// Exchanges a code for tokens, with the client's authentication `extra`.
fn exchange(app: &TestApp, client_id: &str, code: &str, extra: &[(&str, &str)]) -> HttpResponse {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ];
    pairs.extend_from_slice(extra);
    post_form(app, "/token", &pairs, "192.0.2.1")
}

// ------------------------------------------------------------------ id_token

#[test]
fn id_tokens_verify_with_the_served_jwks_and_carry_the_claims() {
    let app = world();
    register(
        &app,
        json!({"client_id": "public-app", "client_name": "Public app", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
            "scope": "openid fhirUser launch/patient patient/*.rs"}),
    );
    let code = ann_code(
        &app,
        "public-app",
        "openid fhirUser launch/patient patient/*.rs",
        "n-0S6_WzA2Mj",
    );
    let r = exchange(&app, "public-app", &code, &[]);
    assert_eq!(r.status, 200, "{}", text(&r));
    let id_token = r.json_body()["id_token"]
        .as_str()
        .expect("an id_token")
        .to_string();

    let jwks = call(&app, request("GET", "/.well-known/jwks.json"));
    assert_eq!(jwks.status, 200, "{}", text(&jwks));
    let keys = jwks.json_body()["keys"].as_array().cloned().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert!(jwk.get("d").is_none(), "only the public half is served");

    let parts: Vec<&str> = id_token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], jwk["kid"], "the header names the served key");
    // The kid is the key's RFC 7638 thumbprint.
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap(),
        jwk["n"].as_str().unwrap()
    );
    assert_eq!(
        jwk["kid"].as_str(),
        Some(b64(&Sha256::digest(canonical)).as_str())
    );

    let public = RsaPublicKey::new(
        BigUint::from_bytes_be(&unb64(jwk["n"].as_str().unwrap())),
        BigUint::from_bytes_be(&unb64(jwk["e"].as_str().unwrap())),
    )
    .unwrap();
    let verifier = pkcs1v15::VerifyingKey::<Sha256>::new(public);
    let signature = pkcs1v15::Signature::try_from(unb64(parts[2]).as_slice()).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    verifier
        .verify(input.as_bytes(), &signature)
        .expect("the id_token verifies with the served key");
    // A changed payload does not.
    let forged = format!("{}.{}", parts[0], b64(br#"{"sub":"mallory"}"#));
    assert!(verifier.verify(forged.as_bytes(), &signature).is_err());

    let claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    let now_s = NOW / 1000;
    assert_eq!(
        claims["iss"],
        format!("{BASE}/fhir"),
        "the issuer is the FHIR base"
    );
    assert_eq!(claims["aud"], "public-app");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["fhirUser"], format!("{BASE}/fhir/Patient/a"));
    assert_eq!(claims["name"], "Ann Alpha");
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(claims["iat"], now_s);
    assert!(claims["exp"].as_i64().unwrap() > now_s);
}

#[test]
fn without_a_signing_key_an_id_token_is_a_logged_incident() {
    use common::{TestPlatform, TOKEN};
    use flare_edge::app::{App, Config};
    use flare_edge::store::{sqlite::SqliteDatabase, Shards};
    let app = App::new(
        Shards::new(vec![SqliteDatabase::in_memory().unwrap()], vec![]),
        TestPlatform::at(NOW).without_signing_key(),
        Config::new(Some(TOKEN.into()), "northside"),
    );
    let r = call(
        &app,
        admin("PUT", "/admin/practices/northside")
            .body(flare_tests::practice::practice("Northside").to_string()),
    );
    assert_eq!(r.status, 200);
    take_log();
    let r = call(&app, request("GET", "/.well-known/jwks.json"));
    assert_eq!(r.status, 500, "{}", text(&r));
    let body = text(&r);
    let id = body
        .split("internal error (id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("an incident id: {body}"));
    let log = take_log();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("internal error {id}")) && l.contains("signing key")),
        "the 5xx is logged under its incident id with its cause: {log:?}"
    );
    assert!(!text(&r).contains("signing key"), "the cause is not answered");
}

// -------------------------------------------------------------- assertions

/// The first RSA test key of the end-to-end suite (PKCS#8 PEM, test-only).
fn rsa_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("../../tests/src/keys/rsa-a.pem")).unwrap()
}

/// Another RSA key: the wrong one.
fn other_rsa_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("../../tests/src/keys/rsa-b.pem")).unwrap()
}

fn rsa_jwk(key: &RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "alg": "RS384",
        "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
}

/// A fixed P-384 key (deterministic: its scalar is a hash).
fn ec_key(seed: &str) -> p384::ecdsa::SigningKey {
    let scalar = Sha384::digest(seed.as_bytes());
    p384::ecdsa::SigningKey::from_slice(&scalar).unwrap()
}

fn ec_jwk(key: &p384::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

/// `header.claims.signature`.
fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn assertion_claims(client_id: &str, jti: &str) -> Value {
    json!({"iss": client_id, "sub": client_id, "aud": TOKEN_URL,
        "exp": NOW / 1000 + 240, "jti": jti})
}

fn rs384(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let signer = pkcs1v15::SigningKey::<Sha384>::new(key.clone());
    jwt(&json!({"alg": "RS384", "typ": "JWT", "kid": kid}), claims, |m| {
        signer.sign(m).to_vec()
    })
}

fn es384(key: &p384::ecdsa::SigningKey, kid: &str, claims: &Value) -> String {
    jwt(&json!({"alg": "ES384", "typ": "JWT", "kid": kid}), claims, |m| {
        let sig: p384::ecdsa::Signature = key.sign(m);
        sig.to_bytes().to_vec()
    })
}

/// A `client_credentials` request authenticated with `assertion`.
fn backend_token(app: &TestApp, scope: &str, assertion: &str) -> HttpResponse {
    post_form(
        app,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
        "192.0.2.2",
    )
}

fn register_backend(app: &TestApp, client_id: &str, keys: Vec<Value>) {
    register(
        app,
        json!({"client_id": client_id, "client_name": client_id,
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": keys}, "scope": "system/*.rs"}),
    );
}

#[test]
fn backend_services_authenticate_with_rs384_and_es384_assertions() {
    let app = world();
    let (rsa, ec) = (rsa_key(), ec_key("backend-ec"));
    register_backend(&app, "rsa-backend", vec![rsa_jwk(&rsa, "r1")]);
    register_backend(&app, "ec-backend", vec![ec_jwk(&ec, "e1")]);

    // RS384: a system/ token that reads FHIR.
    let r = backend_token(
        &app,
        "system/Patient.rs system/Observation.rs",
        &rs384(&rsa, "r1", &assertion_claims("rsa-backend", "jti-r-1")),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let t = r.json_body();
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["scope"].as_str().unwrap().starts_with("system/"), "{t}");
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    let access = t["access_token"].as_str().unwrap();
    let read = fhir(&app, access, "/fhir/Patient/a");
    assert_eq!(read.status, 200, "{}", text(&read));
    assert_eq!(read.json_body()["id"], "a");
    let search = fhir(&app, access, "/fhir/Observation?patient=a");
    assert_eq!(search.status, 200, "{}", text(&search));
    assert_eq!(search.json_body()["entry"][0]["resource"]["id"], "a-lab");

    // ES384.
    let r = backend_token(
        &app,
        "system/Patient.rs",
        &es384(&ec, "e1", &assertion_claims("ec-backend", "jti-e-1")),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let access = r.json_body()["access_token"].as_str().unwrap().to_string();
    assert_eq!(fhir(&app, &access, "/fhir/Patient/a").status, 200);

    // A jti is used once.
    let r = backend_token(
        &app,
        "system/Patient.rs",
        &es384(&ec, "e1", &assertion_claims("ec-backend", "jti-e-1")),
    );
    assert_eq!(r.status, 401, "{}", text(&r));
}

#[test]
fn wrongly_signed_assertions_are_refused() {
    let app = world();
    let (rsa, ec) = (rsa_key(), ec_key("backend-ec"));
    register_backend(&app, "rsa-backend", vec![rsa_jwk(&rsa, "r1")]);
    register_backend(&app, "ec-backend", vec![ec_jwk(&ec, "e1")]);
    let refused = |r: HttpResponse| {
        assert_eq!(r.status, 401, "{}", text(&r));
        assert_eq!(r.json_body()["error"], "invalid_client", "{}", text(&r));
    };
    // Signed with another key under the registered kid.
    refused(backend_token(
        &app,
        "system/Patient.rs",
        &rs384(&other_rsa_key(), "r1", &assertion_claims("rsa-backend", "w-1")),
    ));
    refused(backend_token(
        &app,
        "system/Patient.rs",
        &es384(&ec_key("mallory"), "e1", &assertion_claims("ec-backend", "w-2")),
    ));
    // A good signature over other claims (claims swapped after signing).
    let good = rs384(&rsa, "r1", &assertion_claims("rsa-backend", "w-3"));
    let parts: Vec<&str> = good.split('.').collect();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        b64(assertion_claims("rsa-backend", "w-4").to_string().as_bytes()),
        parts[2]
    );
    refused(backend_token(&app, "system/Patient.rs", &swapped));
    // A truncated signature.
    let truncated = &good[..good.len() - 8];
    refused(backend_token(&app, "system/Patient.rs", truncated));
    // The refused assertions did not burn their jti: the good one still works.
    let r = backend_token(&app, "system/Patient.rs", &good);
    assert_eq!(r.status, 200, "{}", text(&r));
}

#[test]
fn private_key_jwt_clients_authenticate_the_code_exchange() {
    let app = world();
    let rsa = rsa_key();
    register(
        &app,
        json!({"client_id": "keyed-app", "client_name": "Keyed app", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [rsa_jwk(&rsa, "k1")]},
            "grant_types": ["authorization_code"], "scope": "openid fhirUser launch/patient patient/*.rs"}),
    );
    let scope = "openid fhirUser launch/patient patient/*.rs";
    let with = |assertion: &str| {
        [
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ]
        .map(|(k, v)| (k, v.to_string()))
    };
    // Wrongly signed: refused, and the code is not spent.
    let code = ann_code(&app, "keyed-app", scope, "n1");
    let forged = rs384(&other_rsa_key(), "k1", &assertion_claims("keyed-app", "c-1"));
    let pairs = with(&forged);
    let extra: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = exchange(&app, "keyed-app", &code, &extra);
    assert_eq!(r.status, 401, "{}", text(&r));
    assert_eq!(r.json_body()["error"], "invalid_client");
    // Rightly signed: tokens, and an id_token for the keyed client.
    let good = rs384(&rsa, "k1", &assertion_claims("keyed-app", "c-2"));
    let pairs = with(&good);
    let extra: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = exchange(&app, "keyed-app", &code, &extra);
    assert_eq!(r.status, 200, "{}", text(&r));
    let t = r.json_body();
    assert_eq!(t["patient"], "a");
    assert!(t["id_token"].as_str().is_some(), "{t}");
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(fhir(&app, access, "/fhir/Observation/a-lab").status, 200);
}

// ------------------------------------------------------------------ limiters

#[test]
fn the_client_limiter_answers_429_with_retry_after() {
    let app = world();
    app.platform.set_limit(Limiter::Client, 3);
    let rsa = rsa_key();
    register_backend(&app, "rsa-backend", vec![rsa_jwk(&rsa, "r1")]);
    let r = backend_token(
        &app,
        "system/Patient.rs",
        &rs384(&rsa, "r1", &assertion_claims("rsa-backend", "l-1")),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let access = r.json_body()["access_token"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(fhir(&app, &access, "/fhir/Patient/a").status, 200);
    }
    let r = fhir(&app, &access, "/fhir/Patient/a");
    assert_eq!(r.status, 429, "{}", text(&r));
    assert_eq!(r.header_value("retry-after"), Some("60"));
    let oo = r.json_body();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["code"], "throttled");
    // The next period starts afresh.
    app.platform.now.set(NOW + 60_000);
    assert_eq!(fhir(&app, &access, "/fhir/Patient/a").status, 200);
}

#[test]
fn the_ip_limiter_answers_429_as_oauth_json_and_as_a_page() {
    let app = world();
    app.platform.set_limit(Limiter::Ip, 2);
    let token = |ip: &str| post_form(&app, "/token", &[("grant_type", "password")], ip);
    let page = |ip: &str| call(&app, request("GET", "/portal").header("cf-connecting-ip", ip));
    assert_eq!(token("198.51.100.7").status, 400);
    assert_ne!(page("198.51.100.7").status, 429);
    // The third request of the minute from that address: throttled, in each route's shape.
    let r = token("198.51.100.7");
    assert_eq!(r.status, 429, "{}", text(&r));
    assert_eq!(r.header_value("retry-after"), Some("60"));
    assert_eq!(r.json_body()["error"], "temporarily_unavailable");
    let r = page("198.51.100.7");
    assert_eq!(r.status, 429, "{}", text(&r));
    assert_eq!(r.header_value("retry-after"), Some("60"));
    assert!(
        r.header_value("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    // Another address is counted apart.
    assert_eq!(token("198.51.100.8").status, 400);
    // A minute later the address may come back.
    app.platform.now.set(NOW + 60_000);
    assert_eq!(token("198.51.100.7").status, 400);
}

#[test]
fn the_deployed_limits_are_the_default() {
    let app = world();
    // 300 per minute per address (wrangler.toml), the 301st refused.
    for i in 0..Limiter::Ip.deployed_limit() {
        let r = post_form(&app, "/token", &[("grant_type", "password")], "203.0.113.9");
        assert_eq!(r.status, 400, "request {i}");
    }
    let r = post_form(&app, "/token", &[("grant_type", "password")], "203.0.113.9");
    assert_eq!(r.status, 429);
}

#[test]
fn the_native_limits_are_wrangler_tomls() {
    let toml = include_str!("../wrangler.toml");
    for limiter in [Limiter::Client, Limiter::Ip] {
        let binding = format!("name = \"{}\"", limiter.binding());
        let block = toml
            .split("[[ratelimits]]")
            .find(|b| b.contains(&binding))
            .unwrap_or_else(|| panic!("wrangler.toml binds {}", limiter.binding()));
        let simple = block
            .lines()
            .find(|l| l.trim_start().starts_with("simple"))
            .expect("a simple limit");
        let expected = format!(
            "simple = {{ limit = {}, period = {} }}",
            limiter.deployed_limit(),
            limiter.period_s()
        );
        assert_eq!(simple.trim(), expected, "{limiter:?}");
    }
}

// ------------------------------------------------------ jwks_uri caching

const KEYS_URL: &str = "https://keys.backend.example/jwks.json";

/// Registers a backend service whose keys are at [`KEYS_URL`] (registration
/// only checks the URL: nothing is fetched).
fn register_backend_uri(app: &TestApp, client_id: &str) {
    register(
        app,
        json!({"client_id": client_id, "client_name": client_id,
            "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": KEYS_URL, "scope": "system/*.rs"}),
    );
}

/// An assertion of `client_id` signed with `key` under `kid`, valid at the app's clock.
fn assertion_now(app: &TestApp, client_id: &str, key: &RsaPrivateKey, kid: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static JTI: AtomicUsize = AtomicUsize::new(0);
    let now_s = app.platform.now.get() / 1000;
    let claims = json!({"iss": client_id, "sub": client_id, "aud": TOKEN_URL,
        "exp": now_s + 240, "jti": format!("cache-{}", JTI.fetch_add(1, Ordering::Relaxed))});
    rs384(key, kid, &claims)
}

/// Runs a `client_credentials` request; returns its status and `error_description`.
fn try_token(app: &TestApp, client_id: &str, key: &RsaPrivateKey, kid: &str) -> (u16, String) {
    let r = backend_token(app, "system/Patient.rs", &assertion_now(app, client_id, key, kid));
    let description = if r.status == 200 {
        String::new()
    } else {
        r.json_body()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    (r.status, description)
}

fn advance(app: &TestApp, ms: i64) {
    app.platform.now.set(app.platform.now.get() + ms);
}

#[test]
fn a_jwks_uri_is_fetched_once_within_its_max_age_and_again_after_it() {
    let app = world();
    let rsa = rsa_key();
    register_backend_uri(&app, "cached-backend");
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&rsa, "k1")]}),
        &[("Cache-Control", "public, max-age=600")],
    );
    assert_eq!(app.platform.fetches(KEYS_URL), 0, "registration does not fetch");
    for i in 0..8 {
        assert_eq!(
            try_token(&app, "cached-backend", &rsa, "k1").0,
            200,
            "request {i}"
        );
        advance(&app, 30_000);
    }
    // 8 requests over 4 minutes: one fetch.
    assert_eq!(app.platform.fetches(KEYS_URL), 1);
    // Past the 600 s max-age (fetched at 0 s, now 240 s; 361 s more): fetched again, then cached again.
    advance(&app, 361_000);
    assert_eq!(try_token(&app, "cached-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 2, "refetched after max-age");
    assert_eq!(try_token(&app, "cached-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 2);
    assert_eq!(app.platform.kv_keys(), vec!["jwks:cached-backend".to_string()]);
}

#[test]
fn expires_and_the_default_lifetime_bound_the_cache() {
    let app = world();
    let rsa = rsa_key();
    register_backend_uri(&app, "expires-backend");
    // Expires two minutes after the key server's Date.
    let at = |ms: i64| flare_core::datetime::format_http_date(ms);
    let now = app.platform.now.get();
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&rsa, "k1")]}),
        &[("Date", &at(now)), ("Expires", &at(now + 120_000))],
    );
    assert_eq!(try_token(&app, "expires-backend", &rsa, "k1").0, 200);
    advance(&app, 119_000);
    assert_eq!(try_token(&app, "expires-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 1, "within Expires");
    advance(&app, 2_000);
    assert_eq!(try_token(&app, "expires-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 2, "past Expires");
    // No caching headers: kept for the default 5 minutes.
    app.platform
        .serve(KEYS_URL, json!({"keys": [rsa_jwk(&rsa, "k1")]}), &[]);
    advance(&app, 121_000);
    assert_eq!(try_token(&app, "expires-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 3);
    advance(&app, 299_000);
    assert_eq!(try_token(&app, "expires-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 3, "within the default lifetime");
    advance(&app, 2_000);
    assert_eq!(try_token(&app, "expires-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 4, "past the default lifetime");
}

#[test]
fn an_unknown_kid_refetches_once_and_a_flood_of_them_is_rate_limited() {
    let app = world();
    let (old, new) = (rsa_key(), other_rsa_key());
    register_backend_uri(&app, "rotating-backend");
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&old, "k1")]}),
        &[("Cache-Control", "max-age=3600")],
    );
    assert_eq!(try_token(&app, "rotating-backend", &old, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 1);
    // The client rotates: its key server now has k2 only.
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&new, "k2")]}),
        &[("Cache-Control", "max-age=3600")],
    );
    // Within 10 s of the last fetch even a new kid waits: the cached set answers.
    advance(&app, 5_000);
    let (status, why) = try_token(&app, "rotating-backend", &new, "k2");
    assert_eq!((status, app.platform.fetches(KEYS_URL)), (401, 1), "{why}");
    assert!(why.contains("no registered RS384 key with kid k2"), "{why}");
    // After the interval the unknown kid fetches the set once: the rotation is picked up.
    advance(&app, 5_000);
    assert_eq!(try_token(&app, "rotating-backend", &new, "k2").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 2, "one refetch for the new kid");
    // The withdrawn key is refused, without another fetch (the set was fetched just now).
    assert_eq!(try_token(&app, "rotating-backend", &old, "k1").0, 401);
    // A flood of assertions with kids the set lacks: one fetch per 10 s at most.
    for i in 0..50 {
        let (status, _) = try_token(&app, "rotating-backend", &new, &format!("unknown-{i}"));
        assert_eq!(status, 401);
        advance(&app, 1_000);
    }
    // 50 unknown kids over 50 s: a fetch 10, 20, 30 and 40 s after the one for k2 (at 0 s).
    assert_eq!(app.platform.fetches(KEYS_URL), 6, "one per elapsed 10 s interval");
    // The known key works throughout without fetching.
    assert_eq!(try_token(&app, "rotating-backend", &new, "k2").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 6);
}

#[test]
fn a_no_store_key_set_is_not_cached_and_still_rate_limited() {
    let app = world();
    let rsa = rsa_key();
    register_backend_uri(&app, "nostore-backend");
    for cache_control in ["no-store", "no-cache", "max-age=0"] {
        app.platform.serve(
            KEYS_URL,
            json!({"keys": [rsa_jwk(&rsa, "k1")]}),
            &[("Cache-Control", cache_control)],
        );
        let before = app.platform.fetches(KEYS_URL);
        assert_eq!(
            try_token(&app, "nostore-backend", &rsa, "k1").0,
            200,
            "{cache_control}"
        );
        assert_eq!(app.platform.fetches(KEYS_URL), before + 1);
        // Not kept, and not fetched again within 10 s: refused, retry later.
        advance(&app, 3_000);
        let (status, why) = try_token(&app, "nostore-backend", &rsa, "k1");
        assert_eq!(status, 401, "{cache_control}");
        assert!(why.contains("may not be cached"), "{why}");
        assert_eq!(app.platform.fetches(KEYS_URL), before + 1, "{cache_control}");
        // After the interval: fetched again (nothing was kept).
        advance(&app, 7_000);
        assert_eq!(try_token(&app, "nostore-backend", &rsa, "k1").0, 200);
        assert_eq!(app.platform.fetches(KEYS_URL), before + 2, "{cache_control}");
        advance(&app, 10_000);
    }
}

#[test]
fn a_key_server_that_is_down_is_asked_at_most_once_per_interval() {
    let app = world();
    let rsa = rsa_key();
    register_backend_uri(&app, "down-backend");
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&rsa, "k1")]}),
        &[("Cache-Control", "max-age=60")],
    );
    assert_eq!(try_token(&app, "down-backend", &rsa, "k1").0, 200);
    app.platform.serve_unavailable(KEYS_URL);
    // Fresh: the cached set serves though the server is down.
    advance(&app, 30_000);
    assert_eq!(try_token(&app, "down-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 1);
    // Stale: one failed fetch (no stale-if-error), then no fetch for 10 s.
    advance(&app, 31_000);
    for _ in 0..5 {
        let (status, why) = try_token(&app, "down-backend", &rsa, "k1");
        assert_eq!(status, 401);
        assert!(
            why.contains("could not be read") || why.contains("may not be cached"),
            "{why}"
        );
    }
    assert_eq!(app.platform.fetches(KEYS_URL), 2);
    // Back up: the next interval fetches and works.
    app.platform
        .serve(KEYS_URL, json!({"keys": [rsa_jwk(&rsa, "k1")]}), &[]);
    advance(&app, 10_000);
    assert_eq!(try_token(&app, "down-backend", &rsa, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 3);
}

#[test]
fn replacing_a_clients_keys_forgets_its_cached_set() {
    let app = world();
    let (old, new) = (rsa_key(), other_rsa_key());
    register_backend_uri(&app, "replaced-backend");
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&old, "k1")]}),
        &[("Cache-Control", "max-age=86400")],
    );
    assert_eq!(try_token(&app, "replaced-backend", &old, "k1").0, 200);
    // The operator sets the keys again (the same URL, now serving another key).
    app.platform.serve(
        KEYS_URL,
        json!({"keys": [rsa_jwk(&new, "k1")]}),
        &[("Cache-Control", "max-age=86400")],
    );
    let r = call(
        &app,
        admin("PUT", "/admin/clients/replaced-backend/jwks").body(json!({"jwks_uri": KEYS_URL}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    // At once, within the refetch interval and the old max-age: the old key is refused.
    let (status, why) = try_token(&app, "replaced-backend", &old, "k1");
    assert_eq!(status, 401, "{why}");
    assert_eq!(app.platform.fetches(KEYS_URL), 2);
    assert_eq!(try_token(&app, "replaced-backend", &new, "k1").0, 200);
    assert_eq!(app.platform.fetches(KEYS_URL), 2);
}

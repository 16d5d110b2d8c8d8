//! Trial group 8: the SMART App Launch authorization server, end to end over
//! HTTP, to the contract in `notes/auth-api.md` and the Discovery / Authorize
//! / Token / FHIR API sections of `shared/CONFORMANCE.md`.
//!
//! Each trial builds its own [`World`]: a practice of its own (key given by
//! the trial), a small hand-written data set with two patients A and B, three
//! users (patient users for A and B, a practitioner) and the apps it
//! registers. Each trial also sends its own `CF-Connecting-IP` on the
//! IP-throttled endpoints so that the trials do not share a rate-limit bucket.
//!
//! - [`discovery`]: well-known documents, JWKS, CapabilityStatement security.
//! - [`registration`]: RFC 7591 registration and the admin client/user API.
//! - [`launch`]: patient and provider standalone launch, EHR launch, consent
//!   (unticked types, granular category scopes), deny, id_token.
//! - [`token`]: refresh rotation and reuse, introspection, revocation.
//! - [`backend`]: client_credentials with private_key_jwt (RS384, ES384).
//! - [`enforcement`]: what a token may read on `/fhir`.
//! - [`attacks`]: attempts that must all fail, counted.
//! - [`portal`]: patient-directed revocation.
//! - [`limits`]: throttling, CORS, sign-in slow-down per name and address.
//! - [`visibility`]: multi-patient resources, chains held to the chained
//!   type's scopes, access history from the answer.
//! - [`grant_types`]: `system/` only for backend services, approval changes
//!   reaching existing grants, single-use launch contexts bound to one app.
//! - [`hygiene`]: body caps and parameter bounds, `jwks_uri` rules, uniform
//!   sign-in failures throttled per name and address, PINs per practice.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use flare_tests::http::{encode_pairs, excerpt, Client, Resp};
use flare_tests::oauth::{
    self, post_oauth, query_param, random_string, the_form, Browser, ClientAuth, Form, Pkce, Step,
};
use flare_tests::{check, check_eq};

use crate::context::Ctx;
use crate::TrialFn;

mod attacks;
pub(crate) mod backend;
mod discovery;
mod enforcement;
mod grant_types;
mod history;
mod hygiene;
mod jwks_cache;
mod launch;
mod limits;
mod portal;
mod registration;
mod token;
mod visibility;

/// The trials of this group.
pub fn trials() -> Vec<(&'static str, TrialFn)> {
    let mut all = Vec::new();
    all.extend(discovery::TRIALS.iter().copied());
    all.extend(registration::TRIALS.iter().copied());
    all.extend(launch::TRIALS.iter().copied());
    all.extend(token::TRIALS.iter().copied());
    all.extend(backend::TRIALS.iter().copied());
    all.extend(enforcement::TRIALS.iter().copied());
    all.extend(attacks::TRIALS.iter().copied());
    all.extend(portal::TRIALS.iter().copied());
    all.extend(limits::TRIALS.iter().copied());
    all.extend(visibility::TRIALS.iter().copied());
    all.extend(grant_types::TRIALS.iter().copied());
    all.extend(hygiene::TRIALS.iter().copied());
    all
}

/// The trials of this group that restart the edge (run alone, after all others).
pub fn exclusive() -> Vec<(&'static str, TrialFn)> {
    let mut all = hygiene::EXCLUSIVE.to_vec();
    all.extend(history::EXCLUSIVE.iter().copied());
    all.extend(jwks_cache::EXCLUSIVE.iter().copied());
    all
}

/// The password every test user gets (strong: upper, lower, digit, symbol).
pub const PASSWORD: &str = "Flare-e2e-Pass1!";

/// Observation category system.
pub const OBS_CAT: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// Condition category system.
pub const COND_CAT: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct User {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// `Patient/…` or `Practitioner/…`.
    pub fhir_user: String,
}

/// One patient's records.
#[derive(Debug, Clone)]
pub struct PatientData {
    /// Patient id.
    pub id: String,
    /// Family name (unique per practice).
    pub family: String,
    /// Laboratory Observation.
    pub obs_lab: String,
    /// Vital-signs Observation.
    pub obs_vital: String,
    /// Condition (problem-list-item).
    pub condition: String,
    /// Encounter.
    pub encounter: String,
    /// MedicationRequest (of the shared Medication).
    pub med_request: String,
    /// Provenance whose target is `obs_lab`.
    pub provenance: String,
    /// CareTeam (only A's has one: its participants are B and the practitioner).
    pub care_team: String,
}

/// A registered, approved app.
#[derive(Debug, Clone)]
pub struct App {
    /// client_id.
    pub client_id: String,
    /// client_secret (client_secret_basic only).
    pub secret: Option<String>,
    /// The registered redirect URI.
    pub redirect_uri: String,
}

impl App {
    /// How this app authenticates at /token (public or Basic).
    pub fn auth(&self) -> ClientAuth {
        match &self.secret {
            Some(s) => ClientAuth::Basic(self.client_id.clone(), s.clone()),
            None => ClientAuth::Public(self.client_id.clone()),
        }
    }
}

/// A trial's own practice, data, users, and rate-limit identity.
pub struct World {
    /// Admin client.
    pub client: Client,
    /// Practice key.
    pub key: String,
    /// `CF-Connecting-IP` this trial sends on throttled endpoints.
    pub ip: String,
    /// Patient A.
    pub a: PatientData,
    /// Patient B.
    pub b: PatientData,
    /// The Practitioner A's lab Observation names as performer.
    pub practitioner: String,
    /// A Practitioner only B's records reference.
    pub practitioner_b: String,
    /// The Organization (managing both patients).
    pub organization: String,
    /// The Medication both MedicationRequests reference.
    pub medication: String,
    /// Patient user of A.
    pub alice: User,
    /// Patient user of B.
    pub bob: User,
    /// Practitioner user.
    pub doctor: User,
}

/// Distinct documentation addresses (RFC 5737) for the trials.
static NEXT_IP: AtomicUsize = AtomicUsize::new(1);

/// A fresh `CF-Connecting-IP` value.
pub fn fresh_ip() -> String {
    let n = NEXT_IP.fetch_add(1, Ordering::Relaxed);
    format!("198.51.{}.{}", 100 + n / 250, 1 + n % 250)
}

fn patient_data(k: &str, p: &str, family: &str) -> PatientData {
    PatientData {
        id: format!("{k}-{p}"),
        family: family.to_string(),
        obs_lab: format!("{k}-{p}-lab"),
        obs_vital: format!("{k}-{p}-vital"),
        condition: format!("{k}-{p}-cond"),
        encounter: format!("{k}-{p}-enc"),
        med_request: format!("{k}-{p}-mr"),
        provenance: format!("{k}-{p}-prov"),
        care_team: format!("{k}-{p}-ct"),
    }
}

fn put(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    );
    json!({"request": {"method": "PUT", "url": url}, "resource": resource})
}

fn patient_entries(d: &PatientData, given: &str, org: &str, performer: &str, med: &str) -> Vec<Value> {
    let subj = json!({"reference": format!("Patient/{}", d.id)});
    let obs = |id: &str, cat: &str, loinc: &str, text: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final",
               "category": [{"coding": [{"system": OBS_CAT, "code": cat}]}],
               "code": {"coding": [{"system": "http://loinc.org", "code": loinc}], "text": text},
               "subject": subj, "effectiveDateTime": "2024-05-01T10:00:00Z",
               "performer": [{"reference": format!("Practitioner/{performer}")}],
               "valueQuantity": {"value": 7.1, "unit": "%"}})
    };
    vec![
        put(
            json!({"resourceType": "Patient", "id": d.id, "gender": "female", "birthDate": "1980-01-02",
                   "name": [{"family": d.family, "given": [given]}],
                   "managingOrganization": {"reference": format!("Organization/{org}")}}),
        ),
        put(obs(&d.obs_lab, "laboratory", "4548-4", "HbA1c")),
        put(obs(&d.obs_vital, "vital-signs", "8867-4", "Heart rate")),
        put(json!({"resourceType": "Condition", "id": d.condition,
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                   "category": [{"coding": [{"system": COND_CAT, "code": "problem-list-item"}]}],
                   "code": {"text": "Diabetes"}, "subject": subj})),
        put(
            json!({"resourceType": "Encounter", "id": d.encounter, "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                   "subject": subj, "period": {"start": "2024-05-01T09:00:00Z", "end": "2024-05-01T11:00:00Z"}}),
        ),
        put(
            json!({"resourceType": "MedicationRequest", "id": d.med_request, "status": "active",
                   "intent": "order", "subject": subj, "authoredOn": "2024-05-01",
                   "medicationReference": {"reference": format!("Medication/{med}")}}),
        ),
        put(
            json!({"resourceType": "Provenance", "id": d.provenance, "recorded": "2024-05-01T10:00:00Z",
                   "target": [{"reference": format!("Observation/{}", d.obs_lab)}],
                   "agent": [{"who": {"reference": format!("Practitioner/{performer}")}}]}),
        ),
    ]
}

impl World {
    /// Creates practice `key` with its data set and users (`{key}-alice`,
    /// `{key}-bob`, `{key}-doc`).
    pub fn new(ctx: &Ctx, key: &str) -> World {
        let c = ctx.client.clone();
        c.put_json(
            &format!("/admin/practices/{key}"),
            &flare_tests::practice::practice(&format!("Practice {key}")),
        )
        .send()
        .expect_status(200);
        let tag: String = key.chars().filter(char::is_ascii_alphanumeric).collect();
        let a = patient_data(key, "a", &format!("Alphaley{tag}"));
        let b = patient_data(key, "b", &format!("Bravoley{tag}"));
        let (org, pr, pr2, med) = (
            format!("{key}-org"),
            format!("{key}-pr"),
            format!("{key}-pr2"),
            format!("{key}-med"),
        );
        let mut entries = vec![
            put(json!({"resourceType": "Organization", "id": org, "name": format!("Org {key}")})),
            put(
                json!({"resourceType": "Practitioner", "id": pr, "name": [{"family": "Drwho", "given": ["Dana"]}]}),
            ),
            put(
                json!({"resourceType": "Practitioner", "id": pr2, "name": [{"family": "Drwhy", "given": ["Dell"]}]}),
            ),
            put(json!({"resourceType": "Medication", "id": med,
                       "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]}})),
        ];
        entries.extend(patient_entries(&a, "Ann", &org, &pr, &med));
        // A's care team names B (a relative, say) and the practitioner: a
        // reference from A's records into B's compartment.
        entries.push(put(
            json!({"resourceType": "CareTeam", "id": a.care_team, "status": "active",
            "subject": {"reference": format!("Patient/{}", a.id)},
            "participant": [{"member": {"reference": format!("Patient/{}", b.id)}},
                            {"member": {"reference": format!("Practitioner/{pr}")}}]}),
        ));
        entries.extend(patient_entries(&b, "Ben", &org, &pr2, &med));
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        c.import_ok(key, &tx);

        let user = |suffix: &str, fhir_user: String| {
            let u = User {
                username: format!("{key}-{suffix}"),
                password: PASSWORD.to_string(),
                fhir_user,
            };
            let r = c
                .post(
                    "/admin/users",
                    "application/json",
                    json!({"username": u.username, "password": u.password, "practice": key,
                           "fhirUser": u.fhir_user, "name": format!("{suffix} of {key}")})
                    .to_string(),
                )
                .send()
                .expect_status(201);
            let body = r.json();
            check_eq!(body["username"], u.username.as_str(), "POST /admin/users: {body}");
            check_eq!(
                body["fhirUser"],
                u.fhir_user.as_str(),
                "POST /admin/users: {body}"
            );
            check!(
                body["user_id"].is_string(),
                "POST /admin/users without user_id: {body}"
            );
            u
        };
        let alice = user("alice", format!("Patient/{}", a.id));
        let bob = user("bob", format!("Patient/{}", b.id));
        let doctor = user("doc", format!("Practitioner/{pr}"));
        World {
            client: c,
            key: key.to_string(),
            ip: fresh_ip(),
            a,
            b,
            practitioner: pr,
            practitioner_b: pr2,
            organization: org,
            medication: med,
            alice,
            bob,
            doctor,
        }
    }

    /// `{origin}/fhir`: the `aud` and the issuer.
    pub fn aud(&self) -> String {
        self.client.fhir_base()
    }

    /// `{origin}/token`: the client assertion audience.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.client.origin)
    }

    /// A browser that sends this trial's IP.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.client).with_header("CF-Connecting-IP", &self.ip)
    }

    /// A FHIR client with bearer `token`.
    pub fn as_token(&self, token: &str) -> Client {
        Client::new(&self.client.origin, token)
    }

    /// `GET path` with bearer `token`.
    pub fn fhir(&self, token: &str, path: &str) -> Resp {
        self.client.get(path).token(token).send()
    }

    /// `POST path` (admin) with a JSON body.
    pub fn admin_post(&self, path: &str, body: &Value) -> Resp {
        self.client
            .post(path, "application/json", body.to_string())
            .send()
    }

    /// A form POST to an OAuth endpoint (`/token`, `/introspect`, `/revoke`)
    /// from this trial's IP.
    pub fn oauth(&self, path: &str, pairs: &[(&str, &str)], auth: &ClientAuth) -> Resp {
        post_oauth(&self.client, path, pairs, auth, &[("CF-Connecting-IP", &self.ip)])
    }

    /// `POST /register` (Bearer ADMIN) with `meta`.
    pub fn register(&self, meta: &Value) -> Resp {
        self.client
            .post("/register", "application/json", meta.to_string())
            .header("CF-Connecting-IP", &self.ip)
            .send()
    }

    /// Registers `meta` (practice added), checks 201 pending, approves it.
    pub fn register_approved(&self, meta: Value) -> App {
        let mut meta = meta;
        if meta.get("practice").is_none() {
            meta["practice"] = json!(self.key);
        }
        let r = self.register(&meta).expect_status(201);
        let body = r.json();
        let client_id = body["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("registration without client_id: {body}"))
            .to_string();
        check_eq!(body["status"], "pending", "a new registration is pending: {body}");
        self.admin_post(&format!("/admin/clients/{client_id}/approve"), &json!({}))
            .expect_status(200);
        App {
            client_id,
            secret: body["client_secret"].as_str().map(str::to_string),
            redirect_uri: meta["redirect_uris"][0].as_str().unwrap_or_default().to_string(),
        }
    }

    /// An approved authorization-code app: `method` is `none` (public) or
    /// `client_secret_basic`; `scope` its allowed scopes.
    pub fn app(&self, name: &str, method: &str, scope: &str) -> App {
        self.register_approved(json!({
            "client_name": format!("{name} ({})", self.key),
            "redirect_uris": [format!("http://{name}.{}.app.example:8400/cb", self.key)],
            "token_endpoint_auth_method": method,
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": scope,
        }))
    }

    /// The usual /authorize parameters (PKCE S256 when `pkce` is given, a random state).
    pub fn auth_params(&self, app: &App, scope: &str, pkce: Option<&Pkce>) -> Vec<(String, String)> {
        let mut p = vec![
            ("response_type".to_string(), "code".to_string()),
            ("client_id".to_string(), app.client_id.clone()),
            ("redirect_uri".to_string(), app.redirect_uri.clone()),
            ("scope".to_string(), scope.to_string()),
            ("state".to_string(), random_string(12)),
            ("aud".to_string(), self.aud()),
        ];
        if let Some(pk) = pkce {
            p.push(("code_challenge".to_string(), pk.challenge.clone()));
            p.push(("code_challenge_method".to_string(), "S256".to_string()));
        }
        p
    }

    /// Drives /authorize to its end: signs in as `user` when asked, picks
    /// `pick` on the patient picker, and decides on the consent page with
    /// `decide` (which gets the form and returns what to post). Returns the
    /// Location of the redirect to the app.
    pub fn authorize(
        &self,
        b: &mut Browser,
        params: &[(String, String)],
        user: &User,
        pick: Option<&str>,
        decide: &dyn Fn(&Form) -> Vec<(String, String)>,
    ) -> String {
        let step = b.open(&format!("/authorize?{}", encode_pairs(params)));
        self.drive(b, step, user, pick, decide)
    }

    /// [`World::authorize`] from an already opened step.
    pub fn drive(
        &self,
        b: &mut Browser,
        mut step: Step,
        user: &User,
        pick: Option<&str>,
        decide: &dyn Fn(&Form) -> Vec<(String, String)>,
    ) -> String {
        for _ in 0..6 {
            let resp = match step {
                Step::Away { location, .. } => return location,
                Step::Page(resp) => resp,
            };
            check!(
                resp.status == 200,
                "{} answered {} during /authorize: {}",
                resp.request,
                resp.status,
                excerpt(&resp.body)
            );
            let form = the_form(&resp);
            let action = form.action.split('?').next().unwrap_or_default().to_string();
            if action.ends_with("/authorize/signin") {
                let mut pairs = form.hidden_pairs();
                pairs.push(("username".into(), user.username.clone()));
                pairs.push(("password".into(), user.password.clone()));
                step = b.submit(&form, &pairs);
            } else if action.ends_with("/authorize/patient") {
                let pick =
                    pick.unwrap_or_else(|| panic!("unexpected patient picker: {}", excerpt(&resp.body)));
                let radios = form.radios("patient");
                check!(
                    radios.iter().any(|r| r == pick),
                    "the picker does not offer {pick}: {radios:?}"
                );
                let mut pairs = form.hidden_pairs();
                pairs.push(("patient".into(), pick.to_string()));
                step = b.submit(&form, &pairs);
            } else if action.ends_with("/authorize/consent") {
                let pairs = decide(&form);
                step = b.submit(&form, &pairs);
            } else {
                panic!(
                    "unexpected form action {:?}: {}",
                    form.action,
                    excerpt(&resp.body)
                );
            }
        }
        panic!("/authorize did not finish in 6 steps: {:?}", b.trail)
    }

    /// A full authorization as `user` with every offered scope left as is;
    /// returns the code (state checked).
    pub fn code(
        &self,
        app: &App,
        scope: &str,
        pkce: Option<&Pkce>,
        user: &User,
        pick: Option<&str>,
    ) -> String {
        let mut b = self.browser();
        let params = self.auth_params(app, scope, pkce);
        let loc = self.authorize(&mut b, &params, user, pick, &allow);
        code_of(&loc, app, &params)
    }

    /// The /token exchange of `code`.
    pub fn exchange(&self, app: &App, code: &str, pkce: Option<&Pkce>) -> Resp {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", app.redirect_uri.as_str()),
        ];
        if let Some(pk) = pkce {
            pairs.push(("code_verifier", pk.verifier.as_str()));
        }
        self.oauth("/token", &pairs, &app.auth())
    }

    /// Authorizes `user` for `scope` and exchanges the code: the token response.
    pub fn login(&self, app: &App, scope: &str, user: &User, pick: Option<&str>) -> Value {
        let pkce = Pkce::new();
        let code = self.code(app, scope, Some(&pkce), user, pick);
        token_ok(&self.exchange(app, &code, Some(&pkce)))
    }

    /// `grant_type=refresh_token`.
    pub fn refresh(&self, app: &App, refresh_token: &str, scope: Option<&str>) -> Resp {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        if let Some(s) = scope {
            pairs.push(("scope", s));
        }
        self.oauth("/token", &pairs, &app.auth())
    }
}

/// The audit response (`{"events": […]}`) of patient `patient` in `w`'s practice.
pub fn audit_of(w: &World, patient: &str) -> Value {
    w.client
        .get(&format!("/admin/audit?practice={}&patient={patient}", w.key))
        .send()
        .expect_status(200)
        .json()
}

/// The audit events of patient `patient` in `w`'s practice, polled for up
/// to 5 s until `want` holds.
pub fn audit_until(w: &World, patient: &str, want: &dyn Fn(&[Value]) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let audit = audit_of(w, patient);
        let events = audit["events"].as_array().cloned().unwrap_or_default();
        if want(&events) || std::time::Instant::now() > deadline {
            return audit;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Consent: post what the form has (checked boxes), and allow.
pub fn allow(form: &Form) -> Vec<(String, String)> {
    let mut p = form.submission();
    p.push(("decision".into(), "allow".into()));
    p
}

/// Consent: deny.
pub fn deny(form: &Form) -> Vec<(String, String)> {
    let mut p = form.submission();
    p.push(("decision".into(), "deny".into()));
    p
}

/// The authorization code of a redirect to the app; checks the redirect URI,
/// the unchanged state and that there is no error.
pub fn code_of(location: &str, app: &App, params: &[(String, String)]) -> String {
    check!(
        location.starts_with(&format!("{}?", app.redirect_uri)),
        "redirected to {location}, not to {}",
        app.redirect_uri
    );
    check_eq!(query_param(location, "error"), None, "error redirect: {location}");
    let state = params.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone());
    check_eq!(query_param(location, "state"), state, "state changed: {location}");
    let code = query_param(location, "code").unwrap_or_default();
    check!(!code.is_empty(), "no code in {location}");
    code
}

/// The `error` of a redirect to the app (state checked unchanged, no code).
pub fn error_of(location: &str, app: &App, params: &[(String, String)]) -> String {
    check!(
        location.starts_with(&format!("{}?", app.redirect_uri)),
        "redirected to {location}, not to {}",
        app.redirect_uri
    );
    check_eq!(
        query_param(location, "code"),
        None,
        "a code despite an error: {location}"
    );
    let state = params.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone());
    check_eq!(query_param(location, "state"), state, "state changed: {location}");
    query_param(location, "error").unwrap_or_default()
}

/// Checks a successful token response (200, no-store, no-cache, Bearer,
/// numeric expires_in, an access token) and returns its JSON.
pub fn token_ok(r: &Resp) -> Value {
    check_eq!(
        r.status,
        200,
        "{} → {}: {}",
        r.request,
        r.status,
        excerpt(&r.body)
    );
    no_store(r);
    let t = r.json();
    check!(
        t["access_token"].as_str().is_some_and(|s| s.len() >= 20),
        "access_token: {t}"
    );
    check!(
        t["token_type"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer")),
        "token_type: {t}"
    );
    check!(t["expires_in"].is_u64(), "expires_in is not a number: {t}");
    check!(t["scope"].is_string(), "no scope: {t}");
    t
}

/// `Cache-Control: no-store` and `Pragma: no-cache` on a token response.
pub fn no_store(r: &Resp) {
    check!(
        r.header("cache-control").is_some_and(|v| v.contains("no-store")),
        "{}: Cache-Control {:?}",
        r.request,
        r.header("cache-control")
    );
    check!(
        r.header("pragma").is_some_and(|v| v.contains("no-cache")),
        "{}: Pragma {:?}",
        r.request,
        r.header("pragma")
    );
}

/// Checks an OAuth JSON error: status and error code.
pub fn oauth_err(r: &Resp, status: u16, error: &str) {
    check_eq!(
        (r.status, oauth::oauth_error(r).as_str()),
        (status, error),
        "{} → {}: {}",
        r.request,
        r.status,
        excerpt(&r.body)
    );
    check!(
        r.header("content-type")
            .is_some_and(|c| c.contains("application/json")),
        "{}: OAuth error content-type {:?}",
        r.request,
        r.header("content-type")
    );
}

/// The `access_token` of a token response (empty when it has none).
pub fn access_token(t: &Value) -> String {
    t["access_token"].as_str().unwrap_or_default().to_string()
}

/// The scopes of a space-separated scope string.
pub fn scopes(s: &Value) -> Vec<String> {
    s.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Asserts a FHIR response is 401 with an OperationOutcome and `WWW-Authenticate: Bearer…`.
pub fn expect_401(r: &Resp) {
    flare_tests::fhir::expect_outcome(r, 401);
    check!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{}: WWW-Authenticate {:?}",
        r.request,
        r.header("www-authenticate")
    );
}

/// Asserts a FHIR response is 403 insufficient_scope with an OperationOutcome.
pub fn expect_403_scope(r: &Resp) {
    flare_tests::fhir::expect_outcome(r, 403);
    check!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer") && v.contains("insufficient_scope")),
        "{}: WWW-Authenticate {:?}",
        r.request,
        r.header("www-authenticate")
    );
}

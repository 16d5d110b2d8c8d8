//! Trial group 9: FHIR Bulk Data `$export`, end to end over HTTP, as a real
//! bulk client acts (the contract is `notes/bulk-api.md`, the Bulk Data
//! section of `shared/CONFORMANCE.md`): a backend client registered with an
//! RS384 or ES384 key signs a client assertion, gets a system token, kicks
//! off with `Prefer: respond-async`, polls the status URL honoring
//! `Retry-After`, downloads every file with its token and compares the
//! ndjson lines with what the trial imported itself.
//!
//! Each trial has a practice of its own (and a sibling practice `…-x` that
//! holds look-alike data under the same ids, which must never leak), built
//! by [`World::new`]: a Group `grp` with three active members, an inactive
//! member, two patients outside the group, a Group of only outsiders, a
//! Group mixing a member and an outsider, shared Practitioner / Medication /
//! Organization / Location / PractitionerRole resources referenced by the
//! members' records, resources only outsiders reference, and an
//! unreferenced Practitioner. The expected export is computed from that data
//! ([`World::expected_group`]): the members' Patient-compartment resources
//! (every resource here reaches a Patient only through a compartment
//! parameter, so "references `Patient/x`" is the compartment test) plus the
//! Medication, Location, Organization, Practitioner and PractitionerRole
//! resources those records reference directly, and the Provenance whose
//! target is one of those records.
//!
//! - [`group`]: RS384 and ES384 clients, the full round trip, exact content.
//! - [`params`]: `_type`, `_since`, `_typeFilter`, `_elements`,
//!   `_outputFormat` spellings, Patient- and system-level, POST kick-off.
//! - [`refusals`]: 400 / 401 / 403 / 404 kick-offs (user and patient tokens too).
//! - [`lifecycle`]: cancel (DELETE), another client's view (404), the
//!   per-client cap (429 with Retry-After), also for simultaneous kick-offs.
//! - [`restart`]: `wrangler dev` restarted mid-export (runs alone, after
//!   every other trial: see `EXCLUSIVE` and `main.rs`).
//!
//! Checks are counted per trial (a `ctx.note` line each) and in total
//! ([`summary`]).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use flare_tests::fhir::{first_difference, without_server_meta};
use flare_tests::http::{encode_pairs, excerpt, Client, Resp};
use flare_tests::oauth::{
    assertion_claims, ec_jwk, ec_key, post_oauth, rsa_jwk, rsa_key, sign_es384, sign_rs384, ClientAuth,
};

use crate::context::Ctx;
use crate::TrialFn;

thread_local! {
    /// Checks of the trial running on this thread (a trial runs on one thread).
    static TRIAL_CHECKS: Cell<usize> = const { Cell::new(0) };
}
static BULK_CHECKS: AtomicUsize = AtomicUsize::new(0);
static BULK_TRIALS: AtomicUsize = AtomicUsize::new(0);

/// Counts one bulk check (the macros call it; the global e2e count too).
pub fn tally() {
    TRIAL_CHECKS.with(|c| c.set(c.get() + 1));
    BULK_CHECKS.fetch_add(1, Ordering::Relaxed);
}

/// `check!` counted for the bulk summary.
macro_rules! ck {
    ($($t:tt)+) => {{
        $crate::bulk::tally();
        flare_tests::check!($($t)+);
    }};
}

/// `check_eq!` counted for the bulk summary.
macro_rules! ck_eq {
    ($($t:tt)+) => {{
        $crate::bulk::tally();
        flare_tests::check_eq!($($t)+);
    }};
}

mod group;
mod lifecycle;
mod params;
mod refusals;
mod restart;

/// The trials that share the edge with everything else.
pub const TRIALS: &[(&str, TrialFn)] = &[
    ("bulk::group::rs384_and_es384_exact_member_data", group::exact),
    ("bulk::params::type_since_typefilter_elements", params::filters),
    ("bulk::params::output_formats_levels_and_post", params::levels),
    ("bulk::refusals::kick_off_errors", refusals::kick_off_errors),
    ("bulk::refusals::user_and_patient_tokens", refusals::user_tokens),
    ("bulk::lifecycle::cancel", lifecycle::cancel),
    (
        "bulk::lifecycle::other_client_and_cap",
        lifecycle::other_client_and_cap,
    ),
    (
        "bulk::lifecycle::concurrent_kick_offs_respect_the_cap",
        lifecycle::concurrent_cap,
    ),
];

/// The trials that restart the edge: run alone, after all others.
pub const EXCLUSIVE: &[(&str, TrialFn)] = &[(
    "bulk::restart::mid_export_resumes_complete_and_duplicate_free",
    restart::mid_export,
)];

/// Runs a trial body, then notes how many checks it made and how long it took.
pub fn run(ctx: &Ctx, name: &str, body: impl FnOnce(&Ctx)) {
    TRIAL_CHECKS.with(|c| c.set(0));
    let started = Instant::now();
    body(ctx);
    let n = TRIAL_CHECKS.with(Cell::get);
    BULK_TRIALS.fetch_add(1, Ordering::Relaxed);
    ctx.note(format!(
        "bulk::{name}: {n} checks passed in {:.1?}",
        started.elapsed()
    ));
}

/// The end-of-run line, if a bulk trial finished.
pub fn summary() -> Option<String> {
    let trials = BULK_TRIALS.load(Ordering::Relaxed);
    (trials > 0).then(|| {
        format!(
            "bulk: {trials} trials passed, {} bulk checks",
            BULK_CHECKS.load(Ordering::Relaxed)
        )
    })
}

// ------------------------------------------------------------------ clients

/// The non-compartment types a Group or Patient export adds when referenced.
pub const REFERENCED: [&str; 5] = [
    "Medication",
    "Location",
    "Organization",
    "Practitioner",
    "PractitionerRole",
];

/// How a backend client signs its assertions.
enum Key {
    Rs(usize),
    Es(Box<p384::ecdsa::SigningKey>),
}

/// A registered, approved backend-services client.
pub struct Backend {
    /// client_id.
    pub client_id: String,
    key: Key,
    kid: String,
    ip: String,
}

impl Backend {
    /// Registers a `private_key_jwt` client (RS384 with test key 0, or a
    /// fresh ES384 key) in `practice` for `scope`, and approves it.
    pub fn register(c: &Client, practice: &str, name: &str, es384: bool, scope: &str) -> Backend {
        let kid = format!("{name}-key");
        let (key, jwk) = if es384 {
            let k = ec_key();
            let jwk = ec_jwk(&k, &kid);
            (Key::Es(Box::new(k)), jwk)
        } else {
            (Key::Rs(0), rsa_jwk(rsa_key(0), &kid, "RS384"))
        };
        let ip = crate::smart::fresh_ip();
        let meta = json!({
            "client_name": format!("{name} ({practice})"),
            "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": scope,
            "jwks": {"keys": [jwk]},
            "practice": practice,
        });
        let r = c
            .post("/register", "application/json", meta.to_string())
            .header("CF-Connecting-IP", &ip)
            .send();
        ck_eq!(r.status, 201, "POST /register: {}", excerpt(&r.body));
        let body = r.json();
        let client_id = body["client_id"].as_str().unwrap_or_default().to_string();
        ck!(!client_id.is_empty(), "registration without client_id: {body}");
        let r = c
            .post(
                &format!("/admin/clients/{client_id}/approve"),
                "application/json",
                "{}",
            )
            .send();
        ck_eq!(r.status, 200, "approve: {}", excerpt(&r.body));
        Backend {
            client_id,
            key,
            kid,
            ip,
        }
    }

    /// A fresh signed client assertion for `{origin}/token`.
    pub fn assertion(&self, c: &Client) -> String {
        let claims = assertion_claims(&self.client_id, &format!("{}/token", c.origin), 240);
        match &self.key {
            Key::Rs(i) => sign_rs384(rsa_key(*i), &self.kid, &claims),
            Key::Es(k) => sign_es384(k, &self.kid, &claims),
        }
    }

    /// `client_credentials` for `scope`: checks a system token was granted
    /// and returns the access token.
    pub fn token_for(&self, c: &Client, scope: &str) -> String {
        let r = post_oauth(
            c,
            "/token",
            &[("grant_type", "client_credentials"), ("scope", scope)],
            &ClientAuth::Assertion(self.assertion(c)),
            &[("CF-Connecting-IP", &self.ip)],
        );
        ck_eq!(
            r.status,
            200,
            "{} → {}: {}",
            r.request,
            r.status,
            excerpt(&r.body)
        );
        let t = r.json();
        let granted = t["scope"].as_str().unwrap_or_default().to_string();
        ck!(
            !granted.is_empty() && granted.split_whitespace().all(|s| s.starts_with("system/")),
            "a backend token with non-system scopes: {t}"
        );
        t["access_token"].as_str().unwrap_or_default().to_string()
    }

    /// A token for `system/*.rs`.
    pub fn token(&self, c: &Client) -> String {
        self.token_for(c, "system/*.rs")
    }
}

// ----------------------------------------------------------------- protocol

/// `GET path` with `Prefer: respond-async` and bearer `token`.
pub fn kick_off(c: &Client, token: &str, path: &str) -> Resp {
    c.get(path)
        .token(token)
        .header("Prefer", "respond-async")
        .header("Accept", "application/fhir+json")
        .send()
}

/// Checks an accepted kick-off (202, absolute `Content-Location` under the
/// FHIR base, informational OperationOutcome); returns the status URL.
pub fn accepted(c: &Client, r: &Resp) -> String {
    ck_eq!(
        r.status,
        202,
        "{} answered {}: {}",
        r.request,
        r.status,
        excerpt(&r.body)
    );
    let loc = r.header("content-location").unwrap_or_default().to_string();
    let prefix = format!("{}/$export-status/", c.fhir_base());
    ck!(
        loc.starts_with(&prefix) && loc.len() > prefix.len(),
        "{}: Content-Location {loc:?} is not an absolute status URL under {prefix}",
        r.request
    );
    if !r.body.is_empty() {
        let oo: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        ck_eq!(
            oo["resourceType"],
            "OperationOutcome",
            "{}: kick-off body {}",
            r.request,
            excerpt(&r.body)
        );
    }
    loc
}

/// What waiting for an export saw.
#[derive(Debug, Default, Clone)]
pub struct Polled {
    /// The manifest (status 200 body).
    pub manifest: Value,
    /// The 200 response's headers.
    pub headers: Vec<(String, String)>,
    /// 202 answers seen.
    pub pending: usize,
    /// The `X-Progress` values seen, in order.
    pub progress: Vec<String>,
}

/// Checks a 202 status answer: `Retry-After` (whole seconds ≥ 1) and
/// `X-Progress`; returns (seconds, progress).
pub fn pending(r: &Resp) -> (u64, String) {
    let ra = r.header("retry-after").unwrap_or_default();
    let secs = ra.trim().parse::<u64>().ok();
    ck!(
        secs.is_some_and(|s| (1..=120).contains(&s)),
        "{}: 202 with Retry-After {ra:?}",
        r.request
    );
    let progress = r.header("x-progress").unwrap_or_default().to_string();
    ck!(!progress.is_empty(), "{}: 202 without X-Progress", r.request);
    (secs.unwrap_or(1), progress)
}

/// Polls `status` with `token`, sleeping `Retry-After` between polls, until
/// 200 or `timeout`; checks the manifest's keys.
pub fn wait_done(c: &Client, token: &str, status: &str, timeout: Duration) -> Polled {
    let deadline = Instant::now() + timeout;
    let mut polled = Polled::default();
    loop {
        let r = c.get(status).token(token).send();
        match r.status {
            202 => {
                let (secs, progress) = pending(&r);
                polled.pending += 1;
                polled.progress.push(progress);
                ck!(
                    Instant::now() + Duration::from_secs(secs) < deadline,
                    "{status}: still running after {timeout:?}; progress {:?}",
                    polled.progress.last()
                );
                std::thread::sleep(Duration::from_secs(secs));
            }
            200 => {
                ck!(
                    r.header("content-type")
                        .is_some_and(|t| t.contains("application/json")),
                    "{status}: manifest content-type {:?}",
                    r.header("content-type")
                );
                polled.manifest = r.json();
                polled.headers = r.headers.clone();
                return polled;
            }
            s => panic!("{status}: answered {s} while polling: {}", excerpt(&r.body)),
        }
    }
}

/// Milliseconds since the epoch of a FHIR instant
/// (`YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)`).
pub fn instant_ms(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, offset_min) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (t, o) = rest.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':')?;
        (t, sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?))
    };
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec = t.next()?;
    let (ss, frac) = sec.split_once('.').unwrap_or((sec, "0"));
    let ss: i64 = ss.parse().ok()?;
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    // Days from civil (Howard Hinnant).
    let (yy, mo) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + hh) * 60 + mm - offset_min) * 60 + ss) * 1000 + ms)
}

/// Milliseconds since the epoch now (the edge runs on this machine).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A finished export, downloaded.
#[derive(Debug, Clone)]
pub struct Export {
    /// The manifest.
    pub manifest: Value,
    /// `Type/id` → the line's resource.
    pub lines: BTreeMap<String, Value>,
    /// Lines per type, as the files held them.
    pub per_type: BTreeMap<String, usize>,
    /// The file URLs.
    pub urls: Vec<String>,
    /// What polling saw.
    pub polled: Polled,
}

impl Export {
    /// The `Type/id` keys of type `t`.
    pub fn ids_of(&self, t: &str) -> BTreeSet<String> {
        self.lines
            .keys()
            .filter(|k| k.split('/').next() == Some(t))
            .cloned()
            .collect()
    }
}

/// `Type/id` of a resource.
pub fn key_of(v: &Value) -> String {
    format!(
        "{}/{}",
        v["resourceType"].as_str().unwrap_or_default(),
        v["id"].as_str().unwrap_or_default()
    )
}

/// Checks the manifest of an export kicked off with `request` between
/// `t0` and `t1` (ms), downloads every file with `token` and checks each
/// (200, `application/fhir+ndjson`, one `type` resource per line, `count`
/// lines, no line twice across the export).
pub fn download(c: &Client, token: &str, request: &str, t0: i64, polled: Polled) -> Export {
    let m = &polled.manifest;
    for k in [
        "transactionTime",
        "request",
        "requiresAccessToken",
        "output",
        "error",
    ] {
        ck!(m.get(k).is_some(), "manifest without {k}: {m}");
    }
    let tt = m["transactionTime"].as_str().and_then(instant_ms);
    let t1 = now_ms();
    ck!(
        tt.is_some_and(|t| t >= t0 - 2000 && t <= t1 + 2000),
        "transactionTime {} is not an instant between the kick-off and now: {m}",
        m["transactionTime"]
    );
    ck_eq!(m["request"], request, "manifest request: {m}");
    ck_eq!(m["requiresAccessToken"], true, "{m}");
    ck_eq!(m["error"], json!([]), "manifest error: {m}");
    let output = m["output"].as_array().cloned().unwrap_or_default();
    ck!(m["output"].is_array(), "output is not an array: {m}");
    let mut lines: BTreeMap<String, Value> = BTreeMap::new();
    let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut urls = Vec::new();
    let file_prefix = format!("{}/", c.fhir_base());
    for f in &output {
        let (t, url, count) = (
            f["type"].as_str().unwrap_or_default(),
            f["url"].as_str().unwrap_or_default(),
            f["count"].as_u64(),
        );
        ck!(
            !t.is_empty() && url.starts_with(&file_prefix) && count.is_some(),
            "output entry needs type, absolute url and count: {f}"
        );
        ck!(!urls.iter().any(|u| u == url), "file listed twice: {url}");
        urls.push(url.to_string());
        let r = c.get(url).token(token).send();
        ck_eq!(r.status, 200, "GET {url}: {}", excerpt(&r.body));
        ck_eq!(
            r.header("content-type").unwrap_or_default(),
            "application/fhir+ndjson",
            "GET {url}"
        );
        let mut n = 0u64;
        for (i, line) in r.body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            n += 1;
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{url} line {}: not JSON ({e}): {}", i + 1, excerpt(line)));
            ck_eq!(
                v["resourceType"],
                t,
                "{url} line {}: a {} in a {t} file",
                i + 1,
                v["resourceType"]
            );
            let k = key_of(&v);
            if lines.insert(k.clone(), v).is_some() {
                ck!(false, "{k} exported twice (again in {url})");
            }
        }
        ck_eq!(Some(n), count, "{url}: lines vs the manifest's count");
        *per_type.entry(t.to_string()).or_default() += n as usize;
    }
    Export {
        manifest: polled.manifest.clone(),
        lines,
        per_type,
        urls,
        polled,
    }
}

/// Kicks off `path` (GET, with `query`), polls to the end and downloads.
pub fn export(c: &Client, token: &str, path: &str, query: &[(&str, &str)]) -> Export {
    let full = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", encode_pairs(query))
    };
    let t0 = now_ms();
    let r = kick_off(c, token, &full);
    let status = accepted(c, &r);
    let polled = wait_done(c, token, &status, Duration::from_secs(120));
    download(c, token, &format!("{}{full}", c.origin), t0, polled)
}

/// Checks that the export holds exactly `expected` (`Type/id` → imported
/// resource; lines compared without server-managed meta).
pub fn assert_exact(what: &str, got: &Export, expected: &BTreeMap<String, Value>) {
    let missing: Vec<&String> = expected.keys().filter(|k| !got.lines.contains_key(*k)).collect();
    let extra: Vec<&String> = got.lines.keys().filter(|k| !expected.contains_key(*k)).collect();
    ck!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, unexpected {extra:?}"
    );
    for (k, want) in expected {
        let line = without_server_meta(&got.lines[k]);
        let want = without_server_meta(want);
        ck!(
            line == want,
            "{what}: {k} differs from what was imported: {}",
            first_difference(&line, &want, k).unwrap_or_default()
        );
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for k in expected.keys() {
        *counts
            .entry(k.split('/').next().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    ck_eq!(got.per_type, counts, "{what}: lines per type");
}

// -------------------------------------------------------------------- world

/// Every `reference` string in `v`.
pub fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn put(resource: Value) -> Value {
    json!({"request": {"method": "PUT", "url": key_of(&resource)}, "resource": resource})
}

/// A transaction Bundle of `resources` (PUT each).
pub fn transaction(resources: &[Value]) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction",
           "entry": resources.iter().cloned().map(put).collect::<Vec<_>>()})
}

const OBS_CAT: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// An Observation of `patient`.
pub fn observation(id: &str, patient: &str, category: &str, loinc: &str, performer: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "category": [{"coding": [{"system": OBS_CAT, "code": category}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
           "subject": {"reference": format!("Patient/{patient}")},
           "effectiveDateTime": "2024-05-01T10:00:00Z",
           "performer": [{"reference": format!("Practitioner/{performer}")}],
           "valueQuantity": {"value": 7.1, "unit": "%"}})
}

/// A trial's practice and the data it imported there.
pub struct World {
    /// Admin client.
    pub c: Client,
    /// Practice key.
    pub key: String,
    /// Everything imported into the practice, by `Type/id`.
    pub resources: BTreeMap<String, Value>,
}

/// The active members of Group `grp`.
pub const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];

impl World {
    /// Creates practice `key` (and `{key}-x` with look-alike data under the
    /// same ids) and imports the data set described in the module docs.
    pub fn new(ctx: &Ctx, key: &str) -> World {
        let c = ctx.client.clone();
        for k in [key.to_string(), format!("{key}-x")] {
            let r = c
                .put_json(
                    &format!("/admin/practices/{k}"),
                    &flare_tests::practice::practice(&format!("Bulk {k}")),
                )
                .send();
            ck_eq!(r.status, 200, "PUT /admin/practices/{k}: {}", excerpt(&r.body));
        }
        let mut all = vec![
            json!({"resourceType": "Organization", "id": "org", "name": format!("Org {key}")}),
            json!({"resourceType": "Organization", "id": "org-out", "name": "Outsiders' org"}),
            json!({"resourceType": "Location", "id": "loc", "name": "Room 1", "status": "active"}),
            json!({"resourceType": "Location", "id": "loc-out", "name": "Room 9", "status": "active"}),
            json!({"resourceType": "Practitioner", "id": "pr", "name": [{"family": "Shared", "given": ["Pat"]}]}),
            json!({"resourceType": "Practitioner", "id": "pr-out", "name": [{"family": "Outside", "given": ["Olly"]}]}),
            json!({"resourceType": "Practitioner", "id": "pr-unref", "name": [{"family": "Nobody", "given": ["Ned"]}]}),
            json!({"resourceType": "PractitionerRole", "id": "role", "active": true,
                   "code": [{"text": "nurse"}]}),
            json!({"resourceType": "PractitionerRole", "id": "role-unref", "active": true,
                   "code": [{"text": "clerk"}]}),
            json!({"resourceType": "Medication", "id": "med",
                   "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "860975"}]}}),
            json!({"resourceType": "Medication", "id": "med-out",
                   "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361"}]}}),
        ];
        // (patient, organization, performer, medication, encounter extras, vital code)
        let patients: [(&str, &str, &str, &str, Value, &str); 6] = [
            (
                "m1",
                "org",
                "pr",
                "med",
                json!({"location": [{"location": {"reference": "Location/loc"}}]}),
                "8867-4",
            ),
            (
                "m2",
                "org",
                "pr",
                "med",
                json!({"participant": [{"individual": {"reference": "PractitionerRole/role"}}]}),
                "8310-5",
            ),
            ("m3", "org", "pr", "med", json!({}), "8867-4"),
            ("m4", "org-out", "pr-out", "med-out", json!({}), "8867-4"),
            ("n1", "org", "pr-out", "med", json!({}), "8867-4"),
            (
                "n2",
                "org-out",
                "pr",
                "med-out",
                json!({"location": [{"location": {"reference": "Location/loc-out"}}]}),
                "8310-5",
            ),
        ];
        for (p, org, performer, med, enc_extra, vital) in patients {
            let subj = json!({"reference": format!("Patient/{p}")});
            all.push(
                json!({"resourceType": "Patient", "id": p, "gender": "female", "birthDate": "1980-01-02",
                            "name": [{"family": format!("Fam{p}"), "given": ["Ann"]}],
                            "managingOrganization": {"reference": format!("Organization/{org}")}}),
            );
            all.push(observation(
                &format!("{p}-lab"),
                p,
                "laboratory",
                "4548-4",
                performer,
            ));
            all.push(observation(
                &format!("{p}-vital"),
                p,
                "vital-signs",
                vital,
                performer,
            ));
            all.push(json!({"resourceType": "Condition", "id": format!("{p}-cond"),
                            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
                            "code": {"text": "Diabetes"}, "subject": subj}));
            let mut enc = json!({"resourceType": "Encounter", "id": format!("{p}-enc"), "status": "finished",
                                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                                 "subject": subj});
            for (k, v) in enc_extra.as_object().into_iter().flatten() {
                enc[k] = v.clone();
            }
            all.push(enc);
            all.push(
                json!({"resourceType": "MedicationRequest", "id": format!("{p}-mr"), "status": "active",
                            "intent": "order", "subject": subj, "authoredOn": "2024-05-01",
                            "medicationReference": {"reference": format!("Medication/{med}")}}),
            );
        }
        let member = |p: &str| json!({"entity": {"reference": format!("Patient/{p}")}});
        let mut inactive = member("m4");
        inactive["inactive"] = json!(true);
        all.push(
            json!({"resourceType": "Group", "id": "grp", "type": "person", "actual": true,
                        "member": [member("m1"), member("m2"), member("m3"), inactive]}),
        );
        all.push(
            json!({"resourceType": "Group", "id": "grp-out", "type": "person", "actual": true,
                        "member": [member("n1"), member("n2")]}),
        );
        all.push(
            json!({"resourceType": "Group", "id": "grp-mixed", "type": "person", "actual": true,
                        "member": [member("m3"), member("n2")]}),
        );
        // Provenance: of a member's record, of an outsider's record, and of a
        // member's Patient (in that member's compartment).
        let provenance = |id: &str, target: &str| {
            json!({"resourceType": "Provenance", "id": id, "recorded": "2024-05-01T10:00:00Z",
                   "target": [{"reference": target}],
                   "agent": [{"who": {"reference": "Organization/org"}}]})
        };
        all.push(provenance("prov-m1-lab", "Observation/m1-lab"));
        all.push(provenance("prov-n1-lab", "Observation/n1-lab"));
        all.push(provenance("prov-m2", "Patient/m2"));
        let r = c.import(key, &transaction(&all));
        ck_eq!(r.status, 200, "import into {key}: {}", excerpt(&r.body));

        // The sibling practice: same ids, other content, and its own `grp`
        // with an outsider; none of it may appear in this practice's exports.
        let other = vec![
            json!({"resourceType": "Patient", "id": "m1", "name": [{"family": "Elsewhere"}]}),
            json!({"resourceType": "Patient", "id": "x9", "name": [{"family": "Elsewhere"}]}),
            observation("m1-lab", "m1", "laboratory", "2345-7", "pr"),
            observation("m1-other", "m1", "laboratory", "2345-7", "pr"),
            json!({"resourceType": "Practitioner", "id": "pr", "name": [{"family": "Elsewhere"}]}),
            json!({"resourceType": "Practitioner", "id": "pr-x", "name": [{"family": "Elsewhere"}]}),
            json!({"resourceType": "Group", "id": "grp", "type": "person", "actual": true,
                   "member": [member("m1"), member("x9")]}),
        ];
        let r = c.import(&format!("{key}-x"), &transaction(&other));
        ck_eq!(r.status, 200, "import into {key}-x: {}", excerpt(&r.body));
        World {
            c,
            key: key.to_string(),
            resources: all.into_iter().map(|v| (key_of(&v), v)).collect(),
        }
    }

    /// Imports `resources` (a transaction) and records them.
    pub fn import(&mut self, resources: &[Value]) {
        let r = self.c.import(&self.key, &transaction(resources));
        ck_eq!(r.status, 200, "import into {}: {}", self.key, excerpt(&r.body));
        for v in resources {
            self.resources.insert(key_of(v), v.clone());
        }
    }

    /// What a Group (or Patient) export of the active members `members`
    /// holds: their compartments, what those records reference, and the
    /// Provenance of those records.
    pub fn expected_group(&self, members: &[&str]) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let mut referenced = BTreeSet::new();
        for (k, v) in &self.resources {
            let mut refs = Vec::new();
            references(v, &mut refs);
            let in_compartment = if v["resourceType"] == "Patient" {
                members.iter().any(|m| v["id"] == *m)
            } else {
                refs.iter()
                    .any(|r| members.iter().any(|m| *r == format!("Patient/{m}")))
            };
            if in_compartment {
                out.insert(k.clone(), v.clone());
                referenced.extend(refs);
            }
        }
        // The Provenance of those records goes with them.
        for (k, v) in &self.resources {
            let mut refs = Vec::new();
            references(&v["target"], &mut refs);
            if v["resourceType"] == "Provenance" && refs.iter().any(|r| out.contains_key(r)) {
                out.insert(k.clone(), v.clone());
            }
        }
        for r in referenced {
            if REFERENCED.iter().any(|t| r.starts_with(&format!("{t}/"))) {
                if let Some(v) = self.resources.get(&r) {
                    out.insert(r, v.clone());
                }
            }
        }
        out
    }

    /// Every Patient id of the practice.
    pub fn patient_ids(&self) -> Vec<&str> {
        self.resources
            .values()
            .filter(|v| v["resourceType"] == "Patient")
            .filter_map(|v| v["id"].as_str())
            .collect()
    }
}

/// `expected` restricted to the types in `types`.
pub fn only_types(expected: &BTreeMap<String, Value>, types: &[&str]) -> BTreeMap<String, Value> {
    expected
        .iter()
        .filter(|(k, _)| types.iter().any(|t| k.split('/').next() == Some(*t)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Generates `patients` patients at `density` for practice `key` (the demo
/// generator's first practice, renamed) and imports them as ndjson;
/// returns what was generated. The Groups are `{key}-group-all` and
/// `{key}-group-third`.
pub fn import_generated(c: &Client, key: &str, patients: usize, density: f64) -> Vec<Value> {
    let mut config = flare_synth::Config::demo(patients);
    config.practices.truncate(1);
    config.practices[0].key = key.to_string();
    config.density = density;
    let mut generated = Vec::new();
    flare_synth::generate(&config, &mut |_, v| generated.push(v));
    for batch in generated.chunks(2000) {
        let r = c.import_ndjson(key, batch);
        ck_eq!(r.status, 200, "ndjson import into {key}: {}", excerpt(&r.body));
    }
    generated
}

//! The synchronous functions the npm package's JavaScript layer calls: every
//! protocol decision of a launch, a session and a search, with strings and
//! numbers in and out (no JS objects, no futures, no `core::fmt`).
//!
//! The JS layer (`pkg/index.js`) does the I/O (`fetch`, storage, WebCrypto,
//! `history`, windows and frames) and walks the objects `JSON.parse`
//! returns; it hands Rust what it read and acts on what Rust decides.
//!
//! With the `npm` feature the wasm exports one function, `call` ([`dispatch`]): operation number
//! `op` (see [`Op`]) and seven string arguments; it returns a string.
//! One export instead of one per function keeps wasm-bindgen's per-export
//! shims (about 370 bytes of wasm and 300 of JS each) out of the download.
//!
//! Conventions across the boundary:
//! - records (launch plans, pending launches, sessions, token responses,
//!   flat JSON objects) are `application/x-www-form-urlencoded` text (see
//!   [`crate::flat`]);
//! - lists are joined with [`FIELD`] between the fields of an item and
//!   [`ITEM`] between items (the JS layer drops strings containing either);
//! - a failure is returned as `"\u{1}{kind}\u{1}{message}"` (see [`failure`]),
//!   which the JS layer throws as a `FlareError` of that `kind`;
//! - numbers cross as decimal text (read by [`crate::flat::number`], written
//!   by [`form::integer`]), byte arrays as strings of chars U+0000 to U+00FF,
//!   an absent value as the empty string.
//!
//! Each function is also plain Rust and tested natively below.

#[cfg(all(target_arch = "wasm32", feature = "npm"))]
use wasm_bindgen::prelude::*;

use crate::bundle::{self, Attachment, EntryRefs, Target};
use crate::discovery;
use crate::error::SdkError;
use crate::flat::{pairs, Flat, Pairs};
use crate::form;
use crate::id_token;
use crate::json::text_at;
use crate::launch::{self, LaunchOptions, LaunchPlan, PendingLaunch, Redirect};
use crate::pkce;
use crate::resolve::{self, ResourceRefs, Source};
use crate::retry::{self, RetryPolicy};
use crate::search;
use crate::session::{self, AuthRetry, Session};
use flare_core::smart::wire::{SmartConfiguration, TokenResponse};

/// Separates the fields of one list item.
pub const FIELD: char = '\u{0}';
/// Separates list items.
pub const ITEM: char = '\u{1}';

/// The text of a failure: `\u{1}kind\u{1}message`.
pub fn failure(e: &SdkError) -> String {
    crate::form::cat(&["\u{1}", e.kind.as_str(), "\u{1}", &e.message])
}

fn done(result: Result<String, SdkError>) -> String {
    result.unwrap_or_else(|e| failure(&e))
}

fn get(pairs: &[(String, String)], name: &str) -> Option<String> {
    form::first(pairs, name)
}

fn opt<'a>(pairs: &mut Vec<(&'a str, &'a str)>, name: &'a str, value: &'a Option<String>) {
    if let Some(v) = value {
        pairs.push((name, v.as_str()));
    }
}

fn random(bytes: &[u8]) -> Result<[u8; pkce::RANDOM_BYTES], SdkError> {
    bytes
        .try_into()
        .map_err(|_| SdkError::launch("32 random bytes are required"))
}

fn plan_of(text: &str) -> Option<LaunchPlan> {
    let p = pairs(text);
    Some(LaunchPlan {
        server: get(&p, "server")?,
        launch: get(&p, "launch"),
        client_id: get(&p, "client_id")?,
        scope: get(&p, "scope")?,
        redirect_uri: get(&p, "redirect_uri")?,
    })
}

/// Chooses the server of a launch ([`launch::plan`]). `entries`: one form per
/// configured server (`client_id`, `scope`, `redirect_uri`, `iss`,
/// `launch`) joined with [`ITEM`]; `page`: the page URL. Returns the plan
/// (`server`, `launch`, `client_id`, `scope`, `redirect_uri`).
pub fn launch_plan(entries: &str, page: &str) -> String {
    let mut options: Vec<LaunchOptions> = Vec::new();
    for e in entries.split(ITEM).filter(|e| !e.is_empty()) {
        let p = pairs(e);
        let text = |name: &str| get(&p, name).unwrap_or_default();
        let given = |name: &str| get(&p, name).filter(|s| !s.is_empty());
        options.push(LaunchOptions {
            client_id: text("client_id"),
            scope: text("scope"),
            redirect_uri: text("redirect_uri"),
            iss: given("iss"),
            launch: given("launch"),
        });
    }
    done(launch::plan(&options, &launch::url_params(page)).map(|plan| {
        let mut out = vec![
            ("server", plan.server.as_str()),
            ("client_id", plan.client_id.as_str()),
            ("scope", plan.scope.as_str()),
            ("redirect_uri", plan.redirect_uri.as_str()),
        ];
        opt(&mut out, "launch", &plan.launch);
        form::encode(&out)
    }))
}

/// The discovery URL of a FHIR base.
pub fn discovery_url(iss: &str) -> String {
    discovery::discovery_url(iss)
}

/// Starts the launch record ([`PendingLaunch::new`]) from the plan, the flat
/// discovery document (checked by [`discovery::parse`]: endpoints present,
/// PKCE S256 offered) and three times 32 random bytes (`state`, the PKCE
/// verifier, the nonce). Returns the record's storage form, which carries the
/// `state` and the `code_verifier` the JS layer hashes for [`authorize_url`].
pub fn pending_launch(
    plan: &str,
    config: &str,
    state: &[u8],
    verifier: &[u8],
    nonce: &[u8],
    now_ms: f64,
) -> String {
    done((|| {
        let plan = plan_of(plan).ok_or_else(|| SdkError::launch("bad launch plan"))?;
        let doc = pairs(config);
        let config = discovery::parse(&Flat::of(&doc))?;
        let pending = PendingLaunch::new(
            &plan,
            &config,
            pkce::random_token(&random(state)?),
            pkce::verifier(&random(verifier)?),
            Some(pkce::random_token(&random(nonce)?)),
            now_ms,
        );
        // The record plus what the authorization URL needs besides it.
        let mut extra = vec![("authorization_endpoint", config.authorization_endpoint.as_str())];
        opt(&mut extra, "launch", &plan.launch);
        Ok(form::cat(&[&pending.encode(), "&", &form::encode(&extra)]))
    })())
}

/// The authorization URL of a pending launch, given SHA-256 of its verifier
/// (computed by WebCrypto) and the EHR launch id, if any.
pub fn authorize_url(record: &str, digest: &[u8]) -> String {
    let p = pairs(record);
    match (PendingLaunch::decode(record), get(&p, "authorization_endpoint")) {
        (Some(pending), Some(endpoint)) => {
            let launch = get(&p, "launch");
            pending.authorize_url(&endpoint, &pkce::challenge(digest), launch.as_deref())
        }
        _ => failure(&SdkError::launch("bad launch record")),
    }
}

/// What the page URL says to `ready()`: `""` for a plain page load, else a
/// form with `code` and `state`, or with `error`, `state` and `message`
/// (the OAuth error the redirect carried, as the error's message).
pub fn redirect(page: &str) -> String {
    match launch::redirect(&launch::url_params(page)) {
        Redirect::None => String::new(),
        Redirect::Code { code, state } => form::encode(&[("code", code.as_str()), ("state", state.as_str())]),
        Redirect::Error {
            state,
            error,
            description,
        } => {
            let e = launch::redirect_error(&error, description.as_deref());
            let mut out = vec![("error", error.as_str()), ("message", e.message.as_str())];
            opt(&mut out, "state", &state);
            form::encode(&out)
        }
    }
}

/// The page URL without the OAuth redirect parameters.
pub fn strip_redirect(url: &str) -> String {
    launch::strip_redirect_params(url)
}

/// The code exchange body for the stored launch `record`, if the record is
/// still live at `now_ms`.
pub fn token_request(record: &str, code: &str, now_ms: f64) -> String {
    match PendingLaunch::decode(record) {
        None => failure(&SdkError::launch("bad launch record")),
        Some(p) if !p.is_live(now_ms) => failure(&SdkError::launch("the launch expired; start it again")),
        Some(p) => p.token_request(code),
    }
}

fn token_of(text: &str) -> Result<TokenResponse, SdkError> {
    let p = pairs(text);
    session::token_response(&Flat::of(&p))
}

/// A new session from a checked token response (the flat token response
/// body; see [`session::token_response`]). `fhir_context` is the JSON text of
/// `fhirContext`, `fhir_user` the verified id_token's `fhirUser`.
#[allow(clippy::too_many_arguments)]
pub fn new_session(
    server: &str,
    client_id: &str,
    token_endpoint: &str,
    token: &str,
    fhir_context: Option<String>,
    fhir_user: Option<String>,
    now_ms: f64,
) -> String {
    done(token_of(token).map(|response| {
        Session::new(
            server.trim_end_matches('/'),
            client_id,
            token_endpoint,
            &response,
            fhir_context,
            fhir_user,
            now_ms,
        )
        .encode()
    }))
}

fn session_of(text: &str) -> Result<Session, SdkError> {
    Session::decode(text).ok_or_else(|| SdkError::launch("bad session record"))
}

/// The session after a refresh (token response checked; refresh token kept
/// unless rotated; context kept).
pub fn apply_token(session: &str, token: &str, now_ms: f64) -> String {
    done((|| {
        let mut s = session_of(session)?;
        s.apply(&token_of(token)?, now_ms);
        Ok(s.encode())
    })())
}

/// Refresh timing at `now_ms`: bit 1 when the token is due for refresh
/// ([`Session::needs_refresh`]), bit 2 when it has expired.
pub fn due(session: &str, now_ms: f64) -> u32 {
    match Session::decode(session) {
        Some(s) => u32::from(s.needs_refresh(now_ms)) | (u32::from(s.is_expired(now_ms)) << 1),
        None => 0,
    }
}

/// What to do after a 401 answered `token_sent`: 0 give up, 1 retry with the
/// current token (another request refreshed), 2 refresh then retry.
pub fn after_401(session: &str, token_sent: &str, retried: bool) -> u32 {
    match Session::decode(session).map(|s| s.after_unauthorized(token_sent, retried)) {
        Some(AuthRetry::RetryWithCurrentToken) => 1,
        Some(AuthRetry::RefreshThenRetry) => 2,
        _ => 0,
    }
}

/// The refresh request body, or a failure when the session cannot refresh.
pub fn refresh_request(session: &str) -> String {
    let body =
        Session::decode(session).and_then(|s| s.refresh_request().filter(|_| !s.token_endpoint.is_empty()));
    body.unwrap_or_else(|| {
        failure(&SdkError::oauth(
            "no_refresh_token",
            Some("the session has no refresh token"),
            None,
        ))
    })
}

/// The header and payload JSON of a compact JWS, joined by [`FIELD`].
pub fn jws_parts(token: &str) -> String {
    done(
        id_token::split(token).map(|p| crate::form::cat(&[p.header_json.as_str(), "\u{0}", &p.payload_json])),
    )
}

/// Base64url bytes (a JWS signature), or nothing if it is not base64url.
pub fn base64url(text: &str) -> Option<Vec<u8>> {
    crate::base64url::decode(text)
}

/// The index of the JWKS key that verifies an id_token with this (flat)
/// header: `alg` must be RS256, the key RSA for signing, chosen by `kid`
/// ([`id_token::check_header`], [`id_token::select_key_index`]). `keys`: the
/// flat keys joined by [`ITEM`]. Returns the index as text.
pub fn pick_key(header: &str, keys: &str) -> String {
    done((|| {
        let h = pairs(header);
        let kid = id_token::check_header(&Flat::of(&h))?;
        // Empty items stay: the index must match the JWKS's `keys`.
        let mut decoded: Vec<Pairs> = Vec::new();
        for k in keys.split(ITEM) {
            decoded.push(pairs(k));
        }
        let mut views = Vec::with_capacity(decoded.len());
        for p in &decoded {
            views.push(Flat::of(p));
        }
        let i = id_token::select_key_index(&views, kid.as_deref())?;
        Ok(form::integer(i as f64))
    })())
}

/// Checks the (flat) claims of a signature-verified id_token against the
/// launch `record` ([`id_token::validate`]: `iss`, `aud`/`azp`, `exp`,
/// `iat`, `nonce`). Returns a form with `fhir_user` when the token names one.
pub fn check_claims(claims: &str, record: &str, now_ms: f64) -> String {
    done((|| {
        let pending = PendingLaunch::decode(record).ok_or_else(|| SdkError::launch("bad launch record"))?;
        let mut issuers = vec![pending.server.as_str()];
        if let Some(i) = pending.issuer.as_deref() {
            issuers.push(i);
        }
        let expected = id_token::Expected {
            issuers,
            client_id: &pending.client_id,
            nonce: pending.nonce.as_deref(),
            now_s: now_ms / 1000.0,
        };
        let c = pairs(claims);
        let verified = id_token::validate(&Flat::of(&c), &expected)?;
        Ok(verified
            .fhir_user
            .map(|u| form::encode(&[("fhir_user", u.as_str())]))
            .unwrap_or_default())
    })())
}

/// The signed-in user as a relative reference (`Practitioner/1`) when
/// `fhir_user` is on this server.
pub fn user_reference(fhir_user: &str, base: &str) -> Option<String> {
    bundle::reference_key(fhir_user, base).filter(|k| !k.contains(':'))
}

/// Whether the access token may be sent to `url` (under the FHIR base).
pub fn under_base(url: &str, base: &str) -> bool {
    bundle::is_under_base(url, base)
}

/// The wait before retry `attempt` of a `method` request answered `status`
/// (ms), or -1 to report the answer now ([`retry::delay_ms`] with the default
/// policy: a POST, such as the code exchange, is not sent again after a 503).
pub fn retry_delay(
    method: &str,
    status: u16,
    retry_after: Option<String>,
    attempt: u32,
    now_ms: f64,
    jitter: f64,
) -> f64 {
    retry::delay_ms(
        &RetryPolicy::default(),
        method,
        status,
        retry_after.as_deref(),
        attempt,
        now_ms,
        jitter,
    )
    .unwrap_or(-1.0)
}

/// `Retry-After` in seconds from now, or -1 when absent or unreadable.
pub fn retry_after_seconds(value: &str, now_ms: f64) -> f64 {
    retry::retry_after_ms(value, now_ms).map_or(-1.0, |ms| ms / 1000.0)
}

/// `{base}/{type}/{id}`, type and id checked.
pub fn read_url(base: &str, resource_type: &str, id: &str) -> String {
    done(search::read_url(base, resource_type, id))
}

/// `{base}/{type}?{params}`, type checked; `params` is the form of the
/// search parameters (arrays repeated, as the JS layer encodes them).
pub fn search_url(base: &str, resource_type: &str, params: &str) -> String {
    done(search::search_url(base, resource_type, &pairs(params)))
}

/// An absolute URL for a path relative to the FHIR base.
pub fn absolute_url(base: &str, path: &str) -> String {
    search::absolute_url(base, path)
}

fn entry_refs(text: &str, base: &str) -> Vec<EntryRefs> {
    let mut out = Vec::new();
    for e in text.split(ITEM).filter(|e| !e.is_empty()) {
        let mut fields = list(e, true);
        fields.resize(fields.len().max(3), String::new());
        let references = fields.split_off(3);
        let field = |i: usize| Some(fields[i].as_str()).filter(|f| !f.is_empty());
        out.push(EntryRefs {
            keys: bundle::keys_of(field(0), field(1), field(2), base),
            references,
        });
    }
    out
}

/// Plans `_include`/`_revinclude` attachment on a page
/// ([`bundle::plan_attachments`]). `included` and `matches`: per entry
/// `resourceType`, `id`, `fullUrl` and then its references, as fields
/// ([`FIELD`]) of items ([`ITEM`]). Returns quadruples: `(0, match, target
/// match, reference index)` and `(1, match, included, reference index)` for
/// `match.$refs[reference] = target`, `(2, match, included, 0)` for
/// `match.$revincluded.push(included)`.
pub fn plan_attachments(base: &str, included: &str, matches: &str) -> Vec<u32> {
    let plan = bundle::plan_attachments(&entry_refs(included, base), &entry_refs(matches, base), base);
    let mut out = Vec::with_capacity(plan.len() * 4);
    for a in plan {
        let quad = match a {
            Attachment::Reference {
                of,
                reference_index,
                target: Target::Match(t),
                ..
            } => [0, of, t, reference_index],
            Attachment::Reference {
                of,
                reference_index,
                target: Target::Included(t),
                ..
            } => [1, of, t, reference_index],
            Attachment::Reverse { of, included } => [2, of, included, 0],
        };
        out.extend(quad.iter().map(|&n| n as u32));
    }
    out
}

/// Plans reference resolution ([`resolve::plan_refs`]). `resources`: per
/// resource an item whose fields are its references, then an empty field,
/// then its contained resources' ids; `at_hand`: the keys of resources
/// already loaded, as fields. Returns items of fields:
/// `c, resource, reference index, contained index` /
/// `h, resource, reference index, key` (at hand) /
/// `s, resource, reference index, key` (from the server) /
/// `u, URL` (one batched server search).
pub fn plan_resolution(base: &str, resources: &str, at_hand: &str) -> String {
    let mut refs: Vec<ResourceRefs> = Vec::new();
    for r in resources.split(ITEM) {
        // References, an empty field, then contained ids ("\0\0" parts them).
        let cut = r.as_bytes().windows(2).position(|w| w == [0, 0]);
        let (references, contained) = match cut {
            Some(i) => (&r[..i], &r[i + 2..]),
            None => (r, ""),
        };
        refs.push(ResourceRefs {
            references: list(references, false),
            contained_ids: list(contained, true),
        });
    }
    let mut hand = Vec::new();
    for key in list(at_hand, false) {
        hand.push((key, 0));
    }
    let hand = crate::keys::KeyIndex::new(hand);
    let plan = resolve::plan_refs(&refs, &|k: &str| hand.contains(k), base);
    let mut out = String::new();
    let mut item = |parts: &[&str]| {
        if !out.is_empty() {
            out.push(ITEM);
        }
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                out.push(FIELD);
            }
            out.push_str(p);
        }
    };
    for r in &plan.resolutions {
        let index = refs[r.resource]
            .references
            .iter()
            .position(|x| *x == r.reference)
            .unwrap_or(0);
        let (tag, payload) = match &r.source {
            Source::Contained(i) => ("c", form::integer(*i as f64)),
            Source::AtHand(key) => ("h", key.clone()),
            Source::Server(key) => ("s", key.clone()),
        };
        item(&[
            tag,
            &form::integer(r.resource as f64),
            &form::integer(index as f64),
            &payload,
        ]);
    }
    for batch in &plan.batches {
        let ids: Vec<&str> = batch.ids.iter().map(String::as_str).collect();
        let params = vec![
            ("_id".to_string(), form::join(&ids, ",")),
            ("_count".to_string(), form::integer(ids.len() as f64)),
        ];
        if let Ok(url) = search::search_url(base, &batch.resource_type, &params) {
            item(&["u", &url]);
        }
    }
    out
}

/// The fields of `text` separated by [`FIELD`], empty ones kept or dropped.
fn list(text: &str, keep_empty: bool) -> Vec<String> {
    let mut out = Vec::new();
    for f in text.split(FIELD) {
        if keep_empty || !f.is_empty() {
            out.push(f.to_string());
        }
    }
    out
}

/// The operations of [`dispatch`], numbered as `pkg/index.js` calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// [`launch_plan`]`(entries, page)`.
    Plan = 0,
    /// [`discovery_url`]`(iss)`.
    DiscoveryUrl,
    /// [`pending_launch`]`(plan, config, state bytes, verifier bytes, nonce bytes, now)`.
    Pending,
    /// [`authorize_url`]`(record, digest bytes)`.
    AuthorizeUrl,
    /// [`redirect`]`(page)`.
    Redirect,
    /// [`strip_redirect`]`(url)`.
    StripRedirect,
    /// [`token_request`]`(record, code, now)`.
    TokenRequest,
    /// [`new_session`]`(server, client_id, token_endpoint, token, fhir_context, fhir_user, now)`.
    Session,
    /// [`apply_token`]`(session, token, now)`.
    ApplyToken,
    /// [`due`]`(session, now)`.
    Due,
    /// [`after_401`]`(session, token_sent, retried "1" or "")`.
    After401,
    /// [`refresh_request`]`(session)`.
    RefreshRequest,
    /// [`jws_parts`]`(token)`.
    JwsParts,
    /// [`base64url`]`(text)`: NUL then the bytes (so bytes starting with 0x01 are not read as a failure), or a failure.
    Base64url,
    /// [`pick_key`]`(header, keys)`.
    PickKey,
    /// [`check_claims`]`(claims, record, now)`.
    CheckClaims,
    /// [`user_reference`]`(fhir_user, base)`.
    UserReference,
    /// [`under_base`]`(url, base)`: `"1"` or `""`.
    UnderBase,
    /// [`retry_delay`]`(status, retry_after, attempt, now, jitter, method)`: whole ms, or `""`.
    RetryDelay,
    /// [`retry_after_seconds`]`(value, now)`, in whole ms, or `""`.
    RetryAfter,
    /// [`read_url`]`(base, type, id)`.
    ReadUrl,
    /// [`search_url`]`(base, type, params)`.
    SearchUrl,
    /// [`absolute_url`]`(base, path)`.
    AbsoluteUrl,
    /// [`plan_attachments`]`(base, included, matches)`: the numbers comma-separated.
    PlanAttachments,
    /// [`plan_resolution`]`(base, resources, at_hand)`.
    PlanResolution,
    /// [`launch::restarts_at_top`]`(target, in_frame, own_store, no_redirect)`, flags as `"1"` or `""`: `"1"` or `""`.
    RestartsAtTop,
    /// [`launch::restore_state`]`(explicit, page, tab)`: the state, or `""`.
    RestoreState,
}

/// The wasm export: [`dispatch`] (with the `npm` feature only).
#[cfg(all(target_arch = "wasm32", feature = "npm"))]
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn call(op: u32, a: &str, b: &str, c: &str, d: &str, e: &str, f: &str, g: &str) -> String {
    dispatch(op, [a, b, c, d, e, f, g])
}

fn bytes(text: &str) -> Vec<u8> {
    text.chars().map(|c| c as u32 as u8).collect()
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn whole(ms: f64) -> String {
    if ms < 0.0 {
        String::new()
    } else {
        form::integer(ms)
    }
}

/// Runs operation `op` ([`Op`] as a number) on string arguments.
pub fn dispatch(op: u32, x: [&str; 7]) -> String {
    let num = |s: &str| crate::flat::number(s).unwrap_or(0.0);
    let opt = |s: &str| Some(s.to_string()).filter(|v| !v.is_empty());
    let flag = |b: bool| if b { "1" } else { "" }.to_string();
    match op {
        0 => launch_plan(x[0], x[1]),
        1 => discovery_url(x[0]),
        2 => pending_launch(x[0], x[1], &bytes(x[2]), &bytes(x[3]), &bytes(x[4]), num(x[5])),
        3 => authorize_url(x[0], &bytes(x[1])),
        4 => redirect(x[0]),
        5 => strip_redirect(x[0]),
        6 => token_request(x[0], x[1], num(x[2])),
        7 => new_session(x[0], x[1], x[2], x[3], opt(x[4]), opt(x[5]), num(x[6])),
        8 => apply_token(x[0], x[1], num(x[2])),
        9 => form::integer(f64::from(due(x[0], num(x[1])))),
        10 => form::integer(f64::from(after_401(x[0], x[1], !x[2].is_empty()))),
        11 => refresh_request(x[0]),
        12 => jws_parts(x[0]),
        // A leading NUL marks success: decoded bytes may start with 0x01,
        // the failure marker.
        13 => base64url(x[0])
            .map(|b| {
                let mut out = String::from('\u{0}');
                out.push_str(&latin1(&b));
                out
            })
            .unwrap_or_else(|| failure(&SdkError::new(crate::ErrorKind::IdToken, "not base64url"))),
        14 => pick_key(x[0], x[1]),
        15 => check_claims(x[0], x[1], num(x[2])),
        16 => user_reference(x[0], x[1]).unwrap_or_default(),
        17 => flag(under_base(x[0], x[1])),
        18 => whole(retry_delay(
            x[5],
            num(x[0]) as u16,
            opt(x[1]),
            num(x[2]) as u32,
            num(x[3]),
            num(x[4]),
        )),
        19 => whole(retry::retry_after_ms(x[0], num(x[1])).unwrap_or(-1.0)),
        20 => read_url(x[0], x[1], x[2]),
        21 => search_url(x[0], x[1], x[2]),
        22 => absolute_url(x[0], x[1]),
        23 => {
            let mut out = String::new();
            for (i, n) in plan_attachments(x[0], x[1], x[2]).iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&form::integer(f64::from(*n)));
            }
            out
        }
        24 => plan_resolution(x[0], x[1], x[2]),
        25 => flag(launch::restarts_at_top(
            x[0],
            !x[1].is_empty(),
            !x[2].is_empty(),
            !x[3].is_empty(),
        )),
        26 => launch::restore_state(opt(x[0]).as_deref(), opt(x[1]).as_deref(), opt(x[2]).as_deref())
            .unwrap_or_default()
            .to_string(),
        _ => failure(&SdkError::launch("unknown core operation")),
    }
}

/// The flat form of a discovery document's checked endpoints, for Rust
/// callers that hold a [`SmartConfiguration`].
pub fn config_form(config: &SmartConfiguration) -> String {
    let mut out = vec![
        ("authorization_endpoint", config.authorization_endpoint.as_str()),
        ("token_endpoint", config.token_endpoint.as_str()),
    ];
    opt(&mut out, "issuer", &config.issuer);
    opt(&mut out, "jwks_uri", &config.jwks_uri);
    for m in &config.code_challenge_methods_supported {
        out.push(("code_challenge_methods_supported", m));
    }
    form::encode(&out)
}

/// The flat token response of a [`TokenResponse`] (tests and Rust callers).
pub fn token_form(t: &TokenResponse) -> String {
    let expires = form::integer(t.expires_in as f64);
    let mut out = vec![
        ("access_token", t.access_token.as_str()),
        ("token_type", t.token_type.as_str()),
        ("expires_in", expires.as_str()),
        ("scope", t.scope.as_str()),
    ];
    opt(&mut out, "refresh_token", &t.refresh_token);
    opt(&mut out, "patient", &t.patient);
    opt(&mut out, "encounter", &t.encounter);
    opt(&mut out, "smart_style_url", &t.smart_style_url);
    let banner = t
        .need_patient_banner
        .map(|b| if b { "true" } else { "false" }.to_string());
    opt(&mut out, "need_patient_banner", &banner);
    form::encode(&out)
}

/// Reads a flat object member (for the tests' convenience).
pub fn member(form_text: &str, name: &str) -> Option<String> {
    let p = pairs(form_text);
    text_at(&Flat::of(&p), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const BASE: &str = "http://ehr/fhir";

    fn is_failure(text: &str, kind: &str, needle: &str) -> bool {
        let mut parts = text.strip_prefix('\u{1}').unwrap_or("").splitn(2, '\u{1}');
        parts.next() == Some(kind) && parts.next().is_some_and(|m| m.contains(needle))
    }

    fn config() -> String {
        form::encode(&[
            ("issuer", BASE),
            ("jwks_uri", "http://ehr/jwks"),
            ("authorization_endpoint", "http://ehr/authorize"),
            ("token_endpoint", "http://ehr/token"),
            ("code_challenge_methods_supported", "S256"),
        ])
    }

    fn entry(iss: Option<&str>, scope: &str) -> String {
        let mut p = vec![
            ("client_id", "app"),
            ("scope", scope),
            ("redirect_uri", "http://app/"),
        ];
        if let Some(i) = iss {
            p.push(("iss", i));
        }
        form::encode(&p)
    }

    fn launch_record(page: &str, scope: &str) -> String {
        let plan = launch_plan(&entry(None, scope), page);
        pending_launch(&plan, &config(), &[1; 32], &[2; 32], &[3; 32], 1000.0)
    }

    #[test]
    fn a_launch_goes_from_plan_to_authorize_url_to_token_request() {
        let record = launch_record(
            "http://app/?iss=http%3A%2F%2Fehr%2Ffhir&launch=L1",
            "openid patient/*.rs",
        );
        let verifier = member(&record, "code_verifier").unwrap();
        let state = member(&record, "state").unwrap();
        assert_eq!(state.len(), 43);
        assert_ne!(state, verifier);
        let url = authorize_url(&record, &Sha256::digest(verifier.as_bytes()));
        let q = form::decode(form::query_of(&url));
        let get = |n: &str| form::first(&q, n).unwrap();
        assert!(url.starts_with("http://ehr/authorize?response_type=code&"));
        assert_eq!(get("launch"), "L1");
        assert_eq!(get("scope"), "launch openid patient/*.rs");
        assert_eq!(get("state"), state);
        assert_eq!(get("aud"), BASE);
        assert_eq!(
            get("code_challenge"),
            pkce::challenge(&Sha256::digest(verifier.as_bytes()))
        );
        assert_eq!(get("nonce"), member(&record, "nonce").unwrap());
        let body = token_request(&record, "c1", 2000.0);
        assert_eq!(member(&body, "code_verifier").as_deref(), Some(verifier.as_str()));
        assert!(is_failure(
            &token_request(&record, "c1", 1000.0 + launch::PENDING_TTL_MS),
            "launch",
            "expired"
        ));
        assert!(is_failure(
            &authorize_url("state=x", &[0; 32]),
            "launch",
            "record"
        ));
    }

    #[test]
    fn launches_fail_with_typed_messages() {
        assert!(is_failure(
            &launch_plan(&entry(None, "openid"), "http://app/"),
            "launch",
            "standalone"
        ));
        assert!(is_failure(
            &launch_plan(&entry(Some(BASE), "patient/Observation.reed"), "http://app/"),
            "launch",
            "bad scope"
        ));
        let two = [
            entry(Some("http://a/fhir"), "openid"),
            entry(Some("http://b/fhir"), "openid"),
        ]
        .join("\u{1}");
        assert!(is_failure(
            &launch_plan(&two, "http://app/?iss=http%3A%2F%2Fevil&launch=x"),
            "launch",
            "not one of the servers"
        ));
        let plan = launch_plan(&two, "http://app/?iss=http%3A%2F%2Fb%2Ffhir&launch=x");
        assert_eq!(member(&plan, "server").as_deref(), Some("http://b/fhir"));
        let plain = form::encode(&[
            ("authorization_endpoint", "a"),
            ("token_endpoint", "t"),
            ("code_challenge_methods_supported", "plain"),
        ]);
        assert!(is_failure(
            &pending_launch(&plan, &plain, &[1; 32], &[2; 32], &[3; 32], 0.0),
            "launch",
            "S256"
        ));
        assert!(is_failure(
            &pending_launch(&plan, &config(), &[1; 31], &[2; 32], &[3; 32], 0.0),
            "launch",
            "random"
        ));
    }

    #[test]
    fn redirects_are_read_and_stripped() {
        assert_eq!(redirect("http://app/"), "");
        let r = redirect("http://app/?code=c&state=s");
        assert_eq!(
            (member(&r, "code").unwrap(), member(&r, "state").unwrap()),
            ("c".into(), "s".into())
        );
        let r = redirect("http://app/?error=access_denied&error_description=no&state=s");
        assert_eq!(member(&r, "message").as_deref(), Some("access_denied: no"));
        assert_eq!(
            strip_redirect("http://app/?a=1&code=c&state=s"),
            "http://app/?a=1"
        );
    }

    #[test]
    fn sessions_refresh_before_expiry_and_once_per_401() {
        let token = form::encode(&[
            ("access_token", "a1"),
            ("token_type", "bearer"),
            ("expires_in", "60"),
            ("refresh_token", "r1"),
            ("scope", "openid patient/*.rs"),
            ("need_patient_banner", "false"),
        ]);
        let s = new_session(
            "http://ehr/fhir/",
            "app",
            "http://ehr/token",
            &token,
            Some("[]".into()),
            None,
            0.0,
        );
        let session = Session::decode(&s).unwrap();
        assert_eq!(session.server, BASE);
        assert_eq!(session.need_patient_banner, Some(false));
        assert_eq!(due(&s, 53_999.0), 0);
        assert_eq!(due(&s, 54_000.0), 1);
        assert_eq!(due(&s, 60_000.0), 3);
        assert_eq!(after_401(&s, "a1", false), 2);
        assert_eq!(after_401(&s, "old", false), 1);
        assert_eq!(after_401(&s, "a1", true), 0);
        assert_eq!(
            member(&refresh_request(&s), "refresh_token").as_deref(),
            Some("r1")
        );
        let refreshed = form::encode(&[
            ("access_token", "a2"),
            ("token_type", "Bearer"),
            ("expires_in", "120"),
        ]);
        let s2 = apply_token(&s, &refreshed, 50_000.0);
        let session = Session::decode(&s2).unwrap();
        assert_eq!(
            (session.access_token.as_str(), session.refresh_token.as_deref()),
            ("a2", Some("r1"))
        );
        assert_eq!(session.expires_at_ms, Some(170_000.0));
        assert!(is_failure(
            &apply_token(&s, "token_type=mac&access_token=x", 0.0),
            "protocol",
            "Bearer"
        ));
        let no_refresh = new_session(
            BASE,
            "app",
            "",
            "access_token=a&token_type=Bearer",
            None,
            None,
            0.0,
        );
        assert!(is_failure(
            &refresh_request(&no_refresh),
            "oauth",
            "no_refresh_token"
        ));
        assert_eq!(due(&no_refresh, 1e15), 0);
    }

    #[test]
    fn id_tokens_pick_rs256_keys_and_check_claims() {
        let keys = [
            form::encode(&[("kty", "EC"), ("kid", "k1")]),
            form::encode(&[
                ("kty", "RSA"),
                ("kid", "k1"),
                ("use", "sig"),
                ("n", "x"),
                ("e", "AQAB"),
            ]),
        ]
        .join("\u{1}");
        assert_eq!(pick_key("alg=RS256&kid=k1", &keys), "1");
        assert!(is_failure(&pick_key("alg=none&kid=k1", &keys), "id_token", "alg"));
        assert!(is_failure(&pick_key("alg=RS256&kid=k9", &keys), "id_token", "k9"));
        let plan = launch_plan(&entry(Some(BASE), "openid fhirUser patient/*.rs"), "http://app/");
        let record = pending_launch(&plan, &config(), &[1; 32], &[2; 32], &[3; 32], 0.0);
        let nonce = member(&record, "nonce").unwrap();
        let claims = |aud: &str, nonce: &str, exp: &str| {
            form::encode(&[
                ("iss", "http://ehr/fhir"),
                ("aud", aud),
                ("sub", "u"),
                ("exp", exp),
                ("iat", "990"),
                ("nonce", nonce),
                ("fhirUser", "http://ehr/fhir/Patient/1"),
            ])
        };
        let ok = check_claims(&claims("app", &nonce, "1100"), &record, 1_000_000.0);
        assert_eq!(
            member(&ok, "fhir_user").as_deref(),
            Some("http://ehr/fhir/Patient/1")
        );
        assert!(is_failure(
            &check_claims(&claims("other", &nonce, "1100"), &record, 1_000_000.0),
            "id_token",
            "aud"
        ));
        assert!(is_failure(
            &check_claims(&claims("app", "n2", "1100"), &record, 1_000_000.0),
            "id_token",
            "nonce"
        ));
        assert!(is_failure(
            &check_claims(&claims("app", &nonce, "900"), &record, 1_000_000.0),
            "id_token",
            "expired"
        ));
        let two_aud = claims("app", &nonce, "1100") + "&aud=other";
        assert!(is_failure(
            &check_claims(&two_aud, &record, 1_000_000.0),
            "id_token",
            "azp"
        ));
        assert!(is_failure(&jws_parts("a.b"), "id_token", "three parts"));
        assert_eq!(base64url("AQAB"), Some(vec![1, 0, 1]));
        assert_eq!(
            user_reference("http://ehr/fhir/Practitioner/7", BASE).as_deref(),
            Some("Practitioner/7")
        );
        assert_eq!(user_reference("http://other/fhir/Practitioner/7", BASE), None);
    }

    #[test]
    fn urls_retries_and_the_token_boundary() {
        assert_eq!(read_url(BASE, "Patient", "p1"), "http://ehr/fhir/Patient/p1");
        assert!(is_failure(
            &read_url(BASE, "Patient", "a/b"),
            "launch",
            "not a resource type and id"
        ));
        assert_eq!(
            search_url("http://ehr/fhir/", "Observation", "patient=p1&code=a&code=b"),
            "http://ehr/fhir/Observation?patient=p1&code=a&code=b"
        );
        assert_eq!(absolute_url(BASE, "/metadata"), "http://ehr/fhir/metadata");
        assert!(under_base("http://ehr/fhir/Patient?x", BASE));
        assert!(!under_base("http://ehr/fhirx/Patient", BASE));
        assert_eq!(retry_delay("GET", 429, Some("2".into()), 0, 0.0, 0.0), 2000.0);
        assert_eq!(retry_delay("GET", 500, None, 0, 0.0, 0.0), -1.0);
        assert_eq!(retry_delay("GET", 503, Some("60".into()), 0, 0.0, 0.0), -1.0);
        // The code exchange (a POST) is not sent again after a 503.
        assert_eq!(retry_delay("POST", 503, Some("1".into()), 0, 0.0, 0.0), -1.0);
        assert_eq!(retry_delay("POST", 429, Some("1".into()), 0, 0.0, 0.0), 1000.0);
        assert_eq!(retry_after_seconds("60", 0.0), 60.0);
        assert_eq!(retry_after_seconds("soon", 0.0), -1.0);
    }

    #[test]
    fn includes_are_planned_from_keys_and_references() {
        let f = |fields: &[&str]| fields.join("\u{0}");
        let matches = [
            f(&[
                "MedicationRequest",
                "m1",
                "http://ehr/fhir/MedicationRequest/m1",
                "Medication/med1",
                "Patient/p1",
            ]),
            f(&[
                "MedicationRequest",
                "m2",
                "",
                "http://ehr/fhir/Medication/med1",
                "MedicationRequest/m1",
            ]),
        ]
        .join("\u{1}");
        let included = [
            f(&["Medication", "med1", "http://ehr/fhir/Medication/med1"]),
            f(&[
                "Provenance",
                "pv",
                "",
                "MedicationRequest/m1",
                "MedicationRequest/m1",
                "MedicationRequest/m2",
            ]),
        ]
        .join("\u{1}");
        assert_eq!(
            plan_attachments(BASE, &included, &matches),
            vec![1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 2, 0, 1, 0, 2, 1, 1, 0]
        );
        assert!(plan_attachments(BASE, "", &matches).is_empty());
    }

    #[test]
    fn references_resolve_contained_then_at_hand_then_in_batches() {
        let resources = [
            "#m\u{0}Patient/p\u{0}Practitioner/d1\u{0}http://other/x/Practitioner/1\u{0}#missing\u{0}\u{0}m",
            "Patient/p\u{0}http://ehr/fhir/Practitioner/d2",
        ]
        .join("\u{1}");
        let plan = plan_resolution(BASE, &resources, "Patient/p");
        let items: Vec<&str> = plan.split('\u{1}').collect();
        assert_eq!(
            items,
            vec![
                "c\u{0}0\u{0}0\u{0}0",
                "h\u{0}0\u{0}1\u{0}Patient/p",
                "s\u{0}0\u{0}2\u{0}Practitioner/d1",
                "h\u{0}1\u{0}0\u{0}Patient/p",
                "s\u{0}1\u{0}1\u{0}Practitioner/d2",
                "u\u{0}http://ehr/fhir/Practitioner?_id=d1%2Cd2&_count=2",
            ]
        );
    }

    #[test]
    fn dispatch_numbers_operations_as_the_js_layer_does() {
        let d = |op: Op, args: &[&str]| {
            let mut x = [""; 7];
            x[..args.len()].copy_from_slice(args);
            dispatch(op as u32, x)
        };
        assert_eq!(
            d(Op::DiscoveryUrl, &["http://ehr/fhir/"]),
            "http://ehr/fhir/.well-known/smart-configuration"
        );
        assert_eq!(d(Op::UnderBase, &["http://ehr/fhir/Patient", BASE]), "1");
        assert_eq!(d(Op::RestartsAtTop, &["_top", "1", "", ""]), "1");
        assert_eq!(d(Op::RestartsAtTop, &["_top", "", "", ""]), "");
        assert_eq!(d(Op::RestartsAtTop, &["_top", "1", "1", ""]), "");
        assert_eq!(d(Op::RestoreState, &["", "a", "b"]), "a");
        assert_eq!(d(Op::RestoreState, &["", "", ""]), "");
        assert_eq!(d(Op::UnderBase, &["http://evil/fhir", BASE]), "");
        assert_eq!(d(Op::RetryDelay, &["429", "2", "0", "0", "0.5", "GET"]), "2000");
        assert_eq!(d(Op::RetryDelay, &["500", "", "0", "0", "0.5", "GET"]), "");
        assert_eq!(d(Op::RetryDelay, &["503", "", "1", "0", "0.5", "GET"]), "750");
        assert_eq!(d(Op::RetryDelay, &["503", "", "0", "0", "0.5", "POST"]), "");
        assert_eq!(d(Op::RetryDelay, &["503", "", "0", "0", "0.5", ""]), "");
        assert_eq!(d(Op::RetryAfter, &["3", "0"]), "3000");
        // Bytes that start with 0x01 are not mistaken for a failure.
        assert_eq!(d(Op::Base64url, &["AQAB"]), "\u{0}\u{1}\u{0}\u{1}");
        assert!(d(Op::Base64url, &["A+B"]).starts_with('\u{1}'));
        let token = "access_token=a&token_type=Bearer&expires_in=60&refresh_token=r";
        let s = d(
            Op::Session,
            &[BASE, "app", "http://ehr/token", token, "", "", "1000"],
        );
        assert_eq!(Session::decode(&s).map(|s| s.expires_at_ms), Some(Some(61_000.0)));
        assert_eq!(d(Op::Due, &[&s, "55000"]), "1");
        assert_eq!(d(Op::After401, &[&s, "a", "1"]), "0");
        assert_eq!(d(Op::After401, &[&s, "a", ""]), "2");
        let state = latin1(&[1; 32]);
        let plan = d(
            Op::Plan,
            &[
                &form::encode(&[
                    ("client_id", "c"),
                    ("scope", "openid"),
                    ("redirect_uri", "http://app/"),
                    ("iss", BASE),
                ]),
                "http://app/",
            ],
        );
        let record = d(
            Op::Pending,
            &[
                &plan,
                &config(),
                &state,
                &latin1(&[2; 32]),
                &latin1(&[200; 32]),
                "0",
            ],
        );
        assert_eq!(member(&record, "state"), Some(pkce::random_token(&[1; 32])));
        assert_eq!(member(&record, "nonce"), Some(pkce::random_token(&[200; 32])));
        let matches = "Observation\u{0}o\u{0}\u{0}Patient/p";
        assert_eq!(
            d(Op::PlanAttachments, &[BASE, "Patient\u{0}p", matches]),
            "1,0,0,0"
        );
        assert!(dispatch(99, [""; 7]).starts_with('\u{1}'));
    }

    #[test]
    fn integers_print_without_fmt() {
        assert_eq!(form::integer(0.0), "0");
        assert_eq!(form::integer(1_700_000_000_123.0), "1700000000123");
        assert_eq!(form::integer(-42.9), "-42");
    }
}

//! Throttling of guesses (issue 12, findings 5 and 8).
//!
//! A sign-in (practice users, developers) is counted per (name, client
//! address), whether the name exists or not: a real name and an unknown one
//! get the same answers in the same order (401 five times, then 429 with a
//! `Retry-After` of 1, 2, 4 … s, at most 15 minutes), and a stranger's
//! failures from another address never lock the real user out. IPv6
//! addresses count per /64, which one subscriber usually holds whole.
//!
//! A practice's registration PIN is counted per practice as well as per
//! developer account: ten wrong PINs for one practice within 15 minutes, from
//! any number of accounts, hold its registrations for 15 minutes.

use std::net::IpAddr;

use crate::app::App;
use crate::crypto::{hash_password, sha256_b64, verify_password};
use crate::http::HttpRequest;
use crate::platform::Platform;
use crate::store::attempts::{self as store, AttemptPolicy};
use crate::store::{Database, DbError};

/// The outcome of one password (or PIN) check under slow-down and lockout.
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordCheck {
    /// The password is right (the failure count was cleared).
    Right,
    /// Wrong, or no such account (counted against the account).
    Wrong,
    /// Refused without checking: try again after this many seconds.
    Throttled(i64),
}

/// Sign-ins per (name, address).
pub const SIGN_IN: AttemptPolicy = AttemptPolicy {
    locks_from: 5,
    base_ms: 1000,
    max_ms: 15 * 60 * 1000,
    forget_ms: 60 * 60 * 1000,
};

/// Wrong registration PINs per practice.
pub const PRACTICE_PIN: AttemptPolicy = AttemptPolicy {
    locks_from: 10,
    base_ms: 15 * 60 * 1000,
    max_ms: 15 * 60 * 1000,
    forget_ms: 15 * 60 * 1000,
};

/// Who signs in where: a practice user (`/authorize`, portal, EHR,
/// practice pages) or a developer (portal pages and API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    /// `users.username`.
    User,
    /// `developers.email`.
    Developer,
}

/// The client's address as the throttle sees it: `CF-Connecting-IP` (set
/// by Cloudflare, not by the client), an IPv6 address cut to its /64.
pub fn client_address(req: &HttpRequest) -> String {
    let raw = req.header_value("cf-connecting-ip").unwrap_or("unknown").trim();
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(a)) => a.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        Ok(IpAddr::V4(a)) => a.to_string(),
        Err(_) => raw.to_string(),
    }
}

/// The counter of sign-ins as `name` from the request's address.
pub fn sign_in_key(kind: SignInKind, name: &str, req: &HttpRequest) -> String {
    let kind = match kind {
        SignInKind::User => "user",
        SignInKind::Developer => "developer",
    };
    let name = name.trim().to_lowercase();
    sha256_b64(&format!("sign-in\n{kind}\n{name}\n{}", client_address(req)))
}

/// The counter of a practice's registration PIN.
pub fn practice_pin_key(practice: &str) -> String {
    sha256_b64(&format!("practice-pin\n{practice}"))
}

fn seconds_until(until: i64, now: i64) -> i64 {
    ((until - now + 999) / 1000).max(1)
}

/// Claims one attempt against `key`: `Ok(None)` when it may go on (it is
/// counted as failed until taken back), `Ok(Some(seconds))` when the key is
/// locked.
pub async fn claim<D: Database, P: Platform>(
    app: &App<D, P>,
    key: &str,
    policy: AttemptPolicy,
) -> Result<Option<i64>, DbError> {
    let (db, now) = (app.auth_db(), app.platform.now_ms());
    if store::claim(db, key, now, policy).await?.is_some() {
        return Ok(None);
    }
    let until = store::locked_until(db, key).await?;
    Ok(Some(seconds_until(until, now)))
}

/// Takes back a claimed attempt that was right (see [`store::refund`]).
pub async fn refund<D: Database, P: Platform>(
    app: &App<D, P>,
    key: &str,
    policy: AttemptPolicy,
) -> Result<(), DbError> {
    store::refund(app.auth_db(), key, policy).await
}

/// Checks a sign-in's password against `hash` (`None`: no such name) under
/// the (name, address) throttle ([`SIGN_IN`]). The answer and its work are
/// the same for an unknown name as for a wrong password; a right one forgets
/// the failures at this address.
pub async fn check_sign_in<D: Database, P: Platform>(
    app: &App<D, P>,
    key: &str,
    hash: Option<&str>,
    password: &str,
) -> Result<PasswordCheck, DbError> {
    if let Some(seconds) = claim(app, key, SIGN_IN).await? {
        return Ok(PasswordCheck::Throttled(seconds));
    }
    let Some(hash) = hash else {
        // Spend the same work as a real check, so timing does not reveal names.
        let _ = hash_password(&app.platform, password).await;
        return Ok(PasswordCheck::Wrong);
    };
    if verify_password(&app.platform, password, hash)
        .await
        .unwrap_or(false)
    {
        store::clear(app.auth_db(), key).await?;
        return Ok(PasswordCheck::Right);
    }
    Ok(PasswordCheck::Wrong)
}

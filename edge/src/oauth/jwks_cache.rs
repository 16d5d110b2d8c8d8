//! A client's key set from its `jwks_uri`, cached in KV for as long as the
//! key server's caching headers allow (RFC 9111 §4.2; SMART App Launch,
//! Client Authentication: Asymmetric, "servers SHALL … cache … honoring
//! the HTTP caching headers").
//!
//! - **How long.** `Cache-Control: max-age` (less the response's `Age`), else
//!   `Expires` less `Date` (or the clock), capped at [`MAX_TTL_MS`] (a key
//!   the client withdraws stops working within a day whatever the headers
//!   say); neither present: [`DEFAULT_TTL_MS`]. `no-store`, `no-cache` or a
//!   lifetime of zero: the set is used for the request that fetched it and
//!   not kept. The edge is the only reader of its cache (a private cache in
//!   RFC 9111's terms), so `private` and `s-maxage` do not change anything.
//! - **Unknown `kid`.** An assertion naming a `kid` the cached set lacks
//!   fetches the set again (the client may have rotated its keys), once.
//! - **Rate.** A client's set is never fetched twice within
//!   [`MIN_REFETCH_MS`]: until then the set last fetched is used as it is
//!   (also when it went stale early or lacks the `kid`), so a flood of
//!   assertions with unknown `kid`s costs one fetch per interval. A set that
//!   may not be kept cannot serve in between: such a client's assertions
//!   within the interval are refused (`invalid_client`, retry later).
//! - **Failures.** A failed fetch counts for the rate too; a set still fresh
//!   from before is kept, a stale one is dropped (no `stale-if-error`).
//!
//! KV is eventually consistent across locations: a key set is exactly what
//! may be briefly stale (DESIGN: Storage). A location may answer an older
//! value (or none) for up to a minute after a write, so the Worker's KV
//! reads its own writes within an isolate for that minute
//! (`platform::worker`): the refetch rate holds for each isolate at once,
//! and across isolates once KV has propagated. The entry is per client, names
//! the `jwks_uri` it came from (a client that changes its `jwks_uri` never
//! reads the old set) and is forgotten when the client's keys are replaced
//! ([`forget`]). Must not touch: the client's registration (the store), the
//! assertion's checks (`oauth::verify_assertion`).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::app::App;
use crate::oauth::jwks_uri;
use crate::platform::{log, FetchedJson, Platform, KV_MIN_TTL_S};
use crate::store::Database;

/// How long a key set is kept when its response says nothing (no
/// `Cache-Control: max-age`, no `Expires`): 5 minutes, short enough that a
/// rotation at the client is seen soon, long enough that a backend service's
/// token requests cost no fetch each.
pub const DEFAULT_TTL_MS: i64 = 5 * 60 * 1000;
/// The longest a key set is kept, whatever its headers say: 24 hours.
pub const MAX_TTL_MS: i64 = 24 * 3600 * 1000;
/// A client's key set is fetched at most once per 10 seconds.
pub const MIN_REFETCH_MS: i64 = 10_000;

/// How long a fetched key set may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Not kept: `no-store`, `no-cache` or a lifetime of zero.
    NotStored,
    /// Kept this many milliseconds (at most [`MAX_TTL_MS`]).
    For(i64),
}

/// The directives of a `Cache-Control` value, names in lower case, values
/// unquoted (RFC 9111 §5.2: `token [ "=" ( token / quoted-string ) ]`, comma-separated).
pub fn directives(value: &str) -> Vec<(String, Option<String>)> {
    // Split on commas outside quoted strings (`no-cache="a, b"` is one directive).
    let mut parts = Vec::new();
    let (mut current, mut quoted, mut escaped) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((name, v)) => (
                name.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"').to_string()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
        .collect()
}

/// An HTTP date (RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and
/// asctime forms a recipient must accept) as epoch milliseconds.
pub fn parse_http_date(value: &str) -> Option<i64> {
    let v = value.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc2822(v) {
        return Some(d.timestamp_millis());
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(v, f).ok())
        .map(|d| d.and_utc().timestamp_millis())
}

/// How long the key set of `fetched` may be used, fetched at `now` (ms).
pub fn freshness(fetched: &FetchedJson, now: i64) -> Freshness {
    let cc = fetched
        .cache_control
        .as_deref()
        .map(directives)
        .unwrap_or_default();
    if cc.iter().any(|(n, _)| n == "no-store" || n == "no-cache") {
        return Freshness::NotStored;
    }
    let age_ms = fetched
        .age
        .as_deref()
        .and_then(|a| a.trim().parse::<i64>().ok())
        .map_or(0, |s| s.saturating_mul(1000));
    let max_age = cc.iter().find(|(n, _)| n == "max-age").map(|(_, v)| {
        // An invalid max-age makes the response stale (RFC 9111 §4.2.1).
        v.as_deref()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s >= 0)
            .map_or(0, |s| s.saturating_mul(1000))
    });
    let lifetime = match max_age {
        Some(ms) => ms,
        None => match fetched.expires.as_deref() {
            // An Expires that is not a date (`0`) means already expired (§5.3).
            Some(e) => match parse_http_date(e) {
                Some(at) => {
                    let date = fetched.date.as_deref().and_then(parse_http_date).unwrap_or(now);
                    at - date
                }
                None => 0,
            },
            None => DEFAULT_TTL_MS,
        },
    };
    let left = lifetime.saturating_sub(age_ms).min(MAX_TTL_MS);
    if left <= 0 {
        Freshness::NotStored
    } else {
        Freshness::For(left)
    }
}

/// What KV keeps for a client: the set last fetched (if it may be kept)
/// and when, for the refetch rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// The `jwks_uri` the set came from.
    uri: String,
    /// The key set, if it may be kept (and, after a failed fetch, is still fresh).
    keys: Option<Json>,
    /// The last fetch, answered or not (ms).
    fetched_at: i64,
    /// Until when `keys` may be used (ms).
    fresh_until: i64,
}

fn kv_key(client_id: &str) -> String {
    format!("jwks:{client_id}")
}

/// Whether `set` has a key named `kid`.
fn has_kid(set: &Json, kid: &str) -> bool {
    set.get("keys").and_then(Json::as_array).is_some_and(|keys| {
        keys.iter()
            .any(|k| k.get("kid").and_then(Json::as_str) == Some(kid))
    })
}

async fn read<D: Database, P: Platform>(app: &App<D, P>, client_id: &str, uri: &str) -> Option<Entry> {
    match app.platform.kv_get(&kv_key(client_id)).await {
        Ok(Some(text)) => serde_json::from_str::<Entry>(&text).ok().filter(|e| e.uri == uri),
        Ok(None) => None,
        Err(e) => {
            // A cache that cannot be read is a miss; the fetch rate then rests on the key server.
            log(&format!("jwks cache of {client_id} not read: {e}"));
            None
        }
    }
}

async fn write<D: Database, P: Platform>(app: &App<D, P>, client_id: &str, entry: &Entry) {
    let now = app.platform.now_ms();
    // Kept while it serves: its keys while fresh, its fetch time for the rate.
    let until = entry.fresh_until.max(entry.fetched_at + MIN_REFETCH_MS);
    let ttl_s = (((until - now).max(0) + 999) / 1000) as u64;
    let text = serde_json::to_string(entry).unwrap_or_default();
    if let Err(e) = app
        .platform
        .kv_put(&kv_key(client_id), &text, ttl_s.max(KV_MIN_TTL_S))
        .await
    {
        log(&format!("jwks cache of {client_id} not written: {e}"));
    }
}

/// Why a client's key set is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The fetch failed or the URL is not allowed (logged).
    Unreadable,
    /// The set may not be kept and was fetched less than [`MIN_REFETCH_MS`] ago.
    TooSoon,
}

/// The key set of `client_id` at `uri` to verify an assertion naming `kid`:
/// the cached set while fresh and holding `kid`, else fetched again (at
/// most once per [`MIN_REFETCH_MS`]).
pub async fn keys<D: Database, P: Platform>(
    app: &App<D, P>,
    client_id: &str,
    uri: &str,
    kid: &str,
) -> Result<Json, Unavailable> {
    let now = app.platform.now_ms();
    let held = read(app, client_id, uri).await;
    if let Some(Entry {
        keys: Some(set),
        fresh_until,
        ..
    }) = &held
    {
        if *fresh_until > now && has_kid(set, kid) {
            return Ok(set.clone());
        }
    }
    if let Some(e) = held
        .as_ref()
        .filter(|e| (0..MIN_REFETCH_MS).contains(&(now - e.fetched_at)))
    {
        // Fetched moments ago: what was fetched serves, even stale or without the kid.
        return e.keys.clone().ok_or(Unavailable::TooSoon);
    }
    match jwks_uri::fetch(app, uri).await {
        Ok(fetched) => {
            let keys = match freshness(&fetched, now) {
                Freshness::NotStored => (None, now),
                Freshness::For(ms) => (Some(fetched.body.clone()), now + ms),
            };
            let entry = Entry {
                uri: uri.to_string(),
                keys: keys.0,
                fetched_at: now,
                fresh_until: keys.1,
            };
            write(app, client_id, &entry).await;
            Ok(fetched.body)
        }
        Err(jwks_uri::Unusable) => {
            let kept = held.filter(|e| e.fresh_until > now);
            let entry = Entry {
                uri: uri.to_string(),
                keys: kept.as_ref().and_then(|e| e.keys.clone()),
                fetched_at: now,
                fresh_until: kept.map_or(now, |e| e.fresh_until),
            };
            write(app, client_id, &entry).await;
            Err(Unavailable::Unreadable)
        }
    }
}

/// Forgets the cached key set of `client_id` (its keys were replaced): the
/// next assertion fetches its `jwks_uri`.
pub async fn forget<D: Database, P: Platform>(app: &App<D, P>, client_id: &str) {
    let entry = Entry {
        uri: String::new(),
        keys: None,
        fetched_at: i64::MIN / 2,
        fresh_until: i64::MIN / 2,
    };
    write(app, client_id, &entry).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(
        cache_control: Option<&str>,
        expires: Option<&str>,
        date: Option<&str>,
        age: Option<&str>,
    ) -> FetchedJson {
        FetchedJson {
            body: Json::Null,
            cache_control: cache_control.map(str::to_string),
            expires: expires.map(str::to_string),
            date: date.map(str::to_string),
            age: age.map(str::to_string),
        }
    }

    const NOW: i64 = 1_767_225_600_000; // Thu, 01 Jan 2026 00:00:00 GMT

    #[test]
    fn cache_control_directives_parse_with_quotes_and_case() {
        assert_eq!(
            directives(r#"Public, MAX-AGE=60, no-cache="set-cookie, x-a", must-revalidate"#),
            vec![
                ("public".to_string(), None),
                ("max-age".to_string(), Some("60".to_string())),
                ("no-cache".to_string(), Some("set-cookie, x-a".to_string())),
                ("must-revalidate".to_string(), None),
            ]
        );
        assert!(directives("").is_empty());
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        assert_eq!(parse_http_date("Thu, 01 Jan 2026 00:00:00 GMT"), Some(NOW));
        assert_eq!(parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT"), Some(NOW));
        assert_eq!(parse_http_date("Thu Jan  1 00:00:00 2026"), Some(NOW));
        assert_eq!(parse_http_date("0"), None);
        assert_eq!(
            parse_http_date(&flare_core::datetime::format_http_date(NOW + 1000)),
            Some(NOW + 1000)
        );
    }

    #[test]
    fn lifetimes_follow_the_headers() {
        let f = |cc, ex, date, age| freshness(&fetched(cc, ex, date, age), NOW);
        assert_eq!(f(Some("max-age=600"), None, None, None), Freshness::For(600_000));
        assert_eq!(
            f(Some("public, max-age=600"), None, None, Some("100")),
            Freshness::For(500_000)
        );
        assert_eq!(
            f(Some("max-age=600"), None, None, Some("700")),
            Freshness::NotStored
        );
        // max-age wins over Expires.
        assert_eq!(
            f(
                Some("max-age=60"),
                Some("Thu, 01 Jan 2026 01:00:00 GMT"),
                None,
                None
            ),
            Freshness::For(60_000)
        );
        // Expires less Date (the key server's clock), else less ours.
        assert_eq!(
            f(
                None,
                Some("Thu, 01 Jan 2026 01:00:00 GMT"),
                Some("Thu, 01 Jan 2026 00:30:00 GMT"),
                None
            ),
            Freshness::For(1_800_000)
        );
        assert_eq!(
            f(None, Some("Thu, 01 Jan 2026 00:02:00 GMT"), None, None),
            Freshness::For(120_000)
        );
        assert_eq!(f(None, Some("0"), None, None), Freshness::NotStored);
        assert_eq!(
            f(None, Some("Wed, 31 Dec 2025 00:00:00 GMT"), None, None),
            Freshness::NotStored
        );
        // Not kept.
        for cc in [
            "no-store",
            "max-age=600, no-cache",
            "No-Store",
            "max-age=0",
            "max-age=-5",
            "max-age=soon",
        ] {
            assert_eq!(f(Some(cc), None, None, None), Freshness::NotStored, "{cc}");
        }
        // The cap and the default.
        assert_eq!(
            f(Some("max-age=31536000"), None, None, None),
            Freshness::For(MAX_TTL_MS)
        );
        assert_eq!(f(None, None, None, None), Freshness::For(DEFAULT_TTL_MS));
        assert_eq!(
            f(Some("public"), None, None, None),
            Freshness::For(DEFAULT_TTL_MS)
        );
    }
}

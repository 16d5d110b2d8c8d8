//! The isolate's cache of validated access tokens, so that an app's FHIR
//! request costs no database round trip of its own for its token.
//!
//! An entry is the token as the store validated it (client approved, grant,
//! refresh family and token not revoked, scopes the client is approved for)
//! and lives at most [`TOKEN_CACHE_TTL_MS`]: a revocation, a client's
//! suspension or a scope narrowing made anywhere reaches every isolate within
//! that bound. Within the isolate that makes such a change it takes effect at
//! once: the router forgets every entry after any request that is not a read
//! ([`TokenCache::forget_all`]). The token's own expiry is checked on every use.
//! Only successful lookups are kept (a token issued a moment ago must work at
//! once), under the token's SHA-256, never the token itself. Must not touch:
//! the store (the caller looks tokens up), requests, routes.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::store::auth::AccessToken;

/// The longest an entry is trusted (ms): the worst-case delay before a
/// revocation or narrowing made elsewhere reaches this isolate.
pub const TOKEN_CACHE_TTL_MS: i64 = 1_000;
/// The most entries one isolate keeps. When full, expired entries go first;
/// if none has expired, the cache starts over (a bounded, rare miss storm
/// rather than unbounded memory).
pub const TOKEN_CACHE_CAPACITY: usize = 4_096;

/// Validated access tokens by SHA-256, each trusted for [`TOKEN_CACHE_TTL_MS`].
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: RefCell<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    token: AccessToken,
    /// When the store said the token was live (ms).
    checked_at: i64,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    /// The token under `hash` if the store validated it less than
    /// [`TOKEN_CACHE_TTL_MS`] ago (by `now`, ms) and it has not expired since.
    /// A clock that went backwards counts as stale.
    pub fn get(&self, hash: &str, now: i64) -> Option<AccessToken> {
        let mut entries = self.entries.borrow_mut();
        let entry = entries.get(hash)?;
        let age = now - entry.checked_at;
        if (0..TOKEN_CACHE_TTL_MS).contains(&age) && entry.token.expires_at > now {
            Some(entry.token.clone())
        } else {
            entries.remove(hash);
            None
        }
    }

    /// Remembers a token the store validated at `now` (ms).
    pub fn put(&self, hash: &str, token: AccessToken, now: i64) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= TOKEN_CACHE_CAPACITY && !entries.contains_key(hash) {
            entries.retain(|_, e| now - e.checked_at < TOKEN_CACHE_TTL_MS && e.token.expires_at > now);
            if entries.len() >= TOKEN_CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            hash.to_string(),
            Entry {
                token,
                checked_at: now,
            },
        );
    }

    /// Forgets every entry: the next use of any token asks the store again.
    pub fn forget_all(&self) {
        self.entries.borrow_mut().clear();
    }

    /// How many entries are held (for tests and logs).
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: i64) -> AccessToken {
        AccessToken {
            client_id: "app".into(),
            grant_id: None,
            practice: "northside".into(),
            user_id: None,
            patient: None,
            scope: "system/*.rs".into(),
            client_scope: "system/*.rs".into(),
            issued_at: 0,
            expires_at,
            fhir_user: None,
        }
    }

    #[test]
    fn an_entry_is_trusted_for_less_than_the_ttl_and_never_past_expiry() {
        let cache = TokenCache::new();
        cache.put("h", token(10_000), 1_000);
        assert!(cache.get("h", 1_000).is_some());
        assert!(cache.get("h", 1_000 + TOKEN_CACHE_TTL_MS - 1).is_some());
        assert!(cache.get("h", 1_000 + TOKEN_CACHE_TTL_MS).is_none());
        assert!(cache.is_empty(), "a stale entry is dropped when seen");

        cache.put("h", token(1_500), 1_000);
        assert!(cache.get("h", 1_499).is_some());
        assert!(cache.get("h", 1_500).is_none(), "expiry wins over the TTL");

        cache.put("h", token(10_000), 5_000);
        assert!(
            cache.get("h", 4_999).is_none(),
            "a clock that went backwards is stale"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::new();
        for i in 0..TOKEN_CACHE_CAPACITY {
            cache.put(&i.to_string(), token(i64::MAX), 0);
        }
        assert_eq!(cache.len(), TOKEN_CACHE_CAPACITY);
        // Full of live entries: it starts over rather than grow.
        cache.put("one more", token(i64::MAX), 1);
        assert_eq!(cache.len(), 1);
        // Full with stale entries: only those go.
        for i in 0..TOKEN_CACHE_CAPACITY - 1 {
            cache.put(&i.to_string(), token(i64::MAX), 2);
        }
        cache.put("fresh", token(i64::MAX), 2 + TOKEN_CACHE_TTL_MS - 1);
        assert_eq!(cache.len(), TOKEN_CACHE_CAPACITY);
        cache.put("fresher", token(i64::MAX), 2 + TOKEN_CACHE_TTL_MS);
        assert_eq!(cache.len(), 2, "the stale entries went, the two live stayed");
        cache.forget_all();
        assert!(cache.is_empty());
    }
}

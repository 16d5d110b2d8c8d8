//! A client's `jwks_uri`: which URLs the Worker may fetch, and the one
//! generic answer a caller gets when a key set cannot be used.
//!
//! Only `https` to a public host: no IP literal in a loopback, private,
//! link-local, unique-local, shared (CGNAT), documentation, multicast or
//! unspecified range (IPv4-mapped IPv6 included), no `localhost` or
//! single-label host names, no user name or password in the URL. The operator
//! may allow loopback hosts, `http` included, for development
//! (`JWKS_ALLOW_LOOPBACK = "true"`, [`crate::app::Config::jwks_allow_loopback`]).
//! The fetch (the Worker adapter's `Platform::fetch_json`) follows no
//! redirect, stops after [`JWKS_TIMEOUT_MS`](crate::platform::JWKS_TIMEOUT_MS) and reads at most
//! [`JWKS_MAX_BYTES`](crate::platform::JWKS_MAX_BYTES). A host name is checked as written: a Worker has no
//! DNS lookup, so a public name that resolves to a private address is left
//! to the platform's outbound network (deployed Workers reach only the public
//! internet; under `wrangler dev` such a name would be fetched). Whatever fails, the caller reads [`REFUSED`] (or [`UNREADABLE`] at
//! `/token`); the detail goes to the log.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::app::App;
use crate::platform;

use crate::platform::{FetchedJson, Platform};
use crate::store::Database;

/// What a registration (or key change) with an unusable `jwks_uri` is told.
pub const REFUSED: &str = "jwks_uri could not be used: it must be an https URL of a public host \
     that answers with a JSON Web Key Set of at most 64 KiB within 5 seconds, without redirects";

/// What `/token` says when a client's key set cannot be read.
pub const UNREADABLE: &str = "the client's key set could not be read from its jwks_uri";

/// What `/token` says when a key set that may not be cached (`Cache-Control:
/// no-store`) is asked for again within the refetch interval.
pub const TOO_SOON: &str =
    "the client's key set may not be cached (its jwks_uri answers no-store or no-cache) \
     and was fetched less than 10 seconds ago: try again shortly";

/// Whether `uri` may be fetched: `Err` holds the reason, for the log.
pub fn check(uri: &str, allow_loopback: bool) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("user information in the URL".into());
    }
    let loopback = match url.host() {
        None => return Err("no host".into()),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                true
            } else if !d.contains('.') {
                return Err(format!("single-label host {d}"));
            } else {
                false
            }
        }
        Some(Host::Ipv4(a)) => {
            if a.is_loopback() {
                true
            } else if !public_v4(a) {
                return Err(format!("non-public address {a}"));
            } else {
                false
            }
        }
        Some(Host::Ipv6(a)) => match a.to_ipv4_mapped() {
            Some(v4) if v4.is_loopback() => true,
            Some(v4) if !public_v4(v4) => return Err(format!("non-public address {a}")),
            Some(_) => false,
            None if a.is_loopback() => true,
            None if !public_v6(a) => return Err(format!("non-public address {a}")),
            None => false,
        },
    };
    let scheme = url.scheme().to_string();
    match (scheme.as_str(), loopback) {
        (_, true) if !allow_loopback => Err("a loopback host (JWKS_ALLOW_LOOPBACK is not set)".into()),
        ("https", _) | ("http", true) => Ok(url),
        _ => Err(format!("scheme {scheme} (https only)")),
    }
}

/// Whether an IPv4 address is public (none of the special-purpose ranges).
fn public_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_documentation()
        || a.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
        || o[0] >= 240) // reserved
}

/// Whether an IPv6 address is public.
fn public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 (embeds IPv4)
        || matches!(a.to_ipv4(), Some(v4) if !public_v4(v4) && s[0..6] == [0; 6]))
}

/// A `jwks_uri` that cannot be used; why was logged (the caller answers
/// [`REFUSED`] or [`UNREADABLE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusable;

/// Checks `uri` under the operator's configuration, logging why it is refused.
pub fn allowed<D: Database, P: Platform>(app: &App<D, P>, uri: &str) -> Result<Url, Unusable> {
    check(uri, app.config.jwks_allow_loopback).map_err(|why| {
        platform::log(&format!("jwks_uri {uri} refused: {why}"));
        Unusable
    })
}

/// Fetches the key set at `uri` if it is allowed, with its caching headers,
/// logging why it could not be used. Every call is a fetch: `/token` reads
/// key sets through [`crate::oauth::jwks_cache`].
pub async fn fetch<D: Database, P: Platform>(app: &App<D, P>, uri: &str) -> Result<FetchedJson, Unusable> {
    let url = allowed(app, uri)?;
    app.platform.fetch_json(url.as_str()).await.map_err(|why| {
        platform::log(&format!("jwks_uri {uri} not read: {why}"));
        Unusable
    })
}

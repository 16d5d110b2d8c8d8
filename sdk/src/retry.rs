//! When to retry a request: 429 (throttled) and, for idempotent methods only,
//! 503 (unavailable), honouring `Retry-After` (seconds or an HTTP date), else
//! exponential backoff with jitter; always bounded in attempts and in each wait.
//!
//! A 503 may come after the server (or a proxy in front of it) acted on the
//! request, so a POST or PATCH is not sent again after one: the one-time code
//! exchange would present a spent code (Flare revokes what a replayed code
//! issued, RFC 6749 §4.1.2), a refresh a rotated refresh token, a create would
//! create twice. A 429 is the server refusing the request before acting on it
//! (RFC 6585 §4; Flare throttles before routing), so every method retries it.

/// Limits of the retry loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay without `Retry-After` (ms).
    pub base_delay_ms: f64,
    /// Longest single wait (ms). A `Retry-After` beyond it is not waited for:
    /// the error reports it to the app instead.
    pub max_delay_ms: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay_ms: 500.0,
            max_delay_ms: 10_000.0,
        }
    }
}

/// Whether sending `method` twice has the effect of sending it once
/// (RFC 9110 §9.2.2). POST and PATCH, and methods this SDK does not know, are not.
pub fn is_idempotent(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// Whether an answer `status` to a `method` request may be retried: 429
/// always, 503 only for idempotent methods (see the module comment).
pub fn is_retryable(method: &str, status: u16) -> bool {
    status == 429 || (status == 503 && is_idempotent(method))
}

/// `Retry-After` in milliseconds from now: delta-seconds or an IMF-fixdate.
pub fn retry_after_ms(value: &str, now_ms: f64) -> Option<f64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than `digits` reads: a wait far beyond any bound.
        let seconds = crate::form::digits(value).map_or(1e15, |s| s as f64);
        return Some(seconds * 1000.0);
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    let mut it = value.split_ascii_whitespace().skip(1);
    let (day, month, year, time, zone) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|x| *x == month)? as i64 + 1;
    let (day, year) = (crate::form::digits(day)?, crate::form::digits(year)?);
    let mut hms = time.split(':').map(crate::form::digits);
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    let valid =
        zone == "GMT" && (1..=31).contains(&day) && h < 24 && m < 60 && sec < 61 && hms.next().is_none();
    if !valid {
        return None;
    }
    let at = (days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec) as f64 * 1000.0;
    Some((at - now_ms).max(0.0))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How long to wait before retry number `attempt` (0-based) of a `method`
/// request answered `status`, or `None` to report the answer now. `jitter` is
/// a random number in [0, 1).
pub fn delay_ms(
    policy: &RetryPolicy,
    method: &str,
    status: u16,
    retry_after: Option<&str>,
    attempt: u32,
    now_ms: f64,
    jitter: f64,
) -> Option<f64> {
    if !is_retryable(method, status) || attempt >= policy.max_retries {
        return None;
    }
    match retry_after.and_then(|v| retry_after_ms(v, now_ms)) {
        Some(wait) if wait > policy.max_delay_ms => None,
        Some(wait) => Some(wait),
        None => {
            let backoff = policy.base_delay_ms * f64::from(1u32 << attempt.min(16));
            Some((backoff * (0.5 + jitter / 2.0)).min(policy.max_delay_ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_retry_after_forms() {
        assert_eq!(retry_after_ms("7", 0.0), Some(7000.0));
        let now = 784_111_777_000.0 - 2000.0;
        assert_eq!(retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(2000.0));
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now + 5000.0),
            Some(0.0)
        );
        assert_eq!(retry_after_ms("soon", 0.0), None);
        assert_eq!(retry_after_ms("99999999999999999999", 0.0), Some(1e18));
        assert_eq!(
            delay_ms(
                &RetryPolicy::default(),
                "GET",
                429,
                Some("99999999999999999999"),
                0,
                0.0,
                0.0
            ),
            None
        );
    }

    #[test]
    fn retries_only_throttling_and_unavailability_a_bounded_number_of_times() {
        let p = RetryPolicy::default();
        assert_eq!(delay_ms(&p, "GET", 429, Some("2"), 0, 0.0, 0.0), Some(2000.0));
        assert_eq!(delay_ms(&p, "GET", 503, None, 0, 0.0, 0.0), Some(250.0));
        let near_max = delay_ms(&p, "GET", 503, None, 2, 0.0, 0.999_999).unwrap();
        assert!((near_max - 1999.999).abs() < 1e-6, "{near_max}");
        assert_eq!(delay_ms(&p, "GET", 429, None, 3, 0.0, 0.0), None);
        assert_eq!(delay_ms(&p, "GET", 500, None, 0, 0.0, 0.0), None);
        assert_eq!(delay_ms(&p, "GET", 401, Some("1"), 0, 0.0, 0.0), None);
        // A server asking for a minute is not waited for: the app decides.
        assert_eq!(delay_ms(&p, "GET", 429, Some("60"), 0, 0.0, 0.0), None);
        let tight = RetryPolicy {
            max_retries: 10,
            base_delay_ms: 500.0,
            max_delay_ms: 3000.0,
        };
        assert_eq!(delay_ms(&tight, "GET", 503, None, 9, 0.0, 0.999), Some(3000.0));
    }

    #[test]
    fn a_503_to_a_post_or_patch_is_not_sent_again() {
        let p = RetryPolicy::default();
        // The code exchange and the refresh are POSTs to the token endpoint:
        // after a 503 the code may be spent, the refresh token rotated.
        assert_eq!(delay_ms(&p, "POST", 503, None, 0, 0.0, 0.0), None);
        assert_eq!(delay_ms(&p, "POST", 503, Some("1"), 0, 0.0, 0.0), None);
        assert_eq!(delay_ms(&p, "patch", 503, None, 0, 0.0, 0.0), None);
        assert_eq!(delay_ms(&p, "BREW", 503, None, 0, 0.0, 0.0), None);
        // A 429 was refused before the server acted: retried for any method.
        assert_eq!(delay_ms(&p, "POST", 429, Some("1"), 0, 0.0, 0.0), Some(1000.0));
        assert_eq!(delay_ms(&p, "POST", 429, None, 0, 0.0, 0.0), Some(250.0));
        // Idempotent methods are retried after a 503.
        for m in ["GET", "head", "PUT", "DELETE", "OPTIONS"] {
            assert_eq!(delay_ms(&p, m, 503, Some("1"), 0, 0.0, 0.0), Some(1000.0), "{m}");
        }
        assert!(!is_retryable("POST", 503));
        assert!(is_retryable("GET", 503));
        assert!(!is_retryable("GET", 500));
    }
}

//! Attempt counters (`migrations/0007_attempt_counters.sql`, in `DB_0`):
//! failures counted against a key (a sign-in's name and address, a
//! practice's PIN), each one claimed before the secret is checked, so
//! parallel guesses cannot each see the count from before the burst.

use super::row::scalar;
use super::{Database, DbError, Statement};

/// How failures against one key are slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPolicy {
    /// The failure that first locks the key: from it on, failure `n` locks
    /// it for `base_ms * 2^(n - locks_from)`, at most `max_ms`.
    pub locks_from: i64,
    /// The first lock (ms).
    pub base_ms: i64,
    /// The longest lock (ms).
    pub max_ms: i64,
    /// Failures are forgotten this long after the last one (ms).
    pub forget_ms: i64,
}

/// Counts one attempt against `key` as failed BEFORE it is checked, unless
/// the key is locked: `Ok(None)` then. In one upsert on the stored count:
/// concurrent attempts each count, and the lock they reach stops the rest of
/// a burst. A failure older than `policy.forget_ms` starts the count again.
/// Returns the failures counted so far.
pub async fn claim<D: Database>(
    db: &D,
    key: &str,
    now: i64,
    policy: AttemptPolicy,
) -> Result<Option<i64>, DbError> {
    // ?6: the count after this failure (1 when the last one is forgotten).
    let count = "(CASE WHEN last_failed_at < ?2 - ?6 THEN 1 ELSE failed + 1 END)";
    let lock =
        |n: &str| format!("CASE WHEN {n} >= ?3 THEN ?2 + MIN(?4 * (1 << MIN({n} - ?3, 30)), ?5) ELSE 0 END");
    let rows = db
        .query(Statement::new(
            format!(
                "INSERT INTO attempt_counters (counter_key, failed, locked_until, last_failed_at) \
                 VALUES (?1, 1, {first}, ?2) \
                 ON CONFLICT (counter_key) DO UPDATE SET failed = {count}, locked_until = {next}, \
                 last_failed_at = ?2 WHERE locked_until <= ?2 RETURNING failed",
                first = lock("1"),
                next = lock(count),
            ),
            vec![
                key.into(),
                now.into(),
                policy.locks_from.into(),
                policy.base_ms.into(),
                policy.max_ms.into(),
                policy.forget_ms.into(),
            ],
        ))
        .await?;
    scalar(&rows, "attempt_counters.failed")
}

/// Until when (ms) `key` is locked (0: not locked).
pub async fn locked_until<D: Database>(db: &D, key: &str) -> Result<i64, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT locked_until FROM attempt_counters WHERE counter_key = ?1",
            vec![key.into()],
        ))
        .await?;
    Ok(scalar(&rows, "attempt_counters.locked_until")?.unwrap_or_default())
}

/// Forgets the failures of `key` (a right password at its address).
pub async fn clear<D: Database>(db: &D, key: &str) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "DELETE FROM attempt_counters WHERE counter_key = ?1",
        vec![key.into()],
    )])
    .await
}

/// Takes back one claimed attempt that turned out right (a practice's PIN,
/// whose count is not cleared by one right answer), lifting the lock the
/// claim may have set.
pub async fn refund<D: Database>(db: &D, key: &str, policy: AttemptPolicy) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE attempt_counters SET failed = MAX(failed - 1, 0), \
         locked_until = CASE WHEN failed - 1 < ?2 THEN 0 ELSE locked_until END WHERE counter_key = ?1",
        vec![key.into(), policy.locks_from.into()],
    )])
    .await
}

/// Deletes counters whose last failure is older than `before` (ms) and
/// whose lock has passed.
pub async fn purge<D: Database>(db: &D, before: i64) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "DELETE FROM attempt_counters WHERE last_failed_at < ?1 AND locked_until < ?1",
        vec![before.into()],
    )])
    .await
}

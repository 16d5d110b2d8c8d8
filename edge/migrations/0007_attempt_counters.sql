-- Failed sign-in and PIN attempts, counted against what they guess at
-- (issue 12, findings 5 and 8): a sign-in per (name, client address), so a
-- stranger's failures never lock the real user out; a registration PIN per
-- practice as well as per developer account (developers.failed_pins).
-- counter_key is a SHA-256 (base64url) of the kind and its parts; no name or
-- address is stored in clear. Rows whose last failure is older than their
-- policy's window count as fresh.
CREATE TABLE attempt_counters (
    counter_key    TEXT PRIMARY KEY,
    failed         INTEGER NOT NULL,
    locked_until   INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX attempt_counters_last ON attempt_counters (last_failed_at);

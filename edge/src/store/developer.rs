//! SQL of the developer portal and practice administration
//! (`migrations/0005_developer_portal.sql`): developer accounts, their
//! sessions and API tokens, practice PINs, app ownership and its transfer,
//! the once-only first client secret, and a practice's test patients.
//!
//! Decisions that must hold under concurrency (accepting a transfer, showing
//! the first secret) are one conditional `UPDATE … RETURNING` each.

use super::row::{decode_all, decode_first, scalar, FromRow};
use super::{Database, DbError, Statement};

crate::row! {
    /// An app developer's account.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Developer in "developers" {
        /// Opaque id.
        pub developer_id: String,
        /// Sign-in e-mail address (unique, case-insensitive).
        pub email: String,
        /// Name shown on pages and to practices.
        pub display_name: String,
        /// `pbkdf2-sha256$…`.
        pub password_hash: String,
        /// Consecutive failed sign-ins.
        pub failed_signins: i64,
        /// Sign-in refused until (ms).
        pub locked_until: i64,
        /// Consecutive wrong practice PINs.
        pub failed_pins: i64,
        /// Registrations refused until (ms), after too many wrong PINs.
        pub pin_locked_until: i64,
    }
}

const DEV_COLS: &str = Developer::COLUMNS;

crate::row! {
    /// An app of a developer's list: `owned` by them, or else offered to them.
    struct DeveloperApp in "clients" {
        client_id: String,
        owned: bool = "owner_developer IS ?1",
    }
}

crate::row! {
    /// A practice's test patient as developers see it.
    struct TestPatient in "users" {
        username: String,
        display_name: Option<String>,
        fhir_user: String,
    }
}

/// Creates a developer; `false` if the e-mail address is taken.
pub async fn insert_developer<D: Database>(db: &D, d: &Developer, now: i64) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "INSERT INTO developers (developer_id, email, display_name, password_hash, created_at) \
             VALUES (?1,?2,?3,?4,?5) ON CONFLICT(email) DO NOTHING RETURNING developer_id",
            vec![
                d.developer_id.as_str().into(),
                d.email.as_str().into(),
                d.display_name.as_str().into(),
                d.password_hash.as_str().into(),
                now.into(),
            ],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// A developer by e-mail address (case-insensitive).
pub async fn developer_by_email<D: Database>(db: &D, email: &str) -> Result<Option<Developer>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {DEV_COLS} FROM developers WHERE email = ?1"),
            vec![email.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// A developer by id.
pub async fn developer<D: Database>(db: &D, developer_id: &str) -> Result<Option<Developer>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {DEV_COLS} FROM developers WHERE developer_id = ?1"),
            vec![developer_id.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Replaces a developer's password hash and ends all their sessions and API
/// tokens except `keep` (the session that changed it).
pub async fn set_developer_password<D: Database>(
    db: &D,
    developer_id: &str,
    password_hash: &str,
    keep: &str,
    now: i64,
) -> Result<(), DbError> {
    db.batch(vec![
        Statement::new(
            "UPDATE developers SET password_hash = ?2, failed_signins = 0, locked_until = 0 WHERE developer_id = ?1",
            vec![developer_id.into(), password_hash.into()],
        ),
        Statement::new(
            "UPDATE developer_sessions SET ended_at = ?3 WHERE developer_id = ?1 AND session_hash <> ?2 AND ended_at IS NULL",
            vec![developer_id.into(), keep.into(), now.into()],
        ),
    ])
    .await
}

crate::sql_enum! {
    /// What a developer credential is (`developer_sessions.kind`): a browser
    /// session or an API token.
    pub enum CredentialKind {
        /// The `flare_dev_session` cookie.
        Session = "session",
        /// A Bearer API token (the RFC 7591 initial access token).
        Api = "api",
    }
}

/// Stores a session or API token (by its hash).
pub async fn insert_credential<D: Database>(
    db: &D,
    hash: &str,
    developer_id: &str,
    kind: CredentialKind,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "INSERT INTO developer_sessions (session_hash, developer_id, kind, created_at, expires_at) VALUES (?1,?2,?3,?4,?5)",
        vec![
            hash.into(),
            developer_id.into(),
            kind.as_str().into(),
            now.into(),
            expires_at.into(),
        ],
    )])
    .await
}

/// The developer of a live credential of `kind`.
pub async fn credential_developer<D: Database>(
    db: &D,
    hash: &str,
    kind: CredentialKind,
    now: i64,
) -> Result<Option<Developer>, DbError> {
    let cols = Developer::columns_as("d");
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {cols} FROM developer_sessions s JOIN developers d ON d.developer_id = s.developer_id \
                 WHERE s.session_hash = ?1 AND s.kind = ?2 AND s.ended_at IS NULL AND s.expires_at > ?3"
            ),
            vec![hash.into(), kind.as_str().into(), now.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Ends a session or API token.
pub async fn end_credential<D: Database>(db: &D, hash: &str, now: i64) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE developer_sessions SET ended_at = ?2 WHERE session_hash = ?1 AND ended_at IS NULL",
        vec![hash.into(), now.into()],
    )])
    .await
}

/// Sets (or replaces) a practice's registration PIN hash.
pub async fn set_practice_pin<D: Database>(
    db: &D,
    practice: &str,
    pin_hash: &str,
    now: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "INSERT INTO practice_pins (practice, pin_hash, updated_at) VALUES (?1,?2,?3) \
         ON CONFLICT(practice) DO UPDATE SET pin_hash = excluded.pin_hash, updated_at = excluded.updated_at",
        vec![practice.into(), pin_hash.into(), now.into()],
    )])
    .await
}

/// A practice's PIN hash, if the operator set one.
pub async fn practice_pin<D: Database>(db: &D, practice: &str) -> Result<Option<String>, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT pin_hash FROM practice_pins WHERE practice = ?1",
            vec![practice.into()],
        ))
        .await?;
    scalar(&rows, "practice_pins.pin_hash")
}

/// Ids of the apps a developer owns, and of those offered to them, newest first.
pub async fn developer_client_ids<D: Database>(
    db: &D,
    developer_id: &str,
) -> Result<(Vec<String>, Vec<String>), DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM clients WHERE owner_developer = ?1 OR transfer_to = ?1 \
                 ORDER BY created_at DESC LIMIT 500",
                DeveloperApp::COLUMNS
            ),
            vec![developer_id.into()],
        ))
        .await?;
    let (mut owned, mut offered) = (Vec::new(), Vec::new());
    for app in decode_all::<DeveloperApp>(&rows)? {
        if app.owned {
            owned.push(app.client_id);
        } else {
            offered.push(app.client_id);
        }
    }
    Ok((owned, offered))
}

/// Proposes (`Some`) or withdraws (`None`) an ownership transfer. Only the
/// owner proposes; the owner or the recipient withdraws. `false` if not allowed.
pub async fn set_transfer<D: Database>(
    db: &D,
    client_id: &str,
    actor: &str,
    to: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let stmt = match to {
        Some(to) => Statement::new(
            "UPDATE clients SET transfer_to = ?3, updated_at = ?4 WHERE client_id = ?1 AND owner_developer = ?2 RETURNING client_id",
            vec![client_id.into(), actor.into(), to.into(), now.into()],
        ),
        None => Statement::new(
            "UPDATE clients SET transfer_to = NULL, updated_at = ?3 WHERE client_id = ?1 AND transfer_to IS NOT NULL \
             AND (owner_developer = ?2 OR transfer_to = ?2) RETURNING client_id",
            vec![client_id.into(), actor.into(), now.into()],
        ),
    };
    Ok(!db.query(stmt).await?.is_empty())
}

/// The recipient accepts a transfer: they become the owner, and the
/// credentials the previous owner holds stop working: the client secret (the
/// new owner is shown a new one once, as after approval) or the public keys
/// (the new owner registers theirs). `false` if no transfer to them is pending.
pub async fn accept_transfer<D: Database>(
    db: &D,
    client_id: &str,
    recipient: &str,
    now: i64,
) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "UPDATE clients SET owner_developer = transfer_to, transfer_to = NULL, updated_at = ?3, \
             secret_hash = NULL, secret_issued_at = NULL, jwks = NULL, jwks_uri = NULL \
             WHERE client_id = ?1 AND transfer_to = ?2 RETURNING client_id",
            vec![client_id.into(), recipient.into(), now.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// Stores the first client secret of an approved developer-owned app;
/// `false` if one was already shown (then only a rotation gives a new one).
pub async fn issue_first_secret<D: Database>(
    db: &D,
    client_id: &str,
    secret_hash: &str,
    now: i64,
) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "UPDATE clients SET secret_hash = ?2, secret_issued_at = ?3, updated_at = ?3 \
             WHERE client_id = ?1 AND secret_issued_at IS NULL AND status = 'approved' RETURNING client_id",
            vec![client_id.into(), secret_hash.into(), now.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// Replaces the secret of a client whose first secret was shown.
pub async fn rotate_secret<D: Database>(
    db: &D,
    client_id: &str,
    secret_hash: &str,
    now: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE clients SET secret_hash = ?2, secret_issued_at = COALESCE(secret_issued_at, ?3), updated_at = ?3 WHERE client_id = ?1",
        vec![client_id.into(), secret_hash.into(), now.into()],
    )])
    .await
}

/// A practice's test patients: users with the `test_patient` role whose
/// `fhirUser` is a Patient there, as `(username, display name, Patient/id)`.
/// Only these are shown to developers: real patients' names and sign-in
/// names never are.
pub async fn test_patients<D: Database>(
    db: &D,
    practice: &str,
) -> Result<Vec<(String, Option<String>, String)>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM users WHERE practice = ?1 AND role = 'test_patient' \
                 AND fhir_user LIKE 'Patient/%' ORDER BY username LIMIT 100",
                TestPatient::COLUMNS
            ),
            vec![practice.into()],
        ))
        .await?;
    Ok(decode_all::<TestPatient>(&rows)?
        .into_iter()
        .map(|p| (p.username, p.display_name, p.fhir_user))
        .collect())
}

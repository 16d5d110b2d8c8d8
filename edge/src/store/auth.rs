//! SQL of the authorization server: clients, users, sessions, launch
//! contexts, authorize requests, grants, codes, refresh-token families,
//! access tokens, assertion `jti`s and audit events (see
//! `migrations/0003_authorization.sql`). Secrets arrive here already hashed.
//!
//! Single use and rotation are decided by one conditional `UPDATE … RETURNING`
//! each, so two concurrent requests can never both consume the same code.

use serde_json::Value as Json;

use super::resources::IdJson;
use super::row::{decode_all, decode_first, scalar, FromRow};
use super::{Database, DbError, SqlValue, Statement};

crate::sql_enum! {
    /// Where an app is in its review (`clients.status`).
    pub enum ClientStatus {
        /// Registered, awaiting the practice's decision.
        Pending = "pending",
        /// May be used.
        Approved = "approved",
        /// Refused by the practice.
        Rejected = "rejected",
        /// Approved once, now switched off.
        Disabled = "disabled",
    }
}

crate::sql_enum! {
    /// How a client authenticates at the token endpoint (`clients.auth_method`,
    /// RFC 7591 `token_endpoint_auth_method`).
    pub enum AuthMethod {
        /// A public client (PKCE only).
        None = "none",
        /// A client secret in HTTP Basic.
        ClientSecretBasic = "client_secret_basic",
        /// A signed JWT assertion (SMART Backend Services, asymmetric client auth).
        PrivateKeyJwt = "private_key_jwt",
    }
}

crate::sql_enum! {
    /// An OAuth grant type a client registered (`clients.grant_types`, a JSON array).
    pub enum GrantType {
        /// Users sign in and approve (SMART App Launch).
        AuthorizationCode = "authorization_code",
        /// Refresh tokens (with `authorization_code`).
        RefreshToken = "refresh_token",
        /// Backend services (SMART Backend Services).
        ClientCredentials = "client_credentials",
    }
}

crate::sql_enum! {
    /// What an app is for (`use_case` in the registration metadata of apps
    /// registered in the developer portal).
    pub enum UseCase {
        /// A patient-facing app.
        Patient = "patient",
        /// A clinician-facing app.
        Provider = "provider",
        /// A backend service (`client_credentials`).
        Backend = "backend",
    }
}

crate::row! {
    /// A registered app.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Client in "clients" {
        /// The `client_id`.
        pub client_id: String,
        /// The practice it serves.
        pub practice: String,
        /// `client_name`.
        pub name: String,
        /// How it authenticates at the token endpoint.
        pub auth_method: AuthMethod,
        /// SHA-256 of the client secret.
        pub secret_hash: Option<String>,
        /// Inline JWKS.
        pub jwks: Option<Json>,
        /// JWKS URL.
        pub jwks_uri: Option<String>,
        /// Registered redirect URIs (exact match).
        pub redirect_uris: Vec<String>,
        /// Registered grant types.
        pub grant_types: Vec<GrantType>,
        /// Allowed scopes (canonical, space-separated).
        pub scope: String,
        /// A scope change awaiting approval.
        pub pending_scope: Option<String>,
        /// `launch_uri`.
        pub launch_uri: Option<String>,
        /// Where it is in its review.
        pub status: ClientStatus,
        /// Why it was rejected or disabled.
        pub status_reason: Option<String>,
        /// The registration request (JSON), for the metadata echo.
        pub metadata: Json,
        /// Registered at (ms).
        pub created_at: i64,
        /// The developer account that owns it (apps registered in the developer portal).
        pub owner_developer: Option<String>,
        /// A proposed ownership transfer's recipient (a developer id).
        pub transfer_to: Option<String>,
        /// When the first client secret of a developer-owned app was shown.
        pub secret_issued_at: Option<i64>,
        /// Why the last scope change was rejected.
        pub scope_change_reason: Option<String>,
    }
}

impl Client {
    /// Access-token lifetime in seconds (registered in the metadata; 3600 by default).
    pub fn access_token_lifetime(&self) -> i64 {
        self.metadata
            .get("access_token_lifetime")
            .and_then(Json::as_i64)
            .unwrap_or(3600)
    }

    /// The use case it was registered for, if it was registered in the developer portal.
    pub fn use_case(&self) -> Option<UseCase> {
        self.metadata
            .get("use_case")
            .and_then(Json::as_str)
            .and_then(UseCase::parse)
    }
}

const CLIENT_COLS: &str = Client::COLUMNS;

fn opt(s: &Option<String>) -> SqlValue {
    s.clone().into()
}

/// Stores a new registration.
pub async fn insert_client<D: Database>(db: &D, c: &Client) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        format!("INSERT INTO clients ({CLIENT_COLS}, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?16)"),
        vec![
            c.client_id.as_str().into(),
            c.practice.as_str().into(),
            c.name.as_str().into(),
            c.auth_method.into(),
            opt(&c.secret_hash),
            c.jwks.as_ref().map(Json::to_string).into(),
            opt(&c.jwks_uri),
            Json::from(c.redirect_uris.clone()).to_string().into(),
            Json::from(c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>())
                .to_string()
                .into(),
            c.scope.as_str().into(),
            opt(&c.pending_scope),
            opt(&c.launch_uri),
            c.status.into(),
            opt(&c.status_reason),
            c.metadata.to_string().into(),
            c.created_at.into(),
            opt(&c.owner_developer),
            opt(&c.transfer_to),
            c.secret_issued_at.map_or(SqlValue::Null, SqlValue::from),
            opt(&c.scope_change_reason),
        ],
    )])
    .await
}

/// A client by id.
pub async fn client<D: Database>(db: &D, client_id: &str) -> Result<Option<Client>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {CLIENT_COLS} FROM clients WHERE client_id = ?1"),
            vec![client_id.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Clients, optionally of one practice and status, newest first.
pub async fn list_clients<D: Database>(
    db: &D,
    practice: Option<&str>,
    status: Option<ClientStatus>,
) -> Result<Vec<Client>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {CLIENT_COLS} FROM clients WHERE (?1 IS NULL OR practice = ?1) AND (?2 IS NULL OR status = ?2) \
                 ORDER BY created_at DESC LIMIT 500"
            ),
            vec![practice.map(str::to_string).into(), status.map(|s| s.as_str().to_string()).into()],
        ))
        .await?;
    decode_all(&rows)
}

/// Sets a client's status; approving publishes its redirect origins for CORS,
/// anything else withdraws them and revokes all the client's grants, refresh
/// families, access tokens and unused launch contexts. One atomic batch.
pub async fn set_client_status<D: Database>(
    db: &D,
    client_id: &str,
    status: ClientStatus,
    reason: Option<&str>,
    origins: &[String],
    now: i64,
) -> Result<(), DbError> {
    let mut stmts = vec![
        Statement::new(
            "UPDATE clients SET status = ?2, status_reason = ?3, updated_at = ?4 WHERE client_id = ?1",
            vec![
                client_id.into(),
                status.into(),
                reason.map(str::to_string).into(),
                now.into(),
            ],
        ),
        Statement::new(
            "DELETE FROM client_origins WHERE client_id = ?1",
            vec![client_id.into()],
        ),
    ];
    if status == ClientStatus::Approved {
        for o in origins {
            stmts.push(Statement::new(
                "INSERT OR IGNORE INTO client_origins (origin, client_id) VALUES (?1, ?2)",
                vec![o.as_str().into(), client_id.into()],
            ));
        }
    } else {
        // Every grant and token ends here: enabling the app again later
        // does not revive them (users authorize it anew).
        for sql in [
            "UPDATE grants SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
            "UPDATE access_tokens SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
            "UPDATE refresh_families SET revoked_at = ?2 WHERE revoked_at IS NULL \
             AND grant_id IN (SELECT grant_id FROM grants WHERE client_id = ?1)",
            "UPDATE launches SET used_at = ?2 WHERE client_id = ?1 AND used_at IS NULL",
        ] {
            stmts.push(Statement::new(sql, vec![client_id.into(), now.into()]));
        }
    }
    db.batch(stmts).await
}

/// Updates one credential or scope column of a client.
pub async fn update_client<D: Database>(
    db: &D,
    client_id: &str,
    column: ClientColumn,
    value: Option<String>,
    now: i64,
) -> Result<(), DbError> {
    let col = match column {
        ClientColumn::SecretHash => "secret_hash",
        ClientColumn::Jwks => "jwks",
        ClientColumn::JwksUri => "jwks_uri",
        ClientColumn::Scope => "scope",
        ClientColumn::PendingScope => "pending_scope",
        ClientColumn::ScopeChangeReason => "scope_change_reason",
    };
    db.batch(vec![Statement::new(
        format!("UPDATE clients SET {col} = ?2, updated_at = ?3 WHERE client_id = ?1"),
        vec![client_id.into(), value.into(), now.into()],
    )])
    .await
}

/// Settles a pending scope change in one statement, only if the pending
/// scope is still `expected`: approving makes it the allowed scope,
/// rejecting keeps the scope and records `reason`. `false` if no such change
/// is pending (none, or another one).
pub async fn settle_scope_change<D: Database>(
    db: &D,
    client_id: &str,
    expected: &str,
    approve: bool,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "UPDATE clients SET scope = CASE WHEN ?3 = 1 THEN pending_scope ELSE scope END, \
             scope_change_reason = ?4, pending_scope = NULL, updated_at = ?5 \
             WHERE client_id = ?1 AND pending_scope = ?2 RETURNING client_id",
            vec![
                client_id.into(),
                expected.into(),
                i64::from(approve).into(),
                reason.map(str::to_string).into(),
                now.into(),
            ],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// The client columns [`update_client`] may change.
#[derive(Debug, Clone, Copy)]
pub enum ClientColumn {
    /// `secret_hash`.
    SecretHash,
    /// `jwks`.
    Jwks,
    /// `jwks_uri`.
    JwksUri,
    /// `scope`.
    Scope,
    /// `pending_scope`.
    PendingScope,
    /// `scope_change_reason`.
    ScopeChangeReason,
}

/// Whether an approved client redirects to `origin` (the CORS allow-list).
pub async fn origin_allowed<D: Database>(db: &D, origin: &str) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT 1 FROM client_origins WHERE origin = ?1 LIMIT 1",
            vec![origin.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

crate::sql_enum! {
    /// A practice user's role (`users.role`).
    pub enum Role {
        /// Clinicians and patients.
        Member = "member",
        /// Signs in to `/practice` and approves the apps that may reach the practice's data.
        PracticeAdmin = "practice_admin",
        /// A patient account with made-up records that the practice shows to
        /// the developers of its approved apps (other patients never are).
        TestPatient = "test_patient",
    }
}

crate::row! {
    /// A person who signs in.
    #[derive(Debug, Clone, PartialEq)]
    pub struct User in "users" {
        /// Opaque id (the id_token `sub`).
        pub user_id: String,
        /// Sign-in name.
        pub username: String,
        /// The practice.
        pub practice: String,
        /// `Patient/…` or `Practitioner/…`.
        pub fhir_user: String,
        /// Display name.
        pub display_name: Option<String>,
        /// `pbkdf2-sha256$…`.
        pub password_hash: String,
        /// Consecutive failed sign-ins.
        pub failed_signins: i64,
        /// Refused until (ms).
        pub locked_until: i64,
        /// What the user may do.
        pub role: Role,
    }
}

/// Creates a user; `false` if the username is taken.
pub async fn insert_user<D: Database>(db: &D, u: &User, now: i64) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "INSERT INTO users (user_id, username, practice, fhir_user, display_name, password_hash, created_at, role) \
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(username) DO NOTHING RETURNING user_id",
            vec![
                u.user_id.as_str().into(),
                u.username.as_str().into(),
                u.practice.as_str().into(),
                u.fhir_user.as_str().into(),
                opt(&u.display_name),
                u.password_hash.as_str().into(),
                now.into(),
                u.role.into(),
            ],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// A user by sign-in name (case-insensitive).
pub async fn user_by_name<D: Database>(db: &D, username: &str) -> Result<Option<User>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {} FROM users WHERE username = ?1", User::COLUMNS),
            vec![username.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// A user by id.
pub async fn user<D: Database>(db: &D, user_id: &str) -> Result<Option<User>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {} FROM users WHERE user_id = ?1", User::COLUMNS),
            vec![user_id.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// A consecutive-failure counter with its lock on an account: developers'
/// practice PINs. (Sign-ins are counted per name and client address in
/// [`super::attempts`], not per account, so that nobody can lock another
/// person's account.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCounter {
    /// `developers.failed_pins` / `pin_locked_until`.
    DeveloperPin,
}

impl FailureCounter {
    /// (table, id column, failure column, lock column).
    fn columns(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            FailureCounter::DeveloperPin => ("developers", "developer_id", "failed_pins", "pin_locked_until"),
        }
    }
}

/// The slow-down and lockout of a [`FailureCounter`].
#[derive(Debug, Clone, Copy)]
pub struct LockPolicy {
    /// From this many failures on, each one locks for 1 s, 2 s, 4 s, …
    pub slowdown_after: i64,
    /// From this many on, each one locks for `lock_ms`.
    pub lock_after: i64,
    /// The long lock (ms).
    pub lock_ms: i64,
}

/// Counts one attempt as failed BEFORE it is checked, unless the account is
/// locked (`None` then), in one statement on the stored count: concurrent
/// attempts each count, and the lock they reach stops the rest of a burst.
/// A right answer clears the count with [`clear_failures`]. Returns the
/// failures counted so far.
pub async fn claim_attempt<D: Database>(
    db: &D,
    counter: FailureCounter,
    id: &str,
    now: i64,
    policy: LockPolicy,
) -> Result<Option<i64>, DbError> {
    let (table, id_col, failed, lock) = counter.columns();
    let rows = db
        .query(Statement::new(
            format!(
                "UPDATE {table} SET {failed} = {failed} + 1, {lock} = CASE \
                 WHEN {failed} + 1 >= ?4 THEN ?2 + ?5 \
                 WHEN {failed} + 1 >= ?3 THEN ?2 + 1000 * (1 << MIN({failed} + 1 - ?3, 10)) \
                 ELSE 0 END WHERE {id_col} = ?1 AND {lock} <= ?2 RETURNING {failed}"
            ),
            vec![
                id.into(),
                now.into(),
                policy.slowdown_after.into(),
                policy.lock_after.into(),
                policy.lock_ms.into(),
            ],
        ))
        .await?;
    scalar(&rows, table)
}

/// Until when (ms) the account's counter is locked (0: not locked).
pub async fn locked_until<D: Database>(db: &D, counter: FailureCounter, id: &str) -> Result<i64, DbError> {
    let (table, id_col, _, lock) = counter.columns();
    let rows = db
        .query(Statement::new(
            format!("SELECT {lock} FROM {table} WHERE {id_col} = ?1"),
            vec![id.into()],
        ))
        .await?;
    Ok(scalar(&rows, table)?.unwrap_or_default())
}

/// Clears the failures and lock of a counter (after a right answer).
pub async fn clear_failures<D: Database>(db: &D, counter: FailureCounter, id: &str) -> Result<(), DbError> {
    let (table, id_col, failed, lock) = counter.columns();
    db.batch(vec![Statement::new(
        format!("UPDATE {table} SET {failed} = 0, {lock} = 0 WHERE {id_col} = ?1"),
        vec![id.into()],
    )])
    .await
}

/// Starts a browser session.
pub async fn insert_session<D: Database>(
    db: &D,
    session_hash: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "INSERT INTO sessions (session_hash, user_id, created_at, expires_at) VALUES (?1,?2,?3,?4)",
        vec![session_hash.into(), user_id.into(), now.into(), expires_at.into()],
    )])
    .await
}

/// The user of a live session.
pub async fn session_user<D: Database>(
    db: &D,
    session_hash: &str,
    now: i64,
) -> Result<Option<User>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM sessions s JOIN users u ON u.user_id = s.user_id \
                 WHERE s.session_hash = ?1 AND s.ended_at IS NULL AND s.expires_at > ?2",
                User::columns_as("u")
            ),
            vec![session_hash.into(), now.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Ends a session (sign-out); its online_access refresh tokens stop working.
pub async fn end_session<D: Database>(db: &D, session_hash: &str, now: i64) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE sessions SET ended_at = ?2 WHERE session_hash = ?1 AND ended_at IS NULL",
        vec![session_hash.into(), now.into()],
    )])
    .await
}

crate::row! {
    /// A launch context the EHR made for one user and one app.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Launch in "launches" {
        /// The practitioner (or patient) who launched the app.
        pub user_id: String,
        /// Their practice.
        pub practice: String,
        /// The app it was made for: no other app may use it.
        pub client_id: String,
        /// JSON: patient, encounter, need_patient_banner, smart_style_url, fhirContext.
        pub context: Json,
    }
}

/// Stores a launch context (by the hash of its opaque value).
pub async fn insert_launch<D: Database>(
    db: &D,
    launch_hash: &str,
    launch: &Launch,
    expires_at: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "INSERT INTO launches (launch_hash, user_id, practice, client_id, context, expires_at) VALUES (?1,?2,?3,?4,?5,?6)",
        vec![
            launch_hash.into(),
            launch.user_id.as_str().into(),
            launch.practice.as_str().into(),
            launch.client_id.as_str().into(),
            launch.context.to_string().into(),
            expires_at.into(),
        ],
    )])
    .await
}

/// Uses a launch context once: only if it is live, unused and made for
/// `client_id`, marked used in the same statement (two requests racing for
/// one launch: one wins). `None` otherwise, without saying why.
pub async fn consume_launch<D: Database>(
    db: &D,
    launch_hash: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<Launch>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "UPDATE launches SET used_at = ?3 WHERE launch_hash = ?1 AND client_id = ?2 \
             AND used_at IS NULL AND expires_at > ?3 RETURNING {}",
                Launch::COLUMNS
            ),
            vec![launch_hash.into(), client_id.into(), now.into()],
        ))
        .await?;
    decode_first(&rows)
}

crate::row! {
    /// An `/authorize` request in progress.
    #[derive(Debug, Clone, PartialEq)]
    pub struct AuthorizeRequest in "authorize_requests" {
        /// Opaque id carried by the pages' forms.
        pub request_id: String,
        /// The CSRF token the forms must echo (and the cookie must hold).
        pub csrf: String,
        /// The client.
        pub client_id: String,
        /// Validated parameters and launch context (JSON).
        pub params: Json,
        /// The signed-in user, once known.
        pub user_id: Option<String>,
        /// The patient in context, once known.
        pub patient: Option<String>,
        /// Whether a code or an error was already sent.
        pub done: bool,
    }
}

/// Stores a new authorize request.
pub async fn insert_authorize_request<D: Database>(
    db: &D,
    r: &AuthorizeRequest,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "INSERT INTO authorize_requests (request_id, csrf, client_id, params, user_id, patient, created_at, expires_at) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        vec![
            r.request_id.as_str().into(),
            r.csrf.as_str().into(),
            r.client_id.as_str().into(),
            r.params.to_string().into(),
            opt(&r.user_id),
            opt(&r.patient),
            now.into(),
            expires_at.into(),
        ],
    )])
    .await
}

/// A live authorize request.
pub async fn authorize_request<D: Database>(
    db: &D,
    request_id: &str,
    now: i64,
) -> Result<Option<AuthorizeRequest>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM authorize_requests WHERE request_id = ?1 AND expires_at > ?2",
                AuthorizeRequest::COLUMNS
            ),
            vec![request_id.into(), now.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Records the signed-in user and/or chosen patient of a request.
pub async fn update_authorize_request<D: Database>(
    db: &D,
    request_id: &str,
    user_id: Option<&str>,
    patient: Option<&str>,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE authorize_requests SET user_id = COALESCE(?2, user_id), patient = COALESCE(?3, patient) WHERE request_id = ?1",
        vec![
            request_id.into(),
            user_id.map(str::to_string).into(),
            patient.map(str::to_string).into(),
        ],
    )])
    .await
}

/// Marks a request finished; `false` if it already was (a double submit).
pub async fn finish_authorize_request<D: Database>(db: &D, request_id: &str) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "UPDATE authorize_requests SET done = 1 WHERE request_id = ?1 AND done = 0 RETURNING request_id",
            vec![request_id.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

crate::row! {
    /// What a user approved for an app.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Grant in "grants" {
        /// Opaque id.
        pub grant_id: String,
        /// The practice.
        pub practice: String,
        /// The app.
        pub client_id: String,
        /// Who approved (none for backend services).
        pub user_id: Option<String>,
        /// The patient in context.
        pub patient: Option<String>,
        /// Granted scopes, canonical.
        pub scope: String,
        /// Launch context echoed in token responses (JSON object).
        pub context: Json,
        /// The sign-in session an online_access grant is tied to.
        pub session_hash: Option<String>,
        /// Created (ms).
        pub created_at: i64,
        /// Last token use (ms).
        pub last_used_at: Option<i64>,
        /// Revoked (ms).
        pub revoked_at: Option<i64>,
    }
}

const GRANT_COLS: &str = Grant::COLUMNS;

crate::row! {
    /// A live grant with its app's name (the patient portal's list).
    struct GrantWithApp in "grants" {
        grant_id: String = "g.grant_id",
        practice: String = "g.practice",
        client_id: String = "g.client_id",
        user_id: Option<String> = "g.user_id",
        patient: Option<String> = "g.patient",
        scope: String = "g.scope",
        context: Json = "g.context",
        session_hash: Option<String> = "g.session_hash",
        created_at: i64 = "g.created_at",
        last_used_at: Option<i64> = "g.last_used_at",
        revoked_at: Option<i64> = "g.revoked_at",
        app_name: String = "c.name",
    }
}

fn insert_grant_stmt(g: &Grant) -> Statement {
    Statement::new(
        format!("INSERT INTO grants ({GRANT_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,NULL,NULL)"),
        vec![
            g.grant_id.as_str().into(),
            g.practice.as_str().into(),
            g.client_id.as_str().into(),
            opt(&g.user_id),
            opt(&g.patient),
            g.scope.as_str().into(),
            g.context.to_string().into(),
            opt(&g.session_hash),
            g.created_at.into(),
        ],
    )
}

/// A grant by id.
pub async fn grant<D: Database>(db: &D, grant_id: &str) -> Result<Option<Grant>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {GRANT_COLS} FROM grants WHERE grant_id = ?1"),
            vec![grant_id.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// The live grants whose patient is `patient` in `practice`, newest first,
/// with the app's name.
pub async fn grants_for_patient<D: Database>(
    db: &D,
    practice: &str,
    patient: &str,
) -> Result<Vec<(Grant, String)>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM grants g JOIN clients c ON c.client_id = g.client_id \
                 WHERE g.practice = ?1 AND g.patient = ?2 AND g.revoked_at IS NULL ORDER BY g.created_at DESC LIMIT 200",
                GrantWithApp::COLUMNS
            ),
            vec![practice.into(), patient.into()],
        ))
        .await?;
    Ok(decode_all::<GrantWithApp>(&rows)?
        .into_iter()
        .map(|g| {
            let grant = Grant {
                grant_id: g.grant_id,
                practice: g.practice,
                client_id: g.client_id,
                user_id: g.user_id,
                patient: g.patient,
                scope: g.scope,
                context: g.context,
                session_hash: g.session_hash,
                created_at: g.created_at,
                last_used_at: g.last_used_at,
                revoked_at: g.revoked_at,
            };
            (grant, g.app_name)
        })
        .collect())
}

/// Revokes a grant: its codes, refresh tokens and access tokens fail at once
/// (every token lookup joins the grant).
pub async fn revoke_grant<D: Database>(db: &D, grant_id: &str, now: i64) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE grants SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
        vec![grant_id.into(), now.into()],
    )])
    .await
}

/// Notes that a grant's token was used (for the portal's "last used").
pub async fn touch_grant<D: Database>(db: &D, grant_id: &str, now: i64) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE grants SET last_used_at = ?2 WHERE grant_id = ?1",
        vec![grant_id.into(), now.into()],
    )])
    .await
}

crate::row! {
    /// An authorization code to store with its grant.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Code in "codes" {
        /// SHA-256 of the code.
        pub code_hash: String,
        /// The grant it redeems.
        pub grant_id: String,
        /// The client it was issued to.
        pub client_id: String,
        /// The redirect URI of the request.
        pub redirect_uri: String,
        /// The PKCE challenge (S256), if sent.
        pub code_challenge: Option<String>,
        /// The OpenID `nonce`, if sent.
        pub nonce: Option<String>,
        /// Expiry (ms).
        pub expires_at: i64,
    }
}

/// Stores a grant and its code in one atomic batch.
pub async fn insert_grant_and_code<D: Database>(db: &D, g: &Grant, c: &Code) -> Result<(), DbError> {
    db.batch(vec![
        insert_grant_stmt(g),
        Statement::new(
            format!(
                "INSERT INTO codes ({}) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                Code::COLUMNS
            ),
            vec![
                c.code_hash.as_str().into(),
                c.grant_id.as_str().into(),
                c.client_id.as_str().into(),
                c.redirect_uri.as_str().into(),
                opt(&c.code_challenge),
                opt(&c.nonce),
                c.expires_at.into(),
            ],
        ),
    ])
    .await
}

/// Stores a grant on its own (backend services).
pub async fn insert_grant<D: Database>(db: &D, g: &Grant) -> Result<(), DbError> {
    db.batch(vec![insert_grant_stmt(g)]).await
}

/// What consuming a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeUse {
    /// First use: the code.
    Fresh(Code),
    /// Already used: the grant it belonged to (to revoke).
    Replayed(String),
    /// Unknown.
    Unknown,
}

/// Consumes a code atomically: only one caller ever gets [`CodeUse::Fresh`].
pub async fn consume_code<D: Database>(db: &D, code_hash: &str, now: i64) -> Result<CodeUse, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "UPDATE codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL RETURNING {}",
                Code::COLUMNS
            ),
            vec![code_hash.into(), now.into()],
        ))
        .await?;
    if let Some(code) = decode_first(&rows)? {
        return Ok(CodeUse::Fresh(code));
    }
    let rows = db
        .query(Statement::new(
            "SELECT grant_id FROM codes WHERE code_hash = ?1",
            vec![code_hash.into()],
        ))
        .await?;
    Ok(match scalar::<String>(&rows, "codes.grant_id")? {
        Some(g) => CodeUse::Replayed(g),
        None => CodeUse::Unknown,
    })
}

/// A new access token row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccessToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The app.
    pub client_id: String,
    /// The grant (none for backend services).
    pub grant_id: Option<String>,
    /// The refresh family it came from.
    pub family_id: Option<String>,
    /// The practice.
    pub practice: String,
    /// The user.
    pub user_id: Option<String>,
    /// The patient in context.
    pub patient: Option<String>,
    /// Granted scopes.
    pub scope: String,
    /// Issued (ms).
    pub issued_at: i64,
    /// Expiry (ms).
    pub expires_at: i64,
    /// What introspection echoes of the token response: its launch context
    /// and its id_token's `iss`, `sub`, `fhirUser` (a JSON object).
    pub context: Json,
}

/// A new refresh token row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRefreshToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Its rotation family.
    pub family_id: String,
    /// The grant.
    pub grant_id: String,
    /// The app.
    pub client_id: String,
    /// Scopes it may refresh to.
    pub scope: String,
    /// `offline_access` (outlives the session).
    pub offline: bool,
    /// Issued (ms).
    pub issued_at: i64,
    /// Expiry (ms).
    pub expires_at: i64,
}

fn access_stmt(t: &NewAccessToken) -> Statement {
    Statement::new(
        "INSERT INTO access_tokens (token_hash, client_id, grant_id, family_id, practice, user_id, patient, scope, issued_at, expires_at, context) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
        vec![
            t.token_hash.as_str().into(),
            t.client_id.as_str().into(),
            opt(&t.grant_id),
            opt(&t.family_id),
            t.practice.as_str().into(),
            opt(&t.user_id),
            opt(&t.patient),
            t.scope.as_str().into(),
            t.issued_at.into(),
            t.expires_at.into(),
            t.context.to_string().into(),
        ],
    )
}

fn refresh_stmt(t: &NewRefreshToken) -> Statement {
    Statement::new(
        "INSERT INTO refresh_tokens (token_hash, family_id, grant_id, client_id, scope, offline, issued_at, expires_at) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        vec![
            t.token_hash.as_str().into(),
            t.family_id.as_str().into(),
            t.grant_id.as_str().into(),
            t.client_id.as_str().into(),
            t.scope.as_str().into(),
            i64::from(t.offline).into(),
            t.issued_at.into(),
            t.expires_at.into(),
        ],
    )
}

/// Stores the tokens of one response atomically; `new_family` starts a
/// refresh family for the refresh token.
pub async fn insert_tokens<D: Database>(
    db: &D,
    access: &NewAccessToken,
    refresh: Option<&NewRefreshToken>,
    new_family: bool,
) -> Result<(), DbError> {
    let mut stmts = Vec::new();
    if let (Some(r), true) = (refresh, new_family) {
        stmts.push(Statement::new(
            "INSERT INTO refresh_families (family_id, grant_id) VALUES (?1, ?2)",
            vec![r.family_id.as_str().into(), r.grant_id.as_str().into()],
        ));
    }
    stmts.push(access_stmt(access));
    if let Some(r) = refresh {
        stmts.push(refresh_stmt(r));
    }
    db.batch(stmts).await
}

crate::row! {
    /// A stored refresh token, with its grant's and family's state.
    #[derive(Debug, Clone, PartialEq)]
    pub struct RefreshToken in "refresh_tokens" {
        /// Its family.
        pub family_id: String,
        /// Its grant.
        pub grant_id: String,
        /// The app.
        pub client_id: String,
        /// Scopes it may refresh to.
        pub scope: String,
        /// `offline_access`.
        pub offline: bool,
        /// Expiry (ms).
        pub expires_at: i64,
        /// When it was rotated (ms), if it was.
        pub rotated_at: Option<i64>,
    }
}

/// Marks a refresh token rotated. Returns it with `rotated_at` as it was
/// before this call (`None`: this caller rotated it first).
pub async fn rotate_refresh<D: Database>(
    db: &D,
    token_hash: &str,
    now: i64,
) -> Result<Option<RefreshToken>, DbError> {
    const COLS: &str = RefreshToken::COLUMNS;
    let rows = db
        .query(Statement::new(
            format!("UPDATE refresh_tokens SET rotated_at = ?2 WHERE token_hash = ?1 AND rotated_at IS NULL RETURNING {COLS}"),
            vec![token_hash.into(), now.into()],
        ))
        .await?;
    if let Some(token) = decode_first::<RefreshToken>(&rows)? {
        // RETURNING shows the new rotated_at; before this call it was NULL.
        return Ok(Some(RefreshToken {
            rotated_at: None,
            ..token
        }));
    }
    let rows = db
        .query(Statement::new(
            format!("SELECT {COLS} FROM refresh_tokens WHERE token_hash = ?1"),
            vec![token_hash.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Whether a refresh family is still live (not revoked; grant not revoked).
pub async fn family_live<D: Database>(db: &D, family_id: &str) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT 1 FROM refresh_families f JOIN grants g ON g.grant_id = f.grant_id \
             WHERE f.family_id = ?1 AND f.revoked_at IS NULL AND g.revoked_at IS NULL",
            vec![family_id.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// Revokes a refresh family and with it every access token it issued.
pub async fn revoke_family<D: Database>(db: &D, family_id: &str, now: i64) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE refresh_families SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
        vec![family_id.into(), now.into()],
    )])
    .await
}

crate::row! {
    /// A refresh token's family and app.
    struct FamilyOf in "refresh_tokens" {
        family_id: String,
        client_id: String,
    }
}

/// The family of a refresh token, by hash.
pub async fn refresh_family_of<D: Database>(
    db: &D,
    token_hash: &str,
) -> Result<Option<(String, String)>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM refresh_tokens WHERE token_hash = ?1",
                FamilyOf::COLUMNS
            ),
            vec![token_hash.into()],
        ))
        .await?;
    Ok(decode_first::<FamilyOf>(&rows)?.map(|f| (f.family_id, f.client_id)))
}

crate::row! {
    /// A live access token as the FHIR API and introspection see it.
    #[derive(Debug, Clone, PartialEq)]
    pub struct AccessToken in "access_tokens" {
        /// The app.
        pub client_id: String = "t.client_id",
        /// The grant.
        pub grant_id: Option<String> = "t.grant_id",
        /// The practice.
        pub practice: String = "t.practice",
        /// The user.
        pub user_id: Option<String> = "t.user_id",
        /// The patient in context.
        pub patient: Option<String> = "t.patient",
        /// Granted scopes.
        pub scope: String = "t.scope",
        /// The scopes the client is approved for now (a narrowing after the
        /// grant limits what the token may do at its next use).
        pub client_scope: String = "c.scope",
        /// Issued (ms).
        pub issued_at: i64 = "t.issued_at",
        /// Expiry (ms).
        pub expires_at: i64 = "t.expires_at",
        /// The user's `fhirUser`.
        pub fhir_user: Option<String> = "u.fhir_user",
    }
}

/// Looks up a live access token: not expired or revoked, client approved,
/// grant and refresh family not revoked. One query, in the consistent primary.
pub async fn access_token<D: Database>(
    db: &D,
    token_hash: &str,
    now: i64,
) -> Result<Option<AccessToken>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {} \
             FROM access_tokens t JOIN clients c ON c.client_id = t.client_id \
             LEFT JOIN grants g ON g.grant_id = t.grant_id \
             LEFT JOIN refresh_families f ON f.family_id = t.family_id \
             LEFT JOIN users u ON u.user_id = t.user_id \
             WHERE t.token_hash = ?1 AND t.revoked_at IS NULL AND t.expires_at > ?2 AND c.status = 'approved' \
             AND (t.grant_id IS NULL OR g.revoked_at IS NULL) AND (t.family_id IS NULL OR f.revoked_at IS NULL)", AccessToken::COLUMNS),
            vec![token_hash.into(), now.into()],
        ))
        .await?;
    decode_first(&rows)
}

crate::row! {
    /// What introspection echoes of an access token's response.
    struct TokenContext in "access_tokens" {
        context: Option<Json>,
    }
}

/// What introspection echoes of the response that issued an access token
/// (`None`: no such token, or one issued before migration 0009 recorded it).
/// Liveness is [`access_token`]'s to decide.
pub async fn access_token_context<D: Database>(db: &D, token_hash: &str) -> Result<Option<Json>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM access_tokens WHERE token_hash = ?1",
                TokenContext::COLUMNS
            ),
            vec![token_hash.into()],
        ))
        .await?;
    Ok(decode_first::<TokenContext>(&rows)?.and_then(|t| t.context))
}

/// Revokes one access token; returns its client if it existed.
pub async fn revoke_access_token<D: Database>(
    db: &D,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, DbError> {
    let rows = db
        .query(Statement::new(
            "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE token_hash = ?1 RETURNING client_id",
            vec![token_hash.into(), now.into()],
        ))
        .await?;
    scalar(&rows, "access_tokens.client_id")
}

/// Records a client assertion's `jti`; `false` if it was seen before (a replay).
pub async fn record_jti<D: Database>(
    db: &D,
    client_id: &str,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, DbError> {
    db.batch(vec![Statement::new(
        "DELETE FROM assertion_jtis WHERE expires_at < ?1",
        vec![now.into()],
    )])
    .await?;
    let rows = db
        .query(Statement::new(
            "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES (?1,?2,?3) \
             ON CONFLICT(client_id, jti) DO NOTHING RETURNING jti",
            vec![client_id.into(), jti.into(), expires_at.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

crate::row! {
    /// One audit event.
    #[derive(Debug, Clone, PartialEq)]
    pub struct AuditEvent in "audit_events" {
        /// When (ms).
        pub at: i64,
        /// The practice.
        pub practice: String,
        /// The app.
        pub client_id: Option<String>,
        /// The user.
        pub user_id: Option<String>,
        /// Whose record.
        pub patient: Option<String>,
        /// `token`, `refresh`, `read`, `search`, `revoke`, …
        pub action: String,
        /// What (`Observation?category=…`, `Patient/85`).
        pub what: String,
        /// HTTP status of the answer.
        pub status: i64,
    }
}

/// Records an audit event.
pub async fn insert_audit<D: Database>(db: &D, e: &AuditEvent) -> Result<(), DbError> {
    db.batch(vec![insert_audit_statement(e)]).await
}

/// The `INSERT` of one audit event (to batch with other statements).
pub fn insert_audit_statement(e: &AuditEvent) -> Statement {
    Statement::new(
        format!(
            "INSERT INTO audit_events ({}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
            AuditEvent::COLUMNS
        ),
        vec![
            e.at.into(),
            e.practice.as_str().into(),
            opt(&e.client_id),
            opt(&e.user_id),
            opt(&e.patient),
            e.action.as_str().into(),
            e.what.as_str().into(),
            e.status.into(),
        ],
    )
}

/// Records several audit events of one request in one statement (a search
/// returning many patients' records writes one event per patient).
pub async fn insert_audits<D: Database>(db: &D, events: &[AuditEvent]) -> Result<(), DbError> {
    if let [one] = events {
        return insert_audit(db, one).await;
    }
    let rows: Vec<Json> = events
        .iter()
        .map(|e| {
            serde_json::json!([
                e.at,
                e.practice,
                e.client_id,
                e.user_id,
                e.patient,
                e.action,
                e.what,
                e.status
            ])
        })
        .collect();
    db.batch(vec![Statement::new(
        format!(
            "INSERT INTO audit_events ({}) \
             SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, j.value->>7 \
             FROM json_each(?1) j",
            AuditEvent::COLUMNS
        ),
        vec![Json::Array(rows).to_string().into()],
    )])
    .await
}

/// Audit events of a practice (optionally one patient's), newest first.
pub async fn audit_events<D: Database>(
    db: &D,
    practice: &str,
    patient: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM audit_events \
                 WHERE practice = ?1 AND (?2 IS NULL OR patient = ?2) ORDER BY at DESC, event_id DESC LIMIT ?3",
                AuditEvent::COLUMNS
            ),
            vec![practice.into(), patient.map(str::to_string).into(), limit.into()],
        ))
        .await?;
    decode_all(&rows)
}

/// Patients of a practice for the picker: `(id, json)`, optionally by name prefix.
pub async fn patients_for_picker<D: Database>(
    db: &D,
    practice: &str,
    name_norm: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, String)>, DbError> {
    let stmt = match name_norm {
        Some(n) if !n.is_empty() => Statement::new(
            format!(
                "SELECT {} FROM resources r WHERE r.rid IN (SELECT s.rid FROM idx_string s WHERE s.practice = ?1 \
                 AND s.type = 'Patient' AND s.param = 'name' AND s.norm >= ?2 AND s.norm < ?2 || char(1114111)) \
                 ORDER BY r.id LIMIT ?3",
                IdJson::COLUMNS
            ),
            vec![practice.into(), n.into(), limit.into()],
        ),
        _ => Statement::new(
            format!(
                "SELECT {} FROM resources r WHERE r.practice = ?1 AND r.type = 'Patient' ORDER BY r.rid LIMIT ?2",
                IdJson::COLUMNS
            ),
            vec![practice.into(), limit.into()],
        ),
    };
    let rows = db.query(stmt).await?;
    Ok(decode_all::<IdJson>(&rows)?
        .into_iter()
        .map(|r| (r.id, r.json))
        .collect())
}

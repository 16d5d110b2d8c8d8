//! What a practice owns, counted and removed: its FHIR data, exports and
//! audit trail in its shard, and its apps, users and everything they were
//! issued in the directory shard. A removal is refused while anything is
//! left ([`PracticeRecords::is_empty`]) unless the operator asks for the
//! purge, which deletes every row below in an order that a crash at any
//! point can be resumed from: the `practices` row goes last, so a purge that
//! stopped half-way is finished by asking for it again.

use super::row::{scalar, scalars};
use super::{Database, DbError, Statement};

/// How many records a practice holds, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PracticeRecords {
    /// FHIR resources.
    pub resources: i64,
    /// Bulk Data export jobs.
    pub export_jobs: i64,
    /// Audit events (the patients' access history).
    pub audit_events: i64,
    /// Registered apps.
    pub clients: i64,
    /// Users (clinicians, patients, practice administrators).
    pub users: i64,
    /// Grants (authorizations given to apps).
    pub grants: i64,
}

impl PracticeRecords {
    /// Nothing would be orphaned by removing the practice.
    pub fn is_empty(&self) -> bool {
        *self == PracticeRecords::default()
    }
}

fn count(table: &'static str, column: &'static str, key: &str) -> Statement {
    Statement::new(
        format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?1"),
        vec![key.into()],
    )
}

async fn count_one<D: Database>(db: &D, s: Statement) -> Result<i64, DbError> {
    let rows = db.query(s).await?;
    Ok(scalar::<i64>(&rows, "COUNT(*)")?.unwrap_or(0))
}

/// The records of practice `key`: `shard` holds its data, `directory` the
/// authorization server (they may be the same database).
pub async fn records<D: Database>(shard: &D, directory: &D, key: &str) -> Result<PracticeRecords, DbError> {
    Ok(PracticeRecords {
        resources: count_one(shard, count("resources", "practice", key)).await?,
        export_jobs: count_one(shard, count("export_jobs", "practice", key)).await?,
        audit_events: count_one(shard, count("audit_events", "practice", key)).await?,
        clients: count_one(directory, count("clients", "practice", key)).await?,
        users: count_one(directory, count("users", "practice", key)).await?,
        grants: count_one(directory, count("grants", "practice", key)).await?,
    })
}

/// The ids of practice `key`'s export jobs (their files are removed from
/// the blob store before [`purge`]).
pub async fn export_job_ids<D: Database>(shard: &D, key: &str) -> Result<Vec<String>, DbError> {
    let rows = shard
        .query(Statement::new(
            "SELECT job_id FROM export_jobs WHERE practice = ?1",
            vec![key.into()],
        ))
        .await?;
    scalars(&rows, "export_jobs.job_id")
}

/// Deletes everything practice `key` owns, then the practice. Each database's
/// deletions run as one batch (atomic in D1 and natively).
pub async fn purge<D: Database>(shard: &D, directory: &D, key: &str) -> Result<(), DbError> {
    let by_client = |table: &'static str| {
        Statement::new(
            format!(
                "DELETE FROM {table} WHERE client_id IN (SELECT client_id FROM clients WHERE practice = ?1)"
            ),
            vec![key.into()],
        )
    };
    let by_practice = |table: &'static str| {
        Statement::new(
            format!("DELETE FROM {table} WHERE practice = ?1"),
            vec![key.into()],
        )
    };
    directory
        .batch(vec![
            by_client("codes"),
            by_client("refresh_tokens"),
            Statement::new(
                "DELETE FROM refresh_families WHERE grant_id IN (SELECT grant_id FROM grants WHERE practice = ?1)",
                vec![key.into()],
            ),
            by_client("access_tokens"),
            by_practice("access_tokens"),
            by_client("authorize_requests"),
            by_client("assertion_jtis"),
            by_client("client_origins"),
            by_practice("grants"),
            by_practice("launches"),
            Statement::new(
                "DELETE FROM sessions WHERE user_id IN (SELECT user_id FROM users WHERE practice = ?1)",
                vec![key.into()],
            ),
            by_practice("users"),
            by_practice("clients"),
            by_practice("practice_pins"),
        ])
        .await?;
    shard
        .batch(vec![
            Statement::new(
                "DELETE FROM resource_parts WHERE rid IN (SELECT rid FROM resources WHERE practice = ?1)",
                vec![key.into()],
            ),
            by_practice("idx_token"),
            by_practice("idx_string"),
            by_practice("idx_date"),
            by_practice("idx_reference"),
            by_practice("compartment"),
            by_practice("resources"),
            Statement::new(
                "DELETE FROM export_refs WHERE job_id IN (SELECT job_id FROM export_jobs WHERE practice = ?1)",
                vec![key.into()],
            ),
            by_practice("export_jobs"),
            by_practice("audit_events"),
            Statement::new("DELETE FROM practices WHERE key = ?1", vec![key.into()]),
        ])
        .await?;
    Ok(())
}

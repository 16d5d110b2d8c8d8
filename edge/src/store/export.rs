//! SQL of Bulk Data export: jobs (`export_jobs`), the references a group's
//! records make (`export_refs`), and the chunk queries that read one bounded
//! slice of a job's output in `rid` order.
//!
//! A chunk's commit (`save_chunk`) is one `UPDATE … WHERE version = ?`: if two
//! runners ever process the same chunk, only one commit wins, and both wrote
//! the same file name with the same content, so no line is lost or doubled.

use flare_core::search::Filter;
use serde_json::Value as Json;

use super::row::{decode_all, decode_first, scalar, scalars, FromRow};
use super::search_sql::{filter_cond, Builder};
use super::{resources, Database, DbError, SqlValue, Statement};

/// The types a group export adds when the members' records reference them.
pub const REFERENCED_TYPES: &[&str] = &[
    "Medication",
    "Location",
    "Organization",
    "Practitioner",
    "PractitionerRole",
];

crate::sql_enum! {
    /// What an export covers (`export_jobs.kind`).
    pub enum ExportKind {
        /// `Group/[id]/$export`: the group's members.
        Group = "group",
        /// `Patient/$export`: every patient.
        Patient = "patient",
        /// `$export`: every resource of the practice.
        System = "system",
    }
}

crate::sql_enum! {
    /// Where an export job is (`export_jobs.status`).
    pub enum ExportStatus {
        /// Chunks remain.
        Running = "running",
        /// Complete: its files are listed.
        Done = "done",
        /// Stopped by an error (`error` says why).
        Failed = "failed",
        /// Deleted by its client before it finished.
        Cancelled = "cancelled",
    }
}

crate::row! {
    /// One export job.
    #[derive(Debug, Clone, PartialEq)]
    pub struct ExportJob in "export_jobs" {
        /// Opaque id (in the status URL).
        pub job_id: String,
        /// The practice exported.
        pub practice: String,
        /// The client that asked (`""`: the operator).
        pub client_id: String,
        /// The kick-off URL.
        pub request: String,
        /// What it covers.
        pub kind: ExportKind,
        /// Parameters (JSON object).
        pub params: Json,
        /// Patient ids whose compartments are exported.
        pub members: Vec<String>,
        /// The export's point in time (ms): nothing changed later is exported.
        pub transaction_time: i64,
        /// Where it is.
        pub status: ExportStatus,
        /// The cursor of the next chunk (JSON object).
        pub state: Json,
        /// Bumped by every commit.
        pub version: i64,
        /// A runner holds the job until then (ms).
        pub lease_until: i64,
        /// Output files: `[{type, name, count}]`.
        pub output: Json,
        /// Why it failed.
        pub error: Option<String>,
        /// Created (ms).
        pub created_at: i64,
        /// Last change (ms).
        pub updated_at: i64,
        /// Deleted after (ms).
        pub expires_at: Option<i64>,
    }
}

const COLS: &str = ExportJob::COLUMNS;

crate::row! {
    /// A resource of an export chunk.
    struct ChunkRow in "resources" {
        rid: i64 = "r.rid",
        json: String = "r.json",
    }
}

/// Stores a new job.
pub async fn insert_job<D: Database>(db: &D, j: &ExportJob) -> Result<(), DbError> {
    db.batch(vec![insert_statement(j)]).await
}

fn insert_statement(j: &ExportJob) -> Statement {
    Statement::new(
        format!("INSERT INTO export_jobs ({COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"),
        vec![
            j.job_id.as_str().into(),
            j.practice.as_str().into(),
            j.client_id.as_str().into(),
            j.request.as_str().into(),
            j.kind.into(),
            j.params.to_string().into(),
            Json::from(j.members.clone()).to_string().into(),
            j.transaction_time.into(),
            j.status.into(),
            j.state.to_string().into(),
            j.version.into(),
            j.lease_until.into(),
            j.output.to_string().into(),
            j.error.clone().into(),
            j.created_at.into(),
            j.updated_at.into(),
            j.expires_at.map_or(SqlValue::Null, SqlValue::Int),
        ],
    )
}

/// Stores a new job unless its client already has `max_running` exports
/// running; one statement, so simultaneous kick-offs cannot all slip under
/// the cap. `false`: over the cap, nothing stored.
pub async fn insert_job_capped<D: Database>(
    db: &D,
    j: &ExportJob,
    max_running: i64,
) -> Result<bool, DbError> {
    let placeholders: Vec<String> = (1..=17).map(|i| format!("?{i}")).collect();
    let mut stmt = insert_statement(j);
    stmt.sql = format!(
        "INSERT INTO export_jobs ({COLS}) SELECT {} WHERE (SELECT COUNT(*) FROM export_jobs \
         WHERE practice = ?2 AND client_id = ?3 AND status = 'running') < ?18 RETURNING job_id",
        placeholders.join(",")
    );
    stmt.params.push(max_running.into());
    Ok(!db.query(stmt).await?.is_empty())
}

/// A job of a practice.
pub async fn job<D: Database>(db: &D, practice: &str, job_id: &str) -> Result<Option<ExportJob>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {COLS} FROM export_jobs WHERE practice = ?1 AND job_id = ?2"),
            vec![practice.into(), job_id.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// How many exports a client has running.
pub async fn running_count<D: Database>(db: &D, practice: &str, client_id: &str) -> Result<i64, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT COUNT(*) FROM export_jobs WHERE practice = ?1 AND client_id = ?2 AND status = 'running'",
            vec![practice.into(), client_id.into()],
        ))
        .await?;
    Ok(scalar(&rows, "export_jobs.count")?.unwrap_or_default())
}

/// Takes the job for a runner until `lease_until` if nobody holds it;
/// returns the job as claimed (its new version), or `None`.
pub async fn claim<D: Database>(
    db: &D,
    practice: &str,
    job_id: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<ExportJob>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "UPDATE export_jobs SET lease_until = ?3, version = version + 1 \
                 WHERE practice = ?1 AND job_id = ?2 AND status = 'running' AND lease_until < ?4 RETURNING {COLS}"
            ),
            vec![practice.into(), job_id.into(), lease_until.into(), now.into()],
        ))
        .await?;
    decode_first(&rows)
}

/// Commits a chunk: new cursor, output list, status; only if `version`
/// is still the claimed one. `false`: someone else moved the job on (or it
/// was cancelled).
#[allow(clippy::too_many_arguments)]
pub async fn save_chunk<D: Database>(
    db: &D,
    job_id: &str,
    version: i64,
    state: &Json,
    output: &Json,
    status: ExportStatus,
    lease_until: i64,
    now: i64,
    expires_at: Option<i64>,
) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "UPDATE export_jobs SET state = ?3, output = ?4, status = ?5, lease_until = ?6, updated_at = ?7, \
             expires_at = ?8, version = version + 1 \
             WHERE job_id = ?1 AND version = ?2 AND status = 'running' RETURNING version",
            vec![
                job_id.into(),
                version.into(),
                state.to_string().into(),
                output.to_string().into(),
                status.into(),
                lease_until.into(),
                now.into(),
                expires_at.map_or(SqlValue::Null, SqlValue::Int),
            ],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// Releases a runner's hold on a job (it handed over to a queued run).
pub async fn release<D: Database>(db: &D, job_id: &str) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE export_jobs SET lease_until = 0 WHERE job_id = ?1 AND status = 'running'",
        vec![job_id.into()],
    )])
    .await
}

/// Marks a job failed (with its reason) or cancelled, from any running state.
pub async fn finish<D: Database>(
    db: &D,
    job_id: &str,
    status: ExportStatus,
    error: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    db.batch(vec![Statement::new(
        "UPDATE export_jobs SET status = ?2, error = ?3, updated_at = ?4, expires_at = ?5, version = version + 1 \
         WHERE job_id = ?1 AND status = 'running'",
        vec![
            job_id.into(),
            status.into(),
            error.map(str::to_string).into(),
            now.into(),
            expires_at.into(),
        ],
    )])
    .await
}

/// Deletes a job and its reference list (its files are deleted by the caller).
pub async fn delete_job<D: Database>(db: &D, job_id: &str) -> Result<(), DbError> {
    db.batch(vec![
        Statement::new("DELETE FROM export_refs WHERE job_id = ?1", vec![job_id.into()]),
        Statement::new("DELETE FROM export_jobs WHERE job_id = ?1", vec![job_id.into()]),
    ])
    .await
}

/// Jobs of a practice whose files are due for deletion.
pub async fn expired_jobs<D: Database>(db: &D, practice: &str, now: i64) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT job_id FROM export_jobs WHERE practice = ?1 AND expires_at IS NOT NULL AND expires_at < ?2 LIMIT 20",
            vec![practice.into(), now.into()],
        ))
        .await?;
    scalars(&rows, "export_jobs.job_id")
}

/// Records the referenced non-compartment resources of some members' records.
pub async fn collect_refs<D: Database>(
    db: &D,
    job_id: &str,
    practice: &str,
    members: &[String],
) -> Result<(), DbError> {
    let types: Vec<String> = REFERENCED_TYPES.iter().map(|t| format!("'{t}'")).collect();
    db.batch(vec![Statement::new(
        format!(
            "INSERT OR IGNORE INTO export_refs (job_id, type, id) \
             SELECT DISTINCT ?1, x.target_type, x.target_id FROM compartment c CROSS JOIN idx_reference x ON x.rid = c.rid \
             WHERE c.practice = ?2 AND c.patient_id IN (SELECT value FROM json_each(?3)) \
             AND x.target_type IN ({}) AND x.target_id IS NOT NULL",
            types.join(",")
        ),
        vec![job_id.into(), practice.into(), Json::from(members.to_vec()).to_string().into()],
    )])
    .await
}

/// Which rows a chunk query reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Source<'a> {
    /// `rtype` rows in the compartments of `members`, except those also in
    /// the compartment of one of `earlier` (already exported with them).
    Compartment {
        /// This window of members.
        members: &'a [String],
        /// The members of earlier windows.
        earlier: &'a [String],
    },
    /// Provenance of these patients: in their compartments (target is the
    /// Patient) or targeting one of their compartment's records.
    ProvenanceOf(&'a [String]),
    /// `rtype` rows the job recorded in `export_refs`.
    Referenced(&'a str),
    /// Every `rtype` row of the practice.
    All,
}

/// One slice of an export: `(rid, json)` of up to `limit` `rtype` resources
/// after `after_rid`, changed at or before `until` (and after `since`),
/// matching one of `filters` (OR of AND-groups; empty: all) and one of
/// `restrictions` (the token's query-restricted scopes), in `rid` order.
#[allow(clippy::too_many_arguments)]
pub async fn chunk_rows<D: Database>(
    db: &D,
    practice: &str,
    rtype: &str,
    source: &Source<'_>,
    after_rid: i64,
    limit: i64,
    since: Option<i64>,
    until: i64,
    filters: &[Vec<Filter>],
    restrictions: &[Vec<Filter>],
) -> Result<Vec<(i64, String)>, DbError> {
    let mut b = Builder::new(0);
    let p = b.bind(practice);
    let t = b.bind(rtype);
    let after = b.bind(after_rid);
    let until = b.bind(until);
    let (from, mut conds) = match source {
        Source::Compartment { members, earlier } => {
            let m = b.bind(Json::from(members.to_vec()).to_string());
            let mut conds = vec![
                format!("c.practice = {p}"),
                format!("c.patient_id IN (SELECT value FROM json_each({m}))"),
                format!("c.type = {t}"),
                format!("c.rid > {after}"),
            ];
            if !earlier.is_empty() {
                // A resource in several members' compartments (a Group, a
                // shared record) goes out once, with the first of them.
                let e = b.bind(Json::from(earlier.to_vec()).to_string());
                conds.push(format!(
                    "NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = r.rid AND c2.patient_id <> c.patient_id \
                     AND c2.patient_id IN (SELECT value FROM json_each({e})))"
                ));
            }
            (
                "compartment c CROSS JOIN resources r ON r.rid = c.rid".to_string(),
                conds,
            )
        }
        Source::ProvenanceOf(members) => {
            let m = b.bind(Json::from(members.to_vec()).to_string());
            (
                format!(
                    "(SELECT x.rid AS rid FROM compartment c CROSS JOIN resources t ON t.rid = c.rid \
                     CROSS JOIN idx_reference x ON x.practice = {p} AND x.type = 'Provenance' AND x.param = 'target' \
                     AND x.target_id = t.id AND x.target_type = t.type \
                     WHERE c.practice = {p} AND c.patient_id IN (SELECT value FROM json_each({m})) \
                     UNION SELECT c.rid FROM compartment c WHERE c.practice = {p} \
                     AND c.patient_id IN (SELECT value FROM json_each({m})) AND c.type = 'Provenance') k \
                     CROSS JOIN resources r ON r.rid = k.rid"
                ),
                vec![format!("r.type = {t}"), format!("r.rid > {after}")],
            )
        }
        Source::Referenced(job_id) => {
            let j = b.bind(*job_id);
            (
                format!("export_refs e CROSS JOIN resources r ON r.practice = {p} AND r.type = e.type AND r.id = e.id"),
                vec![format!("e.job_id = {j}"), format!("e.type = {t}"), format!("r.rid > {after}")],
            )
        }
        Source::All => (
            "resources r".to_string(),
            vec![
                format!("r.practice = {p}"),
                format!("r.type = {t}"),
                format!("r.rid > {after}"),
            ],
        ),
    };
    conds.push(format!("r.last_updated <= {until}"));
    if let Some(s) = since {
        let s = b.bind(s);
        conds.push(format!("r.last_updated > {s}"));
    }
    for groups in [filters, restrictions] {
        if groups.is_empty() {
            continue;
        }
        let mut ors: Vec<String> = Vec::new();
        for g in groups {
            let mut ands: Vec<String> = Vec::new();
            for f in g {
                // Without a guard a chain compiles unconditionally: export
                // callers are backend services, whose system/ scopes reach the
                // whole practice (the kick-off checks the `_type`s granted).
                match filter_cond(&mut b, f, "r", &p, &t, false, None) {
                    Ok(c) => ands.push(c),
                    Err(_) => ands.push("0".into()),
                }
            }
            ors.push(if ands.is_empty() {
                "1".to_string()
            } else {
                format!("({})", ands.join(" AND "))
            });
        }
        conds.push(format!("({})", ors.join(" OR ")));
    }
    let lim = b.bind(limit);
    let sql = format!(
        "SELECT {} FROM {from} WHERE {} GROUP BY r.rid ORDER BY r.rid LIMIT {lim}",
        ChunkRow::COLUMNS,
        conds.join(" AND ")
    );
    let rows = db.query(Statement::new(sql, b.into_params())).await?;
    let mut out: Vec<(i64, String)> = decode_all::<ChunkRow>(&rows)?
        .into_iter()
        .map(|r| (r.rid, r.json))
        .collect();
    let split: Vec<i64> = out
        .iter()
        .filter(|(_, j)| j.is_empty())
        .map(|(rid, _)| *rid)
        .collect();
    if !split.is_empty() {
        let whole = resources::assemble_parts(db, &split).await?;
        for (rid, json) in out.iter_mut() {
            if json.is_empty() {
                if let Some((_, w)) = whole.iter().find(|(x, _)| x == rid) {
                    *json = w.clone();
                }
            }
        }
    }
    Ok(out)
}

/// The ids of every Patient of a practice (a Patient-level export's members).
pub async fn patient_ids<D: Database>(db: &D, practice: &str) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT id FROM resources WHERE practice = ?1 AND type = 'Patient' ORDER BY rid",
            vec![practice.into()],
        ))
        .await?;
    scalars(&rows, "resources.id")
}

//! The access history written in the same round trip as the query it
//! records: an app's read or search sends one D1 batch, the `INSERT` into
//! `audit_events` and then the query, in one transaction. The insert selects
//! from the very statement whose rows the answer is built from (a search's
//! page, [`record_page`]) or the very condition that picks a read's row
//! ([`record_read`]), so the patients it names are those whose records the
//! answer carries (their compartment rows), never the query's words; when it
//! carries none, the patient in the token's context. Nothing is buffered: once the answer
//! exists the event does, whatever happens to the isolate afterwards.
//! Must not touch: who may see what (the statement comes compiled with its
//! `Visibility`), HTTP.

use super::auth::{insert_audit_statement, AuditEvent};
use super::row::{decode_all, scalar, FromRow};
use super::search_sql::SearchRow;
use super::{positional, quoted_list, Condition, Database, DbError, SqlValue, Statement, MAX_BOUND_PARAMS};

/// Who asked for what: an audit event before its patients and status are known.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRecord {
    /// When (ms).
    pub at: i64,
    /// The practice.
    pub practice: String,
    /// The app.
    pub client_id: String,
    /// The user.
    pub user_id: Option<String>,
    /// The patient in the token's context: the event's patient when the
    /// answer carries no patient's records.
    pub context_patient: Option<String>,
    /// `read` or `search`.
    pub action: String,
    /// What (`Observation?category=…`, `Patient/85`).
    pub what: String,
    /// Set once the record is in the database (by the query that carried
    /// it: [`run_page_recorded`],
    /// [`crate::store::resources::read_with`], …), whatever the answer
    /// turns out to be; the router writes it otherwise.
    pub written: std::cell::Cell<bool>,
}

impl AccessRecord {
    /// The event for one patient (or none) with the answer's status.
    pub fn event(&self, patient: Option<String>, status: u16) -> AuditEvent {
        AuditEvent {
            at: self.at,
            practice: self.practice.clone(),
            client_id: Some(self.client_id.clone()),
            user_id: self.user_id.clone(),
            patient,
            action: self.action.clone(),
            what: self.what.clone(),
            status: status.into(),
        }
    }
}

/// Parameters [`record_page`] adds to its query's.
pub const RECORD_PARAMS: usize = 9;

/// Whether a statement binding `params` values can be recorded in its own
/// round trip: the insert binds them and [`RECORD_PARAMS`] more, within
/// D1's limit of [`MAX_BOUND_PARAMS`] per statement. (When not, the caller
/// records the answer with a separate write.)
pub fn can_record(params: usize) -> bool {
    params + RECORD_PARAMS <= MAX_BOUND_PARAMS
}

/// The values every recording statement binds after its query's, and their
/// placeholders.
struct Bound {
    at: String,
    practice: String,
    client: String,
    user: String,
    context: String,
    action: String,
    what: String,
}

impl Bound {
    fn new(params: &mut Vec<SqlValue>, record: &AccessRecord) -> Self {
        let mut bind = |v: SqlValue| {
            params.push(v);
            format!("?{}", params.len())
        };
        Bound {
            at: bind(record.at.into()),
            practice: bind(record.practice.as_str().into()),
            client: bind(record.client_id.as_str().into()),
            user: bind(record.user_id.clone().into()),
            context: bind(record.context_patient.clone().into()),
            action: bind(record.action.as_str().into()),
            what: bind(record.what.as_str().into()),
        }
    }

    /// `INSERT … SELECT`: one event per patient of `whose(patient)`, or
    /// when it has none one for the patient in the token's context, each
    /// with the status `status` (an SQL expression).
    fn insert(&self, status: &str) -> String {
        let Bound {
            at,
            practice,
            client,
            user,
            context,
            action,
            what,
        } = self;
        format!(
            "INSERT INTO audit_events ({columns}) \
             SELECT {at}, {practice}, {client}, {user}, patient, {action}, {what}, {status} FROM whose \
             UNION ALL \
             SELECT {at}, {practice}, {client}, {user}, {context}, {action}, {what}, {status} \
             WHERE NOT EXISTS (SELECT 1 FROM whose)",
            columns = AuditEvent::COLUMNS,
        )
    }
}

/// The `INSERT` that records `record` from a search page (`query`, whose
/// rows are [`SearchRow`]s): the patients of the matches within `count`
/// (the statement asks one more, to know whether there is a next page,
/// which the answer leaves out) and of every include; status 200. To run
/// just before `query` in the same batch; `query`'s parameters are
/// `?1…?n`, the insert's own follow them.
pub fn record_page(query: &Statement, count: i64, record: &AccessRecord) -> Statement {
    let names = quoted_list(SearchRow::FIELDS);
    let mut params = query.params.clone();
    let bound = Bound::new(&mut params, record);
    params.push(count.into());
    let count = format!("?{}", params.len());
    // Compartment ids are FHIR ids ([A-Za-z0-9.-]): a space-separated list
    // becomes a JSON array by plain replacement.
    let sql = format!(
        "WITH answer({names}) AS ({query}), \
         whose(patient) AS (SELECT DISTINCT w.value FROM answer a, \
           json_each('[\"' || replace(a.[patients], ' ', '\",\"') || '\"]') w \
           WHERE a.[patients] IS NOT NULL AND a.[patients] <> '' \
           AND (a.[kind] IN (1, 2) OR (a.[kind] = 0 AND a.[pos] <= {count}))) \
         {insert}",
        query = query.sql,
        insert = bound.insert("200"),
    );
    Statement::new(sql, params)
}

/// The `INSERT` that records `record` from a read of the row `answered`
/// holds for: that resource's compartment patients with status 200, or 304
/// when `if_none_match` names its version (or `*`); no row: 404. To run
/// just before the read in the same batch.
pub fn record_read(answered: &Condition, if_none_match: &[String], record: &AccessRecord) -> Statement {
    let mut params = answered.params.clone();
    let bound = Bound::new(&mut params, record);
    let status = if if_none_match.is_empty() {
        "CASE WHEN EXISTS (SELECT 1 FROM hit) THEN 200 ELSE 404 END".to_string()
    } else {
        params.push(serde_json::Value::from(if_none_match.to_vec()).to_string().into());
        format!(
            "CASE WHEN NOT EXISTS (SELECT 1 FROM hit) THEN 404 \
             WHEN EXISTS (SELECT 1 FROM hit, json_each(?{}) t \
               WHERE t.value = '*' OR t.value = CAST(hit.version AS TEXT)) THEN 304 ELSE 200 END",
            params.len()
        )
    };
    let sql = format!(
        "WITH hit AS MATERIALIZED (SELECT r.rid AS rid, r.version AS version FROM resources r WHERE {cond}), \
         whose(patient) AS (SELECT DISTINCT c.patient_id FROM hit CROSS JOIN compartment c ON c.rid = hit.rid) \
         {insert}",
        cond = answered.sql,
        insert = bound.insert(&status),
    );
    Statement::new(sql, params)
}

/// Runs a compiled page query and, in the same round trip, records the
/// access it answers (the matches within `count` and every include).
pub async fn run_page_recorded<D: Database>(
    db: &D,
    page: Statement,
    count: i64,
    record: &AccessRecord,
) -> Result<Vec<SearchRow>, DbError> {
    let insert = record_page(&page, count, record);
    let rows = db
        .query_after(vec![insert], positional(page, SearchRow::FIELDS))
        .await?;
    record.written.set(true);
    decode_all(&rows)
}

/// Runs a compiled count query and, in the same round trip, records the
/// access (a count carries no patient's records: the event is for the
/// patient in the token's context).
pub async fn run_count_recorded<D: Database>(
    db: &D,
    count: Statement,
    record: &AccessRecord,
) -> Result<Option<i64>, DbError> {
    let insert = insert_audit_statement(&record.event(record.context_patient.clone(), 200));
    let rows = db
        .query_after(vec![insert], positional(count, &["total"]))
        .await?;
    record.written.set(true);
    scalar(&rows, "search count")
}

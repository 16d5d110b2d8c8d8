//! The access history written in the same round trip as the query it
//! records: an app's read or search sends one D1 batch, the `INSERT` into
//! `audit_events` and then the query, in one transaction. The insert selects
//! from the very statement whose rows the answer is built from, so the
//! patients it names are those whose records the answer carries (their
//! compartment rows), never the query's words; when it carries none, the
//! patient in the token's context. Nothing is buffered: once the answer
//! exists the event does, whatever happens to the isolate afterwards.
//! Must not touch: who may see what (the statement comes compiled with its
//! `Visibility`), HTTP.

use super::auth::AuditEvent;
use super::row::FromRow;
use super::{quoted_list, SqlValue, Statement, MAX_BOUND_PARAMS};

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
    /// it: [`crate::store::search_sql::run_page_recorded`],
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

/// Which rows of a statement's answer the response returns, and its status.
#[derive(Debug, Clone, PartialEq)]
pub enum Returned {
    /// A search page ([`crate::store::search_sql::SearchRow`]): matches
    /// ranked within the page size, and every include; status 200.
    Page {
        /// The page size (`_count`): the statement asks one more match to
        /// know whether there is a next page, which the answer leaves out.
        count: i64,
    },
    /// A read (columns `rid, version, …, patients`): the row, status 200, or
    /// 304 when `If-None-Match` names its version (or `*`); no row: 404.
    Read {
        /// The entity tags `If-None-Match` names, as version numbers or `*`.
        if_none_match: Vec<String>,
    },
}

/// Parameters [`record_answer`] adds to its query's.
pub const RECORD_PARAMS: usize = 9;

/// Whether `query` can be recorded in its own round trip: the insert binds
/// the query's parameters and [`RECORD_PARAMS`] more, within D1's limit of
/// [`MAX_BOUND_PARAMS`] per statement. (When not, the caller records the
/// answer with a separate write.)
pub fn can_record(query: &Statement) -> bool {
    query.params.len() + RECORD_PARAMS <= MAX_BOUND_PARAMS
}

/// The `INSERT` that records `record` from the answer of `query` (whose rows
/// decode as `R`), to run just before `query` in the same batch. `query`'s
/// parameters are `?1…?n`; the insert's own follow them.
pub fn record_answer<R: FromRow>(query: &Statement, returned: &Returned, record: &AccessRecord) -> Statement {
    let names = quoted_list(R::FIELDS);
    let mut params = query.params.clone();
    let mut bind = |v: SqlValue| {
        params.push(v);
        format!("?{}", params.len())
    };
    let at = bind(record.at.into());
    let practice = bind(record.practice.as_str().into());
    let client = bind(record.client_id.as_str().into());
    let user = bind(record.user_id.clone().into());
    let context = bind(record.context_patient.clone().into());
    let action = bind(record.action.as_str().into());
    let what = bind(record.what.as_str().into());
    let (filter, status, none_status) = match returned {
        Returned::Page { count } => {
            let count = bind((*count).into());
            (
                format!("[kind] IN (1, 2) OR ([kind] = 0 AND [pos] <= {count})"),
                "200".to_string(),
                "200",
            )
        }
        Returned::Read { if_none_match } => {
            let tags = bind(serde_json::Value::from(if_none_match.clone()).to_string().into());
            (
                "1".to_string(),
                format!(
                    "CASE WHEN EXISTS (SELECT 1 FROM json_each({tags}) t \
                     WHERE t.value = '*' OR t.value = CAST([version] AS TEXT)) THEN 304 ELSE 200 END"
                ),
                "404",
            )
        }
    };
    // Compartment ids are FHIR ids ([A-Za-z0-9.-]): a space-separated list
    // becomes a JSON array by plain replacement.
    let sql = format!(
        "WITH answer({names}) AS ({query}), \
         returned(patients, status) AS (SELECT [patients], {status} FROM answer WHERE {filter}), \
         whose(patient, status) AS (SELECT DISTINCT w.value, r.status FROM returned r, \
           json_each('[\"' || replace(r.patients, ' ', '\",\"') || '\"]') w \
           WHERE r.patients IS NOT NULL AND r.patients <> '') \
         INSERT INTO audit_events ({columns}) \
         SELECT {at}, {practice}, {client}, {user}, patient, {action}, {what}, status FROM whose \
         UNION ALL \
         SELECT {at}, {practice}, {client}, {user}, {context}, {action}, {what}, \
           COALESCE((SELECT status FROM returned LIMIT 1), {none_status}) \
         WHERE NOT EXISTS (SELECT 1 FROM whose)",
        query = query.sql,
        columns = AuditEvent::COLUMNS,
    );
    Statement::new(sql, params)
}

//! Storage: the only module that writes SQL.
//!
//! Everything above it talks to [`Database`], a small async trait over one
//! SQLite-dialect database. The Worker adapter implements it with D1, native
//! tests with rusqlite ([`sqlite::SqliteDatabase`]), so the same SQL runs in
//! both. Practices are sharded across databases by [`Shards`]. Must not
//! touch: HTTP, authorization decisions (it runs the SQL it is given the
//! `Visibility` for).

pub mod access_log;
pub mod attempts;
pub mod auth;
pub mod developer;
pub mod export;
pub mod practices;
pub mod resources;
pub mod row;
pub mod search_sql;
#[cfg(not(target_arch = "wasm32"))]
pub mod sqlite;

use serde_json::Value as Json;

/// Most bound parameters one statement may use: D1's limit (local D1 enforces
/// it too; the native SQLite adapter is configured to the same ceiling).
pub const MAX_BOUND_PARAMS: usize = 100;
/// Largest bound string we send (D1 allows 2,000,000 bytes per string or row).
pub const MAX_BOUND_BYTES: usize = 1_000_000;

/// A bound SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// An integer (D1 carries it as a JS number: keep within 2^53).
    Int(i64),
    /// Text.
    Text(String),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}
impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}
impl From<Option<String>> for SqlValue {
    fn from(s: Option<String>) -> Self {
        s.map_or(SqlValue::Null, SqlValue::Text)
    }
}

/// One SQL statement with its bound parameters (`?1`, `?2`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// SQLite-dialect SQL.
    pub sql: String,
    /// Values for `?1…?n`.
    pub params: Vec<SqlValue>,
}

impl Statement {
    /// A statement from SQL and parameters.
    pub fn new(sql: impl Into<String>, params: Vec<SqlValue>) -> Self {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// A condition on the row at alias `r` of `resources`, with the values its
/// placeholders (`?1…`) bind: which resource a read answers, and whether the
/// caller may see it ([`search_sql::compile_read`], [`resources::read_condition`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The SQL condition.
    pub sql: String,
    /// The values its placeholders bind.
    pub params: Vec<SqlValue>,
}

/// A result row: column values in select order.
pub type Row = Vec<Json>;

/// A database failure (not the client's fault).
#[derive(Debug, Clone, PartialEq)]
pub struct DbError(pub String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database error: {}", self.0)
    }
}

/// A SQLite-dialect database: D1 in the Worker, rusqlite natively.
#[allow(async_fn_in_trait)] // single-threaded runtimes only: futures need not be Send
pub trait Database {
    /// Runs one statement and returns its rows.
    async fn query(&self, stmt: Statement) -> Result<Vec<Row>, DbError>;
    /// Runs write statements in one round trip, atomically (all or nothing).
    async fn batch(&self, stmts: Vec<Statement>) -> Result<(), DbError>;
    /// Runs `writes`, then `read`, in one round trip and one transaction, and
    /// returns `read`'s rows. `read` must name its columns uniquely, and not
    /// as integers (D1's batch answers rows as objects keyed by column name):
    /// wrap it with [`positional`].
    async fn query_after(&self, writes: Vec<Statement>, read: Statement) -> Result<Vec<Row>, DbError>;
}

/// `stmt` with its columns renamed `names` (`WITH answer(names…) AS (stmt)
/// SELECT names… FROM answer`), so that a batch that answers rows as objects
/// ([`Database::query_after`] on D1) keeps every column, in order.
pub fn positional(stmt: Statement, names: &[&str]) -> Statement {
    let list = quoted_list(names);
    Statement {
        sql: format!("WITH answer({list}) AS ({}) SELECT {list} FROM answer", stmt.sql),
        params: stmt.params,
    }
}

/// `[a], [b], …`: column names as SQL identifiers. (Brackets, not double
/// quotes: SQLite reads a double-quoted name it cannot resolve as a string.)
pub(crate) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("[{n}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The practice → database directory. Each practice lives in exactly one
/// database; a request's shard comes from its practice, never from a global query.
pub struct Shards<D> {
    dbs: Vec<D>,
    /// `(practice, shard index)`; practices not listed live in shard 0.
    directory: Vec<(String, usize)>,
}

impl<D: Database> Shards<D> {
    /// A directory over `dbs` (at least one) with explicit placements.
    pub fn new(dbs: Vec<D>, directory: Vec<(String, usize)>) -> Self {
        assert!(!dbs.is_empty(), "at least one database");
        Shards { dbs, directory }
    }

    /// The database holding `practice`.
    pub fn for_practice(&self, practice: &str) -> &D {
        let i = self
            .directory
            .iter()
            .find(|(p, _)| p == practice)
            .map_or(0, |(_, i)| *i);
        self.dbs.get(i).unwrap_or(&self.dbs[0])
    }

    /// Shard 0: the directory shard, which also holds the authorization server.
    pub fn directory_db(&self) -> &D {
        &self.dbs[0]
    }

    /// Every database, for the few queries that span practices (the practice list).
    pub fn all(&self) -> &[D] {
        &self.dbs
    }
}

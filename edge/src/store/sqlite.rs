//! [`Database`] over rusqlite, for native tests and benchmarks: the same
//! SQLite dialect as D1, with D1's bound-parameter ceiling.

use std::cell::RefCell;

use rusqlite::{limits::Limit, types::ValueRef, Connection};
use serde_json::Value as Json;

use super::{Database, DbError, Row, SqlValue, Statement, MAX_BOUND_PARAMS};

/// The migrations in `edge/migrations/`, in order.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_fhir_resources.sql"),
    include_str!("../../migrations/0002_resource_parts.sql"),
    include_str!("../../migrations/0003_authorization.sql"),
    include_str!("../../migrations/0004_bulk_export.sql"),
    include_str!("../../migrations/0005_developer_portal.sql"),
    include_str!("../../migrations/0006_grant_rules.sql"),
    include_str!("../../migrations/0007_attempt_counters.sql"),
    include_str!("../../migrations/0008_enum_checks.sql"),
    include_str!("../../migrations/0009_token_context.sql"),
    include_str!("../../migrations/0010_practice_identity.sql"),
];

/// An in-memory (or file) SQLite database with the migrations applied.
pub struct SqliteDatabase {
    conn: RefCell<Connection>,
}

impl SqliteDatabase {
    /// A fresh in-memory database with every migration applied.
    pub fn in_memory() -> Result<Self, DbError> {
        Self::with_connection(Connection::open_in_memory().map_err(db_err)?)
    }

    /// Wraps a connection, applying the migrations and D1's limits.
    pub fn with_connection(conn: Connection) -> Result<Self, DbError> {
        conn.set_limit(Limit::SQLITE_LIMIT_VARIABLE_NUMBER, MAX_BOUND_PARAMS as i32)
            .map_err(db_err)?;
        // workerd's: at most 5 terms in one compound SELECT.
        conn.set_limit(
            Limit::SQLITE_LIMIT_COMPOUND_SELECT,
            crate::store::search_sql::MAX_COMPOUND_TERMS as i32,
        )
        .map_err(db_err)?;
        for m in MIGRATIONS {
            conn.execute_batch(m).map_err(db_err)?;
        }
        Ok(SqliteDatabase {
            conn: RefCell::new(conn),
        })
    }

    /// The query plan of a statement (`EXPLAIN QUERY PLAN`), one line per step.
    pub fn query_plan(&self, stmt: &Statement) -> Result<Vec<String>, DbError> {
        let conn = self.conn.borrow();
        let mut s = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", stmt.sql))
            .map_err(db_err)?;
        bind(&mut s, &stmt.params)?;
        let mut rows = s.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db_err)? {
            out.push(r.get::<_, String>(3).map_err(db_err)?);
        }
        Ok(out)
    }

    fn run(conn: &Connection, stmt: &Statement) -> Result<Vec<Row>, DbError> {
        let mut s = conn
            .prepare(&stmt.sql)
            .map_err(|e| DbError(format!("{e}: {}", stmt.sql)))?;
        bind(&mut s, &stmt.params)?;
        let n = s.column_count();
        let mut rows = s.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| DbError(e.to_string()))? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i).map_err(|e| DbError(e.to_string()))? {
                    ValueRef::Null => Json::Null,
                    ValueRef::Integer(i) => Json::from(i),
                    ValueRef::Real(f) => Json::from(f),
                    ValueRef::Text(t) => Json::String(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => Json::Null,
                });
            }
            out.push(row);
        }
        Ok(out)
    }
}

fn db_err(e: rusqlite::Error) -> DbError {
    DbError(e.to_string())
}

fn bind(s: &mut rusqlite::Statement<'_>, params: &[SqlValue]) -> Result<(), DbError> {
    for (i, p) in params.iter().enumerate() {
        let r = match p {
            SqlValue::Null => s.raw_bind_parameter(i + 1, rusqlite::types::Null),
            SqlValue::Int(v) => s.raw_bind_parameter(i + 1, v),
            SqlValue::Text(t) => s.raw_bind_parameter(i + 1, t),
        };
        r.map_err(|e| DbError(e.to_string()))?;
    }
    Ok(())
}

impl Database for SqliteDatabase {
    async fn query(&self, stmt: Statement) -> Result<Vec<Row>, DbError> {
        Self::run(&self.conn.borrow(), &stmt)
    }

    async fn batch(&self, stmts: Vec<Statement>) -> Result<(), DbError> {
        let mut conn = self.conn.borrow_mut();
        let tx = conn.transaction().map_err(|e| DbError(e.to_string()))?;
        for s in &stmts {
            Self::run(&tx, s)?;
        }
        tx.commit().map_err(|e| DbError(e.to_string()))
    }

    async fn query_after(&self, writes: Vec<Statement>, read: Statement) -> Result<Vec<Row>, DbError> {
        let mut conn = self.conn.borrow_mut();
        let tx = conn.transaction().map_err(|e| DbError(e.to_string()))?;
        for s in &writes {
            Self::run(&tx, s)?;
        }
        let rows = Self::run(&tx, &read)?;
        tx.commit().map_err(|e| DbError(e.to_string()))?;
        Ok(rows)
    }
}

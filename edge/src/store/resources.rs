//! Resource rows: atomic batched upserts with their index rows, reads, and
//! the practice list.
//!
//! A batch of resources is written as a fixed handful of statements whatever
//! its size: each statement carries its rows as one JSON array bound to a
//! single parameter and expands it with `json_each`, which keeps D1's
//! 100-parameter limit and its per-call overhead out of the import rate.

use serde_json::{json, Value as Json};

use flare_core::index::IndexRows;

use super::access_log::{record_read, AccessRecord};
use super::row::{decode_all, decode_first, scalar, FromRow};
use super::{positional, Condition, Database, DbError, Statement, MAX_BOUND_BYTES};

/// A resource ready to store: validated, with its index rows.
#[derive(Debug, Clone)]
pub struct NewResource {
    /// Resource type.
    pub resource_type: String,
    /// Logical id.
    pub id: String,
    /// The resource JSON as it will be stored (meta.lastUpdated set; versionId set by SQL).
    pub json: String,
    /// Its index rows.
    pub index: IndexRows,
}

/// A stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// Row id (the paging key).
    pub rid: i64,
    /// Version number (meta.versionId).
    pub version: i64,
    /// Last update, epoch ms.
    pub last_updated: i64,
    /// The JSON text.
    pub json: String,
    /// The patients in whose compartment it is (the access history).
    pub patients: Vec<String>,
}

crate::row! {
    /// A resource's id and JSON text (lists of one type).
    pub struct IdJson in "resources" {
        /// Logical id.
        pub id: String = "r.id",
        /// The JSON text ('' for a resource stored in parts).
        pub json: String = "r.json",
    }
}

crate::row! {
    /// The current version of one resource, as [`read`] selects it.
    struct ResourceRow in "resources" {
        rid: i64,
        version: i64,
        last_updated: i64,
        json: String,
        patients: Option<String> = "(SELECT group_concat(c.patient_id, ' ') FROM compartment c WHERE c.rid = r.rid)",
    }
}

crate::row! {
    /// One part of a resource stored in parts, with its version.
    struct PartRow in "resource_parts" {
        rid: i64 = "r.rid",
        version: i64 = "r.version",
        part: String = "p.part",
    }
}

/// Resources longer than this are stored in parts of this size (D1 allows
/// 1,000,000 bytes per string; a part travels as one bound parameter).
pub const PART_BYTES: usize = 700_000;

fn is_split(r: &NewResource) -> bool {
    r.json.len() > PART_BYTES
}

/// Splits text into parts of at most `PART_BYTES`, on character boundaries.
fn split_parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(PART_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts
}

/// Rough byte size of a resource's share of a batch (JSON plus index rows).
pub fn batch_weight(r: &NewResource) -> usize {
    let inline = if is_split(r) { 0 } else { r.json.len() };
    inline
        + 96 * (r.index.tokens.len()
            + r.index.strings.len()
            + r.index.dates.len()
            + r.index.references.len()
            + r.index.compartment.len())
}

/// Whether `resources` fits in one atomic batch (each bound JSON array under D1's
/// string limit).
pub fn fits_in_one_batch(resources: &[NewResource]) -> bool {
    resources.iter().map(batch_weight).sum::<usize>() <= MAX_BOUND_BYTES
}

/// The statements that upsert `resources` (one practice) with `last_updated`.
/// Run them as one batch: the write is atomic. Later duplicates of the same
/// type/id win over earlier ones.
pub fn upsert_statements(practice: &str, last_updated: i64, resources: &[NewResource]) -> Vec<Statement> {
    // Last write wins inside a batch: keep only the last of each key.
    let mut items: Vec<&NewResource> = Vec::with_capacity(resources.len());
    for (i, r) in resources.iter().enumerate() {
        let later = resources[i + 1..]
            .iter()
            .any(|o| o.resource_type == r.resource_type && o.id == r.id);
        if !later {
            items.push(r);
        }
    }
    let keys: Vec<Json> = items.iter().map(|r| json!([r.resource_type, r.id])).collect();
    let rows: Vec<Json> = items
        .iter()
        .map(|r| json!([r.resource_type, r.id, r.json]))
        .collect();
    let mut tokens = Vec::new();
    let mut strings = Vec::new();
    let mut dates = Vec::new();
    let mut refs = Vec::new();
    let mut comps = Vec::new();
    for r in &items {
        let (t, id) = (&r.resource_type, &r.id);
        for x in &r.index.tokens {
            tokens.push(json!([t, id, x.param, x.system, x.code, x.text]));
        }
        for x in &r.index.strings {
            strings.push(json!([t, id, x.param, x.norm, x.exact]));
        }
        for x in &r.index.dates {
            dates.push(json!([t, id, x.param, x.start, x.end]));
        }
        for x in &r.index.references {
            refs.push(json!([t, id, x.param, x.target_type, x.target_id, x.url]));
        }
        for p in &r.index.compartment {
            comps.push(json!([t, id, p]));
        }
    }
    let keys = Json::Array(keys).to_string();
    let p = |s: &str| super::SqlValue::Text(s.to_string());
    let mut stmts = Vec::new();
    for table in [
        "idx_token",
        "idx_string",
        "idx_date",
        "idx_reference",
        "compartment",
        "resource_parts",
    ] {
        stmts.push(Statement::new(
            format!(
                "DELETE FROM {table} WHERE rid IN (SELECT r.rid FROM json_each(?2) j \
                 CROSS JOIN resources r ON r.practice = ?1 AND r.type = j.value->>0 AND r.id = j.value->>1)"
            ),
            vec![p(practice), p(&keys)],
        ));
    }
    stmts.push(Statement::new(
        "INSERT INTO resources (practice, type, id, version, last_updated, json) \
         SELECT ?1, j.value->>0, j.value->>1, 1, ?3, \
         CASE WHEN j.value->>2 = '' THEN '' ELSE json_set(j.value->>2, '$.meta.versionId', '1') END \
         FROM json_each(?2) j WHERE true \
         ON CONFLICT(practice, type, id) DO UPDATE SET version = resources.version + 1, \
         last_updated = excluded.last_updated, \
         json = CASE WHEN excluded.json = '' THEN '' \
         ELSE json_set(excluded.json, '$.meta.versionId', CAST(resources.version + 1 AS TEXT)) END",
        vec![
            p(practice),
            p(&Json::Array(rows).to_string()),
            super::SqlValue::Int(last_updated),
        ],
    ));
    let join = "FROM json_each(?2) j CROSS JOIN resources r ON r.practice = ?1 AND r.type = j.value->>0 AND r.id = j.value->>1";
    let inserts = [
        (
            "idx_token (rid, practice, type, param, system, code, text)",
            "j.value->>2, j.value->>3, j.value->>4, j.value->>5",
            tokens,
        ),
        (
            "idx_string (rid, practice, type, param, norm, exact)",
            "j.value->>2, j.value->>3, j.value->>4",
            strings,
        ),
        (
            "idx_date (rid, practice, type, param, start, \"end\")",
            "j.value->>2, j.value->>3, j.value->>4",
            dates,
        ),
        (
            "idx_reference (rid, practice, type, param, target_type, target_id, url)",
            "j.value->>2, j.value->>3, j.value->>4, j.value->>5",
            refs,
        ),
    ];
    for (table, cols, rows) in inserts {
        if rows.is_empty() {
            continue;
        }
        stmts.push(Statement::new(
            format!("INSERT INTO {table} SELECT r.rid, ?1, r.type, {cols} {join}"),
            vec![p(practice), p(&Json::Array(rows).to_string())],
        ));
    }
    for r in items.iter().filter(|r| is_split(r)) {
        for (seq, part) in split_parts(&r.json).into_iter().enumerate() {
            stmts.push(Statement::new(
                "INSERT INTO resource_parts (rid, seq, part) \
                 SELECT rid, ?4, ?5 FROM resources WHERE practice = ?1 AND type = ?2 AND id = ?3",
                vec![
                    p(practice),
                    p(&r.resource_type),
                    p(&r.id),
                    super::SqlValue::Int(seq as i64),
                    p(part),
                ],
            ));
        }
    }
    if !comps.is_empty() {
        stmts.push(Statement::new(
            format!("INSERT INTO compartment (rid, practice, patient_id, type) SELECT r.rid, ?1, j.value->>2, r.type {join}"),
            vec![p(practice), p(&Json::Array(comps).to_string())],
        ));
    }
    stmts
}

/// The current version of `type/id` in `practice`.
pub async fn read<D: Database>(
    db: &D,
    practice: &str,
    resource_type: &str,
    id: &str,
) -> Result<Option<StoredResource>, DbError> {
    read_with(db, read_condition(practice, resource_type, id), None).await
}

/// Which row a read of `type/id` in `practice` answers, whoever asks (the
/// operator, or a caller the practice's every record is visible to).
pub fn read_condition(practice: &str, resource_type: &str, id: &str) -> Condition {
    Condition {
        sql: "r.practice = ?1 AND r.type = ?2 AND r.id = ?3".into(),
        params: vec![practice.into(), resource_type.into(), id.into()],
    }
}

/// Reads the row `answered` holds for ([`read_condition`], or the
/// compiler's [`compile_read`](super::search_sql::compile_read) for a
/// caller who sees only some records: the visibility check and the read in
/// one statement), with its compartment patients. With a `record`, records
/// the access it answers in the same round trip (`if_none_match`: the
/// entity tags the request names, for a 304's status).
pub async fn read_with<D: Database>(
    db: &D,
    answered: Condition,
    record: Option<(&AccessRecord, Vec<String>)>,
) -> Result<Option<StoredResource>, DbError> {
    let select = |c: Condition| {
        Statement::new(
            format!("SELECT {} FROM resources r WHERE {}", ResourceRow::COLUMNS, c.sql),
            c.params,
        )
    };
    let rows = match record {
        Some((record, if_none_match)) => {
            let insert = record_read(&answered, &if_none_match, record);
            let rows = db
                .query_after(vec![insert], positional(select(answered), ResourceRow::FIELDS))
                .await?;
            record.written.set(true);
            rows
        }
        None => db.query(select(answered)).await?,
    };
    let Some(r) = decode_first::<ResourceRow>(&rows)? else {
        return Ok(None);
    };
    let mut stored = StoredResource {
        rid: r.rid,
        version: r.version,
        last_updated: r.last_updated,
        json: r.json,
        patients: r
            .patients
            .map(|p| p.split(' ').map(str::to_string).collect())
            .unwrap_or_default(),
    };
    if stored.json.is_empty() {
        stored.json = assemble_parts(db, &[stored.rid])
            .await?
            .pop()
            .map(|(_, j)| j)
            .unwrap_or_default();
    }
    Ok(Some(stored))
}

/// The JSON of split resources (stored as '' inline), reassembled from their
/// parts with `meta.versionId` set, by rid.
pub async fn assemble_parts<D: Database>(db: &D, rids: &[i64]) -> Result<Vec<(i64, String)>, DbError> {
    let list = Json::Array(rids.iter().map(|r| json!(r)).collect()).to_string();
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM json_each(?1) j CROSS JOIN resources r ON r.rid = j.value \
                 CROSS JOIN resource_parts p ON p.rid = r.rid ORDER BY r.rid, p.seq",
                PartRow::COLUMNS
            ),
            vec![list.into()],
        ))
        .await?;
    let mut out: Vec<(i64, i64, String)> = Vec::new();
    for PartRow { rid, version, part } in decode_all(&rows)? {
        match out.last_mut() {
            Some(last) if last.0 == rid => last.2.push_str(&part),
            _ => out.push((rid, version, part)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(rid, version, text)| {
            let json = match serde_json::from_str::<Json>(&text) {
                Ok(mut v) => {
                    if let Some(meta) = v.get_mut("meta").and_then(Json::as_object_mut) {
                        meta.insert("versionId".into(), json!(version.to_string()));
                    }
                    v.to_string()
                }
                Err(_) => text,
            };
            (rid, json)
        })
        .collect())
}

crate::row! {
    /// A practice (tenant).
    #[derive(Debug, Clone, PartialEq)]
    pub struct Practice in "practices" {
        /// Stable key used in URLs and storage (`northside`).
        pub key: String,
        /// Display name.
        pub name: String,
        /// Id of the practice's Organization resource, if set.
        pub organization_id: Option<String>,
        /// Its National Provider Identifier (ten digits).
        pub npi: Option<String>,
        /// Its postal address, a FHIR Address (JSON).
        pub address: Option<String>,
        /// Its logo (an https URL), for apps' brand tiles.
        pub logo_url: Option<String>,
        /// Its patient portal's name.
        pub portal_name: Option<String>,
        /// Its patient portal (an https URL).
        pub portal_url: Option<String>,
        /// Its sites: a JSON array of `{id, name, npi, address}`, each
        /// published as an Organization `partOf` the practice's.
        pub sites: Option<String>,
    }
}

/// Creates or updates a practice.
pub async fn put_practice<D: Database>(db: &D, p: &Practice, now: i64) -> Result<(), DbError> {
    db.query(Statement::new(
        "INSERT INTO practices (key, name, organization_id, created_at, npi, address, logo_url, portal_name, portal_url, sites) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT(key) DO UPDATE SET name = excluded.name, organization_id = excluded.organization_id, \
         npi = excluded.npi, address = excluded.address, logo_url = excluded.logo_url, \
         portal_name = excluded.portal_name, portal_url = excluded.portal_url, sites = excluded.sites",
        vec![
            p.key.as_str().into(),
            p.name.as_str().into(),
            p.organization_id.clone().into(),
            now.into(),
            p.npi.clone().into(),
            p.address.clone().into(),
            p.logo_url.clone().into(),
            p.portal_name.clone().into(),
            p.portal_url.clone().into(),
            p.sites.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The practices in one database, by key.
pub async fn list_practices<D: Database>(db: &D) -> Result<Vec<Practice>, DbError> {
    let rows = db
        .query(Statement::new(
            format!("SELECT {} FROM practices ORDER BY key", Practice::COLUMNS),
            vec![],
        ))
        .await?;
    decode_all(&rows)
}

/// Whether `practice` exists in `db`.
pub async fn practice_exists<D: Database>(db: &D, practice: &str) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT 1 FROM practices WHERE key = ?1",
            vec![practice.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// Whether one of `patient`'s records (in their compartment and in no other
/// patient's) references `rtype/id` through an indexed reference: what a
/// patient-level token may read of a type it cannot search (a Binary).
pub async fn referenced_by_patient<D: Database>(
    db: &D,
    practice: &str,
    patient: &str,
    rtype: &str,
    id: &str,
) -> Result<bool, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT 1 FROM compartment c CROSS JOIN idx_reference x ON x.rid = c.rid \
             WHERE c.practice = ?1 AND c.patient_id = ?2 AND x.target_type = ?3 AND x.target_id = ?4 \
             AND NOT EXISTS (SELECT 1 FROM compartment o WHERE o.rid = c.rid AND o.patient_id <> ?2) LIMIT 1",
            vec![practice.into(), patient.into(), rtype.into(), id.into()],
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// `rtype` resources in `patient`'s compartment (id, JSON), most recently
/// updated first, at most `limit` (the EHR simulator's encounter list).
pub async fn in_compartment<D: Database>(
    db: &D,
    practice: &str,
    patient: &str,
    rtype: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, DbError> {
    let rows = db
        .query(Statement::new(
            format!(
                "SELECT {} FROM compartment c CROSS JOIN resources r ON r.rid = c.rid \
                 WHERE c.practice = ?1 AND c.patient_id = ?2 AND c.type = ?3 ORDER BY r.last_updated DESC, r.rid DESC LIMIT ?4",
                IdJson::COLUMNS
            ),
            vec![practice.into(), patient.into(), rtype.into(), limit.into()],
        ))
        .await?;
    Ok(decode_all::<IdJson>(&rows)?
        .into_iter()
        .map(|r| (r.id, r.json))
        .collect())
}

/// The id of the most recently updated `rtype` in `patient`'s compartment
/// (the standalone launch's encounter in context).
pub async fn latest_in_compartment<D: Database>(
    db: &D,
    practice: &str,
    patient: &str,
    rtype: &str,
) -> Result<Option<String>, DbError> {
    let rows = db
        .query(Statement::new(
            "SELECT r.id FROM compartment c CROSS JOIN resources r ON r.rid = c.rid \
             WHERE c.practice = ?1 AND c.patient_id = ?2 AND c.type = ?3 ORDER BY r.last_updated DESC, r.rid DESC LIMIT 1",
            vec![practice.into(), patient.into(), rtype.into()],
        ))
        .await?;
    scalar(&rows, "resources.id")
}

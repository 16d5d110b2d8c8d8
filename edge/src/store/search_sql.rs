//! The search compiler: a parsed [`SearchRequest`] becomes one SQL statement
//! over the index tables (the page, its `_include`s and `_revinclude`s
//! together), plus a count statement when a total is needed.
//!
//! Plan shape: the first filter drives (`r.rid IN (index lookup)`), the rest
//! are correlated `EXISTS` checks on `(rid, param, …)` indexes, so every
//! search starts from an index and touches only candidate rows. A test checks
//! each US Core SHALL combination with `EXPLAIN QUERY PLAN`.

use flare_core::datetime::{DateRange, MAX_MS, MIN_MS};
use flare_core::registry::ParamKind;
use flare_core::search::{
    DatePrefix, Filter, Include, SearchRequest, SortKey, StringMatch, TokenSystem, Value,
};

use super::{SqlValue, Statement, MAX_BOUND_PARAMS};

/// Who may see what: the practice, optionally one patient's records, query
/// restrictions from SMART v2 scopes, and which types includes may return.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    /// The practice searched.
    pub practice: String,
    /// When set, only this patient's compartment matches, plus (for types
    /// outside the compartment) the resources its records reference.
    pub patient: Option<String>,
    /// Query-restricted scopes: a match must satisfy every filter of at
    /// least one group. Empty: unrestricted.
    pub restrictions: Vec<Vec<Filter>>,
    /// Types `_include`/`_revinclude` may return; `None`: any.
    pub include_types: Option<Vec<&'static str>>,
}

impl Scope {
    /// The whole practice, unrestricted (the operator).
    pub fn practice(practice: &str) -> Scope {
        Scope {
            practice: practice.to_string(),
            ..Scope::default()
        }
    }
}

/// SQL that keeps include targets `t` visible to the patient: in its
/// compartment, or in no compartment at all (referenced from its records).
fn patient_include_guard(practice: &str, patient: &str) -> String {
    format!(
        " AND (t.rid IN (SELECT c.rid FROM compartment c WHERE c.practice = {practice} AND c.patient_id = {patient}) \
         OR NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = t.rid))"
    )
}

/// `AND t.type IN ('A','B')` for the allowed include types (registry names: safe to inline).
fn include_type_guard(alias: &str, types: &Option<Vec<&'static str>>) -> String {
    match types {
        None => String::new(),
        Some(list) => {
            let names: Vec<String> = list
                .iter()
                .filter(|t| t.bytes().all(|b| b.is_ascii_alphabetic()))
                .map(|t| format!("'{t}'"))
                .collect();
            if names.is_empty() {
                " AND 0".to_string()
            } else {
                format!(" AND {alias}.type IN ({})", names.join(","))
            }
        }
    }
}

/// The compiled search.
#[derive(Debug, Clone)]
pub struct CompiledSearch {
    /// Columns: kind (0 match, 1 include, 2 revinclude, 3 total), rid, json,
    /// sort key (the total for kind 3), position, type, id.
    pub page: Statement,
    /// `SELECT COUNT(*)` over the same filters, for `_summary=count`.
    pub count_only: Statement,
}

/// The search is too large for one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct TooComplex(pub String);

/// Binds values and hands out their placeholders (`?1`, `?2`, …).
pub(crate) struct Builder {
    params: Vec<SqlValue>,
    now_ms: i64,
}

impl Builder {
    /// A builder whose `ap` date prefix is anchored at `now_ms`.
    pub(crate) fn new(now_ms: i64) -> Self {
        Builder {
            params: Vec::new(),
            now_ms,
        }
    }

    /// The bound values, in placeholder order.
    pub(crate) fn into_params(self) -> Vec<SqlValue> {
        self.params
    }

    /// Binds a value, returning its placeholder.
    pub(crate) fn bind(&mut self, v: impl Into<SqlValue>) -> String {
        self.params.push(v.into());
        format!("?{}", self.params.len())
    }
}

const UNICODE_MAX: char = '\u{10FFFF}';

/// Which index table a parameter kind uses.
fn table(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Token => "idx_token",
        ParamKind::String => "idx_string",
        ParamKind::Date => "idx_date",
        ParamKind::Reference => "idx_reference",
    }
}

fn date_cond(b: &mut Builder, prefix: DatePrefix, r: DateRange, s: &str, e: &str) -> String {
    let (ps, pe) = (r.start, r.end);
    match prefix {
        DatePrefix::Eq => format!("({s} >= {} AND {e} <= {})", b.bind(ps), b.bind(pe)),
        DatePrefix::Ne => format!("NOT ({s} >= {} AND {e} <= {})", b.bind(ps), b.bind(pe)),
        DatePrefix::Gt => format!("{e} > {}", b.bind(pe)),
        DatePrefix::Lt => format!("{s} < {}", b.bind(ps)),
        DatePrefix::Ge => {
            let (ps, pe) = (b.bind(ps), b.bind(pe));
            format!("({e} > {pe} OR ({s} >= {ps} AND {e} <= {pe}))")
        }
        DatePrefix::Le => {
            let (ps, pe) = (b.bind(ps), b.bind(pe));
            format!("({s} < {ps} OR ({s} >= {ps} AND {e} <= {pe}))")
        }
        DatePrefix::Sa => format!("{s} > {}", b.bind(pe)),
        DatePrefix::Eb => format!("{e} < {}", b.bind(ps)),
        DatePrefix::Ap => {
            // 10% of the distance from now, at least one day.
            let w = ((b.now_ms - ps).abs() / 10).max(86_400_000);
            let lo = ps.saturating_sub(w).max(MIN_MS);
            let hi = pe.saturating_add(w).min(MAX_MS);
            format!("({s} <= {} AND {e} >= {})", b.bind(hi), b.bind(lo))
        }
    }
}

/// The condition on one index row `x` for one value.
fn value_cond(b: &mut Builder, v: &Value) -> String {
    match v {
        Value::Token { system, code } => {
            let mut parts = Vec::new();
            if let Some(c) = code {
                parts.push(format!("x.code = {}", b.bind(c.as_str())));
            }
            match system {
                TokenSystem::Any => {}
                TokenSystem::None => parts.push("x.system IS NULL".into()),
                TokenSystem::Exact(s) => parts.push(format!("x.system = {}", b.bind(s.as_str()))),
            }
            parts.join(" AND ")
        }
        Value::TokenText(t) => format!(
            "substr(x.text, 1, {}) = {}",
            b.bind(t.chars().count() as i64),
            b.bind(t.as_str())
        ),
        Value::String(StringMatch::Prefix, s) => {
            format!(
                "x.norm >= {} AND x.norm < {}",
                b.bind(s.as_str()),
                b.bind(format!("{s}{UNICODE_MAX}"))
            )
        }
        Value::String(StringMatch::Exact, s) => format!("x.exact = {}", b.bind(s.as_str())),
        Value::String(StringMatch::Contains, s) => format!("instr(x.norm, {}) > 0", b.bind(s.as_str())),
        Value::Date(prefix, r) => date_cond(b, *prefix, *r, "x.start", "x.\"end\""),
        Value::Reference { target_type, id } => match target_type {
            Some(t) => format!(
                "x.target_id = {} AND x.target_type = {}",
                b.bind(id.as_str()),
                b.bind(t.as_str())
            ),
            None => format!("x.target_id = {}", b.bind(id.as_str())),
        },
        Value::ReferenceUrl(u) => format!("x.url = {}", b.bind(u.as_str())),
    }
}

fn or_values(b: &mut Builder, values: &[Value]) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("({})", value_cond(b, v))).collect();
    parts.join(" OR ")
}

/// Compiles one filter into a condition on resource alias `r`. The driver form
/// (`r.rid IN (…)`) starts the plan from an index; the check form is a
/// correlated EXISTS.
pub(crate) fn filter_cond(
    b: &mut Builder,
    f: &Filter,
    r: &str,
    practice: &str,
    rtype: &str,
    driver: bool,
) -> String {
    match f {
        Filter::Id(ids) => {
            let list: Vec<String> = ids.iter().map(|i| b.bind(i.as_str())).collect();
            format!("{r}.id IN ({})", list.join(", "))
        }
        Filter::LastUpdated(vs) => {
            let parts: Vec<String> = vs
                .iter()
                .map(|(p, range)| {
                    date_cond(
                        b,
                        *p,
                        *range,
                        &format!("{r}.last_updated"),
                        &format!("{r}.last_updated"),
                    )
                })
                .collect();
            format!("({})", parts.join(" OR "))
        }
        Filter::Param {
            param,
            negate,
            values,
        } => {
            let t = table(param.kind);
            let code = b.bind(param.code);
            let cond = or_values(b, values);
            if driver && !negate {
                format!(
                    "{r}.rid IN (SELECT x.rid FROM {t} x WHERE x.practice = {practice} AND x.type = {rtype} AND x.param = {code} AND ({cond}))"
                )
            } else {
                let not = if *negate { "NOT " } else { "" };
                format!("{not}EXISTS (SELECT 1 FROM {t} x WHERE x.rid = {r}.rid AND x.param = {code} AND ({cond}))")
            }
        }
        Filter::Missing { param, missing } => {
            let t = table(param.kind);
            let not = if *missing { "NOT " } else { "" };
            format!(
                "{not}EXISTS (SELECT 1 FROM {t} x WHERE x.rid = {r}.rid AND x.param = {})",
                b.bind(param.code)
            )
        }
        Filter::Chain { param, target, inner } => {
            let code = b.bind(param.code);
            let ttype = b.bind(target.name);
            let inner_cond = filter_cond(b, inner, "t", practice, &ttype, false);
            format!(
                "EXISTS (SELECT 1 FROM idx_reference y WHERE y.rid = {r}.rid AND y.param = {code} AND y.target_type = {ttype} \
                 AND y.target_id IN (SELECT t.id FROM resources t WHERE t.practice = {practice} AND t.type = {ttype} AND {inner_cond}))"
            )
        }
    }
}

/// Driver preference: the most selective index first.
fn driver_rank(f: &Filter) -> u8 {
    match f {
        Filter::Param { negate: true, .. }
        | Filter::Missing { .. }
        | Filter::Chain { .. }
        | Filter::LastUpdated(_) => 9,
        Filter::Id(_) => 0,
        Filter::Param { param, .. } => match param.kind {
            ParamKind::Reference => 1,
            // Identifiers and codes pick few rows; a name prefix fewer than a
            // status, gender or category, whose value sets are tiny.
            ParamKind::Token if matches!(param.code, "identifier" | "code" | "type") => 2,
            ParamKind::String => 3,
            ParamKind::Token => 4,
            ParamKind::Date => 5,
        },
    }
}

/// The sort-key expression and its default for rows without a value.
fn sort_expr(b: &mut Builder, key: &SortKey, descending: bool) -> String {
    match key {
        SortKey::LastUpdated => "r.last_updated".into(),
        SortKey::Id => "r.id".into(),
        SortKey::Date(p) => {
            let code = b.bind(p.code);
            if descending {
                format!("COALESCE((SELECT MAX(x.\"end\") FROM idx_date x WHERE x.rid = r.rid AND x.param = {code}), {})", MIN_MS - 1)
            } else {
                format!("COALESCE((SELECT MIN(x.start) FROM idx_date x WHERE x.rid = r.rid AND x.param = {code}), {})", MAX_MS + 1)
            }
        }
        SortKey::String(p) => {
            let code = b.bind(p.code);
            if descending {
                format!("COALESCE((SELECT MAX(x.norm) FROM idx_string x WHERE x.rid = r.rid AND x.param = {code}), '')")
            } else {
                format!("COALESCE((SELECT MIN(x.norm) FROM idx_string x WHERE x.rid = r.rid AND x.param = {code}), char(1114111))")
            }
        }
    }
}

// Includes join from the page outwards (CROSS JOIN fixes that order): each
// page row's reference rows by (rid, param), then targets by primary key.
fn include_sql(b: &mut Builder, inc: &Include, practice: &str, count: &str, guard: &str) -> String {
    let code = b.bind(inc.param.code);
    let target = match inc.target_type {
        Some(t) => format!(" AND x.target_type = {}", b.bind(t)),
        None => String::new(),
    };
    format!(
        "SELECT 1, t.rid, t.json, NULL, NULL, t.type, t.id FROM ranked p CROSS JOIN idx_reference x ON x.rid = p.rid AND x.param = {code}{target} \
         CROSS JOIN resources t ON t.practice = {practice} AND t.type = x.target_type AND t.id = x.target_id WHERE p.pos <= {count}{guard}"
    )
}

fn revinclude_sql(
    b: &mut Builder,
    inc: &Include,
    practice: &str,
    count: &str,
    scope_patient: Option<&str>,
    type_guard: &str,
) -> String {
    let code = b.bind(inc.param.code);
    let src = b.bind(inc.source.name);
    // A revincluded resource in another patient's compartment stays hidden;
    // one in no compartment (a Provenance whose target is an Observation)
    // is shown, since it references a row of this patient's page.
    let restrict = match scope_patient {
        Some(p) => format!(
            " AND (s.rid IN (SELECT c.rid FROM compartment c WHERE c.practice = {practice} AND c.patient_id = {p}) \
             OR NOT EXISTS (SELECT 1 FROM compartment c2 WHERE c2.rid = s.rid))"
        ),
        None => String::new(),
    };
    format!(
        "SELECT 2, s.rid, s.json, NULL, NULL, s.type, s.id FROM ranked p CROSS JOIN resources pr ON pr.rid = p.rid \
         CROSS JOIN idx_reference x ON x.practice = {practice} AND x.type = {src} AND x.param = {code} AND x.target_id = pr.id AND x.target_type = pr.type \
         CROSS JOIN resources s ON s.rid = x.rid WHERE p.pos <= {count}{restrict}{type_guard}"
    )
}

/// Compiles a search for `scope`. `now_ms` anchors the `ap` prefix; with
/// `want_count` the page statement also returns the total (a kind-3 row).
pub fn compile(
    req: &SearchRequest,
    scope: &Scope,
    now_ms: i64,
    want_count: bool,
) -> Result<CompiledSearch, TooComplex> {
    let mut b = Builder {
        params: Vec::new(),
        now_ms,
    };
    let practice = b.bind(scope.practice.as_str());
    let rtype = b.bind(req.resource.name);
    let patient = scope.patient.as_ref().map(|p| b.bind(p.as_str()));

    let mut filters: Vec<&Filter> = req.filters.iter().collect();
    filters.sort_by_key(|f| driver_rank(f)); // stable: keeps the client's order among equals
                                             // With a driver, `+` keeps SQLite from scanning the (practice, type) index
                                             // instead: the plan must start from the driver's index lookup.
                                             // `_id` drives through the (practice, type, id) index itself.
    let has_driver = patient.is_some()
        || filters
            .first()
            .is_some_and(|f| driver_rank(f) < 9 && !matches!(f, Filter::Id(_)));
    let unary = if has_driver { "+" } else { "" };
    let mut conds = vec![
        format!("{unary}r.practice = {practice}"),
        format!("{unary}r.type = {rtype}"),
    ];
    if let Some(p) = &patient {
        if req.resource.name == "Provenance" {
            // A Provenance is the patient's when it is in the compartment or
            // its target is one of the patient's records (an Observation).
            conds.push(format!(
                "(r.rid IN (SELECT c.rid FROM compartment c WHERE c.practice = {practice} AND c.patient_id = {p} AND c.type = {rtype}) \
                 OR r.rid IN (SELECT x.rid FROM compartment c CROSS JOIN resources t ON t.rid = c.rid \
                 CROSS JOIN idx_reference x ON x.practice = {practice} AND x.type = 'Provenance' AND x.param = 'target' \
                 AND x.target_id = t.id AND x.target_type = t.type WHERE c.practice = {practice} AND c.patient_id = {p}))"
            ));
        } else if req.resource.in_patient_compartment() {
            conds.push(format!(
                "r.rid IN (SELECT c.rid FROM compartment c WHERE c.practice = {practice} AND c.patient_id = {p} AND c.type = {rtype})"
            ));
        } else {
            // Outside the compartment: what the patient's records reference.
            conds.push(format!(
                "r.rid IN (SELECT t.rid FROM compartment c CROSS JOIN idx_reference x ON x.rid = c.rid \
                 CROSS JOIN resources t ON t.practice = {practice} AND t.type = x.target_type AND t.id = x.target_id \
                 WHERE c.practice = {practice} AND c.patient_id = {p} AND x.target_type = {rtype})"
            ));
        }
    }
    for (i, f) in filters.iter().enumerate() {
        let driver = i == 0 && patient.is_none() && driver_rank(f) < 9;
        conds.push(filter_cond(&mut b, f, "r", &practice, &rtype, driver));
    }
    if !scope.restrictions.is_empty() {
        let groups: Vec<String> = scope
            .restrictions
            .iter()
            .map(|group| {
                let parts: Vec<String> = group
                    .iter()
                    .map(|f| filter_cond(&mut b, f, "r", &practice, &rtype, false))
                    .collect();
                if parts.is_empty() {
                    "1".to_string()
                } else {
                    format!("({})", parts.join(" AND "))
                }
            })
            .collect();
        conds.push(format!("({})", groups.join(" OR ")));
    }
    let where_sql = conds.join(" AND ");
    let count_sql = format!("SELECT COUNT(*) FROM resources r WHERE {where_sql}");
    let count_only = Statement::new(count_sql.clone(), b.params.clone());

    let (sort_sql, desc) = match &req.sort {
        Some(s) => (sort_expr(&mut b, &s.key, s.descending), s.descending),
        None => ("r.rid".to_string(), false),
    };
    let dir = if desc { "DESC" } else { "ASC" };
    let keyset = match (&req.cursor, &req.sort) {
        (None, _) => String::new(),
        (Some(c), None) => format!(" AND r.rid > {}", b.bind(c.rid)),
        (Some(c), Some(s)) => {
            let raw = c.sort_value.clone().unwrap_or_default();
            let v = match s.key {
                SortKey::LastUpdated | SortKey::Date(_) => b.bind(raw.parse::<i64>().unwrap_or(0)),
                _ => b.bind(raw),
            };
            let rid = b.bind(c.rid);
            let cmp = if desc { "<" } else { ">" };
            format!(" AND ({sort_sql} {cmp} {v} OR ({sort_sql} = {v} AND r.rid > {rid}))")
        }
    };
    let count = b.bind(req.count as i64);
    let limit = b.bind(req.count as i64 + 1);
    let mut sql = format!(
        "WITH page AS MATERIALIZED (SELECT r.rid AS rid, r.type AS type, r.id AS id, r.json AS json, {sort_sql} AS sk FROM resources r \
         WHERE {where_sql}{keyset} ORDER BY sk {dir}, r.rid ASC LIMIT {limit}), \
         ranked AS (SELECT rid, type, id, json, sk, row_number() OVER (ORDER BY sk {dir}, rid ASC) AS pos FROM page) \
         SELECT 0, rid, json, sk, pos, type, id FROM ranked"
    );
    let mut include_guard = include_type_guard("t", &scope.include_types);
    if let Some(p) = &patient {
        include_guard.push_str(&patient_include_guard(&practice, p));
    }
    let revinclude_guard = include_type_guard("s", &scope.include_types);
    for inc in &req.includes {
        sql.push_str(" UNION ALL ");
        let s = include_sql(&mut b, inc, &practice, &count, &include_guard);
        sql.push_str(&s);
    }
    for inc in &req.revincludes {
        sql.push_str(" UNION ALL ");
        let s = revinclude_sql(
            &mut b,
            inc,
            &practice,
            &count,
            patient.as_deref(),
            &revinclude_guard,
        );
        sql.push_str(&s);
    }
    if want_count {
        sql.push_str(&format!(
            " UNION ALL SELECT 3, NULL, NULL, ({count_sql}), NULL, NULL, NULL"
        ));
    }
    if b.params.len() > MAX_BOUND_PARAMS {
        return Err(TooComplex(format!(
            "the search needs {} bound values; at most {MAX_BOUND_PARAMS} fit in one statement (use fewer values)",
            b.params.len()
        )));
    }
    Ok(CompiledSearch {
        page: Statement::new(sql, b.params),
        count_only,
    })
}

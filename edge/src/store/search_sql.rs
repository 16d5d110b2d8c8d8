//! The search compiler: a parsed [`SearchRequest`] becomes one SQL statement
//! over the index tables (the page, its `_include`s and `_revinclude`s
//! together), plus a count statement when a total is needed.
//!
//! Plan shape: the first filter drives (`r.rid IN (index lookup)`), the rest
//! are correlated `EXISTS` checks on `(rid, param, …)` indexes, so every
//! search starts from an index and touches only candidate rows. A test checks
//! each US Core SHALL combination with `EXPLAIN QUERY PLAN`.

use flare_core::datetime::{DateRange, MAX_MS, MIN_MS};
use std::borrow::Cow;
use std::collections::BTreeMap;

use flare_core::registry::{self, ParamKind};
use flare_core::search::{
    DatePrefix, Filter, Include, SearchRequest, SortKey, StringMatch, TokenSystem, Value,
};

use super::row::{decode_all, scalar, FromColumn, Raw};
use super::{Condition, Database, DbError, SqlValue, Statement, MAX_BOUND_PARAMS};

/// What one caller may see of one resource type: the input of the one
/// visibility rule (see [`Visibility`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeRule {
    /// Patient context: only this patient's records. A record is the
    /// patient's when it is in their compartment and in no other patient's;
    /// a resource outside every compartment (Practitioner, Medication, …)
    /// when one of those records references it; a Provenance when it targets
    /// the patient's records and no other patient's; a Patient only when it
    /// is the patient. `None`: the whole practice.
    pub patient: Option<String>,
    /// Query-restricted scopes: a match satisfies every filter of at least
    /// one group. Empty: unrestricted.
    pub restrictions: Vec<Vec<Filter>>,
}

impl TypeRule {
    /// Whether the rule narrows the practice at all.
    pub fn is_restricted(&self) -> bool {
        self.patient.is_some() || !self.restrictions.is_empty()
    }
}

/// Who may see what: the practice, and per resource type the rule that
/// applies to every table a statement touches (the searched type, chain
/// targets, `_include` targets, `_revinclude` sources, counts and totals).
/// This is the single place where visibility becomes SQL.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Visibility {
    /// The practice searched.
    pub practice: String,
    /// Per-type rules; a type without a rule is invisible (a chain into it
    /// is refused, includes skip it). `None`: every type, unrestricted.
    pub rules: Option<BTreeMap<&'static str, TypeRule>>,
    /// Also return each row's compartment patients (the access history).
    pub with_patients: bool,
}

impl Visibility {
    /// The whole practice, unrestricted (the operator).
    pub fn practice(practice: &str) -> Visibility {
        Visibility {
            practice: practice.to_string(),
            ..Visibility::default()
        }
    }

    /// The rule for `rtype`, or `None` when the caller may not see it.
    pub fn rule(&self, rtype: &str) -> Option<Cow<'_, TypeRule>> {
        match &self.rules {
            None => Some(Cow::Owned(TypeRule::default())),
            Some(map) => map.get(rtype).map(Cow::Borrowed),
        }
    }
}

/// Why a search cannot be compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum CompileError {
    /// Too large for one statement (400).
    TooComplex(String),
    /// It touches a type the caller may not search (403).
    Forbidden(String),
}

/// The visibility rule as SQL, for one caller: conditions on a table alias
/// holding rows of a known type.
pub(crate) struct Guard<'s> {
    scope: &'s Visibility,
    /// Placeholder of the practice.
    practice: String,
}

impl Guard<'_> {
    /// The condition that keeps only rows of `rtype` (`type_sql`: its SQL
    /// placeholder or literal) visible at alias `a`; `"1"` when nothing
    /// narrows. `depth` stops a restriction that chains into a type whose
    /// own restriction chains back.
    fn cond(
        &self,
        b: &mut Builder,
        rtype: &str,
        type_sql: &str,
        a: &str,
        depth: u8,
    ) -> Result<String, CompileError> {
        let Some(rule) = self.scope.rule(rtype) else {
            return Ok("0".into());
        };
        let mut parts = Vec::new();
        if let Some(p) = &rule.patient {
            let p = b.bind_shared(p);
            parts.push(patient_cond(&self.practice, &p, rtype, type_sql, a));
        }
        if !rule.restrictions.is_empty() {
            if depth > 1 {
                return Ok("0".into()); // fail closed
            }
            let mut groups = Vec::new();
            for group in &rule.restrictions {
                let mut ands = Vec::new();
                for f in group {
                    ands.push(filter_cond(
                        b,
                        f,
                        a,
                        &self.practice,
                        type_sql,
                        false,
                        Some((self, depth + 1)),
                    )?);
                }
                groups.push(if ands.is_empty() {
                    "1".to_string()
                } else {
                    format!("({})", ands.join(" AND "))
                });
            }
            parts.push(format!("({})", groups.join(" OR ")));
        }
        Ok(if parts.is_empty() {
            "1".into()
        } else {
            parts.join(" AND ")
        })
    }

    /// ` AND (…)` keeping rows at alias `a` whose type is one of `types`
    /// (unknown at compile time: include targets) visible; empty when the
    /// caller sees every type unrestricted.
    fn any_of(&self, b: &mut Builder, types: &[&'static str], a: &str) -> Result<String, CompileError> {
        if self.scope.rules.is_none() {
            return Ok(String::new());
        }
        let mut alts = Vec::new();
        for t in types {
            if self.scope.rule(t).is_none() || !t.bytes().all(|c| c.is_ascii_alphabetic()) {
                continue;
            }
            let lit = format!("'{t}'"); // registry names: safe to inline
            match self.cond(b, t, &lit, a, 0)?.as_str() {
                "1" => alts.push(format!("{a}.type = {lit}")),
                "0" => {}
                c => alts.push(format!("({a}.type = {lit} AND {c})")),
            }
        }
        Ok(if alts.is_empty() {
            " AND 0".into()
        } else {
            format!(" AND ({})", alts.join(" OR "))
        })
    }
}

/// The patient-context part of the rule (see [`TypeRule::patient`]).
fn patient_cond(practice: &str, p: &str, rtype: &str, type_sql: &str, a: &str) -> String {
    // In no other patient's compartment (a Group, an Observation whose
    // performer is another patient, a Patient linked to another).
    let alone =
        format!("NOT EXISTS (SELECT 1 FROM compartment vo WHERE vo.rid = {a}.rid AND vo.patient_id <> {p})");
    let compartment_type = registry::resource(rtype).is_some_and(|d| d.in_patient_compartment());
    match rtype {
        "Patient" => format!("{a}.id = {p}"),
        // The patient's when in the compartment or when it targets one of the
        // patient's records; never when it also targets another patient's.
        "Provenance" => format!(
            "({a}.rid IN (SELECT vc.rid FROM compartment vc WHERE vc.practice = {practice} AND vc.patient_id = {p} AND vc.type = 'Provenance') \
             OR {a}.rid IN (SELECT vx.rid FROM compartment vc CROSS JOIN resources vt ON vt.rid = vc.rid \
             CROSS JOIN idx_reference vx ON vx.practice = {practice} AND vx.type = 'Provenance' AND vx.param = 'target' \
             AND vx.target_id = vt.id AND vx.target_type = vt.type WHERE vc.practice = {practice} AND vc.patient_id = {p})) \
             AND {alone} AND NOT EXISTS (SELECT 1 FROM idx_reference vy CROSS JOIN resources vu ON vu.practice = {practice} \
             AND vu.type = vy.target_type AND vu.id = vy.target_id CROSS JOIN compartment vo ON vo.rid = vu.rid \
             WHERE vy.rid = {a}.rid AND vy.param = 'target' AND vo.patient_id <> {p})"
        ),
        _ if compartment_type => format!(
            "{a}.rid IN (SELECT vc.rid FROM compartment vc WHERE vc.practice = {practice} AND vc.patient_id = {p} AND vc.type = {type_sql}) AND {alone}"
        ),
        // Outside the compartment: what the patient's own records reference.
        _ => format!(
            "{a}.rid IN (SELECT vt.rid FROM compartment vc CROSS JOIN idx_reference vx ON vx.rid = vc.rid \
             CROSS JOIN resources vt ON vt.practice = {practice} AND vt.type = vx.target_type AND vt.id = vx.target_id \
             WHERE vc.practice = {practice} AND vc.patient_id = {p} AND vx.target_type = {type_sql} \
             AND NOT EXISTS (SELECT 1 FROM compartment vo WHERE vo.rid = vc.rid AND vo.patient_id <> {p}))"
        ),
    }
}

/// The read of `rtype/id` under `scope`: the condition that holds for the
/// row at alias `r` only when it is that resource (practice, type, id) and
/// the caller may see it, by the same [`Guard`] as every search (a read is
/// the `_id` search of one resource, without a page's ranking).
pub fn compile_read(
    scope: &Visibility,
    rtype: &str,
    id: &str,
    now_ms: i64,
) -> Result<Condition, CompileError> {
    let mut b = Builder::new(now_ms);
    let practice = b.bind(scope.practice.as_str());
    let t = b.bind(rtype);
    let i = b.bind(id);
    if scope.rule(rtype).is_none() {
        return Err(CompileError::Forbidden(format!(
            "the access token's scopes do not permit reading {rtype}"
        )));
    }
    let g = Guard {
        scope,
        practice: practice.clone(),
    };
    let visible = g.cond(&mut b, rtype, &t, "r", 0)?;
    Ok(Condition {
        sql: format!("r.practice = {practice} AND r.type = {t} AND r.id = {i} AND {visible}"),
        params: b.into_params(),
    })
}

/// The compiled search.
#[derive(Debug, Clone)]
pub struct CompiledSearch {
    /// Columns: kind (0 match, 1 include, 2 revinclude, 3 total), rid, json,
    /// sort key (the total for kind 3), position, type, id, compartment
    /// patients (with [`Visibility::with_patients`]).
    pub page: Statement,
    /// `SELECT COUNT(*)` over the same filters, for `_summary=count`.
    pub count_only: Statement,
}

crate::row! {
    /// One row of a [`CompiledSearch::page`].
    #[derive(Debug, Clone, PartialEq)]
    pub struct SearchRow in "search page" {
        /// 0 match, 1 include, 2 revinclude, 3 total.
        pub kind: i64,
        /// Row id (not for the total).
        pub rid: Option<i64>,
        /// The JSON text ('' for a resource stored in parts).
        pub json: Option<String>,
        /// The sort key of a match (text or number); the total for kind 3.
        pub sort_key: Raw,
        /// A match's rank in the page.
        pub pos: Option<i64>,
        /// Resource type.
        pub rtype: Option<String>,
        /// Logical id.
        pub id: Option<String>,
        /// Compartment patients, space-separated (with [`Visibility::with_patients`]).
        pub patients: Option<String>,
    }
}

impl SearchRow {
    /// The total a kind-3 row carries.
    pub fn total(&self) -> Result<i64, DbError> {
        i64::from_column(&self.sort_key.0).map_err(|e| DbError(format!("search page.total: {e}")))
    }
}

/// Runs a compiled page query.
pub async fn run_page<D: Database>(db: &D, page: Statement) -> Result<Vec<SearchRow>, DbError> {
    decode_all(&db.query(page).await?)
}

/// Runs a compiled count query.
pub async fn run_count<D: Database>(db: &D, count: Statement) -> Result<Option<i64>, DbError> {
    scalar(&db.query(count).await?, "search count")
}

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

    /// Binds text once: the same value used again gets the same placeholder
    /// (the patient of a visibility rule recurs in every guarded table).
    fn bind_shared(&mut self, v: &str) -> String {
        match self
            .params
            .iter()
            .position(|x| matches!(x, SqlValue::Text(t) if t == v))
        {
            Some(i) => format!("?{}", i + 1),
            None => self.bind(v),
        }
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
///
/// With a `guard` (the caller's visibility and the restriction depth), a
/// chain's target rows must be visible too, and a chain into a type the
/// caller may not search is [`CompileError::Forbidden`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn filter_cond(
    b: &mut Builder,
    f: &Filter,
    r: &str,
    practice: &str,
    rtype: &str,
    driver: bool,
    guard: Option<(&Guard<'_>, u8)>,
) -> Result<String, CompileError> {
    Ok(match f {
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
            let inner_cond = filter_cond(b, inner, "t", practice, &ttype, false, None)?;
            let visible = match guard {
                None => String::new(),
                Some((g, depth)) => {
                    if g.scope.rule(target.name).is_none() {
                        return Err(CompileError::Forbidden(format!(
                            "the access token's scopes do not permit search of {}, which the chain {}.… searches",
                            target.name, param.code
                        )));
                    }
                    format!(" AND {}", g.cond(b, target.name, &ttype, "t", depth)?)
                }
            };
            format!(
                "EXISTS (SELECT 1 FROM idx_reference y WHERE y.rid = {r}.rid AND y.param = {code} AND y.target_type = {ttype} \
                 AND y.target_id IN (SELECT t.id FROM resources t WHERE t.practice = {practice} AND t.type = {ttype} AND {inner_cond}{visible}))"
            )
        }
        Filter::AnyOf(groups) => {
            let mut ors = Vec::new();
            for group in groups {
                let mut ands = Vec::new();
                for f in group {
                    ands.push(filter_cond(b, f, r, practice, rtype, false, guard)?);
                }
                ors.push(if ands.is_empty() {
                    "1".to_string()
                } else {
                    format!("({})", ands.join(" AND "))
                });
            }
            if ors.is_empty() {
                "0".to_string()
            } else {
                format!("({})", ors.join(" OR "))
            }
        }
    })
}

/// Driver preference: the most selective index first.
fn driver_rank(f: &Filter) -> u8 {
    match f {
        Filter::Param { negate: true, .. }
        | Filter::Missing { .. }
        | Filter::Chain { .. }
        | Filter::AnyOf(_)
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

/// The select list of an included row at alias `a`, with its compartment
/// patients when the scope asks for them.
fn row_select(kind: u8, a: &str, with_patients: bool) -> String {
    format!(
        "SELECT {kind}, {a}.rid, {a}.json, NULL, NULL, {a}.type, {a}.id, {}",
        patients_col(a, with_patients)
    )
}

/// The compartment patients of the row at alias `a` (space-separated ids:
/// FHIR ids have no spaces), or NULL.
fn patients_col(a: &str, with_patients: bool) -> String {
    if with_patients {
        format!("(SELECT group_concat(vp.patient_id, ' ') FROM compartment vp WHERE vp.rid = {a}.rid)")
    } else {
        "NULL".into()
    }
}

// Includes join from the page outwards (CROSS JOIN fixes that order): each
// page row's reference rows by (rid, param), then targets by primary key.
fn include_sql(b: &mut Builder, inc: &Include, g: &Guard<'_>, count: &str) -> Result<String, CompileError> {
    let code = b.bind(inc.param.code);
    let (target, types) = match inc.target_type {
        Some(t) => (format!(" AND x.target_type = {}", b.bind(t)), vec![t]),
        None => (String::new(), inc.param.targets.to_vec()),
    };
    let guard = g.any_of(b, &types, "t")?;
    let practice = &g.practice;
    Ok(format!(
        "{} FROM ranked p CROSS JOIN idx_reference x ON x.rid = p.rid AND x.param = {code}{target} \
         CROSS JOIN resources t ON t.practice = {practice} AND t.type = x.target_type AND t.id = x.target_id WHERE p.pos <= {count}{guard}",
        row_select(1, "t", g.scope.with_patients)
    ))
}

fn revinclude_sql(
    b: &mut Builder,
    inc: &Include,
    g: &Guard<'_>,
    count: &str,
) -> Result<String, CompileError> {
    let code = b.bind(inc.param.code);
    let src = b.bind(inc.source.name);
    let guard = if g.scope.rules.is_none() {
        String::new()
    } else {
        format!(" AND {}", g.cond(b, inc.source.name, &src, "s", 0)?)
    };
    let practice = &g.practice;
    Ok(format!(
        "{} FROM ranked p CROSS JOIN resources pr ON pr.rid = p.rid \
         CROSS JOIN idx_reference x ON x.practice = {practice} AND x.type = {src} AND x.param = {code} AND x.target_id = pr.id AND x.target_type = pr.type \
         CROSS JOIN resources s ON s.rid = x.rid WHERE p.pos <= {count}{guard}",
        row_select(2, "s", g.scope.with_patients)
    ))
}

/// Compiles a search for `scope`. `now_ms` anchors the `ap` prefix; with
/// `want_count` the page statement also returns the total (a kind-3 row).
///
/// Every table the statement reads is guarded by the caller's rule for its
/// type ([`Visibility`]): the searched type (so the page, the count and the
/// total), chain targets, include targets and revinclude sources.
pub fn compile(
    req: &SearchRequest,
    scope: &Visibility,
    now_ms: i64,
    want_count: bool,
) -> Result<CompiledSearch, CompileError> {
    let mut b = Builder {
        params: Vec::new(),
        now_ms,
    };
    let practice = b.bind(scope.practice.as_str());
    let rtype = b.bind(req.resource.name);
    let rule = scope.rule(req.resource.name).ok_or_else(|| {
        CompileError::Forbidden(format!(
            "the access token's scopes do not permit search of {}",
            req.resource.name
        ))
    })?;
    let g = Guard {
        scope,
        practice: practice.clone(),
    };

    let mut filters: Vec<&Filter> = req.filters.iter().collect();
    filters.sort_by_key(|f| driver_rank(f)); // stable: keeps the client's order among equals
                                             // The patient's compartment drives a patient-context search (but a
                                             // Patient is found by its id). With a driver, `+` keeps SQLite from
                                             // scanning the (practice, type) index instead: the plan must start from
                                             // the driver's index lookup. `_id` drives through the (practice, type,
                                             // id) index itself.
    let compartment_drives = rule.patient.is_some() && req.resource.name != "Patient";
    let has_driver = compartment_drives
        || filters
            .first()
            .is_some_and(|f| driver_rank(f) < 9 && !matches!(f, Filter::Id(_)));
    let unary = if has_driver { "+" } else { "" };
    let mut conds = vec![
        format!("{unary}r.practice = {practice}"),
        format!("{unary}r.type = {rtype}"),
    ];
    let visible = g.cond(&mut b, req.resource.name, &rtype, "r", 0)?;
    if visible != "1" {
        conds.push(visible);
    }
    for (i, f) in filters.iter().enumerate() {
        let driver = i == 0 && !compartment_drives && driver_rank(f) < 9;
        conds.push(filter_cond(
            &mut b,
            f,
            "r",
            &practice,
            &rtype,
            driver,
            Some((&g, 0)),
        )?);
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
    let ctes = format!(
        "WITH page AS MATERIALIZED (SELECT r.rid AS rid, r.type AS type, r.id AS id, r.json AS json, {sort_sql} AS sk FROM resources r \
         WHERE {where_sql}{keyset} ORDER BY sk {dir}, r.rid ASC LIMIT {limit}), \
         ranked AS (SELECT rid, type, id, json, sk, row_number() OVER (ORDER BY sk {dir}, rid ASC) AS pos FROM page) "
    );
    let mut terms = vec![format!(
        "SELECT 0, rid, json, sk, pos, type, id, {} FROM ranked",
        patients_col("ranked", scope.with_patients)
    )];
    for inc in &req.includes {
        terms.push(include_sql(&mut b, inc, &g, &count)?);
    }
    for inc in &req.revincludes {
        terms.push(revinclude_sql(&mut b, inc, &g, &count)?);
    }
    if want_count {
        terms.push(format!(
            "SELECT 3, NULL, NULL, ({count_sql}), NULL, NULL, NULL, NULL"
        ));
    }
    // Many includes: nested within D1's limit on a compound SELECT's terms.
    let sql = format!("{ctes}{}", union_all(terms));
    if b.params.len() > MAX_BOUND_PARAMS {
        return Err(CompileError::TooComplex(format!(
            "the search needs {} bound values; at most {MAX_BOUND_PARAMS} fit in one statement (use fewer values)",
            b.params.len()
        )));
    }
    Ok(CompiledSearch {
        page: Statement::new(sql, b.params),
        count_only,
    })
}

/// The most terms one compound SELECT may have in D1: workerd sets
/// `SQLITE_LIMIT_COMPOUND_SELECT` to 5 ("too many terms in compound SELECT").
pub const MAX_COMPOUND_TERMS: usize = 5;

/// `UNION ALL` of `terms` (each a SELECT of the same columns), nested in
/// subqueries so that no compound SELECT has more than
/// [`MAX_COMPOUND_TERMS`] terms.
fn union_all(mut terms: Vec<String>) -> String {
    while terms.len() > MAX_COMPOUND_TERMS {
        terms = terms
            .chunks(MAX_COMPOUND_TERMS)
            .map(|group| match group {
                [one] => one.clone(),
                _ => format!("SELECT * FROM ({})", group.join(" UNION ALL ")),
            })
            .collect();
    }
    terms.join(" UNION ALL ")
}

/// Where a `Patient/[id]/$everything` page starts: after the entry of type
/// `rtype` (its rank in the operation's type order) with row id `rid`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EverythingAfter {
    /// The rank of the last entry's type in the list of types.
    pub rank: usize,
    /// The last entry's row id.
    pub rid: i64,
}

/// Compiles one page of `Patient/[id]/$everything`: the resources of
/// `types` (in that order, each by row id) that `scope` shows as `patient`'s
/// records, changed after `since` when given, after `after`, at most
/// `count` of them (the statement asks one more, to know whether there is a
/// next page). One branch per type, each starting from its own index and
/// limited; their `UNION ALL` is nested within D1's compound limit. The
/// rows are [`SearchRow`]s of kind 0 (matches) whose sort
/// key is the type's rank, so a page is recorded like a search's
/// ([`crate::store::access_log::run_page_recorded`]).
///
/// What is `patient`'s is decided by the one visibility rule: each type's
/// branch is guarded by [`Guard`] with that type's rule, which must carry
/// `patient` (a type whose rule does not is left out: fail closed); so the
/// compartment, the records of several patients, Provenance and the
/// resources outside every compartment that the patient's records
/// reference are exactly what a patient-context search shows.
pub fn compile_everything(
    scope: &Visibility,
    patient: &str,
    types: &[&'static str],
    since: Option<i64>,
    after: Option<EverythingAfter>,
    count: usize,
    now_ms: i64,
) -> Result<Statement, CompileError> {
    let mut b = Builder::new(now_ms);
    let practice = b.bind(scope.practice.as_str());
    let g = Guard {
        scope,
        practice: practice.clone(),
    };
    let since = since.map(|s| b.bind(s));
    let limit = b.bind(count as i64 + 1);
    let mut branches = Vec::new();
    for (rank, t) in types.iter().enumerate() {
        let narrowed = scope
            .rule(t)
            .is_some_and(|r| r.patient.as_deref() == Some(patient));
        let skipped = after.is_some_and(|a| rank < a.rank);
        if skipped || !narrowed || !t.bytes().all(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        let mut conds = Vec::new();
        // The patient's compartment (or references) drives every branch but
        // Patient's, found by its (practice, type, id) index.
        let unary = if *t == "Patient" { "" } else { "+" };
        let lit = format!("'{t}'"); // registry names: safe to inline
        conds.push(format!("{unary}r.practice = {practice}"));
        conds.push(format!("{unary}r.type = {lit}"));
        conds.push(g.cond(&mut b, t, &lit, "r", 0)?);
        if let Some(s) = &since {
            conds.push(format!("r.last_updated > {s}"));
        }
        if let Some(a) = after.filter(|a| a.rank == rank) {
            conds.push(format!("r.rid > {}", b.bind(a.rid)));
        }
        branches.push(format!(
            "SELECT * FROM (SELECT r.rid AS rid, r.type AS type, r.id AS id, r.json AS json, {rank} AS sk \
             FROM resources r WHERE {} ORDER BY r.rid LIMIT {limit})",
            conds.join(" AND ")
        ));
    }
    if branches.is_empty() {
        branches
            .push("SELECT NULL AS rid, NULL AS type, NULL AS id, NULL AS json, NULL AS sk WHERE 0".into());
    }
    let sql = format!(
        "WITH page AS MATERIALIZED (SELECT rid, type, id, json, sk FROM ({}) ORDER BY sk, rid LIMIT {limit}), \
         ranked AS (SELECT rid, type, id, json, sk, row_number() OVER (ORDER BY sk, rid) AS pos FROM page) \
         SELECT 0, rid, json, sk, pos, type, id, {} FROM ranked",
        union_all(branches),
        patients_col("ranked", scope.with_patients)
    );
    if b.params.len() > MAX_BOUND_PARAMS {
        return Err(CompileError::TooComplex(format!(
            "$everything needs {} bound values for the caller's scopes; at most {MAX_BOUND_PARAMS} fit in one statement (name fewer types with _type)",
            b.params.len()
        )));
    }
    Ok(Statement::new(sql, b.params))
}

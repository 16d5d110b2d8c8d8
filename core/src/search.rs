//! FHIR search requests, parsed and typed against the registry.
//!
//! `parse` turns the query pairs of `GET [base]/[type]?…` (or the form body of
//! `POST [base]/[type]/_search`) into a [`SearchRequest`]: each parameter is
//! checked against the registry, each value against its type's syntax. The
//! edge compiles the result into one SQL statement; nothing here knows SQL.

use crate::datetime::{parse_range, DateRange};
use crate::reference::{is_valid_id, local_target, parse_reference, ParsedReference};
use crate::registry::{self, ParamKind, ResourceDef, SearchParamDef};
use crate::text::normalize;

/// Entries per page when `_count` is absent.
pub const DEFAULT_COUNT: usize = 50;
/// The largest `_count` honoured; larger values are lowered to it.
pub const MAX_COUNT: usize = 500;
/// The most values one parameter may OR together.
pub const MAX_OR_VALUES: usize = 20;
/// The most filters (parameter occurrences) one search may AND together.
pub const MAX_FILTERS: usize = 12;
/// Most query (and form) pairs of one search, repeated names included.
pub const MAX_PAIRS: usize = 100;
/// Most element names in `_elements`.
pub const MAX_ELEMENTS: usize = 50;

/// A client error in a search request: the message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError(pub String);

/// Date comparison prefixes (FHIR R4 §3.1.1.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePrefix {
    /// The value's range lies within the parameter's.
    Eq,
    /// Not `eq`.
    Ne,
    /// The value's range extends above the parameter's.
    Gt,
    /// The value's range extends below the parameter's.
    Lt,
    /// `gt` or `eq`.
    Ge,
    /// `lt` or `eq`.
    Le,
    /// Starts after the parameter's range ends.
    Sa,
    /// Ends before the parameter's range starts.
    Eb,
    /// Approximately: the ranges overlap once the parameter is widened by 10%
    /// of its distance from now (at least a day).
    Ap,
}

impl DatePrefix {
    /// Every prefix, in the order the specification lists them.
    pub const ALL: [DatePrefix; 9] = [
        DatePrefix::Eq,
        DatePrefix::Ne,
        DatePrefix::Gt,
        DatePrefix::Lt,
        DatePrefix::Ge,
        DatePrefix::Le,
        DatePrefix::Sa,
        DatePrefix::Eb,
        DatePrefix::Ap,
    ];

    /// The prefix as written in a search value (`ge` in `ge2020-01-01`).
    pub fn as_str(self) -> &'static str {
        match self {
            DatePrefix::Eq => "eq",
            DatePrefix::Ne => "ne",
            DatePrefix::Gt => "gt",
            DatePrefix::Lt => "lt",
            DatePrefix::Ge => "ge",
            DatePrefix::Le => "le",
            DatePrefix::Sa => "sa",
            DatePrefix::Eb => "eb",
            DatePrefix::Ap => "ap",
        }
    }
}

/// How a token parameter's system part constrains matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSystem {
    /// `code`: any system.
    Any,
    /// `|code`: no system.
    None,
    /// `system|code` or `system|`.
    Exact(String),
}

/// How a string parameter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMatch {
    /// Default: case- and accent-insensitive prefix.
    Prefix,
    /// `:exact`: the whole value, exactly.
    Exact,
    /// `:contains`: case- and accent-insensitive substring.
    Contains,
}

/// One value of a parameter (values of one parameter are ORed).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Token `[system]|[code]`; `code` lower-cased (codes match case-insensitively).
    Token {
        /// System constraint.
        system: TokenSystem,
        /// Code, if given (`system|` matches any code).
        code: Option<String>,
    },
    /// `:text` on a token: normalized prefix of the display text.
    TokenText(String),
    /// String value, normalized unless `Exact`.
    String(StringMatch, String),
    /// Date with its prefix and the range it denotes.
    Date(DatePrefix, DateRange),
    /// Reference by type (if known) and id.
    Reference {
        /// Target type, when the value or a `:Type` modifier names it.
        target_type: Option<String>,
        /// Target id.
        id: String,
    },
    /// Reference by an absolute URL of another server, matched as written.
    ReferenceUrl(String),
}

/// One parameter occurrence.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `_id`: any of these ids.
    Id(Vec<String>),
    /// `_lastUpdated`: any of these dates.
    LastUpdated(Vec<(DatePrefix, DateRange)>),
    /// A registry parameter: any of `values` (none of them with `:not`).
    Param {
        /// The parameter.
        param: &'static SearchParamDef,
        /// `:not` on a token: resources with no matching value.
        negate: bool,
        /// ORed values.
        values: Vec<Value>,
    },
    /// `:missing=true|false`.
    Missing {
        /// The parameter.
        param: &'static SearchParamDef,
        /// `true`: resources without a value.
        missing: bool,
    },
    /// A chained search `ref.param=…`: the reference's target matches `inner`.
    Chain {
        /// The reference parameter on the searched type.
        param: &'static SearchParamDef,
        /// The target type.
        target: &'static ResourceDef,
        /// The condition on the target.
        inner: Box<Filter>,
    },
    /// Any of these groups, each of whose filters all hold; no group: no
    /// match. Never parsed from a query string: built by operations whose
    /// parameters mean an OR across search parameters (`$docref`'s care
    /// dates: the context period, else the document's date).
    AnyOf(Vec<Vec<Filter>>),
}

/// Sort order: one key, then by insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// `_lastUpdated`.
    LastUpdated,
    /// `_id`.
    Id,
    /// A date parameter: earliest value ascending, latest descending.
    Date(&'static SearchParamDef),
    /// A string parameter (normalized form).
    String(&'static SearchParamDef),
}

/// The `_sort` of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    /// The key.
    pub key: SortKey,
    /// `-key`.
    pub descending: bool,
}

/// `_include=Source:param[:Target]` or `_revinclude=Source:param[:Target]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// The type holding the reference (the searched type for `_include`).
    pub source: &'static ResourceDef,
    /// The reference parameter.
    pub param: &'static SearchParamDef,
    /// Only targets of this type.
    pub target_type: Option<&'static str>,
    /// `:iterate` was asked (accepted; Flare includes one level).
    pub iterate: bool,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// Full resources.
    False,
    /// Only the total.
    Count,
    /// Without the narrative.
    Data,
    /// Only id, meta and narrative.
    Text,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Totals when they come free (the whole result fits in one page).
    Default,
    /// Never.
    None,
    /// Always, counted exactly.
    Accurate,
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The searched type.
    pub resource: &'static ResourceDef,
    /// ANDed filters.
    pub filters: Vec<Filter>,
    /// Page size.
    pub count: usize,
    /// Sort order, if asked.
    pub sort: Option<Sort>,
    /// Where the page starts (from a `next` link).
    pub cursor: Option<Cursor>,
    /// `_summary`.
    pub summary: Summary,
    /// `_total`.
    pub total: Total,
    /// `_elements`, if asked (`effective[x]` given as `effective`).
    pub elements: Option<Vec<String>>,
    /// `_include`s.
    pub includes: Vec<Include>,
    /// `_revinclude`s.
    pub revincludes: Vec<Include>,
    /// Parameters ignored under `Prefer: handling=lenient`, with why.
    pub ignored: Vec<String>,
    /// The query pairs that define the result (no paging), for `self`/`next` links.
    pub canonical_query: Vec<(String, String)>,
}

/// Keyset paging position: the last entry of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Sort value of the last entry (when sorted).
    pub sort_value: Option<String>,
    /// Row id of the last entry.
    pub rid: i64,
}

impl Cursor {
    /// Encodes the cursor for the `_cursor` parameter of a `next` link.
    pub fn encode(&self) -> String {
        match &self.sort_value {
            Some(v) => format!("{}~{}", self.rid, v),
            None => self.rid.to_string(),
        }
    }

    /// Reads a `_cursor` value that [`Cursor::encode`] wrote.
    pub fn decode(s: &str) -> Option<Cursor> {
        let (rid, sort_value) = match s.split_once('~') {
            Some((r, v)) => (r, Some(v.to_string())),
            None => (s, None),
        };
        Some(Cursor {
            rid: rid.parse().ok()?,
            sort_value,
        })
    }
}

/// Options from the request that change parsing.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// `Prefer: handling=lenient`: ignore unknown parameters instead of failing.
    pub lenient: bool,
    /// This server's FHIR base: absolute reference values under it name local
    /// resources; other absolute URLs match references written exactly so.
    pub base: Option<String>,
}

/// Splits a parameter value on unescaped commas and unescapes `\,` `\|` `\$` `\\`.
fn split_or(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ (',' | '$' | '\\')) => current.push(n),
                // `\|` stays escaped: the token parser splits on unescaped pipes.
                Some(n) => {
                    current.push('\\');
                    current.push(n);
                }
                None => current.push('\\'),
            },
            ',' => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out
}

/// Splits a token on its first unescaped `|`.
fn split_pipe(v: &str) -> (Option<String>, String) {
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == b'|' {
            return (Some(v[..i].replace("\\|", "|")), v[i + 1..].replace("\\|", "|"));
        }
        i += 1;
    }
    (None, v.replace("\\|", "|"))
}

fn date_value(raw: &str, name: &str) -> Result<(DatePrefix, DateRange), SearchError> {
    let (prefix, rest) = DatePrefix::ALL
        .iter()
        .find_map(|d| raw.strip_prefix(d.as_str()).map(|rest| (*d, rest)))
        .unwrap_or((DatePrefix::Eq, raw));
    let range = parse_range(rest).ok_or_else(|| {
        SearchError(format!(
            "{name}: '{raw}' is not a FHIR date (e.g. ge2020-01-01 or 2021-03-04T10:00:00Z)"
        ))
    })?;
    Ok((prefix, range))
}

/// Parses one value of a parameter of `kind`.
fn value(
    param: &SearchParamDef,
    modifier: Option<&str>,
    raw: &str,
    name: &str,
    base: Option<&str>,
) -> Result<Value, SearchError> {
    if raw.is_empty() {
        return Err(SearchError(format!("{name}: empty value")));
    }
    match param.kind {
        ParamKind::Token => {
            if modifier == Some("text") {
                return Ok(Value::TokenText(normalize(raw)));
            }
            let (system, code) = split_pipe(raw);
            let code = if code.is_empty() {
                None
            } else {
                Some(code.to_lowercase())
            };
            let system = match system {
                None => TokenSystem::Any,
                Some(s) if s.is_empty() => TokenSystem::None,
                Some(s) => TokenSystem::Exact(s),
            };
            if code.is_none() && !matches!(system, TokenSystem::Exact(_)) {
                return Err(SearchError(format!(
                    "{name}: '{raw}' has neither a system nor a code"
                )));
            }
            Ok(Value::Token { system, code })
        }
        ParamKind::String => Ok(match modifier {
            Some("exact") => Value::String(StringMatch::Exact, raw.to_string()),
            Some("contains") => Value::String(StringMatch::Contains, normalize(raw)),
            _ => Value::String(StringMatch::Prefix, normalize(raw)),
        }),
        ParamKind::Date => {
            let (p, r) = date_value(raw, name)?;
            Ok(Value::Date(p, r))
        }
        ParamKind::Reference => {
            let type_modifier = modifier.filter(|m| m.as_bytes()[0].is_ascii_uppercase());
            let check_type = |t: &str| -> Result<(), SearchError> {
                if param.targets.contains(&t) {
                    Ok(())
                } else {
                    Err(SearchError(format!(
                        "{name}: {t} is not a target of {} (targets: {})",
                        param.code,
                        param.targets.join(", ")
                    )))
                }
            };
            if let Some(t) = type_modifier {
                check_type(t)?;
            }
            if is_valid_id(raw) {
                let target_type = type_modifier
                    .map(str::to_string)
                    .or_else(|| (param.targets.len() == 1).then(|| param.targets[0].to_string()));
                return Ok(Value::Reference {
                    target_type,
                    id: raw.to_string(),
                });
            }
            let bad = || {
                SearchError(format!(
                    "{name}: '{raw}' is not an id, Type/id or an absolute URL"
                ))
            };
            let parsed = parse_reference(raw).map_err(|_| bad())?;
            match (local_target(&parsed, base), &parsed) {
                (Some((resource_type, id)), _) => {
                    check_type(&resource_type)?;
                    if let Some(t) = type_modifier {
                        if t != resource_type {
                            return Err(SearchError(format!("{name}: '{raw}' is not a {t}")));
                        }
                    }
                    Ok(Value::Reference {
                        target_type: Some(resource_type),
                        id,
                    })
                }
                // Another server's resource: matches references written exactly so.
                (None, ParsedReference::Absolute { .. }) => Ok(Value::ReferenceUrl(raw.to_string())),
                _ => Err(bad()),
            }
        }
    }
}

fn allowed_modifier(param: &SearchParamDef, m: &str) -> bool {
    match (param.kind, m) {
        (_, "missing") => true,
        (ParamKind::Token, "not" | "text") => true,
        (ParamKind::String, "exact" | "contains") => true,
        (ParamKind::Reference, t) => param.targets.contains(&t),
        _ => false,
    }
}

/// Parses one `name[:modifier]=value` pair (not a result parameter) into a filter.
fn filter(
    def: &'static ResourceDef,
    name: &str,
    raw: &str,
    base: Option<&str>,
) -> Result<Filter, SearchError> {
    // Chained: ref[:Type].param
    if let Some((head, chained)) = name.split_once('.') {
        let (ref_code, type_mod) = match head.split_once(':') {
            Some((c, t)) => (c, Some(t)),
            None => (head, None),
        };
        let param = def
            .param(ref_code)
            .filter(|p| p.kind == ParamKind::Reference)
            .ok_or_else(|| {
                SearchError(format!(
                    "{name}: {} has no reference parameter '{ref_code}' to chain",
                    def.name
                ))
            })?;
        let target_name = match type_mod {
            Some(t) if param.targets.contains(&t) => t,
            Some(t) => return Err(SearchError(format!("{name}: {t} is not a target of {ref_code}"))),
            None if param.targets.len() == 1 => param.targets[0],
            None => {
                return Err(SearchError(format!(
                    "{name}: {ref_code} may point to {}; name one, e.g. {ref_code}:{}.{chained}",
                    param.targets.join(", "),
                    param.targets[0]
                )))
            }
        };
        let target = registry::resource(target_name)
            .ok_or_else(|| SearchError(format!("{name}: chaining into {target_name} is not supported")))?;
        if chained.contains('.') {
            return Err(SearchError(format!(
                "{name}: only one level of chaining is supported"
            )));
        }
        let inner = filter(target, chained, raw, base)?;
        return Ok(Filter::Chain {
            param,
            target,
            inner: Box::new(inner),
        });
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    let values = split_or(raw);
    if values.len() > MAX_OR_VALUES {
        return Err(SearchError(format!(
            "{name}: at most {MAX_OR_VALUES} comma-separated values"
        )));
    }
    match code {
        "_id" => {
            if modifier.is_some() {
                return Err(SearchError(format!("{name}: _id takes no modifier")));
            }
            for v in &values {
                if !is_valid_id(v) {
                    return Err(SearchError(format!("_id: '{v}' is not a valid id")));
                }
            }
            return Ok(Filter::Id(values));
        }
        "_lastUpdated" => {
            if modifier.is_some() {
                return Err(SearchError(format!("{name}: _lastUpdated takes no modifier")));
            }
            let vs = values
                .iter()
                .map(|v| date_value(v, name))
                .collect::<Result<_, _>>()?;
            return Ok(Filter::LastUpdated(vs));
        }
        _ => {}
    }
    let param = def
        .param(code)
        .ok_or_else(|| SearchError(format!("unknown search parameter '{code}' for {}", def.name)))?;
    if let Some(m) = modifier {
        if !allowed_modifier(param, m) {
            return Err(SearchError(format!(
                "{name}: modifier ':{m}' is not supported for {} parameters",
                param.kind.as_str()
            )));
        }
        if m == "missing" {
            return match raw {
                "true" => Ok(Filter::Missing { param, missing: true }),
                "false" => Ok(Filter::Missing {
                    param,
                    missing: false,
                }),
                _ => Err(SearchError(format!("{name}: must be true or false"))),
            };
        }
    }
    let parsed = values
        .iter()
        .map(|v| value(param, modifier, v, name, base))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Filter::Param {
        param,
        negate: modifier == Some("not"),
        values: parsed,
    })
}

fn include(def: &'static ResourceDef, raw: &str, rev: bool, iterate: bool) -> Result<Include, SearchError> {
    let which = if rev { "_revinclude" } else { "_include" };
    let allowed = if rev { def.revincludes } else { def.includes };
    let mut parts = raw.split(':');
    let (src, code, target) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    let base = format!("{src}:{code}");
    let listed = allowed
        .iter()
        .any(|a| *a == raw || *a == base || a.starts_with(&format!("{raw}:")))
        || allowed
            .iter()
            .any(|a| a.starts_with(&format!("{base}:")) && target.is_none());
    if !listed || parts.next().is_some() {
        return Err(SearchError(format!(
            "{which}={raw} is not supported for {} (supported: {})",
            def.name,
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        )));
    }
    let source =
        registry::resource(src).ok_or_else(|| SearchError(format!("{which}: unknown type {src}")))?;
    let param = source
        .param(code)
        .filter(|p| p.kind == ParamKind::Reference)
        .ok_or_else(|| SearchError(format!("{which}: {src} has no reference parameter {code}")))?;
    let target_type = match target {
        Some(t) => Some(
            *param
                .targets
                .iter()
                .find(|x| **x == t)
                .ok_or_else(|| SearchError(format!("{which}: {t} is not a target of {src}:{code}")))?,
        ),
        None => None,
    };
    Ok(Include {
        source,
        param,
        target_type,
        iterate,
    })
}

/// Parses a search on `resource_type` from its query (or form) pairs.
pub fn parse(
    resource_type: &str,
    pairs: &[(String, String)],
    opts: ParseOptions,
) -> Result<SearchRequest, SearchError> {
    let def = registry::resource(resource_type)
        .ok_or_else(|| SearchError(format!("resource type '{resource_type}' is not supported")))?;
    let mut req = SearchRequest {
        resource: def,
        filters: Vec::new(),
        count: DEFAULT_COUNT,
        sort: None,
        cursor: None,
        summary: Summary::False,
        total: Total::Default,
        elements: None,
        includes: Vec::new(),
        revincludes: Vec::new(),
        ignored: Vec::new(),
        canonical_query: Vec::new(),
    };
    if pairs.len() > MAX_PAIRS {
        return Err(SearchError(format!(
            "{} search parameters; at most {MAX_PAIRS} are accepted",
            pairs.len()
        )));
    }
    for (name, raw) in pairs {
        if raw.is_empty() {
            continue; // "Empty parameters are not an error - they are just ignored" (R4 §3.1.1.3)
        }
        let keep = |req: &mut SearchRequest| req.canonical_query.push((name.clone(), raw.clone()));
        match name.as_str() {
            "_count" => {
                let n: usize = raw
                    .parse()
                    .map_err(|_| SearchError(format!("_count: '{raw}' is not a non-negative integer")))?;
                req.count = n.min(MAX_COUNT);
                if n == 0 {
                    req.summary = Summary::Count;
                }
            }
            "_cursor" => {
                req.cursor = Some(
                    Cursor::decode(raw)
                        .ok_or_else(|| SearchError("_cursor: not a cursor from a next link".into()))?,
                );
            }
            "_format" | "_pretty" => {} // checked by the HTTP layer; JSON only
            "_sort" => {
                if raw.contains(',') {
                    return Err(SearchError("_sort: one sort key is supported".into()));
                }
                let (descending, key) = match raw.strip_prefix('-') {
                    Some(k) => (true, k),
                    None => (false, raw.as_str()),
                };
                let key = match key {
                    "_lastUpdated" => SortKey::LastUpdated,
                    "_id" => SortKey::Id,
                    k => match def.param(k) {
                        Some(p) if p.kind == ParamKind::Date => SortKey::Date(p),
                        Some(p) if p.kind == ParamKind::String => SortKey::String(p),
                        _ => return Err(SearchError(format!("_sort: cannot sort {} by '{k}' (date and string parameters, _id and _lastUpdated can)", def.name))),
                    },
                };
                req.sort = Some(Sort { key, descending });
                keep(&mut req);
            }
            "_summary" => {
                req.summary = match raw.as_str() {
                    "count" => Summary::Count,
                    "false" => Summary::False,
                    "data" => Summary::Data,
                    "text" => Summary::Text,
                    _ => {
                        return Err(SearchError(format!(
                            "_summary={raw} is not supported (count, data, text, false)"
                        )))
                    }
                };
                keep(&mut req);
            }
            "_total" => {
                req.total = match raw.as_str() {
                    "none" => Total::None,
                    "estimate" | "accurate" => Total::Accurate,
                    _ => {
                        return Err(SearchError(format!(
                            "_total={raw}: must be none, estimate or accurate"
                        )))
                    }
                };
                keep(&mut req);
            }
            "_elements" => {
                let els: Vec<String> = raw
                    .split(',')
                    .map(|s| s.trim().trim_end_matches("[x]").to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if els.iter().any(|e| !e.bytes().all(|b| b.is_ascii_alphanumeric())) {
                    return Err(SearchError(
                        "_elements: a comma-separated list of element names".into(),
                    ));
                }
                if els.len() > MAX_ELEMENTS {
                    return Err(SearchError(format!(
                        "_elements: {} names; at most {MAX_ELEMENTS} are accepted",
                        els.len()
                    )));
                }
                req.elements = Some(els);
                keep(&mut req);
            }
            "_include" | "_include:iterate" | "_revinclude" | "_revinclude:iterate" => {
                let rev = name.starts_with("_revinclude");
                match include(def, raw, rev, name.ends_with(":iterate")) {
                    Ok(inc) => {
                        if rev {
                            req.revincludes.push(inc)
                        } else {
                            req.includes.push(inc)
                        }
                        keep(&mut req);
                    }
                    Err(e) if opts.lenient => req.ignored.push(e.0),
                    Err(e) => return Err(e),
                }
            }
            _ => match filter(def, name, raw, opts.base.as_deref()) {
                Ok(f) => {
                    req.filters.push(f);
                    keep(&mut req);
                }
                Err(e) if opts.lenient && e.0.starts_with("unknown search parameter") => {
                    req.ignored.push(e.0)
                }
                Err(e) => return Err(e),
            },
        }
    }
    if req.filters.len() > MAX_FILTERS {
        return Err(SearchError(format!(
            "at most {MAX_FILTERS} search parameters may be combined"
        )));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn parse_obs(pairs: &[(&str, &str)]) -> Result<SearchRequest, SearchError> {
        parse("Observation", &q(pairs), ParseOptions::default())
    }

    #[test]
    fn tokens() {
        let r = parse_obs(&[
            ("code", "http://loinc.org|8867-4,|X,http://s|"),
            ("status:not", "final"),
        ])
        .unwrap();
        let Filter::Param { values, negate, .. } = &r.filters[0] else {
            panic!()
        };
        assert!(!negate);
        assert_eq!(
            values[0],
            Value::Token {
                system: TokenSystem::Exact("http://loinc.org".into()),
                code: Some("8867-4".into())
            }
        );
        assert_eq!(
            values[1],
            Value::Token {
                system: TokenSystem::None,
                code: Some("x".into())
            }
        );
        assert_eq!(
            values[2],
            Value::Token {
                system: TokenSystem::Exact("http://s".into()),
                code: None
            }
        );
        assert!(matches!(&r.filters[1], Filter::Param { negate: true, .. }));
        assert!(parse_obs(&[("code", "|")]).is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(split_or(r"a\,b,c"), vec!["a,b", "c"]);
        assert_eq!(split_pipe(r"a\|b|c"), (Some("a|b".into()), "c".into()));
    }

    #[test]
    fn references_and_chains() {
        let r = parse_obs(&[("patient", "Patient/123"), ("patient:Patient", "9")]).unwrap();
        assert!(
            matches!(&r.filters[0], Filter::Param { values, .. } if values[0] == Value::Reference { target_type: Some("Patient".into()), id: "123".into() })
        );
        assert!(parse_obs(&[("patient", "Practitioner/1")]).is_err());
        let r = parse(
            "PractitionerRole",
            &q(&[("practitioner.name", "smith")]),
            ParseOptions::default(),
        )
        .unwrap();
        assert!(matches!(&r.filters[0], Filter::Chain { target, .. } if target.name == "Practitioner"));
        let other = "https://other.example/fhir/Patient/5";
        let r = parse_obs(&[("patient", other)]).unwrap();
        assert!(
            matches!(&r.filters[0], Filter::Param { values, .. } if values[0] == Value::ReferenceUrl(other.into()))
        );
        let opts = ParseOptions {
            lenient: false,
            base: Some("https://flare.example/fhir".into()),
        };
        let r = parse(
            "Observation",
            &q(&[("patient", "https://flare.example/fhir/Patient/5")]),
            opts,
        )
        .unwrap();
        assert!(
            matches!(&r.filters[0], Filter::Param { values, .. } if values[0] == Value::Reference { target_type: Some("Patient".into()), id: "5".into() })
        );
    }

    #[test]
    fn unknown_and_lenient() {
        assert!(parse_obs(&[("foo", "1")]).is_err());
        let r = parse(
            "Observation",
            &q(&[("foo", "1")]),
            ParseOptions {
                lenient: true,
                base: None,
            },
        )
        .unwrap();
        assert_eq!(r.ignored.len(), 1);
        assert!(parse_obs(&[("date", "gt2020-13")]).is_err());
        assert!(parse_obs(&[("_count", "-1")]).is_err());
        assert!(parse_obs(&[("code:exact", "x")]).is_err());
        assert!(parse("Nope", &[], ParseOptions::default()).is_err());
    }

    #[test]
    fn includes() {
        let r = parse(
            "MedicationRequest",
            &q(&[
                ("_include", "MedicationRequest:medication"),
                ("_revinclude", "Provenance:target"),
            ]),
            ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(r.includes[0].param.code, "medication");
        assert_eq!(r.revincludes[0].source.name, "Provenance");
        assert!(parse_obs(&[("_include", "Observation:patient")]).is_err());
        let r = parse(
            "CareTeam",
            &q(&[("_include", "CareTeam:participant:Practitioner")]),
            ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(r.includes[0].target_type, Some("Practitioner"));
    }

    #[test]
    fn dates_and_paging() {
        let r = parse_obs(&[
            ("date", "ge2020-01-01"),
            ("_count", "10000"),
            ("_cursor", "17~abc"),
        ])
        .unwrap();
        assert!(
            matches!(&r.filters[0], Filter::Param { values, .. } if matches!(values[0], Value::Date(DatePrefix::Ge, _)))
        );
        assert_eq!(r.count, MAX_COUNT);
        assert_eq!(
            r.cursor,
            Some(Cursor {
                rid: 17,
                sort_value: Some("abc".into())
            })
        );
        assert!(!r
            .canonical_query
            .iter()
            .any(|(k, _)| k == "_cursor" || k == "_count"));
    }
}

//! Generates `core/src/registry/generated.rs` from `../shared/reference`.
//!
//! The search-parameter registry is the single source of what Flare can search:
//! the edge's search compiler, index extraction, CapabilityStatement and the
//! SDK's typed parameters are all derived from it. Sources:
//! - US Core 6.1.0 server CapabilityStatement (types, profiles, params, combos,
//!   `_include`/`_revinclude`) and its SearchParameter resources,
//! - FHIR R4 base SearchParameters for the types US Core does not profile,
//! - the FHIR R4 Patient CompartmentDefinition,
//! - the 4.0.0 / 6.1.0 required-combination tables.
//!
//! The output is byte-for-byte what the former `scripts/gen-registry.py` wrote
//! (string literals are spelled like Python's `json.dumps`, descriptions are cut
//! at 200 characters, not bytes), but for the two header lines naming the generator.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};
use regex::Regex;
use serde_json::Value;

/// Types Flare serves beyond the US Core CapabilityStatement (the vendor lists them).
const EXTRA_TYPES: &[&str] = &[
    "Appointment",
    "MedicationAdministration",
    "MedicationStatement",
    "Group",
];
/// Types in the CapabilityStatement without US Core params that get the base R4 params
/// (besides [`EXTRA_TYPES`]).
const BASE_PARAM_TYPES: &[&str] = &["Provenance", "Medication", "Endpoint"];
/// FHIR R4 choice elements (`[x]`) that the expressions use without a type.
const CHOICE: &[&str] = &[
    "effective",
    "onset",
    "abatement",
    "occurrence",
    "performed",
    "deceased",
    "medication",
    "value",
    "due",
    "item",
    "occurred",
    "timing",
    "multipleBirth",
];
/// The only kinds US Core and the extra types use.
const SUPPORTED_KINDS: &[&str] = &["token", "string", "date", "reference"];

/// What one generator run produced.
#[derive(Debug)]
pub struct Generated {
    /// The full text of `generated.rs`.
    pub text: String,
    /// Parameters or paths the generator left out, with the reason.
    pub warnings: Vec<String>,
    /// How many resource types the registry has.
    pub resource_types: usize,
}

/// The default reference directory: `<repo>/../shared/reference`.
pub fn default_reference_dir(root: &Path) -> PathBuf {
    root.parent().unwrap_or(root).join("shared").join("reference")
}

/// The generated file inside the repository.
pub fn output_path(root: &Path) -> PathBuf {
    root.join("core")
        .join("src")
        .join("registry")
        .join("generated.rs")
}

fn load(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[allow(clippy::expect_used, reason = "the patterns are constants of this file")]
fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid regex"))
}

/// A string spelled as Python's `json.dumps` spells it (`ensure_ascii`): the
/// form the generated file has always used for its literals.
pub fn py_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn rs(s: &str) -> String {
    py_json_str(s)
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Python's `str.strip()` for the whitespace these files can hold.
fn strip(s: &str) -> &str {
    s.trim()
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| o.get(key))
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key).and_then(Value::as_str)
}

fn req_str<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    get_str(v, key).ok_or_else(|| anyhow!("missing string field {key:?}"))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    get(v, key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn str_list<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    list(v, key).iter().filter_map(Value::as_str).collect()
}

/// One parsed step of a restricted FHIRPath expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Choice(String, Option<String>),
    ResolveIs(String),
    WhereUrl(String),
}

type PathSteps = Vec<Step>;

fn split_top(expr: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in expr.chars() {
        if ch == '(' {
            depth += 1;
        } else if ch == ')' {
            depth -= 1;
        }
        if ch == sep && depth == 0 {
            parts.push(strip(&cur).to_string());
            cur.clear();
        } else {
            cur.push(ch);
        }
    }
    parts.push(strip(&cur).to_string());
    parts
}

/// One union term to a list of steps; `Ok(None)` when it belongs to another type.
fn parse_term(term: &str, rtype: &str) -> Result<Option<PathSteps>, String> {
    static AS_PAREN: OnceLock<Regex> = OnceLock::new();
    static AS_PLAIN: OnceLock<Regex> = OnceLock::new();
    static TOKENS: OnceLock<Regex> = OnceLock::new();
    static RESOLVE: OnceLock<Regex> = OnceLock::new();
    static URL: OnceLock<Regex> = OnceLock::new();
    static AS_FN: OnceLock<Regex> = OnceLock::new();

    let mut t = strip(term).to_string();
    let mut as_type = None;
    let caps = re(&AS_PAREN, r"^\((.*) as (\w+)\)$")
        .captures(&t)
        .or_else(|| re(&AS_PLAIN, r"^(.*) as (\w+)$").captures(&t));
    if let Some(m) = caps {
        let (inner, ty) = (strip(&m[1]).to_string(), m[2].to_string());
        t = inner;
        as_type = Some(ty);
    }
    if !(t.starts_with(&format!("{rtype}.")) || t == rtype) {
        return Ok(None);
    }
    let rest = &t[rtype.len()..];
    let tokens: Vec<&str> = re(
        &TOKENS,
        r"\.(where\([^()]*(?:\([^()]*\)[^()]*)*\)|as\(\w+\)|ofType\(\w+\)|\w+)",
    )
    .captures_iter(rest)
    .map(|c| c.get(1).map_or("", |m| m.as_str()))
    .collect();
    let joined: String = tokens.iter().map(|x| format!(".{x}")).collect();
    if joined != rest {
        return Err(format!("unparsed: {term}"));
    }
    let mut steps: PathSteps = Vec::new();
    for tok in tokens {
        if let Some(m) = re(&RESOLVE, r"^where\(resolve\(\) is (\w+)\)$").captures(tok) {
            steps.push(Step::ResolveIs(m[1].to_string()));
            continue;
        }
        if let Some(m) = re(&URL, r"^where\(url\s*=\s*'([^']+)'\)$").captures(tok) {
            steps.push(Step::WhereUrl(m[1].to_string()));
            continue;
        }
        if let Some(m) = re(&AS_FN, r"^(?:as|ofType)\((\w+)\)$").captures(tok) {
            match steps.last_mut() {
                Some(Step::Choice(name, _)) => {
                    let name = name.clone();
                    if let Some(last) = steps.last_mut() {
                        *last = Step::Choice(name, Some(upper_first(&m[1])));
                    }
                }
                Some(_) => return Err(format!("as() on non-choice: {term}")),
                None => return Err(format!("as() without a step: {term}")),
            }
            continue;
        }
        if tok.starts_with("where(") {
            return Err(format!("unsupported where: {term}"));
        }
        if CHOICE.contains(&tok) {
            steps.push(Step::Choice(tok.to_string(), None));
        } else {
            steps.push(Step::Field(tok.to_string()));
        }
    }
    if let Some(ty) = as_type {
        match steps.last_mut() {
            Some(Step::Choice(name, _)) => {
                let name = name.clone();
                if let Some(last) = steps.last_mut() {
                    *last = Step::Choice(name, Some(upper_first(&ty)));
                }
            }
            _ => return Err(format!("as on non-choice: {term}")),
        }
    }
    Ok(Some(steps))
}

fn parse_expr(expr: &str, rtype: &str) -> Result<Vec<PathSteps>, String> {
    let mut paths = Vec::new();
    for term in split_top(expr, '|') {
        if let Some(p) = parse_term(&term, rtype)? {
            paths.push(p);
        }
    }
    Ok(paths)
}

fn step_rs(st: &Step) -> String {
    match st {
        Step::Field(n) => format!("Step::Field({})", rs(n)),
        Step::Choice(n, t) => {
            let ty = match t.as_deref() {
                Some(t) if !t.is_empty() => format!("Some({})", rs(t)),
                _ => "None".to_string(),
            };
            format!("Step::Choice({}, {ty})", rs(n))
        }
        Step::ResolveIs(t) => format!("Step::ResolveIs({})", rs(t)),
        Step::WhereUrl(u) => format!("Step::WhereUrl({})", rs(u)),
    }
}

fn paths_rs(paths: &[PathSteps]) -> String {
    let inner: Vec<String> = paths
        .iter()
        .map(|p| format!("&[{}]", p.iter().map(step_rs).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("&[{}]", inner.join(", "))
}

fn expectation(ext_list: &[Value]) -> Option<String> {
    for e in ext_list {
        if get_str(e, "url")
            .unwrap_or("")
            .ends_with("capabilitystatement-expectation")
        {
            return get_str(e, "valueCode").map(str::to_string);
        }
    }
    None
}

fn kind_rs(k: &str) -> String {
    format!("ParamKind::{}", upper_first(k))
}

fn joined_literals<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(rs).collect::<Vec<_>>().join(", ")
}

/// A map that keeps first-insertion order, like a Python dict.
#[derive(Debug)]
struct Ordered<V> {
    entries: Vec<(String, V)>,
    index: HashMap<String, usize>,
}

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<V> Ordered<V> {
    fn insert(&mut self, key: &str, value: V) {
        match self.index.get(key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.to_string(), self.entries.len());
                self.entries.push((key.to_string(), value));
            }
        }
    }
    fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }
    fn entry_or_default(&mut self, key: &str) -> &mut V
    where
        V: Default,
    {
        if !self.index.contains_key(key) {
            self.insert(key, V::default());
        }
        let i = self.index[key];
        &mut self.entries[i].1
    }
    fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// (expectation, version) pairs of one combination.
type Exps = BTreeSet<(Option<String>, String)>;
/// Per resource type, per combination string (`patient+code`), in table order.
type ComboTable = Ordered<Ordered<Exps>>;

/// Required combinations from one table, per resource type.
fn read_combos(path: &Path, version: &str) -> Result<ComboTable> {
    static HEAD: OnceLock<Regex> = OnceLock::new();
    static LINE: OnceLock<Regex> = OnceLock::new();
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = ComboTable::default();
    let mut rtype: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if let Some(m) = re(&HEAD, r"^### (\w+) ").captures(line) {
            rtype = Some(m[1].to_string());
            continue;
        }
        if let (Some(m), Some(t)) = (
            re(&LINE, r"^\s+- (SHALL|SHOULD): ([\w+\-]+)\s*$").captures(line),
            rtype.as_deref(),
        ) {
            out.entry_or_default(t)
                .entry_or_default(&m[2])
                .insert((Some(m[1].to_string()), version.to_string()));
        }
    }
    Ok(out)
}

/// A search parameter chosen for a resource type: (name, definition, from US Core, expectation).
type Chosen<'a> = (String, &'a Value, bool, Option<String>);

/// Generates the registry source from the reference directory.
pub fn generate(reference: &Path) -> Result<Generated> {
    if !reference.is_dir() {
        bail!(
            "reference directory {} is missing (expected ../shared/reference beside the repository)",
            reference.display()
        );
    }
    let uscore_dir = reference.join("us-core-6.1.0");
    let cs = load(&uscore_dir.join("capabilitystatement-us-core-server.json"))?;
    let mut sp_files: Vec<PathBuf> = fs::read_dir(&uscore_dir)
        .with_context(|| format!("listing {}", uscore_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("searchparameter-") && n.ends_with(".json"))
        })
        .collect();
    sp_files.sort();
    let mut uscore: HashMap<String, Value> = HashMap::new();
    for f in sp_files {
        let d = load(&f)?;
        let url = req_str(&d, "url")
            .with_context(|| f.display().to_string())?
            .to_string();
        uscore.insert(url, d);
    }
    let base_bundle = load(&reference.join("fhir-r4").join("search-parameters.json"))?;
    let mut base: Ordered<Value> = Ordered::default();
    for e in list(&base_bundle, "entry") {
        let r =
            get(e, "resource").ok_or_else(|| anyhow!("search-parameters.json: entry without resource"))?;
        base.insert(req_str(r, "url")?, r.clone());
    }
    let compdef = load(
        &reference
            .join("fhir-r4")
            .join("compartmentdefinition-patient.json"),
    )?;
    let mut compartment: HashMap<String, Vec<String>> = HashMap::new();
    for r in list(&compdef, "resource") {
        let params = str_list(r, "param").into_iter().map(str::to_string).collect();
        compartment.insert(req_str(r, "code")?.to_string(), params);
    }

    let base_param = |rtype: &str, code: &str| -> Option<&Value> {
        base.values()
            .find(|d| str_list(d, "base").contains(&rtype) && get_str(d, "code") == Some(code))
    };

    let combos_by_version = [
        read_combos(&reference.join("us-core-6.1.0-search-requirements.txt"), "6.1.0")?,
        read_combos(&reference.join("us-core-4.0.0-search-requirements.txt"), "4.0.0")?,
    ];

    let mut sorted_base: Vec<&Value> = base.values().collect();
    sorted_base.sort_by(|a, b| {
        get_str(a, "code")
            .unwrap_or("")
            .cmp(get_str(b, "code").unwrap_or(""))
    });

    let empty = Value::Object(Default::default());
    let mut warnings = Vec::new();
    let mut resources = Vec::new();
    let rest0 = get(&cs, "rest")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .ok_or_else(|| anyhow!("CapabilityStatement without rest"))?;
    let mut cs_types: HashMap<String, &Value> = HashMap::new();
    for r in list(rest0, "resource") {
        cs_types.insert(req_str(r, "type")?.to_string(), r);
    }
    let mut type_names: BTreeSet<String> = cs_types.keys().cloned().collect();
    type_names.extend(EXTRA_TYPES.iter().map(|s| s.to_string()));

    for rtype in &type_names {
        let rtype = rtype.as_str();
        let r: &Value = cs_types.get(rtype).copied().unwrap_or(&empty);
        let mut params: Vec<Chosen> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for p in list(r, "searchParam") {
            let name = req_str(p, "name")?;
            let definition = req_str(p, "definition")?;
            let (d, is_uscore) = match (uscore.get(definition), base.get(definition)) {
                (Some(d), _) => (d, true),
                (None, Some(d)) => (d, false),
                (None, None) => {
                    warnings.push(format!("{rtype}.{name}: no definition"));
                    continue;
                }
            };
            params.push((name.to_string(), d, is_uscore, expectation(list(p, "extension"))));
            seen.insert(name.to_string());
        }
        if EXTRA_TYPES.contains(&rtype) || BASE_PARAM_TYPES.contains(&rtype) {
            for d in &sorted_base {
                let code = req_str(d, "code")?;
                if str_list(d, "base").contains(&rtype)
                    && !seen.contains(code)
                    && SUPPORTED_KINDS.contains(&req_str(d, "type")?)
                    && !code.starts_with('_')
                {
                    params.push((code.to_string(), d, false, None));
                    seen.insert(code.to_string());
                }
            }
        }
        // reference params that the CapabilityStatement's _include values name
        for inc in str_list(r, "searchInclude") {
            let name = inc
                .split(':')
                .nth(1)
                .ok_or_else(|| anyhow!("{rtype}: _include {inc} without a ':'"))?;
            if !seen.contains(name) {
                match base_param(rtype, name) {
                    Some(d) => {
                        params.push((name.to_string(), d, false, None));
                        seen.insert(name.to_string());
                    }
                    None => warnings.push(format!("{rtype}: _include {inc} has no definition")),
                }
            }
        }
        // params named in the combination tables but absent from the CapabilityStatement
        for table in &combos_by_version {
            let Some(combos) = table.get(rtype) else { continue };
            for (combo, _) in &combos.entries {
                for name in combo.split('+') {
                    if !seen.contains(name) && name != "_id" {
                        match base_param(rtype, name) {
                            Some(d) => {
                                params.push((name.to_string(), d, false, None));
                                seen.insert(name.to_string());
                            }
                            None => {
                                warnings.push(format!("{rtype}.{name}: in combination table, no definition"))
                            }
                        }
                    }
                }
            }
        }
        let mut prs = Vec::new();
        for (name, d, is_uscore, exp) in &params {
            let kind = req_str(d, "type")?;
            if !SUPPORTED_KINDS.contains(&kind) {
                warnings.push(format!("{rtype}.{name}: type {kind} not supported"));
                continue;
            }
            let paths = if name == "_id" {
                vec![vec![Step::Field("id".to_string())]]
            } else {
                match parse_expr(get_str(d, "expression").unwrap_or(""), rtype) {
                    Ok(p) => p,
                    Err(e) => {
                        warnings.push(format!("{rtype}.{name}: {e}"));
                        continue;
                    }
                }
            };
            if paths.is_empty() {
                warnings.push(format!("{rtype}.{name}: no path for type"));
                continue;
            }
            let description = get_str(d, "description").unwrap_or("");
            let first_line: String = description
                .split('\n')
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            prs.push(format!(
                "        SearchParamDef {{
            code: {code},
            kind: {kind},
            definition: {definition},
            source: Source::{source},
            expectation: {expectation},
            paths: {paths},
            targets: &[{targets}],
            comparators: &[{comparators}],
            modifiers: &[{modifiers}],
            documentation: {documentation},
        }},",
                code = rs(name),
                kind = kind_rs(kind),
                definition = rs(req_str(d, "url")?),
                source = if *is_uscore { "UsCore" } else { "BaseR4" },
                expectation = rs(exp.as_deref().filter(|e| !e.is_empty()).unwrap_or("MAY")),
                paths = paths_rs(&paths),
                targets = joined_literals(str_list(d, "target")),
                comparators = joined_literals(str_list(d, "comparator")),
                modifiers = joined_literals(str_list(d, "modifier")),
                documentation = rs(&first_line),
            ));
        }
        // Compartment membership paths, from the base definitions of the compartment params.
        let mut comp_paths = Vec::new();
        for cp in compartment.get(rtype).map(Vec::as_slice).unwrap_or(&[]) {
            if cp == "{def}" {
                continue;
            }
            let Some(d) = base_param(rtype, cp) else {
                warnings.push(format!("{rtype}: compartment param {cp} has no definition"));
                continue;
            };
            match parse_expr(get_str(d, "expression").unwrap_or(""), rtype) {
                Ok(p) => comp_paths.extend(p),
                Err(e) => warnings.push(format!("{rtype}: compartment {cp}: {e}")),
            }
        }
        let mut merged: BTreeMap<String, Exps> = BTreeMap::new();
        for table in &combos_by_version {
            if let Some(combos) = table.get(rtype) {
                for (combo, exps) in &combos.entries {
                    merged
                        .entry(combo.clone())
                        .or_default()
                        .extend(exps.iter().cloned());
                }
            }
        }
        for e in list(r, "extension") {
            if get_str(e, "url")
                .unwrap_or("")
                .ends_with("capabilitystatement-search-parameter-combination")
            {
                let inner = list(e, "extension");
                let names: Vec<&str> = inner
                    .iter()
                    .filter(|x| get_str(x, "url") == Some("required"))
                    .map(|x| req_str(x, "valueString"))
                    .collect::<Result<_>>()?;
                merged
                    .entry(names.join("+"))
                    .or_default()
                    .insert((expectation(inner), "6.1.0".to_string()));
            }
        }
        let mut combos = Vec::new();
        for (combo, exps) in &merged {
            let exp = if exps.iter().any(|x| x.0.as_deref() == Some("SHALL")) {
                "SHALL"
            } else {
                "SHOULD"
            };
            let versions: BTreeSet<&str> = exps.iter().map(|x| x.1.as_str()).collect();
            combos.push(format!(
                "            Combination {{ expectation: {}, params: &[{}], versions: &[{}] }},",
                rs(exp),
                joined_literals(combo.split('+')),
                joined_literals(versions),
            ));
        }
        resources.push(format!(
            "    ResourceDef {{
        name: {name},
        us_core: {us_core},
        profiles: &[{profiles}],
        params: &[
{params}
        ],
        includes: &[{includes}],
        revincludes: &[{revincludes}],
        combinations: &[
{combos}
        ],
        compartment: {compartment},
    }},",
            name = rs(rtype),
            us_core = cs_types.contains_key(rtype),
            profiles = joined_literals(str_list(r, "supportedProfile")),
            params = prs.join("\n"),
            includes = joined_literals(str_list(r, "searchInclude")),
            revincludes = joined_literals(str_list(r, "searchRevInclude")),
            combos = combos.join("\n"),
            compartment = paths_rs(&comp_paths),
        ));
    }

    let mut all_types: BTreeSet<&str> = BTreeSet::new();
    for r in list(&compdef, "resource") {
        all_types.insert(req_str(r, "code")?);
    }
    for d in base.values() {
        for b in str_list(d, "base") {
            if b != "Resource" && b != "DomainResource" {
                all_types.insert(b);
            }
        }
    }

    let mut text = String::new();
    text.push_str("// @generated by `cargo xtask registry` from ../shared/reference. Do not edit.\n");
    text.push_str("// Regenerate with `cargo xtask registry`; `cargo test -p xtask` checks it.\n\n");
    text.push_str("use super::{Combination, ParamKind, ResourceDef, SearchParamDef, Source, Step};\n\n");
    text.push_str("/// Every resource type Flare serves, sorted by name.\n");
    text.push_str("pub static RESOURCES: &[ResourceDef] = &[\n");
    text.push_str(&resources.join("\n"));
    text.push_str("\n];\n\n");
    text.push_str(
        "/// Every FHIR R4 resource type name (stored and read even when not searchable), sorted.\n",
    );
    text.push_str("pub static ALL_R4_TYPES: &[&str] = &[\n");
    for t in all_types {
        let _ = writeln!(text, "    {},", rs(t));
    }
    text.push_str("];\n");
    Ok(Generated {
        text,
        warnings,
        resource_types: resources.len(),
    })
}

/// `cargo xtask registry [--check] [REFERENCE_DIR]`: writes the generated file,
/// or with `check` fails when the committed one differs.
pub fn run(root: &Path, reference: Option<PathBuf>, check: bool) -> Result<()> {
    let reference = reference.unwrap_or_else(|| default_reference_dir(root));
    let out = output_path(root);
    let generated = generate(&reference)?;
    if check {
        let current = fs::read_to_string(&out).unwrap_or_default();
        if current != generated.text {
            bail!(
                "{} is out of date with {}: run `cargo xtask registry`",
                out.display(),
                reference.display()
            );
        }
        eprintln!("registry is up to date with the references");
        return Ok(());
    }
    fs::write(&out, &generated.text).with_context(|| format!("writing {}", out.display()))?;
    for w in &generated.warnings {
        eprintln!("note: {w}");
    }
    eprintln!(
        "wrote {}: {} resource types",
        out.display(),
        generated.resource_types
    );
    Ok(())
}

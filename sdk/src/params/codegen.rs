//! The generator of `sdk/src/params/generated.rs` from the registry in
//! `flare-core`. Not part of the library: `flare-sdk-dts params` (src/bin/dts.rs)
//! and `tests/generated_up_to_date.rs` include this file by path.
//!
//! The output is written as rustfmt (max_width 110) would format it, so the
//! committed file is rustfmt-clean and the test compares it byte for byte.

use std::fmt::Write;

use flare_core::registry::{ParamKind, ResourceDef, Source, Step, RESOURCES};

/// rustfmt's line width in this repository (rustfmt.toml).
const MAX_WIDTH: usize = 110;

/// rustfmt's width for calls, tuples and chains: 60 % of max_width.
const SMALL_WIDTH: usize = 66;

/// The longest `&[...]` of the `ALL` table rustfmt keeps on one line in a
/// tuple (measured: 70 stays, 73 goes vertical).
const ARRAY_WIDTH: usize = 70;

/// Method names a parameter may not take (the builders' own methods).
const RESERVED: &[&str] = &[
    "new",
    "count",
    "sort",
    "sort_desc",
    "include",
    "revinclude",
    "elements",
    "total",
    "summary",
    "pairs",
    "into_pairs",
    "resource_type",
    "check",
];

/// Rust keywords (strict and reserved) that need a suffix as method names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try", "typeof",
    "unsized", "virtual", "yield",
];

/// One parameter method of a builder.
struct Param {
    code: &'static str,
    method: String,
    /// The stem of the derived methods (`type` for `type_missing`).
    stem: String,
    kind: ParamKind,
    /// The definition allows comparators (a `_cmp` method).
    comparators: bool,
    /// Registry parameters take `:missing` and their kind's modifiers;
    /// `_id` and `_lastUpdated` take none (the edge's parser).
    modifiers: bool,
    doc: String,
}

/// The words of a parameter code: `clinical-status` → `clinical`, `status`;
/// `_lastUpdated` → `last`, `updated`.
fn words(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in code.chars() {
        if c == '-' || c == '_' || c == '.' || c == ':' {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if c.is_ascii_uppercase() && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            current.push(c.to_ascii_lowercase());
        } else {
            current.push(c.to_ascii_lowercase());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `clinical-status` → `clinical_status`, `_id` → `id`, `type` → `type_`.
pub fn method_name(code: &str) -> String {
    let name = words(code).join("_");
    if KEYWORDS.contains(&name.as_str()) {
        name + "_"
    } else {
        name
    }
}

/// `participant:PractitionerRole` → `ParticipantPractitionerRole`.
fn camel(code: &str) -> String {
    words(code)
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn render_path(type_name: &str, path: &[Step]) -> String {
    let mut out = type_name.to_string();
    for step in path {
        match step {
            Step::Field(f) => {
                let _ = write!(out, ".{f}");
            }
            Step::Choice(n, Some(t)) => {
                let _ = write!(out, ".{n}{t}");
            }
            Step::Choice(n, None) => {
                let _ = write!(out, ".{n}[x]");
            }
            Step::ResolveIs(t) => {
                let _ = write!(out, ".where(resolve() is {t})");
            }
            Step::WhereUrl(u) => {
                let _ = write!(out, ".where(url = '{u}')");
            }
        }
    }
    out
}

/// One line of documentation: markdown emphasis and line breaks removed.
fn one_line(text: &str) -> String {
    let text = text.replace("**", "").replace(['\r', '\n', '\t'], " ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn params_of(r: &ResourceDef) -> Vec<Param> {
    let mut out = Vec::new();
    for (code, kind, what) in [
        (
            "_id",
            ParamKind::Token,
            "Logical ids, without the type (commas for several).",
        ),
        (
            "_lastUpdated",
            ParamKind::Date,
            "When the resource last changed (a date, optionally prefixed: `ge2024-01-01`).",
        ),
    ] {
        if r.param(code).is_none() {
            out.push(Param {
                code,
                method: method_name(code),
                stem: words(code).join("_"),
                kind,
                comparators: kind == ParamKind::Date,
                modifiers: false,
                doc: format!("`{code}` ({}, every type): {what}", kind.as_str()),
            });
        }
    }
    for p in r.params {
        let source = match p.source {
            Source::UsCore => "US Core",
            Source::BaseR4 => "FHIR R4",
        };
        let paths: Vec<String> = p.paths.iter().map(|path| render_path(r.name, path)).collect();
        let mut doc = format!(
            "`{}` ({}, {source} {}): {}",
            p.code,
            p.kind.as_str(),
            p.expectation,
            one_line(p.documentation)
        );
        if !paths.is_empty() {
            let _ = write!(doc, " (`{}`)", paths.join(" | "));
        }
        if !p.targets.is_empty() {
            let _ = write!(doc, " → {}", p.targets.join(", "));
        }
        let special = p.code == "_id" || p.code == "_lastUpdated";
        out.push(Param {
            code: p.code,
            method: method_name(p.code),
            stem: words(p.code).join("_"),
            kind: p.kind,
            comparators: !p.comparators.is_empty(),
            modifiers: !special,
            doc,
        });
    }
    out
}

/// A function signature as rustfmt writes it: on one line when it fits,
/// else one parameter per line.
fn signature(out: &mut String, name: &str, args: &[&str], ret: &str) {
    let one = format!("    pub fn {name}({}) -> {ret} {{", args.join(", "));
    if one.len() <= MAX_WIDTH {
        out.push_str(&one);
        out.push('\n');
    } else {
        let _ = writeln!(out, "    pub fn {name}(");
        for a in args {
            let _ = writeln!(out, "        {a},");
        }
        let _ = writeln!(out, "    ) -> {ret} {{");
    }
}

/// A method that records one pair and returns the builder.
fn method(out: &mut String, doc: &str, name: &str, args: &[&str], body: &str) {
    out.push('\n');
    let _ = writeln!(out, "    /// {doc}");
    signature(out, name, args, "Self");
    let _ = writeln!(out, "        {body}");
    out.push_str("        self\n    }\n");
}

/// A `match self` on a generated enum's variants, returning their strings.
fn enum_def(out: &mut String, doc: &str, name: &str, variants: &[(String, String)], as_str_doc: &str) {
    let _ = writeln!(
        out,
        "\n/// {doc}\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub enum {name} {{"
    );
    for (v, s) in variants {
        let _ = writeln!(out, "    /// `{s}`\n    {v},");
    }
    let _ = writeln!(
        out,
        "}}\n\nimpl {name} {{\n    /// {as_str_doc}\n    pub fn as_str(self) -> &'static str {{\n        match self {{"
    );
    for (v, s) in variants {
        let _ = writeln!(out, "            {name}::{v} => \"{s}\",");
    }
    out.push_str("        }\n    }\n}\n");
}

/// Enum variants for `_include`/`_revinclude` values; the type's own name is
/// dropped from its includes (`MedicationRequest:medication` → `Medication`).
fn include_variants(r: &ResourceDef, values: &[&'static str], own: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in values {
        let rest = match v.split_once(':') {
            Some((src, rest)) if own && src == r.name => rest,
            _ => v,
        };
        let variant = camel(rest);
        assert!(
            !out.iter().any(|(n, _)| *n == variant),
            "{}: two include values named {variant}",
            r.name
        );
        out.push((variant, v.to_string()));
    }
    out
}

/// A sample value of the right form for the generated tests.
fn sample(r: &ResourceDef, code: &str, kind: ParamKind) -> String {
    match kind {
        ParamKind::Token if code == "_id" => "abc".into(),
        ParamKind::Token => "http://loinc.org|1234-5".into(),
        ParamKind::String => "smith".into(),
        ParamKind::Date => "2024-01-01".into(),
        ParamKind::Reference => {
            let target = r
                .param(code)
                .and_then(|p| p.targets.first())
                .copied()
                .unwrap_or("Patient");
            format!("{target}/p1")
        }
    }
}

/// The generated Rust source of `sdk/src/params/generated.rs`.
pub fn generate() -> String {
    let mut out = String::new();
    out.push_str(
        "// @generated by `flare-sdk-dts params` (sdk/src/params/codegen.rs) from the registry in flare-core.\n\
         // Do not edit: regenerate with `cargo run -p flare-sdk --bin flare-sdk-dts -- params`;\n\
         // tests/generated_up_to_date.rs fails when this file differs from what the registry generates.\n\
         \n\
         //! One search builder per searchable resource type (see the `params` module).\n\
         \n\
         use super::{Comparator, Pairs, SearchParams, StringModifier, Summary, TokenModifier, Total, TypedSearch};\n",
    );
    let mut all = String::from(
        "\n/// Every builder's resource type and the parameter codes it has methods for.\n\
         pub const ALL: &[(&str, &[&str])] = &[\n",
    );
    let mut tests = String::from(
        "\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::params::assert_accepted as ok;\n",
    );
    for r in RESOURCES {
        let params = params_of(r);
        let builder = format!("{}Search", r.name);
        // Method names are unique and none is a builder method.
        let mut names: Vec<String> = Vec::new();
        for p in &params {
            let mut mine = vec![p.method.clone()];
            if p.modifiers {
                mine.push(format!("{}_missing", p.stem));
                if matches!(p.kind, ParamKind::Token | ParamKind::String) {
                    mine.push(format!("{}_modified", p.stem));
                }
            }
            if p.comparators {
                mine.push(format!("{}_cmp", p.stem));
            }
            for m in mine {
                assert!(
                    !RESERVED.contains(&m.as_str()) && !names.contains(&m),
                    "{}: method name {m} (parameter {}) collides",
                    r.name,
                    p.code
                );
                names.push(m);
            }
        }

        // The sort keys: _id, _lastUpdated, the date and string parameters.
        let mut sorts: Vec<(String, String)> = vec![
            ("Id".into(), "_id".into()),
            ("LastUpdated".into(), "_lastUpdated".into()),
        ];
        for p in r.params {
            if matches!(p.kind, ParamKind::Date | ParamKind::String) && !p.code.starts_with('_') {
                sorts.push((camel(p.code), p.code.to_string()));
            }
        }
        let sort_enum = format!("{}Sort", r.name);
        let includes = include_variants(r, r.includes, true);
        let revincludes = include_variants(r, r.revincludes, false);
        let include_enum = format!("{}Include", r.name);
        let revinclude_enum = format!("{}Revinclude", r.name);

        let _ = writeln!(
            out,
            "\n/// A search on `{name}` ({}): its {} registry parameters, `_id`, `_lastUpdated` and the result parameters.\n\
             #[derive(Debug, Clone, Default, PartialEq, Eq)]\n\
             #[must_use]\n\
             pub struct {builder} {{\n    pairs: Pairs,\n}}\n\nimpl {builder} {{\n    \
             /// An empty search on `{name}`.\n    pub fn new() -> Self {{\n        Self::default()\n    }}",
            if r.us_core { "US Core" } else { "FHIR R4" },
            r.params.len(),
            name = r.name,
        );
        for p in &params {
            let code = p.code;
            let m = &p.stem;
            method(
                &mut out,
                &p.doc,
                &p.method,
                &["mut self", "value: impl Into<String>"],
                &format!("self.pairs.push(\"{code}\", value);"),
            );
            if p.modifiers {
                let modifier = match p.kind {
                    ParamKind::Token => Some(("TokenModifier", "`:not`, `:text`")),
                    ParamKind::String => Some(("StringModifier", "`:exact`, `:contains`")),
                    _ => None,
                };
                if let Some((ty, which)) = modifier {
                    method(
                        &mut out,
                        &format!("`{code}` with a modifier ({which})."),
                        &format!("{m}_modified"),
                        &["mut self", &format!("modifier: {ty}"), "value: impl Into<String>"],
                        &format!("self.pairs.modified(\"{code}\", modifier, value);"),
                    );
                }
            }
            if p.comparators {
                method(
                    &mut out,
                    &format!("`{code}` with a comparison prefix (`ge`, `lt` …) before the value."),
                    &format!("{m}_cmp"),
                    &["mut self", "comparator: Comparator", "value: impl Into<String>"],
                    &format!("self.pairs.compared(\"{code}\", comparator, value);"),
                );
            }
            if p.modifiers {
                method(
                    &mut out,
                    &format!("`{code}:missing`: whether the element is absent."),
                    &format!("{m}_missing"),
                    &["mut self", "missing: bool"],
                    &format!("self.pairs.missing(\"{code}\", missing);"),
                );
            }
        }
        method(
            &mut out,
            "`_count`: the page size.",
            "count",
            &["mut self", "count: u32"],
            "self.pairs.set(\"_count\", count.to_string());",
        );
        method(
            &mut out,
            "`_sort`: ascending by `key` (replaces an earlier sort).",
            "sort",
            &["mut self", &format!("key: {sort_enum}")],
            "self.pairs.set(\"_sort\", key.as_str().to_string());",
        );
        method(
            &mut out,
            "`_sort`: descending by `key` (replaces an earlier sort).",
            "sort_desc",
            &["mut self", &format!("key: {sort_enum}")],
            "self.pairs.set(\"_sort\", format!(\"-{}\", key.as_str()));",
        );
        if !includes.is_empty() {
            method(
                &mut out,
                "`_include`: referenced resources to return too (repeat for several).",
                "include",
                &["mut self", &format!("value: {include_enum}")],
                "self.pairs.push(\"_include\", value.as_str());",
            );
        }
        if !revincludes.is_empty() {
            method(
                &mut out,
                "`_revinclude`: resources referring to the matches to return too (repeat for several).",
                "revinclude",
                &["mut self", &format!("value: {revinclude_enum}")],
                "self.pairs.push(\"_revinclude\", value.as_str());",
            );
        }
        out.push_str(
            "\n    /// `_elements`: only these elements (and the mandatory ones) of each match.\n\
             \x20   pub fn elements<I, S>(mut self, names: I) -> Self\n    where\n        I: IntoIterator<Item = S>,\n\
             \x20       S: AsRef<str>,\n    {\n        self.pairs.elements(names);\n        self\n    }\n",
        );
        method(
            &mut out,
            "`_total`: whether the Bundle carries the number of matches.",
            "total",
            &["mut self", "total: Total"],
            "self.pairs.set(\"_total\", total.as_str().to_string());",
        );
        method(
            &mut out,
            "`_summary`: the summary form of the matches.",
            "summary",
            &["mut self", "summary: Summary"],
            "self.pairs.set(\"_summary\", summary.as_str().to_string());",
        );
        out.push_str("}\n");
        let _ = writeln!(
            out,
            "\nimpl SearchParams for {builder} {{\n    fn resource_type(&self) -> &str {{\n        \"{name}\"\n    }}\n\n    \
             fn pairs(&self) -> &[(String, String)] {{\n        self.pairs.as_slice()\n    }}\n\n    \
             fn into_pairs(self) -> Vec<(String, String)> {{\n        self.pairs.into_vec()\n    }}\n}}\n\n\
             impl TypedSearch for {builder} {{\n    const RESOURCE_TYPE: &'static str = \"{name}\";\n}}",
            name = r.name
        );
        enum_def(
            &mut out,
            &format!(
                "Sort keys of `{}`: `_id`, `_lastUpdated` and its date and string parameters.",
                r.name
            ),
            &sort_enum,
            &sorts,
            "The `_sort` value (ascending).",
        );
        if !includes.is_empty() {
            enum_def(
                &mut out,
                &format!("The `_include` values the server supports for `{}`.", r.name),
                &include_enum,
                &includes,
                "The `_include` value.",
            );
        }
        if !revincludes.is_empty() {
            enum_def(
                &mut out,
                &format!("The `_revinclude` values the server supports for `{}`.", r.name),
                &revinclude_enum,
                &revincludes,
                "The `_revinclude` value.",
            );
        }

        // ALL: the parameter codes, laid out as rustfmt does (tuples over
        // SMALL_WIDTH and arrays over ARRAY_WIDTH go vertical; these string
        // items are too long for rustfmt's mixed layout).
        let codes: Vec<String> = params.iter().map(|p| format!("\"{}\"", p.code)).collect();
        let array = format!("&[{}]", codes.join(", "));
        let tuple = format!("(\"{}\", {array})", r.name);
        if tuple.len() <= SMALL_WIDTH && 4 + tuple.len() < MAX_WIDTH {
            let _ = writeln!(all, "    {tuple},");
        } else if array.len() <= ARRAY_WIDTH {
            let _ = writeln!(all, "    (\n        \"{}\",\n        {array},\n    ),", r.name);
        } else {
            let _ = writeln!(all, "    (\n        \"{}\",\n        &[", r.name);
            for c in &codes {
                let _ = writeln!(all, "            {c},");
            }
            all.push_str("        ],\n    ),\n");
        }

        // The test: every method of the builder, one at a time, is accepted.
        let _ = writeln!(
            tests,
            "\n    #[test]\n    fn {}() {{\n        let new = {builder}::new;",
            method_name(r.name)
        );
        let mut call = |expr: String| {
            let line = format!("        ok(new().{expr});");
            assert!(line.len() <= MAX_WIDTH, "test line too long: {line}");
            let _ = writeln!(tests, "{line}");
        };
        for p in &params {
            let v = sample(r, p.code, p.kind);
            let m = &p.stem;
            call(format!("{}(\"{v}\")", p.method));
            if p.modifiers {
                match p.kind {
                    ParamKind::Token => {
                        call(format!("{m}_modified(TokenModifier::Not, \"{v}\")"));
                        call(format!("{m}_modified(TokenModifier::Text, \"x\")"));
                    }
                    ParamKind::String => {
                        call(format!("{m}_modified(StringModifier::Exact, \"{v}\")"));
                        call(format!("{m}_modified(StringModifier::Contains, \"{v}\")"));
                    }
                    _ => {}
                }
                call(format!("{m}_missing(true)"));
            }
            if p.comparators {
                call(format!("{m}_cmp(Comparator::Ge, \"{v}\")"));
            }
        }
        call("count(5)".into());
        for (v, _) in &sorts {
            call(format!("sort({sort_enum}::{v})"));
            call(format!("sort_desc({sort_enum}::{v})"));
        }
        for (v, _) in &includes {
            call(format!("include({include_enum}::{v})"));
        }
        for (v, _) in &revincludes {
            call(format!("revinclude({revinclude_enum}::{v})"));
        }
        call("elements([\"id\", \"meta\"])".into());
        call("total(Total::Accurate)".into());
        call("summary(Summary::Count)".into());
        tests.push_str("    }\n");
    }
    all.push_str("];\n");
    tests.push_str("}\n");
    out.push_str(&all);
    out.push_str(&tests);
    out
}

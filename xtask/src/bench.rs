//! Benchmark helpers for `scripts/bench.sh` and `scripts/bench-export.sh`:
//! request paths from generated data, and the result reports.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use flare_core::registry::RESOURCES;
use serde_json::{Map, Value};

use crate::pyrandom::PyRandom;

/// The search shapes benchmarked: every US Core 6.1.0 SHALL combination of the
/// registry, as (resource type, parameter codes), in registry order.
pub fn shall_shapes() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut shapes = Vec::new();
    for r in RESOURCES {
        for c in r.combinations {
            if c.expectation == "SHALL" && c.versions.contains(&"6.1.0") {
                shapes.push((r.name, c.params.to_vec()));
            }
        }
    }
    shapes
}

/// Python's `str(x)` for the JSON scalars the data holds.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Python truthiness of a JSON value (`None`, `""`, `[]`, `{}`, `0`, `false` are false).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// The first `n` characters (Python's `s[:n]`).
fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn coding(cc: Option<&Value>) -> Option<String> {
    let mut cc = cc?;
    if let Value::Array(a) = cc {
        cc = a.first()?;
    }
    if !truthy(Some(cc)) {
        return None;
    }
    let obj = cc.as_object()?;
    let c = if obj.contains_key("coding") {
        let coding = obj.get("coding");
        if truthy(coding) {
            coding?.as_array()?.first()?
        } else {
            return None;
        }
    } else {
        cc
    };
    let c = c.as_object()?;
    if c.is_empty() {
        return None;
    }
    let code = c.get("code")?;
    let system = c.get("system").map(py_str).unwrap_or_default();
    Some(format!("{system}|{}", py_str(code)))
}

fn ref_id(r: Option<&Value>) -> Option<String> {
    let r = r?;
    if !truthy(Some(r)) {
        return None;
    }
    let reference = r.get("reference")?;
    Some(py_str(reference).rsplit('/').next().unwrap_or("").to_string())
}

fn first_date(r: &Value) -> Option<String> {
    for k in [
        "effectiveDateTime",
        "authoredOn",
        "date",
        "performedDateTime",
        "occurrenceDateTime",
        "recordedDate",
        "onsetDateTime",
        "authored",
        "issued",
    ] {
        if let Some(v) = r.get(k) {
            return Some(prefix(&py_str(v), 10));
        }
    }
    for k in ["period", "effectivePeriod", "performedPeriod", "context"] {
        if let Some(p @ Value::Object(_)) = r.get(k) {
            let p = p.get("period").unwrap_or(p);
            if let Some(start) = p.get("start") {
                return Some(prefix(&py_str(start), 10));
            }
        }
    }
    None
}

/// The value a resource gives a search parameter, as queries.py chose it.
fn value(r: &Value, param: &str) -> Option<String> {
    match param {
        "patient" => {
            for k in ["subject", "patient", "beneficiary"] {
                if let Some(v) = r.get(k) {
                    return ref_id(Some(v));
                }
            }
            None
        }
        "_id" => r.get("id").map(py_str),
        "category" | "code" | "type" | "specialty" | "class" => {
            let v = r.get(param);
            if truthy(v) {
                coding(v)
            } else {
                None
            }
        }
        "status" | "intent" | "gender" => r.get(param).filter(|v| !v.is_null()).map(py_str),
        "date" | "authored" | "birthdate" => {
            if param == "birthdate" {
                r.get("birthDate").filter(|v| !v.is_null()).map(py_str)
            } else {
                first_date(r)
            }
        }
        "identifier" => {
            let i = r
                .get("identifier")
                .filter(|v| truthy(Some(v)))?
                .as_array()?
                .first()?;
            if !truthy(Some(i)) {
                return None;
            }
            let v = i.get("value")?;
            let system = i.get("system").map(py_str).unwrap_or_default();
            Some(format!("{system}|{}", py_str(v)))
        }
        "name" => {
            let n = r.get("name");
            if let Some(Value::String(s)) = n {
                return Some(prefix(s, 4));
            }
            let n = n.filter(|v| truthy(Some(v)))?.as_array()?.first()?;
            if !truthy(Some(n)) {
                return None;
            }
            Some(prefix(&n.get("family").map(py_str).unwrap_or_default(), 4))
        }
        "address" => {
            let a = r
                .get("address")
                .filter(|v| truthy(Some(v)))?
                .as_array()?
                .first()?;
            if !truthy(Some(a)) {
                return None;
            }
            a.get("city").filter(|v| !v.is_null()).map(py_str)
        }
        "practitioner" => ref_id(r.get("practitioner")),
        _ => None,
    }
}

/// Python's `urllib.parse.quote(v, safe='|')`.
fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~|".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn render(param: &str, v: &str) -> String {
    if param == "date" || param == "authored" {
        format!("{param}=ge{v}")
    } else {
        format!("{param}={}", quote(v))
    }
}

/// The shapes that get a second file with an `_include`/`_revinclude` added.
const EXTRAS: &[(&str, &str, &str)] = &[
    ("Observation", "patient+category", "_revinclude=Provenance:target"),
    (
        "MedicationRequest",
        "patient+intent",
        "_include=MedicationRequest:medication",
    ),
    (
        "PractitionerRole",
        "specialty",
        "_include=PractitionerRole:practitioner",
    ),
];

/// Patients whose records the patient shapes' app requests read, each with a
/// patient-context token of its own (`xtask bench-app-paths`).
pub const APP_PATIENTS: usize = 20;

/// The patient a path of a *patient shape* is about: a shape whose request
/// names one patient (a read, a search by `patient`, `Patient?_id`). Apps
/// send those with a patient-context token for that patient; every other
/// shape with a `system/` token.
fn patient_of(t: &str, params: Option<&[&str]>, r: &Value) -> Option<String> {
    match params {
        None if t == "Patient" => r.get("id").map(py_str),
        None => value(r, "patient"),
        Some(p) if p.contains(&"patient") => value(r, "patient"),
        Some(["_id"]) if t == "Patient" => r.get("id").map(py_str),
        Some(_) => None,
    }
}

/// `cargo xtask bench-queries NDJSON OUT_DIR [N]`: for every SHALL search shape
/// of the registry, and for reads, picks up to `per_shape` random resources of
/// the practice's ndjson and writes one file of concrete request paths per shape
/// (`OUT_DIR/<shape>.txt`), with values taken from those resources. For the
/// apps' runs it also writes `OUT_DIR/app/<shape>.txt`, lines `WHO<TAB>PATH`:
/// for a patient shape ([`patient_of`]) paths drawn from the records of
/// [`APP_PATIENTS`] patients, `WHO` the patient; for the others the same paths
/// as the operator's, `WHO` = `system`.
pub fn queries(ndjson: &Path, out_dir: &Path, per_shape: usize) -> Result<()> {
    let mut rng = PyRandom::new(7);
    let mut by_type: HashMap<String, Vec<Value>> = HashMap::new();
    let file = fs::File::open(ndjson).with_context(|| format!("opening {}", ndjson.display()))?;
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        let r: Value =
            serde_json::from_str(&line).with_context(|| format!("{}:{}", ndjson.display(), i + 1))?;
        let t = r
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        by_type.entry(t).or_default().push(r);
    }
    let app_dir = out_dir.join("app");
    fs::create_dir_all(&app_dir).with_context(|| format!("creating {}", app_dir.display()))?;
    // The app patients: drawn before the operator's paths, which stay as they were.
    let app_patients: std::collections::HashSet<String> = {
        let mut ids: Vec<String> = by_type
            .get("Patient")
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| p.get("id").map(py_str))
            .collect();
        ids.sort();
        let mut app_rng = PyRandom::new(17);
        app_rng.shuffle(&mut ids);
        ids.into_iter().take(APP_PATIENTS).collect()
    };
    let mut made = 0usize;
    let mut write = |name: &str, paths: &[String], app: &[(String, String)]| -> Result<()> {
        if paths.is_empty() {
            eprintln!("no data for {name}");
            return Ok(());
        }
        let file = out_dir.join(format!("{name}.txt"));
        fs::write(&file, paths.join("\n") + "\n").with_context(|| format!("writing {}", file.display()))?;
        let lines: Vec<String> = app.iter().map(|(who, path)| format!("{who}\t{path}")).collect();
        if lines.is_empty() {
            eprintln!("no app paths for {name}");
        } else {
            let file = app_dir.join(format!("{name}.txt"));
            fs::write(&file, lines.join("\n") + "\n")
                .with_context(|| format!("writing {}", file.display()))?;
        }
        made += 1;
        Ok(())
    };
    // The app lines of a shape: for a patient shape, the first `per_shape`
    // qualifying resources of the app patients; else the operator's paths.
    let app_lines = |t: &str,
                     params: Option<&[&str]>,
                     pool: &[Value],
                     paths: &[String],
                     path_of: &dyn Fn(&Value) -> Option<String>| {
        let patient_shape = pool.iter().any(|r| patient_of(t, params, r).is_some());
        if !patient_shape {
            return paths
                .iter()
                .map(|p| ("system".to_string(), p.clone()))
                .collect::<Vec<_>>();
        }
        pool.iter()
            .filter_map(|r| {
                let who = patient_of(t, params, r).filter(|w| app_patients.contains(w))?;
                Some((who, path_of(r)?))
            })
            .take(per_shape)
            .collect()
    };

    for t in ["Patient", "Observation"] {
        let pool = by_type.get(t).map(Vec::as_slice).unwrap_or(&[]);
        let picks = rng.sample_indices(pool.len(), per_shape.min(pool.len()));
        let read_path = |r: &Value| Some(format!("/fhir/{t}/{}", r.get("id").map(py_str)?));
        let paths: Vec<String> = picks.iter().filter_map(|&i| read_path(&pool[i])).collect();
        let app = app_lines(t, None, pool, &paths, &read_path);
        write(&format!("read-{t}"), &paths, &app)?;
    }

    for (t, params) in shall_shapes() {
        let combo = params.join("+");
        let pool = by_type.entry(t.to_string()).or_default();
        rng.shuffle(pool);
        let search_path = |r: &Value| {
            let vals: Vec<Option<String>> = params.iter().map(|p| value(r, p)).collect();
            if !vals.iter().all(|v| v.as_deref().is_some_and(|s| !s.is_empty())) {
                return None;
            }
            let query: Vec<String> = params
                .iter()
                .zip(&vals)
                .map(|(p, v)| render(p, v.as_deref().unwrap_or("")))
                .collect();
            Some(format!("/fhir/{t}?{}", query.join("&")))
        };
        let paths: Vec<String> = pool.iter().filter_map(search_path).take(per_shape).collect();
        let app = app_lines(t, Some(&params), pool, &paths, &search_path);
        write(&format!("search-{t}-{combo}"), &paths, &app)?;
        if let Some((_, _, extra)) = EXTRAS.iter().find(|(et, ec, _)| *et == t && *ec == combo) {
            let key = extra.split('=').next().unwrap_or("");
            let with: Vec<String> = paths.iter().map(|p| format!("{p}&{extra}")).collect();
            let app_with: Vec<(String, String)> = app
                .iter()
                .map(|(w, p)| (w.clone(), format!("{p}&{extra}")))
                .collect();
            write(&format!("search-{t}-{combo}+{key}"), &with, &app_with)?;
        }
    }
    eprintln!("{made} shapes written to {}", out_dir.display());
    Ok(())
}

/// Python's `repr(float)` closely enough for `str.format` of a JSON number: `5.0`, `0.25`.
fn parse_f64(s: &str) -> Result<f64> {
    s.trim()
        .parse::<f64>()
        .map_err(|e| anyhow!("not a number {s:?}: {e}"))
}

fn row_f64(row: &Map<String, Value>, key: &str) -> Result<f64> {
    row.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("result row without {key}: {row:?}"))
}

/// `cargo xtask bench-report RESULTS_TSV RESOURCES IMPORT_SECONDS PATIENTS`:
/// turns bench.sh's raw wrk results into a Markdown table (stdout) and
/// `results.json` beside the TSV.
pub fn report(tsv: &Path, resources: u64, import_s: &str, patients: u64) -> Result<()> {
    let import_s = parse_f64(import_s)?;
    let text = fs::read_to_string(tsv).with_context(|| format!("reading {}", tsv.display()))?;
    let pair = regex::Regex::new(r"(\w+)=([\d.]+)")?;
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, c, result] = fields[..] else {
            bail!("{}: expected 3 tab-separated fields: {line:?}", tsv.display());
        };
        let mut row = Map::new();
        row.insert("name".into(), Value::from(name));
        row.insert(
            "c".into(),
            Value::from(
                c.trim()
                    .parse::<i64>()
                    .with_context(|| format!("c in {line:?}"))?,
            ),
        );
        for m in pair.captures_iter(result) {
            let v = parse_f64(&m[2])?;
            row.insert(
                m[1].to_string(),
                serde_json::Number::from_f64(v)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            );
        }
        rows.push(row);
    }
    // Each row's floor is the `SELECT 1` floor of its concurrency measured
    // last before it: bench.sh measures it again on each (re)started server,
    // so a shape is compared with the floor of its own stretch of the run,
    // not with one sample taken minutes earlier.
    // (Rows before the first floor, the no-op route's, take the first.)
    let mut floor: HashMap<i64, f64> = HashMap::new();
    for r in rows.iter().rev() {
        if r.get("name").and_then(Value::as_str) == Some("floor-select1") {
            floor.insert(r["c"].as_i64().unwrap_or(0), row_f64(r, "p50_ms")?);
        }
    }
    for r in rows.iter_mut() {
        let c = r["c"].as_i64().unwrap_or(0);
        if r.get("name").and_then(Value::as_str) == Some("floor-select1") {
            floor.insert(c, row_f64(r, "p50_ms")?);
        }
        if let Some(f) = floor.get(&c).and_then(|f| serde_json::Number::from_f64(*f)) {
            r.insert("floor_p50_ms".into(), Value::Number(f));
        }
    }
    let mut out = vec![
        "| route | c | p50 ms | p99 ms | req/s | errors | p50 / SELECT 1 p50 | p99 / SELECT 1 p50 |"
            .to_string(),
        "|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for r in &rows {
        let c = r["c"].as_i64().unwrap_or(0);
        let (p50, p99) = (row_f64(r, "p50_ms")?, row_f64(r, "p99_ms")?);
        let (ratio50, ratio99) = match r.get("floor_p50_ms").and_then(Value::as_f64) {
            Some(f) => (p50 / f, p99 / f),
            None => (0.0, 0.0),
        };
        out.push(format!(
            "| {} | {c} | {p50:.2} | {p99:.2} | {:.0} | {} | {ratio50:.2} | {ratio99:.2} |",
            r["name"].as_str().unwrap_or(""),
            row_f64(r, "rps")?,
            row_f64(r, "errors")?.trunc() as i64,
        ));
    }
    let headline = app_headline(&rows, tsv.parent().unwrap_or(Path::new(".")))?;
    let mut head = vec![format!("Patients: {patients}; resources: {resources}")];
    if import_s > 0.0 {
        head.push(format!(
            "Import: {resources} resources in {import_s:.1} s = {:.0} resources/s (2 uploaders, POST /admin/import, ndjson chunks of 2,000)",
            resources as f64 / import_s
        ));
    }
    println!(
        "{}\n\n{}\n\n{}",
        head.join("\n"),
        headline.join("\n"),
        out.join("\n")
    );

    let mut json = Map::new();
    json.insert("patients".into(), Value::from(patients));
    json.insert("resources".into(), Value::from(resources));
    json.insert(
        "import_seconds".into(),
        serde_json::Number::from_f64(import_s)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    );
    json.insert(
        "rows".into(),
        Value::Array(rows.into_iter().map(Value::Object).collect()),
    );
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b" "));
    serde::Serialize::serialize(&Value::Object(json), &mut ser)?;
    let dest = tsv.parent().unwrap_or(Path::new(".")).join("results.json");
    fs::write(&dest, buf).with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

/// The headline table: each shape as apps send it (`app:` rows, with the
/// token the path carries) beside the operator's, as ratios to the `SELECT 1`
/// floor of the same concurrency measured last before the app's row, against
/// the targets (reads 1.2×, searches 2×). The operator's row runs just before
/// the app's, on the same floor.
fn app_headline(rows: &[Map<String, Value>], out_dir: &Path) -> Result<Vec<String>> {
    let mut lines = vec![
        "| shape | c | app's token | access token p50 ms | ÷ floor | ADMIN_TOKEN p50 ms | ÷ floor | target | met |"
            .to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for app in rows {
        let Some(name) = app
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| n.strip_prefix("app:"))
        else {
            continue;
        };
        let c = app["c"].as_i64().unwrap_or(0);
        let Some(admin) = rows
            .iter()
            .find(|r| r.get("name").and_then(Value::as_str) == Some(name) && r["c"].as_i64() == Some(c))
        else {
            continue;
        };
        let Some(f50) = app.get("floor_p50_ms").and_then(Value::as_f64) else {
            continue;
        };
        let (a50, o50) = (row_f64(app, "p50_ms")?, row_f64(admin, "p50_ms")?);
        let who = fs::read_to_string(out_dir.join("queries/app").join(format!("{name}.txt")))
            .ok()
            .and_then(|t| {
                t.lines()
                    .next()
                    .map(|l| l.split('\t').next().unwrap_or("").to_string())
            })
            .map(|w| {
                if w == "system" {
                    "system/*.rs"
                } else {
                    "patient context"
                }
            })
            .unwrap_or("?");
        let target = if name.starts_with("read-") { 1.2 } else { 2.0 };
        let errors = row_f64(app, "errors")?.trunc() as i64;
        let met = match (a50 / f50 <= target, errors) {
            (_, e) if e > 0 => format!("no ({e} errors)"),
            (true, _) => "yes".to_string(),
            (false, _) => "no".to_string(),
        };
        lines.push(format!(
            "| {name} | {c} | {who} | {a50:.2} | {:.2} | {o50:.2} | {:.2} | {target}× | {met} |",
            a50 / f50,
            o50 / f50
        ));
    }
    Ok(lines)
}

/// `cargo xtask bench-export-report EXPORT_TSV PATIENTS`: the Markdown table of
/// bench-export.sh (group, the export client's JSON line, workerd peak RSS in kB).
pub fn export_report(tsv: &Path, patients: &str) -> Result<()> {
    let text = fs::read_to_string(tsv).with_context(|| format!("reading {}", tsv.display()))?;
    println!("Patients in the practice: {patients}\n");
    println!("| group | resources | files | export s | resources/s | polls | workerd peak RSS MB |");
    println!("|---|---|---|---|---|---|---|");
    for line in text.split_inclusive('\n') {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let fields: Vec<&str> = line.split('\t').collect();
        let [group, json, rss] = fields[..] else {
            bail!("{}: expected 3 tab-separated fields: {line:?}", tsv.display());
        };
        let r: Value = serde_json::from_str(json).with_context(|| format!("export result of {group}"))?;
        let field = |k: &str| {
            r.get(k)
                .ok_or_else(|| anyhow!("export result of {group} without {k}"))
        };
        let seconds = field("seconds")?
            .as_f64()
            .ok_or_else(|| anyhow!("seconds is not a number"))?;
        let rss: i64 = rss
            .trim()
            .parse()
            .with_context(|| format!("RSS of {group}: {rss:?}"))?;
        println!(
            "| {group} | {} | {} | {seconds:.1} | {} | {} | {:.0} |",
            py_str(field("resources")?),
            py_str(field("files")?),
            py_str(field("resources_per_s")?),
            py_str(field("polls")?),
            rss as f64 / 1024.0
        );
    }
    Ok(())
}

/// `cargo xtask json-get KEY`: prints the string (or JSON) value of a top-level
/// key of the JSON object on stdin, e.g. a token response's `access_token`.
pub fn json_get(key: &str) -> Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let v: Value = serde_json::from_str(&input).context("stdin is not JSON")?;
    let field = v.get(key).ok_or_else(|| anyhow!("no {key:?} in {input}"))?;
    println!("{}", py_str(field));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{quote, shall_shapes};

    #[test]
    fn shapes_are_the_49_us_core_6_1_0_shall_combinations() {
        let shapes = shall_shapes();
        assert_eq!(shapes.len(), 49);
        assert!(shapes.contains(&("Patient", vec!["birthdate", "name"])));
        assert!(shapes.contains(&("Observation", vec!["patient", "category", "date"])));
    }

    #[test]
    fn quote_is_pythons_with_pipe_safe() {
        assert_eq!(
            quote("http://x.org/a b|c~é"),
            "http%3A%2F%2Fx.org%2Fa%20b|c~%C3%A9"
        );
    }
}

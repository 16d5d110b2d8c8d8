//! `flare-synth --patients N [--seed S] [--density D] [--practices 1|2] [--out DIR]`
//!
//! Writes the demo configuration's synthetic data as `DIR/<practice>.ndjson`
//! (one resource per line, practice-level resources first, Groups last) and
//! prints the number of resources per type to stderr.

use flare_synth::{Config, Generator};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

const USAGE: &str = "usage: flare-synth --patients N [--seed S] [--density D] [--practices 1|2] [--out DIR]

Generates deterministic synthetic US Core 6.1.0 data for the two demo
practices (northside, lakeshore) and writes DIR/<practice>.ndjson and
DIR/practices.json (key, name and Organization id of each practice).

  --patients N   number of patients across all practices (required)
  --seed S       random seed (default 42)
  --density D    scales visits per patient, 0.1 to 10 (default 1.0)
  --practices K  only the first K demo practices (1: all patients in northside; default 2)
  --out DIR      output directory, created if missing (default ./synth-out)";

/// Parsed command line.
#[derive(Debug, PartialEq)]
struct Args {
    patients: usize,
    seed: u64,
    density: f64,
    practices: usize,
    out: PathBuf,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Run(Args),
    Help,
}

/// Parses the arguments after the program name (`--flag value` or
/// `--flag=value`).
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut patients = None;
    let mut seed = 42;
    let mut density = 1.0;
    let mut practices = 2;
    let mut out = PathBuf::from("synth-out");
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--patients" | "-n" => {
                let v = value()?;
                patients = Some(v.parse().map_err(|_| format!("--patients: not a number: {v}"))?);
            }
            "--seed" | "-s" => {
                let v = value()?;
                seed = v.parse().map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--density" | "-d" => {
                let v = value()?;
                density = v.parse().map_err(|_| format!("--density: not a number: {v}"))?;
            }
            "--practices" => {
                let v = value()?;
                practices = v
                    .parse()
                    .ok()
                    .filter(|k| (1..=2).contains(k))
                    .ok_or_else(|| format!("--practices: 1 or 2, not {v}"))?;
            }
            "--out" | "-o" => out = PathBuf::from(value()?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Command::Run(Args {
        patients: patients.ok_or("--patients is required")?,
        seed,
        density,
        practices,
        out,
    }))
}

/// Serialized output of a run of patients: NDJSON bytes per practice and
/// resource counts per type.
struct Batch {
    keys: Vec<String>,
    bytes: Vec<Vec<u8>>,
    counts: BTreeMap<String, usize>,
}

impl Batch {
    fn new(keys: &[String]) -> Batch {
        Batch {
            keys: keys.to_vec(),
            bytes: vec![Vec::with_capacity(1 << 16); keys.len()],
            counts: BTreeMap::new(),
        }
    }

    #[allow(
        clippy::expect_used,
        reason = "keys are the configured practices; a Value always serializes"
    )]
    fn add(&mut self, key: &str, resource: &serde_json::Value) {
        let i = self
            .keys
            .iter()
            .position(|k| k == key)
            .expect("resources belong to configured practices");
        let rt = resource["resourceType"].as_str().unwrap_or("?");
        match self.counts.get_mut(rt) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(rt.to_string(), 1);
            }
        }
        let out = &mut self.bytes[i];
        serde_json::to_writer(&mut *out, resource).expect("a Value always serializes");
        out.push(b'\n');
    }
}

/// Patients generated per unit of work handed to a thread.
const PATIENTS_PER_BATCH: usize = 64;

fn run(args: Args) -> Result<(), String> {
    let mut config = Config::demo(args.patients);
    config.seed = args.seed;
    config.density = args.density;
    config.practices.truncate(args.practices);
    let generator = Generator::new(&config).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let keys: Vec<String> = config.practices.iter().map(|p| p.key.clone()).collect();
    let mut files = Vec::new();
    for key in &keys {
        let path = args.out.join(format!("{key}.ndjson"));
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        files.push((path, BufWriter::with_capacity(1 << 20, file), 0usize));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut write = |batch: Batch| -> Result<(), String> {
        for ((path, w, n), bytes) in files.iter_mut().zip(&batch.bytes) {
            w.write_all(bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            *n += bytes.iter().filter(|&&b| b == b'\n').count();
        }
        for (rt, n) in batch.counts {
            *counts.entry(rt).or_default() += n;
        }
        Ok(())
    };
    let started = Instant::now();

    let mut head = Batch::new(&keys);
    generator.practice_resources(&mut |key, r| head.add(key, &r));
    write(head)?;

    // Patients are generated and serialized on worker threads, each value
    // built and dropped on the same thread, and written in their order.
    let batches = config.patients.div_ceil(PATIENTS_PER_BATCH);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(batches.max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<(usize, Batch)>(threads * 2);
    let result = std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, generator, keys) = (&next, &generator, &keys);
            scope.spawn(move || loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                let mut batch = Batch::new(keys);
                let end = ((b + 1) * PATIENTS_PER_BATCH).min(config.patients);
                for index in b * PATIENTS_PER_BATCH..end {
                    generator.patient(index, &mut |key, r| batch.add(key, &r));
                }
                if tx.send((b, batch)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Batch> = BTreeMap::new();
        let mut want = 0;
        for (b, batch) in rx {
            pending.insert(b, batch);
            while let Some(batch) = pending.remove(&want) {
                write(batch)?;
                want += 1;
            }
        }
        Ok::<(), String>(())
    });
    result?;

    let mut tail = Batch::new(&keys);
    generator.groups(&mut |key, r| tail.add(key, &r));
    write(tail)?;
    for (path, w, _) in &mut files {
        w.flush()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let elapsed = started.elapsed();
    // practices.json: what `PUT /admin/practices/{key}` needs for each practice.
    let practices: Vec<serde_json::Value> = config
        .practices
        .iter()
        .map(|p| {
            serde_json::json!({"key": p.key, "name": p.name, "organizationId": flare_synth::organization_id(&p.key),
                "npi": p.npi, "address": {"line": [p.line], "city": p.city, "state": p.state, "postalCode": p.postal_code}})
        })
        .collect();
    let practices_path = args.out.join("practices.json");
    std::fs::write(&practices_path, serde_json::Value::Array(practices).to_string())
        .map_err(|e| format!("cannot write {}: {e}", practices_path.display()))?;

    let total: usize = counts.values().sum();
    let width = counts.keys().map(String::len).max().unwrap_or(0).max(5);
    eprintln!("resources by type:");
    for (rt, n) in &counts {
        eprintln!("  {rt:<width$}  {n:>10}");
    }
    eprintln!("  {:<width$}  {total:>10}", "total");
    for (key, (path, _, n)) in keys.iter().zip(&files) {
        eprintln!("{key}: {n} resources -> {}", path.display());
    }
    if args.patients > 0 {
        eprintln!(
            "{} patients, {:.1} resources per patient, {:.2} s on {threads} thread(s)",
            args.patients,
            total as f64 / args.patients as f64,
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("flare-synth: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(Command::Run(args)) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("flare-synth: {msg}");
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn parses_flags_and_defaults() {
        assert_eq!(
            parse(&[
                "--patients",
                "10",
                "--seed=7",
                "--out",
                "/tmp/x",
                "-d",
                "0.5",
                "--practices",
                "1"
            ]),
            Ok(Command::Run(Args {
                patients: 10,
                seed: 7,
                density: 0.5,
                practices: 1,
                out: PathBuf::from("/tmp/x"),
            }))
        );
        assert_eq!(
            parse(&["--patients=3"]),
            Ok(Command::Run(Args {
                patients: 3,
                seed: 42,
                density: 1.0,
                practices: 2,
                out: PathBuf::from("synth-out"),
            }))
        );
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--patients"]).is_err());
        assert!(parse(&["--patients", "many"]).is_err());
        assert!(parse(&["--patients", "1", "--colour"]).is_err());
        assert!(parse(&["--patients", "1", "--practices", "3"]).is_err());
    }
}

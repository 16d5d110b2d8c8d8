//! `flare-synth --patients N [--seed S] [--density D] [--out DIR]`
//!
//! Writes the demo configuration's synthetic data as `DIR/<practice>.ndjson`
//! (one resource per line, practice-level resources first, Groups last) and
//! prints the number of resources per type to stderr.

use flare_synth::{generate, Config};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: flare-synth --patients N [--seed S] [--density D] [--out DIR]

Generates deterministic synthetic US Core 6.1.0 data for the two demo
practices (northside, lakeshore) and writes DIR/<practice>.ndjson.

  --patients N   number of patients across all practices (required)
  --seed S       random seed (default 42)
  --density D    scales visits per patient, 0.1 to 10 (default 1.0)
  --out DIR      output directory, created if missing (default ./synth-out)";

struct Args {
    patients: usize,
    seed: u64,
    density: f64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut patients = None;
    let mut seed = 42;
    let mut density = 1.0;
    let mut out = PathBuf::from("synth-out");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
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
            "--out" | "-o" => out = PathBuf::from(value()?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Args {
        patients: patients.ok_or("--patients is required")?,
        seed,
        density,
        out,
    })
}

fn run(args: Args) -> Result<(), String> {
    let mut config = Config::demo(args.patients);
    config.seed = args.seed;
    config.density = args.density;
    config.validate().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut writers = Vec::new();
    for p in &config.practices {
        let path = args.out.join(format!("{}.ndjson", p.key));
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        writers.push((p.key.clone(), path, BufWriter::with_capacity(1 << 20, file)));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_practice = vec![0usize; writers.len()];
    let mut error: Option<String> = None;
    let started = Instant::now();
    generate(&config, &mut |key, resource| {
        if error.is_some() {
            return;
        }
        let Some(i) = writers.iter().position(|(k, _, _)| k == key) else {
            error = Some(format!("resource for unknown practice {key}"));
            return;
        };
        let rt = resource["resourceType"].as_str().unwrap_or("?");
        match counts.get_mut(rt) {
            Some(n) => *n += 1,
            None => {
                counts.insert(rt.to_string(), 1);
            }
        }
        per_practice[i] += 1;
        let w = &mut writers[i].2;
        if let Err(e) = serde_json::to_writer(&mut *w, &resource).map_err(|e| e.to_string()).and_then(|()| w.write_all(b"\n").map_err(|e| e.to_string())) {
            error = Some(format!("write failed: {e}"));
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    for (_, path, w) in &mut writers {
        w.flush().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let elapsed = started.elapsed();
    let total: usize = counts.values().sum();
    let width = counts.keys().map(String::len).max().unwrap_or(0);
    eprintln!("resources by type:");
    for (rt, n) in &counts {
        eprintln!("  {rt:<width$}  {n:>10}");
    }
    eprintln!("  {:<width$}  {total:>10}", "total");
    for ((key, path, _), n) in writers.iter().zip(&per_practice) {
        eprintln!("{key}: {n} resources -> {}", path.display());
    }
    if args.patients > 0 {
        eprintln!(
            "{} patients, {:.1} resources per patient, generated in {:.2} s",
            args.patients,
            total as f64 / args.patients as f64,
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args() {
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("flare-synth: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("flare-synth: {msg}");
                ExitCode::FAILURE
            }
        },
    }
}

//! `wrangler dev` restarted in the middle of an export: the job resumes
//! (once its runner's 20 s lease has run out, on a status poll) and ends
//! complete and without a line twice.
//!
//! This trial restarts the server, so it must not share it: it is in
//! [`super::EXCLUSIVE`], which `main.rs` runs in a second libtest-mimic
//! pass on one thread after every other trial has finished.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use flare_tests::fhir::{first_difference, without_server_meta};
use flare_tests::http::excerpt;

use super::{accepted, download, export, key_of, kick_off, now_ms, pending, wait_done, Backend};
use crate::context::Ctx;

/// Generated patients, at density 10: about 38,000 resources, imported in
/// about 6 s. Under `wrangler dev` their export takes about a second, so
/// the restart comes 300 ms after the kick-off (then, if that was too late,
/// right after it).
const PATIENTS: usize = 60;
const DENSITY: f64 = 10.0;
/// The server's file size (lines).
const FILE_LINES: usize = 10_000;
const KEY: &str = "bulk-rst";

/// Kicks off a Group export of 60 generated patients, restarts the edge
/// while it runs, keeps polling (honoring Retry-After), and compares the result with an
/// uninterrupted export of the same Group and with the generated data.
pub fn mid_export(ctx: &Ctx) {
    super::run(
        ctx,
        "restart::mid_export_resumes_complete_and_duplicate_free",
        |ctx| {
            let c = ctx.client.clone();
            let r = c
                .put_json(
                    &format!("/admin/practices/{KEY}"),
                    &flare_tests::practice::practice("Bulk restart"),
                )
                .send();
            ck_eq!(r.status, 200, "PUT practice: {}", r.body);
            let mut config = flare_synth::Config::demo(PATIENTS);
            config.practices.truncate(1);
            config.practices[0].key = KEY.to_string();
            config.density = DENSITY;
            let mut generated: Vec<Value> = Vec::new();
            flare_synth::generate(&config, &mut |_, v| generated.push(v));
            let started = Instant::now();
            for batch in generated.chunks(1500) {
                let r = c.import_ndjson(KEY, batch);
                ck_eq!(r.status, 200, "ndjson import: {}", excerpt(&r.body));
            }
            let import_time = started.elapsed();
            let by_key: BTreeMap<String, Value> = generated.iter().map(|v| (key_of(v), v.clone())).collect();
            let group_id = format!("{KEY}-group-all");
            let group = by_key
                .get(&format!("Group/{group_id}"))
                .cloned()
                .unwrap_or_else(|| panic!("the generator made no Group {group_id}"));
            let members: BTreeSet<String> = group["member"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["inactive"] != true)
                .filter_map(|m| m["entity"]["reference"].as_str())
                .filter_map(|r| r.strip_prefix("Patient/"))
                .map(str::to_string)
                .collect();
            ck_eq!(members.len(), PATIENTS, "members of {group_id}");

            let b = Backend::register(&c, KEY, "bulkrst", true, "system/*.rs");
            let token = b.token(&c);
            let path = format!("/fhir/Group/{group_id}/$export");
            // Kick off, let it run a moment, restart. (Polling first does not
            // help: under `wrangler dev` a poll made while the export runs is
            // answered only once that run has ended.) If the export had
            // finished before the restart, the round proves nothing: again,
            // restarting right after the kick-off.
            let mut interrupted = None;
            let mut early = Vec::new();
            let mut token = token;
            for pause in [300, 0] {
                let t0 = now_ms();
                let status = accepted(&c, &kick_off(&c, &token, &path));
                std::thread::sleep(Duration::from_millis(pause));
                let since_kick_off = Duration::from_millis((now_ms() - t0).max(0) as u64);
                let down = Instant::now();
                ctx.restart_edge()
                    .unwrap_or_else(|e| panic!("restarting wrangler dev failed: {e}"));
                let downtime = down.elapsed();
                token = b.token(&c);
                let first = c.get(&status).token(&token).send();
                if first.status == 202 {
                    // The job survived, unfinished: neither lost nor failed.
                    let (_, progress) = pending(&first);
                    interrupted = Some((t0, status, since_kick_off, downtime, progress));
                    break;
                }
                ck_eq!(
                    first.status,
                    200,
                    "polling {status} after a restart: {}",
                    excerpt(&first.body)
                );
                early.push(format!("restart {pause} ms after the kick-off came too late"));
            }
            let Some((t0, status, since_kick_off, downtime, first_progress)) = interrupted else {
                panic!("the export always finished before the restart: {early:?}");
            };
            let resumed = Instant::now();
            // A job that never ends is this trial's likeliest failure: say
            // what the Worker logged meanwhile.
            let polled = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                wait_done(&c, &token, &status, Duration::from_secs(120))
            })) {
                Ok(polled) => polled,
                Err(e) => {
                    let why = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    panic!("{why}\nwrangler dev's last lines:\n{}", ctx.edge_log_tail(40))
                }
            };
            let resume_time = resumed.elapsed();
            let got = download(&c, &token, &format!("{}{path}", c.origin), t0, polled);

            // Against an uninterrupted export of the same Group (nothing changed).
            let reference = export(&c, &token, &path, &[]);
            let missing: Vec<&String> = reference
                .lines
                .keys()
                .filter(|k| !got.lines.contains_key(*k))
                .collect();
            let extra: Vec<&String> = got
                .lines
                .keys()
                .filter(|k| !reference.lines.contains_key(*k))
                .collect();
            ck!(
                missing.is_empty() && extra.is_empty(),
                "restarted export vs an uninterrupted one: missing {} {:?}…, extra {} {:?}…",
                missing.len(),
                missing.iter().take(5).collect::<Vec<_>>(),
                extra.len(),
                extra.iter().take(5).collect::<Vec<_>>()
            );
            ck_eq!(got.per_type, reference.per_type, "lines per type");

            // Against the generated data: every line is a generated resource,
            // unchanged; the Patients are exactly the members; every member's
            // record of the main clinical types is there.
            for (k, line) in &got.lines {
                let Some(want) = by_key.get(k) else {
                    ck!(false, "{k} was exported but not generated (another practice's?)");
                    continue;
                };
                let (l, w) = (without_server_meta(line), without_server_meta(want));
                ck!(l == w, "{k}: {}", first_difference(&l, &w, k).unwrap_or_default());
            }
            let patients: BTreeSet<String> = got
                .ids_of("Patient")
                .into_iter()
                .map(|k| k.trim_start_matches("Patient/").to_string())
                .collect();
            ck_eq!(patients, members, "exported Patients vs the Group's members");
            let clinical = [
                "Observation",
                "Condition",
                "Encounter",
                "MedicationRequest",
                "Immunization",
                "AllergyIntolerance",
                "Procedure",
                "DiagnosticReport",
            ];
            let mut required = 0;
            for v in &generated {
                let t = v["resourceType"].as_str().unwrap_or_default();
                if !clinical.contains(&t) {
                    continue;
                }
                let owner = v["subject"]["reference"]
                    .as_str()
                    .or_else(|| v["patient"]["reference"].as_str())
                    .and_then(|r| r.strip_prefix("Patient/"));
                if owner.is_some_and(|p| members.contains(p)) {
                    required += 1;
                    let k = key_of(v);
                    ck!(got.lines.contains_key(&k), "{k} of a member is missing");
                }
            }
            ck!(required > PATIENTS * 20, "only {required} member records checked");
            // The Provenance of every exported record goes with it.
            let mut provenance = 0;
            for v in generated.iter().filter(|v| v["resourceType"] == "Provenance") {
                let mut targets = Vec::new();
                super::references(&v["target"], &mut targets);
                if targets.iter().any(|t| got.lines.contains_key(t)) {
                    provenance += 1;
                    let k = key_of(v);
                    ck!(
                        got.lines.contains_key(&k),
                        "{k} (of an exported record) is missing"
                    );
                }
            }
            ck!(
                provenance > 0,
                "no Provenance of an exported record was generated"
            );

            // Files of at most FILE_LINES lines; a type past it is split (at
            // this size only if the generator made that many of one type).
            let mut split = Vec::new();
            for f in got.manifest["output"].as_array().into_iter().flatten() {
                let n = f["count"].as_u64().unwrap_or_default() as usize;
                ck!(n <= FILE_LINES && n > 0, "a file of {n} lines: {f}");
            }
            for (t, n) in &got.per_type {
                let files = got.manifest["output"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|f| f["type"] == t.as_str())
                    .count();
                ck_eq!(files, n.div_ceil(FILE_LINES), "{t}: {n} lines in {files} files");
                if files > 1 {
                    split.push(format!("{t} ({n} lines, {files} files)"));
                }
            }

            // The other generated Group: its members only, a subset of the above.
            let third = export(
                &c,
                &token,
                &format!("/fhir/Group/{KEY}-group-third/$export"),
                &[("_type", "Patient")],
            );
            let third_members: BTreeSet<String> = by_key[&format!("Group/{KEY}-group-third")]["member"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["inactive"] != true)
                .filter_map(|m| m["entity"]["reference"].as_str())
                .map(str::to_string)
                .collect();
            ck!(
                !third_members.is_empty() && third_members.len() < members.len(),
                "group-third has {} members",
                third_members.len()
            );
            ck_eq!(third.ids_of("Patient"), third_members, "group-third Patients");

            ctx.note(format!(
                "bulk::restart: {} generated resources imported in {import_time:.1?}; export of {} \
             lines in {} files restarted {since_kick_off:.1?} after its kick-off; edge down \
             {downtime:.1?}; first poll after the restart: {first_progress:?}; done \
             {resume_time:.1?} later ({} polls); split types: {split:?}; earlier rounds: {early:?}",
                generated.len(),
                got.lines.len(),
                got.urls.len(),
                got.polled.pending
            ));
        },
    );
}

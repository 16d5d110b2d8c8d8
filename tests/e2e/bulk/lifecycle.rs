//! Cancel (DELETE), what other clients see of an export (404), and the
//! per-client cap on running exports (429 with Retry-After).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use flare_tests::fhir::expect_outcome;
use flare_tests::http::{Client, Resp};

use super::{accepted, kick_off, now_ms, wait_done, Backend, World, MEMBERS};
use crate::context::Ctx;

const GROUP: &str = "/fhir/Group/grp/$export";

fn outcome(r: &flare_tests::http::Resp, status: u16) {
    super::tally();
    expect_outcome(r, status);
}

/// `DELETE` of a finished and of a running export: 202, then the status
/// URL and the files are 404; a cancelled export does not count against
/// the client's cap.
pub fn cancel(ctx: &Ctx) {
    super::run(ctx, "lifecycle::cancel", |ctx| {
        let w = World::new(ctx, "bulk-cnl");
        let c = &w.c;
        let b = Backend::register(c, &w.key, "bulkcnl", true, "system/*.rs");
        let token = b.token(c);

        // A finished export.
        let t0 = now_ms();
        let r = kick_off(c, &token, GROUP);
        let status = accepted(c, &r);
        let polled = wait_done(c, &token, &status, Duration::from_secs(120));
        let done = super::download(c, &token, &format!("{}{GROUP}", c.origin), t0, polled);
        super::assert_exact("before the cancel", &done, &w.expected_group(&MEMBERS));
        ck!(!done.urls.is_empty(), "no files to delete");
        let r = c.delete(&status).token(&token).send();
        ck_eq!(r.status, 202, "DELETE {status}: {}", r.body);
        outcome(&c.get(&status).token(&token).send(), 404);
        outcome(&c.delete(&status).token(&token).send(), 404);
        for url in &done.urls {
            outcome(&c.get(url).token(&token).send(), 404);
        }

        // A running export, cancelled right after the kick-off.
        let r = kick_off(c, &token, GROUP);
        let running = accepted(c, &r);
        let r = c.delete(&running).token(&token).send();
        ck_eq!(r.status, 202, "DELETE {running} while running: {}", r.body);
        outcome(&c.get(&running).token(&token).send(), 404);
        // It stays cancelled (no runner brings it back).
        std::thread::sleep(Duration::from_secs(3));
        outcome(&c.get(&running).token(&token).send(), 404);

        // Two new exports are accepted: the cancelled one does not count.
        let t0 = now_ms();
        let a = accepted(c, &kick_off(c, &token, GROUP));
        let b2 = accepted(c, &kick_off(c, &token, GROUP));
        for s in [a, b2] {
            let p = wait_done(c, &token, &s, Duration::from_secs(120));
            let got = super::download(c, &token, &format!("{}{GROUP}", c.origin), t0, p);
            super::assert_exact("after a cancel", &got, &w.expected_group(&MEMBERS));
        }
    });
}

/// Another client (of the same practice or another) cannot read, cancel
/// or download an export (404); the operator can read it. A third
/// concurrent export of one client is 429 with Retry-After, while another
/// client may still start one.
pub fn other_client_and_cap(ctx: &Ctx) {
    super::run(ctx, "lifecycle::other_client_and_cap", |ctx| {
        let w = World::new(ctx, "bulk-cap");
        let c: &Client = &w.c;
        let a = Backend::register(c, &w.key, "bulkcapa", false, "system/*.rs");
        let b = Backend::register(c, &w.key, "bulkcapb", true, "system/*.rs");
        let x = Backend::register(c, &format!("{}-x", w.key), "bulkcapx", true, "system/*.rs");
        let (ta, tb, tx) = (a.token(c), b.token(c), x.token(c));

        let t0 = now_ms();
        let r = kick_off(c, &ta, GROUP);
        let status = accepted(c, &r);
        let polled = wait_done(c, &ta, &status, Duration::from_secs(120));
        let got = super::download(c, &ta, &format!("{}{GROUP}", c.origin), t0, polled);
        super::assert_exact("client A", &got, &w.expected_group(&MEMBERS));
        for (who, t) in [("same-practice client", &tb), ("other-practice client", &tx)] {
            let r = c.get(&status).token(t).send();
            ck_eq!(r.status, 404, "{who} reads A's status: {}", r.body);
            outcome(&r, 404);
            outcome(&c.delete(&status).token(t).send(), 404);
            for url in &got.urls {
                let r = c.get(url).token(t).send();
                ck_eq!(r.status, 404, "{who} downloads {url}: {}", r.body);
            }
        }
        // Still there for A (the other DELETEs changed nothing) and the operator.
        let r = c.get(&status).token(&ta).send();
        ck_eq!(r.status, 200, "A's status after others' DELETE: {}", r.body);
        ck_eq!(r.json(), got.manifest, "A's manifest changed");
        let r = c.get(&status).practice(&w.key).send();
        ck_eq!(r.status, 200, "the operator reads A's status: {}", r.body);
        for url in &got.urls {
            let r = c.get(url).token(&ta).send();
            ck_eq!(r.status, 200, "A downloads {url} again");
        }

        // The cap: two running exports, the third is 429. The three
        // kick-offs go out at once (three threads), so they reach the edge
        // within milliseconds of each other, while exports of a Group of 90
        // generated patients take about a second: whatever the machine's
        // load, none has finished when the others arrive. The edge inserts a
        // job only while fewer than two run (one statement), so exactly one
        // of the three is refused. Should one have finished first anyway, the
        // round proves nothing and runs again (at most eight rounds).
        let generated = super::import_generated(c, &w.key, 90, 3.0);
        let big = format!("/fhir/Group/{}-group-all/$export", w.key);
        let mut proved = false;
        for round in 1..=8 {
            let kicks: Vec<_> = std::thread::scope(|s| {
                let sent: Vec<_> = (0..3).map(|_| s.spawn(|| kick_off(c, &ta, &big))).collect();
                sent.into_iter()
                    .map(|h| h.join().expect("a kick-off thread panicked"))
                    .collect()
            });
            let refused: Vec<_> = kicks.iter().filter(|r| r.status != 202).collect();
            let running: Vec<String> = kicks
                .iter()
                .filter(|r| r.status == 202)
                .map(|r| accepted(c, r))
                .collect();
            match refused.as_slice() {
                [third] => {
                    ck_eq!(third.status, 429, "the third concurrent kick-off: {}", third.body);
                    outcome(third, 429);
                    let ra = third.header("retry-after").unwrap_or_default();
                    ck!(
                        ra.trim().parse::<u64>().is_ok_and(|s| s >= 1),
                        "429 with Retry-After {ra:?}"
                    );
                    // Another client is not capped by A's exports.
                    let sb = accepted(c, &kick_off(c, &tb, GROUP));
                    wait_done(c, &tb, &sb, Duration::from_secs(120));
                    proved = true;
                    ctx.note(format!(
                        "bulk::lifecycle: 429 for one of three concurrent kick-offs in round {round} (exports of {} generated resources)",
                        generated.len()
                    ));
                }
                [] => {
                    // All three accepted: only fair if one had finished before the last arrived.
                    let still_running = running
                        .iter()
                        .filter(|s| c.get(s).token(&ta).send().status == 202)
                        .count();
                    ck!(
                        still_running < 3,
                        "round {round}: three concurrent exports were accepted and run at once"
                    );
                }
                more => ck!(
                    false,
                    "round {round}: {} of three concurrent kick-offs refused",
                    more.len()
                ),
            }
            for s in &running {
                wait_done(c, &ta, s, Duration::from_secs(120));
            }
            if proved {
                break;
            }
        }
        ck!(proved, "eight rounds without a third concurrent kick-off refused");
        // Once they are done, A may start again.
        let r = kick_off(c, &ta, GROUP);
        let s = accepted(c, &r);
        wait_done(c, &ta, &s, Duration::from_secs(120));
    });
}

/// Four kick-offs of one client sent at the same moment: at most two are
/// accepted (the cap holds however the requests interleave), the others
/// are 429 with Retry-After.
pub fn concurrent_cap(ctx: &Ctx) {
    super::run(ctx, "lifecycle::concurrent_kick_offs_respect_the_cap", |ctx| {
        let w = World::new(ctx, "bulk-race");
        let b = Backend::register(&w.c, &w.key, "bulkrace", true, "system/*.rs");
        let token = b.token(&w.c);
        // Exports that take a while (about 0.3 s each): none can have
        // ended while the four kick-offs are answered.
        super::import_generated(&w.c, &w.key, 30, 3.0);
        let big = format!("/fhir/Group/{}-group-all/$export", w.key);
        let barrier = Arc::new(Barrier::new(4));
        let started = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (c, t, bar, path) = (w.c.clone(), token.clone(), barrier.clone(), big.clone());
                std::thread::spawn(move || {
                    bar.wait();
                    kick_off(&c, &t, &path)
                })
            })
            .collect();
        let answers: Vec<Resp> = handles
            .into_iter()
            .map(|h| h.join().expect("a kick-off thread panicked"))
            .collect();
        let span = started.elapsed();
        let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
        // Let the accepted ones finish (whatever the verdict) before checking.
        let waiting = Instant::now();
        for r in answers.iter().filter(|r| r.status == 202) {
            if let Some(s) = r.header("content-location") {
                wait_done(&w.c, &token, s, Duration::from_secs(120));
            }
        }
        let ran = waiting.elapsed();
        let accepted_n = statuses.iter().filter(|s| **s == 202).count();
        ck!(
            accepted_n <= 2 && statuses.iter().all(|s| *s == 202 || *s == 429),
            "4 simultaneous kick-offs of one client, all answered within {span:.1?}, got \
             {statuses:?}: more than 2 exports running at once (they took {ran:.1?} to finish)"
        );
        for r in answers.iter().filter(|r| r.status == 429) {
            outcome(r, 429);
        }
    });
}

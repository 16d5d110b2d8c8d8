//! Times generation alone and generation plus serialization:
//! `cargo run --release -p flare-synth --example bench -- 2000`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measuring tool run by hand: a failure stops it"
)]
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let c = flare_synth::Config::demo(n);
    let t = Instant::now();
    let mut count = 0usize;
    flare_synth::generate(&c, &mut |_, r| {
        count += 1;
        drop(r);
    });
    let gen = t.elapsed();
    let t = Instant::now();
    let mut bytes = 0usize;
    let mut buf = Vec::with_capacity(1 << 16);
    flare_synth::generate(&c, &mut |_, r| {
        buf.clear();
        serde_json::to_writer(&mut buf, &r).unwrap();
        bytes += buf.len() + 1;
    });
    eprintln!(
        "{n} patients, {count} resources: generate {:.2}s, generate+serialize {:.2}s, {} MB",
        gen.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        bytes / 1_000_000
    );
}

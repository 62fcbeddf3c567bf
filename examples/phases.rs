//! Times the phases of `intake check` on one message (profiling aid):
//! `cargo run --release --example phases -- FILE.eml`.
use std::time::Instant;

use intake::decide::{Discard, Policy, decide};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let t = Instant::now();
    let raw = std::fs::read(&path).unwrap_or_default();
    let read = t.elapsed();
    let t = Instant::now();
    let env = intake::mail::parse(&raw);
    let parse = t.elapsed();
    let policy = Policy::default();
    let input = env.into_input(&policy.labels);
    let t = Instant::now();
    let r = decide(&input, &policy, &Discard);
    let dec = t.elapsed();
    println!(
        "read {read:?}  parse {parse:?}  decide {dec:?}  samples {}",
        r.map(|r| r.samples.len()).unwrap_or(0)
    );
}

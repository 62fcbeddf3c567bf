//! The whole email → report path that `intake check` runs, on arbitrary bytes.
#![no_main]

use intake::decide::{Discard, Policy, decide};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let policy = Policy::default();
    let env = intake::mail::parse(raw);
    let input = env.into_input(&policy.labels);
    if let Ok(report) = decide(&input, &policy, &Discard) {
        let _ = serde_json::to_string(&report);
        let _ = report.summary();
    }
});

//! The whole email → report path that `intake check` runs, on arbitrary bytes.
#![no_main]

use intake::decide::{Discard, Input, Policy, decide};
use intake::metadata::read_body;
use intake::report::Channel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let policy = Policy::default();
    let env = intake::mail::parse(raw);
    let input = Input {
        channel: Channel::Email,
        message_id: env.message_id,
        sender: env.sender,
        metadata: read_body(&env.body, &policy.labels),
        attachments: env.attachments,
    };
    if let Ok(report) = decide(&input, &policy, &Discard) {
        let _ = serde_json::to_string(&report);
        let _ = report.summary();
    }
});

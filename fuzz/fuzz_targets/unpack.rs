//! The unpacker on raw zips: the central directory walk, the view the zip
//! crate reads, every entry read under limits; then the whole decision on
//! the same bytes as an uploaded file, whose report must name every path
//! once.
#![no_main]

use intake::decide::{Attachment, Discard, Input, Policy, decide};
use intake::decide::report::Channel;
use intake::decide::unpack::{self, Limits, Probe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|zip: &[u8]| {
    let limits = Limits {
        max_file: 1 << 20,
        max_total: 4 << 20,
        ratio_floor: 64 << 10,
        ..Limits::default()
    };
    if let Probe::Wrapper(mut w) = unpack::probe(zip, &[unpack::PASSWORD, b"virus"]) {
        for i in 0..w.len().min(64) {
            let _ = w.name(i);
            let _ = w.read(i, &limits);
        }
    }
    let policy = Policy {
        limits,
        ..Policy::default()
    };
    let input = Input {
        channel: Channel::Portal,
        message_id: None,
        sender: None,
        attachments: vec![
            Attachment::new(Some("a.zip".into()), zip),
            Attachment::new(Some("a.zip".into()), zip),
        ],
        metadata: Default::default(),
        passwords: vec!["virus".into()],
    };
    if let Ok(report) = decide(&input, &policy, &Discard) {
        let mut paths: Vec<&str> = report
            .samples
            .iter()
            .map(|s| s.path.as_str())
            .chain(report.rejected.iter().map(|r| r.path.as_str()))
            .collect();
        let n = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), n, "every path once");
    }
});

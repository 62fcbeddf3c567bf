use std::time::Duration;

use super::client::dot_stuffed;
use super::faults::{allocation_tries, schedule};
use super::inputs::{self, Kind, Mix, Sender};
use super::ledger::{self, FaultKind, Line};

fn sender() -> Sender {
    Sender {
        from: "bob@acme.example".into(),
        to: "samples@localhost".into(),
        grant: "4321-0001".into(),
    }
}

#[test]
fn the_mix_parses_and_spreads_kinds_by_weight() {
    let m: Mix = "good=70,needs_info=10,rejected=10,upload=10,reply=50"
        .parse()
        .unwrap_or_default();
    assert_eq!(m.reply_percent, 50);
    let mut counts = std::collections::HashMap::new();
    for n in 0..10_000 {
        *counts.entry(m.kind(n, 7)).or_insert(0) += 1;
    }
    let good = counts.get(&Kind::Good).copied().unwrap_or(0);
    assert!((6_500..7_500).contains(&good), "{counts:?}");
    assert!(!counts.contains_key(&Kind::Duplicate));
    assert!("good=1,bogus=2".parse::<Mix>().is_err());
    assert!("reply=101,good=1".parse::<Mix>().is_err());
    assert!("good=0".parse::<Mix>().is_err());
}

#[test]
fn every_kind_of_email_is_decided_as_its_kind_says() {
    // The same decision code as the live path.
    for kind in [Kind::Good, Kind::NeedsInfo, Kind::Rejected] {
        let e = inputs::email(kind, "L-1-0000001", &sender(), 100_000, 1);
        let Ok(e) = e else { panic!("build") };
        assert!(
            (100_000..150_000).contains(&e.bytes.len()) || kind == Kind::Rejected,
            "{}",
            e.bytes.len()
        );
        let policy = crate::decide::Policy::default();
        let input = crate::mail::parse(&e.bytes).into_input(&policy.labels);
        let Ok(report) = crate::decide::decide(&input, &policy, &crate::decide::Discard) else {
            panic!("decide {kind}")
        };
        let want = match kind {
            Kind::Good => "accepted",
            Kind::NeedsInfo => "needs_info",
            _ => "rejected",
        };
        assert_eq!(report.outcome.as_str(), want, "{kind}");
        assert_eq!(report.samples.len(), e.samples.len(), "{kind}");
    }
}

#[test]
fn samples_are_unique_per_input_harmless_and_the_same_from_the_same_seed() {
    let a = inputs::sample("L-1-0000001", 4096, 9);
    assert_eq!(a, inputs::sample("L-1-0000001", 4096, 9));
    assert_ne!(a, inputs::sample("L-1-0000002", 4096, 9));
    assert!(a.starts_with(b"#!/bin/sh\necho 'intake load sample L-1-0000001'\nexit 0\n"));
    assert!(a.len() >= 4096);
}

#[test]
fn dot_stuffing_doubles_leading_dots_and_ends_lines_in_crlf() {
    assert_eq!(dot_stuffed(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n");
}

#[test]
fn faults_are_spread_without_overlap_inside_the_run() {
    let kinds = [FaultKind::KillServe, FaultKind::Broker, FaultKind::Cut];
    let s = schedule(&kinds, 2, Duration::from_secs(600), 3);
    assert_eq!(s.len(), 6);
    for w in s.windows(2) {
        assert!(w[1].0 > w[0].0 + Duration::from_secs(30), "{s:?}");
    }
    assert!(
        s.iter()
            .all(|(at, _)| *at >= Duration::from_secs(60) && *at < Duration::from_secs(480))
    );
    for k in kinds {
        assert_eq!(s.iter().filter(|(_, f)| *f == k).count(), 2);
    }
}

#[test]
fn the_ballast_asks_for_all_the_free_space_then_a_little_less_each_time() {
    let tries: Vec<u64> = allocation_tries(1024 << 20).collect();
    assert_eq!(tries.len(), 256);
    assert_eq!(tries[0], 1024 << 20);
    assert_eq!(tries[1], 1023 << 20);
    assert_eq!(tries[255], 769 << 20);
    assert!(tries.windows(2).all(|w| w[1] < w[0]));
    assert_eq!(allocation_tries(0).count(), 0);
    assert!(allocation_tries(3).all(|n| n > 0));
}

#[test]
fn ledger_lines_round_trip() {
    let line = Line::Fault(ledger::Fault {
        kind: FaultKind::BlobFull,
        at: chrono::Utc::now(),
        until: chrono::Utc::now(),
        note: "ballast".into(),
    });
    let text = serde_json::to_string(&line).unwrap_or_default();
    assert!(
        text.contains("\"type\":\"fault\"") && text.contains("\"blob_full\""),
        "{text}"
    );
    let back = ledger::parse(std::io::Cursor::new(format!("{text}\n\n")));
    assert_eq!(back.ok(), Some(vec![line]));
    assert!(ledger::parse(std::io::Cursor::new("{\"type\":\"nope\"}\n")).is_err());
}

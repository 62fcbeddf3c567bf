use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::load::ledger::{Channel, Fault, FaultKind, Input, Line};

fn t(s: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
        .single()
        .unwrap_or_default()
        + TimeDelta::milliseconds((s * 1000.0) as i64)
}

fn sha(n: u8) -> Sha256 {
    Sha256::of(&[n])
}

fn input(id: &str, kind: Kind, at: f64, samples: Vec<Sha256>) -> Input {
    Input {
        id: id.into(),
        kind,
        channel: if kind == Kind::Upload {
            Channel::Portal
        } else {
            Channel::Smtp
        },
        external_id: format!("<{id}@load.intake>"),
        answer: "250 2.0.0 stored".into(),
        accepted: true,
        attempts: 1,
        first_refusal: None,
        samples,
        sent_at: t(at),
        answered_at: t(at + 0.01),
        replies_to: None,
    }
}

/// The facts of a run where everything went right.
fn clean(inputs: &[Input]) -> Facts {
    let mut f = Facts {
        deliveries: Some(Vec::new()),
        ..Facts::default()
    };
    let mut outbox = 0;
    for i in inputs {
        let outcome = match i.kind {
            Kind::NeedsInfo => "needs_info",
            Kind::Rejected => "rejected",
            _ => "accepted",
        };
        f.inbound.entry(i.external_id.clone()).or_insert(Inbound {
            channel: i.channel.recorded_as().into(),
            state: "recorded".into(),
            error: None,
            decision: Some(Decision {
                outcome: outcome.into(),
                at: i.sent_at + TimeDelta::milliseconds(100),
                completed: false,
            }),
        });
        for s in &i.samples {
            f.findings.insert(
                *s,
                Findings {
                    rows: 7,
                    distinct: 7,
                    last_at: i.sent_at + TimeDelta::milliseconds(900),
                },
            );
        }
        if i.channel != Channel::Portal && !f.answers.contains_key(&i.external_id) {
            outbox += 1;
            f.answers.insert(
                i.external_id.clone(),
                vec![Composed {
                    kind: "acknowledgement".into(),
                    outbox_id: Some(outbox),
                }],
            );
            if let Some(d) = f.deliveries.as_mut() {
                d.push(outbox);
            }
        }
    }
    f
}

fn lines(inputs: &[Input]) -> Vec<Line> {
    let mut l = vec![Line::Run {
        at: t(0.0),
        rate: Some(10.0),
        connections: 2,
        mix: String::new(),
    }];
    l.extend(inputs.iter().cloned().map(Line::Input));
    l.push(Line::End {
        at: t(inputs.len() as f64 / 10.0 + 1.0),
    });
    l
}

fn run() -> Vec<Input> {
    let mut v: Vec<Input> = (0..100)
        .map(|n| {
            let kind = match n % 10 {
                0 => Kind::NeedsInfo,
                1 => Kind::Rejected,
                2 | 3 => Kind::Upload,
                _ => Kind::Good,
            };
            let samples = if kind.carries_samples() {
                vec![sha(n as u8)]
            } else {
                vec![]
            };
            input(&format!("L-{n:03}"), kind, n as f64 / 10.0, samples)
        })
        .collect();
    // A resend of L-004: same Message-ID, same sample.
    let mut dup = input("L-100", Kind::Duplicate, 10.0, vec![sha(4)]);
    dup.external_id = v[4].external_id.clone();
    v.push(dup);
    v
}

#[test]
fn a_clean_run_passes_with_its_counts() {
    let inputs = run();
    let r = judge(&lines(&inputs), &clean(&inputs));
    assert!(r.ok(), "{}", render(&r));
    assert_eq!(r.accepted, 101);
    assert_eq!(r.sent[&Kind::Duplicate], 1);
    assert_eq!(r.sent[&Kind::Upload], 20);
    assert_eq!(
        (r.samples, r.held),
        (80, 10),
        "needs-info samples wait for the facts"
    );
    assert_eq!(
        r.to_decision.n, 100,
        "a duplicate's decision is its original's"
    );
    assert!((r.to_decision.p99 - 0.1).abs() < 1e-6);
    assert!((r.to_findings.p50 - 0.9).abs() < 1e-6);
    assert!(render(&r).contains("AUDIT PASSED"));
}

#[test]
fn an_input_missing_from_the_database_is_lost_and_named() {
    let inputs = run();
    let mut f = clean(&inputs);
    f.inbound.remove(&inputs[17].external_id);
    let r = judge(&lines(&inputs), &f);
    assert!(!r.ok());
    assert_eq!(r.lost.len(), 1);
    assert_eq!(r.lost[0].input, "L-017");
    assert!(render(&r).contains("L-017 accepted"));
}

#[test]
fn a_duplicated_finding_fails_naming_the_input() {
    let inputs = run();
    let mut f = clean(&inputs);
    if let Some(x) = f.findings.get_mut(&sha(5)) {
        x.rows = 8;
    }
    let r = judge(&lines(&inputs), &f);
    assert!(!r.ok());
    assert_eq!(r.duplicates.len(), 1, "{:?}", r.duplicates);
    assert_eq!(r.duplicates[0].input, "L-005");
}

#[test]
fn a_sample_without_findings_counts_unless_dead_lettered() {
    let inputs = run();
    let mut f = clean(&inputs);
    f.findings.remove(&sha(6));
    let r = judge(&lines(&inputs), &f);
    assert_eq!(r.lost.len(), 1);
    assert!(r.lost[0].why.contains("no findings"));
    f.dead.insert(sha(6));
    let r = judge(&lines(&inputs), &f);
    assert!(r.ok(), "{}", render(&r));
    assert_eq!(r.dead_lettered, 1);
}

#[test]
fn answers_composed_twice_or_delivered_twice_are_duplicates_on_their_own_lines() {
    let inputs = run();
    let mut f = clean(&inputs);
    if let Some(a) = f.answers.get_mut(&inputs[8].external_id) {
        a.push(a[0].clone());
    }
    let r = judge(&lines(&inputs), &f);
    assert_eq!(r.duplicates.len(), 1);
    assert_eq!(r.duplicates[0].input, "L-008");
    let mut f = clean(&inputs);
    if let Some(d) = f.deliveries.as_mut() {
        let first = d[0];
        d.push(first);
    }
    let r = judge(&lines(&inputs), &f);
    assert!(r.duplicates.is_empty());
    assert_eq!(r.duplicate_deliveries.len(), 1);
    assert!(r.ok(), "at least once, under one Message-ID");
    assert!(
        render(&r).contains("duplicate deliveries (a resend after a crash, same Message-ID): 1")
    );
    // And one never delivered is a lost answer.
    let mut f = clean(&inputs);
    if let Some(d) = f.deliveries.as_mut() {
        d.pop();
    }
    assert_eq!(judge(&lines(&inputs), &f).lost.len(), 1);
}

#[test]
fn retried_and_refused_inputs_are_counted_apart() {
    let mut inputs = run();
    inputs[3].attempts = 4;
    inputs[3].first_refusal = Some("451 4.3.0 try again".into());
    inputs[9].accepted = false;
    inputs[9].answer = "given up: 451 4.3.0".into();
    let r = judge(&lines(&inputs), &clean(&inputs));
    assert_eq!(r.retried, 1);
    assert_eq!(r.not_accepted.len(), 1);
    assert_eq!(r.not_accepted[0].input, "L-009");
}

#[test]
fn a_parked_input_and_a_wrong_decision_are_reported() {
    let inputs = run();
    let mut f = clean(&inputs);
    if let Some(i) = f.inbound.get_mut(&inputs[4].external_id) {
        i.state = "failed".into();
        i.error = Some("panicked three times".into());
        i.decision = None;
    }
    if let Some(Some(d)) = f
        .inbound
        .get_mut(&inputs[1].external_id)
        .map(|i| i.decision.as_mut())
    {
        d.outcome = "accepted".into();
    }
    let r = judge(&lines(&inputs), &f);
    assert!(
        r.lost
            .iter()
            .any(|p| p.input == "L-004" && p.why.contains("panicked"))
    );
    assert_eq!(r.misdecided.len(), 1);
    assert_eq!(r.misdecided[0].input, "L-001");
}

/// Input `i` decided rejected at `at`, and answered.
fn rejected_at(f: &mut Facts, i: &Input, at: chrono::DateTime<Utc>) {
    f.inbound.insert(
        i.external_id.clone(),
        Inbound {
            channel: "email".into(),
            state: "recorded".into(),
            error: None,
            decision: Some(Decision {
                outcome: "rejected".into(),
                at,
                completed: false,
            }),
        },
    );
    f.answers.insert(
        i.external_id.clone(),
        vec![Composed {
            kind: "ack".into(),
            outbox_id: None,
        }],
    );
}

#[test]
fn recovery_is_the_time_until_decisions_are_back_at_full_rate() {
    // 10 inputs/s for 60 s; nothing decided from 20 s to 30 s, then the
    // backlog at 20/s until 40 s.
    let mut inputs = Vec::new();
    let mut f = Facts::default();
    for n in 0..600 {
        let sent = n as f64 / 10.0;
        let decided = if (20.0..30.0).contains(&sent) {
            30.0 + (sent - 20.0)
        } else {
            sent
        };
        let i = input(&format!("L-{n:03}"), Kind::Rejected, sent, vec![]);
        rejected_at(&mut f, &i, t(decided + 0.05));
        inputs.push(i);
    }
    let mut l = lines(&inputs);
    l.push(Line::Fault(Fault {
        kind: FaultKind::Broker,
        at: t(20.0),
        until: t(25.0),
        note: String::new(),
    }));
    let r = judge(&l, &f);
    assert!(r.ok(), "{}", render(&r));
    assert!((r.full_rate - 10.0).abs() < 1e-9, "{}", r.full_rate);
    assert_eq!(r.recoveries.len(), 1);
    // Decisions resume at 30 s: 5 s after the fault was undone.
    assert_eq!(r.recoveries[0].back, Back::After(5.0), "{:?}", r.recoveries);
    assert!(r.throughput_calm > r.throughput_faulted);
}

#[test]
fn recovery_is_not_measurable_when_the_run_is_mostly_faults() {
    // 12 s of sending at 10/s with a fault over most of it: too few calm
    // seconds to know the full rate, so no "back after 0 s".
    let inputs: Vec<_> = (0..120)
        .map(|n| {
            input(
                &format!("L-{n:03}"),
                Kind::Rejected,
                n as f64 / 10.0,
                vec![],
            )
        })
        .collect();
    let mut f = Facts::default();
    for i in &inputs {
        rejected_at(&mut f, i, i.sent_at);
    }
    let mut l = lines(&inputs);
    l.push(Line::Fault(Fault {
        kind: FaultKind::Cut,
        at: t(2.0),
        until: t(4.0),
        note: String::new(),
    }));
    let r = judge(&l, &f);
    assert_eq!(
        r.recoveries[0].back,
        Back::NotMeasurable,
        "{:?}",
        r.recoveries
    );
    assert!(render(&r).contains("not measurable"), "{}", render(&r));
}

#[test]
fn percentiles_are_nearest_rank() {
    let p = Percentiles::of((1..=100).map(f64::from).collect());
    assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
    assert_eq!(Percentiles::of(vec![]).n, 0);
}

#[test]
fn answer_message_ids_name_their_outbox_row() {
    assert_eq!(
        facts::answer_outbox_id("<SR-2026-000001.answer-42@intake.localhost>"),
        Some(42)
    );
    assert_eq!(
        facts::answer_outbox_id("<account-3@intake.localhost>"),
        None
    );
}

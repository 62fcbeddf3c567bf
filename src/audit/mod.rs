//! `intake audit LEDGER`: after a load run drains, matches the ledger
//! ([`crate::load::ledger`]) against what intake recorded, delivered and
//! queued, and finds every input lost and every duplicate: an accepted input
//! without its one inbound row and decision, a sample without findings or a
//! dead-letter record, a finding recorded twice, an answer composed twice or
//! delivered twice. Also the latencies, throughput and recovery after each
//! fault. The judgement ([`judge`]) is pure; [`facts`] reads the world.

pub mod facts;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::digest::Sha256;
use crate::load::inputs::Kind;
use crate::load::ledger::{Channel, Fault, FaultKind, Input, Line};

/// What intake recorded of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub channel: String,
    /// `received`, `recorded` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub decision: Option<Decision>,
}

/// The submission an input was decided into.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: String,
    pub at: DateTime<Utc>,
    /// A needs-info submission a later reply completed.
    pub completed: bool,
}

/// The findings of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    pub rows: i64,
    /// Distinct (analyser, version): fewer than `rows` is a duplicate.
    pub distinct: i64,
    pub last_at: DateTime<Utc>,
}

/// One answer composed to an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub kind: String,
    pub outbox_id: Option<i64>,
}

/// What is still in flight: non-zero means the run has not drained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    pub inbound_undecided: i64,
    pub outbox_pending: i64,
    pub jobs_running: i64,
    pub queue_depth: u32,
}

impl Backlog {
    pub fn drained(&self) -> bool {
        *self == Backlog::default()
    }
}

/// Everything the audit reads, keyed as the ledger names things.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// By external id.
    pub inbound: HashMap<String, Inbound>,
    pub findings: HashMap<Sha256, Findings>,
    pub dead: HashSet<Sha256>,
    /// By the customer's Message-ID the answer replies to.
    pub answers: HashMap<String, Vec<Composed>>,
    /// Outbox id of each answer the sink received, once per delivery; `None`
    /// when no sink mailbox was read.
    pub deliveries: Option<Vec<i64>>,
    pub backlog: Backlog,
}

/// One problem, naming the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub input: String,
    pub why: String,
}

impl Problem {
    fn of(i: &Input, why: String) -> Problem {
        Problem {
            input: i.id.clone(),
            why,
        }
    }
}

/// Nearest-rank percentiles, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub n: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut v: Vec<f64>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Percentiles {
            n: v.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// How fast one fault's effect passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub fault: FaultKind,
    pub at: DateTime<Utc>,
    /// Seconds the fault lasted (until it was undone).
    pub lasted: f64,
    pub back: Back,
}

/// When decisions were back at full rate after a fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Back {
    /// Seconds after the fault was undone.
    After(f64),
    /// Not before the load ended.
    NotBeforeEnd,
    /// The run had too few seconds outside faults to know its full rate
    /// (a CI-sized run is mostly faults), so there is nothing to be back at.
    NotMeasurable,
}

/// Seconds outside every fault a run needs before its median is a full rate.
const CALM_SECONDS_FOR_FULL_RATE: usize = 10;

/// The audit's findings.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sent: BTreeMap<Kind, u64>,
    pub by_channel: BTreeMap<Channel, u64>,
    pub faults: BTreeMap<FaultKind, u64>,
    pub accepted: u64,
    /// Refused with a 4xx (or no answer) first, then accepted.
    pub retried: u64,
    /// Never accepted at the protocol level (the sender still has them).
    pub not_accepted: Vec<Problem>,
    pub lost: Vec<Problem>,
    pub duplicates: Vec<Problem>,
    pub duplicate_deliveries: Vec<Problem>,
    /// Decided, but not as its kind must be.
    pub misdecided: Vec<Problem>,
    pub dead_lettered: u64,
    /// Samples of needs-info submissions still waiting for the facts (not
    /// analysed until the customer sends them).
    pub held: u64,
    pub samples: u64,
    pub answers_composed: u64,
    pub answers_delivered: Option<u64>,
    pub backlog: Backlog,
    pub to_decision: Percentiles,
    pub to_findings: Percentiles,
    /// Inputs decided per second over the run, outside and inside faults
    /// (a fault's window runs from its start until decisions are back at
    /// full rate).
    pub throughput: f64,
    pub throughput_calm: f64,
    pub throughput_faulted: f64,
    /// Full rate: the median decisions per second outside faults.
    pub full_rate: f64,
    /// Samples given findings per second, from the run's start to the
    /// last finding: the end-to-end rate with findings.
    pub analysed_rate: f64,
    pub recoveries: Vec<Recovery>,
    pub seconds: f64,
}

impl Report {
    /// No loss and no duplicate record. A delivery resent after a crash
    /// (the relay killed between the sink's `250` and marking the row sent)
    /// is not one: mail is delivered at least once, and the resend carries
    /// the same Message-ID, by which mail clients show it once. It is
    /// counted on its own line.
    pub fn ok(&self) -> bool {
        self.not_accepted.is_empty()
            && self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.misdecided.is_empty()
    }
}

/// The outcome an input of `kind` must be decided into.
fn expected_outcome(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Good | Kind::Upload | Kind::Reply => Some("accepted"),
        Kind::NeedsInfo => Some("needs_info"),
        Kind::Rejected => Some("rejected"),
        Kind::Duplicate => None,
    }
}

/// Judges the ledger against the facts.
pub fn judge(lines: &[Line], facts: &Facts) -> Report {
    let mut r = Report {
        backlog: facts.backlog.clone(),
        ..Report::default()
    };
    let inputs: Vec<&Input> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Input(i) => Some(i),
            _ => None,
        })
        .collect();
    let faults: Vec<&Fault> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Fault(f) => Some(f),
            _ => None,
        })
        .collect();
    let start = lines.iter().find_map(|l| match l {
        Line::Run { at, .. } => Some(*at),
        _ => None,
    });
    // The load's own pace ends with the last input it chose to send.
    let end = inputs
        .iter()
        .filter(|i| i.kind != Kind::Reply)
        .map(|i| i.answered_at)
        .max();
    for f in &faults {
        *r.faults.entry(f.kind).or_default() += 1;
    }
    let mut to_decision = Vec::new();
    let mut to_findings = Vec::new();
    let mut decided_at = Vec::new();
    let mut samples_seen = HashSet::new();
    let (mut analysed, mut last_finding) = (0u64, None::<DateTime<Utc>>);
    let mut answered = HashSet::new();
    let mut composed_ids: HashMap<i64, String> = HashMap::new();
    for i in &inputs {
        *r.sent.entry(i.kind).or_default() += 1;
        *r.by_channel.entry(i.channel).or_default() += 1;
        let problem = |why| Problem::of(i, why);
        if !i.accepted {
            r.not_accepted
                .push(problem(format!("not accepted: {}", i.answer)));
            continue;
        }
        r.accepted += 1;
        if i.attempts > 1 {
            r.retried += 1;
        }
        let Some(inb) = facts.inbound.get(&i.external_id) else {
            r.lost.push(problem(format!(
                "accepted ({}) but no inbound row for {}",
                i.answer, i.external_id
            )));
            continue;
        };
        if inb.channel != i.channel.recorded_as() {
            r.lost.push(problem(format!(
                "{} recorded on channel {}, sent on {}",
                i.external_id,
                inb.channel,
                i.channel.name()
            )));
        }
        let Some(d) = &inb.decision else {
            let why = match inb.state.as_str() {
                "failed" => format!(
                    "parked, not decided: {}",
                    inb.error.as_deref().unwrap_or("no reason")
                ),
                s => format!("stored ({s}) but never decided"),
            };
            r.lost.push(problem(why));
            continue;
        };
        if let Some(want) = expected_outcome(i.kind)
            && d.outcome != want
        {
            r.misdecided.push(problem(format!(
                "a {} input decided {}, not {want}",
                i.kind, d.outcome
            )));
        }
        if i.kind != Kind::Duplicate {
            to_decision.push(seconds(d.at - i.sent_at));
        }
        // Replies go when their answer comes, not at the load's pace.
        if i.kind != Kind::Duplicate && i.kind != Kind::Reply {
            decided_at.push(d.at);
        }
        // A needs-info submission's samples wait for the missing facts.
        let held = i.kind == Kind::NeedsInfo && !d.completed;
        if held {
            r.held += i.samples.len() as u64;
        }
        // Samples: findings or a dead letter; never a finding twice.
        let mut last = None::<DateTime<Utc>>;
        for sha in i.samples.iter().filter(|_| !held) {
            let first_time = samples_seen.insert(*sha);
            if first_time {
                r.samples += 1;
            }
            match (facts.findings.get(sha), facts.dead.contains(sha)) {
                (Some(f), _) if f.rows > 0 => {
                    if f.rows > f.distinct && first_time {
                        r.duplicates.push(problem(format!(
                            "sample {sha}: {} findings where {} are distinct (analyser, version)",
                            f.rows, f.distinct
                        )));
                    }
                    last = Some(last.map_or(f.last_at, |l| l.max(f.last_at)));
                    if first_time {
                        analysed += 1;
                        last_finding = last_finding.max(Some(f.last_at));
                    }
                }
                (_, true) => {
                    if first_time {
                        r.dead_lettered += 1;
                    }
                }
                _ => r.lost.push(problem(format!(
                    "sample {sha}: no findings and no dead-letter record"
                ))),
            }
        }
        if let Some(l) = last
            && i.kind != Kind::Duplicate
            && l >= i.sent_at
        {
            to_findings.push(seconds(l - i.sent_at));
        }
        check_answers(&mut r, i, facts, &mut answered, &mut composed_ids);
    }
    // A reply completes the needs-info submission it answers.
    let by_id: HashMap<&str, &Input> = inputs.iter().map(|i| (i.id.as_str(), *i)).collect();
    for i in inputs
        .iter()
        .filter(|i| i.kind == Kind::Reply && i.accepted)
    {
        let Some(orig) = i.replies_to.as_deref().and_then(|o| by_id.get(o)) else {
            continue;
        };
        let completed = facts
            .inbound
            .get(&orig.external_id)
            .and_then(|b| b.decision.as_ref())
            .is_some_and(|d| d.completed);
        if !completed {
            r.misdecided.push(Problem {
                input: i.id.clone(),
                why: format!("its reply did not complete needs-info input {}", orig.id),
            });
        }
    }
    // Deliveries: each composed answer reaches the sink once.
    if let Some(delivered) = &facts.deliveries {
        let mut count: HashMap<i64, u32> = HashMap::new();
        for id in delivered {
            *count.entry(*id).or_default() += 1;
        }
        r.answers_delivered = Some(delivered.len() as u64);
        for (id, input) in &composed_ids {
            match count.get(id).copied().unwrap_or(0) {
                0 => r.lost.push(Problem {
                    input: input.clone(),
                    why: format!("answer {id} composed, never delivered"),
                }),
                1 => {}
                n => r.duplicate_deliveries.push(Problem {
                    input: input.clone(),
                    why: format!("answer {id} delivered {n} times"),
                }),
            }
        }
    }
    r.to_decision = Percentiles::of(to_decision);
    r.to_findings = Percentiles::of(to_findings);
    rates(&mut r, start, end, &decided_at, &faults);
    if let (Some(s), Some(l)) = (start, last_finding) {
        r.analysed_rate = analysed as f64 / seconds(l - s).max(1e-3);
    }
    r.not_accepted.sort();
    r.lost.sort();
    r.duplicates.sort();
    r.duplicate_deliveries.sort();
    r.misdecided.sort();
    r
}

/// Mail inputs are answered once per kind of answer.
fn check_answers(
    r: &mut Report,
    i: &Input,
    facts: &Facts,
    answered: &mut HashSet<String>,
    composed_ids: &mut HashMap<i64, String>,
) {
    if i.channel == Channel::Portal || !answered.insert(i.external_id.clone()) {
        return;
    }
    let problem = |why| Problem::of(i, why);
    let composed = facts
        .answers
        .get(&i.external_id)
        .cloned()
        .unwrap_or_default();
    if composed.is_empty() {
        r.lost
            .push(problem(format!("no answer composed to {}", i.external_id)));
    }
    let mut per_kind: BTreeMap<&str, u32> = BTreeMap::new();
    for c in &composed {
        *per_kind.entry(c.kind.as_str()).or_default() += 1;
        r.answers_composed += 1;
        if let Some(id) = c.outbox_id {
            composed_ids.insert(id, i.id.clone());
        }
    }
    for (kind, n) in per_kind {
        if n > 1 {
            r.duplicates
                .push(problem(format!("answer {kind} composed {n} times")));
        }
    }
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// Throughput over the run, inside and outside faults, and the recovery
/// after each: decisions counted per second of the run.
fn rates(
    r: &mut Report,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    decided: &[DateTime<Utc>],
    faults: &[&Fault],
) {
    let Some(start) = start.or_else(|| decided.iter().min().copied()) else {
        return;
    };
    let last = decided.iter().max().copied().unwrap_or(start);
    let end = end.unwrap_or(last);
    let secs = seconds(end - start).ceil().max(1.0) as usize;
    r.seconds = seconds(last.max(end) - start);
    let mut per_sec = vec![0u32; secs];
    for d in decided {
        let s = seconds(*d - start).floor();
        if s >= 0.0 && (s as usize) < secs {
            per_sec[s as usize] += 1;
        }
    }
    r.throughput = decided.len() as f64 / r.seconds.max(1e-3);
    let sec_of = |t: DateTime<Utc>| seconds(t - start).max(0.0) as usize;
    // Full rate: the median second outside every fault (plus 10 s after), not
    // counting the first and last 5 s of ramp.
    let mut faulted = vec![false; secs];
    for f in faults {
        for s in faulted
            .iter_mut()
            .take((sec_of(f.until) + 10).min(secs))
            .skip(sec_of(f.at))
        {
            *s = true;
        }
    }
    let mut calm: Vec<u32> = (0..secs)
        .filter(|&s| !faulted[s] && s >= 5 && s + 5 < secs)
        .map(|s| per_sec[s])
        .collect();
    calm.sort_unstable();
    let measurable = calm.len() >= CALM_SECONDS_FOR_FULL_RATE && calm[calm.len() / 2] > 0;
    r.full_rate = calm.get(calm.len() / 2).copied().unwrap_or(0) as f64;
    // Each fault's window lasts until three seconds in a row are each back
    // at 90 % of full rate.
    let mut window = vec![false; secs];
    for f in faults {
        let from = sec_of(f.until);
        let back = (from..secs.saturating_sub(2)).find(|&s| {
            per_sec[s..s + 3]
                .iter()
                .all(|&n| f64::from(n) >= 0.9 * r.full_rate)
        });
        let to = back.unwrap_or(secs);
        for w in window.iter_mut().take(to).skip(sec_of(f.at)) {
            *w = true;
        }
        r.recoveries.push(Recovery {
            fault: f.kind,
            at: f.at,
            lasted: seconds(f.until - f.at),
            back: match back {
                _ if !measurable => Back::NotMeasurable,
                Some(b) => Back::After((b as f64 - seconds(f.until - start)).max(0.0)),
                None => Back::NotBeforeEnd,
            },
        });
    }
    let (mut calm_n, mut calm_s, mut hurt_n, mut hurt_s) = (0u64, 0u64, 0u64, 0u64);
    for s in 0..secs {
        if window[s] {
            hurt_n += u64::from(per_sec[s]);
            hurt_s += 1;
        } else {
            calm_n += u64::from(per_sec[s]);
            calm_s += 1;
        }
    }
    r.throughput_calm = calm_n as f64 / calm_s.max(1) as f64;
    r.throughput_faulted = if hurt_s == 0 {
        0.0
    } else {
        hurt_n as f64 / hurt_s as f64
    };
}

/// The report as a person reads it: counts by kind, then every problem on
/// its own line.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let list = |m: &mut String, title: &str, v: &[Problem]| {
        let _ = writeln!(m, "{title}: {}", v.len());
        for p in v.iter().take(50) {
            let _ = writeln!(m, "  {} {}", p.input, p.why);
        }
        if v.len() > 50 {
            let _ = writeln!(m, "  … and {} more", v.len() - 50);
        }
    };
    let sent: u64 = r.sent.values().sum();
    let kinds: Vec<String> = r.sent.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let chans: Vec<String> = r
        .by_channel
        .iter()
        .map(|(c, n)| format!("{} {n}", c.name()))
        .collect();
    let faults: Vec<String> = r
        .faults
        .iter()
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
    let _ = writeln!(o, "inputs sent: {sent} ({})", kinds.join(", "));
    let _ = writeln!(o, "by channel: {}", chans.join(", "));
    let _ = writeln!(
        o,
        "faults injected: {} ({})",
        r.faults.values().sum::<u64>(),
        if faults.is_empty() {
            "none".to_owned()
        } else {
            faults.join(", ")
        }
    );
    let _ = writeln!(
        o,
        "accepted: {} (after a refusal or a lost connection: {})",
        r.accepted, r.retried
    );
    let _ = writeln!(
        o,
        "samples: {} (dead-lettered, visible to staff: {}; held until the customer's missing facts come: {})",
        r.samples, r.dead_lettered, r.held
    );
    let _ = writeln!(
        o,
        "answers composed: {}; delivered to the sink: {}",
        r.answers_composed,
        r.answers_delivered
            .map_or("no sink read".to_owned(), |n| n.to_string())
    );
    if !r.backlog.drained() {
        let b = &r.backlog;
        let _ = writeln!(
            o,
            "NOT DRAINED: {} inputs undecided, {} outbox rows unsent, {} jobs running, {} queued",
            b.inbound_undecided, b.outbox_pending, b.jobs_running, b.queue_depth
        );
    }
    list(&mut o, "not accepted", &r.not_accepted);
    list(&mut o, "lost", &r.lost);
    list(&mut o, "duplicates", &r.duplicates);
    list(
        &mut o,
        "duplicate deliveries (a resend after a crash, same Message-ID)",
        &r.duplicate_deliveries,
    );
    list(&mut o, "decided otherwise than their kind", &r.misdecided);
    let pct = |p: &Percentiles| {
        format!(
            "p50 {:.3} s, p95 {:.3} s, p99 {:.3} s, max {:.3} s (n={})",
            p.p50, p.p95, p.p99, p.max, p.n
        )
    };
    let _ = writeln!(o, "send → decision: {}", pct(&r.to_decision));
    let _ = writeln!(o, "send → findings: {}", pct(&r.to_findings));
    let _ = writeln!(
        o,
        "analysed: {:.1} samples/s from the run's start to the last finding",
        r.analysed_rate
    );
    let _ = writeln!(
        o,
        "throughput: {:.1} inputs/s over {:.0} s; {:.1}/s outside faults, {:.1}/s during them; full rate {:.0}/s",
        r.throughput, r.seconds, r.throughput_calm, r.throughput_faulted, r.full_rate
    );
    for rec in &r.recoveries {
        let _ = writeln!(
            o,
            "  {} at {}: lasted {:.1} s, back to full rate {}",
            rec.fault.name(),
            rec.at.format("%H:%M:%S"),
            rec.lasted,
            match rec.back {
                Back::After(b) => format!("{b:.0} s after"),
                Back::NotBeforeEnd => "not before the load ended".to_owned(),
                Back::NotMeasurable => format!(
                    "not measurable (fewer than {CALM_SECONDS_FOR_FULL_RATE} seconds outside faults)"
                ),
            },
        );
    }
    let _ = writeln!(
        o,
        "{}",
        if r.ok() {
            "AUDIT PASSED: nothing lost, nothing twice"
        } else {
            "AUDIT FAILED"
        }
    );
    o
}

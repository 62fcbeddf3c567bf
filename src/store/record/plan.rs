//! What recording one decision writes, decided without a database. From the
//! decision (the report and what the channel found out about the sender)
//! and what the database already knows (the SR the input names with its
//! open needs_info submission and latest facts, the grant the facts name, a
//! fresh SR number), [`plan`] returns every row to write. The writer only
//! persists that value, so each path is unit-tested here (`tests.rs`)
//! without PostgreSQL. Pure: no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::answer::{self, Answer, Correspondent, FileLine, Notice, TemplateError};
use crate::decide::classify::Kind;
use crate::decide::metadata::{Field, Metadata};
use crate::decide::report::{Channel, Opened, Outcome, Report};
use crate::digest::Sha256;
use crate::mail::ReplyProof;
use crate::sr::clock::Deadlines;
use crate::sr::{self, Event, Grant, SenderAuth, Severity, SrNumber, Status, Tier, Verification};
use crate::store::queue::SampleJob;

use super::{Recorded, Recording};

/// Planning failed: the answer's template, or what the database told us
/// does not fit together.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("a new SR needs a number, and none was taken")]
    NoNumber,
}

/// A sample as recorded: the report's entry, or one carried over from an
/// earlier submission of the SR.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    pub path: String,
    pub sha256: Sha256,
    pub size: u64,
    pub kind: Kind,
    pub warnings: serde_json::Value,
}

/// An open needs_info submission of the SR a reply belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    pub id: Uuid,
    pub metadata: Metadata,
    pub samples: Vec<Linked>,
}

/// Whose an SR is: a grant's (loaded when it exists), or, without a grant,
/// the customer who opened it.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Grant {
        number: String,
        grant: Option<Grant>,
    },
    Customer(Option<String>),
}

/// The SR an input names, as stored (locked by the reader).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSr {
    pub id: i64,
    pub number: SrNumber,
    pub severity: Severity,
    pub status: Status,
    /// For a closed SR: where it was closed from, and when.
    pub closed_from: Option<Status>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Its clock: deadlines, and since when it waits on the customer.
    pub deadlines: Deadlines,
    pub owner: Owner,
    /// Its open needs_info submission; read only when the input joins it.
    pub earlier: Option<Earlier>,
    /// Its latest facts; read only when the input joins it.
    pub latest: Option<Metadata>,
}

/// What the database knows that the plan depends on.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// This input was recorded before (a redelivery): nothing is written.
    pub already: Option<Recorded>,
    /// The SR the input names ([`names`]), if it exists.
    pub named: Option<NamedSr>,
    /// The grant [`grant_number`] names, if imported.
    pub grant: Option<Grant>,
    /// A fresh SR number, for when the plan opens an SR.
    pub number: Option<SrNumber>,
}

/// The plan: nothing to do, or the rows to write.
#[derive(Debug)]
pub enum Planned<'a> {
    Already(Recorded),
    Write(Box<Rows<'a>>),
}

/// Every row one recording writes, as the writer persists it (serialised
/// once into the one statement's parameter).
#[derive(Debug, Serialize)]
pub struct Rows<'a> {
    /// The application clock's time of the recording (to the microsecond,
    /// as PostgreSQL keeps it).
    pub at: DateTime<Utc>,
    pub sr: SrWrite<'a>,
    pub submission: SubmissionRow<'a>,
    /// One row per distinct sample, however many paths it came by.
    pub samples: Vec<SampleRow>,
    pub links: Vec<LinkRow>,
    pub rejected: Vec<RejectedRow<'a>>,
    /// Events on this SR and submission, in order.
    pub events: Vec<EventRow>,
    /// Analysis jobs for the outbox, at `job_priority`.
    pub jobs: Vec<SampleJob>,
    pub job_priority: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// The input as it came in (mail or upload), kept with the SR's
    /// correspondence.
    pub input: InputIn<'a>,
    /// An event on another SR (the one an unproven reply named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elsewhere: Option<Elsewhere>,
    /// What the caller is told once the rows are written.
    #[serde(skip)]
    pub recorded: Recorded,
}

/// The SR row: opened, or updated.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SrWrite<'a> {
    New {
        number: SrNumber,
        /// Only a grant that exists.
        #[serde(skip_serializing_if = "Option::is_none")]
        grant_number: Option<String>,
        customer_email: Option<&'a str>,
        severity: Severity,
        status: Status,
        tier: Tier,
        /// Paused when it opens waiting on the customer (needs_info).
        #[serde(flatten)]
        deadlines: Deadlines,
        #[serde(skip_serializing_if = "Option::is_none")]
        correspondent: Option<&'a Correspondent>,
        channel: Channel,
        /// The title a portal customer gave the SR.
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
        /// The portal account that opened it.
        #[serde(skip_serializing_if = "Option::is_none")]
        opened_by: Option<i64>,
    },
    /// A proven reply: the SR moves (reopened when closed), its clock
    /// stops or starts again, and answers go to the latest correspondent.
    Update {
        id: i64,
        status: Status,
        #[serde(flatten)]
        deadlines: Deadlines,
        #[serde(skip_serializing_if = "Option::is_none")]
        correspondent: Option<&'a Correspondent>,
    },
}

#[derive(Debug, Serialize)]
pub struct SubmissionRow<'a> {
    pub id: Uuid,
    pub inbound_id: i64,
    pub sender: Option<&'a str>,
    pub outcome: Outcome,
    pub verification: Verification,
    pub missing_fields: Vec<&'static str>,
    pub metadata: Metadata,
    pub report: &'a Report,
    pub sender_auth: &'a SenderAuth,
    /// Archives the customer's own passwords opened.
    pub opened_with: &'a [Opened],
    /// The earlier needs_info submission this one completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completes: Option<Uuid>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SampleRow {
    pub sha256: Sha256,
    pub size: u64,
    pub kind: Kind,
}

#[derive(Debug, Serialize)]
pub struct LinkRow {
    pub sha256: Sha256,
    pub path: String,
    pub warnings: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct RejectedRow<'a> {
    pub path: &'a str,
    pub sha256: Option<Sha256>,
    pub size: u64,
    pub reason: &'static str,
    pub detail: &'a str,
}

/// An event as the log stores it: its kind and its fields.
#[derive(Debug, Serialize, PartialEq)]
pub struct EventRow {
    pub kind: String,
    pub detail: serde_json::Value,
}

impl EventRow {
    fn of(e: Event<'_>) -> EventRow {
        let (kind, detail) = e.to_row();
        EventRow { kind, detail }
    }
}

#[derive(Debug, Serialize)]
pub struct InputIn<'a> {
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub message_id: Option<&'a str>,
    /// The portal account that sent it.
    pub account: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Elsewhere {
    pub sr: SrNumber,
    #[serde(flatten)]
    pub event: EventRow,
}

/// The SR whose record the reader must look up and lock: the one the input
/// names, when the input could join it (a proven reply with a sender). An
/// unproven reply never joins the SR it names.
pub fn names<'r>(r: &'r Recording<'_>) -> Option<&'r SrNumber> {
    if matches!(r.reply_proof, Some(ReplyProof::Unproven(_))) {
        return None;
    }
    r.sr_reference
        .as_ref()
        .filter(|_| r.report.sender.is_some())
}

/// Whether the input joins `sr`: its sender is entitled to it (the SR's
/// grant, or the customer who opened an SR without one) and it is not
/// closed beyond reopening.
pub fn joins(r: &Recording<'_>, sr: &NamedSr) -> bool {
    let Some(sender) = r.report.sender.as_deref() else {
        return false;
    };
    let too_old = sr.status == Status::Closed && !sr::reopenable(sr.closed_at, r.now);
    let entitled = match &sr.owner {
        Owner::Grant { grant, .. } => grant.as_ref().is_some_and(|g| sr::entitled(g, sender)),
        Owner::Customer(c) => c.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(sender)),
    };
    !too_old && entitled
}

/// The grant number the recording's facts name (after completing them from
/// `joined`), for the reader to look up.
pub fn grant_number(r: &Recording<'_>, joined: Option<&NamedSr>) -> Option<String> {
    Facts::of(r, joined).meta.grant_number
}

/// Plans the recording `r` given what the database knows.
/// How long an out-of-office notice that states no return date stops the
/// clock (unless the customer answers sooner): a working week.
pub const AWAY_UNSTATED: TimeDelta = TimeDelta::days(7);

/// Whether the input is only an out-of-office notice: it carries no file
/// and completes nothing.
fn away_notice(r: &Recording<'_>) -> bool {
    r.away.is_some() && r.report.samples.is_empty() && r.report.rejected.is_empty()
}

pub fn plan<'a>(r: &Recording<'a>, known: Known) -> Result<Planned<'a>, PlanError> {
    if let Some(done) = known.already {
        return Ok(Planned::Already(done));
    }
    let report = r.report;
    let at = r
        .now
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(r.now);
    let joined = known
        .named
        .filter(|sr| names(r) == Some(&sr.number) && joins(r, sr));
    let facts = Facts::of(r, joined.as_ref());
    let named_grant = facts.meta.grant_number.as_deref().map(str::trim);
    let grant = known
        .grant
        .filter(|g| Some(g.grant_number.as_str()) == named_grant);
    let sender = report.sender.as_deref();
    let mut verification = sr::verify(named_grant, grant.as_ref(), sender, at.date_naive());
    // A reply without proof of its origin never joins the SR it names: it
    // is held as an SR of its own, linked to that one for staff.
    if let (Some(named), Some(ReplyProof::Unproven(why))) = (&r.sr_reference, r.reply_proof) {
        verification = Verification::UnprovenReply {
            sr: named.clone(),
            why: why.clone(),
        };
    }
    let verified = verification.is_verified();
    let outcome = facts.outcome;
    let queue_jobs = outcome == Outcome::Accepted && verified;
    let submission_id = Uuid::new_v4();
    let mut events = Vec::new();
    let mut update_only = false;

    let (sr_write, number, severity) = match &joined {
        // The customer's autoresponder: they are away. It moves nothing
        // (a closed SR stays closed) but stops the clock until they are back.
        Some(sr) if away_notice(r) => {
            update_only = true;
            let until = r
                .away
                .and_then(|a| a.returns)
                .map_or(at + AWAY_UNSTATED, |d| {
                    d.and_time(chrono::NaiveTime::MIN).and_utc()
                });
            let deadlines = if sr.status == Status::Closed {
                sr.deadlines
            } else {
                sr.deadlines.away(until, sr.status, at)
            };
            events.push(EventRow::of(Event::CustomerAway {
                until: deadlines.away_until,
                stated: r.away.and_then(|a| a.returns),
            }));
            let write = SrWrite::Update {
                id: sr.id,
                status: sr.status,
                deadlines,
                correspondent: None,
            };
            (write, sr.number.clone(), sr.severity)
        }
        Some(sr) => {
            if sr.status == Status::Closed {
                events.push(EventRow::of(Event::Reopened { by: sender }));
            }
            let reply = if report.samples.is_empty()
                && report.rejected.is_empty()
                && facts.completes.is_none()
            {
                update_only = true;
                events.push(EventRow::of(Event::CustomerUpdate { by: sender }));
                sr::Reply::Update
            } else {
                sr::Reply::Submission { outcome, verified }
            };
            let from = if sr.status == Status::Closed {
                Status::reopened(sr.closed_from)
            } else {
                sr.status
            };
            let status = from.after_reply(reply);
            let write = SrWrite::Update {
                id: sr.id,
                status,
                deadlines: sr.deadlines.answered().moved(status, at),
                correspondent: r.answer_to,
            };
            (write, sr.number.clone(), sr.severity)
        }
        None => {
            let number = known.number.ok_or(PlanError::NoNumber)?;
            let (severity, why) = sr::assess(&facts.meta, report);
            let tier = Tier::L1;
            events.push(EventRow::of(Event::Opened {
                severity,
                why,
                tier,
            }));
            let status = Status::opened_by(outcome, verified);
            let write = SrWrite::New {
                number: number.clone(),
                grant_number: grant.as_ref().map(|g| g.grant_number.clone()),
                customer_email: sender,
                severity,
                status,
                tier,
                deadlines: Deadlines::opened(severity, report.channel, at).moved(status, at),
                correspondent: r.answer_to,
                channel: report.channel,
                title: r.subject.filter(|_| report.channel == Channel::Portal),
                opened_by: r.account,
            };
            (write, number, severity)
        }
    };

    let mut distinct = BTreeMap::new();
    for s in &facts.samples {
        distinct.entry(s.sha256).or_insert(s);
    }
    let jobs: Vec<SampleJob> = if queue_jobs {
        distinct
            .values()
            .map(|s| SampleJob {
                job_id: Uuid::new_v4(),
                sha256: s.sha256,
                size: s.size,
                kind: s.kind,
                sr_number: number.clone(),
                submission_id,
                severity,
                attempt: 1,
            })
            .collect()
    } else {
        Vec::new()
    };
    let missing_fields: Vec<&'static str> = facts.missing.iter().map(|f| f.key()).collect();
    events.push(EventRow::of(Event::SubmissionRecorded {
        outcome,
        verification: &verification,
        samples: facts.samples.len(),
        rejected: report.rejected.len(),
        missing_fields: missing_fields.clone(),
        sender_auth: r.sender_auth,
    }));
    if let Some(earlier) = facts.completes {
        events.push(EventRow::of(Event::Completes { earlier, outcome }));
    }
    if !queue_jobs && outcome == Outcome::Accepted {
        events.push(EventRow::of(Event::Held { why: &verification }));
    }
    // An unproven reply: linked both ways, so staff find it from either SR.
    let elsewhere = match &verification {
        Verification::UnprovenReply { sr, why } => {
            events.push(EventRow::of(Event::ReplyUnproven { names: sr, why }));
            Some(Elsewhere {
                sr: sr.clone(),
                event: EventRow::of(Event::ReplyHeldElsewhere {
                    held_as: &number,
                    why,
                }),
            })
        }
        _ => None,
    };

    // A customer update is recorded, not acknowledged with a refusal.
    let answer = match r.answer_to.filter(|_| !update_only) {
        Some(to) => {
            let files: Vec<FileLine> = facts
                .samples
                .iter()
                .map(|s| FileLine {
                    path: s.path.clone(),
                    size: s.size,
                    sha256: s.sha256,
                })
                .collect();
            let notice = Notice::Received {
                outcome,
                held: (!verified).then(|| verification.to_string()),
                samples: &files,
                rejected: &report.rejected,
                missing: &facts.missing,
                completed: facts.completes.is_some(),
            };
            let a = answer::compose(&number, to, &notice, r.vendor)?;
            events.push(EventRow::of(Event::AnswerQueued {
                answer: a.kind,
                to: &a.to,
                lang: a.lang,
            }));
            Some(a)
        }
        None => None,
    };
    let input = InputIn {
        sender,
        subject: r.subject,
        message_id: report.message_id.as_deref(),
        account: r.account,
    };

    let recorded = Recorded {
        submission_id,
        sr_number: number,
        sr_is_new: joined.is_none(),
        severity,
        outcome,
        verification: verification.clone(),
        jobs: jobs.len(),
        completes: facts.completes,
        answered: answer.is_some(),
        duplicate: false,
    };
    Ok(Planned::Write(Box::new(Rows {
        at,
        sr: sr_write,
        samples: distinct
            .values()
            .map(|s| SampleRow {
                sha256: s.sha256,
                size: s.size,
                kind: s.kind,
            })
            .collect(),
        links: facts
            .samples
            .iter()
            .map(|s| LinkRow {
                sha256: s.sha256,
                path: s.path.clone(),
                warnings: s.warnings.clone(),
            })
            .collect(),
        rejected: report
            .rejected
            .iter()
            .map(|x| RejectedRow {
                path: &x.path,
                sha256: x.sha256,
                size: x.size,
                reason: x.reason.as_str(),
                detail: &x.detail,
            })
            .collect(),
        submission: SubmissionRow {
            id: submission_id,
            inbound_id: r.inbound_id,
            sender,
            outcome,
            verification,
            missing_fields,
            metadata: facts.meta,
            report,
            sender_auth: r.sender_auth,
            opened_with: &report.opened_with,
            completes: facts.completes,
        },
        events,
        jobs,
        job_priority: severity.priority(),
        answer,
        input,
        elsewhere,
        recorded,
    })))
}

/// A recording's facts, completed from the SR it joins, before they are
/// checked against the grant they name.
struct Facts {
    /// The report's samples and, for a reply completing a needs_info
    /// submission, the earlier one's.
    samples: Vec<Linked>,
    meta: Metadata,
    missing: Vec<Field>,
    outcome: Outcome,
    /// The needs_info submission this one completes (or carries on).
    completes: Option<Uuid>,
}

impl Facts {
    fn of(r: &Recording<'_>, joined: Option<&NamedSr>) -> Facts {
        let report = r.report;
        let mut facts = Facts {
            samples: report
                .samples
                .iter()
                .map(|s| Linked {
                    path: s.path.clone(),
                    sha256: s.sha256,
                    size: s.size,
                    kind: s.kind,
                    warnings: serde_json::json!(s.warnings),
                })
                .collect(),
            meta: report.metadata.clone(),
            missing: report.missing_fields.clone(),
            outcome: report.outcome,
            completes: None,
        };
        let Some(sr) = joined else {
            return facts;
        };
        // A reply is judged with its SR: it completes (or carries on) the
        // SR's open needs_info submission, whose files join the reply's;
        // else the SR's latest facts fill what the reply leaves out. Its
        // grant is the SR's, the reply's facts notwithstanding.
        match &sr.earlier {
            Some(e) => {
                facts.samples.extend(e.samples.iter().cloned());
                facts.meta.complete_from(&e.metadata);
                facts.completes = Some(e.id);
            }
            None => {
                if let Some(latest) = &sr.latest {
                    facts.meta.complete_from(latest);
                }
            }
        }
        if let Owner::Grant { number, .. } = &sr.owner {
            facts.meta.grant_number = Some(number.clone());
        }
        facts.missing = facts.meta.missing_fields();
        facts.outcome = Outcome::decide(facts.samples.len(), &facts.missing);
        facts
    }
}

//! Every change to an SR is one typed event in the append-only log: one
//! variant per kind, each with its fields, serialised here and nowhere else.
//! The log stores the kind and the fields apart (`events.kind`,
//! `events.detail`), both taken from this one serialisation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decide::report::Outcome;
use crate::digest::Sha256;

use super::contact::Via;
use super::{Lang, Resolution, SenderAuth, Severity, SrNumber, StaffVerdict, Tier, Verification};

/// Which template an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    Accepted,
    NeedsInfo,
    Rejected,
    Held,
    Closed,
    Verdict,
    /// Staff wrote to the customer.
    Message,
    /// Staff asked the customer for information.
    InfoRequest,
    /// An emergency detection package (the handbook's Extra.DAT).
    Detection,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::Accepted => "accepted",
            AnswerKind::NeedsInfo => "needs_info",
            AnswerKind::Rejected => "rejected",
            AnswerKind::Held => "held",
            AnswerKind::Closed => "closed",
            AnswerKind::Verdict => "verdict",
            AnswerKind::Message => "message",
            AnswerKind::InfoRequest => "info_request",
            AnswerKind::Detection => "detection",
        }
    }
}

/// One entry of an SR's history.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event")]
pub enum Event<'a> {
    #[serde(rename = "sr.opened")]
    Opened {
        severity: Severity,
        why: &'a str,
        tier: Tier,
    },
    #[serde(rename = "sr.reopened")]
    Reopened { by: Option<&'a str> },
    /// A proven reply that brought only text.
    #[serde(rename = "sr.customer_update")]
    CustomerUpdate { by: Option<&'a str> },
    #[serde(rename = "submission.recorded")]
    SubmissionRecorded {
        outcome: Outcome,
        verification: &'a Verification,
        samples: usize,
        rejected: usize,
        missing_fields: Vec<&'a str>,
        sender_auth: &'a SenderAuth,
    },
    /// The submission completed (or carried on) an earlier needs_info one.
    #[serde(rename = "submission.completes")]
    Completes { earlier: Uuid, outcome: Outcome },
    /// Accepted, but held until staff verify the entitlement.
    #[serde(rename = "submission.held")]
    Held { why: &'a Verification },
    /// A reply that named `names` without proof of its origin, held here.
    #[serde(rename = "reply.unproven")]
    ReplyUnproven { names: &'a SrNumber, why: &'a str },
    /// On the SR a reply named: where that reply is held instead.
    #[serde(rename = "reply.held_elsewhere")]
    ReplyHeldElsewhere { held_as: &'a SrNumber, why: &'a str },
    #[serde(rename = "answer.queued")]
    AnswerQueued {
        #[serde(rename = "kind")]
        answer: AnswerKind,
        to: &'a str,
        lang: Lang,
    },
    #[serde(rename = "sr.closed")]
    Closed {
        resolution: Resolution,
        note: Option<&'a str>,
    },
    /// Staff wrote to the customer (`asks_info`: asked for information,
    /// and the clock waits on the answer).
    #[serde(rename = "sr.message_sent")]
    MessageSent { asks_info: bool },
    /// Staff tried to reach the customer; `counts` says whether the attempt
    /// counts toward closing for lack of contact (`sr::contact`).
    #[serde(rename = "sr.contact_attempt")]
    ContactAttempt {
        via: Via,
        note: Option<&'a str>,
        counts: bool,
        counted: usize,
    },
    /// Staff moved the SR to the next tier before its deadline.
    #[serde(rename = "sr.escalated_by_hand")]
    EscalatedByHand {
        from: Tier,
        to: Tier,
        why: Option<&'a str>,
    },
    /// Staff downloaded a sample (as a zip encrypted with `infected`).
    #[serde(rename = "sample.downloaded")]
    SampleDownloaded { sha256: Sha256 },
    /// Staff queued a dead-lettered analysis again.
    #[serde(rename = "analysis.requeued")]
    AnalysisRequeued { sha256: Sha256 },
    /// Staff sent an emergency detection package for a sample.
    #[serde(rename = "detection.sent")]
    DetectionSent { sha256: Sha256, rule: &'a str },
    /// Staff set the severity; the deadlines were planned afresh.
    #[serde(rename = "sr.severity_changed")]
    SeverityChanged { from: Severity, to: Severity },
    /// The clock moved the SR to the next tier: its deadline passed.
    #[serde(rename = "sr.escalated")]
    Escalated {
        from: Tier,
        to: Tier,
        due: DateTime<Utc>,
        late_by_secs: i64,
    },
    /// The customer is away (an out-of-office auto-reply): the clock
    /// stops until `until`, or until they answer.
    #[serde(rename = "sr.customer_away")]
    CustomerAway {
        until: Option<DateTime<Utc>>,
        /// The return date as the notice gave it, if it gave one.
        stated: Option<chrono::NaiveDate>,
    },
    /// The customer's return date passed: the clock runs again (unless
    /// the SR still waits for information).
    #[serde(rename = "sr.away_ended")]
    AwayEnded {
        until: Option<DateTime<Utc>>,
        waits_still: bool,
    },
    /// Staff gave the SR to someone (or to no one).
    #[serde(rename = "sr.assigned")]
    Assigned {
        from: Option<&'a str>,
        to: Option<&'a str>,
    },
    #[serde(rename = "verdict.recorded")]
    VerdictRecorded {
        sha256: Sha256,
        verdict: &'a StaffVerdict,
        note: Option<&'a str>,
    },
    #[serde(rename = "analysis.done")]
    AnalysisDone {
        sha256: Sha256,
        analysers: Vec<&'a str>,
    },
    #[serde(rename = "analysis.retry")]
    AnalysisRetry {
        sha256: Sha256,
        attempt: u32,
        error: &'a str,
    },
    #[serde(rename = "analysis.dead")]
    AnalysisDead {
        sha256: Sha256,
        attempt: u32,
        error: &'a str,
    },
}

impl Event<'_> {
    /// The kind and the fields, as the log stores them.
    pub fn to_row(&self) -> (String, serde_json::Value) {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let kind = v
            .as_object_mut()
            .and_then(|o| o.remove("event"))
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default();
        (kind, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_its_kind_and_its_fields() {
        let (kind, detail) = Event::Opened {
            severity: Severity::HIGH,
            why: "business impaired",
            tier: Tier::L1,
        }
        .to_row();
        assert_eq!(kind, "sr.opened");
        assert_eq!(
            detail,
            serde_json::json!({ "severity": 2, "why": "business impaired", "tier": "L1" })
        );
        let (kind, detail) = Event::AnswerQueued {
            answer: AnswerKind::Accepted,
            to: "a@b.example",
            lang: Lang::En,
        }
        .to_row();
        assert_eq!(kind, "answer.queued");
        assert_eq!(detail["kind"], "accepted");
        let v = StaffVerdict::Malicious {
            detection: "EICAR".into(),
        };
        let (kind, detail) = Event::VerdictRecorded {
            sha256: Sha256::of(b"x"),
            verdict: &v,
            note: None,
        }
        .to_row();
        assert_eq!(kind, "verdict.recorded");
        assert_eq!(detail["verdict"]["verdict"], "malicious");
        assert_eq!(detail["verdict"]["detection"], "EICAR");
    }
}

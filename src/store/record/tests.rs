//! The record plan on every path, without a database.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

use super::plan::{
    self, Earlier, Known, Linked, NamedSr, Owner, PlanError, Planned, Rows, SrWrite,
};
use super::{Recorded, Recording};
use crate::answer::Correspondent;
use crate::decide::classify::Kind;
use crate::decide::metadata::Metadata;
use crate::decide::report::{Channel, Outcome, Report, SampleEntry};
use crate::digest::Sha256;
use crate::mail::ReplyProof;
use crate::sr::{AnswerKind, Grant, Lang, SenderAuth, Severity, SrNumber, Status, Verification};

const SENDER: &str = "bob@acme.example";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00.123456789Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn grant() -> Grant {
    Grant {
        grant_number: "G-1".into(),
        company: "ACME".into(),
        email_domains: vec!["acme.example".into()],
        support_level: "gold".into(),
        expires_on: NaiveDate::from_ymd_opt(2030, 1, 1),
    }
}

fn full_metadata() -> Metadata {
    Metadata {
        grant_number: Some("G-1".into()),
        file_list: Some("a.exe".into()),
        symptoms: Some("pop-ups".into()),
        detected: Some(false),
        product_name: Some("Endpoint".into()),
        engine_version: Some("6.0".into()),
        dat_version: Some("11000".into()),
        os: Some("Windows 11".into()),
        ..Metadata::default()
    }
}

fn sample(name: &str, bytes: &[u8]) -> SampleEntry {
    SampleEntry {
        path: name.into(),
        sha256: Sha256::of(bytes),
        size: bytes.len() as u64,
        kind: Kind::Pe,
        warnings: vec![],
    }
}

/// A report as `decide` would make it from these samples and facts.
fn report(samples: Vec<SampleEntry>, metadata: Metadata) -> Report {
    let missing = metadata.missing_fields();
    Report {
        channel: Channel::Email,
        message_id: Some("<m2@acme.example>".into()),
        sender: Some(SENDER.into()),
        outcome: Outcome::decide(samples.len(), &missing),
        missing_fields: missing,
        metadata,
        samples,
        rejected: vec![],
        opened_with: vec![],
    }
}

fn correspondent() -> Correspondent {
    Correspondent {
        to: SENDER.into(),
        lang: Lang::En,
        message_id: Some("<m2@acme.example>".into()),
        references: vec![],
    }
}

fn number(seq: u32) -> SrNumber {
    SrNumber::new(2026, seq)
}

struct Case {
    report: Report,
    reference: Option<SrNumber>,
    proof: Option<ReplyProof>,
    to: Correspondent,
    auth: SenderAuth,
    away: Option<crate::mail::away::Away>,
}

impl Case {
    fn new(report: Report) -> Case {
        Case {
            report,
            reference: None,
            proof: None,
            to: correspondent(),
            auth: SenderAuth::default(),
            away: None,
        }
    }

    fn reply_to(mut self, sr: &NamedSr) -> Case {
        self.reference = Some(sr.number.clone());
        self.proof = Some(ReplyProof::Token);
        self
    }

    fn recording(&self) -> Recording<'_> {
        Recording {
            inbound_id: 7,
            report: &self.report,
            sr_reference: self.reference.clone(),
            reply_proof: self.proof.as_ref(),
            subject: Some("Re: [SR-2026-000001]"),
            account: None,
            answer_to: Some(&self.to),
            sender_auth: &self.auth,
            away: self.away,
            vendor: "Vendor",
            now: now(),
        }
    }

    /// Plans with what the reader would have read: the named SR (with its
    /// history when the input joins it), the grant the facts name, and a
    /// number when the plan may open an SR.
    fn plan(&self, named: Option<NamedSr>, grants: &[Grant]) -> Rows<'_> {
        let r = self.recording();
        let joined = named
            .as_ref()
            .filter(|sr| plan::names(&r) == Some(&sr.number) && plan::joins(&r, sr));
        let wanted = plan::grant_number(&r, joined);
        let known = Known {
            already: None,
            grant: grants
                .iter()
                .find(|g| Some(g.grant_number.as_str()) == wanted.as_deref())
                .cloned(),
            number: joined.is_none().then(|| number(99)),
            named,
        };
        match plan::plan(&r, known) {
            Ok(Planned::Write(rows)) => *rows,
            other => panic!("expected rows, got {other:?}"),
        }
    }
}

fn named(status: Status) -> NamedSr {
    NamedSr {
        id: 1,
        number: number(1),
        severity: Severity::MEDIUM,
        status,
        closed_from: None,
        closed_at: None,
        deadlines: Default::default(),
        owner: Owner::Grant {
            number: "G-1".into(),
            grant: Some(grant()),
        },
        earlier: None,
        latest: Some(full_metadata()),
    }
}

fn event_kinds<'a>(rows: &'a Rows<'_>) -> Vec<&'a str> {
    rows.events.iter().map(|e| e.kind.as_str()).collect()
}

fn status_of(rows: &Rows<'_>) -> Status {
    match &rows.sr {
        SrWrite::New { status, .. } | SrWrite::Update { status, .. } => *status,
    }
}

#[test]
fn a_complete_submission_opens_a_verified_sr_and_queues_each_sample_once() {
    let eicar = sample("a.exe", crate::fixture::EICAR);
    let again = SampleEntry {
        path: "copy/a.exe".into(),
        ..eicar.clone()
    };
    let case = Case::new(report(vec![eicar, again], full_metadata()));
    let rows = case.plan(None, &[grant()]);
    let SrWrite::New {
        number: n,
        grant_number,
        status,
        deadlines,
        ..
    } = &rows.sr
    else {
        panic!("a new SR")
    };
    assert_eq!(n, &number(99));
    assert_eq!(grant_number.as_deref(), Some("G-1"));
    assert_eq!(*status, Status::InAnalysis);
    // The clock's time, to the microsecond PostgreSQL keeps.
    assert_eq!(rows.at.timestamp_subsec_nanos(), 123_456_000);
    assert!(deadlines.escalation_due.is_some_and(|d| d > rows.at));
    assert_eq!(rows.samples.len(), 1, "one row per distinct sample");
    assert_eq!(rows.links.len(), 2, "every path is linked");
    assert_eq!(rows.jobs.len(), 1);
    assert_eq!(rows.jobs[0].sr_number, number(99));
    assert_eq!(rows.jobs[0].submission_id, rows.submission.id);
    assert_eq!(
        rows.submission.verification,
        Verification::Verified {
            grant: "G-1".into()
        }
    );
    assert_eq!(
        event_kinds(&rows),
        ["sr.opened", "submission.recorded", "answer.queued"]
    );
    assert_eq!(
        rows.answer.as_ref().map(|a| a.kind),
        Some(AnswerKind::Accepted)
    );
    assert_eq!(rows.input.sender, Some(SENDER));
    assert!(rows.recorded.sr_is_new && rows.recorded.answered);
    assert_eq!(rows.recorded.jobs, 1);
}

#[test]
fn an_expired_grant_holds_the_submission_for_staff() {
    let mut g = grant();
    g.expires_on = NaiveDate::from_ymd_opt(2026, 1, 1);
    let case = Case::new(report(vec![sample("a.exe", b"MZ one")], full_metadata()));
    let rows = case.plan(None, &[g]);
    assert!(matches!(
        rows.submission.verification,
        Verification::Expired { .. }
    ));
    assert_eq!(status_of(&rows), Status::Unverified);
    assert!(rows.jobs.is_empty());
    assert!(event_kinds(&rows).contains(&"submission.held"));
    assert_eq!(rows.answer.as_ref().map(|a| a.kind), Some(AnswerKind::Held));
    // The SR still names the grant that exists, for staff.
    assert!(matches!(&rows.sr, SrWrite::New { grant_number: Some(g), .. } if g == "G-1"));
}

#[test]
fn an_unknown_grant_is_not_written_on_the_sr() {
    let mut meta = full_metadata();
    meta.grant_number = Some("G-404".into());
    let case = Case::new(report(vec![sample("a.exe", b"MZ")], meta));
    let rows = case.plan(None, &[grant()]);
    assert_eq!(
        rows.submission.verification,
        Verification::UnknownGrant {
            grant: "G-404".into()
        }
    );
    assert!(matches!(
        &rows.sr,
        SrWrite::New {
            grant_number: None,
            ..
        }
    ));
}

/// "Any update?" from the customer on an SR in analysis: an update, not a
/// rejected submission; no refusal mail; the SR stays where it is.
#[test]
fn a_text_reply_is_a_customer_update() {
    let sr = named(Status::InAnalysis);
    let case = Case::new(report(vec![], Metadata::default())).reply_to(&sr);
    let rows = case.plan(Some(sr), &[grant()]);
    assert!(matches!(rows.sr, SrWrite::Update { id: 1, .. }));
    assert_eq!(status_of(&rows), Status::InAnalysis);
    assert_eq!(
        event_kinds(&rows),
        ["sr.customer_update", "submission.recorded"]
    );
    assert!(rows.answer.is_none());
    // The SR's facts fill the reply's: nothing is reported missing.
    assert!(rows.submission.missing_fields.is_empty());
    assert!(!rows.recorded.sr_is_new);
}

/// Files alone in a reply join the SR under its grant, with its facts.
#[test]
fn files_in_a_reply_join_the_sr_under_its_grant() {
    let sr = named(Status::InAnalysis);
    let case = Case::new(report(
        vec![sample("b.exe", b"MZ two")],
        Metadata::default(),
    ))
    .reply_to(&sr);
    let rows = case.plan(Some(sr), &[grant()]);
    assert_eq!(rows.submission.outcome, Outcome::Accepted);
    assert!(rows.submission.verification.is_verified());
    assert_eq!(status_of(&rows), Status::InAnalysis);
    assert_eq!(rows.jobs.len(), 1);
    assert_eq!(rows.jobs[0].sr_number, number(1));
    assert_eq!(rows.jobs[0].severity, Severity::MEDIUM);
}

#[test]
fn a_reply_completing_needs_info_carries_the_earlier_files() {
    let mut sr = named(Status::NeedsInfo);
    // Waiting on the customer for three hours, with two left on the clock.
    sr.deadlines = crate::sr::clock::Deadlines {
        escalation_due: Some(now() - TimeDelta::hours(1)),
        next_update_due: Some(now() - TimeDelta::hours(2)),
        paused_at: Some(now() - TimeDelta::hours(3)),
        ..Default::default()
    };
    let earlier_id = Uuid::from_u128(5);
    let mut partial = full_metadata();
    partial.os = None;
    partial.dat_version = None;
    sr.latest = None;
    sr.earlier = Some(Earlier {
        id: earlier_id,
        metadata: partial,
        samples: vec![Linked {
            path: "first.exe".into(),
            sha256: Sha256::of(b"MZ first"),
            size: 8,
            kind: Kind::Pe,
            warnings: serde_json::json!([]),
        }],
    });
    let completing = Metadata {
        os: Some("Windows 10".into()),
        dat_version: Some("11001".into()),
        ..Metadata::default()
    };
    let case = Case::new(report(vec![], completing)).reply_to(&sr);
    let rows = case.plan(Some(sr), &[grant()]);
    assert_eq!(rows.submission.outcome, Outcome::Accepted);
    assert_eq!(rows.submission.completes, Some(earlier_id));
    assert_eq!(status_of(&rows), Status::InAnalysis);
    assert_eq!(rows.links.len(), 1);
    assert_eq!(rows.jobs.len(), 1);
    assert!(event_kinds(&rows).contains(&"submission.completes"));
    assert_eq!(rows.submission.metadata.os.as_deref(), Some("Windows 10"));
    assert_eq!(rows.recorded.completes, Some(earlier_id));
    // The clock runs again with the time it had left when the wait began.
    let at = rows.at;
    match rows.sr {
        SrWrite::Update { deadlines, .. } => {
            assert_eq!(deadlines.escalation_due, Some(at + TimeDelta::hours(2)));
            assert_eq!(deadlines.next_update_due, Some(at + TimeDelta::hours(1)));
            assert_eq!(deadlines.paused_at, None);
        }
        SrWrite::New { .. } => panic!("joins the SR"),
    }
}

#[test]
fn a_reply_within_thirty_days_of_closing_reopens_where_it_was() {
    let mut sr = named(Status::Closed);
    sr.closed_from = Some(Status::Answered);
    sr.closed_at = Some(now() - TimeDelta::days(29));
    let case = Case::new(report(vec![], Metadata::default())).reply_to(&sr);
    let rows = case.plan(Some(sr), &[grant()]);
    assert!(matches!(rows.sr, SrWrite::Update { id: 1, .. }));
    assert_eq!(status_of(&rows), Status::Answered);
    assert_eq!(event_kinds(&rows)[0], "sr.reopened");
}

#[test]
fn a_reply_after_thirty_days_opens_a_new_sr() {
    let mut sr = named(Status::Closed);
    sr.closed_from = Some(Status::Answered);
    sr.closed_at = Some(now() - TimeDelta::days(31));
    let case = Case::new(report(vec![sample("c.exe", b"MZ three")], full_metadata())).reply_to(&sr);
    let rows = case.plan(Some(sr), &[grant()]);
    assert!(matches!(rows.sr, SrWrite::New { .. }));
    assert_eq!(rows.recorded.sr_number, number(99));
    assert!(!event_kinds(&rows).contains(&"sr.reopened"));
}

#[test]
fn an_unentitled_sender_does_not_join_the_sr_it_names() {
    let sr = named(Status::InAnalysis);
    let mut case = Case::new(report(vec![sample("d.exe", b"MZ")], full_metadata()));
    case.report.sender = Some("eve@elsewhere.example".into());
    let case = case.reply_to(&sr);
    let rows = case.plan(Some(sr), &[grant()]);
    assert!(matches!(rows.sr, SrWrite::New { .. }));
    assert!(matches!(
        &rows.submission.verification,
        Verification::DomainNotRegistered { domain, .. } if domain == "elsewhere.example"
    ));
    assert!(rows.jobs.is_empty());
}

#[test]
fn an_sr_without_a_grant_belongs_to_whoever_opened_it() {
    let mut sr = named(Status::Open);
    sr.owner = Owner::Customer(Some("BOB@acme.example".into()));
    let case = Case::new(report(vec![], Metadata::default())).reply_to(&sr);
    assert!(plan::joins(&case.recording(), &sr));
    sr.owner = Owner::Customer(Some("alice@acme.example".into()));
    assert!(!plan::joins(&case.recording(), &sr));
    // A grant the SR names but which is gone entitles nobody.
    sr.owner = Owner::Grant {
        number: "G-1".into(),
        grant: None,
    };
    assert!(!plan::joins(&case.recording(), &sr));
}

#[test]
fn an_unproven_reply_is_held_as_its_own_sr_linked_both_ways() {
    let sr = named(Status::InAnalysis);
    let mut case = Case::new(report(vec![sample("e.exe", b"MZ")], full_metadata()));
    case.reference = Some(sr.number.clone());
    case.proof = Some(ReplyProof::Unproven("no reply token".into()));
    assert_eq!(plan::names(&case.recording()), None, "not even looked up");
    let rows = case.plan(None, &[grant()]);
    assert!(matches!(rows.sr, SrWrite::New { .. }));
    assert_eq!(
        rows.submission.verification,
        Verification::UnprovenReply {
            sr: number(1),
            why: "no reply token".into()
        }
    );
    assert!(rows.jobs.is_empty());
    assert!(event_kinds(&rows).contains(&"reply.unproven"));
    let there = rows
        .elsewhere
        .as_ref()
        .map(|e| (&e.sr, e.event.kind.as_str()));
    assert_eq!(there, Some((&number(1), "reply.held_elsewhere")));
}

#[test]
fn a_duplicate_delivery_writes_nothing() {
    let case = Case::new(report(vec![sample("a.exe", b"MZ")], full_metadata()));
    let first = Recorded {
        submission_id: Uuid::from_u128(9),
        sr_number: number(3),
        sr_is_new: false,
        severity: Severity::LOW,
        outcome: Outcome::Accepted,
        verification: Verification::NoSender,
        jobs: 1,
        completes: None,
        answered: false,
        duplicate: true,
    };
    let known = Known {
        already: Some(first.clone()),
        ..Known::default()
    };
    assert!(matches!(
        plan::plan(&case.recording(), known),
        Ok(Planned::Already(r)) if r == first
    ));
}

#[test]
fn a_new_sr_without_a_number_is_an_error_not_a_guess() {
    let case = Case::new(report(vec![], full_metadata()));
    assert!(matches!(
        plan::plan(&case.recording(), Known::default()),
        Err(PlanError::NoNumber)
    ));
}

/// The writer reads the plan's JSON by these names.
#[test]
fn the_rows_serialise_as_the_writer_reads_them() {
    let case = Case::new(report(vec![sample("a.exe", b"MZ")], full_metadata()));
    let rows = case.plan(None, &[grant()]);
    let j = serde_json::to_value(&rows).unwrap_or_default();
    assert_eq!(j["sr"]["new"]["number"], "SR-2026-000099");
    assert_eq!(j["sr"]["new"]["status"], "in_analysis");
    assert_eq!(j["sr"]["new"]["tier"], "L1");
    assert_eq!(j["sr"]["new"]["severity"], 3);
    assert_eq!(j["submission"]["inbound_id"], 7);
    assert_eq!(j["submission"]["verification"]["status"], "verified");
    assert_eq!(j["submission"]["verification"]["grant"], "G-1");
    assert_eq!(j["samples"][0]["kind"], "pe");
    assert_eq!(j["links"][0]["path"], "a.exe");
    assert_eq!(j["events"][0]["kind"], "sr.opened");
    assert_eq!(j["job_priority"], 4);
    assert!(j["at"].as_str().is_some_and(|t| t.ends_with(".123456Z")));
    assert!(j.get("elsewhere").is_none());
    let reply = Case::new(report(vec![], Metadata::default())).reply_to(&named(Status::Open));
    let rows = reply.plan(Some(named(Status::Open)), &[grant()]);
    let j = serde_json::to_value(&rows).unwrap_or_default();
    assert_eq!(j["sr"]["update"]["id"], 1);
    assert!(j.get("answer").is_none());
}

/// The customer's autoresponder answers: nothing moves and nothing is
/// answered, the clock stops until the stated return date, and a closed
/// SR stays closed.
#[test]
fn an_out_of_office_notice_stops_the_clock_and_moves_nothing() {
    let back = chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap_or_default();
    for (status, stops) in [(Status::InAnalysis, true), (Status::Closed, false)] {
        let mut sr = named(status);
        sr.deadlines.escalation_due = Some(now() + TimeDelta::hours(5));
        let mut case = Case::new(report(vec![], Metadata::default())).reply_to(&sr);
        case.away = Some(crate::mail::away::Away {
            returns: Some(back),
        });
        let rows = case.plan(Some(sr), &[grant()]);
        assert_eq!(status_of(&rows), status);
        assert!(rows.answer.is_none());
        assert!(event_kinds(&rows).contains(&"sr.customer_away"));
        assert!(!event_kinds(&rows).contains(&"sr.reopened"));
        let SrWrite::Update { deadlines, .. } = &rows.sr else {
            panic!("joins the SR")
        };
        let until = back.and_time(chrono::NaiveTime::MIN).and_utc();
        assert_eq!(deadlines.away_until.is_some(), stops, "{status:?}");
        if stops {
            assert_eq!(deadlines.away_until, Some(until));
            assert_eq!(deadlines.paused_at, Some(rows.at));
        }
    }
}

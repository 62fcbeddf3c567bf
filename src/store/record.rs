//! Turning one decision into durable state, in one transaction: the service
//! request (new, or the one the input references when the sender may add to
//! it), the submission, samples (deduplicated by SHA-256), rejected items,
//! events and the outbox rows the relay will publish. Recording the same
//! inbound input twice changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::answer::{self, Correspondent, FileLine, Notice, TemplateError};
use crate::decide::classify::Kind;
use crate::decide::metadata::Metadata;
use crate::decide::report::{Outcome, Report};
use crate::digest::Sha256;
use crate::grants;
use crate::mail::{ReplyProof, SenderAuth};
use crate::sr::{self, Event, Status};
use crate::store::outbox::OutboxKind;
use crate::store::queue::{SAMPLES, SampleJob};
use crate::support::{self, Severity, SrNumber, Tier};

/// What is being recorded.
pub struct Recording<'a> {
    /// The inbound row the input was stored as.
    pub inbound_id: i64,
    pub report: &'a Report,
    /// The SR the input says it belongs to (reply token, subject or
    /// references).
    pub sr_reference: Option<SrNumber>,
    /// Whether a mail that names an SR proves it comes from the customer
    /// (`None` for channels whose sender is signed in).
    pub reply_proof: Option<&'a ReplyProof>,
    /// The message's subject, kept with the SR's correspondence.
    pub subject: Option<&'a str>,
    /// Whom to answer; `None` for channels without mail answers and for
    /// messages that must not be answered.
    pub answer_to: Option<&'a Correspondent>,
    /// What the receiving MTA found out about the sender.
    pub sender_auth: &'a SenderAuth,
    /// The vendor's name, for the labels of answer forms.
    pub vendor: &'a str,
    pub now: DateTime<Utc>,
}

/// What was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub submission_id: Uuid,
    pub sr_number: SrNumber,
    pub sr_is_new: bool,
    pub severity: Severity,
    /// The outcome of the submission: the report's, or, for a reply that
    /// completes an earlier needs_info submission, the outcome of both.
    pub outcome: Outcome,
    pub verification: String,
    /// Analysis jobs queued in the outbox.
    pub jobs: usize,
    /// The earlier needs_info submission this one completed or carried on.
    pub completes: Option<Uuid>,
    /// An answer was queued for the sender.
    pub answered: bool,
    /// This input had been recorded before; nothing changed.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl RecordError {
    fn inconsistent(e: impl std::fmt::Display) -> RecordError {
        RecordError::Inconsistent(e.to_string())
    }
}

/// A sample as recorded: the report's entry, or one carried over from an
/// earlier submission of the SR.
#[derive(Clone)]
struct Linked {
    path: String,
    sha256: Sha256,
    size: u64,
    kind: Kind,
    warnings: serde_json::Value,
}

/// An open needs_info submission of the SR a reply belongs to.
struct Earlier {
    id: Uuid,
    metadata: Metadata,
    samples: Vec<Linked>,
}

/// Records `r`. An input that opens a new SR — nearly all of them — is
/// written by one statement, atomic on its own: no transaction to open and
/// commit, one round trip after the grant look-up. A reply naming an SR runs
/// in a transaction that locks the SR and its open needs_info submission.
pub async fn record(pool: &PgPool, r: Recording<'_>) -> Result<Recorded, RecordError> {
    let unproven = match (&r.sr_reference, r.reply_proof) {
        (Some(sr), Some(ReplyProof::Unproven(why))) => Some(grants::Verification::UnprovenReply {
            sr: sr.to_string(),
            why: why.clone(),
        }),
        _ => None,
    };
    if unproven.is_none() && r.sr_reference.is_some() && r.report.sender.is_some() {
        return record_reply(pool, &r).await;
    }
    let facts = Facts::of(&r, None);
    let (grant, number) = grant_and_number(pool, facts.grant_number(), r.now).await?;
    let mut plan = facts.verify(&r, grant);
    // A reply without proof of its origin never joins the SR it names: it
    // is held as an SR of its own, linked to that one for staff.
    if let Some(v) = unproven {
        plan.verification = v;
    }
    match write(pool, &r, plan, Target::New(number)).await {
        // Recorded meanwhile by another delivery of the same input: the
        // unique inbound_id refused this copy, so report the first one.
        Err(RecordError::Db(e)) if is_unique_violation(&e) => existing(pool, r.inbound_id)
            .await?
            .ok_or_else(|| RecordError::inconsistent(e)),
        other => other,
    }
}

/// Records a reply that names an SR, in one transaction.
async fn record_reply(pool: &PgPool, r: &Recording<'_>) -> Result<Recorded, RecordError> {
    let mut tx = pool.begin().await?;
    if let Some(done) = existing(&mut *tx, r.inbound_id).await? {
        tx.rollback().await?;
        return Ok(done);
    }
    let referenced = referenced_sr(
        &mut tx,
        r.sr_reference.as_ref(),
        r.report.sender.as_deref(),
        r.now,
    )
    .await?;
    let earlier = match &referenced {
        Some(sr) => open_needs_info(&mut tx, sr.id).await?,
        None => None,
    };
    // A reply is judged with its SR: the SR's latest facts fill what the
    // reply leaves out, and its grant is the SR's.
    let fill = match (&referenced, &earlier) {
        (Some(sr), None) => latest_metadata(&mut tx, sr.id).await?,
        _ => None,
    };
    let grant = referenced.as_ref().and_then(|sr| sr.grant.clone());
    let plan = Plan::make(&mut *tx, r, earlier, fill, grant).await?;
    let target = match referenced {
        Some(sr) => Target::Referenced(sr),
        None => Target::New(next_sr_number(&mut *tx, r.now).await?),
    };
    let recorded = write(&mut *tx, r, plan, target).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// The grant `named`, and the next SR number, in one round trip (see
/// [`next_sr_number`]).
async fn grant_and_number(
    pool: &PgPool,
    named: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Option<grants::Grant>, SrNumber), RecordError> {
    let named = named.map(str::trim);
    type Row = (
        i64,
        Option<String>,
        Option<String>,
        Option<Vec<String>>,
        Option<String>,
        Option<chrono::NaiveDate>,
    );
    let (seq, number, company, domains, level, expires): Row = sqlx::query_as(
        "SELECT nextval('sr_number_seq'), g.grant_number, g.company, g.email_domains,
                g.support_level, g.expires_on
         FROM (SELECT 1) one LEFT JOIN grants g ON g.grant_number = $1",
    )
    .bind(named)
    .fetch_one(pool)
    .await?;
    let grant = match (number, company, domains, level) {
        (Some(n), Some(c), Some(d), Some(l)) => {
            Some(grants::Grant::from_row((n, c, d, l, expires)))
        }
        _ => None,
    };
    Ok((grant, sr_number(seq, now)?))
}

/// The next SR number. Taken from the sequence before writing, because the
/// answer composed in the same statement quotes it; a failed write leaves a
/// gap, as sequences do.
async fn next_sr_number<'e>(
    db: impl sqlx::PgExecutor<'e>,
    now: DateTime<Utc>,
) -> Result<SrNumber, RecordError> {
    let seq: i64 = sqlx::query_scalar("SELECT nextval('sr_number_seq')")
        .fetch_one(db)
        .await?;
    sr_number(seq, now)
}

fn sr_number(seq: i64, now: DateTime<Utc>) -> Result<SrNumber, RecordError> {
    let year = u16::try_from(now.year()).map_err(RecordError::inconsistent)?;
    let seq = u32::try_from(seq).map_err(RecordError::inconsistent)?;
    Ok(SrNumber::new(year, seq))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

/// Where a recording goes.
enum Target {
    /// An SR the input references and may add to (locked by the caller).
    Referenced(Referenced),
    /// A new SR with this number, opened by the writing statement.
    New(SrNumber),
}

/// What is decided about a recording before it is written, from the
/// report, the earlier needs_info submission it completes and the grant.
struct Plan {
    /// The report's samples and, for a reply completing a needs_info
    /// submission, the earlier one's.
    samples: Vec<Linked>,
    meta: Metadata,
    missing: Vec<crate::decide::metadata::Field>,
    outcome: Outcome,
    verification: grants::Verification,
    /// The grant number names a grant we know (valid or not).
    grant_known: bool,
    earlier: Option<Earlier>,
}

/// A recording's facts, completed from the earlier needs_info submission it
/// carries on, before they are checked against the grant they name.
struct Facts {
    samples: Vec<Linked>,
    meta: Metadata,
    missing: Vec<crate::decide::metadata::Field>,
    outcome: Outcome,
    earlier: Option<Earlier>,
}

impl Facts {
    fn of(r: &Recording<'_>, earlier: Option<Earlier>) -> Facts {
        let report = r.report;
        let samples: Vec<Linked> = report
            .samples
            .iter()
            .map(|s| Linked {
                path: s.path.clone(),
                sha256: s.sha256,
                size: s.size,
                kind: s.kind,
                warnings: serde_json::json!(s.warnings),
            })
            .collect();
        let mut facts = Facts {
            samples,
            meta: report.metadata.clone(),
            missing: report.missing_fields.clone(),
            outcome: report.outcome,
            earlier: None,
        };
        // A reply completes (or carries on) the SR's open needs_info
        // submission: its facts fill what the reply lacks, its files join
        // the reply's.
        if let Some(e) = earlier {
            facts.samples.extend(e.samples.iter().cloned());
            facts.complete_from(&e.metadata);
            facts.earlier = Some(e);
        }
        facts
    }

    /// Fills what the facts lack from earlier ones (an open needs_info
    /// submission's, or the SR's latest), then judges them again.
    fn complete_from(&mut self, fill: &Metadata) {
        self.meta.complete_from(fill);
        self.judge_again();
    }

    /// The missing fields and the outcome of the facts as they now stand.
    fn judge_again(&mut self) {
        self.missing = self.meta.missing_fields();
        self.outcome = Outcome::decide(self.samples.len(), &self.missing);
    }

    /// The grant number the facts name.
    fn grant_number(&self) -> Option<&str> {
        self.meta.grant_number.as_deref()
    }

    /// Plans the recording with `grant`, the one [`Facts::grant_number`]
    /// names if it is known.
    fn verify(self, r: &Recording<'_>, grant: Option<grants::Grant>) -> Plan {
        let verification = grants::verify(
            self.grant_number(),
            grant.as_ref(),
            r.report.sender.as_deref(),
            r.now.date_naive(),
        );
        Plan {
            samples: self.samples,
            meta: self.meta,
            missing: self.missing,
            outcome: self.outcome,
            verification,
            grant_known: grant.is_some(),
            earlier: self.earlier,
        }
    }
}

impl Plan {
    /// Plans the reply `r` to an SR: completed from `earlier` (its open
    /// needs_info submission) or `fill` (its latest facts), filed under
    /// `grant` when the SR has one, looking up that grant.
    async fn make<'e>(
        db: impl sqlx::PgExecutor<'e>,
        r: &Recording<'_>,
        earlier: Option<Earlier>,
        fill: Option<Metadata>,
        grant: Option<String>,
    ) -> Result<Plan, RecordError> {
        let mut facts = Facts::of(r, earlier);
        if let Some(fill) = fill {
            facts.complete_from(&fill);
        }
        if let Some(g) = grant {
            facts.meta.grant_number = Some(g);
            facts.judge_again();
        }
        let grant = match facts.grant_number() {
            Some(g) => grants::find(db, g).await?,
            None => None,
        };
        Ok(facts.verify(r, grant))
    }

    fn queues_jobs(&self) -> bool {
        self.outcome == Outcome::Accepted && self.verification.is_verified()
    }

    /// What this recording brings to an SR it replies to.
    fn as_reply(&self, report: &Report) -> sr::Reply {
        let text_only = report.samples.is_empty() && report.rejected.is_empty();
        if text_only && self.earlier.is_none() {
            sr::Reply::Update
        } else {
            sr::Reply::Submission {
                outcome: self.outcome,
                verified: self.verification.is_verified(),
            }
        }
    }
}

/// Writes `plan` in one statement: data-modifying CTEs run together and the
/// foreign keys are checked at its end, so one round trip opens or updates
/// the SR and records the submission, its samples, links, rejections,
/// events, outbox rows and the answer.
async fn write<'e>(
    db: impl sqlx::PgExecutor<'e>,
    r: &Recording<'_>,
    plan: Plan,
    target: Target,
) -> Result<Recorded, RecordError> {
    let report = r.report;
    let queue_jobs = plan.queues_jobs();
    let mut events = Vec::new();
    let mut update_only = false;
    let (existing_sr, sr_number, severity, sr_is_new, status) = match target {
        Target::Referenced(sr) => {
            let by = report.sender.as_deref();
            if sr.closed {
                events.push(Event::Reopened { by }.to_row());
            }
            let reply = plan.as_reply(report);
            update_only = reply == sr::Reply::Update;
            if update_only {
                events.push(Event::CustomerUpdate { by }.to_row());
            }
            let status = sr.status.after_reply(reply);
            (Some(sr.id), sr.number, sr.severity, false, status)
        }
        Target::New(number) => {
            let (severity, why) = support::assess(&plan.meta, report);
            events.push(
                Event::Opened {
                    severity: severity.level(),
                    why,
                    tier: Tier::L1.as_str(),
                }
                .to_row(),
            );
            let status = Status::opened_by(plan.outcome, plan.verification.is_verified());
            (None, number, severity, true, status)
        }
    };
    let (escalate, update) = support::deadlines(severity, Tier::L1, r.now);
    // A new SR names its grant only when the grant exists.
    let grant = plan
        .meta
        .grant_number
        .as_deref()
        .filter(|_| plan.grant_known && sr_is_new);

    let submission_id = Uuid::new_v4();
    let missing_keys: Vec<&str> = plan.missing.iter().map(|f| f.key()).collect();

    // One row per distinct sample, however many paths it came by.
    let mut distinct = BTreeMap::new();
    for s in &plan.samples {
        distinct.entry(s.sha256).or_insert(s);
    }
    let mut jobs = Vec::new();
    if queue_jobs {
        for s in distinct.values() {
            let job = SampleJob {
                job_id: Uuid::new_v4(),
                sha256: s.sha256,
                size: s.size,
                kind: s.kind,
                sr_number: sr_number.clone(),
                submission_id,
                severity,
                attempt: 1,
            };
            jobs.push(serde_json::to_value(&job).map_err(RecordError::inconsistent)?);
        }
    }
    let outcome = plan.outcome;
    let verification = plan.verification.describe();
    events.push(
        Event::SubmissionRecorded {
            outcome,
            verification: &verification,
            samples: plan.samples.len(),
            rejected: report.rejected.len(),
            missing_fields: missing_keys.clone(),
            sender_auth: r.sender_auth,
        }
        .to_row(),
    );
    if let Some(e) = &plan.earlier {
        events.push(
            Event::Completes {
                earlier: e.id,
                outcome,
            }
            .to_row(),
        );
    }
    if !queue_jobs && outcome == Outcome::Accepted {
        events.push(Event::Held { why: &verification }.to_row());
    }
    // An unproven reply: linked both ways, so staff find it from either SR.
    let held_as = sr_number.to_string();
    let (link_sr, link_detail) = match &plan.verification {
        grants::Verification::UnprovenReply { sr, why } => {
            events.push(Event::ReplyUnproven { names: sr, why }.to_row());
            let there = Event::ReplyHeldElsewhere {
                held_as: &held_as,
                why,
            }
            .to_row();
            (Some(sr.clone()), Some(there))
        }
        _ => (None, None),
    };
    let (link_kind, link_detail) = link_detail.unzip();

    // A customer update is recorded, not acknowledged with a refusal.
    let answer_to = r.answer_to.filter(|_| !update_only);
    let answer = match answer_to {
        Some(to) => {
            let files: Vec<FileLine> = plan
                .samples
                .iter()
                .map(|s| FileLine {
                    path: s.path.clone(),
                    size: s.size,
                    sha256: s.sha256,
                })
                .collect();
            let held = (!plan.verification.is_verified()).then(|| verification.clone());
            let notice = Notice::Received {
                outcome,
                held,
                samples: &files,
                rejected: &report.rejected,
                missing: &plan.missing,
                completed: plan.earlier.is_some(),
            };
            let a = answer::compose(&sr_number, to, &notice, r.vendor)?;
            events.push(
                Event::AnswerQueued {
                    answer: a.kind,
                    to: &a.to,
                    lang: a.lang,
                }
                .to_row(),
            );
            Some(serde_json::to_value(&a).map_err(RecordError::inconsistent)?)
        }
        None => None,
    };
    let correspondent = r
        .answer_to
        .map(serde_json::to_value)
        .transpose()
        .map_err(RecordError::inconsistent)?;

    let rej = &report.rejected;
    sqlx::query(
        "WITH sr_new AS (
             INSERT INTO service_requests (sr_number, grant_number, customer_email, severity,
                                           status, tier, opened_at, escalation_due,
                                           next_update_due, correspondent)
             SELECT $30, $31, $4, $32, $33, $34, $35, $36, $37, $28::jsonb
             WHERE $30::text IS NOT NULL
             RETURNING id),
         sr_upd AS (
             UPDATE service_requests
             SET status = $33, closed_at = NULL, resolution = NULL, closed_from = NULL,
                 correspondent = COALESCE($28::jsonb, correspondent)
             WHERE id = $3::bigint),
         sub AS (
             INSERT INTO submissions (id, inbound_id, sr_id, sender, outcome, verification,
                                      missing_fields, metadata, report, sender_auth, jobs)
             VALUES ($1, $2, COALESCE($3::bigint, (SELECT id FROM sr_new)), $4, $5, $6, $7,
                     $8, $9, $26, cardinality($25::jsonb[]))),
         smp AS (
             INSERT INTO samples (sha256, size, kind)
             SELECT * FROM UNNEST($10::text[], $11::bigint[], $12::text[])
             ON CONFLICT (sha256) DO UPDATE SET last_seen = $35),
         lnk AS (
             INSERT INTO submission_samples (submission_id, sha256, path, warnings)
             SELECT $1, * FROM UNNEST($13::text[], $14::text[], $15::jsonb[])),
         rej AS (
             INSERT INTO rejected_items (submission_id, path, sha256, size, reason, detail)
             SELECT $1, * FROM UNNEST($16::text[], $17::text[], $18::bigint[], $19::text[], $20::text[])),
         evt AS (
             INSERT INTO events (actor, sr_id, submission_id, at, kind, detail)
             SELECT 'intake', COALESCE($3::bigint, (SELECT id FROM sr_new)), $1, $35, *
             FROM UNNEST($21::text[], $22::jsonb[])),
         obx AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT $44::text, $23, $24, * FROM UNNEST($25::jsonb[])),
         ans AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT $45::text, '', 0, $27::jsonb WHERE $27::jsonb IS NOT NULL
             RETURNING id),
         cor_in AS (
             INSERT INTO correspondence (sr_id, submission_id, direction, at, inbound_id,
                                         sender, subject, message_id)
             SELECT COALESCE($3::bigint, (SELECT id FROM sr_new)), $1, 'in', $35, $2, $4, $40,
                    $41
             WHERE $42),
         cor_out AS (
             INSERT INTO correspondence (sr_id, submission_id, direction, at, answer, outbox_id)
             SELECT COALESCE($3::bigint, (SELECT id FROM sr_new)), $1, 'out', $35, $27::jsonb, id
             FROM ans),
         prev AS (
             UPDATE submissions SET completed_by = $1 WHERE id = $29),
         inb AS (
             UPDATE inbound SET state = 'recorded', error = NULL WHERE id = $2),
         held AS (
             INSERT INTO events (actor, sr_id, submission_id, at, kind, detail)
             SELECT 'intake', id, $1, $35, $43, $39::jsonb
             FROM service_requests WHERE sr_number = $38::text)
         SELECT 1",
    )
    .bind(submission_id)
    .bind(r.inbound_id)
    .bind(existing_sr)
    .bind(report.sender.as_deref())
    .bind(outcome.as_str())
    .bind(&verification)
    .bind(&missing_keys)
    .bind(sqlx::types::Json(&plan.meta))
    .bind(sqlx::types::Json(report))
    .bind(distinct.values().map(|s| s.sha256.to_hex()).collect::<Vec<_>>())
    .bind(distinct.values().map(|s| s.size as i64).collect::<Vec<_>>())
    .bind(distinct.values().map(|s| s.kind.as_str()).collect::<Vec<_>>())
    .bind(plan.samples.iter().map(|s| s.sha256.to_hex()).collect::<Vec<_>>())
    .bind(plan.samples.iter().map(|s| s.path.as_str()).collect::<Vec<_>>())
    .bind(plan.samples.iter().map(|s| s.warnings.clone()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.path.as_str()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.sha256.map(|d| d.to_hex())).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.size as i64).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.detail.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.0.as_str()).collect::<Vec<_>>())
    .bind(events.into_iter().map(|e| e.1).collect::<Vec<_>>())
    .bind(SAMPLES)
    .bind(i16::from(severity.priority()))
    .bind(&jobs)
    .bind(sqlx::types::Json(r.sender_auth))
    .bind(&answer)
    .bind(&correspondent)
    .bind(plan.earlier.as_ref().map(|e| e.id))
    .bind(sr_is_new.then(|| sr_number.to_string()))
    .bind(grant)
    .bind(i16::from(severity.level()))
    .bind(status.as_str())
    .bind(Tier::L1.as_str())
    .bind(r.now)
    .bind(escalate)
    .bind(update)
    .bind(link_sr)
    .bind(link_detail)
    .bind(r.subject)
    .bind(report.message_id.as_deref())
    .bind(report.channel == crate::decide::report::Channel::Email)
    .bind(link_kind)
    .bind(OutboxKind::SampleAnalyse.as_str())
    .bind(OutboxKind::MailAnswer.as_str())
    .execute(db)
    .await?;
    Ok(Recorded {
        submission_id,
        sr_number,
        sr_is_new,
        severity,
        outcome,
        verification,
        jobs: jobs.len(),
        completes: plan.earlier.map(|e| e.id),
        answered: answer.is_some(),
        duplicate: false,
    })
}

/// The SR's latest needs_info submission that no reply has completed yet,
/// with its facts and files; locked, so two replies do not both take it.
async fn open_needs_info(
    tx: &mut Transaction<'_, Postgres>,
    sr_id: i64,
) -> Result<Option<Earlier>, RecordError> {
    let row: Option<(Uuid, sqlx::types::Json<Metadata>)> = sqlx::query_as(
        "SELECT id, metadata FROM submissions
         WHERE sr_id = $1 AND outcome = 'needs_info' AND completed_by IS NULL
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(sr_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, metadata)) = row else {
        return Ok(None);
    };
    let rows: Vec<(String, String, i64, String, serde_json::Value)> = sqlx::query_as(
        "SELECT ss.path, ss.sha256, s.size, s.kind, ss.warnings
         FROM submission_samples ss JOIN samples s ON s.sha256 = ss.sha256
         WHERE ss.submission_id = $1 ORDER BY ss.id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let samples = rows
        .into_iter()
        .map(|(path, sha, size, kind, warnings)| {
            let bad = |what: &str| RecordError::Inconsistent(format!("{what} of sample {sha:?}"));
            Ok(Linked {
                path,
                sha256: sha.parse().map_err(|_| bad("digest"))?,
                size: size as u64,
                kind: serde_json::from_value(serde_json::Value::String(kind))
                    .map_err(|_| bad("kind"))?,
                warnings,
            })
        })
        .collect::<Result<_, RecordError>>()?;
    Ok(Some(Earlier {
        id,
        metadata: metadata.0,
        samples,
    }))
}

/// The facts of the SR's latest submission that gave any.
async fn latest_metadata(
    tx: &mut Transaction<'_, Postgres>,
    sr_id: i64,
) -> Result<Option<Metadata>, RecordError> {
    let row: Option<sqlx::types::Json<Metadata>> = sqlx::query_scalar(
        "SELECT metadata FROM submissions WHERE sr_id = $1
         ORDER BY (metadata->>'grant_number' IS NOT NULL) DESC, created_at DESC LIMIT 1",
    )
    .bind(sr_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|m| m.0))
}

/// How `inbound_id` was recorded, if it was: a redelivered input is answered
/// from here without being decided again.
pub async fn recorded(pool: &PgPool, inbound_id: i64) -> Result<Option<Recorded>, RecordError> {
    existing(pool, inbound_id).await
}

/// The earlier recording of `inbound_id`, if any.
async fn existing<'e>(
    db: impl sqlx::PgExecutor<'e>,
    inbound_id: i64,
) -> Result<Option<Recorded>, RecordError> {
    let row: Option<(Uuid, String, i16, String, String, i64)> = sqlx::query_as(
        "SELECT s.id, sr.sr_number, sr.severity, s.outcome, s.verification, s.jobs::bigint
         FROM submissions s JOIN service_requests sr ON sr.id = s.sr_id
         WHERE s.inbound_id = $1",
    )
    .bind(inbound_id)
    .fetch_optional(db)
    .await?;
    let Some((id, number, severity, outcome, verification, jobs)) = row else {
        return Ok(None);
    };
    let bad = |what: &str| RecordError::Inconsistent(format!("{what} of submission {id}"));
    Ok(Some(Recorded {
        submission_id: id,
        sr_number: number.parse().map_err(|_| bad("SR number"))?,
        sr_is_new: false,
        severity: u8::try_from(severity)
            .ok()
            .and_then(Severity::new)
            .ok_or_else(|| bad("severity"))?,
        outcome: serde_json::from_value(serde_json::Value::String(outcome))
            .map_err(|_| bad("outcome"))?,
        verification,
        jobs: jobs as usize,
        completes: None,
        answered: false,
        duplicate: true,
    }))
}

/// An SR an input refers to and may add to.
struct Referenced {
    id: i64,
    number: SrNumber,
    severity: Severity,
    /// Closed (within the reopening window): the input reopens it.
    closed: bool,
    /// Where it stands; for a closed SR, where it was closed from.
    status: Status,
    /// The grant it is filed under, the reply's facts notwithstanding.
    grant: Option<String>,
}

/// How long after closing a reply reopens an SR (support policy); later
/// replies open a new one.
const REOPEN_WITHIN_DAYS: i64 = 30;

/// The SR `number` names, if the sender is entitled to its grant and it is
/// not closed beyond reopening.
async fn referenced_sr(
    tx: &mut Transaction<'_, Postgres>,
    number: Option<&SrNumber>,
    sender: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Referenced>, RecordError> {
    let (Some(number), Some(sender)) = (number, sender) else {
        return Ok(None);
    };
    type Row = (
        i64,
        Option<String>,
        i16,
        Option<String>,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, grant_number, severity, customer_email, status, closed_from, closed_at
             FROM service_requests WHERE sr_number = $1 FOR UPDATE",
    )
    .bind(number.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, grant_number, severity, customer, status, closed_from, closed_at)) = row else {
        return Ok(None);
    };
    let status: Status = status.parse().map_err(RecordError::Inconsistent)?;
    let closed = status == Status::Closed;
    let status = if closed {
        Status::reopened(closed_from.and_then(|s| s.parse().ok()))
    } else {
        status
    };
    if closed && closed_at.is_some_and(|at| now - at > chrono::Duration::days(REOPEN_WITHIN_DAYS)) {
        return Ok(None);
    }
    let entitled = match &grant_number {
        Some(g) => grants::find(&mut **tx, g)
            .await?
            .is_some_and(|g| grants::entitled(&g, sender)),
        // An SR without a grant belongs to whoever opened it.
        None => customer.is_some_and(|c| c.eq_ignore_ascii_case(sender)),
    };
    let severity = u8::try_from(severity).ok().and_then(Severity::new);
    Ok(match (entitled, severity) {
        (true, Some(severity)) => Some(Referenced {
            id,
            number: number.clone(),
            severity,
            closed,
            status,
            grant: grant_number,
        }),
        _ => None,
    })
}

/// Queues every sample for analysis again (`intake reanalyse`), each job
/// carrying the SR and submission it was last seen in; returns how many.
pub async fn requeue_all(pool: &PgPool) -> Result<u64, RecordError> {
    requeue(pool, None).await
}

/// Queues again the samples that have no finding of `analyser` yet (the
/// demo, when the full worker appears after a run with the built-in set).
pub async fn requeue_without(pool: &PgPool, analyser: &str) -> Result<u64, RecordError> {
    requeue(pool, Some(analyser)).await
}

async fn requeue(pool: &PgPool, without: Option<&str>) -> Result<u64, RecordError> {
    let done = sqlx::query(
        "INSERT INTO outbox (kind, routing_key, priority, payload)
         SELECT $3::text, $1, 0, jsonb_build_object(
                    'job_id', gen_random_uuid(), 'sha256', s.sha256, 'size', s.size,
                    'kind', s.kind, 'sr_number', sr.sr_number, 'submission_id', sub.id,
                    'severity', sr.severity, 'attempt', 1)
         FROM samples s
         JOIN LATERAL (SELECT ss.submission_id FROM submission_samples ss
                       WHERE ss.sha256 = s.sha256 ORDER BY ss.id DESC LIMIT 1) last ON true
         JOIN submissions sub ON sub.id = last.submission_id
         JOIN service_requests sr ON sr.id = sub.sr_id
         WHERE $2::text IS NULL OR NOT EXISTS
             (SELECT 1 FROM findings f WHERE f.sha256 = s.sha256 AND f.analyser = $2)",
    )
    .bind(SAMPLES)
    .bind(without)
    .bind(OutboxKind::SampleAnalyse.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

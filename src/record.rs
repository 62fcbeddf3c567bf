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
use crate::classify::Kind;
use crate::digest::Sha256;
use crate::grants;
use crate::mail::SenderAuth;
use crate::metadata::Metadata;
use crate::queue::{SAMPLES, SampleJob};
use crate::report::{Outcome, Report};
use crate::support::{self, Severity, SrNumber, Tier};

/// What is being recorded.
pub struct Recording<'a> {
    /// The inbound row the input was stored as.
    pub inbound_id: i64,
    pub report: &'a Report,
    /// The SR the input says it belongs to (subject, references or title).
    pub sr_reference: Option<SrNumber>,
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

/// Records `r` in one transaction.
pub async fn record(pool: &PgPool, r: Recording<'_>) -> Result<Recorded, RecordError> {
    let mut tx = pool.begin().await?;
    if let Some(done) = existing(&mut *tx, r.inbound_id).await? {
        tx.rollback().await?;
        return Ok(done);
    }
    let report = r.report;
    let referenced = referenced_sr(
        &mut tx,
        r.sr_reference.as_ref(),
        report.sender.as_deref(),
        r.now,
    )
    .await?;
    let earlier = match &referenced {
        Some(sr) => open_needs_info(&mut tx, sr.id).await?,
        None => None,
    };

    // A reply completes (or carries on) the SR's open needs_info submission:
    // its facts fill what the reply lacks, its files join the reply's.
    let mut samples: Vec<Linked> = report
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
    let (meta, missing, outcome) = match &earlier {
        None => (
            report.metadata.clone(),
            report.missing_fields.clone(),
            report.outcome,
        ),
        Some(e) => {
            let mut m = report.metadata.clone();
            m.complete_from(&e.metadata);
            let missing = m.missing_fields();
            samples.extend(e.samples.iter().cloned());
            let outcome = Outcome::decide(samples.len(), &missing);
            (m, missing, outcome)
        }
    };

    let grant = match meta.grant_number.as_deref() {
        Some(g) => grants::find(&mut *tx, g).await?,
        None => None,
    };
    let verification = grants::verify(
        meta.grant_number.as_deref(),
        grant.as_ref(),
        report.sender.as_deref(),
        r.now.date_naive(),
    );
    let queue_jobs = outcome == Outcome::Accepted && verification.is_verified();
    let status = match (outcome, verification.is_verified()) {
        (Outcome::Rejected, _) => "open",
        (_, false) => "unverified",
        (Outcome::NeedsInfo, true) => "needs_info",
        (Outcome::Accepted, true) => "in_analysis",
    };

    let mut events = Vec::new();
    let (sr_id, sr_number, severity, sr_is_new) = match referenced {
        Some(sr) => {
            sqlx::query("UPDATE service_requests SET status = $2, closed_at = NULL WHERE id = $1")
                .bind(sr.id)
                .bind(status)
                .execute(&mut *tx)
                .await?;
            if sr.closed {
                events.push(("sr.reopened", serde_json::json!({ "by": report.sender })));
            }
            (sr.id, sr.number, sr.severity, false)
        }
        None => {
            let (severity, why) = support::assess(&meta, report);
            let (id, number) = open_sr(&mut tx, &r, severity, status, grant.is_some()).await?;
            events.push((
                "sr.opened",
                serde_json::json!({ "severity": severity.level(), "why": why, "tier": "L1" }),
            ));
            (id, number, severity, true)
        }
    };

    let submission_id = Uuid::new_v4();
    let missing_keys: Vec<&str> = missing.iter().map(|f| f.key()).collect();

    // One row per distinct sample, however many paths it came by.
    let mut distinct = BTreeMap::new();
    for s in &samples {
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
            jobs.push(
                serde_json::to_value(&job).map_err(|e| RecordError::Inconsistent(e.to_string()))?,
            );
        }
    }
    events.push((
        "submission.recorded",
        serde_json::json!({
            "outcome": outcome.as_str(),
            "verification": verification.describe(),
            "samples": samples.len(),
            "rejected": report.rejected.len(),
            "missing_fields": missing_keys,
            "sender_auth": r.sender_auth,
        }),
    ));
    if let Some(e) = &earlier {
        events.push((
            "submission.completes",
            serde_json::json!({ "earlier": e.id, "outcome": outcome.as_str() }),
        ));
    }
    if !queue_jobs && outcome == Outcome::Accepted {
        events.push((
            "submission.held",
            serde_json::json!({ "why": verification.describe() }),
        ));
    }

    let answer = match r.answer_to {
        Some(to) => {
            let files: Vec<FileLine> = samples
                .iter()
                .map(|s| FileLine {
                    path: s.path.clone(),
                    size: s.size,
                    sha256: s.sha256,
                })
                .collect();
            let held = (!verification.is_verified()).then(|| verification.describe());
            let notice = Notice::Received {
                outcome,
                held,
                samples: &files,
                rejected: &report.rejected,
                missing: &missing,
                completed: earlier.is_some(),
            };
            let a = answer::compose(&sr_number, to, &notice, r.vendor)?;
            events.push((
                "answer.queued",
                serde_json::json!({ "kind": a.kind, "to": a.to, "lang": a.lang }),
            ));
            Some(serde_json::to_value(&a).map_err(|e| RecordError::Inconsistent(e.to_string()))?)
        }
        None => None,
    };
    let correspondent = r
        .answer_to
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| RecordError::Inconsistent(e.to_string()))?;

    let rej = &report.rejected;
    // Everything else in one statement: data-modifying CTEs run together and
    // the foreign keys are checked at its end, so one round trip records the
    // submission, its samples, links, rejections, events and outbox rows.
    sqlx::query(
        "WITH sub AS (
             INSERT INTO submissions (id, inbound_id, sr_id, sender, outcome, verification,
                                      missing_fields, metadata, report, sender_auth)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $26)),
         smp AS (
             INSERT INTO samples (sha256, size, kind)
             SELECT * FROM UNNEST($10::text[], $11::bigint[], $12::text[])
             ON CONFLICT (sha256) DO UPDATE SET last_seen = now()),
         lnk AS (
             INSERT INTO submission_samples (submission_id, sha256, path, warnings)
             SELECT $1, * FROM UNNEST($13::text[], $14::text[], $15::jsonb[])),
         rej AS (
             INSERT INTO rejected_items (submission_id, path, sha256, size, reason, detail)
             SELECT $1, * FROM UNNEST($16::text[], $17::text[], $18::bigint[], $19::text[], $20::text[])),
         evt AS (
             INSERT INTO events (actor, sr_id, submission_id, kind, detail)
             SELECT 'intake', $3, $1, * FROM UNNEST($21::text[], $22::jsonb[])),
         obx AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT 'sample.analyse', $23, $24, * FROM UNNEST($25::jsonb[])),
         ans AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT 'mail.answer', '', 0, $27::jsonb WHERE $27::jsonb IS NOT NULL),
         cor AS (
             UPDATE service_requests SET correspondent = $28::jsonb
             WHERE id = $3 AND $28::jsonb IS NOT NULL),
         prev AS (
             UPDATE submissions SET completed_by = $1 WHERE id = $29),
         inb AS (
             UPDATE inbound SET state = 'recorded', error = NULL WHERE id = $2)
         SELECT 1",
    )
    .bind(submission_id)
    .bind(r.inbound_id)
    .bind(sr_id)
    .bind(report.sender.as_deref())
    .bind(outcome.as_str())
    .bind(verification.describe())
    .bind(&missing_keys)
    .bind(sqlx::types::Json(&meta))
    .bind(sqlx::types::Json(report))
    .bind(distinct.values().map(|s| s.sha256.to_hex()).collect::<Vec<_>>())
    .bind(distinct.values().map(|s| s.size as i64).collect::<Vec<_>>())
    .bind(distinct.values().map(|s| s.kind.as_str()).collect::<Vec<_>>())
    .bind(samples.iter().map(|s| s.sha256.to_hex()).collect::<Vec<_>>())
    .bind(samples.iter().map(|s| s.path.as_str()).collect::<Vec<_>>())
    .bind(samples.iter().map(|s| s.warnings.clone()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.path.as_str()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.sha256.map(|d| d.to_hex())).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.size as i64).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.detail.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.0).collect::<Vec<_>>())
    .bind(events.into_iter().map(|e| e.1).collect::<Vec<_>>())
    .bind(SAMPLES)
    .bind(i16::from(severity.priority()))
    .bind(&jobs)
    .bind(sqlx::types::Json(r.sender_auth))
    .bind(&answer)
    .bind(&correspondent)
    .bind(earlier.as_ref().map(|e| e.id))
    .execute(&mut *tx)
    .await?;
    let jobs = jobs.len();

    tx.commit().await?;
    Ok(Recorded {
        submission_id,
        sr_number,
        sr_is_new,
        severity,
        outcome,
        verification: verification.describe(),
        jobs,
        completes: earlier.map(|e| e.id),
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
        "SELECT s.id, sr.sr_number, sr.severity, s.outcome, s.verification,
                (SELECT count(*) FROM outbox o WHERE o.payload->>'submission_id' = s.id::text)
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
    /// Resolved or closed (within the reopening window): the input reopens it.
    closed: bool,
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
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, grant_number, severity, customer_email, status, closed_at
             FROM service_requests WHERE sr_number = $1 FOR UPDATE",
    )
    .bind(number.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, grant_number, severity, customer, status, closed_at)) = row else {
        return Ok(None);
    };
    let closed = matches!(status.as_str(), "resolved" | "closed");
    if closed && closed_at.is_some_and(|at| now - at > chrono::Duration::days(REOPEN_WITHIN_DAYS)) {
        return Ok(None);
    }
    let entitled = match grant_number {
        Some(g) => grants::find(&mut **tx, &g)
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
        }),
        _ => None,
    })
}

async fn open_sr(
    tx: &mut Transaction<'_, Postgres>,
    r: &Recording<'_>,
    severity: Severity,
    status: &str,
    grant_known: bool,
) -> Result<(i64, SrNumber), RecordError> {
    let (escalate, update) = support::deadlines(severity, Tier::L1, r.now);
    let grant = r
        .report
        .metadata
        .grant_number
        .as_deref()
        .filter(|_| grant_known);
    let (id, number): (i64, String) = sqlx::query_as(
        "INSERT INTO service_requests (sr_number, grant_number, customer_email, severity, status,
                                       tier, opened_at, escalation_due, next_update_due)
         VALUES ('SR-' || $1 || '-' || lpad(nextval('sr_number_seq')::text, 6, '0'),
                 $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id, sr_number",
    )
    .bind(format!("{:04}", r.now.year()))
    .bind(grant)
    .bind(r.report.sender.as_deref())
    .bind(i16::from(severity.level()))
    .bind(status)
    .bind(Tier::L1.as_str())
    .bind(r.now)
    .bind(escalate)
    .bind(update)
    .fetch_one(&mut **tx)
    .await?;
    let number = number
        .parse()
        .map_err(|e: String| RecordError::Inconsistent(e))?;
    Ok((id, number))
}

/// Queues every sample for analysis again (`intake reanalyse`), each job
/// carrying the SR and submission it was last seen in; returns how many.
pub async fn requeue_all(pool: &PgPool) -> Result<u64, RecordError> {
    let done = sqlx::query(
        "INSERT INTO outbox (kind, routing_key, priority, payload)
         SELECT 'sample.analyse', $1, 0, jsonb_build_object(
                    'job_id', gen_random_uuid(), 'sha256', s.sha256, 'size', s.size,
                    'kind', s.kind, 'sr_number', sr.sr_number, 'submission_id', sub.id,
                    'severity', sr.severity, 'attempt', 1)
         FROM samples s
         JOIN LATERAL (SELECT ss.submission_id FROM submission_samples ss
                       WHERE ss.sha256 = s.sha256 ORDER BY ss.id DESC LIMIT 1) last ON true
         JOIN submissions sub ON sub.id = last.submission_id
         JOIN service_requests sr ON sr.id = sub.sr_id",
    )
    .bind(SAMPLES)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

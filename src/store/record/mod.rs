//! Turning one decision into durable state, in one statement: the service
//! request (new, or the one the input references when the sender may add to
//! it), the submission, samples (deduplicated by SHA-256), rejected items,
//! events and the outbox rows the relay will publish. Recording the same
//! inbound input twice changes nothing.
//!
//! Three parts: [`read`] asks the database what it knows (the SR an input
//! names, the grant, a fresh SR number), [`plan`] decides every row from
//! that without I/O, and [`write`] persists the plan.

mod plan;
mod read;
#[cfg(test)]
mod tests;
mod write;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::answer::Correspondent;
use crate::decide::report::{Outcome, Report};
use crate::mail::ReplyProof;
use crate::sr::{SenderAuth, Severity, SrNumber, Verification};
use crate::store::outbox::OutboxKind;
use crate::store::queue::SAMPLES;

pub use plan::PlanError;
use plan::{Known, Planned};

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
    /// The message's subject (or the upload's title), kept with the SR's
    /// correspondence; a new SR opened on the portal takes it as its title.
    pub subject: Option<&'a str>,
    /// The signed-in account that sent the input (portal uploads).
    pub account: Option<i64>,
    /// Whom to answer; `None` for channels without mail answers and for
    /// messages that must not be answered.
    pub answer_to: Option<&'a Correspondent>,
    /// What the receiving MTA found out about the sender.
    pub sender_auth: &'a SenderAuth,
    /// The message is the customer's out-of-office notice.
    pub away: Option<crate::mail::away::Away>,
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
    pub verification: Verification,
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
    Plan(#[from] PlanError),
}

impl RecordError {
    fn inconsistent(e: impl std::fmt::Display) -> RecordError {
        RecordError::Inconsistent(e.to_string())
    }
}

/// Records `r`. An input that opens a new SR — nearly all of them — is
/// written by one statement, atomic on its own: no transaction to open and
/// commit, one round trip after the grant look-up (which also takes the SR
/// number). A reply naming an SR runs in a transaction that locks the SR
/// and its open needs_info submission.
pub async fn record(pool: &PgPool, r: Recording<'_>) -> Result<Recorded, RecordError> {
    if let Some(number) = plan::names(&r) {
        return record_reply(pool, &r, number).await;
    }
    let grant = plan::grant_number(&r, None);
    let (grant, number) = read::grant_and_number(pool, grant.as_deref(), true, r.now).await?;
    let known = Known {
        grant,
        number,
        ..Known::default()
    };
    let rows = match plan::plan(&r, known)? {
        Planned::Already(done) => return Ok(done),
        Planned::Write(rows) => rows,
    };
    match write::write(pool, &rows).await {
        Ok(()) => Ok(rows.recorded),
        // Recorded meanwhile by another delivery of the same input: the
        // unique inbound_id refused this copy, so report the first one.
        Err(e) if is_unique_violation(&e) => read::existing(pool, r.inbound_id)
            .await?
            .ok_or_else(|| RecordError::inconsistent(e)),
        Err(e) => Err(e.into()),
    }
}

/// Records a reply that names the SR `number`, in one transaction.
async fn record_reply(
    pool: &PgPool,
    r: &Recording<'_>,
    number: &SrNumber,
) -> Result<Recorded, RecordError> {
    let mut tx = pool.begin().await?;
    let already = read::existing(&mut *tx, r.inbound_id).await?;
    let mut named = match already {
        Some(_) => None,
        None => read::named_sr(&mut tx, number).await?,
    };
    let joined = named.as_ref().is_some_and(|sr| plan::joins(r, sr));
    if let Some(sr) = named.as_mut().filter(|_| joined) {
        read::history(&mut tx, sr).await?;
    }
    let grant = plan::grant_number(r, named.as_ref().filter(|_| joined));
    let new = already.is_none() && !joined;
    let (grant, number) = read::grant_and_number(&mut *tx, grant.as_deref(), new, r.now).await?;
    let known = Known {
        already,
        named,
        grant,
        number,
    };
    let recorded = match plan::plan(r, known)? {
        Planned::Already(done) => done,
        Planned::Write(rows) => {
            write::write(&mut *tx, &rows).await?;
            rows.recorded
        }
    };
    tx.commit().await?;
    Ok(recorded)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

/// How `inbound_id` was recorded, if it was: a redelivered input is answered
/// from here without being decided again.
pub async fn recorded(pool: &PgPool, inbound_id: i64) -> Result<Option<Recorded>, RecordError> {
    read::existing(pool, inbound_id).await
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

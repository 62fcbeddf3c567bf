//! What staff do to an SR that the customer hears about: closing it and
//! recording a verdict for one of its files. Each action is one transaction:
//! the state change, its event (who, what, when) and, when the SR has a
//! correspondent, the notice to the customer in the outbox. `clock` runs
//! the SRs' escalation deadlines.

pub mod clock;
pub mod queue;
pub mod web;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::answer::{self, Correspondent, Notice, TemplateError};
use crate::digest::Sha256;
use crate::sr::SrNumber;
use crate::sr::{Event, Resolution, StaffVerdict, Status};
use crate::store::events;
use crate::store::outbox::OutboxKind;

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no service request {0}")]
    NoSuchSr(SrNumber),
    #[error("{sha256} is not a file of {sr}")]
    NotInSr { sr: SrNumber, sha256: Sha256 },
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Who acts, and when (the application's clock).
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// A notice to the customer was queued.
    pub notified: bool,
}

/// Closes `sr`; the customer is told, with `note`.
pub async fn close_sr(
    pool: &PgPool,
    sr: &SrNumber,
    by: By<'_>,
    note: Option<&str>,
    vendor: &str,
) -> Result<Done, TriageError> {
    let (actor, now) = (by.actor, by.now);
    let mut tx = pool.begin().await?;
    let (id, to) = lock_sr(&mut tx, sr).await?;
    sqlx::query(
        "UPDATE service_requests
         SET closed_from = CASE WHEN status = $2 THEN closed_from ELSE status END,
             status = $2, resolution = $3, closed_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(Status::Closed.as_str())
    .bind(Resolution::Resolved.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let notice = Notice::Closed { note };
    let action = Action {
        sr_id: id,
        sr,
        actor,
        event: Event::Closed { note },
        now,
    };
    let notified = finish(&mut tx, &action, to, &notice, vendor).await?;
    tx.commit().await?;
    Ok(Done { notified })
}

/// Records staff's `verdict` on file `sha256` of `sr` (replacing the
/// provisional one of analysis); the customer is told.
pub async fn record_verdict(
    pool: &PgPool,
    sr: &SrNumber,
    sha256: &Sha256,
    verdict: &StaffVerdict,
    by: By<'_>,
    note: Option<&str>,
    vendor: &str,
) -> Result<Done, TriageError> {
    let (actor, now) = (by.actor, by.now);
    let mut tx = pool.begin().await?;
    let (id, to) = lock_sr(&mut tx, sr).await?;
    let path: Option<String> = sqlx::query_scalar(
        "SELECT ss.path FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
         WHERE s.sr_id = $1 AND ss.sha256 = $2 ORDER BY ss.id LIMIT 1",
    )
    .bind(id)
    .bind(sha256.to_hex())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(path) = path else {
        return Err(TriageError::NotInSr {
            sr: sr.clone(),
            sha256: *sha256,
        });
    };
    sqlx::query(
        "INSERT INTO verdicts (sha256, verdict, detection, reasons, decided_by, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sha256) DO UPDATE SET verdict = EXCLUDED.verdict,
             detection = EXCLUDED.detection, reasons = EXCLUDED.reasons,
             decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at",
    )
    .bind(sha256.to_hex())
    .bind(verdict.as_str())
    .bind(verdict.detection())
    .bind(json!([note.unwrap_or("confirmed by staff")]))
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE service_requests SET status = $3 WHERE id = $1 AND status = $2")
        .bind(id)
        .bind(Status::InAnalysis.as_str())
        .bind(Status::InAnalysis.after_verdict().as_str())
        .execute(&mut *tx)
        .await?;
    let notice = Notice::Verdict {
        path: &path,
        sha256: *sha256,
        verdict: verdict.as_str(),
        detection: verdict.detection(),
        note,
    };
    let action = Action {
        sr_id: id,
        sr,
        actor,
        event: Event::VerdictRecorded {
            sha256: *sha256,
            verdict,
            note,
        },
        now,
    };
    let notified = finish(&mut tx, &action, to, &notice, vendor).await?;
    tx.commit().await?;
    Ok(Done { notified })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Sets `sr`'s severity; its deadlines are planned afresh from `by.now`
/// (`sr::clock::replanned`). Returns the severity it had.
pub async fn change_severity(
    pool: &PgPool,
    sr: &SrNumber,
    severity: crate::sr::Severity,
    by: By<'_>,
) -> Result<crate::sr::Severity, TriageError> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, i16, String, String)> = sqlx::query_as(
        "SELECT id, severity, tier, status FROM service_requests WHERE sr_number = $1 FOR UPDATE",
    )
    .bind(sr.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let (id, was, tier, status) = row.ok_or_else(|| TriageError::NoSuchSr(sr.clone()))?;
    let bad = |what: &str| TriageError::Inconsistent(format!("{what} of {sr}"));
    let was = crate::sr::Severity::try_from(was).map_err(|_| bad("severity"))?;
    let tier: crate::sr::Tier = tier.parse().map_err(|_| bad("tier"))?;
    let status: Status = status.parse().map_err(|_| bad("status"))?;
    let clock = crate::sr::clock::replanned(severity, tier, status, by.now);
    sqlx::query(
        "UPDATE service_requests SET severity = $2, escalation_due = $3, next_update_due = $4,
                clock_paused_at = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(i16::from(severity.level()))
    .bind(clock.escalation_due)
    .bind(clock.next_update_due)
    .bind(clock.paused_at)
    .execute(&mut *tx)
    .await?;
    let changed = Event::SeverityChanged {
        from: was,
        to: severity,
    };
    events::on_sr(&mut *tx, by.actor, id, by.now, &changed).await?;
    tx.commit().await?;
    Ok(was)
}

async fn lock_sr(
    tx: &mut Tx<'_>,
    sr: &SrNumber,
) -> Result<(i64, Option<Correspondent>), TriageError> {
    let row: Option<(i64, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT id, correspondent FROM service_requests WHERE sr_number = $1 FOR UPDATE",
    )
    .bind(sr.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let (id, to) = row.ok_or_else(|| TriageError::NoSuchSr(sr.clone()))?;
    let to = to
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| TriageError::Inconsistent(format!("correspondent of {sr}: {e}")))?;
    Ok((id, to))
}

/// One staff action, as the event log keeps it.
struct Action<'a> {
    sr_id: i64,
    sr: &'a SrNumber,
    actor: &'a str,
    event: Event<'a>,
    /// When it happened (the application's clock).
    now: DateTime<Utc>,
}

/// The event, and the notice when there is someone to tell.
async fn finish(
    tx: &mut Tx<'_>,
    action: &Action<'_>,
    to: Option<Correspondent>,
    notice: &Notice<'_>,
    vendor: &str,
) -> Result<bool, TriageError> {
    events::on_sr(
        &mut **tx,
        action.actor,
        action.sr_id,
        action.now,
        &action.event,
    )
    .await?;
    let Some(to) = to else {
        return Ok(false);
    };
    // A notice starts a new exchange in the same thread: it answers nothing.
    let to = Correspondent {
        message_id: None,
        ..to
    };
    let a = answer::compose(action.sr, &to, notice, vendor)?;
    sqlx::query(
        "WITH ans AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             VALUES ($4, '', 0, $1) RETURNING id)
         INSERT INTO correspondence (sr_id, direction, at, answer, outbox_id)
         SELECT sr.id, 'out', $3, $1, ans.id FROM ans, service_requests sr WHERE sr.sr_number = $2",
    )
    .bind(serde_json::to_value(&a).map_err(|e| TriageError::Inconsistent(e.to_string()))?)
    .bind(action.sr.to_string())
    .bind(action.now)
    .bind(OutboxKind::MailAnswer.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

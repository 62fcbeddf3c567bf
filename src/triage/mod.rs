//! What staff do to an SR that the customer hears about: closing it and
//! recording a verdict for one of its files. Each action is one transaction:
//! the state change, its event (who, what, when) and, when the SR has a
//! correspondent, the notice to the customer in the outbox. `clock` runs
//! the SRs' escalation deadlines.

pub mod api;
pub mod clock;
pub mod queue;
pub mod response;
pub mod web;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::answer::{self, Correspondent, Notice, TemplateError};
use crate::digest::Sha256;
use crate::sr::SrNumber;
use crate::sr::{Event, Resolution, StaffVerdict, Status};
use crate::store::outbox::OutboxKind;
use crate::store::{deadlines, events};

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no service request {0}")]
    NoSuchSr(SrNumber),
    #[error("no enabled staff account {0}")]
    NoSuchStaff(String),
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
/// (`Deadlines::replanned`). Returns the severity it had.
pub async fn change_severity(
    pool: &PgPool,
    sr: &SrNumber,
    severity: crate::sr::Severity,
    by: By<'_>,
) -> Result<crate::sr::Severity, TriageError> {
    let mut tx = pool.begin().await?;
    let was = set_severity(&mut tx, sr, severity, by).await?;
    tx.commit().await?;
    Ok(was)
}

/// Sets the severity of every SR of `srs`, in one transaction (all or
/// none), as [`change_severity`] does for one.
pub async fn change_severities(
    pool: &PgPool,
    srs: &[SrNumber],
    severity: crate::sr::Severity,
    by: By<'_>,
) -> Result<(), TriageError> {
    let mut tx = pool.begin().await?;
    for sr in srs {
        set_severity(&mut tx, sr, severity, by).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn set_severity(
    tx: &mut Tx<'_>,
    sr: &SrNumber,
    severity: crate::sr::Severity,
    by: By<'_>,
) -> Result<crate::sr::Severity, TriageError> {
    let id = sr_id(tx, sr).await?;
    let clock = deadlines::lock(tx, id)
        .await?
        .ok_or_else(|| TriageError::NoSuchSr(sr.clone()))?;
    let was = clock.severity;
    if was == severity {
        return Ok(was);
    }
    let replanned = clock
        .deadlines
        .replanned(severity, clock.tier, clock.status, by.now);
    sqlx::query("UPDATE service_requests SET severity = $2 WHERE id = $1")
        .bind(id)
        .bind(i16::from(severity.level()))
        .execute(&mut **tx)
        .await?;
    deadlines::write(tx, id, &replanned).await?;
    let changed = Event::SeverityChanged {
        from: was,
        to: severity,
    };
    events::on_sr(&mut **tx, by.actor, id, by.now, &changed).await?;
    Ok(was)
}

/// SR `sr`'s id.
async fn sr_id(tx: &mut Tx<'_>, sr: &SrNumber) -> Result<i64, TriageError> {
    sqlx::query_scalar("SELECT id FROM service_requests WHERE sr_number = $1")
        .bind(sr.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| TriageError::NoSuchSr(sr.clone()))
}

/// Whom SRs are given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignTo {
    Nobody,
    /// A staff account, by address.
    Staff(String),
}

/// Gives each SR of `srs` to `to`, in one transaction (all or none); an SR
/// already with them is left as it is. Returns how many changed hands.
pub async fn assign(
    pool: &PgPool,
    srs: &[SrNumber],
    to: &AssignTo,
    by: By<'_>,
) -> Result<usize, TriageError> {
    let mut tx = pool.begin().await?;
    let target: Option<(i64, String)> = match to {
        AssignTo::Nobody => None,
        AssignTo::Staff(email) => Some(
            sqlx::query_as(
                "SELECT id, email FROM accounts
                 WHERE realm = 'staff' AND email = $1 AND disabled_at IS NULL",
            )
            .bind(email.trim().to_lowercase())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| TriageError::NoSuchStaff(email.clone()))?,
        ),
    };
    let mut changed = 0;
    for sr in srs {
        let row: Option<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT sr.id, sr.assignee_id, a.email FROM service_requests sr
             LEFT JOIN accounts a ON a.id = sr.assignee_id
             WHERE sr.sr_number = $1 FOR UPDATE OF sr",
        )
        .bind(sr.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let (id, was, was_email) = row.ok_or_else(|| TriageError::NoSuchSr(sr.clone()))?;
        let now_id = target.as_ref().map(|t| t.0);
        if was == now_id {
            continue;
        }
        sqlx::query("UPDATE service_requests SET assignee_id = $2 WHERE id = $1")
            .bind(id)
            .bind(now_id)
            .execute(&mut *tx)
            .await?;
        let assigned = Event::Assigned {
            from: was_email.as_deref(),
            to: target.as_ref().map(|t| t.1.as_str()),
        };
        events::on_sr(&mut *tx, by.actor, id, by.now, &assigned).await?;
        changed += 1;
    }
    tx.commit().await?;
    Ok(changed)
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
         INSERT INTO correspondence (sr_id, direction, at, answer, outbox_id, actor)
         SELECT $2, 'out', $3, $1, ans.id, $5 FROM ans",
    )
    .bind(serde_json::to_value(&a).map_err(|e| TriageError::Inconsistent(e.to_string()))?)
    .bind(action.sr_id)
    .bind(action.now)
    .bind(OutboxKind::MailAnswer.as_str())
    .bind(action.actor)
    .execute(&mut **tx)
    .await?;
    // What the customer sees from staff is the first response.
    deadlines::responded(tx, action.sr_id, action.now).await?;
    Ok(true)
}

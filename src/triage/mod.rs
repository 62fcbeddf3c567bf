//! The staff's desk: the queues ([`queue`]), the SR page ([`dossier`]) and
//! every action of the handbook ([`act`]), on pages ([`web`], [`sr_page`]),
//! in the JSON API ([`api`]) and in the terminal (`intake sr`). Each action
//! is one transaction: the state change, its event (who, what, when) and,
//! when the customer hears of it, the notice in the outbox. `clock` runs
//! the SRs' deadlines.

pub mod act;
pub mod api;
pub mod clock;
pub mod dossier;
pub mod extra_dat;
pub mod outbreak;
pub mod queue;
pub mod response;
pub mod sample;
pub mod sr_page;
pub mod web;

pub use act::{Act, act, close_sr};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::answer::{self, Correspondent, Notice, TemplateError};
use crate::digest::Sha256;
use crate::sr::{Event, SrNumber};
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
    /// The action does not apply to the SR as it stands (closed already,
    /// too late to reopen, not enough contact attempts...): said to staff.
    #[error("{0}")]
    Refused(String),
    #[error("sample store: {0}")]
    Blob(String),
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
    /// Notices queued to customers (one per SR told).
    pub notified: usize,
    /// The SRs it changed (a verdict changes every SR holding the file).
    pub srs: Vec<SrNumber>,
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
    let held = lock_sr(tx, sr).await?;
    let (id, clock) = (held.id, held.clock);
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

/// `NotInSr` unless SR `sr` holds file `sha256` (a file is acted on only
/// through an SR that holds it).
async fn held_by<'e, E>(db: E, sr: &SrNumber, sha256: &Sha256) -> Result<(), TriageError>
where
    E: sqlx::PgExecutor<'e>,
{
    let held: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
                        JOIN service_requests sr ON sr.id = s.sr_id
                        WHERE sr.sr_number = $1 AND ss.sha256 = $2)",
    )
    .bind(sr.to_string())
    .bind(sha256.to_hex())
    .fetch_one(db)
    .await?;
    if held {
        Ok(())
    } else {
        Err(TriageError::NotInSr {
            sr: sr.clone(),
            sha256: *sha256,
        })
    }
}

/// An SR as an action finds it, locked for the transaction.
struct Held {
    id: i64,
    number: SrNumber,
    /// Whom notices go to, in which language and thread.
    to: Option<Correspondent>,
    clock: deadlines::Locked,
    closed_at: Option<DateTime<Utc>>,
    closed_from: Option<crate::sr::Status>,
    grant: Option<String>,
}

/// Locks SR `sr` (`FOR UPDATE`) and reads what actions decide on.
async fn lock_sr(tx: &mut Tx<'_>, sr: &SrNumber) -> Result<Held, TriageError> {
    type Row = (
        i64,
        Option<serde_json::Value>,
        Option<DateTime<Utc>>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, correspondent, closed_at, closed_from, grant_number
         FROM service_requests WHERE sr_number = $1 FOR UPDATE",
    )
    .bind(sr.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let (id, to, closed_at, closed_from, grant) =
        row.ok_or_else(|| TriageError::NoSuchSr(sr.clone()))?;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        TriageError::Inconsistent(format!("{what} of {sr}: {e}"))
    };
    let to = to
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| bad("correspondent", &e))?;
    let closed_from = closed_from
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: String| bad("closed_from", &e))?;
    let clock = deadlines::lock(tx, id)
        .await?
        .ok_or_else(|| TriageError::NoSuchSr(sr.clone()))?;
    Ok(Held {
        id,
        number: sr.clone(),
        to,
        clock,
        closed_at,
        closed_from,
        grant,
    })
}

/// The event of an action on `held`, and the notice when there is someone
/// to tell; returns how many were told (0 or 1).
async fn finish(
    tx: &mut Tx<'_>,
    held: &Held,
    by: By<'_>,
    event: Event<'_>,
    notice: &Notice<'_>,
    intake: &crate::ingest::Intake,
) -> Result<usize, TriageError> {
    events::on_sr(&mut **tx, by.actor, held.id, by.now, &event).await?;
    let Some(to) = held.to.clone() else {
        return Ok(0);
    };
    // A notice starts a new exchange in the same thread: it answers nothing.
    let to = Correspondent {
        message_id: None,
        ..to
    };
    let a = answer::compose(&held.number, &to, notice, &intake.mail.answers.vendor)?;
    sqlx::query(
        "WITH ans AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             VALUES ($4, '', 0, $1) RETURNING id)
         INSERT INTO correspondence (sr_id, direction, at, answer, outbox_id, actor)
         SELECT $2, 'out', $3, $1, ans.id, $5 FROM ans",
    )
    .bind(serde_json::to_value(&a).map_err(|e| TriageError::Inconsistent(e.to_string()))?)
    .bind(held.id)
    .bind(by.now)
    .bind(OutboxKind::MailAnswer.as_str())
    .bind(by.actor)
    .execute(&mut **tx)
    .await?;
    // What the customer sees from staff is the first response.
    deadlines::responded(tx, held.id, by.now).await?;
    intake.outbox_wake.notify_one();
    Ok(1)
}

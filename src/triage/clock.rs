//! The scheduler that runs the SRs' clocks without anyone watching: each
//! pass takes the SRs whose escalation deadline has passed, locked with
//! `FOR UPDATE SKIP LOCKED` so several `intake serve` processes share the
//! work and none escalates an SR twice, applies what `sr::clock` decides,
//! and records each escalation as an event by `clock`. It also starts the
//! clock again when a customer's out-of-office return date has passed.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::TriageError;
use crate::metrics::{Metrics, label};
use crate::sr::clock::{self, Clocked};
use crate::sr::{Event, Severity};
use crate::store::{deadlines, events};

/// Most SRs one pass escalates (one transaction); the next pass takes the
/// rest.
pub const PASS_LIMIT: i64 = 1_000;

/// One pass at `now`: escalates every SR whose deadline has passed (up to
/// [`PASS_LIMIT`]); returns how many.
pub async fn pass(
    pool: &PgPool,
    now: DateTime<Utc>,
    metrics: &Metrics,
) -> Result<usize, TriageError> {
    back(pool, now).await?;
    type Row = (i64, i16, String, String, Option<DateTime<Utc>>);
    let mut tx = pool.begin().await?;
    let due: Vec<Row> = sqlx::query_as(
        "SELECT id, severity, tier, status, escalation_due FROM service_requests
         WHERE escalation_due <= $1 AND status NOT IN ('closed', 'needs_info')
               AND clock_paused_at IS NULL
         ORDER BY escalation_due LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(PASS_LIMIT)
    .fetch_all(&mut *tx)
    .await?;
    let mut done = 0;
    for (id, severity, tier, status, escalation_due) in due {
        let sr = Clocked {
            severity: Severity::try_from(severity)
                .map_err(|_| TriageError::Inconsistent(format!("severity of SR {id}")))?,
            tier: tier.parse().map_err(TriageError::Inconsistent)?,
            status: status.parse().map_err(TriageError::Inconsistent)?,
            escalation_due,
            paused: false,
        };
        let Some(e) = clock::escalation(&sr, now) else {
            // At the last tier: nothing further to escalate to.
            sqlx::query("UPDATE service_requests SET escalation_due = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            continue;
        };
        sqlx::query("UPDATE service_requests SET tier = $2, escalation_due = $3 WHERE id = $1")
            .bind(id)
            .bind(e.to.as_str())
            .bind(e.next_due)
            .execute(&mut *tx)
            .await?;
        let escalated = Event::Escalated {
            from: e.from,
            to: e.to,
            due: e.due,
            late_by_secs: e.late_by.num_seconds(),
        };
        events::on_sr(&mut *tx, "clock", id, now, &escalated).await?;
        metrics
            .escalations
            .get_or_create(&label("to", e.to.as_str()))
            .inc();
        done += 1;
    }
    tx.commit().await?;
    // The update and first-answer deadlines are the lab's to meet, not the
    // clock's to act on: how many have passed is shown on /metrics.
    let (update, first): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE next_update_due <= $1),
                count(*) FILTER (WHERE first_answer_due <= $1)
         FROM service_requests
         WHERE status NOT IN ('closed', 'needs_info') AND clock_paused_at IS NULL
               AND (next_update_due <= $1 OR first_answer_due <= $1)",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    for (kind, n) in [("update", update), ("first_answer", first)] {
        metrics
            .deadlines_breached
            .get_or_create(&label("kind", kind))
            .set(n);
    }
    Ok(done)
}

/// Starts the clock again on every SR whose customer's out-of-office
/// return date has passed by `now`, counting from that date.
async fn back(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, TriageError> {
    let mut tx = pool.begin().await?;
    let sql = concat!(
        "SELECT id, status, ",
        deadlines::columns!(),
        " FROM service_requests WHERE away_until <= $1
          ORDER BY away_until LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows = sqlx::query(sql)
        .bind(now)
        .bind(PASS_LIMIT)
        .fetch_all(&mut *tx)
        .await?;
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        let status = status.parse().map_err(TriageError::Inconsistent)?;
        let was = deadlines::from_row(row)?;
        let Some(moved) = was.back(status, now) else {
            continue;
        };
        deadlines::write(&mut tx, id, &moved).await?;
        let ended = Event::AwayEnded {
            until: was.away_until,
            waits_still: moved.paused_at.is_some(),
        };
        events::on_sr(&mut *tx, "clock", id, now, &ended).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

//! An SR's clock as stored: the deadline columns of `service_requests`,
//! read and written here only, so every writer (the record, staff actions,
//! the scheduler, the portal) keeps the same columns together.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use crate::sr::clock::Deadlines;
use crate::sr::{Severity, Status, Tier};

/// The columns [`from_row`] reads, for a `SELECT` list (a macro, so
/// `concat!` keeps the statement a literal).
macro_rules! deadline_columns {
    () => {
        "escalation_due, next_update_due, first_answer_due, clock_paused_at, away_until, \
         info_asked_at"
    };
}
pub(crate) use deadline_columns as columns;

/// The deadlines of a row that selected [`columns`].
pub fn from_row(row: &sqlx::postgres::PgRow) -> Result<Deadlines, sqlx::Error> {
    Ok(Deadlines {
        escalation_due: row.try_get("escalation_due")?,
        next_update_due: row.try_get("next_update_due")?,
        first_answer_due: row.try_get("first_answer_due")?,
        paused_at: row.try_get("clock_paused_at")?,
        away_until: row.try_get("away_until")?,
        info_asked_at: row.try_get("info_asked_at")?,
    })
}

/// An SR's clock and what it depends on, locked for the transaction.
#[derive(Debug, Clone, Copy)]
pub struct Locked {
    pub severity: Severity,
    pub tier: Tier,
    pub status: Status,
    pub deadlines: Deadlines,
}

/// Reads SR `id`'s clock, locked `FOR UPDATE`; none if there is no such SR.
pub async fn lock(db: &mut PgConnection, id: i64) -> Result<Option<Locked>, sqlx::Error> {
    let sql = concat!(
        "SELECT severity, tier, status, ",
        columns!(),
        " FROM service_requests WHERE id = $1 FOR UPDATE"
    );
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut *db).await? else {
        return Ok(None);
    };
    let bad = |what: &str| sqlx::Error::Decode(format!("{what} of SR {id}").into());
    let severity: i16 = row.try_get("severity")?;
    let tier: String = row.try_get("tier")?;
    let status: String = row.try_get("status")?;
    Ok(Some(Locked {
        severity: Severity::try_from(severity).map_err(|_| bad("severity"))?,
        tier: tier.parse().map_err(|_| bad("tier"))?,
        status: status.parse().map_err(|_| bad("status"))?,
        deadlines: from_row(&row)?,
    }))
}

/// Writes SR `id`'s deadlines.
pub async fn write(db: &mut PgConnection, id: i64, d: &Deadlines) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE service_requests SET escalation_due = $2, next_update_due = $3,
                first_answer_due = $4, clock_paused_at = $5, away_until = $6,
                info_asked_at = $7
         WHERE id = $1",
    )
    .bind(id)
    .bind(d.escalation_due)
    .bind(d.next_update_due)
    .bind(d.first_answer_due)
    .bind(d.paused_at)
    .bind(d.away_until)
    .bind(d.info_asked_at)
    .execute(db)
    .await?;
    Ok(())
}

/// When `at` is a first staff response on SR `id`: it is recorded, and the
/// first-answer deadline is met.
pub async fn responded(
    db: &mut PgConnection,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE service_requests
         SET first_response_at = COALESCE(first_response_at, $2), first_answer_due = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

//! The append-only event log (history is evidence; a trigger refuses any
//! change to it): the one way every actor — the portal, staff, the clock,
//! an operator — adds to it outside the recording statement.

use chrono::{DateTime, Utc};

use crate::sr::Event;

/// Appends an event of `kind` by `actor` at `at`, on SR `sr_id` if any.
pub async fn append<'e>(
    db: impl sqlx::PgExecutor<'e>,
    actor: &str,
    sr_id: Option<i64>,
    at: DateTime<Utc>,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO events (actor, sr_id, at, kind, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(actor)
        .bind(sr_id)
        .bind(at)
        .bind(kind)
        .bind(detail)
        .execute(db)
        .await?;
    Ok(())
}

/// Appends SR `sr_id`'s typed event `e`.
pub async fn on_sr<'e>(
    db: impl sqlx::PgExecutor<'e>,
    actor: &str,
    sr_id: i64,
    at: DateTime<Utc>,
    e: &Event<'_>,
) -> Result<(), sqlx::Error> {
    let (kind, detail) = e.to_row();
    append(db, actor, Some(sr_id), at, &kind, &detail).await
}

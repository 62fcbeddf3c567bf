//! The life of a stored input's `inbound` row between receiving and
//! recording: who is deciding it (a lease, so the replay loop of this or
//! another `intake serve` never takes an input that is being decided), how
//! often deciding it was tried, and the inputs parked as `failed` with their
//! reason after deciding them failed for good.
//!
//! Time comes from the caller (the application's clock), never from SQL
//! `now()`, so a test can move it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// How long a claim holds an input without being renewed. Deciding renews it
/// every [`RENEW`], so only a crashed process lets it lapse. Short, because
/// the inputs a killed `serve` held wait this long before the repair loop
/// takes them (two minutes made the proof's p99 to decision 131 s); safe,
/// because a second recording of one input fails on the unique inbound id
/// of its submission, whoever holds the lease.
pub const LEASE: Duration = Duration::from_secs(20);

/// How often a running decision renews its lease: four renewals fit in one
/// lease, so a busy moment of the database does not lose it.
pub const RENEW: Duration = Duration::from_secs(5);

/// How many times deciding an input may fail in a way that says something
/// about the input (a panic) before it is parked.
pub const MAX_ATTEMPTS: i32 = 3;

/// Why an input was not claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotClaimed {
    /// Already recorded: its recording answers.
    Recorded,
    /// Another decision holds its lease.
    Busy,
    /// Parked as failed; staff put it back with `intake inputs retry`.
    Failed,
}

/// A claim on one input: the lease is this process's until released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    /// Which try this is (1 for the first).
    pub attempt: i32,
}

/// Claims input `id` at `now`, unless it is recorded, parked or leased.
pub async fn claim(
    pool: &PgPool,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Result<Claim, NotClaimed>, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "UPDATE inbound SET lease_until = $2, attempts = attempts + 1
         WHERE id = $1 AND state = 'received' AND (lease_until IS NULL OR lease_until <= $3)
         RETURNING attempts",
    )
    .bind(id)
    .bind(now + LEASE)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    if let Some(attempt) = claimed {
        return Ok(Ok(Claim { id, attempt }));
    }
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM inbound WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(Err(match state.as_deref() {
        Some("recorded") => NotClaimed::Recorded,
        Some("failed") => NotClaimed::Failed,
        _ => NotClaimed::Busy,
    }))
}

/// A stored input the replay loop claimed.
#[derive(Debug, Clone)]
pub struct Pending {
    pub claim: Claim,
    pub channel: String,
    pub raw_sha256: String,
    pub envelope: Option<serde_json::Value>,
}

/// Claims the oldest input stored at least `age` before `now` that nobody is
/// deciding. Rows another process is claiming at this instant are skipped,
/// not waited for.
pub async fn claim_next(
    pool: &PgPool,
    age: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Pending>, sqlx::Error> {
    let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    let row: Option<(i64, i32, String, String, Option<serde_json::Value>)> = sqlx::query_as(
        "UPDATE inbound SET lease_until = $1, attempts = attempts + 1
         WHERE id = (SELECT id FROM inbound
                     WHERE state = 'received' AND received_at <= $2
                       AND (lease_until IS NULL OR lease_until <= $3)
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, attempts, channel, raw_sha256, envelope",
    )
    .bind(now + LEASE)
    .bind(now - age)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(id, attempt, channel, raw_sha256, envelope)| Pending {
            claim: Claim { id, attempt },
            channel,
            raw_sha256,
            envelope,
        }),
    )
}

/// Extends the lease of `claim` from `now`.
pub async fn renew(pool: &PgPool, claim: Claim, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE inbound SET lease_until = $2 WHERE id = $1 AND state = 'received'")
        .bind(claim.id)
        .bind(now + LEASE)
        .execute(pool)
        .await
        .map(|_| ())
}

/// What a failed try means for the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing to do with the input (the database or disk was away): tried
    /// again later, however many times.
    Transient,
    /// The input made deciding fail (a panic): parked after
    /// [`MAX_ATTEMPTS`] tries.
    Counted,
    /// The stored input cannot be read back (its blob is missing or
    /// garbled): parked at once, for staff.
    Unreadable,
}

impl Failure {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Transient => "transient",
            Failure::Counted => "counted",
            Failure::Unreadable => "unreadable",
        }
    }
}

/// Whether a failed try parks the input.
pub fn parks(failure: Failure, attempt: i32) -> bool {
    match failure {
        Failure::Transient => false,
        Failure::Counted => attempt >= MAX_ATTEMPTS,
        Failure::Unreadable => true,
    }
}

/// Records a failed try: the reason, the lease given back, and the input
/// parked as `failed` when [`parks`] says so. Returns whether it was parked.
pub async fn fail(
    pool: &PgPool,
    claim: Claim,
    failure: Failure,
    why: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let park = parks(failure, claim.attempt);
    sqlx::query(
        "UPDATE inbound SET error = $2, lease_until = NULL,
                state = CASE WHEN $3 THEN 'failed' ELSE state END,
                failed_at = CASE WHEN $3 THEN $4 ELSE failed_at END
         WHERE id = $1 AND state = 'received'",
    )
    .bind(claim.id)
    .bind(why)
    .bind(park)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(park)
}

/// One parked input, as `intake inputs failed` lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Parked {
    pub id: i64,
    pub channel: String,
    pub external_id: String,
    pub received_at: DateTime<Utc>,
    pub failed_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub error: Option<String>,
}

/// Every parked input, most recently parked first.
pub async fn failed(pool: &PgPool) -> Result<Vec<Parked>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, channel, external_id, received_at, failed_at, attempts, error
         FROM inbound WHERE state = 'failed' ORDER BY failed_at DESC NULLS LAST, id DESC",
    )
    .fetch_all(pool)
    .await
}

/// How many inputs are parked as failed.
pub async fn count_failed(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM inbound WHERE state = 'failed'")
        .fetch_one(pool)
        .await
}

/// Puts a parked input back for the replay loop, with its tries counted
/// afresh (staff fixed what made it fail). Returns whether it was parked.
pub async fn retry(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE inbound SET state = 'received', attempts = 0, lease_until = NULL, failed_at = NULL
         WHERE id = $1 AND state = 'failed'",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_input_faults_park_and_only_when_tries_run_out() {
        for attempt in 1..=10 {
            assert!(!parks(Failure::Transient, attempt));
            assert!(parks(Failure::Unreadable, attempt));
            assert_eq!(parks(Failure::Counted, attempt), attempt >= MAX_ATTEMPTS);
        }
    }
}

//! Portal uploads after the fact: what a grant used against its quota, the
//! note of each upload (counted, or a re-upload of samples already
//! analysed), and an upload's result read back from its recording — the
//! same for a first hand-over and a repeated one.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::decide::report::Report;
use crate::sr::SrNumber;

#[derive(Debug, thiserror::Error)]
pub enum UploadsError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

/// What a grant used in one window: counted uploads, their bytes, and when
/// the oldest of them was made (it leaves the window first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    pub uploads: u32,
    pub bytes: u64,
    pub oldest: Option<DateTime<Utc>>,
}

/// A grant's use over the last hour and the last day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub hour: Used,
    pub day: Used,
}

/// What `grant` used over the last hour and day before `now`.
pub async fn usage(pool: &PgPool, grant: &str, now: DateTime<Utc>) -> Result<Usage, UploadsError> {
    type Row = (i64, Option<i64>, Option<DateTime<Utc>>);
    let window = |since: DateTime<Utc>| async move {
        let (uploads, bytes, oldest): Row = sqlx::query_as(
            "SELECT count(*), sum(bytes)::bigint, min(at) FROM portal_uploads
             WHERE grant_number = $1 AND counted AND at > $2 AND at <= $3",
        )
        .bind(grant)
        .bind(since)
        .bind(now)
        .fetch_one(pool)
        .await?;
        Ok::<_, UploadsError>(Used {
            uploads: u32::try_from(uploads).unwrap_or(u32::MAX),
            bytes: u64::try_from(bytes.unwrap_or(0)).unwrap_or(0),
            oldest,
        })
    };
    Ok(Usage {
        hour: window(now - TimeDelta::hours(1)).await?,
        day: window(now - TimeDelta::days(1)).await?,
    })
}

/// Notes an upload against `grant`'s quota. It counts unless each of its
/// samples had a verdict before it came (a re-upload answered from the
/// findings). Returns whether it counted.
pub async fn note(
    pool: &PgPool,
    grant: &str,
    account: i64,
    at: DateTime<Utc>,
    bytes: u64,
    submission: Uuid,
) -> Result<bool, UploadsError> {
    let counted: bool = sqlx::query_scalar(
        "INSERT INTO portal_uploads (grant_number, account_id, at, bytes, counted, submission_id)
         SELECT $1, $2, $3, $4,
                NOT EXISTS (SELECT 1 FROM submission_samples ss WHERE ss.submission_id = $5)
                OR EXISTS (SELECT 1 FROM submission_samples ss
                           LEFT JOIN verdicts v ON v.sha256 = ss.sha256 AND v.decided_at < $3
                           WHERE ss.submission_id = $5 AND v.sha256 IS NULL),
                $5
         RETURNING counted",
    )
    .bind(grant)
    .bind(account)
    .bind(at)
    .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
    .bind(submission)
    .fetch_one(pool)
    .await?;
    Ok(counted)
}

/// A recorded upload as its sender sees it.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub sr: SrNumber,
    pub report: Report,
    /// The verdict already known for a sample, by its SHA-256 (hex).
    pub known: BTreeMap<String, String>,
}

/// The recorded result of submission `id`.
pub async fn submitted(pool: &PgPool, id: Uuid) -> Result<Submitted, UploadsError> {
    let (sr, report): (String, serde_json::Value) = sqlx::query_as(
        "SELECT sr.sr_number, sub.report FROM submissions sub
         JOIN service_requests sr ON sr.id = sub.sr_id WHERE sub.id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let report: Report = serde_json::from_value(report)
        .map_err(|e| UploadsError::Inconsistent(format!("report of {id}: {e}")))?;
    let known: Vec<(String, String)> = sqlx::query_as(
        "SELECT v.sha256, v.verdict FROM submission_samples ss
         JOIN verdicts v ON v.sha256 = ss.sha256 WHERE ss.submission_id = $1",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Submitted {
        sr: sr.parse().map_err(UploadsError::Inconsistent)?,
        report,
        known: known.into_iter().collect(),
    })
}

/// Where an upload stands, found by its upload id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Stored, not yet decided.
    Received,
    /// Deciding it failed; it waits for staff (the input is kept).
    Failed,
    /// Decided and recorded as this submission.
    Recorded(Uuid),
}

/// The progress of the portal upload `upload_id`, if there is one.
pub async fn progress(pool: &PgPool, upload_id: &str) -> Result<Option<Progress>, UploadsError> {
    let row: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT i.state, s.id FROM inbound i LEFT JOIN submissions s ON s.inbound_id = i.id
         WHERE i.channel = 'portal' AND i.external_id = $1",
    )
    .bind(upload_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(state, sub)| match (state.as_str(), sub) {
        (_, Some(id)) => Progress::Recorded(id),
        ("failed", None) => Progress::Failed,
        _ => Progress::Received,
    }))
}

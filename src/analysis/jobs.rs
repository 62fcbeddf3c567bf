//! The `analysis_jobs` ledger: each job's starts, counted before analysing
//! begins (a job that kills its worker has no failure path to count it),
//! and the state staff see. `done` is final, whatever order the deliveries
//! of one job reach the database in.

use sqlx::{PgPool, Postgres, Transaction};

use crate::store::queue::SampleJob;

/// A job's state in `analysis_jobs`, as staff see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Retrying,
    Dead,
    /// Its findings are committed. Final: a second delivery of the job (the
    /// relay published twice around a crash, the broker redelivered after
    /// a cut) may start or fail after the first one finished, and must not
    /// move it back, or it looks pending for ever beside its findings.
    Done,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Done => "done",
        }
    }
}

/// What counting a start found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Starts of this job, this one included.
    pub starts: u32,
    /// The job was already done (and stays so).
    pub done: bool,
}

/// Counts a start of `job` before it is analysed.
pub async fn started(pool: &PgPool, job: &SampleJob) -> Result<Start, sqlx::Error> {
    let (starts, state): (i32, String) = sqlx::query_as(
        "INSERT INTO analysis_jobs (job_id, sha256, submission_id, starts, state, updated_at)
         VALUES ($1, $2, $3, 1, $5, $4)
         ON CONFLICT (job_id) DO UPDATE SET starts = analysis_jobs.starts + 1,
             state = CASE WHEN analysis_jobs.state = $6 THEN $6 ELSE $5 END,
             updated_at = $4
         RETURNING starts, state",
    )
    .bind(job.job_id)
    .bind(job.sha256.to_hex())
    .bind(job.submission_id)
    .bind(chrono::Utc::now())
    .bind(JobState::Running.as_str())
    .bind(JobState::Done.as_str())
    .fetch_one(pool)
    .await?;
    Ok(Start {
        starts: u32::try_from(starts).unwrap_or(u32::MAX),
        done: state == JobState::Done.as_str(),
    })
}

/// Sets the state staff see for `job`, unless it is already done.
pub async fn settle(
    tx: &mut Transaction<'_, Postgres>,
    job: &SampleJob,
    state: JobState,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE analysis_jobs SET state = $2, last_error = $3, updated_at = $4
         WHERE job_id = $1 AND state <> $5",
    )
    .bind(job.job_id)
    .bind(state.as_str())
    .bind(error)
    .bind(chrono::Utc::now())
    .bind(JobState::Done.as_str())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

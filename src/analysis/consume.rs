//! The consumer loop: manual acknowledgement, a bounded number of jobs in
//! flight (the prefetch), findings committed before the ack, failures sent
//! through the delayed-retry queue and, after the last attempt, to the dead
//! queue with an event staff can see. Stopping finishes the jobs in flight;
//! anything unacknowledged is redelivered by the broker to another worker.
//!
//! A job that kills its worker (a parser's stack overflow, an OOM) has no
//! failure path to take: the broker redelivers it for ever. So every start
//! is counted in the database (`analysis_jobs`) before analysing begins, and
//! a job started more than `max_starts` times is dead-lettered with that
//! reason. The limit is well above `max_attempts`, so a worker an operator
//! kills mid-job does not condemn an innocent sample.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, message::Delivery};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::Analyser;
use super::jobs::{self, JobState};
use crate::metrics::{Metrics, label};
use crate::sr::Event;
use crate::store::blob::Blobs;
use crate::store::queue::{self, PublishError, SampleJob, Topology};
use crate::store::retry::Retry;

/// How long a job whose failure could not even be recorded waits before it
/// goes back to the queue.
const GIVE_BACK_AFTER: Duration = Duration::from_secs(1);

/// How long a session that ends waits for its jobs in flight.
const FINISH_WITHIN: Duration = Duration::from_secs(120);

/// The consumer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Everything a consumer needs.
#[derive(Clone)]
pub struct Consumer {
    pub pool: PgPool,
    pub blobs: Blobs,
    pub topology: Topology,
    pub amqp_url: String,
    pub prefetch: u16,
    pub max_attempts: u32,
    /// Starts of one job (deliveries that began analysing) before it is
    /// dead-lettered as one that never finishes.
    pub max_starts: u32,
    pub retry_delay_ms: u32,
    pub analysers: Arc<Vec<Box<dyn Analyser>>>,
    pub metrics: Metrics,
    /// Name recorded as the actor of events ("worker@host").
    pub actor: String,
}

/// Logs a job whose handling ended in an error: it was handed back, or its
/// ack was lost with the connection; either way the broker delivers it again.
fn log_unsettled(done: Result<Result<(), ConsumeError>, tokio::task::JoinError>) {
    if let Ok(Err(e)) = done {
        tracing::error!(error = %e, "job not settled; the broker delivers it again");
    }
}

/// How one job ended.
enum Done {
    Analysed,
    Retried,
    Dead,
}

impl Consumer {
    /// Consumes until `stop` turns true or, with `until_idle`, until the
    /// queue has been empty and nothing was in flight for that long.
    /// Returns the number of jobs handled.
    pub async fn run(
        &self,
        stop: watch::Receiver<bool>,
        until_idle: Option<Duration>,
    ) -> Result<usize, ConsumeError> {
        self.session(stop, until_idle, || {}).await
    }

    /// Consumes until `stop` turns true, reconnecting after the broker or
    /// the database went away (unacknowledged jobs are redelivered). Returns
    /// the number of jobs handled.
    pub async fn run_until_stopped(&self, stop: watch::Receiver<bool>) -> usize {
        let mut retry = Retry::new(Duration::from_millis(500), Duration::from_secs(4));
        let mut handled = 0;
        while !*stop.borrow() {
            let ended = self.session(stop.clone(), None, || retry.connected()).await;
            let wait = retry.failed();
            match ended {
                Ok(n) => {
                    handled += n;
                    if *stop.borrow() {
                        break;
                    }
                    tracing::warn!(retry_in = ?wait, "the broker ended the subscription");
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "broker or database unavailable");
                }
            }
            let mut stopped = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => {}
            }
        }
        handled
    }

    /// One connection's worth of consuming; `connected` runs once the
    /// consumer is subscribed.
    async fn session(
        &self,
        mut stop: watch::Receiver<bool>,
        until_idle: Option<Duration>,
        connected: impl FnOnce(),
    ) -> Result<usize, ConsumeError> {
        let conn = queue::connect(&self.amqp_url).await?;
        let consume_ch = conn.create_channel().await?;
        let publish_ch = queue::confirm_channel(&conn).await?;
        self.topology
            .declare(&consume_ch, self.retry_delay_ms)
            .await?;
        consume_ch
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await?;
        let mut deliveries = consume_ch
            .basic_consume(
                self.topology.samples_queue().into(),
                self.actor.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        connected();
        let publish_ch = Arc::new(publish_ch);
        let mut in_flight = JoinSet::new();
        let mut handled = 0usize;
        let mut idle_since = Instant::now();
        let mut ended: Result<(), ConsumeError> = Ok(());
        loop {
            let tick = until_idle
                .unwrap_or(Duration::from_secs(3600))
                .min(Duration::from_millis(250));
            tokio::select! {
                next = deliveries.next() => match next {
                    Some(Ok(d)) => {
                        let me = self.clone();
                        let ch = publish_ch.clone();
                        in_flight.spawn(async move { me.handle(d, &ch).await });
                    }
                    Some(Err(e)) => {
                        ended = Err(e.into());
                        break;
                    }
                    None => break,
                },
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    handled += 1;
                    idle_since = Instant::now();
                    log_unsettled(done);
                }
                _ = stop.changed() => break,
                _ = tokio::time::sleep(tick) => {
                    if let Some(idle) = until_idle
                        && in_flight.is_empty()
                        && idle_since.elapsed() >= idle
                    {
                        match self.topology.depth(&consume_ch, &self.topology.samples_queue()).await {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => {
                                ended = Err(e.into());
                                break;
                            }
                        }
                    }
                }
            }
        }
        // Stop taking new jobs, finish the ones in flight: also when the
        // connection broke, since a job aborted between its SQL statements
        // could leave its state behind its findings (Garage run 3). Their
        // acks then fail and the broker redelivers them, which is harmless.
        let _ = consume_ch
            .basic_cancel(self.actor.as_str().into(), Default::default())
            .await;
        let finish = async {
            while let Some(done) = in_flight.join_next().await {
                handled += 1;
                log_unsettled(done);
            }
        };
        if tokio::time::timeout(FINISH_WITHIN, finish).await.is_err() {
            tracing::error!(
                "jobs in flight did not finish within {FINISH_WITHIN:?}; abandoned to redelivery"
            );
        }
        ended?;
        queue::close(&conn, "done").await;
        Ok(handled)
    }

    /// Handles one delivery and acknowledges it (or hands it back to the
    /// queue when even the failure path could not be taken).
    async fn handle(&self, d: Delivery, publish: &Channel) -> Result<(), ConsumeError> {
        let job: SampleJob = match serde_json::from_slice(&d.data) {
            Ok(j) => j,
            Err(e) => {
                // Not ours to fix: straight to the dead queue via the DLX.
                tracing::error!(error = %e, "undecodable job; dead-lettered");
                self.metrics
                    .jobs
                    .get_or_create(&label("result", "dead"))
                    .inc();
                d.reject(BasicRejectOptions { requeue: false }).await?;
                return Ok(());
            }
        };
        let span = tracing::info_span!("job", sr = %job.sr_number, submission = %job.submission_id,
            sha256 = %job.sha256, attempt = job.attempt);
        let outcome = async {
            let start = jobs::started(&self.pool, &job).await?;
            if start.starts > self.max_starts && !start.done {
                let why = format!(
                    "analysis started {} times without finishing: it crashes or stalls the worker",
                    start.starts - 1
                );
                return self.dead(&job, &why, publish).await;
            }
            match self.analyse(&job).await {
                Ok(()) => Ok(Done::Analysed),
                Err(why) => self.fail(&job, &why, publish).await,
            }
        }
        .instrument(span)
        .await;
        match outcome {
            Ok(done) => {
                let result = match done {
                    Done::Analysed => "done",
                    Done::Retried => "retried",
                    Done::Dead => "dead",
                };
                self.metrics
                    .jobs
                    .get_or_create(&label("result", result))
                    .inc();
                d.ack(BasicAckOptions::default()).await?;
                Ok(())
            }
            Err(e) => {
                // Not even the failure path could be taken (the database
                // away). Hand the job back now: left unacknowledged on a
                // channel that stays open, the broker would hold it for as
                // long as this worker lives, counted in no queue's depth.
                // A pause first, so a database that is restarting is not
                // hammered by the same job.
                self.metrics
                    .jobs
                    .get_or_create(&label("result", "handed_back"))
                    .inc();
                tokio::time::sleep(GIVE_BACK_AFTER).await;
                let _ = d
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await;
                Err(e)
            }
        }
    }

    /// Runs the analysers not yet recorded for this sample and commits their
    /// findings in one transaction.
    async fn analyse(&self, job: &SampleJob) -> Result<(), String> {
        let done: Vec<(String, String)> =
            sqlx::query_as("SELECT analyser, analyser_version FROM findings WHERE sha256 = $1")
                .bind(job.sha256.to_hex())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
        let todo: Vec<usize> = self
            .analysers
            .iter()
            .enumerate()
            .filter(|(_, a)| !done.iter().any(|(n, v)| n == a.name() && *v == a.version()))
            .map(|(i, _)| i)
            .collect();
        if !todo.is_empty() {
            let blobs = self.blobs.clone();
            let analysers = self.analysers.clone();
            let metrics = self.metrics.clone();
            let j = job.clone();
            let results = tokio::task::spawn_blocking(move || {
                let bytes = blobs
                    .get(&j.sha256)
                    .map_err(|e| format!("sample blob: {e}"))?;
                crate::fault::before_analysing(&bytes);
                let mut out = Vec::new();
                for i in todo {
                    let a = &analysers[i];
                    let t = Instant::now();
                    let r = a
                        .analyse(&bytes, &j)
                        .map_err(|e| format!("{}: {e}", a.name()))?;
                    metrics
                        .analyser_seconds
                        .get_or_create(&label("analyser", a.name()))
                        .observe(t.elapsed().as_secs_f64());
                    out.push((a.name(), a.version(), r));
                }
                Ok::<_, String>(out)
            })
            .await
            .map_err(|e| e.to_string())??;
            self.commit(job, &results)
                .await
                .map_err(|e| e.to_string())?;
        } else {
            // Delivered again with nothing left to do (the relay published it
            // twice around a crash): still done, not left `running` for ever.
            let settled = async {
                let mut tx = self.pool.begin().await?;
                jobs::settle(&mut tx, job, JobState::Done, None).await?;
                tx.commit().await
            };
            settled.await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn commit(
        &self,
        job: &SampleJob,
        results: &[(&'static str, String, serde_json::Value)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for (name, version, result) in results {
            sqlx::query(
                "INSERT INTO findings (sha256, analyser, analyser_version, result) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256, analyser, analyser_version) DO NOTHING",
            )
            .bind(job.sha256.to_hex())
            .bind(name)
            .bind(version)
            .bind(result)
            .execute(&mut *tx)
            .await?;
        }
        // The provisional verdict from every finding the sample now has
        // (staff-confirmed verdicts are never overwritten).
        let all: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT DISTINCT ON (analyser) analyser, result FROM findings WHERE sha256 = $1
             ORDER BY analyser, created_at DESC",
        )
        .bind(job.sha256.to_hex())
        .fetch_all(&mut *tx)
        .await?;
        let (verdict, reasons) = super::verdict::provisional(&all);
        sqlx::query(
            "INSERT INTO verdicts (sha256, verdict, reasons, decided_by) VALUES ($1, $2, $3, 'analysis')
             ON CONFLICT (sha256) DO UPDATE SET verdict = EXCLUDED.verdict, reasons = EXCLUDED.reasons,
                 decided_at = now() WHERE verdicts.decided_by = 'analysis'",
        )
        .bind(job.sha256.to_hex())
        .bind(verdict.as_str())
        .bind(serde_json::json!(reasons))
        .execute(&mut *tx)
        .await?;
        let names: Vec<&str> = results.iter().map(|r| r.0).collect();
        jobs::settle(&mut tx, job, JobState::Done, None).await?;
        let done = Event::AnalysisDone {
            sha256: job.sha256,
            analysers: names,
        };
        self.event(&mut tx, job, &done).await?;
        tx.commit().await
    }

    async fn event(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        job: &SampleJob,
        event: &Event<'_>,
    ) -> Result<(), sqlx::Error> {
        let (kind, detail) = event.to_row();
        sqlx::query(
            "INSERT INTO events (actor, sr_id, submission_id, kind, detail)
             SELECT $1, id, $3, $4, $5 FROM service_requests WHERE sr_number = $2",
        )
        .bind(&self.actor)
        .bind(job.sr_number.to_string())
        .bind(job.submission_id)
        .bind(kind)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A failed attempt: retry later, or dead-letter after the last one.
    async fn fail(
        &self,
        job: &SampleJob,
        why: &str,
        publish: &Channel,
    ) -> Result<Done, ConsumeError> {
        let last = job.attempt >= self.max_attempts;
        tracing::warn!(error = why, last, "analysis failed");
        if last {
            return self.dead(job, why, publish).await;
        }
        self.forward(job, why, publish, Done::Retried).await
    }

    /// Dead-letters `job` with the reason staff will see.
    async fn dead(
        &self,
        job: &SampleJob,
        why: &str,
        publish: &Channel,
    ) -> Result<Done, ConsumeError> {
        tracing::error!(error = why, "analysis dead-lettered");
        self.forward(job, why, publish, Done::Dead).await
    }

    /// Publishes `job` to the retry or the dead queue and records why.
    async fn forward(
        &self,
        job: &SampleJob,
        why: &str,
        publish: &Channel,
        done: Done,
    ) -> Result<Done, ConsumeError> {
        let mut next = job.clone();
        next.attempt += 1;
        let (sha256, attempt, error) = (job.sha256, job.attempt, why);
        let (exchange, event, state) = match done {
            Done::Dead => (
                self.topology.dead_exchange(),
                Event::AnalysisDead {
                    sha256,
                    attempt,
                    error,
                },
                JobState::Dead,
            ),
            _ => (
                self.topology.retry_exchange(),
                Event::AnalysisRetry {
                    sha256,
                    attempt,
                    error,
                },
                JobState::Retrying,
            ),
        };
        queue::publish_confirmed(publish, &exchange, &next)
            .await
            .map_err(|e| match e {
                PublishError::Broker(b) => ConsumeError::Broker(b),
                other => ConsumeError::Broker(lapin::Error::from(std::io::Error::other(
                    other.to_string(),
                ))),
            })?;
        let mut tx = self.pool.begin().await?;
        jobs::settle(&mut tx, job, state, Some(why)).await?;
        self.event(&mut tx, job, &event).await?;
        tx.commit().await?;
        Ok(done)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use uuid::Uuid;

    use crate::decide::classify::Kind;
    use crate::digest::Sha256;
    use crate::sr::{Severity, SrNumber};
    use crate::store::queue::SampleJob;

    /// A job naming `bytes`.
    pub(crate) fn job_for(bytes: &[u8]) -> SampleJob {
        SampleJob {
            job_id: Uuid::nil(),
            sha256: Sha256::of(bytes),
            size: bytes.len() as u64,
            kind: Kind::Other,
            sr_number: SrNumber::new(2026, 1),
            submission_id: Uuid::nil(),
            severity: Severity::MEDIUM,
            attempt: 1,
        }
    }
}

//! The relay: publishes outbox rows to RabbitMQ with publisher confirms and
//! marks them sent in the same database transaction that locked them. Rows
//! wait while the broker is down and go out when it returns; a crash between
//! the confirm and the commit publishes a row twice, which consumers absorb
//! (findings are unique per sample and analyser version). Several relays can
//! run at once: rows are claimed with `FOR UPDATE SKIP LOCKED`. Answers to
//! customers wait in the same table and go out by mail (`answer::send`).
//!
//! Jobs are published `mandatory`: a job no queue takes (its queue deleted,
//! a mistyped prefix) comes back from the broker instead of being confirmed
//! and dropped. It stays in the outbox with the reason, and the relay's
//! session ends, so the next one declares the topology again and retries.

use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{Channel, Connection};
use sqlx::PgPool;
use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;
use crate::store::queue::{self, Topology};
use crate::store::retry::Retry;

/// The name of answer rows, as a macro: the relay's queries must spell it as
/// a literal for the planner to use the partial indexes on pending rows, and
/// `concat!` builds them from this one text.
macro_rules! mail_answer_kind {
    () => {
        "mail.answer"
    };
}
pub(crate) use mail_answer_kind;

/// What an outbox row carries, and who sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// An analysis job: the relay publishes it to RabbitMQ.
    SampleAnalyse,
    /// An answer to a customer: the mail sender delivers it.
    MailAnswer,
}

impl OutboxKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxKind::SampleAnalyse => "sample.analyse",
            OutboxKind::MailAnswer => mail_answer_kind!(),
        }
    }
}

/// Relaying failed; the rows stay pending.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused outbox row {0}")]
    Nacked(i64),
    #[error("the broker returned {} job(s) no queue takes (first: outbox row {}); they stay in the outbox", .0.len(), .0.first().copied().unwrap_or_default())]
    Unroutable(Vec<i64>),
}

/// Publishes up to `max` pending rows; returns how many went out.
pub async fn relay_batch(
    pool: &PgPool,
    ch: &Channel,
    topology: &Topology,
    max: i64,
) -> Result<usize, RelayError> {
    // Marking rows sent need not wait for the disk: if a crash loses the
    // mark, the rows go out again, which consumers absorb anyway. Waiting
    // would put one more flush per batch in the queue of every recording.
    let mut tx = pool
        .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
        .await?;
    let rows: Vec<(i64, String, i16, serde_json::Value)> = sqlx::query_as(concat!(
        "SELECT id, routing_key, priority, payload FROM outbox
         WHERE published_at IS NULL AND kind <> '",
        mail_answer_kind!(),
        "' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(max)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let exchange = topology.jobs_exchange();
    let mut confirms = Vec::with_capacity(rows.len());
    for (id, key, priority, payload) in &rows {
        let body = payload.to_string();
        let props = queue::persistent(
            u8::try_from(*priority).unwrap_or(0),
            &format!("outbox-{id}"),
        );
        let confirm = ch
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body.as_bytes(),
                props,
            )
            .await?;
        confirms.push((*id, confirm));
    }
    let mut sent = Vec::with_capacity(confirms.len());
    let mut returned = Vec::new();
    for (id, confirm) in confirms {
        match confirm.await? {
            lapin::Confirmation::Nack(_) => return Err(RelayError::Nacked(id)),
            // Confirmed, but with the message handed back: no queue took it.
            lapin::Confirmation::Ack(Some(_)) => returned.push(id),
            _ => sent.push(id),
        }
    }
    sqlx::query(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
    )
    .bind(&sent)
    .execute(&mut *tx)
    .await?;
    if !returned.is_empty() {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1,
                    last_error = 'returned by the broker: no queue is bound for its routing key'
             WHERE id = ANY($1)",
        )
        .bind(&returned)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if !returned.is_empty() {
        return Err(RelayError::Unroutable(returned));
    }
    Ok(sent.len())
}

/// Deletes up to `batch` rows sent before `before`; returns how many. What
/// an answer said stays in the SR's correspondence; a job, once published,
/// lives in the broker and the findings.
pub async fn prune(
    pool: &PgPool,
    before: chrono::DateTime<chrono::Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox WHERE published_at IS NOT NULL AND published_at < $1
             ORDER BY published_at LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Rows the relay has not yet published, and the age of the oldest in
/// seconds (answers to customers are not the relay's).
pub async fn lag(pool: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0)
         FROM outbox WHERE published_at IS NULL AND kind <> '",
        mail_answer_kind!(),
        "'"
    ))
    .fetch_one(pool)
    .await
}

/// Settings of the relay loop.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub amqp_url: String,
    pub topology: Topology,
    pub retry_delay_ms: u32,
    pub batch: i64,
    /// Rung by the ingest path of this process after it commits outbox rows.
    /// Rows written by other processes are found by polling.
    pub wake: Arc<Notify>,
}

/// How long the relay lets rows gather before a batch that would not be
/// full: a few milliseconds on a job's way to analysis, against a
/// transaction per row when rows come one at a time.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// How often the relay looks for rows nobody told it about.
const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs until `stop` turns true: connects (and reconnects with back-off),
/// declares the topology, and publishes rows as they appear (woken by this
/// process's ingest path, polling for the rest). No `NOTIFY`: it would
/// serialise the commits of every recording transaction.
pub async fn run(
    pool: PgPool,
    cfg: RelayConfig,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    // The broker is usually on the next host: a refused connection costs
    // nothing, and every second waited past its return is a second of jobs
    // not on their way.
    let mut retry = Retry::new(Duration::from_millis(200), Duration::from_secs(2));
    while !*stop.borrow() {
        match session(&pool, &cfg, &metrics, &mut stop, &mut retry).await {
            Ok(()) => return,
            Err(e) => {
                if let RelayError::Unroutable(ids) = &e {
                    metrics.relay_returned.inc_by(ids.len() as u64);
                }
                let wait = retry.failed();
                tracing::warn!(error = %e, retry_in = ?wait, "relay: rows wait");
                metrics.relay_errors.inc();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

async fn session(
    pool: &PgPool,
    cfg: &RelayConfig,
    metrics: &Metrics,
    stop: &mut watch::Receiver<bool>,
    retry: &mut Retry,
) -> Result<(), RelayError> {
    let conn: Connection = queue::connect(&cfg.amqp_url).await?;
    let ch = queue::confirm_channel(&conn).await?;
    cfg.topology.declare(&ch, cfg.retry_delay_ms).await?;
    tracing::info!("relay: connected");
    loop {
        if *stop.borrow() {
            queue::close(&conn, "shutdown").await;
            return Ok(());
        }
        let sent = relay_batch(pool, &ch, &cfg.topology, cfg.batch).await?;
        // Both the database and the broker answered.
        retry.connected();
        metrics.outbox_published.inc_by(sent as u64);
        if sent as i64 >= cfg.batch {
            continue;
        }
        if sent == 0 {
            tokio::select! {
                _ = cfg.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
        // Let rows gather: each batch costs a transaction, a scan of the
        // pending rows and a broker round trip, whatever its size.
        tokio::time::sleep(GATHER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literal_the_queries_use_is_the_kind() {
        assert_eq!(mail_answer_kind!(), OutboxKind::MailAnswer.as_str());
        assert_ne!(
            OutboxKind::SampleAnalyse.as_str(),
            OutboxKind::MailAnswer.as_str()
        );
    }
}

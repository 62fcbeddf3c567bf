//! Reads what the audit judges: the database's rows for the ledger's
//! inputs, the broker's queue depth, and the sink's Maildir.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Backlog, Composed, Decision, Facts, Findings, Inbound};
use crate::digest::Sha256;
use crate::load::ledger::Line;
use crate::store::queue::{self, Topology};

/// Why the facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the sink's mailbox: {0}")]
    Mailbox(#[from] std::io::Error),
}

/// Where the facts are.
pub struct Sources<'a> {
    pub pool: &'a PgPool,
    pub amqp_url: &'a str,
    pub topology: &'a Topology,
    pub mailbox: Option<&'a Path>,
}

/// What is still in flight.
pub async fn backlog(s: &Sources<'_>) -> Result<Backlog, FactsError> {
    let (inbound_undecided, outbox_pending, jobs_running): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM inbound WHERE state = 'received'),
                (SELECT count(*) FROM outbox WHERE published_at IS NULL),
                (SELECT count(*) FROM analysis_jobs WHERE state IN ('running', 'retrying'))",
    )
    .fetch_one(s.pool)
    .await?;
    let conn = queue::connect(s.amqp_url).await?;
    let depth = async {
        let ch = conn.create_channel().await?;
        let q = ch
            .queue_declare(
                s.topology.samples_queue().as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await?;
        Ok::<u32, lapin::Error>(q.message_count())
    }
    .await;
    queue::close(&conn, "audit").await;
    Ok(Backlog {
        inbound_undecided,
        outbox_pending,
        jobs_running,
        queue_depth: depth?,
    })
}

/// Waits until nothing is in flight, or `deadline` passes; returns the last
/// backlog seen.
pub async fn drained(s: &Sources<'_>, deadline: Duration) -> Result<Backlog, FactsError> {
    let until = tokio::time::Instant::now() + deadline;
    let mut said = tokio::time::Instant::now();
    loop {
        let b = backlog(s).await;
        if said.elapsed() >= Duration::from_secs(10) {
            said = tokio::time::Instant::now();
            match &b {
                Ok(b) => tracing::info!(
                    undecided = b.inbound_undecided,
                    outbox = b.outbox_pending,
                    jobs_running = b.jobs_running,
                    queued = b.queue_depth,
                    "waiting for intake to drain"
                ),
                Err(e) => tracing::info!(error = %e, "waiting for intake to drain"),
            }
        }
        match b {
            Ok(b) if b.drained() => return Ok(b),
            Ok(b) if tokio::time::Instant::now() >= until => return Ok(b),
            Err(e) if tokio::time::Instant::now() >= until => return Err(e),
            // The broker or the database may still be coming back from a fault.
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Reads every fact about the ledger's inputs.
pub async fn read(lines: &[Line], s: &Sources<'_>) -> Result<Facts, FactsError> {
    let mut ids = Vec::new();
    let mut shas = HashSet::new();
    for l in lines {
        if let Line::Input(i) = l {
            ids.push(i.external_id.clone());
            shas.extend(i.samples.iter().map(Sha256::to_hex));
        }
    }
    ids.sort();
    ids.dedup();
    let shas: Vec<String> = shas.into_iter().collect();
    type InRow = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<bool>,
    );
    let rows: Vec<InRow> = sqlx::query_as(
        "SELECT i.external_id, i.channel, i.state, i.error, s.outcome, s.created_at,
                s.completed_by IS NOT NULL
         FROM inbound i LEFT JOIN submissions s ON s.inbound_id = i.id
         WHERE i.external_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(s.pool)
    .await?;
    let inbound = rows
        .into_iter()
        .map(|(id, channel, state, error, outcome, at, completed)| {
            let decision = match (outcome, at) {
                (Some(outcome), Some(at)) => Some(Decision {
                    outcome,
                    at,
                    completed: completed.unwrap_or(false),
                }),
                _ => None,
            };
            (
                id,
                Inbound {
                    channel,
                    state,
                    error,
                    decision,
                },
            )
        })
        .collect();
    let rows: Vec<(String, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT sha256, count(*), count(DISTINCT (analyser, analyser_version)), max(created_at)
         FROM findings WHERE sha256 = ANY($1) GROUP BY sha256",
    )
    .bind(&shas)
    .fetch_all(s.pool)
    .await?;
    let findings = rows
        .into_iter()
        .filter_map(|(sha, rows, distinct, last_at)| {
            Some((
                sha.parse().ok()?,
                Findings {
                    rows,
                    distinct,
                    last_at,
                },
            ))
        })
        .collect();
    let dead: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT sha256 FROM analysis_jobs WHERE state = 'dead' AND sha256 = ANY($1)",
    )
    .bind(&shas)
    .fetch_all(s.pool)
    .await?;
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT answer->>'in_reply_to', answer->>'kind', outbox_id FROM correspondence
         WHERE direction = 'out' AND answer->>'in_reply_to' = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(s.pool)
    .await?;
    let mut answers: HashMap<String, Vec<Composed>> = HashMap::new();
    for (to, kind, outbox_id) in rows {
        answers
            .entry(to)
            .or_default()
            .push(Composed { kind, outbox_id });
    }
    let deliveries = match s.mailbox {
        None => None,
        Some(dir) => Some(
            crate::load::sink::read_mailbox(dir)?
                .into_iter()
                .filter_map(|(_, d)| answer_outbox_id(d.message_id.as_deref()?))
                .collect(),
        ),
    };
    Ok(Facts {
        inbound,
        findings,
        dead: dead.iter().filter_map(|s| s.parse().ok()).collect(),
        answers,
        deliveries,
        backlog: backlog(s).await?,
    })
}

/// The outbox row an answer's Message-ID names (`<SR.answer-ID@host>`, as
/// the mailer writes it).
pub fn answer_outbox_id(message_id: &str) -> Option<i64> {
    let rest = &message_id[message_id.find(".answer-")? + ".answer-".len()..];
    rest.split('@').next()?.parse().ok()
}

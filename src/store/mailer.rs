//! Delivers the answers waiting in the outbox (`kind = 'mail.answer'`)
//! through the configured SMTP relay. A row is marked sent in the
//! transaction that locked it, after the relay's `250`; a temporary refusal
//! leaves it for the next round, a permanent one is recorded and not
//! retried. Message-IDs derive from the row, so a resend after a crash
//! carries the same id and threads (and deduplicates) as the first.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::answer::{AccountMail, Answer, AnswerConfig};
use crate::metrics::Metrics;
use crate::store::retry::Retry;

/// Sending failed; the rows stay pending.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("relay {0}: {1}")]
    Relay(String, String),
}

/// `Auto-Submitted: auto-replied` (RFC 3834): tells other robots not to
/// answer our answers.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".to_owned())
    }
}

/// The message for outbox row `id`.
pub fn build(id: i64, a: &Answer, cfg: &AnswerConfig) -> Result<Message, String> {
    let from: Mailbox = cfg.from.parse().map_err(|e| format!("from address: {e}"))?;
    let to: Mailbox = a.to.parse().map_err(|e| format!("to address: {e}"))?;
    let reply_to: Mailbox = cfg
        .reply_key
        .reply_to(&cfg.from, &a.sr_number)
        .parse()
        .map_err(|e| format!("reply-to address: {e}"))?;
    let mut b = Message::builder()
        .from(from)
        .reply_to(reply_to)
        .to(to)
        .subject(a.subject.clone())
        .message_id(Some(format!(
            "<{}.answer-{id}@{}>",
            a.sr_number, cfg.hostname
        )))
        .header(AutoSubmitted);
    if let Some(r) = &a.in_reply_to {
        b = b.in_reply_to(r.clone());
    }
    if !a.references.is_empty() {
        b = b.references(a.references.join(" "));
    }
    if a.attachments.is_empty() {
        return b
            .header(ContentType::TEXT_PLAIN)
            .body(a.body.clone())
            .map_err(|e| e.to_string());
    }
    use lettre::message::{Attachment, MultiPart, SinglePart};
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(a.body.clone()));
    for f in &a.attachments {
        parts = parts.singlepart(
            Attachment::new(f.name.clone()).body(f.text.clone(), ContentType::TEXT_PLAIN),
        );
    }
    b.multipart(parts).map_err(|e| e.to_string())
}

/// The message for outbox row `id` holding an account mail: no SR, no
/// thread, no reply token.
pub fn build_account(id: i64, m: &AccountMail, cfg: &AnswerConfig) -> Result<Message, String> {
    let from: Mailbox = cfg.from.parse().map_err(|e| format!("from address: {e}"))?;
    let to: Mailbox = m.to.parse().map_err(|e| format!("to address: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject.clone())
        .message_id(Some(format!("<account-{id}@{}>", cfg.hostname)))
        .header(AutoSubmitted)
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())
        .map_err(|e| e.to_string())
}

/// What a `mail.answer` row carries: an answer on an SR, or a mail about a
/// portal account.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Outgoing {
    Account(AccountMail),
    Answer(Box<Answer>),
}

/// Sends up to `max` pending answers; returns how many left.
pub async fn send_batch(
    pool: &PgPool,
    relay: &AsyncSmtpTransport<Tokio1Executor>,
    cfg: &AnswerConfig,
    max: i64,
) -> Result<usize, SendError> {
    let mut sent = 0;
    for _ in 0..max {
        let mut tx = pool.begin().await?;
        // The oldest pending answer whose SR has no older one pending (being
        // sent by another sender, or waiting on a relay that failed): one
        // customer reads the answers of an SR in the order they were made.
        let row: Option<(i64, serde_json::Value)> = sqlx::query_as(concat!(
            "SELECT id, payload FROM outbox o
             WHERE published_at IS NULL AND kind = '",
            super::outbox::mail_answer_kind!(),
            "' AND NOT EXISTS (
                 SELECT 1 FROM outbox e
                 WHERE e.published_at IS NULL AND e.kind = o.kind AND e.id < o.id
                   AND e.payload->>'sr_number' = o.payload->>'sr_number')
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, payload)) = row else {
            break;
        };
        let message = serde_json::from_value::<Outgoing>(payload)
            .map_err(|e| e.to_string())
            .and_then(|o| match o {
                Outgoing::Answer(a) => build(id, &a, cfg),
                Outgoing::Account(m) => build_account(id, &m, cfg),
            });
        let refused = match message {
            Err(why) => Some(format!("cannot build: {why}")),
            Ok(m) => match relay.send(m).await {
                Ok(_) => None,
                Err(e) if e.is_permanent() => Some(format!("refused: {e}")),
                Err(e) => {
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(e.to_string())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Err(SendError::Relay(cfg.relay.clone(), e.to_string()));
                }
            },
        };
        // Refused for good: recorded, not retried (the customer's server
        // said no; staff see it on the row).
        sqlx::query(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(&refused)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        match refused {
            None => sent += 1,
            Some(why) => tracing::warn!(outbox = id, %why, "answer not delivered"),
        }
    }
    Ok(sent)
}

/// The relay transport for `cfg.relay` (`host:port`, plain SMTP: the relay is
/// the lab's own MTA on a trusted network).
pub fn transport(cfg: &AnswerConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let (host, port) = match cfg.relay.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|e| format!("relay port: {e}"))?),
        None => (cfg.relay.as_str(), 25),
    };
    Ok(
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(30)))
            .build(),
    )
}

/// How often pending answers are looked for.
const POLL: Duration = Duration::from_millis(250);

/// Sends answers until `stop` turns true, `cfg.senders` at once; does
/// nothing (answers wait) when no relay is configured. Each sender locks the
/// row it sends (`SKIP LOCKED`), so none is sent twice; an answer waits
/// while an older one of its SR is pending, so sending several at once does
/// not reorder what one customer reads (staff record a verdict and close
/// the SR a moment apart).
pub async fn run(pool: PgPool, cfg: AnswerConfig, metrics: Metrics, stop: watch::Receiver<bool>) {
    if cfg.relay.is_empty() {
        tracing::info!("no answer relay configured: answers wait in the outbox");
        return;
    }
    let relay = match transport(&cfg) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "answer relay misconfigured: answers wait in the outbox");
            return;
        }
    };
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..cfg.senders.max(1) {
        let (pool, relay, cfg) = (pool.clone(), relay.clone(), cfg.clone());
        let (metrics, stop) = (metrics.clone(), stop.clone());
        senders.spawn(async move { sender(&pool, &relay, &cfg, &metrics, stop).await });
    }
    while senders.join_next().await.is_some() {}
}

async fn sender(
    pool: &PgPool,
    relay: &AsyncSmtpTransport<Tokio1Executor>,
    cfg: &AnswerConfig,
    metrics: &Metrics,
    mut stop: watch::Receiver<bool>,
) {
    // A relay that is down for maintenance may stay down a while: up to a
    // minute between tries, as an MTA's queue runner would.
    let mut retry = Retry::new(Duration::from_millis(500), Duration::from_secs(60));
    while !*stop.borrow() {
        let wait = match send_batch(pool, relay, cfg, 50).await {
            Ok(n) => {
                metrics.answers_sent.inc_by(n as u64);
                retry.connected();
                if n > 0 {
                    continue;
                }
                POLL
            }
            Err(e) => {
                let wait = retry.failed();
                tracing::warn!(error = %e, retry_in = ?wait, "answers wait");
                metrics.answer_errors.inc();
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

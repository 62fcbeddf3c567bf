//! RabbitMQ: the job message shared by intake (producer) and the workers
//! (consumers), and the topology both declare idempotently on start:
//!
//! ```text
//! <p>.jobs (direct) --samples--> <p>.samples   (durable, priority 0-9, DLX <p>.dead)
//! <p>.retry (direct) --samples--> <p>.samples.retry (TTL = retry delay, DLX back to <p>.jobs)
//! <p>.dead (direct)  --samples--> <p>.samples.dead  (kept for staff)
//! ```
//!
//! Severity becomes message priority, so a severity-1 sample overtakes a
//! backlog of severity-4 ones.

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decide::classify::Kind;
use crate::digest::Sha256;
use crate::sr::{Severity, SrNumber};

/// The routing key of sample jobs.
pub const SAMPLES: &str = "samples";

/// One sample to analyse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleJob {
    pub job_id: Uuid,
    pub sha256: Sha256,
    pub size: u64,
    pub kind: Kind,
    pub sr_number: SrNumber,
    pub submission_id: Uuid,
    pub severity: Severity,
    /// 1 for the first delivery; raised by each retry.
    pub attempt: u32,
}

/// Names of the exchanges and queues under one prefix.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    pub fn new(prefix: &str) -> Topology {
        Topology {
            prefix: prefix.to_owned(),
        }
    }

    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.prefix)
    }
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    pub fn samples_queue(&self) -> String {
        format!("{}.samples", self.prefix)
    }
    pub fn retry_queue(&self) -> String {
        format!("{}.samples.retry", self.prefix)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.samples.dead", self.prefix)
    }

    /// Declares everything; safe to run any number of times with the same
    /// settings.
    pub async fn declare(&self, ch: &Channel, retry_delay_ms: u32) -> Result<(), lapin::Error> {
        for ex in [
            self.jobs_exchange(),
            self.retry_exchange(),
            self.dead_exchange(),
        ] {
            ch.exchange_declare(
                ex.into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let mut main = FieldTable::default();
        main.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(9));
        main.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.dead_exchange().into()),
        );
        let mut retry = FieldTable::default();
        retry.insert("x-message-ttl".into(), AMQPValue::LongUInt(retry_delay_ms));
        retry.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.jobs_exchange().into()),
        );
        retry.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(SAMPLES.into()),
        );
        let queues = [
            (self.samples_queue(), main, self.jobs_exchange()),
            (self.retry_queue(), retry, self.retry_exchange()),
            (
                self.dead_queue(),
                FieldTable::default(),
                self.dead_exchange(),
            ),
        ];
        for (q, args, ex) in queues {
            ch.queue_declare(q.clone().into(), durable, args).await?;
            ch.queue_bind(
                q.into(),
                ex.into(),
                SAMPLES.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
        Ok(())
    }

    /// Messages waiting in `queue` (a passive declare).
    pub async fn depth(&self, ch: &Channel, queue: &str) -> Result<u32, lapin::Error> {
        Ok(self.status(ch, queue).await?.0)
    }

    /// Messages waiting in `queue` and consumers attached to it (a passive
    /// declare).
    pub async fn status(&self, ch: &Channel, queue: &str) -> Result<(u32, u32), lapin::Error> {
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok((q.message_count(), q.consumer_count()))
    }
}

/// How long connecting, or closing, may take. A broker that accepts the
/// socket and then says nothing — or a client bug that misses its answer —
/// must not stall the relay or a shutdown for ever.
const HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects to the broker, giving up after [`HANDSHAKE`].
pub async fn connect(url: &str) -> Result<Connection, lapin::Error> {
    connect_within(url, HANDSHAKE).await
}

async fn connect_within(url: &str, limit: std::time::Duration) -> Result<Connection, lapin::Error> {
    match tokio::time::timeout(
        limit,
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    {
        Ok(connected) => connected,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the broker did not complete the AMQP handshake",
        )
        .into()),
    }
}

/// Closes `conn` politely, waiting at most [`HANDSHAKE`] for the broker.
pub async fn close(conn: &Connection, why: &str) {
    let _ = tokio::time::timeout(HANDSHAKE, conn.close(200, why.into())).await;
}

/// A channel with publisher confirms on.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, lapin::Error> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// Properties of a persistent JSON message.
pub fn persistent(priority: u8, message_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_priority(priority)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(message_id))
}

/// Publishes `job` to `exchange` and waits for the broker's confirm.
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    job: &SampleJob,
) -> Result<(), PublishError> {
    let body = serde_json::to_vec(job).map_err(PublishError::Encode)?;
    let confirm = ch
        .basic_publish(
            exchange.into(),
            SAMPLES.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &body,
            persistent(job.severity.priority(), &job.job_id.to_string()),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(PublishError::Nacked);
    }
    if confirm.take_message().is_some() {
        return Err(PublishError::Unroutable);
    }
    Ok(())
}

/// Publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("the broker returned the message: no queue is bound for it")]
    Unroutable,
    #[error("encoding the job: {0}")]
    Encode(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    /// A peer that takes the connection and never speaks AMQP.
    #[tokio::test]
    async fn a_silent_broker_is_given_up_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let held = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.expect("accept");
            // Hold the socket open, silent, until the test ends.
            std::future::pending::<()>().await;
            drop(sock);
        });
        let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
        let limit = std::time::Duration::from_millis(300);
        let started = std::time::Instant::now();
        let Err(err) = super::connect_within(&url, limit).await else {
            panic!("connected to a silent peer");
        };
        assert!(err.to_string().contains("handshake"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        held.abort();
    }
}

//! Prometheus metrics for `/metrics`: inputs received, decisions by outcome,
//! outbox lag, queue depths, record latency, and the workers' job counters.
//! One registry per process; handles are cheap clones.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The process's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub inputs_received: Family<Labels, Counter>,
    pub decisions: Family<Labels, Counter>,
    pub record_seconds: Histogram,
    pub outbox_published: Counter,
    pub outbox_pending: Gauge,
    pub outbox_oldest_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub relay_errors: Counter,
    pub queue_depth: Family<Labels, Gauge>,
    pub jobs: Family<Labels, Counter>,
    pub analyser_seconds: Family<Labels, Histogram>,
    pub answers_sent: Counter,
    pub answer_errors: Counter,
    pub answers_withheld: Family<Labels, Counter>,
    pub smtp_sessions: Family<Labels, Counter>,
    pub smtp_messages: Family<Labels, Counter>,
    pub smtp_store_seconds: Histogram,
    pub smtp_deferred: Counter,
    pub decide_failures: Family<Labels, Counter>,
    pub inputs_failed: Gauge,
    pub relay_returned: Counter,
    pub queue_unconsumed_seconds: Family<Labels, Gauge>,
    pub upload_bytes: Counter,
    pub escalations: Family<Labels, Counter>,
    pub deadlines_breached: Family<Labels, Gauge>,
    pub first_response_seconds: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub upload_receive_seconds: Histogram,
    pub uploads_refused: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("intake");
        let inputs_received = Family::<Labels, Counter>::default();
        r.register(
            "inputs_received",
            "Inputs received, by channel",
            inputs_received.clone(),
        );
        let decisions = Family::<Labels, Counter>::default();
        r.register(
            "decisions",
            "Decisions recorded, by outcome",
            decisions.clone(),
        );
        let record_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        r.register(
            "record_seconds",
            "Time from receiving an input to its committed record",
            record_seconds.clone(),
        );
        let outbox_published = Counter::default();
        r.register(
            "outbox_published",
            "Outbox rows published to RabbitMQ",
            outbox_published.clone(),
        );
        let outbox_pending = Gauge::default();
        r.register(
            "outbox_pending",
            "Outbox rows waiting to be published",
            outbox_pending.clone(),
        );
        let outbox_oldest_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        r.register(
            "outbox_oldest_seconds",
            "Age of the oldest unpublished outbox row",
            outbox_oldest_seconds.clone(),
        );
        let relay_errors = Counter::default();
        r.register(
            "relay_errors",
            "Relay sessions that failed (broker or database)",
            relay_errors.clone(),
        );
        let queue_depth = Family::<Labels, Gauge>::default();
        r.register(
            "queue_depth",
            "Messages waiting in each queue",
            queue_depth.clone(),
        );
        let jobs = Family::<Labels, Counter>::default();
        r.register(
            "jobs",
            "Analysis jobs by result (done, retried, dead; handed_back: not even the failure could be recorded, requeued)",
            jobs.clone(),
        );
        let analyser_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 20))
        });
        r.register(
            "analyser_seconds",
            "Time per analyser run",
            analyser_seconds.clone(),
        );
        let answers_sent = Counter::default();
        r.register(
            "answers_sent",
            "Answers handed to the mail relay",
            answers_sent.clone(),
        );
        let answer_errors = Counter::default();
        r.register(
            "answer_errors",
            "Rounds of answer sending that failed (relay or database)",
            answer_errors.clone(),
        );
        let answers_withheld = Family::<Labels, Counter>::default();
        r.register(
            "answers_withheld",
            "Inputs not answered, by reason (automated mail, loops, forged senders)",
            answers_withheld.clone(),
        );
        let smtp_sessions = Family::<Labels, Counter>::default();
        r.register(
            "smtp_sessions",
            "SMTP/LMTP sessions, by protocol",
            smtp_sessions.clone(),
        );
        let smtp_messages = Family::<Labels, Counter>::default();
        r.register(
            "smtp_messages",
            "Messages after DATA, by reply (accepted, too_big, line_too_long, temp_failure)",
            smtp_messages.clone(),
        );
        let smtp_deferred = Counter::default();
        r.register(
            "smtp_deferred",
            "Messages stored and answered but left for the replay loop: the in-memory backlog was full",
            smtp_deferred.clone(),
        );
        let smtp_store_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
        r.register(
            "smtp_store_seconds",
            "Time from the end of DATA to the reply (storing the message durably)",
            smtp_store_seconds.clone(),
        );
        let decide_failures = Family::<Labels, Counter>::default();
        r.register(
            "decide_failures",
            "Tries at deciding an input that failed, by kind (transient, counted, unreadable) and whether it parked the input",
            decide_failures.clone(),
        );
        let inputs_failed = Gauge::default();
        r.register(
            "inputs_failed",
            "Inputs parked as failed, waiting for staff (intake inputs failed)",
            inputs_failed.clone(),
        );
        let relay_returned = Counter::default();
        r.register(
            "relay_returned",
            "Jobs the broker returned as unroutable (missing queue); they stay in the outbox",
            relay_returned.clone(),
        );
        let queue_unconsumed_seconds = Family::<Labels, Gauge>::default();
        r.register(
            "queue_unconsumed_seconds",
            "How long each work queue has had no consumer (0 while one is attached)",
            queue_unconsumed_seconds.clone(),
        );
        let escalations = Family::<Labels, Counter>::default();
        r.register(
            "escalations",
            "SRs the clock escalated because a deadline passed (deadlines breached), by the tier reached",
            escalations.clone(),
        );
        let deadlines_breached = Family::<Labels, Gauge>::default();
        r.register(
            "deadlines_breached",
            "Open SRs whose deadline of a kind (update, first_answer) has passed, as of the clock's last pass",
            deadlines_breached.clone(),
        );
        let first_response_seconds =
            Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        r.register(
            "first_response_seconds",
            "Time from an SR's opening to the first staff action the customer saw (of=staff) or to intake's acknowledgement (of=acknowledgement), over SRs opened in the last day or week, average and 95th percentile; unanswered open SRs count their age so far",
            first_response_seconds.clone(),
        );
        let upload_bytes = Counter::default();
        r.register(
            "upload_bytes",
            "Bytes of portal uploads stored",
            upload_bytes.clone(),
        );
        let upload_receive_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 18));
        r.register(
            "upload_receive_seconds",
            "Time to receive and store a portal upload's body",
            upload_receive_seconds.clone(),
        );
        let uploads_refused = Family::<Labels, Counter>::default();
        r.register(
            "uploads_refused",
            "Portal uploads refused, by why (too_large, too_many_files, quota, no_files, malformed, csrf)",
            uploads_refused.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            upload_bytes,
            escalations,
            deadlines_breached,
            first_response_seconds,
            upload_receive_seconds,
            uploads_refused,
            decide_failures,
            inputs_failed,
            relay_returned,
            queue_unconsumed_seconds,
            answers_sent,
            answer_errors,
            answers_withheld,
            smtp_sessions,
            smtp_messages,
            smtp_store_seconds,
            smtp_deferred,
            inputs_received,
            decisions,
            record_seconds,
            outbox_published,
            outbox_pending,
            outbox_oldest_seconds,
            relay_errors,
            queue_depth,
            jobs,
            analyser_seconds,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// A one-label set.
pub fn label(key: &'static str, value: &str) -> Labels {
    vec![(key, value.to_owned())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inputs_received
            .get_or_create(&label("channel", "email"))
            .inc();
        m.decisions
            .get_or_create(&label("outcome", "accepted"))
            .inc_by(2);
        let text = m.render();
        assert!(
            text.contains("intake_inputs_received_total{channel=\"email\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("intake_decisions_total{outcome=\"accepted\"} 2"),
            "{text}"
        );
        assert!(text.contains("# EOF"));
    }
}

//! The HTTP edge of `intake serve`: liveness, readiness (database and broker
//! reachable, a decision thread alive) and Prometheus metrics, and what the
//! web faces share ([`guard`]: security headers, cookies, CSRF; [`page`]:
//! escaped templates in English and Chinese; [`tls`]: HTTPS served
//! directly). The portal (and triage) mount their routes beside these.
//!
//! A samples queue without a consumer (workers down, or started with another
//! queue prefix) is shown on `/readyz` and as a metric, but does not make
//! intake unready: receiving must go on while workers are away, since
//! nothing is lost — jobs wait in the queue.

pub mod guard;
pub mod page;
pub mod problem;
pub mod session;
pub mod tls;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::PgPool;

use crate::metrics::{Metrics, label};
use crate::store::outbox;
use crate::store::queue::{self, Topology};

/// What the handlers read.
#[derive(Clone)]
pub struct Health {
    pub pool: PgPool,
    pub amqp_url: String,
    pub topology: Topology,
    pub metrics: Metrics,
    /// How long the samples queue may have no consumer before it is reported.
    pub consumer_grace: Duration,
    /// Since when the samples queue has had no consumer, as last seen.
    pub unconsumed: Arc<Mutex<Unconsumed>>,
}

/// Tracks how long a queue has gone without a consumer, from what probes
/// saw. Pure: the caller gives the time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unconsumed {
    since: Option<Instant>,
}

impl Unconsumed {
    /// Takes a probe's count of consumers at `now`; returns for how long the
    /// queue has had none (zero while one is attached).
    pub fn observe(&mut self, consumers: u32, now: Instant) -> Duration {
        if consumers > 0 {
            self.since = None;
            return Duration::ZERO;
        }
        let since = *self.since.get_or_insert(now);
        now.saturating_duration_since(since)
    }
}

/// The whole site from its parts (health, the portal, ...): the shared
/// stylesheet, and the security headers and cross-origin refusal of
/// [`guard::headers`] on every response.
pub fn site(parts: impl IntoIterator<Item = Router>) -> Router {
    parts
        .into_iter()
        .fold(Router::new(), Router::merge)
        .route("/static/web.css", get(page::stylesheet))
        .layer(axum::middleware::from_fn(guard::headers))
}

/// The routes.
pub fn router(state: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(state))
}

async fn readyz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    let db = sqlx::query("SELECT 1").execute(&h.pool).await.map(|_| ());
    let broker = match queue::connect(&h.amqp_url).await {
        Ok(c) => {
            let unconsumed = consumer_watch(&h, &c).await;
            queue::close(&c, "probe").await;
            Ok(unconsumed)
        }
        Err(e) => Err(e),
    };
    let deciding = crate::decide::threads::available();
    let mut body = format!(
        "database: {}\nbroker: {}\ndeciding: {}\n",
        db.as_ref().map_or_else(|e| e.to_string(), |()| "ok".into()),
        broker
            .as_ref()
            .map_or_else(|e| e.to_string(), |_| "ok".into()),
        if deciding {
            "ok"
        } else {
            "no decision thread is left"
        },
    );
    if let Ok(Some(idle)) = &broker
        && *idle >= h.consumer_grace
    {
        body.push_str(&format!(
            "warning: no worker has consumed {} for {} s (workers down, or started with another queue prefix)\n",
            h.topology.samples_queue(),
            idle.as_secs()
        ));
    }
    if db.is_ok() && broker.is_ok() && deciding {
        (StatusCode::OK, format!("ready\n{body}"))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

/// Looks at the samples queue's consumers and updates the watch and its
/// metric; how long it has had none, when the queue could be looked at.
async fn consumer_watch(h: &Health, conn: &lapin::Connection) -> Option<Duration> {
    let ch = conn.create_channel().await.ok()?;
    let q = h.topology.samples_queue();
    let (_, consumers) = h.topology.status(&ch, &q).await.ok()?;
    let idle = h
        .unconsumed
        .lock()
        .map(|mut u| u.observe(consumers, Instant::now()))
        .ok()?;
    h.metrics
        .queue_unconsumed_seconds
        .get_or_create(&label("queue", &q))
        .set(idle.as_secs() as i64);
    Some(idle)
}

async fn metrics(State(h): State<Arc<Health>>) -> impl IntoResponse {
    refresh(&h).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.render(),
    )
}

/// Samples the gauges that live elsewhere (outbox lag, queue depths).
async fn refresh(h: &Health) {
    if let Ok((pending, oldest)) = outbox::lag(&h.pool).await {
        h.metrics.outbox_pending.set(pending);
        h.metrics.outbox_oldest_seconds.set(oldest);
    }
    if let Ok(pool_failed) = crate::store::inputs::count_failed(&h.pool).await {
        h.metrics.inputs_failed.set(pool_failed);
    }
    if let Ok(conn) = queue::connect(&h.amqp_url).await {
        consumer_watch(h, &conn).await;
        if let Ok(ch) = conn.create_channel().await {
            for q in [
                h.topology.samples_queue(),
                h.topology.retry_queue(),
                h.topology.dead_queue(),
            ] {
                if let Ok(n) = h.topology.depth(&ch, &q).await {
                    h.metrics
                        .queue_depth
                        .get_or_create(&label("queue", &q))
                        .set(i64::from(n));
                }
            }
        }
        queue::close(&conn, "metrics").await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_without_consumers_is_timed_from_the_first_probe_that_saw_none() {
        let t0 = Instant::now();
        let mut u = Unconsumed::default();
        assert_eq!(u.observe(1, t0), Duration::ZERO);
        assert_eq!(u.observe(0, t0 + Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(
            u.observe(0, t0 + Duration::from_secs(65)),
            Duration::from_secs(60)
        );
        assert_eq!(u.observe(2, t0 + Duration::from_secs(66)), Duration::ZERO);
        assert_eq!(u.observe(0, t0 + Duration::from_secs(70)), Duration::ZERO);
    }
}

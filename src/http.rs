//! The HTTP edge of `intake serve`: liveness, readiness (database and broker
//! reachable) and Prometheus metrics. Later channels (portal, triage) mount
//! their routes beside these.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::PgPool;

use crate::metrics::{Metrics, label};
use crate::outbox;
use crate::queue::{self, Topology};

/// What the handlers read.
#[derive(Clone)]
pub struct Health {
    pub pool: PgPool,
    pub amqp_url: String,
    pub topology: Topology,
    pub metrics: Metrics,
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
            queue::close(&c, "probe").await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    match (db, broker) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready\n".to_owned()),
        (db, broker) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "database: {}\nbroker: {}\n",
                db.map_or_else(|e| e.to_string(), |()| "ok".into()),
                broker.map_or_else(|e| e.to_string(), |()| "ok".into())
            ),
        ),
    }
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
    if let Ok(conn) = queue::connect(&h.amqp_url).await {
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

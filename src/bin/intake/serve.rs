//! `intake serve`: replays inputs a crash left unrecorded, then runs the
//! outbox relay and the HTTP endpoints until SIGINT or SIGTERM.

use std::path::Path;

use anyhow::Context;
use intake::http::{self, Health};
use intake::outbox::{self, RelayConfig};

use crate::app::App;

pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    let replayed = app.intake.replay_pending().await?;
    if replayed > 0 {
        tracing::info!(replayed, "recorded inputs left over from an earlier run");
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(outbox::run(
        app.intake.pool.clone(),
        RelayConfig {
            amqp_url: app.cfg.amqp_url.clone(),
            topology: app.topology.clone(),
            retry_delay_ms: app.cfg.retry_delay_ms,
            batch: 500,
            wake: app.intake.outbox_wake.clone(),
        },
        app.intake.metrics.clone(),
        stop.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(&app.cfg.listen)
        .await
        .with_context(|| format!("listening on {}", app.cfg.listen))?;
    tracing::info!(listen = %app.cfg.listen, "serving /healthz, /readyz, /metrics");
    let router = http::router(Health {
        pool: app.intake.pool.clone(),
        amqp_url: app.cfg.amqp_url.clone(),
        topology: app.topology.clone(),
        metrics: app.intake.metrics.clone(),
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing what is in flight");
        let _ = stop_tx.send(true);
    });
    let mut http_stop = stop.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        })
        .await
        .context("HTTP server")?;
    let _ = relay.await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

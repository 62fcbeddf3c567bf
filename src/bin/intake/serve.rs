//! `intake serve`: replays inputs a crash left unrecorded, then runs the SMTP
//! and LMTP listeners, the outbox relay, the answer sender and the HTTP
//! endpoints until SIGINT or SIGTERM.

use std::path::Path;

use anyhow::Context;
use intake::http::{self, Health};
use intake::smtp::{self, Protocol};
use intake::store::outbox::{self, RelayConfig};

use crate::app::App;

pub async fn run(config: Option<&Path>) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    // Only inputs left behind, not every unrecorded one: with several
    // serves on one database, a row stored a moment ago is a live peer's,
    // whose blob may still be on its way (its row and blob are written at
    // once), and taking it would park it as unreadable after the peer had
    // answered `250`. The proof on Garage with two serves lost an input so.
    let replayed = app.intake.replay_older_than(LEFT_BEHIND_AFTER).await?;
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
    let answers = tokio::spawn(intake::store::mailer::run(
        app.intake.pool.clone(),
        app.cfg.answers.clone(),
        app.intake.metrics.clone(),
        stop.clone(),
    ));
    let mut mail = Vec::new();
    let tls = match (&app.cfg.smtp.tls_cert, &app.cfg.smtp.tls_key) {
        (Some(cert), Some(key)) => {
            Some(intake::tls::Certificates::open(cert, key).context("the STARTTLS certificate")?)
        }
        (None, None) => None,
        _ => anyhow::bail!("set both [smtp] tls_cert and tls_key (or neither)"),
    };
    for (addr, proto) in [
        (&app.cfg.smtp.smtp_listen, Protocol::Smtp),
        (&app.cfg.smtp.lmtp_listen, Protocol::Lmtp),
    ] {
        if addr.is_empty() {
            continue;
        }
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for {proto:?} on {addr}"))?;
        tracing::info!(listen = %addr, ?proto, "accepting mail");
        mail.push(tokio::spawn(smtp::serve(
            l,
            app.cfg.smtp.policy(proto),
            app.cfg.smtp.clone(),
            tls.clone(),
            app.intake.clone(),
            stop.clone(),
        )));
    }
    let retention = chrono::Duration::days(i64::from(app.cfg.outbox_retention_days));
    tokio::spawn(repair(app.intake.clone(), retention, stop.clone()));
    tokio::spawn(run_clock(
        app.intake.clone(),
        std::time::Duration::from_secs(app.cfg.clock_interval_secs.max(1)),
        stop.clone(),
    ));
    let https = match (&app.cfg.http_tls_cert, &app.cfg.http_tls_key) {
        (Some(cert), Some(key)) => {
            // Cookies are `Secure` by the public URL's scheme.
            anyhow::ensure!(
                app.cfg.public_url.starts_with("https://"),
                "HTTPS is configured: set public_url to the https:// address customers use"
            );
            Some(intake::tls::Certificates::open(cert, key).context("the HTTPS certificate")?)
        }
        (None, None) => None,
        _ => anyhow::bail!("set both http_tls_cert and http_tls_key (or neither)"),
    };
    let listener = tokio::net::TcpListener::bind(&app.cfg.listen)
        .await
        .with_context(|| format!("listening on {}", app.cfg.listen))?;
    tracing::info!(listen = %app.cfg.listen, "serving the portal, the staff pages (/triage/), /healthz, /readyz, /metrics");
    let router = http::site([
        http::router(Health {
            pool: app.intake.pool.clone(),
            amqp_url: app.cfg.amqp_url.clone(),
            topology: app.topology.clone(),
            metrics: app.intake.metrics.clone(),
            consumer_grace: std::time::Duration::from_secs(app.cfg.consumer_grace_secs),
            unconsumed: Default::default(),
        }),
        intake::portal::web::router(intake::portal::web::Portal {
            intake: app.intake.clone(),
            uploads: app.cfg.uploads,
            public_url: app.cfg.public_url.clone(),
            vendor: app.cfg.vendor.clone(),
            backoff: Default::default(),
            trusted_proxies: app.cfg.trusted_proxies.clone(),
        }),
        intake::triage::web::router(intake::triage::web::Desk {
            intake: app.intake.clone(),
            public_url: app.cfg.public_url.clone(),
            backoff: Default::default(),
            trusted_proxies: app.cfg.trusted_proxies.clone(),
            cache_for: std::time::Duration::from_secs(5),
            glance: Default::default(),
            outbreak: app.cfg.outbreak,
        }),
    ]);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing what is in flight");
        let _ = stop_tx.send(true);
    });
    let mut http_stop = stop.clone();
    let stopped = async move {
        let _ = http_stop.wait_for(|s| *s).await;
    };
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match https {
        // `tap_io` gives the TLS listener the client's address as its
        // connect info, as for plain TCP.
        Some(certs) => {
            use axum::serve::ListenerExt;
            let tls = http::tls::TlsListener::new(listener, certs)
                .context("starting HTTPS")?
                .tap_io(|_| {});
            axum::serve(tls, service)
                .with_graceful_shutdown(stopped)
                .await
                .context("HTTPS server")?
        }
        None => axum::serve(listener, service)
            .with_graceful_shutdown(stopped)
            .await
            .context("HTTP server")?,
    }
    for m in mail {
        let _ = m.await;
    }
    let _ = relay.await;
    let _ = answers.await;
    Ok(())
}

/// Runs the SRs' clocks every `every`: escalates what is due. Several
/// processes may run it at once; each SR escalates once.
async fn run_clock(
    intake: intake::ingest::Intake,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = intake.clock.now();
        match intake::triage::clock::pass(&intake.pool, now, &intake.metrics).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(escalated = n, "deadlines passed: SRs escalated"),
            Err(e) => tracing::warn!(error = %e, "the clock's pass failed; trying again"),
        }
        if let Err(e) = intake::triage::response::publish(&intake.pool, now, &intake.metrics).await
        {
            tracing::warn!(error = %e, "first-response figures failed; trying again");
        }
    }
}

/// How often the repair loop looks for inputs left unrecorded.
const REPAIR_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// An input stored this long ago and not being decided (no lease) was left
/// behind: its recording failed (the database, the broker or the disk away
/// for a moment). Stored inputs are claimed within milliseconds, and a
/// claimed one holds a lease, so a short age is safe; it is what brings
/// intake back to full rate within seconds of a fault, not minutes.
const LEFT_BEHIND_AFTER: std::time::Duration = std::time::Duration::from_secs(10);
/// Outbox pruning runs once a minute.
const PRUNE_EVERY_TICKS: u32 = 12;

/// Records inputs left behind (see [`LEFT_BEHIND_AFTER`]) every
/// [`REPAIR_EVERY`], and prunes outbox rows sent longer than `retention`
/// ago once a minute.
async fn repair(
    intake: intake::ingest::Intake,
    retention: chrono::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = 0u32;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REPAIR_EVERY) => {}
            _ = stop.changed() => return,
        }
        tick = tick.wrapping_add(1);
        match intake.replay_older_than(LEFT_BEHIND_AFTER).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(recorded = n, "recorded inputs left behind"),
            Err(e) => tracing::warn!(error = %e, "replay failed; trying again shortly"),
        }
        if !tick.is_multiple_of(PRUNE_EVERY_TICKS) {
            continue;
        }
        let before = chrono::Utc::now() - retention;
        match outbox::prune(&intake.pool, before, 10_000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "sent outbox rows past their retention removed"),
            Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
        }
    }
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

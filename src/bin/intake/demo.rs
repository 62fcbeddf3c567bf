//! `intake demo`: the whole pipeline on the demo corpus in `samples/` —
//! migrate, import the demo grants, receive → decide → record every email and
//! portal upload, relay the outbox to RabbitMQ, analyse in-process until the
//! queue drains, and print what happened. Running it again reports the same
//! SRs: inputs are deduplicated by Message-ID and upload id.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use intake::analysis::{self, Consumer};
use intake::{grants, outbox, portal};

use crate::app::App;

pub async fn run(config: Option<&Path>, samples: &Path) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    let pool = &app.intake.pool;
    let csv = std::fs::File::open(samples.join("grants.csv")).context("samples/grants.csv")?;
    let n = grants::import(pool, &grants::parse_csv(csv)?).await?;
    println!("imported {n} demo grants");

    let mut rows = Vec::new();
    for path in sorted(&samples.join("email"))? {
        let raw = std::fs::read(&path)?;
        let rec = app.intake.email(raw, None).await?;
        rows.push(("email", name(&path), rec));
    }
    for path in sorted(&samples.join("portal"))? {
        let input = portal::read_upload(&path)?;
        let id = format!("demo-{}", name(&path));
        let rec = app.intake.portal(&id, None, input).await?;
        rows.push(("portal", name(&path), rec));
    }

    let conn = intake::queue::connect(&app.cfg.amqp_url).await?;
    let ch = intake::queue::confirm_channel(&conn).await?;
    app.topology.declare(&ch, app.cfg.retry_delay_ms).await?;
    let mut published = 0;
    loop {
        let sent = outbox::relay_batch(pool, &ch, &app.topology, 500).await?;
        if sent == 0 {
            break;
        }
        published += sent;
    }
    intake::queue::close(&conn, "demo").await;
    println!("published {published} analysis jobs to RabbitMQ");

    let consumer = Consumer {
        pool: pool.clone(),
        blobs: app.intake.blobs.clone(),
        topology: app.topology.clone(),
        amqp_url: app.cfg.amqp_url.clone(),
        prefetch: app.cfg.prefetch,
        max_attempts: app.cfg.max_attempts,
        retry_delay_ms: app.cfg.retry_delay_ms,
        analysers: Arc::new(analysis::builtin()),
        metrics: app.intake.metrics.clone(),
        actor: "demo-worker".into(),
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let handled = consumer.run(stop, Some(Duration::from_secs(1))).await?;
    println!("analysed {handled} jobs in-process\n");

    println!(
        "{:<15} {:<7} {:<34} {:<10} {:>7} {:>8} {:>8}  grant check",
        "SR", "channel", "input", "outcome", "samples", "rejected", "findings"
    );
    for (channel, input, rec) in rows {
        let (samples, rejected, findings): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM submission_samples WHERE submission_id = $1),
                    (SELECT count(*) FROM rejected_items WHERE submission_id = $1),
                    (SELECT count(*) FROM findings f WHERE f.sha256 IN
                        (SELECT sha256 FROM submission_samples WHERE submission_id = $1))",
        )
        .bind(rec.submission_id)
        .fetch_one(pool)
        .await?;
        println!(
            "{:<15} {:<7} {:<34} {:<10} {:>7} {:>8} {:>8}  {}",
            rec.sr_number.to_string(),
            channel,
            truncate(&input, 34),
            rec.outcome.as_str(),
            samples,
            rejected,
            findings,
            rec.verification
        );
    }
    let (answers, waiting): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL)
         FROM outbox WHERE kind = 'mail.answer'",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "\n{answers} answers to customers composed (templates/mail/); {waiting} wait in the outbox{}.",
        if app.cfg.answers.relay.is_empty() {
            " until INTAKE_ANSWER_RELAY names an SMTP relay and `intake serve` runs"
        } else {
            " for `intake serve` to send"
        }
    );
    println!(
        "Everything is in PostgreSQL ({}), blobs under {:?}.",
        app.cfg.database_url,
        match &app.cfg.blobs {
            intake::config::BlobConfig::Local { dir } => dir.display().to_string(),
            intake::config::BlobConfig::S3 { bucket, .. } => format!("s3://{bucket}"),
        }
    );
    Ok(())
}

fn sorted(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

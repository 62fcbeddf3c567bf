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
use intake::{portal, store::grants, store::outbox};

use crate::app::App;

pub async fn run(config: Option<&Path>, samples: &Path) -> anyhow::Result<()> {
    let app = App::migrating(config).await?;
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

    let worker = worker_binary();
    if worker.is_some() {
        // A run before the worker was built analysed with the built-in set
        // only; the full set now runs over those samples too.
        intake::store::record::requeue_without(pool, "yara").await?;
    }
    let conn = intake::store::queue::connect(&app.cfg.amqp_url).await?;
    let ch = intake::store::queue::confirm_channel(&conn).await?;
    app.topology.declare(&ch, app.cfg.retry_delay_ms).await?;
    let mut published = 0;
    loop {
        let sent = outbox::relay_batch(pool, &ch, &app.topology, 500).await?;
        if sent == 0 {
            break;
        }
        published += sent;
    }
    intake::store::queue::close(&conn, "demo").await;
    println!("published {published} analysis jobs to RabbitMQ");

    match &worker {
        Some(bin) => analyse_with_worker(&app, config, bin).await?,
        None => analyse_in_process(&app).await?,
    }

    println!(
        "{:<15} {:<7} {:<34} {:<10} {:>7} {:>8} {:>8}  grant check",
        "SR", "channel", "input", "outcome", "samples", "rejected", "findings"
    );
    let mut submissions = Vec::new();
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
        submissions.push((
            rec.sr_number.to_string(),
            rec.submission_id,
            // Files of incomplete or unverified submissions are held.
            rec.outcome == intake::decide::report::Outcome::Accepted
                && rec.verification.is_verified(),
        ));
    }
    print_verdicts(pool, &submissions).await?;
    let (answers, waiting): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL)
         FROM outbox WHERE kind = $1",
    )
    .bind(intake::store::outbox::OutboxKind::MailAnswer.as_str())
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

/// `intake-worker` beside this binary (`cargo build --release -p
/// intake-worker` puts it there), if it was built.
fn worker_binary() -> Option<PathBuf> {
    let bin = std::env::current_exe()
        .ok()?
        .parent()?
        .join("intake-worker");
    bin.is_file().then_some(bin)
}

/// The full analyser set: `intake-worker` as a child process on the same
/// database, broker and blob store, until every sample of the corpus has its
/// YARA finding and a verdict.
async fn analyse_with_worker(app: &App, config: Option<&Path>, bin: &Path) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env("INTAKE_DATABASE_URL", &app.cfg.database_url)
        .env("INTAKE_AMQP_URL", &app.cfg.amqp_url)
        .env("INTAKE_QUEUE_PREFIX", &app.cfg.queue_prefix)
        .env("INTAKE_WORKER_LISTEN", "127.0.0.1:0")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null());
    if let Some(c) = config {
        cmd.env("INTAKE_CONFIG", c);
    }
    if let intake::config::BlobConfig::Local { dir } = &app.cfg.blobs {
        cmd.env("INTAKE_BLOB_DIR", dir);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let pending = loop {
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM samples s
             WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE f.sha256 = s.sha256 AND f.analyser = 'yara')
                OR NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.sha256 = s.sha256)",
        )
        .fetch_one(&app.intake.pool)
        .await?;
        if pending == 0 || std::time::Instant::now() > deadline {
            break pending;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{} exited early ({status})", bin.display());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    if pending > 0 {
        println!("intake-worker left {pending} samples unanalysed after 5 minutes");
    } else {
        println!(
            "analysed every sample with intake-worker (hashes, file type, similarity, executable, strings, YARA, reputation)\n"
        );
    }
    Ok(())
}

/// The library's analysers (hashes, file type) in this process, when the
/// worker is not built.
async fn analyse_in_process(app: &App) -> anyhow::Result<()> {
    let consumer = Consumer {
        pool: app.intake.pool.clone(),
        blobs: app.intake.blobs.clone(),
        topology: app.topology.clone(),
        amqp_url: app.cfg.amqp_url.clone(),
        prefetch: app.cfg.prefetch,
        max_attempts: app.cfg.max_attempts,
        max_starts: app.cfg.max_starts,
        retry_delay_ms: app.cfg.retry_delay_ms,
        analysers: Arc::new(analysis::builtin()),
        metrics: app.intake.metrics.clone(),
        actor: "demo-worker".into(),
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let handled = consumer.run(stop, Some(Duration::from_secs(1))).await?;
    println!("analysed {handled} jobs in-process with the built-in analysers (hashes, file type)");
    println!(
        "  for YARA, executable facts, strings and similarity hashes, build the worker once\n  \
         (about 15 minutes) and run the demo again: cargo build --release -p intake-worker\n"
    );
    Ok(())
}

/// Each sample's provisional verdict with its reasons.
async fn print_verdicts(
    pool: &sqlx::PgPool,
    submissions: &[(String, uuid::Uuid, bool)],
) -> anyhow::Result<()> {
    println!("\nprovisional verdicts, for staff to confirm:");
    println!("{:<15} {:<42} {:<10}  reasons", "SR", "sample", "verdict");
    for (sr, id, queued) in submissions {
        let rows: Vec<(String, Option<String>, Option<serde_json::Value>)> = sqlx::query_as(
            "SELECT ss.path, v.verdict, v.reasons FROM submission_samples ss
             LEFT JOIN verdicts v ON v.sha256 = ss.sha256
             WHERE ss.submission_id = $1 ORDER BY ss.id",
        )
        .bind(id)
        .fetch_all(pool)
        .await?;
        for (path, verdict, reasons) in rows {
            let reasons: Vec<String> = reasons
                .as_ref()
                .and_then(|r| r.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "{:<15} {:<42} {:<10}  {}",
                sr,
                truncate(&path, 42),
                verdict.as_deref().unwrap_or("-"),
                match (reasons.is_empty(), queued) {
                    (false, _) => reasons.join("; "),
                    (true, true) => "analysis pending".to_owned(),
                    (true, false) =>
                        "not analysed: held until the submission is complete".to_owned(),
                }
            );
        }
    }
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

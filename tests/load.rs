//! `intake load` and `intake audit` against the real services: a load with
//! `intake serve` supervised by it, killed once and cut from the broker
//! once, answers delivered to the load's sink, samples analysed in this
//! process; the audit passes. Then the audit is shown to catch what it is
//! for: a finding recorded twice, and an input deleted from the database,
//! each exit non-zero naming the input.

mod harness;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use harness::{AMQP, Env, base_url, free_port};
use intake::analysis::{self, Consumer};
use intake::load::ledger::{self, Line};

fn intake(env: &Env, extra: &[(&str, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_intake"));
    c.env(
        "INTAKE_DATABASE_URL",
        format!("{}/{}", base_url(), env.db_name),
    )
    .env("INTAKE_QUEUE_PREFIX", &env.prefix)
    .env("INTAKE_BLOB_DIR", env.blob_dir.path())
    .env("INTAKE_AMQP_URL", AMQP)
    .env("RUST_LOG", "warn");
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn audit(env: &Env, ledger: &Path, mailbox: &Path) -> Output {
    intake(env, &[])
        .arg("audit")
        .arg(ledger)
        .arg("--mailbox")
        .arg(mailbox)
        .args(["--drain-timeout", "60"])
        .output()
        .expect("intake audit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_with_a_kill_and_a_cut_loses_nothing_and_the_audit_catches_loss_and_duplicates() {
    let env = Env::new().await;
    let work = tempfile::tempdir().expect("tmp");
    let (smtp, lmtp, http, sink, proxy) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let config = work.path().join("intake.toml");
    std::fs::write(
        &config,
        "[uploads.quota]\nuploads_per_hour = 0\nuploads_per_day = 0\nbytes_per_hour = 0\nbytes_per_day = 0\n",
    )
    .expect("config");
    // Samples are analysed here, with the built-in analysers.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let consumer = Consumer {
        pool: env.pool.clone(),
        blobs: env.intake.blobs.clone(),
        topology: env.topology.clone(),
        amqp_url: AMQP.into(),
        prefetch: 8,
        max_attempts: 5,
        max_starts: 10,
        // As every process agrees on, and the harness declared the queues with.
        retry_delay_ms: 200,
        analysers: Arc::new(analysis::builtin()),
        metrics: env.intake.metrics.clone(),
        actor: "test-worker".into(),
    };
    let analyse = tokio::spawn(async move { consumer.run(stop, None).await });

    let ledger_path = work.path().join("ledger.jsonl");
    let mailbox = work.path().join("mailbox");
    let serve = format!(
        "INTAKE_SMTP_LISTEN=127.0.0.1:{smtp} INTAKE_LMTP_LISTEN=127.0.0.1:{lmtp} INTAKE_LISTEN=127.0.0.1:{http} {} serve",
        env!("CARGO_BIN_EXE_intake")
    );
    let out = intake(
        &env,
        &[
            ("INTAKE_CONFIG", config.display().to_string()),
            // intake's broker traffic goes through the load's proxy.
            (
                "INTAKE_AMQP_URL",
                format!("amqp://guest:guest@127.0.0.1:{proxy}/%2f"),
            ),
            ("INTAKE_ANSWER_RELAY", format!("127.0.0.1:{sink}")),
            ("INTAKE_PUBLIC_URL", format!("http://127.0.0.1:{http}")),
            ("INTAKE_RETRY_DELAY_MS", "200".into()),
        ],
    )
    .arg("load")
    .args(["--smtp", &format!("127.0.0.1:{smtp}")])
    .args(["--lmtp", &format!("127.0.0.1:{lmtp}")])
    .args(["--portal", &format!("http://127.0.0.1:{http}")])
    .args([
        "--count",
        "60",
        "--rate",
        "12",
        "--connections",
        "4",
        "--size",
        "20000",
    ])
    .args(["--seed", "7", "--serve", &serve])
    .args(["--broker-proxy", &format!("127.0.0.1:{proxy}")])
    .args(["--sink", &format!("127.0.0.1:{sink}")])
    .arg("--mailbox")
    .arg(&mailbox)
    .arg("--logs")
    .arg(work.path())
    .arg("--ledger")
    .arg(&ledger_path)
    .args([
        "--faults",
        "kill_serve,cut",
        "--fault-hold",
        "2",
        "--reply-wait",
        "30",
    ])
    .args(["--audit", "--drain-timeout", "120"])
    .output()
    .expect("intake load");
    let said = text(&out);
    let serve_log = std::fs::read_to_string(work.path().join("serve-0.log")).unwrap_or_default();
    assert!(out.status.success(), "{said}\n--- serve ---\n{serve_log}");
    assert!(
        said.contains("AUDIT PASSED"),
        "{said}\n--- serve ---\n{serve_log}"
    );
    assert!(
        said.contains("faults injected: 2 (kill_serve 1, cut 1)"),
        "{said}"
    );
    assert!(
        said.contains("lost: 0") && said.contains("duplicates: 0"),
        "{said}"
    );

    let lines = ledger::read(&ledger_path).expect("ledger");
    let inputs: Vec<&ledger::Input> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Input(i) => Some(i),
            _ => None,
        })
        .collect();
    assert!(inputs.len() >= 60, "{}", inputs.len());
    for ch in ["smtp", "lmtp", "portal"] {
        assert!(
            inputs.iter().any(|i| i.channel.name() == ch),
            "no {ch} input"
        );
    }
    // Every kill and cut is on the ledger with its time.
    assert_eq!(
        lines.iter().filter(|l| matches!(l, Line::Fault(_))).count(),
        2
    );

    // A finding recorded twice (the constraint that forbids it dropped).
    let good = inputs
        .iter()
        .find(|i| i.kind == intake::load::inputs::Kind::Good)
        .expect("a good input");
    let sha = good.samples[0].to_hex();
    sqlx::query(
        "ALTER TABLE findings DROP CONSTRAINT findings_sha256_analyser_analyser_version_key",
    )
    .execute(&env.pool)
    .await
    .expect("drop the constraint");
    sqlx::query(
        "INSERT INTO findings (sha256, analyser, analyser_version, result)
         SELECT sha256, analyser, analyser_version, result FROM findings WHERE sha256 = $1 LIMIT 1",
    )
    .bind(&sha)
    .execute(&env.pool)
    .await
    .expect("duplicate a finding");
    let out = audit(&env, &ledger_path, &mailbox);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("duplicates: 1"), "{said}");
    assert!(
        said.contains(&format!("{} sample {sha}", good.id)),
        "{said}"
    );
    sqlx::query("DELETE FROM findings WHERE id = (SELECT max(id) FROM findings WHERE sha256 = $1)")
        .bind(&sha)
        .execute(&env.pool)
        .await
        .expect("undo");
    assert!(audit(&env, &ledger_path, &mailbox).status.success());

    // An input deleted from the database (constraints and the events'
    // append-only trigger set aside for it, as a careless operator would).
    let victim = inputs
        .iter()
        .find(|i| i.kind == intake::load::inputs::Kind::Upload)
        .expect("an upload");
    let mut tx = env.pool.begin().await.expect("tx");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("replica");
    sqlx::query(
        "DELETE FROM submissions WHERE inbound_id = (SELECT id FROM inbound WHERE external_id = $1)",
    )
    .bind(&victim.external_id)
    .execute(&mut *tx)
    .await
    .expect("delete submission");
    sqlx::query("DELETE FROM inbound WHERE external_id = $1")
        .bind(&victim.external_id)
        .execute(&mut *tx)
        .await
        .expect("delete inbound");
    tx.commit().await.expect("commit");
    let out = audit(&env, &ledger_path, &mailbox);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("lost: 1"), "{said}");
    assert!(
        said.contains(&format!(
            "{} accepted (HTTP 202) but no inbound row",
            victim.id
        )),
        "{said}"
    );

    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), analyse).await;
    env.cleanup().await;
}

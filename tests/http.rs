//! `/healthz`, `/readyz` and `/metrics` over a real socket.

mod harness;

use harness::{AMQP, Env};
use intake::http::{Health, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let env = Env::new().await;
    env.intake
        .email(harness::sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("ingest");
    let app = |amqp: &str| {
        router(Health {
            pool: env.pool.clone(),
            amqp_url: amqp.to_owned(),
            topology: env.topology.clone(),
            metrics: env.intake.metrics.clone(),
            consumer_grace: std::time::Duration::ZERO,
            unconsumed: Default::default(),
        })
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(axum::serve(l, app(AMQP)).into_future());
    let bad = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bad_port = bad.local_addr().expect("addr").port();
    tokio::spawn(axum::serve(bad, app("amqp://guest:guest@127.0.0.1:1/%2f")).into_future());

    assert_eq!(get(port, "/healthz").await.0, 200);
    let (code, body) = get(port, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    // No worker is attached to this test's queue: shown, but still ready.
    assert!(body.contains("deciding: ok"), "{body}");
    assert!(body.contains("warning: no worker has consumed"), "{body}");
    let (code, body) = get(bad_port, "/readyz").await;
    assert_eq!(code, 503);
    assert!(body.contains("broker:"), "{body}");
    let (code, body) = get(port, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        body.contains("intake_inputs_received_total{channel=\"email\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("intake_decisions_total{outcome=\"accepted\"} 1"),
        "{body}"
    );
    assert!(body.contains("intake_outbox_pending 4"), "{body}");
    assert!(
        body.contains(&format!(
            "intake_queue_depth{{queue=\"{}\"}} 0",
            env.topology.samples_queue()
        )),
        "{body}"
    );
    env.cleanup().await;
}

/// Only `intake migrate` changes the schema: every other command on a
/// database it has not migrated stops with one line saying to run it.
#[tokio::test]
async fn commands_stop_on_a_schema_that_is_behind() {
    let base = std::env::var("INTAKE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!(
        "intake_test_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&admin)
        .await
        .expect("create");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
            .args(args)
            .env("INTAKE_DATABASE_URL", format!("{base}/{name}"))
            .env("RUST_LOG", "off")
            .output()
            .expect("intake")
    };
    let out = run(&["replay"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("run `intake migrate`"), "{err}");
    let out = run(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["replay"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("recorded 0"));
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}

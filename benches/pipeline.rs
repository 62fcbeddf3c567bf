//! Load tool for record + relay (`cargo bench --bench pipeline`): small
//! submissions received, decided, recorded and published per second with 1, 2
//! and 4 concurrent producers, against the raw rates of the same two services
//! measured by this tool in the same run:
//!
//! - PostgreSQL: single-row autocommit INSERTs, one connection per producer;
//! - RabbitMQ: 1 KB persistent messages to a durable queue, waiting for each
//!   publisher confirm, one channel per producer.
//!
//! Two intake figures per row: **end to end** (each producer receives,
//! decides, records; the relay publishes) and **record + relay** (the inputs
//! are received and decided before the clock starts; the producers only
//! record them while the relay publishes), the stage this tool is about.
//!
//! Each submission is a distinct email (own Message-ID) carrying a ZipCrypto
//! `infected` wrapper with one small distinct file and complete metadata, so
//! every one is accepted and yields one outbox row. The figure counts an input
//! only when its job is confirmed by the broker. Needs PostgreSQL and RabbitMQ
//! on localhost; uses its own database and queue prefix and removes them.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake::ingest::Intake;
use intake::store::outbox;
use intake::store::queue::{self, Topology};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const SECONDS: f64 = 10.0;

mod bench_db;

use bench_db::BenchDb;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let bench = BenchDb::new(id, 12).await;
    let (pool, intake) = (bench.pool.clone(), bench.intake.clone());
    sqlx::query("CREATE TABLE raw_insert (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&pool)
        .await
        .expect("table");
    let topology = Topology::new(&format!("bench-{id}"));
    let conn = queue::connect(AMQP)
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let ch = conn.create_channel().await.expect("channel");
    topology.declare(&ch, 1000).await.expect("topology");
    let raw_queue = format!("bench-{id}.raw");
    ch.queue_declare(
        raw_queue.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("raw queue");

    println!(
        "{:<10} {:>16} {:>16} {:>16} {:>10} {:>16} {:>10}",
        "producers",
        "raw PG inserts/s",
        "raw AMQP pub/s",
        "end to end/s",
        "vs slower",
        "record+relay/s",
        "vs slower"
    );
    let mut serial = 0u64;
    for producers in [1usize, 2, 4] {
        let pg = raw_pg(&pool, producers).await;
        let amqp = raw_amqp(&raw_queue, producers).await;
        let ours = pipeline(&intake, &topology, producers, &mut serial).await;
        let stage = record_relay(&intake, &topology, producers, &mut serial).await;
        let slower = pg.min(amqp);
        println!(
            "{producers:<10} {pg:>16.0} {amqp:>16.0} {ours:>16.0} {:>9.0}% {stage:>16.0} {:>9.0}%",
            100.0 * ours / slower,
            100.0 * stage / slower
        );
        let _ = std::io::stdout().flush();
    }

    let _ = ch
        .queue_delete(raw_queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    for q in [
        topology.samples_queue(),
        topology.retry_queue(),
        topology.dead_queue(),
    ] {
        let _ = ch
            .queue_delete(q.into(), QueueDeleteOptions::default())
            .await;
    }
    queue::close(&conn, "bench").await;
    drop(pool);
    bench.remove().await;
}

/// Single-row autocommit inserts for SECONDS with `n` connections.
async fn raw_pg(pool: &sqlx::PgPool, n: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut count = 0u64;
                let payload = "x".repeat(200);
                while start.elapsed().as_secs_f64() < SECONDS {
                    sqlx::query("INSERT INTO raw_insert (payload) VALUES ($1)")
                        .bind(&payload)
                        .execute(&pool)
                        .await
                        .expect("insert");
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// 1 KB persistent messages with a confirm each, for SECONDS, `n` channels.
async fn raw_amqp(queue_name: &str, n: usize) -> f64 {
    let conn = Arc::new(queue::connect(AMQP).await.expect("broker"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let conn = conn.clone();
            let q = queue_name.to_owned();
            tokio::spawn(async move {
                let ch = queue::confirm_channel(&conn).await.expect("channel");
                let body = vec![b'x'; 1024];
                let mut count = 0u64;
                while start.elapsed().as_secs_f64() < SECONDS {
                    let c = ch
                        .basic_publish(
                            "".into(),
                            q.as_str().into(),
                            BasicPublishOptions::default(),
                            &body,
                            queue::persistent(0, "raw"),
                        )
                        .await
                        .expect("publish");
                    assert!(c.await.expect("confirm").is_ack());
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    queue::close(&conn, "raw").await;
    rate
}

/// Inputs each producer records in the record + relay measurement.
const PREPARED: u64 = 2500;

/// `n` producers record PREPARED inputs each, received and decided before
/// the clock starts, while one relay publishes; the clock stops when the
/// last job is confirmed.
async fn record_relay(intake: &Intake, topology: &Topology, n: usize, serial: &mut u64) -> f64 {
    let base = *serial;
    *serial += n as u64 * 1_000_000;
    let prepared: Vec<_> = (0..n as u64)
        .map(|p| {
            let intake = intake.clone();
            tokio::spawn(async move {
                let mut decided = Vec::new();
                for count in 0..PREPARED {
                    let raw = std::sync::Arc::new(small_email(base + p * 1_000_000 + count));
                    let inbound = intake
                        .receive_email(raw.clone(), None)
                        .await
                        .expect("receive");
                    decided.push(intake.decide_email(inbound, raw).await.expect("decide"));
                }
                decided
            })
        })
        .collect();
    let mut lists = Vec::new();
    for t in prepared {
        lists.push(t.await.expect("prepare"));
    }
    let (stop_tx, relay) = relay(intake, topology);
    let start = Instant::now();
    let tasks: Vec<_> = lists
        .into_iter()
        .map(|list| {
            let intake = intake.clone();
            tokio::spawn(async move {
                for decided in list {
                    let rec = intake
                        .record_email(decided, Instant::now())
                        .await
                        .expect("record");
                    assert_eq!(rec.jobs, 1);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    drain(intake).await;
    let rate = (n as u64 * PREPARED) as f64 / start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = relay.await;
    rate
}

/// Starts a relay over the bench's outbox; send `true` to stop it.
fn relay(
    intake: &Intake,
    topology: &Topology,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(outbox::run(
        intake.pool.clone(),
        outbox::RelayConfig {
            amqp_url: AMQP.to_owned(),
            topology: topology.clone(),
            retry_delay_ms: 1000,
            batch: 500,
            wake: intake.outbox_wake.clone(),
        },
        intake.metrics.clone(),
        stop,
    ));
    (stop_tx, relay)
}

/// Waits until the relay has published every outbox row.
async fn drain(intake: &Intake) {
    loop {
        let (pending, _) = outbox::lag(&intake.pool).await.expect("lag");
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `n` producers ingest distinct small emails for SECONDS while one relay
/// publishes; the clock stops when the last job is confirmed.
async fn pipeline(intake: &Intake, topology: &Topology, n: usize, serial: &mut u64) -> f64 {
    let (stop_tx, relay) = relay(intake, topology);
    let base = *serial;
    let start = Instant::now();
    let tasks: Vec<_> = (0..n as u64)
        .map(|p| {
            let intake = intake.clone();
            tokio::spawn(async move {
                let mut count = 0u64;
                while start.elapsed().as_secs_f64() < SECONDS {
                    let k = base + p * 1_000_000 + count;
                    let rec = intake.email(small_email(k), None).await.expect("ingest");
                    assert_eq!(rec.jobs, 1);
                    count += 1;
                }
                count
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    *serial += n as u64 * 1_000_000;
    drain(intake).await;
    let rate = total as f64 / start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = relay.await;
    rate
}

/// A small accepted submission: a ZipCrypto wrapper holding one distinct
/// script that only echoes.
fn small_email(k: u64) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .with_deprecated_encryption(b"infected")
        .expect("password");
    w.start_file("run.bat", opts).expect("start");
    write!(w, "@echo off\r\necho harmless benchmark sample {k}\r\n").expect("write");
    let zip = w.finish().expect("finish").into_inner();
    let b64 = base64_lines(&zip);
    format!(
        "From: bench@bench.example\r\nTo: samples@lab.example\r\nSubject: bench {k}\r\nMessage-ID: <bench-{k}@bench.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nGrant Number: B-1\r\nFile List: run.bat\r\nSymptoms: none\r\nDetected: no\r\nMcAfee Product Name: ENS\r\nEngine Version: 1\r\nDAT Version: 1\r\nOperating System: Windows\r\n--B\r\nContent-Type: application/zip; name=s.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--B--\r\n"
    )
    .into_bytes()
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(data);
    flat.as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

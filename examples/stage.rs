//! Times receive and process of one small email, for profiling the ingest path:
//! `cargo run --release --example stage` (needs PostgreSQL).
use std::sync::Arc;
use std::time::Instant;

use intake::blob::{Blobs, LocalBlobs};
use intake::decide::Policy;
use intake::ingest::Intake;
use intake::metrics::Metrics;

#[tokio::main]
async fn main() {
    let pool = intake::database::connect("postgres://postgres@127.0.0.1:5432/intake_stage", 16)
        .await
        .expect("db");
    let dir = tempfile::tempdir_in(".").expect("tmp");
    let intake = Intake {
        pool: pool.clone(),
        blobs: Blobs::Local(LocalBlobs::open(dir.path()).expect("blobs")),
        policy: Arc::new(Policy::default()),
        metrics: Metrics::new(),
        outbox_wake: Default::default(),
        mail: Default::default(),
    };
    let raw = std::fs::read("samples/email/09-forwarded-rfc822.eml").expect("sample");
    let (mut a, mut b) = (0.0, 0.0);
    let n = 200;
    for k in 0..n {
        let m = String::from_utf8_lossy(&raw)
            .replace(
                "<demo-09@acme.example>",
                &format!("<st-{k}-{}@x>", std::process::id()),
            )
            .into_bytes();
        let t = Instant::now();
        let raw = Arc::new(m);
        let inb = intake
            .receive_email(raw.clone(), None)
            .await
            .expect("receive");
        a += t.elapsed().as_secs_f64();
        let t = Instant::now();
        intake.process_email(inb, raw).await.expect("process");
        b += t.elapsed().as_secs_f64();
    }
    println!(
        "receive {:.2} ms  process {:.2} ms",
        a * 1000.0 / n as f64,
        b * 1000.0 / n as f64
    );
    for producers in [1u64, 2, 4, 8] {
        let t = Instant::now();
        let tasks: Vec<_> = (0..producers)
            .map(|p| {
                let intake = intake.clone();
                let raw = raw.clone();
                tokio::spawn(async move {
                    for k in 0..200u64 {
                        let m = String::from_utf8_lossy(&raw)
                            .replace(
                                "<demo-09@acme.example>",
                                &format!("<c{producers}-{p}-{k}-{}@x>", std::process::id()),
                            )
                            .into_bytes();
                        intake.email(m, None).await.expect("email");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        println!(
            "{producers} producers: {:.0} inputs/s (no relay)",
            (200 * producers) as f64 / t.elapsed().as_secs_f64()
        );
    }
}

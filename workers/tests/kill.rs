//! A worker killed with SIGKILL in the middle of a job loses nothing: the
//! broker redelivers the unacknowledged job, another worker finishes it, and
//! the sample has exactly one set of findings. Real worker processes, real
//! PostgreSQL and RabbitMQ.

#[path = "../../tests/harness/mod.rs"]
mod harness;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use harness::{AMQP, Env, eventually};
use intake::digest::Sha256;
use intake::store::queue::{self, SampleJob};

fn worker(env: &Env) -> Child {
    worker_with(env, &[])
}

fn worker_with(env: &Env, extra: &[(&str, &str)]) -> Child {
    let db = format!("postgres://postgres@127.0.0.1:5432/{}", env.db_name);
    Command::new(env!("CARGO_BIN_EXE_intake-worker"))
        .envs(extra.iter().copied())
        .env("INTAKE_DATABASE_URL", db)
        .env("INTAKE_AMQP_URL", AMQP)
        .env("INTAKE_QUEUE_PREFIX", &env.prefix)
        .env("INTAKE_BLOB_DIR", env.blob_dir.path())
        .env("INTAKE_WORKER_LISTEN", "127.0.0.1:0")
        .env("INTAKE_PREFETCH", "1")
        // The harness declared the retry queue with this delay.
        .env("INTAKE_RETRY_DELAY_MS", "200")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start intake-worker")
}

/// Stores `bytes` as a sample and publishes one analysis job for it.
async fn queue_sample(env: &Env, bytes: &[u8], kind: intake::decide::classify::Kind) -> SampleJob {
    let sha = Sha256::of(bytes);
    env.intake.blobs.put(&sha, bytes).expect("blob");
    sqlx::query("INSERT INTO samples (sha256, size, kind) VALUES ($1, $2, $3)")
        .bind(sha.to_hex())
        .bind(bytes.len() as i64)
        .bind(kind.as_str())
        .execute(&env.pool)
        .await
        .expect("sample");
    let job = SampleJob {
        job_id: uuid::Uuid::new_v4(),
        sha256: sha,
        size: bytes.len() as u64,
        kind,
        sr_number: intake::sr::SrNumber::new(2026, 1),
        submission_id: uuid::Uuid::nil(),
        severity: intake::sr::Severity::HIGH,
        attempt: 1,
    };
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = queue::confirm_channel(&conn).await.expect("channel");
    queue::publish_confirmed(&ch, &env.topology.jobs_exchange(), &job)
        .await
        .expect("publish");
    let _ = conn.close(200, "setup".into()).await;
    job
}

async fn ready(env: &Env) -> u32 {
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let n = env
        .topology
        .depth(&ch, &env.topology.samples_queue())
        .await
        .expect("depth");
    let _ = conn.close(200, "poll".into()).await;
    n
}

#[tokio::test]
async fn kill_9_mid_job_is_redelivered_and_finished_once() {
    let env = Env::new().await;
    // A large harmless sample, so analysis takes long enough to be interrupted.
    let mut bytes = Vec::with_capacity(48 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while bytes.len() < 48 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    queue_sample(&env, &bytes, intake::decide::classify::Kind::Other).await;

    let mut first = worker(&env);
    eventually(
        Duration::from_secs(60),
        "the first worker to take the job",
        || async { (ready(&env).await == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        env.count("SELECT count(*) FROM findings").await,
        0,
        "killed before it finished"
    );
    first.kill().expect("SIGKILL");
    let _ = first.wait();

    eventually(
        Duration::from_secs(30),
        "the broker to requeue the job",
        || async { (ready(&env).await == 1).then_some(()) },
    )
    .await;
    let mut second = worker(&env);
    let findings = eventually(
        Duration::from_secs(300),
        "the second worker's findings",
        || async {
            // The SR does not exist, so no event rows: wait on the verdict,
            // committed with the findings, and count them after it.
            let verdict = env.count("SELECT count(*) FROM verdicts").await;
            if verdict == 0 {
                return None;
            }
            Some(env.count("SELECT count(*) FROM findings").await)
        },
    )
    .await;
    // SIGTERM: a graceful stop.
    let _ = Command::new("kill").arg(second.id().to_string()).status();
    let _ = second.wait();
    let analysers: i64 = env
        .count("SELECT count(DISTINCT analyser) FROM findings")
        .await;
    assert_eq!(findings, analysers, "one finding per analyser");
    assert_eq!(analysers, 7);
    env.cleanup().await;
}

/// A sample that kills the worker analysing it (a test-only hook aborts
/// the process, as a parser's stack overflow would) is not redelivered for
/// ever: each start is counted in the database, and past the limit the job
/// is dead-lettered with the reason staff see.
#[tokio::test]
async fn a_job_that_kills_its_worker_is_dead_lettered() {
    let env = Env::new().await;
    let marker = format!("POISON-{}", env.prefix);
    let bytes = format!("#!/bin/sh\necho {marker}\n").into_bytes();
    let job = queue_sample(&env, &bytes, intake::decide::classify::Kind::Script).await;
    let vars = [
        ("INTAKE_FAULT_ANALYSE_ABORT", marker.as_str()),
        ("INTAKE_MAX_STARTS", "3"),
    ];
    let dead = "SELECT count(*) FROM analysis_jobs WHERE state = 'dead'";
    let mut aborted = 0;
    let mut w = worker_with(&env, &vars);
    // Each worker aborts on the job; the broker redelivers it to the next.
    eventually(Duration::from_secs(240), "the job dead-lettered", || {
        let exited = w.try_wait().ok().flatten();
        if exited.is_some() {
            aborted += 1;
            w = worker_with(&env, &vars);
        }
        async { (env.count(dead).await == 1).then_some(()) }
    })
    .await;
    let _ = w.kill();
    let _ = w.wait();
    assert_eq!(aborted, 3, "three starts crashed, the fourth dead-lettered");
    let (starts, error): (i32, String) =
        sqlx::query_as("SELECT starts, last_error FROM analysis_jobs WHERE job_id = $1")
            .bind(job.job_id)
            .fetch_one(&env.pool)
            .await
            .expect("job row");
    assert_eq!(starts, 4);
    assert!(
        error.contains("started 3 times without finishing"),
        "{error}"
    );
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let in_dead = env
        .topology
        .depth(&ch, &env.topology.dead_queue())
        .await
        .expect("depth");
    assert_eq!(in_dead, 1);
    assert_eq!(env.count("SELECT count(*) FROM findings").await, 0);
    let _ = conn.close(200, "done".into()).await;
    env.cleanup().await;
}

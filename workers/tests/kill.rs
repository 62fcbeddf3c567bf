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
use intake::queue::{self, SampleJob};

fn worker(env: &Env) -> Child {
    let db = format!("postgres://postgres@127.0.0.1:5432/{}", env.db_name);
    Command::new(env!("CARGO_BIN_EXE_intake-worker"))
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
    let sha = Sha256::of(&bytes);
    env.intake.blobs.put(&sha, &bytes).expect("blob");
    sqlx::query("INSERT INTO samples (sha256, size, kind) VALUES ($1, $2, 'other')")
        .bind(sha.to_hex())
        .bind(bytes.len() as i64)
        .execute(&env.pool)
        .await
        .expect("sample");
    let job = SampleJob {
        job_id: uuid::Uuid::new_v4(),
        sha256: sha,
        size: bytes.len() as u64,
        kind: intake::classify::Kind::Other,
        sr_number: intake::support::SrNumber::new(2026, 1),
        submission_id: uuid::Uuid::nil(),
        severity: intake::support::Severity::HIGH,
        attempt: 1,
    };
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = queue::confirm_channel(&conn).await.expect("channel");
    queue::publish_confirmed(&ch, &env.topology.jobs_exchange(), &job)
        .await
        .expect("publish");
    let _ = conn.close(200, "setup".into()).await;

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
            let n = env.count("SELECT count(*) FROM findings").await;
            let done = env
                .count("SELECT count(*) FROM events WHERE kind = 'analysis.done'")
                .await;
            // The SR does not exist, so no event rows: wait on the verdict instead.
            let verdict = env.count("SELECT count(*) FROM verdicts").await;
            let _ = done;
            (verdict == 1).then_some(n)
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

//! The analysis consumer against the real broker and database: findings for
//! every queued sample, one set however often a job is delivered, and the
//! retry and dead-letter path for a job that cannot succeed.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{AMQP, Env, sample_email};
use intake::analysis::{self, Consumer};
use intake::{store::outbox, store::queue};

fn consumer(env: &Env, max_attempts: u32) -> Consumer {
    Consumer {
        pool: env.pool.clone(),
        blobs: env.intake.blobs.clone(),
        topology: env.topology.clone(),
        amqp_url: AMQP.to_owned(),
        prefetch: 4,
        max_attempts,
        max_starts: 10,
        retry_delay_ms: 200,
        analysers: Arc::new(analysis::builtin()),
        metrics: env.intake.metrics.clone(),
        actor: "test-worker".into(),
    }
}

/// A fresh environment with the samples of `email` queued.
async fn queued(email: &str) -> Env {
    let env = Env::new().await;
    env.intake
        .email(sample_email(email), None)
        .await
        .expect("ingest");
    relay(&env).await;
    env
}

/// No job is left pending: staff would see its analysis pending for ever.
async fn assert_all_done(env: &Env) {
    assert_eq!(
        env.count("SELECT count(*) FROM analysis_jobs WHERE state <> 'done'")
            .await,
        0
    );
}

async fn relay(env: &Env) {
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = queue::confirm_channel(&conn).await.expect("channel");
    while outbox::relay_batch(&env.pool, &ch, &env.topology, 100)
        .await
        .expect("relay")
        > 0
    {}
    intake::store::queue::close(&conn, "test").await;
}

#[tokio::test]
async fn queued_samples_get_findings_once() {
    let env = queued("01-accepted-zipcrypto.eml").await;
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let handled = consumer(&env, 3)
        .run(stop.clone(), Some(Duration::from_millis(500)))
        .await
        .expect("run");
    assert_eq!(handled, 4);
    assert_eq!(env.count("SELECT count(*) FROM findings").await, 8);
    let md5: String = sqlx::query_scalar(
        "SELECT result->>'md5' FROM findings f JOIN samples s USING (sha256)
         WHERE analyser = 'hashes' AND s.kind = 'elf'",
    )
    .fetch_one(&env.pool)
    .await
    .expect("md5");
    assert_eq!(md5.len(), 32);

    // Publish every job again (a relay crash after confirm, before commit).
    sqlx::query("UPDATE outbox SET published_at = NULL")
        .execute(&env.pool)
        .await
        .expect("reset");
    relay(&env).await;
    let again = consumer(&env, 3)
        .run(stop, Some(Duration::from_millis(500)))
        .await
        .expect("run");
    assert_eq!(again, 4);
    assert_eq!(
        env.count("SELECT count(*) FROM findings").await,
        8,
        "one set of findings"
    );
    // And the second delivery, with nothing left to do, is done too: staff
    // would otherwise see the sample's analysis pending for ever. (Found by
    // `intake load` killing serve between a publish and its commit.)
    assert_all_done(&env).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_retried_then_dead_lettered() {
    let env = Env::new().await;
    env.intake
        .email(sample_email("09-forwarded-rfc822.eml"), None)
        .await
        .expect("ingest");
    // Lose the sample's blob: every attempt fails.
    let sha: String = sqlx::query_scalar("SELECT sha256 FROM samples")
        .fetch_one(&env.pool)
        .await
        .expect("sha");
    let path = env
        .blob_dir
        .path()
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha);
    std::fs::remove_file(path).expect("remove blob");
    relay(&env).await;
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let c = consumer(&env, 2);
    let run = tokio::spawn(async move { c.run(stop, Some(Duration::from_millis(1500))).await });
    harness::eventually(
        Duration::from_secs(20),
        "the job in the dead queue",
        || async {
            let conn = queue::connect(AMQP).await.ok()?;
            let ch = conn.create_channel().await.ok()?;
            let n = env
                .topology
                .depth(&ch, &env.topology.dead_queue())
                .await
                .ok()?;
            intake::store::queue::close(&conn, "poll").await;
            (n == 1).then_some(())
        },
    )
    .await;
    let _ = run.await;
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'analysis.retry'")
            .await,
        1
    );
    let dead: String =
        sqlx::query_scalar("SELECT detail->>'error' FROM events WHERE kind = 'analysis.dead'")
            .fetch_one(&env.pool)
            .await
            .expect("dead event");
    assert!(dead.contains("sample blob"), "{dead}");
    assert_eq!(env.count("SELECT count(*) FROM findings").await, 0);
    env.cleanup().await;
}

/// A job no delivery has started: nothing in the database names it yet.
fn unseen_job() -> queue::SampleJob {
    queue::SampleJob {
        job_id: uuid::Uuid::new_v4(),
        sha256: intake::digest::Sha256::of(b"a sample"),
        size: 8,
        kind: intake::decide::classify::Kind::Other,
        sr_number: intake::sr::SrNumber::new(2026, 1),
        submission_id: uuid::Uuid::new_v4(),
        severity: intake::sr::Severity::MEDIUM,
        attempt: 1,
    }
}

#[tokio::test]
async fn a_done_job_stays_done_whatever_order_its_deliveries_land_in() {
    use intake::analysis::jobs::{self, JobState, Start};
    let env = Env::new().await;
    let job = unseen_job();
    let settle = |state: JobState, error: Option<&'static str>| {
        let pool = env.pool.clone();
        let job = job.clone();
        async move {
            let mut tx = pool.begin().await.expect("begin");
            jobs::settle(&mut tx, &job, state, error)
                .await
                .expect("settle");
            tx.commit().await.expect("commit");
        }
    };
    let start = || jobs::started(&env.pool, &job);
    let state = || async {
        sqlx::query_as::<_, (String, Option<String>, i32)>(
            "SELECT state, last_error, starts FROM analysis_jobs WHERE job_id = $1",
        )
        .bind(job.job_id)
        .fetch_one(&env.pool)
        .await
        .expect("row")
    };

    let first = start().await.expect("first start");
    assert_eq!(
        first,
        Start {
            starts: 1,
            done: false
        }
    );
    // A second delivery (published twice, or redelivered after a cut)
    // starts beside it, then the first commits its findings.
    assert!(!start().await.expect("second start").done);
    settle(JobState::Done, None).await;
    // The second's start, or its failure, reaches the database late: the
    // job keeps its state, and the start is still counted. (Garage run 3
    // left such a job `running` beside its findings; the drain waited.)
    let late = start().await.expect("late start");
    assert_eq!(
        late,
        Start {
            starts: 3,
            done: true
        }
    );
    settle(JobState::Retrying, Some("blob store away")).await;
    settle(JobState::Dead, Some("blob store away")).await;
    assert_eq!(state().await, ("done".to_owned(), None, 3));
    env.cleanup().await;
}

#[tokio::test]
async fn a_job_whose_start_cannot_be_recorded_is_handed_back_and_analysed_later() {
    let env = queued("09-forwarded-rfc822.eml").await;
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", harness::base_url()))
        .await
        .expect("admin");
    let connections = |allow: bool| {
        let sql = format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}",
            env.db_name
        );
        let admin = admin.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&admin)
                .await
                .expect("alter database");
        }
    };
    // The database goes away before the worker takes the job: its start
    // cannot be counted, so not even the failure path can be taken.
    connections(false).await;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&env.db_name)
        .execute(&admin)
        .await
        .expect("terminate");
    let handed_back = || {
        env.intake
            .metrics
            .jobs
            .get_or_create(&intake::metrics::label("result", "handed_back"))
            .get()
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let c = consumer(&env, 3);
    let run = tokio::spawn(async move { c.run(stop, None).await });
    harness::eventually(Duration::from_secs(60), "the job handed back", || async {
        (handed_back() > 0).then_some(())
    })
    .await;
    // The database is back. The job was handed back to the queue, so it is
    // delivered again and analysed; kept unacknowledged on the worker's open
    // channel, it would never be.
    connections(true).await;
    harness::eventually(Duration::from_secs(60), "the job done", || async {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM analysis_jobs WHERE state = 'done'
             AND sha256 IN (SELECT sha256 FROM findings)",
        )
        .fetch_one(&env.pool)
        .await
        .ok()?;
        (done == 1).then_some(())
    })
    .await;
    stop_tx.send(true).expect("stop");
    run.await.expect("join").expect("run");
    assert_all_done(&env).await;
    admin.close().await;
    env.cleanup().await;
}

/// An analyser that holds its job until the test opens the gate.
struct Gate {
    entered: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl analysis::Analyser for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }
    fn version(&self) -> String {
        "1".into()
    }
    fn analyse(
        &self,
        _bytes: &[u8],
        _job: &queue::SampleJob,
    ) -> Result<serde_json::Value, analysis::AnalyseError> {
        self.entered
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (lock, cvar) = &*self.open;
        let mut open = lock.lock().expect("gate lock");
        while !*open {
            open = cvar.wait(open).expect("gate wait");
        }
        Ok(serde_json::json!({"gate": "passed"}))
    }
}

#[tokio::test]
async fn a_job_in_flight_when_the_broker_line_breaks_still_records_its_findings() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = queued("09-forwarded-rfc822.eml").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let proxy =
        intake::load::proxy::Proxy::start(listener, "127.0.0.1:5672".parse().expect("addr"));
    let entered = Arc::new(AtomicBool::new(false));
    let open = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let mut analysers = analysis::builtin();
    analysers.push(Box::new(Gate {
        entered: entered.clone(),
        open: open.clone(),
    }));
    let mut c = consumer(&env, 3);
    c.amqp_url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    c.analysers = Arc::new(analysers);
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move { c.run(stop, None).await });
    harness::eventually(Duration::from_secs(30), "the job analysing", || async {
        entered.load(Ordering::SeqCst).then_some(())
    })
    .await;

    // The line to the broker breaks while the job is analysing. The session
    // ends, but only after the job in flight has finished: aborted between
    // its statements, it could leave its state behind its findings.
    let cut = tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.cut_for(Duration::from_secs(3)).await }
    });
    let ended_early = tokio::time::timeout(Duration::from_secs(2), async {
        while !run.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok();
    {
        let (lock, cvar) = &*open;
        *lock.lock().expect("gate lock") = true;
        cvar.notify_all();
    }
    let ended = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the session ends once its job is done")
        .expect("join");
    assert!(
        !ended_early,
        "the session ended with a job in flight: {ended:?}"
    );
    assert!(ended.is_err(), "the broken line is reported");
    assert_eq!(
        env.count("SELECT count(*) FROM findings").await,
        3,
        "the job in flight recorded its findings"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM analysis_jobs WHERE state = 'done'")
            .await,
        1
    );
    cut.await.expect("mended");

    // Its ack was lost with the line, so the broker delivers it again: done
    // already, nothing to add, and it stays done.
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let again = consumer(&env, 3)
        .run(stop, Some(Duration::from_millis(500)))
        .await
        .expect("run");
    assert_eq!(again, 1);
    assert_eq!(env.count("SELECT count(*) FROM findings").await, 3);
    assert_all_done(&env).await;
    env.cleanup().await;
}

//! Receive → decide → record → relay against the real PostgreSQL and RabbitMQ.

mod harness;

use std::time::Duration;

use futures_util::StreamExt;
use harness::{AMQP, Env, eventually, sample_email};
use intake::decide::report::Outcome;
use intake::store::outbox;
use intake::store::queue::{self, SampleJob};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions};
use lapin::types::FieldTable;

async fn relay_all(env: &Env) -> usize {
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = queue::confirm_channel(&conn).await.expect("channel");
    let mut n = 0;
    loop {
        let sent = outbox::relay_batch(&env.pool, &ch, &env.topology, 100)
            .await
            .expect("relay");
        if sent == 0 {
            break;
        }
        n += sent;
    }
    intake::store::queue::close(&conn, "test").await;
    n
}

#[tokio::test]
async fn an_email_becomes_recorded_state_and_queued_jobs() {
    let env = Env::new().await;
    let rec = env
        .intake
        .email(sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("ingest");
    assert_eq!(rec.outcome, Outcome::Accepted);
    assert!(rec.sr_is_new);
    assert!(rec.verification.is_verified(), "{}", rec.verification);
    assert_eq!(rec.jobs, 4);
    assert_eq!(env.count("SELECT count(*) FROM samples").await, 4);
    assert_eq!(
        env.count("SELECT count(*) FROM submission_samples").await,
        4
    );
    assert_eq!(
        env.count("SELECT count(*) FROM inbound WHERE state = 'recorded'")
            .await,
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.opened'")
            .await,
        1
    );
    let status: String = sqlx::query_scalar("SELECT status FROM service_requests")
        .fetch_one(&env.pool)
        .await
        .expect("sr");
    assert_eq!(status, "in_analysis");

    assert_eq!(relay_all(&env).await, 4);
    assert_eq!(
        env.count(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND kind = 'sample.analyse'"
        )
        .await,
        0
    );
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let mut jobs = Vec::new();
    while let Some(msg) = ch
        .basic_get(
            env.topology.samples_queue().into(),
            BasicGetOptions::default(),
        )
        .await
        .expect("get")
    {
        assert_eq!(
            msg.delivery.properties.delivery_mode(),
            &Some(2),
            "persistent"
        );
        let job: SampleJob = serde_json::from_slice(&msg.delivery.data).expect("job");
        assert_eq!(job.sr_number, rec.sr_number);
        jobs.push(job.sha256.to_hex());
        msg.delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
    }
    jobs.sort();
    let mut want: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM samples ORDER BY sha256")
        .fetch_all(&env.pool)
        .await
        .expect("samples");
    want.sort();
    assert_eq!(jobs, want);
    intake::store::queue::close(&conn, "test").await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_same_email_twice_is_one_submission() {
    let env = Env::new().await;
    let raw = sample_email("05-wrapper-with-unwanted.eml");
    let first = env.intake.email(raw.clone(), None).await.expect("first");
    let second = env.intake.email(raw, None).await.expect("second");
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.submission_id, second.submission_id);
    assert_eq!(first.sr_number, second.sr_number);
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 1);
    assert_eq!(env.count("SELECT count(*) FROM inbound").await, 1);
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
            .await,
        2
    );
    // One answer, for the first delivery only.
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'mail.answer'")
            .await,
        1
    );
    assert_eq!(env.count("SELECT count(*) FROM rejected_items").await, 7);
    env.cleanup().await;
}

#[tokio::test]
async fn the_same_email_recorded_by_several_at_once_is_one_submission() {
    let env = Env::new().await;
    let raw = std::sync::Arc::new(sample_email("01-accepted-zipcrypto.eml"));
    // Stored once; then recorded by eight at once, as a redelivery racing
    // the first delivery's background recording would.
    let inbound = env
        .intake
        .receive_email(raw.clone(), None)
        .await
        .expect("stored");
    let runs = (0..8).map(|_| env.intake.process_email(inbound.clone(), raw.clone()));
    let results: Vec<_> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("recorded"))
        .collect();
    assert_eq!(results.iter().filter(|r| !r.duplicate).count(), 1);
    assert!(
        results
            .iter()
            .all(|r| r.submission_id == results[0].submission_id)
    );
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 1);
    assert_eq!(env.count("SELECT count(*) FROM service_requests").await, 1);
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'mail.answer'")
            .await,
        1
    );
    env.cleanup().await;
}

#[tokio::test]
async fn unverified_senders_are_held_not_dropped() {
    let env = Env::new().await;
    // 03 names grant 7777-0007, which expired in 2020.
    let rec = env
        .intake
        .email(sample_email("03-html-table-big5-aes128.eml"), None)
        .await
        .expect("ingest");
    assert_eq!(rec.outcome, Outcome::Accepted);
    assert!(
        rec.verification.to_string().contains("expired"),
        "{}",
        rec.verification
    );
    assert_eq!(rec.jobs, 0);
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
            .await,
        0
    );
    // The sender is told the submission waits for verification.
    let held: String =
        sqlx::query_scalar("SELECT payload->>'kind' FROM outbox WHERE kind = 'mail.answer'")
            .fetch_one(&env.pool)
            .await
            .expect("an answer");
    assert_eq!(held, "held");
    assert_eq!(env.count("SELECT count(*) FROM samples").await, 1);
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'submission.held'")
            .await,
        1
    );
    let status: String = sqlx::query_scalar("SELECT status FROM service_requests")
        .fetch_one(&env.pool)
        .await
        .expect("sr");
    assert_eq!(status, "unverified");
    env.cleanup().await;
}

#[tokio::test]
async fn a_reply_naming_its_sr_adds_to_it_only_for_entitled_senders() {
    let env = Env::new().await;
    let first = env
        .intake
        .email(sample_email("02-needs-info-gbk-aes256.eml"), None)
        .await
        .expect("first");
    assert_eq!(first.outcome, Outcome::NeedsInfo);
    // Sent to the answer's Reply-To, which carries the SR's reply token.
    let to = env
        .intake
        .mail
        .answers
        .reply_key
        .reply_to("samples@lab.example", &first.sr_number);
    let reply = |from: &str, id: &str| {
        format!(
            "From: {from}\r\nTo: {to}\r\nMessage-ID: <{id}>\r\nSubject: Re: [{sr}] 可疑文件\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDAT Version: 5390\r\n",
            sr = first.sr_number
        )
        .into_bytes()
    };
    let same = env
        .intake
        .email(reply("li.wei@example.cn", "r1@example.cn"), None)
        .await
        .expect("reply");
    assert_eq!(same.sr_number, first.sr_number);
    assert!(!same.sr_is_new);
    let stranger = env
        .intake
        .email(reply("eve@evil.example", "r2@evil.example"), None)
        .await
        .expect("stranger");
    assert_ne!(stranger.sr_number, first.sr_number);
    assert!(stranger.sr_is_new);
    // The entitled reply completed the needs_info submission.
    assert_eq!(same.outcome, Outcome::Accepted);
    assert_eq!(same.completes, Some(first.submission_id));
    assert_eq!(same.jobs, 2);

    // Closed, then a reply within 30 days reopens the SR...
    let by = intake::triage::By {
        actor: "staff",
        now: chrono::Utc::now(),
    };
    intake::triage::close_sr(&env.intake, &first.sr_number, by, None)
        .await
        .expect("close");
    let again = env
        .intake
        .email(reply("li.wei@example.cn", "r3@example.cn"), None)
        .await
        .expect("reopen");
    assert_eq!(again.sr_number, first.sr_number);
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.reopened'")
            .await,
        1
    );
    // ...but not after 30 days: that opens a new one.
    sqlx::query(
        "UPDATE service_requests SET status = 'closed', resolution = 'resolved',
                closed_at = now() - interval '31 days'",
    )
    .execute(&env.pool)
    .await
    .expect("age");
    let late = env
        .intake
        .email(reply("li.wei@example.cn", "r4@example.cn"), None)
        .await
        .expect("late");
    assert!(late.sr_is_new);
    env.cleanup().await;
}

#[tokio::test]
async fn a_crash_between_receiving_and_recording_is_replayed() {
    let env = Env::new().await;
    let raw = std::sync::Arc::new(sample_email("09-forwarded-rfc822.eml"));
    let inbound = env.intake.receive_email(raw, None).await.expect("receive");
    assert!(!inbound.recorded);
    // The process "dies" here: stored, not recorded.
    assert_eq!(
        env.count("SELECT count(*) FROM inbound WHERE state = 'received'")
            .await,
        1
    );
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 0);
    assert_eq!(env.intake.replay_pending().await.expect("replay"), 1);
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 1);
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
            .await,
        1
    );
    assert_eq!(env.intake.replay_pending().await.expect("replay"), 0);
    env.cleanup().await;
}

#[tokio::test]
async fn portal_uploads_are_deduplicated_by_upload_id() {
    let env = Env::new().await;
    let dir = harness::root().join("samples/portal/01-accepted");
    let a = env
        .intake
        .portal(
            "upload-1",
            None,
            intake::portal::read_upload(&dir).expect("read"),
        )
        .await
        .expect("portal");
    let b = env
        .intake
        .portal(
            "upload-1",
            None,
            intake::portal::read_upload(&dir).expect("read"),
        )
        .await
        .expect("portal");
    assert_eq!(a.outcome, Outcome::Accepted);
    assert_eq!(a.jobs, 3);
    assert!(b.duplicate);
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 1);
    // Every sample's bytes are in the blob store, uploaded files included.
    env.assert_blobs_read_back("SELECT sha256 FROM samples")
        .await;
    env.cleanup().await;
}

#[tokio::test]
async fn severity_one_overtakes_a_backlog_of_severity_four() {
    let env = Env::new().await;
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = queue::confirm_channel(&conn).await.expect("channel");
    let job = |i: u32, severity: u8| SampleJob {
        job_id: uuid::Uuid::new_v4(),
        sha256: intake::digest::Sha256::of(&i.to_le_bytes()),
        size: 4,
        kind: intake::decide::classify::Kind::Other,
        sr_number: intake::sr::SrNumber::new(2026, i),
        submission_id: uuid::Uuid::nil(),
        severity: intake::sr::Severity::new(severity).expect("severity"),
        attempt: 1,
    };
    let mut confirms = Vec::new();
    for i in 0..1000 {
        let body = serde_json::to_vec(&job(i, 4)).expect("json");
        let c = ch
            .basic_publish(
                env.topology.jobs_exchange().into(),
                queue::SAMPLES.into(),
                Default::default(),
                &body,
                queue::persistent(job(i, 4).severity.priority(), &i.to_string()),
            )
            .await
            .expect("publish");
        confirms.push(c);
    }
    for c in confirms {
        assert!(c.await.expect("confirm").is_ack());
    }
    let urgent = job(424_242, 1);
    queue::publish_confirmed(&ch, &env.topology.jobs_exchange(), &urgent)
        .await
        .expect("publish urgent");

    let prefetch: u16 = 10;
    let consume = conn.create_channel().await.expect("channel");
    consume
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut deliveries = consume
        .basic_consume(
            env.topology.samples_queue().into(),
            "severity-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut position = None;
    for n in 1..=u32::from(prefetch) + 1 {
        let d = tokio::time::timeout(Duration::from_secs(10), deliveries.next())
            .await
            .expect("delivery in time")
            .expect("stream")
            .expect("delivery");
        let j: SampleJob = serde_json::from_slice(&d.data).expect("job");
        d.ack(BasicAckOptions::default()).await.expect("ack");
        if j.job_id == urgent.job_id {
            position = Some(n);
            break;
        }
    }
    assert!(
        position.is_some(),
        "severity 1 not among the first {} deliveries",
        prefetch + 1
    );
    intake::store::queue::close(&conn, "test").await;
    env.cleanup().await;
}

#[tokio::test]
async fn broker_outage_loses_nothing() {
    let env = Env::new().await;
    let proxy = harness_proxy::Proxy::start().await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(outbox::run(
        env.pool.clone(),
        outbox::RelayConfig {
            amqp_url: format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port),
            topology: env.topology.clone(),
            retry_delay_ms: 200,
            batch: 100,
            wake: env.intake.outbox_wake.clone(),
        },
        env.intake.metrics.clone(),
        stop,
    ));
    env.intake
        .email(sample_email("09-forwarded-rfc822.eml"), None)
        .await
        .expect("a");
    let pending =
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND kind = 'sample.analyse'";
    eventually(Duration::from_secs(20), "first job published", || async {
        (env.count(pending).await == 0).then_some(())
    })
    .await;

    proxy.down().await;
    let errors_before = env.intake.metrics.relay_errors.get();
    env.intake
        .email(sample_email("10-alternative-rfc2047.eml"), None)
        .await
        .expect("b");
    env.intake
        .email(sample_email("12-hostile-attachment-names.eml"), None)
        .await
        .expect("c");
    // The relay notices the outage (its session fails) and the rows wait.
    eventually(
        Duration::from_secs(20),
        "the relay to notice the outage",
        || async { (env.intake.metrics.relay_errors.get() > errors_before).then_some(()) },
    )
    .await;
    assert_eq!(
        env.count(pending).await,
        2,
        "rows wait while the broker is away"
    );

    proxy.up().await;
    eventually(
        Duration::from_secs(30),
        "backlog published after the broker returns",
        || async { (env.count(pending).await == 0).then_some(()) },
    )
    .await;
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let depth = env
        .topology
        .depth(&ch, &env.topology.samples_queue())
        .await
        .expect("depth");
    assert!(
        depth >= 3,
        "all three jobs are queued (at least once): {depth}"
    );
    let _ = stop_tx.send(true);
    let _ = relay.await;
    intake::store::queue::close(&conn, "test").await;
    env.cleanup().await;
}

/// A TCP forwarder to RabbitMQ that a test can take down and bring back,
/// so an outage can be staged without stopping the shared broker.
mod harness_proxy {
    use std::sync::Arc;

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Mutex;
    use tokio::task::JoinHandle;

    pub struct Proxy {
        pub port: u16,
        tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    }

    impl Proxy {
        pub async fn start() -> Proxy {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = l.local_addr().expect("addr").port();
            let p = Proxy {
                port,
                tasks: Arc::new(Mutex::new(Vec::new())),
            };
            p.serve(l).await;
            p
        }

        async fn serve(&self, l: TcpListener) {
            let tasks = self.tasks.clone();
            let inner = self.tasks.clone();
            let accept = tokio::spawn(async move {
                while let Ok((mut client, _)) = l.accept().await {
                    let conn = tokio::spawn(async move {
                        if let Ok(mut upstream) = TcpStream::connect("127.0.0.1:5672").await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                    });
                    inner.lock().await.push(conn);
                }
            });
            tasks.lock().await.push(accept);
        }

        /// Refuses new connections and cuts the open ones.
        pub async fn down(&self) {
            for t in self.tasks.lock().await.drain(..) {
                t.abort();
            }
        }

        pub async fn up(&self) {
            let l = TcpListener::bind(("127.0.0.1", self.port))
                .await
                .expect("rebind");
            self.serve(l).await;
        }
    }
}

/// A decision that panics (a test-only hook makes it, on inputs carrying a
/// marker) is a recorded failure of that input: the decision threads all
/// survive more panics than there are threads, the input is tried again a
/// bounded number of times and then parked as `failed` with its reason, and
/// good inputs go on being recorded.
#[tokio::test]
async fn a_panicking_decision_is_parked_and_the_threads_survive() {
    let env = Env::new().await;
    let marker = format!("INTAKE-TEST-PANIC-{}", env.prefix);
    intake::fault::arm_decide_panic(&marker);
    let threads = intake::decide::threads::count();
    for i in 0..threads + 1 {
        let raw = format!(
            "From: bob@acme.example\r\nMessage-ID: <panic-{i}@acme.example>\r\nSubject: {marker}\r\n\r\nhi\r\n"
        );
        let err = env
            .intake
            .email(raw.into_bytes(), None)
            .await
            .expect_err("the decision panics");
        assert!(err.to_string().contains("panicked"), "{err}");
    }
    // Every thread is still there: a good input is recorded at once.
    let good = env
        .intake
        .email(sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("a good input after the panics");
    assert_eq!(good.outcome, Outcome::Accepted);
    assert!(intake::decide::threads::available());
    let failing = "SELECT count(*) FROM inbound WHERE error LIKE '%panicked%'";
    assert_eq!(env.count(failing).await, (threads + 1) as i64);
    // Replays try again until the tries run out, then the inputs are parked.
    for _ in 1..intake::store::inputs::MAX_ATTEMPTS {
        assert_eq!(env.intake.replay_pending().await.expect("replay"), 0);
    }
    let parked = intake::store::inputs::failed(&env.pool)
        .await
        .expect("failed");
    assert_eq!(parked.len(), threads + 1);
    assert!(
        parked
            .iter()
            .all(|p| p.attempts == intake::store::inputs::MAX_ATTEMPTS)
    );
    assert!(
        parked
            .iter()
            .all(|p| p.error.as_deref().unwrap_or("").contains("panicked"))
    );
    // Parked inputs are left alone by the replay loop until staff retry one.
    assert_eq!(env.intake.replay_pending().await.expect("replay"), 0);
    assert!(
        intake::store::inputs::retry(&env.pool, parked[0].id)
            .await
            .expect("retry")
    );
    assert_eq!(
        env.count("SELECT count(*) FROM inbound WHERE state = 'failed'")
            .await,
        threads as i64
    );
    env.cleanup().await;
}

/// One stored input whose blob is gone does not stop the replay: it is
/// parked with its reason, and the others are recorded.
#[tokio::test]
async fn replay_skips_a_bad_row_and_records_the_rest() {
    let env = Env::new().await;
    let mut ids = Vec::new();
    for name in [
        "01-accepted-zipcrypto.eml",
        "09-forwarded-rfc822.eml",
        "10-alternative-rfc2047.eml",
    ] {
        let raw = std::sync::Arc::new(sample_email(name));
        ids.push(
            env.intake
                .receive_email(raw, None)
                .await
                .expect("receive")
                .id,
        );
    }
    // The first input's raw blob disappears (an operator, a full disk).
    let sha: String = sqlx::query_scalar("SELECT raw_sha256 FROM inbound WHERE id = $1")
        .bind(ids[0])
        .fetch_one(&env.pool)
        .await
        .expect("sha");
    let digest: intake::digest::Sha256 = sha.parse().expect("digest");
    let intake::store::blob::Blobs::Local(local) = &env.intake.blobs else {
        panic!("the test store is local");
    };
    std::fs::remove_file(local.path(&digest)).expect("remove the blob");
    assert_eq!(env.intake.replay_pending().await.expect("replay"), 2);
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 2);
    let parked = intake::store::inputs::failed(&env.pool)
        .await
        .expect("failed");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].id, ids[0]);
    assert!(
        parked[0].error.as_deref().unwrap_or("").contains(&sha),
        "{parked:?}"
    );
    env.cleanup().await;
}

/// An input being decided holds a lease: another replay (this process's
/// loop, or a second `intake serve` on the same database) does not take it.
#[tokio::test]
async fn an_input_being_decided_is_not_replayed() {
    let env = Env::new().await;
    let raw = std::sync::Arc::new(sample_email("01-accepted-zipcrypto.eml"));
    let inbound = env.intake.receive_email(raw, None).await.expect("receive");
    let now = chrono::Utc::now();
    let claim = intake::store::inputs::claim(&env.pool, inbound.id, now)
        .await
        .expect("db")
        .expect("claimed");
    assert_eq!(claim.attempt, 1);
    // Someone else holds it: the replay finds nothing to do.
    assert_eq!(env.intake.replay_pending().await.expect("replay"), 0);
    assert_eq!(
        intake::store::inputs::claim(&env.pool, inbound.id, now)
            .await
            .expect("db"),
        Err(intake::store::inputs::NotClaimed::Busy)
    );
    // A crashed holder's lease runs out and the input is taken again.
    let later = now + intake::store::inputs::LEASE + chrono::Duration::seconds(1);
    let next = intake::store::inputs::claim_next(&env.pool, Duration::ZERO, later)
        .await
        .expect("db")
        .expect("taken after the lease");
    assert_eq!(next.claim.id, inbound.id);
    assert_eq!(next.claim.attempt, 2);
    env.cleanup().await;
}

/// A job whose queue was deleted under a running relay is returned by the
/// broker (published `mandatory`), stays in the outbox, and goes out once
/// the relay's next session has declared the queue again: not confirmed and
/// forgotten.
#[tokio::test]
async fn a_job_nobody_can_route_stays_in_the_outbox() {
    let env = Env::new().await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(outbox::run(
        env.pool.clone(),
        outbox::RelayConfig {
            amqp_url: AMQP.to_owned(),
            topology: env.topology.clone(),
            retry_delay_ms: 200,
            batch: 100,
            wake: env.intake.outbox_wake.clone(),
        },
        env.intake.metrics.clone(),
        stop,
    ));
    let pending =
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND kind = 'sample.analyse'";
    env.intake
        .email(sample_email("09-forwarded-rfc822.eml"), None)
        .await
        .expect("first");
    eventually(
        Duration::from_secs(20),
        "the first job published",
        || async { (env.count(pending).await == 0).then_some(()) },
    )
    .await;
    // The queue goes away under the running relay.
    let conn = queue::connect(AMQP).await.expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    ch.queue_delete(
        env.topology.samples_queue().as_str().into(),
        Default::default(),
    )
    .await
    .expect("delete the queue");
    env.intake
        .email(sample_email("10-alternative-rfc2047.eml"), None)
        .await
        .expect("second");
    eventually(Duration::from_secs(20), "the broker's return", || async {
        (env.intake.metrics.relay_returned.get() > 0).then_some(())
    })
    .await;
    // The relay's next session declares the queue again and the job lands.
    eventually(
        Duration::from_secs(30),
        "the job published again",
        || async { (env.count(pending).await == 0).then_some(()) },
    )
    .await;
    let depth = env
        .topology
        .depth(&ch, &env.topology.samples_queue())
        .await
        .expect("the queue is back");
    assert_eq!(depth, 1, "the second job is in the queue");
    let _ = stop_tx.send(true);
    let _ = relay.await;
    intake::store::queue::close(&conn, "test").await;
    env.cleanup().await;
}

/// Samples at rest are neutered: after every demo email has gone through,
/// no file under the blob store holds the EICAR string, and every sample
/// and raw input reads back to its digest.
#[tokio::test]
async fn no_stored_file_holds_a_live_sample() {
    let env = Env::new().await;
    let mut names: Vec<_> = std::fs::read_dir(harness::root().join("samples/email"))
        .expect("samples")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    for n in &names {
        env.intake
            .email(sample_email(n), None)
            .await
            .expect("ingest");
    }
    let mut files = 0;
    let mut stack = vec![env.blob_dir.path().to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes
                    .windows(b"EICAR-STANDARD".len())
                    .any(|w| w == b"EICAR-STANDARD"),
                "{} holds EICAR",
                path.display()
            );
        }
    }
    assert!(files > names.len(), "{files} files");
    let read = env
        .assert_blobs_read_back(
            "SELECT sha256 FROM samples UNION SELECT raw_sha256 FROM inbound
             UNION SELECT sha256 FROM rejected_items WHERE sha256 IS NOT NULL",
        )
        .await;
    assert!(read > names.len());
    env.cleanup().await;
}

/// A reply joins its SR only with proof that it comes from the customer: a
/// trusted, aligned authentication pass, or the SR's reply token. A forged
/// From (failed checks, a header the sender wrote, a token with a wrong MAC
/// or another SR's token) becomes a new held SR, linked to the one it
/// names, and nothing of it is queued for analysis.
#[tokio::test]
async fn a_reply_joins_its_sr_only_with_proof_of_origin() {
    let env = Env::new().await;
    let mut intake = env.intake.clone();
    intake.mail = std::sync::Arc::new(intake::ingest::MailPolicy {
        trusted_authserv_ids: vec!["mx.lab.example".to_owned()],
        ..(*env.intake.mail).clone()
    });
    let first = intake
        .email(sample_email("02-needs-info-gbk-aes256.eml"), None)
        .await
        .expect("first");
    let key = &intake.mail.answers.reply_key;
    let token_to = key.reply_to("samples@lab.example", &first.sr_number);
    // The same reply each time, from li.wei, whose domain is entitled to the
    // SR's grant: it gives the missing DAT version, so joining would
    // complete the needs_info submission and queue its two files.
    let reply = |id: &str, headers: &str, to: &str| {
        format!(
            "{headers}From: li.wei@example.cn\r\nTo: {to}\r\nMessage-ID: <{id}>\r\nSubject: Re: [{sr}] x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDAT Version: 5390\r\n",
            sr = first.sr_number,
        )
        .into_bytes()
    };
    let held = |r: &intake::store::record::Recorded| {
        assert_ne!(r.sr_number, first.sr_number, "joined without proof");
        assert!(r.sr_is_new);
        assert_eq!(r.jobs, 0, "nothing of a held reply is analysed");
        assert!(
            r.verification.to_string().contains("without proof"),
            "{}",
            r.verification
        );
    };
    let forged_auth = "Authentication-Results: mx.lab.example; spf=fail smtp.mailfrom=mallory@evil.test; dmarc=fail header.from=example.cn\r\n";
    let a = intake
        .email(
            reply("f1@evil.test", forged_auth, "samples@lab.example"),
            None,
        )
        .await
        .expect("forged");
    held(&a);
    // A pass written by the sender, from a server nobody trusts.
    let self_written = "Authentication-Results: mx.evil.test; spf=pass smtp.mailfrom=li.wei@example.cn; dmarc=pass header.from=example.cn\r\n";
    held(
        &intake
            .email(
                reply("f2@evil.test", self_written, "samples@lab.example"),
                None,
            )
            .await
            .expect("self-written"),
    );
    // A token with a wrong MAC.
    let mut bad = token_to.clone();
    let at = bad.find('@').expect("@") - 1;
    let flipped = if bad.as_bytes()[at] == b'a' { "b" } else { "a" };
    bad.replace_range(at..at + 1, flipped);
    held(
        &intake
            .email(reply("f3@evil.test", "", &bad), None)
            .await
            .expect("bad mac"),
    );
    // Another SR's token (Mallory's own SR) with the subject naming this
    // one: the token names Mallory's SR, to which li.wei is not entitled.
    let other = intake
        .email(
            b"From: mallory@evil.test\r\nMessage-ID: <m0@evil.test>\r\nSubject: hi\r\n\r\nhello\r\n"
                .to_vec(),
            None,
        )
        .await
        .expect("mallory's own SR");
    let other_to = key.reply_to("samples@lab.example", &other.sr_number);
    let b = intake
        .email(reply("f4@evil.test", "", &other_to), None)
        .await
        .expect("another SR's token");
    assert_ne!(b.sr_number, first.sr_number);
    assert_eq!(b.jobs, 0);
    // The held replies are linked from the SR they named.
    assert_eq!(
        env.count(
            "SELECT count(*) FROM events e JOIN service_requests sr ON sr.id = e.sr_id
             WHERE e.kind = 'reply.held_elsewhere' AND sr.status = 'needs_info'"
        )
        .await,
        3
    );
    assert_eq!(
        env.count("SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
            .await,
        0
    );
    // A trusted, aligned pass joins without a token...
    let pass = "Authentication-Results: mx.lab.example; spf=pass smtp.mailfrom=li.wei@example.cn; dkim=pass header.d=example.cn; dmarc=pass header.from=example.cn\r\n";
    let joined = intake
        .email(reply("ok1@example.cn", pass, "samples@lab.example"), None)
        .await
        .expect("authenticated");
    assert_eq!(joined.sr_number, first.sr_number);
    assert_eq!(joined.completes, Some(first.submission_id));
    assert!(joined.jobs > 0);
    // ...and so does the token.
    let by_token = intake
        .email(reply("ok2@example.cn", "", &token_to), None)
        .await
        .expect("token");
    assert_eq!(by_token.sr_number, first.sr_number);
    env.cleanup().await;
}

/// Each SR keeps its correspondence (the message in, the answer out), so
/// sent outbox rows can be pruned after their retention; a redelivery of
/// the input is still answered with its jobs.
#[tokio::test]
async fn correspondence_outlives_the_pruned_outbox() {
    let env = Env::new().await;
    let raw = sample_email("01-accepted-zipcrypto.eml");
    let first = env.intake.email(raw.clone(), None).await.expect("first");
    assert!(first.jobs > 0);
    let (inn, out): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE direction = 'in' AND subject IS NOT NULL AND message_id IS NOT NULL),
                count(*) FILTER (WHERE direction = 'out' AND answer->>'body' IS NOT NULL)
         FROM correspondence",
    )
    .fetch_one(&env.pool)
    .await
    .expect("correspondence");
    assert_eq!((inn, out), (1, 1));
    // Everything was sent eight days ago; the retention is seven.
    sqlx::query("UPDATE outbox SET published_at = now() - interval '8 days'")
        .execute(&env.pool)
        .await
        .expect("age");
    let pruned = outbox::prune(
        &env.pool,
        chrono::Utc::now() - chrono::Duration::days(7),
        10_000,
    )
    .await
    .expect("prune");
    assert_eq!(pruned as usize, first.jobs + 1);
    assert_eq!(env.count("SELECT count(*) FROM outbox").await, 0);
    assert_eq!(
        env.count(
            "SELECT count(*) FROM correspondence WHERE direction = 'out' AND answer IS NOT NULL"
        )
        .await,
        1
    );
    let again = env.intake.email(raw, None).await.expect("again");
    assert!(again.duplicate);
    assert_eq!(again.jobs, first.jobs);
    env.cleanup().await;
}

/// A reply is judged together with its SR: "Any update?" is a customer
/// update (the SR stays in analysis, no refusal is mailed), and files sent
/// without the form join the SR under its grant, its latest facts filling
/// in what the reply leaves out. (Both used to move the SR backwards: to
/// `open` with "No file could be accepted", and to `unverified`.)
#[tokio::test]
async fn a_reply_never_moves_its_sr_backwards() {
    let env = Env::new().await;
    let raw = String::from_utf8(sample_email("01-accepted-zipcrypto.eml")).expect("utf-8");
    let first = env
        .intake
        .email(raw.clone().into_bytes(), None)
        .await
        .expect("first");
    assert_eq!(first.outcome, Outcome::Accepted);
    let to = env
        .intake
        .mail
        .answers
        .reply_key
        .reply_to("samples@lab.example", &first.sr_number);
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM service_requests")
            .fetch_one(&env.pool)
            .await
            .expect("status")
    };
    let answers = "SELECT count(*) FROM outbox WHERE kind = 'mail.answer'";
    assert_eq!(status().await, "in_analysis");
    assert_eq!(env.count(answers).await, 1);

    let update = format!(
        "From: bob@acme.example\r\nTo: {to}\r\nMessage-ID: <upd@acme.example>\r\nSubject: Re: [{}] x\r\n\r\nAny update?\r\n",
        first.sr_number
    );
    let u = env
        .intake
        .email(update.into_bytes(), None)
        .await
        .expect("update");
    assert_eq!(u.sr_number, first.sr_number);
    assert_eq!(status().await, "in_analysis");
    assert_eq!(
        env.count(answers).await,
        1,
        "no refusal mailed for an update"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.customer_update'")
            .await,
        1
    );

    // The same files again, with a note and no form.
    let boundary = "--=_intake_demo_outer";
    let text_start = raw.find(boundary).expect("first part");
    let text_end = raw[text_start + boundary.len()..]
        .find(boundary)
        .map(|i| i + text_start + boundary.len())
        .expect("next part");
    let files_only = format!(
        "{}{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOne more file for you.\r\n\r\n{}",
        &raw[..text_start],
        &raw[text_end..]
    )
    .replace("<demo-01@acme.example>", "<files@acme.example>")
    .replace("To: samples@lab.example", &format!("To: {to}"))
    .replace(
        "Subject: Suspicious files from ACME",
        &format!("Subject: Re: [{}] more", first.sr_number),
    );
    let f = env
        .intake
        .email(files_only.into_bytes(), None)
        .await
        .expect("files only");
    assert_eq!(f.sr_number, first.sr_number);
    assert_eq!(f.outcome, Outcome::Accepted, "the SR's facts fill the form");
    assert!(f.verification.is_verified(), "{}", f.verification);
    assert!(f.jobs > 0);
    assert_eq!(status().await, "in_analysis");
    env.cleanup().await;
}

/// The replay loop's age and the leases read the application's clock: with
/// a clock the test holds, an input stored at T is left alone at T+119 s
/// and taken at T+121 s by a replay of inputs two minutes old.
#[tokio::test]
async fn replay_age_follows_the_application_clock() {
    let env = Env::new().await;
    // Whole seconds: PostgreSQL keeps microseconds.
    let t0 = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 86_400, 0)
        .expect("a time");
    let clock = intake::clock::ManualClock::at(t0);
    let mut intake = env.intake.clone();
    intake.clock = clock.clone();
    let raw = std::sync::Arc::new(sample_email("09-forwarded-rfc822.eml"));
    intake.receive_email(raw, None).await.expect("stored");
    let age = Duration::from_secs(120);
    clock.advance(chrono::Duration::seconds(119));
    assert_eq!(intake.replay_older_than(age).await.expect("replay"), 0);
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(intake.replay_older_than(age).await.expect("replay"), 1);
    let recorded: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT opened_at FROM service_requests")
            .fetch_one(&env.pool)
            .await
            .expect("opened");
    assert_eq!(recorded, t0 + chrono::Duration::seconds(121));
    env.cleanup().await;
}

/// A try whose inbound row was written but whose blob was not (the disk
/// full, or a crash between the two) was answered 4xx; the replay finds the
/// row without its bytes and parks it. The sender's next try brings the
/// bytes: the input goes back to be decided instead of waiting for staff.
/// (Found by `intake load` with the blob store filled.)
#[tokio::test]
async fn a_parked_input_without_its_bytes_is_decided_when_its_sender_tries_again() {
    let env = Env::new().await;
    let raw = std::sync::Arc::new(sample_email("01-accepted-zipcrypto.eml"));
    env.intake
        .receive_email(raw.clone(), None)
        .await
        .expect("stored");
    // The blob is lost, as when the disk was full.
    let sha = intake::digest::Sha256::of(&raw).to_hex();
    let mut stack = vec![env.blob_dir.path().to_path_buf()];
    let mut removed = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&sha))
            {
                std::fs::remove_file(&p).expect("rm");
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 1);
    assert_eq!(env.intake.replay_pending().await.expect("replay"), 0);
    assert_eq!(
        env.count("SELECT count(*) FROM inbound WHERE state = 'failed'")
            .await,
        1,
        "parked: its bytes are missing"
    );
    // The sender tries again.
    let again = env.intake.email(raw.to_vec(), None).await.expect("decided");
    assert_eq!(again.outcome, Outcome::Accepted);
    assert_eq!(
        env.count("SELECT count(*) FROM inbound WHERE state = 'recorded'")
            .await,
        1
    );
    assert_eq!(env.count("SELECT count(*) FROM submissions").await, 1);
    env.cleanup().await;
}

/// A NUL anywhere a customer writes (subject, the form's fields) is kept as
/// U+FFFD: PostgreSQL refuses NUL in text and JSON, and the input must be
/// recorded, not parked as failed.
#[tokio::test]
async fn nul_characters_in_what_the_customer_wrote_are_recorded() {
    let env = Env::new().await;
    let raw = b"From: Bob <bob@acme.example>\r\n\
To: samples@localhost\r\n\
Subject: =?utf-8?q?pop=00ups?=\r\n\
Message-ID: <nul-1@acme.example>\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Grant Number: 4321-0001\r\n\
Symptoms: pop\x00ups everywhere\r\n"
        .to_vec();
    let rec = env
        .intake
        .email(raw, None)
        .await
        .expect("recorded, not failed");
    assert!(!rec.duplicate);
    let (subject, symptoms): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT c.subject, s.metadata->>'symptoms' FROM submissions s
         JOIN correspondence c ON c.submission_id = s.id AND c.direction = 'in'
         WHERE s.id = $1",
    )
    .bind(rec.submission_id)
    .fetch_one(&env.pool)
    .await
    .expect("row");
    assert_eq!(subject.as_deref(), Some("pop\u{FFFD}ups"));
    assert!(symptoms.is_some_and(|s| s.starts_with("pop\u{FFFD}ups")));
    env.cleanup().await;
}

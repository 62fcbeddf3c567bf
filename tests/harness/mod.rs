//! A private PostgreSQL database, RabbitMQ queue prefix and blob folder per
//! test, against the real services, removed when the test ends.
#![allow(dead_code)]

pub mod tools;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake::decide::Policy;
use intake::ingest::Intake;
use intake::metrics::Metrics;
use intake::store::blob::{Blobs, LocalBlobs};
use intake::store::queue::{self, Topology};
use sqlx::PgPool;

pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub struct Env {
    pub db_name: String,
    pub pool: PgPool,
    pub topology: Topology,
    pub prefix: String,
    pub intake: Intake,
    pub blob_dir: tempfile::TempDir,
}

pub fn base_url() -> String {
    std::env::var("INTAKE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

impl Env {
    pub async fn new() -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("intake_test_{}", &id[..12]);
        let pool = intake::store::database::migrate(&format!("{}/{db_name}", base_url()), 5)
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (see .ci/run)");
        let prefix = format!("test-{}", &id[..12]);
        let topology = Topology::new(&prefix);
        let blob_dir = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::Local(LocalBlobs::open(blob_dir.path()).expect("blobs"));
        let intake = Intake {
            pool: pool.clone(),
            blobs,
            policy: Arc::new(Policy::default()),
            metrics: Metrics::new(),
            outbox_wake: Default::default(),
            clock: intake::clock::system(),
            mail: Default::default(),
        };
        let conn = queue::connect(AMQP)
            .await
            .expect("RabbitMQ must run on 127.0.0.1:5672");
        let ch = conn.create_channel().await.expect("channel");
        topology.declare(&ch, 200).await.expect("topology");
        intake::store::queue::close(&conn, "setup").await;
        let env = Env {
            db_name,
            pool,
            topology,
            prefix,
            intake,
            blob_dir,
        };
        env.import_grants().await;
        env
    }

    async fn import_grants(&self) {
        let csv = std::fs::read(root().join("samples/grants.csv")).expect("grants.csv");
        let grants = intake::store::grants::parse_csv(&csv[..]).expect("csv");
        intake::store::grants::import(&self.pool, &grants)
            .await
            .expect("import");
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Asserts that every digest `sql` selects reads back from the blob
    /// store to bytes of that digest; returns how many there were.
    pub async fn assert_blobs_read_back(&self, sql: &'static str) -> usize {
        let digests: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&self.pool)
            .await
            .expect("digests");
        for d in &digests {
            let digest: intake::digest::Sha256 = d.parse().expect("digest");
            let bytes = self.intake.blobs.get(&digest).expect("reads back");
            assert_eq!(intake::digest::Sha256::of(&bytes), digest);
        }
        digests.len()
    }

    /// Drops the database and queues (best effort).
    pub async fn cleanup(self) {
        self.pool.close().await;
        if let Ok(conn) = queue::connect(AMQP).await {
            if let Ok(ch) = conn.create_channel().await {
                for q in [
                    self.topology.samples_queue(),
                    self.topology.retry_queue(),
                    self.topology.dead_queue(),
                ] {
                    let _ = ch.queue_delete(q.into(), Default::default()).await;
                }
                for x in [
                    self.topology.jobs_exchange(),
                    self.topology.retry_exchange(),
                    self.topology.dead_exchange(),
                ] {
                    let _ = ch.exchange_delete(x.into(), Default::default()).await;
                }
            }
            intake::store::queue::close(&conn, "cleanup").await;
        }
        if let Ok(admin) = PgPool::connect(&format!("{}/postgres", base_url())).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.db_name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
        }
    }
}

/// The repository root (also from the workers package's tests).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("samples").is_dir() {
        here
    } else {
        here.parent().map(PathBuf::from).unwrap_or(here)
    }
}

pub fn sample_email(name: &str) -> Vec<u8> {
    std::fs::read(root().join("samples/email").join(name)).expect("sample")
}

/// Polls `check` until it yields `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port nothing listens on now, in a range away from the services' and
/// the kernel's ephemeral ports, and never one this test process handed out
/// before: a test takes several before it binds any, and two alike made one
/// of its servers fail to listen for the whole test (seen once in CI).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let r = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().expect("2"));
        let port = 20_000 + r % 12_000;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}

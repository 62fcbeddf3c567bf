//! What every load tool starts from: a private PostgreSQL database holding
//! one grant (`B-1`, domain `bench.example`), and an [`Intake`] over it with
//! a temporary blob folder. Dropped again by [`BenchDb::remove`].

use std::sync::Arc;

use intake::decide::Policy;
use intake::ingest::Intake;
use intake::metrics::Metrics;
use intake::store::blob::{Blobs, LocalBlobs};
use intake::store::{database, grants};

pub const PG: &str = "postgres://postgres@127.0.0.1:5432";

pub struct BenchDb {
    pub name: String,
    pub pool: sqlx::PgPool,
    pub intake: Intake,
    _blobs: tempfile::TempDir,
}

impl BenchDb {
    /// `id` makes the database name unique to this run.
    pub async fn new(id: &str, connections: u32) -> BenchDb {
        let name = format!("intake_bench_{id}");
        // As intake's default: no TLS on loopback.
        let pool = database::migrate(&format!("{PG}/{name}?sslmode=disable"), connections)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        let csv = b"grant_number,company,email_domains,support_level,expires_on\nB-1,Bench,bench.example,gold,\n";
        grants::import(&pool, &grants::parse_csv(&csv[..]).expect("csv"))
            .await
            .expect("grants");
        let blobs = tempfile::tempdir_in(".").expect("tmp");
        let intake = Intake {
            pool: pool.clone(),
            blobs: Blobs::Local(LocalBlobs::open(blobs.path()).expect("blobs")),
            policy: Arc::new(Policy::default()),
            metrics: Metrics::new(),
            outbox_wake: Default::default(),
            clock: intake::clock::system(),
            mail: Default::default(),
        };
        BenchDb {
            name,
            pool,
            intake,
            _blobs: blobs,
        }
    }

    pub async fn remove(self) {
        self.pool.close().await;
        if let Ok(admin) = sqlx::PgPool::connect(&format!("{PG}/postgres")).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
        }
    }
}

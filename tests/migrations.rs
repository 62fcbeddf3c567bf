//! Migrations that rewrite data keep it: a database made by the earlier
//! migrations, holding what the code of that time wrote, reads back as the
//! types of today after `intake migrate`.

mod harness;

use intake::sr::{SrNumber, Verification};
use sqlx::Connection;

/// Submissions whose verification was stored as prose (before 0011) read
/// back as `Verification` data with the same facts.
#[tokio::test]
async fn prose_verifications_become_data() {
    let name = format!(
        "intake_mig_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let base = harness::base_url();
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (see .ci/run)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create");
    let url = format!("{base}/{name}");
    let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
    // The migrations before 0011, applied as `intake migrate` applied them.
    let old = tempfile::tempdir().expect("tmp");
    for e in std::fs::read_dir(harness::root().join("migrations")).expect("migrations") {
        let path = e.expect("entry").path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if file
            .as_bytes()
            .get(..4)
            .is_some_and(|v| v < b"0011".as_slice())
        {
            std::fs::copy(&path, old.path().join(file)).expect("copy");
        }
    }
    sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("old migrations")
        .run(&mut db)
        .await
        .expect("applied");
    sqlx::raw_sql(
        r#"INSERT INTO grants (grant_number, company) VALUES ('G-1', 'ACME');
           INSERT INTO service_requests (sr_number, severity) VALUES ('SR-2026-000001', 3);
           INSERT INTO inbound (channel, external_id, raw_sha256, raw_size)
               SELECT 'email', 'm' || g, 'x', 1 FROM generate_series(1, 7) g;
           INSERT INTO submissions (id, inbound_id, sr_id, outcome, verification, metadata, report)
           VALUES
            (gen_random_uuid(), 1, 1, 'accepted', 'verified', '{"grant_number": " G-1 "}', '{}'),
            (gen_random_uuid(), 2, 1, 'accepted', 'unverified: no grant number given', '{}', '{}'),
            (gen_random_uuid(), 3, 1, 'accepted', 'unverified: unknown grant number "G-9"', '{}', '{}'),
            (gen_random_uuid(), 4, 1, 'accepted', 'unverified: grant G-1 expired on 2026-01-01', '{}', '{}'),
            (gen_random_uuid(), 5, 1, 'accepted', 'unverified: no sender address', '{}', '{}'),
            (gen_random_uuid(), 6, 1, 'accepted',
             'unverified: evil.example is not registered for grant G-1', '{}', '{}'),
            (gen_random_uuid(), 7, 1, 'accepted',
             'unverified: names SR-2026-000001 without proof it comes from the customer (no reply token (nor a pass))',
             '{}', '{}');"#,
    )
    .execute(&mut db)
    .await
    .expect("rows as the old code wrote them");
    let prose: Vec<String> =
        sqlx::query_scalar("SELECT verification FROM submissions ORDER BY inbound_id")
            .fetch_all(&mut db)
            .await
            .expect("prose");
    db.close().await.expect("close");

    let pool = intake::store::database::migrate(&url, 2)
        .await
        .expect("migrate");
    let rows: Vec<sqlx::types::Json<Verification>> =
        sqlx::query_scalar("SELECT verification FROM submissions ORDER BY inbound_id")
            .fetch_all(&pool)
            .await
            .expect("data");
    let data: Vec<Verification> = rows.into_iter().map(|j| j.0).collect();
    assert_eq!(
        data,
        [
            Verification::Verified {
                grant: "G-1".into()
            },
            Verification::NoGrantNumber,
            Verification::UnknownGrant {
                grant: "G-9".into()
            },
            Verification::Expired {
                grant: "G-1".into(),
                on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            },
            Verification::NoSender,
            Verification::DomainNotRegistered {
                grant: "G-1".into(),
                domain: "evil.example".into(),
            },
            Verification::UnprovenReply {
                sr: SrNumber::new(2026, 1),
                why: "no reply token (nor a pass)".into(),
            },
        ]
    );
    // The data says what the prose said.
    for (d, p) in data.iter().zip(&prose) {
        assert_eq!(&d.to_string(), p);
    }
    pool.close().await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
}

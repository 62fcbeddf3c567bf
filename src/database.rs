//! The PostgreSQL connection: connecting eagerly (so an unreachable server is
//! one clear error at start-up, not a pool time-out later), creating the
//! database when it is missing, and applying `migrations/`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

/// Connecting or migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("PostgreSQL is not reachable at {target} ({source})")]
    Unreachable {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("bad database URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error("creating database {name}: {source}")]
    Create {
        name: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The embedded migrations of `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to `url`, creating its database first if it does not exist, and
/// applies the migrations.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DatabaseError> {
    let opts = PgConnectOptions::from_str(url).map_err(DatabaseError::BadUrl)?;
    let target = format!("{}:{}", opts.get_host(), opts.get_port());
    let unreachable = |source| DatabaseError::Unreachable {
        target: target.clone(),
        source,
    };
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    let mut admin = opts
        .clone()
        .database("postgres")
        .connect()
        .await
        .map_err(unreachable)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await
        .map_err(unreachable)?;
    if exists.is_none() {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        let created = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await;
        // Another process may have created it meanwhile; that is fine.
        if let Err(e) = created {
            let raced = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42P04");
            if !raced {
                return Err(DatabaseError::Create { name, source: e });
            }
        }
    }
    let _ = admin.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .map_err(unreachable)?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The shared secret `name` (see `migrations/0007_secrets.sql`).
pub async fn secret(pool: &PgPool, name: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
}

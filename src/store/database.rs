//! The PostgreSQL connection: connecting eagerly (so an unreachable server is
//! one clear error at start-up, not a pool time-out later), and who owns the
//! schema. Only [`migrate`] (`intake migrate`, and `intake demo` on its own
//! database) creates the database and applies `migrations/`, so the runtime
//! role needs no DDL rights and a pipe delivery never waits on the migration
//! lock; every other process [`connect`]s and stops with one line when the
//! schema is behind.

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
    #[error(
        "the database schema is at version {have}, this intake needs {want}: run `intake migrate`"
    )]
    SchemaBehind { have: i64, want: i64 },
    #[error("reading the schema version: {0}")]
    Schema(#[source] sqlx::Error),
}

/// The embedded migrations of `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to `url` and checks that its schema is the one this build
/// needs; it never changes the schema.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DatabaseError> {
    let pool = open(url, max_connections).await?;
    check_schema(&pool).await?;
    Ok(pool)
}

/// Creates the database of `url` if it does not exist, applies the
/// migrations, and returns a pool on it.
pub async fn migrate(url: &str, max_connections: u32) -> Result<PgPool, DatabaseError> {
    create_database(url).await?;
    let pool = open(url, max_connections).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The newest migration this build carries.
pub fn schema_wanted() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Fails when the database has not had every migration this build needs.
pub async fn check_schema(pool: &PgPool) -> Result<(), DatabaseError> {
    let want = schema_wanted();
    let have: Option<i64> =
        match sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
        {
            Ok(v) => v,
            // No migrations table: a database no `intake migrate` has seen.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => None,
            Err(e) => return Err(DatabaseError::Schema(e)),
        };
    let have = have.unwrap_or(0);
    if have < want {
        return Err(DatabaseError::SchemaBehind { have, want });
    }
    Ok(())
}

/// Creates the database `url` names when it is missing.
async fn create_database(url: &str) -> Result<(), DatabaseError> {
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
    Ok(())
}

/// A pool on `url`, connected eagerly.
async fn open(url: &str, max_connections: u32) -> Result<PgPool, DatabaseError> {
    let opts = PgConnectOptions::from_str(url).map_err(DatabaseError::BadUrl)?;
    let target = format!("{}:{}", opts.get_host(), opts.get_port());
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await
        .map_err(|source| DatabaseError::Unreachable { target, source })
}

/// The shared secret `name` (see `migrations/0007_secrets.sql`).
pub async fn secret(pool: &PgPool, name: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
}

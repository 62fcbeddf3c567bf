//! Lab staff accounts: added, disabled and listed by an operator
//! (`intake staff`), each change an event with who made it. Staff sign in
//! through the same account code as customers, in their own realm.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::account::Role;

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("a staff account for {0} exists already")]
    Exists(String),
    #[error("no staff account for {0}")]
    NoSuch(String),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

/// One staff account as `intake staff list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

async fn log(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    by: &str,
    at: DateTime<Utc>,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), StaffError> {
    super::events::append(&mut **tx, by, None, at, kind, &detail).await?;
    Ok(())
}

/// Adds a staff account (its address proven by whoever adds it).
pub async fn add(
    pool: &PgPool,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<i64, StaffError> {
    let email = email.trim().to_lowercase();
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO accounts (realm, email, name, role, password_hash, created_at, confirmed_at)
         VALUES ('staff', $1, $2, $3, $4, $5, $5)
         ON CONFLICT (realm, email) DO NOTHING RETURNING id",
    )
    .bind(&email)
    .bind(name)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| StaffError::Exists(email.clone()))?;
    log(
        &mut tx,
        by,
        now,
        "staff.added",
        serde_json::json!({ "email": email, "role": role }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Disables a staff account: it signs in no more, its sessions end and its
/// API tokens stop working.
pub async fn disable(
    pool: &PgPool,
    email: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), StaffError> {
    let email = email.trim().to_lowercase();
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "UPDATE accounts SET disabled_at = $2
         WHERE realm = 'staff' AND email = $1 AND disabled_at IS NULL RETURNING id",
    )
    .bind(&email)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| StaffError::NoSuch(email.clone()))?;
    sqlx::query("DELETE FROM sessions WHERE account_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    log(
        &mut tx,
        by,
        now,
        "staff.disabled",
        serde_json::json!({ "email": email }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes an API token named `name` for the enabled staff account `email`
/// (for scripts using the triage API); its secret is returned this once.
pub async fn token(
    pool: &PgPool,
    email: &str,
    name: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<crate::account::token::Secret, StaffError> {
    let email = email.trim().to_lowercase();
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM accounts WHERE realm = 'staff' AND email = $1 AND disabled_at IS NULL",
    )
    .bind(&email)
    .fetch_optional(pool)
    .await?;
    let id = id.ok_or_else(|| StaffError::NoSuch(email.clone()))?;
    let secret = super::accounts::create_token(pool, id, name, now)
        .await
        .map_err(|e| StaffError::Inconsistent(e.to_string()))?
        .ok_or_else(|| StaffError::NoSuch(email.clone()))?;
    let mut tx = pool.begin().await?;
    let detail = serde_json::json!({ "email": email, "name": name });
    log(&mut tx, by, now, "staff.token_created", detail).await?;
    tx.commit().await?;
    Ok(secret)
}

/// Every staff account, by address.
pub async fn list(pool: &PgPool) -> Result<Vec<Member>, StaffError> {
    type Row = (
        String,
        String,
        Option<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT email, name, role, created_at, disabled_at FROM accounts
         WHERE realm = 'staff' ORDER BY email",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(email, name, role, created_at, disabled_at)| {
            let role = role
                .as_deref()
                .unwrap_or("")
                .parse()
                .map_err(StaffError::Inconsistent)?;
            Ok(Member {
                email,
                name,
                role,
                created_at,
                disabled_at,
            })
        })
        .collect()
}

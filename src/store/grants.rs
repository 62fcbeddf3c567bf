//! The grants table: importing the entitlement list (CSV) and looking a
//! grant up. The rules that use a grant are `sr::entitlement`'s.

use std::io::Read;

use chrono::NaiveDate;
use serde::Deserialize;
use sqlx::PgPool;

use crate::sr::Grant;

/// A CSV row: `grant_number,company,email_domains,support_level,expires_on`,
/// domains separated by `;`, the date as YYYY-MM-DD or empty.
#[derive(Debug, Deserialize)]
struct Row {
    grant_number: String,
    company: String,
    email_domains: String,
    #[serde(default)]
    support_level: Option<String>,
    #[serde(default)]
    expires_on: Option<String>,
}

/// Importing grants failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {why}")]
    Row { line: u64, why: String },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Parses a grants CSV (with a header line).
pub fn parse_csv(input: impl Read) -> Result<Vec<Grant>, ImportError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut out = Vec::new();
    for rec in rdr.deserialize::<Row>() {
        let row = rec?;
        let line = out.len() as u64 + 2;
        if row.grant_number.is_empty() {
            return Err(ImportError::Row {
                line,
                why: "empty grant number".into(),
            });
        }
        let expires_on =
            match row.expires_on.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
                    ImportError::Row {
                        line,
                        why: format!("expires_on {s:?}: {e}"),
                    }
                })?),
                None => None,
            };
        out.push(Grant {
            grant_number: row.grant_number,
            company: row.company,
            email_domains: row
                .email_domains
                .split([';', ' '])
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            support_level: row
                .support_level
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "standard".into()),
            expires_on,
        });
    }
    Ok(out)
}

/// Inserts or updates `grants`; returns how many were written.
pub async fn import(pool: &PgPool, grants: &[Grant]) -> Result<usize, ImportError> {
    let mut tx = pool.begin().await?;
    for g in grants {
        sqlx::query(
            "INSERT INTO grants (grant_number, company, email_domains, support_level, expires_on)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (grant_number) DO UPDATE SET company = EXCLUDED.company,
                 email_domains = EXCLUDED.email_domains, support_level = EXCLUDED.support_level,
                 expires_on = EXCLUDED.expires_on, imported_at = now()",
        )
        .bind(&g.grant_number)
        .bind(&g.company)
        .bind(&g.email_domains)
        .bind(&g.support_level)
        .bind(g.expires_on)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(grants.len())
}

/// A grant as a row of `grants` (number, company, domains, level, expiry).
pub(crate) type GrantRow = (String, String, Vec<String>, String, Option<NaiveDate>);

impl Grant {
    pub(crate) fn from_row(row: GrantRow) -> Grant {
        let (grant_number, company, email_domains, support_level, expires_on) = row;
        Grant {
            grant_number,
            company,
            email_domains,
            support_level,
            expires_on,
        }
    }
}

/// The grant with `number`, if imported.
pub async fn find<'e, E>(db: E, number: &str) -> Result<Option<Grant>, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    // A NUL cannot be in a grant number (PostgreSQL refuses it in text).
    if number.contains('\0') {
        return Ok(None);
    }
    let row: Option<GrantRow> = sqlx::query_as(
        "SELECT grant_number, company, email_domains, support_level, expires_on
         FROM grants WHERE grant_number = $1",
    )
    .bind(number.trim())
    .fetch_optional(db)
    .await?;
    Ok(row.map(Grant::from_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_import_parses_domains_and_dates() {
        let csv = "grant_number,company,email_domains,support_level,expires_on\nG-1, ACME ,acme.example;@Corp.Example,gold,2030-01-01\nG-2,Solo,solo.example,,\n";
        let grants = parse_csv(csv.as_bytes()).expect("parses");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].company, "ACME");
        assert_eq!(grants[0].email_domains, ["acme.example", "corp.example"]);
        assert_eq!(grants[1].support_level, "standard");
        assert_eq!(grants[1].expires_on, None);
        assert!(
            parse_csv(
                "grant_number,company,email_domains,support_level,expires_on\nG,C,d,s,31/12/2030\n"
                    .as_bytes()
            )
            .is_err()
        );
    }
}

/// Why a grant's calendar could not be read or set.
#[derive(Debug, thiserror::Error)]
pub enum CalendarStoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("no grant {0}")]
    NoSuchGrant(String),
    #[error("grant {grant}: {why}")]
    Invalid {
        grant: String,
        why: crate::sr::calendar::CalendarError,
    },
    #[error("grant {grant}: the stored calendar does not read: {why}")]
    Unreadable { grant: String, why: String },
}

/// The business-day calendar of `grant` (the default, Monday to Friday in
/// UTC, when none is set).
pub async fn calendar<'e, E>(
    db: E,
    grant: &str,
) -> Result<crate::sr::calendar::Calendar, CalendarStoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    use crate::sr::calendar::{Calendar, CalendarSpec};
    let row: Option<Option<serde_json::Value>> =
        sqlx::query_scalar("SELECT calendar FROM grants WHERE grant_number = $1")
            .bind(grant)
            .fetch_optional(db)
            .await?;
    let Some(stored) = row else {
        return Err(CalendarStoreError::NoSuchGrant(grant.to_owned()));
    };
    let Some(v) = stored else {
        return Ok(Calendar::default());
    };
    let spec: CalendarSpec =
        serde_json::from_value(v).map_err(|e| CalendarStoreError::Unreadable {
            grant: grant.to_owned(),
            why: e.to_string(),
        })?;
    Calendar::try_from(&spec).map_err(|why| CalendarStoreError::Invalid {
        grant: grant.to_owned(),
        why,
    })
}

/// Sets `grant`'s calendar (checked first); an event records who did.
pub async fn set_calendar(
    pool: &PgPool,
    grant: &str,
    spec: &crate::sr::calendar::CalendarSpec,
    by: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), CalendarStoreError> {
    crate::sr::calendar::Calendar::try_from(spec).map_err(|why| CalendarStoreError::Invalid {
        grant: grant.to_owned(),
        why,
    })?;
    let value = serde_json::to_value(spec).map_err(|e| CalendarStoreError::Unreadable {
        grant: grant.to_owned(),
        why: e.to_string(),
    })?;
    let mut tx = pool.begin().await?;
    let done = sqlx::query("UPDATE grants SET calendar = $2 WHERE grant_number = $1")
        .bind(grant)
        .bind(&value)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(CalendarStoreError::NoSuchGrant(grant.to_owned()));
    }
    let detail = serde_json::json!({ "grant": grant, "calendar": value });
    super::events::append(&mut *tx, by, None, now, "grant.calendar_set", &detail).await?;
    tx.commit().await?;
    Ok(())
}

//! What the database knows before a recording is planned: an earlier
//! recording of the same input, the SR an input names (locked) with its open
//! needs_info submission and latest facts, the grant the facts name, and the
//! next SR number.

use chrono::{DateTime, Datelike, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::decide::metadata::Metadata;
use crate::sr::{Grant, Severity, SrNumber, Verification};
use crate::store::deadlines;

use super::plan::{Earlier, Linked, NamedSr, Owner};
use super::{RecordError, Recorded};

/// The grant `named`, and (when `take_number`) the next SR number, in one
/// round trip. The number is taken before writing because the answer
/// composed with the rows quotes it; a failed write leaves a gap, as
/// sequences do.
pub(super) async fn grant_and_number<'e>(
    db: impl sqlx::PgExecutor<'e>,
    named: Option<&str>,
    take_number: bool,
    now: DateTime<Utc>,
) -> Result<(Option<Grant>, Option<SrNumber>), RecordError> {
    type Row = (
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<Vec<String>>,
        Option<String>,
        Option<chrono::NaiveDate>,
    );
    let (seq, number, company, domains, level, expires): Row = sqlx::query_as(
        "SELECT CASE WHEN $2 THEN nextval('sr_number_seq') END, g.grant_number, g.company,
                g.email_domains, g.support_level, g.expires_on
         FROM (SELECT 1) one LEFT JOIN grants g ON g.grant_number = $1",
    )
    .bind(named.map(str::trim))
    .bind(take_number)
    .fetch_one(db)
    .await?;
    let grant = match (number, company, domains, level) {
        (Some(n), Some(c), Some(d), Some(l)) => Some(Grant::from_row((n, c, d, l, expires))),
        _ => None,
    };
    let number = seq.map(|seq| sr_number(seq, now)).transpose()?;
    Ok((grant, number))
}

fn sr_number(seq: i64, now: DateTime<Utc>) -> Result<SrNumber, RecordError> {
    let year = u16::try_from(now.year()).map_err(RecordError::inconsistent)?;
    let seq = u32::try_from(seq).map_err(RecordError::inconsistent)?;
    Ok(SrNumber::new(year, seq))
}

/// The SR `number` names, locked, with its grant.
pub(super) async fn named_sr(
    tx: &mut Transaction<'_, Postgres>,
    number: &SrNumber,
) -> Result<Option<NamedSr>, RecordError> {
    type Row = (
        i64,
        i16,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<String>,
        Option<String>,
    );
    let sql = concat!(
        "SELECT id, severity, status, closed_from, closed_at, customer_email, grant_number, ",
        deadlines::columns!(),
        " FROM service_requests WHERE sr_number = $1 FOR UPDATE"
    );
    let Some(pg) = sqlx::query(sql)
        .bind(number.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let clock = deadlines::from_row(&pg)?;
    let (id, severity, status, closed_from, closed_at, customer, grant_number): Row =
        sqlx::FromRow::from_row(&pg)?;
    let owner = match grant_number {
        Some(g) => Owner::Grant {
            grant: crate::store::grants::find(&mut **tx, &g).await?,
            number: g,
        },
        // An SR without a grant belongs to whoever opened it.
        None => Owner::Customer(customer),
    };
    Ok(Some(NamedSr {
        id,
        number: number.clone(),
        severity: Severity::try_from(severity)
            .map_err(|_| RecordError::Inconsistent(format!("severity of {number}")))?,
        status: status.parse().map_err(RecordError::Inconsistent)?,
        closed_from: closed_from.and_then(|s| s.parse().ok()),
        closed_at,
        deadlines: clock,
        owner,
        earlier: None,
        latest: None,
    }))
}

/// Reads what a reply joining `sr` is judged with: its open needs_info
/// submission (locked, so two replies do not both complete it), else its
/// latest facts.
pub(super) async fn history(
    tx: &mut Transaction<'_, Postgres>,
    sr: &mut NamedSr,
) -> Result<(), RecordError> {
    sr.earlier = open_needs_info(tx, sr.id).await?;
    if sr.earlier.is_none() {
        sr.latest = latest_metadata(tx, sr.id).await?;
    }
    Ok(())
}

async fn open_needs_info(
    tx: &mut Transaction<'_, Postgres>,
    sr_id: i64,
) -> Result<Option<Earlier>, RecordError> {
    let row: Option<(Uuid, sqlx::types::Json<Metadata>)> = sqlx::query_as(
        "SELECT id, metadata FROM submissions
         WHERE sr_id = $1 AND outcome = 'needs_info' AND completed_by IS NULL
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(sr_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, metadata)) = row else {
        return Ok(None);
    };
    let rows: Vec<(String, String, i64, String, serde_json::Value)> = sqlx::query_as(
        "SELECT ss.path, ss.sha256, s.size, s.kind, ss.warnings
         FROM submission_samples ss JOIN samples s ON s.sha256 = ss.sha256
         WHERE ss.submission_id = $1 ORDER BY ss.id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let samples = rows
        .into_iter()
        .map(|(path, sha, size, kind, warnings)| {
            let bad = |what: &str| RecordError::Inconsistent(format!("{what} of sample {sha:?}"));
            Ok(Linked {
                path,
                sha256: sha.parse().map_err(|_| bad("digest"))?,
                size: u64::try_from(size).map_err(|_| bad("size"))?,
                kind: serde_json::from_value(serde_json::Value::String(kind))
                    .map_err(|_| bad("kind"))?,
                warnings,
            })
        })
        .collect::<Result<_, RecordError>>()?;
    Ok(Some(Earlier {
        id,
        metadata: metadata.0,
        samples,
    }))
}

/// The facts of the SR's latest submission, preferring one that named a
/// grant.
async fn latest_metadata(
    tx: &mut Transaction<'_, Postgres>,
    sr_id: i64,
) -> Result<Option<Metadata>, RecordError> {
    let row: Option<sqlx::types::Json<Metadata>> = sqlx::query_scalar(
        "SELECT metadata FROM submissions WHERE sr_id = $1
         ORDER BY (metadata->>'grant_number' IS NOT NULL) DESC, created_at DESC LIMIT 1",
    )
    .bind(sr_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|m| m.0))
}

/// The earlier recording of `inbound_id`, if any.
pub(super) async fn existing<'e>(
    db: impl sqlx::PgExecutor<'e>,
    inbound_id: i64,
) -> Result<Option<Recorded>, RecordError> {
    type Row = (
        Uuid,
        String,
        i16,
        String,
        sqlx::types::Json<Verification>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.id, sr.sr_number, sr.severity, s.outcome, s.verification, s.jobs::bigint
         FROM submissions s JOIN service_requests sr ON sr.id = s.sr_id
         WHERE s.inbound_id = $1",
    )
    .bind(inbound_id)
    .fetch_optional(db)
    .await?;
    let Some((id, number, severity, outcome, verification, jobs)) = row else {
        return Ok(None);
    };
    let bad = |what: &str| RecordError::Inconsistent(format!("{what} of submission {id}"));
    Ok(Some(Recorded {
        submission_id: id,
        sr_number: number.parse().map_err(|_| bad("SR number"))?,
        sr_is_new: false,
        severity: Severity::try_from(severity).map_err(|_| bad("severity"))?,
        outcome: serde_json::from_value(serde_json::Value::String(outcome))
            .map_err(|_| bad("outcome"))?,
        verification: verification.0,
        jobs: usize::try_from(jobs).map_err(|_| bad("jobs"))?,
        completes: None,
        answered: false,
        duplicate: true,
    }))
}

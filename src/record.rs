//! Turning one decision into durable state, in one transaction: the service
//! request (new, or the one the input references when the sender may add to
//! it), the submission, samples (deduplicated by SHA-256), rejected items,
//! events and the outbox rows the relay will publish. Recording the same
//! inbound input twice changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::grants;
use crate::queue::{SAMPLES, SampleJob};
use crate::report::{Outcome, Report};
use crate::support::{self, Severity, SrNumber, Tier};

/// What is being recorded.
pub struct Recording<'a> {
    /// The inbound row the input was stored as.
    pub inbound_id: i64,
    pub report: &'a Report,
    /// The subject (mail) or title (portal): may reference an SR number.
    pub subject: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// What was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub submission_id: Uuid,
    pub sr_number: SrNumber,
    pub sr_is_new: bool,
    pub severity: Severity,
    pub outcome: Outcome,
    pub verification: String,
    /// Analysis jobs queued in the outbox.
    pub jobs: usize,
    /// This input had been recorded before; nothing changed.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

/// Records `r` in one transaction.
pub async fn record(pool: &PgPool, r: Recording<'_>) -> Result<Recorded, RecordError> {
    let mut tx = pool.begin().await?;
    if let Some(done) = existing(&mut tx, r.inbound_id).await? {
        tx.rollback().await?;
        return Ok(done);
    }
    let report = r.report;
    let meta = &report.metadata;
    let grant = match meta.grant_number.as_deref() {
        Some(g) => grants::find(&mut *tx, g).await?,
        None => None,
    };
    let verification = grants::verify(
        meta.grant_number.as_deref(),
        grant.as_ref(),
        report.sender.as_deref(),
        r.now.date_naive(),
    );
    let queue_jobs = report.outcome == Outcome::Accepted && verification.is_verified();
    let status = match (report.outcome, verification.is_verified()) {
        (Outcome::Rejected, _) => "open",
        (_, false) => "unverified",
        (Outcome::NeedsInfo, true) => "needs_info",
        (Outcome::Accepted, true) => "in_analysis",
    };

    let (sr_id, sr_number, severity, sr_is_new) = match referenced_sr(
        &mut tx,
        r.subject,
        report.sender.as_deref(),
    )
    .await?
    {
        Some((id, number, severity)) => {
            sqlx::query(
                    "UPDATE service_requests SET status = $2 WHERE id = $1 AND status NOT IN ('resolved', 'closed')",
                )
                .bind(id)
                .bind(status)
                .execute(&mut *tx)
                .await?;
            (id, number, severity, false)
        }
        None => {
            let (severity, why) = support::assess(meta, report);
            let (id, number) = open_sr(&mut tx, &r, severity, status, grant.is_some()).await?;
            event(
                &mut tx,
                id,
                None,
                "sr.opened",
                serde_json::json!({ "severity": severity.level(), "why": why, "tier": "L1" }),
            )
            .await?;
            (id, number, severity, true)
        }
    };

    let submission_id = Uuid::new_v4();
    let missing: Vec<&str> = report.missing_fields.iter().map(|f| f.key()).collect();
    sqlx::query(
        "INSERT INTO submissions (id, inbound_id, sr_id, sender, outcome, verification,
                                  missing_fields, metadata, report)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(submission_id)
    .bind(r.inbound_id)
    .bind(sr_id)
    .bind(report.sender.as_deref())
    .bind(report.outcome.as_str())
    .bind(verification.describe())
    .bind(&missing)
    .bind(sqlx::types::Json(&report.metadata))
    .bind(sqlx::types::Json(report))
    .execute(&mut *tx)
    .await?;

    // One row per distinct sample, however many paths it came by.
    let mut distinct = BTreeMap::new();
    for s in &report.samples {
        distinct.entry(s.sha256).or_insert(s);
    }
    let (shas, sizes, kinds): (Vec<String>, Vec<i64>, Vec<&str>) = distinct
        .values()
        .map(|s| (s.sha256.to_hex(), s.size as i64, s.kind.as_str()))
        .fold((vec![], vec![], vec![]), |mut acc, (a, b, c)| {
            acc.0.push(a);
            acc.1.push(b);
            acc.2.push(c);
            acc
        });
    sqlx::query(
        "INSERT INTO samples (sha256, size, kind)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])
         ON CONFLICT (sha256) DO UPDATE SET last_seen = now()",
    )
    .bind(&shas)
    .bind(&sizes)
    .bind(&kinds)
    .execute(&mut *tx)
    .await?;

    let link_sha: Vec<String> = report.samples.iter().map(|s| s.sha256.to_hex()).collect();
    let link_path: Vec<&str> = report.samples.iter().map(|s| s.path.as_str()).collect();
    let link_warn: Vec<serde_json::Value> = report
        .samples
        .iter()
        .map(|s| serde_json::json!(s.warnings))
        .collect();
    sqlx::query(
        "INSERT INTO submission_samples (submission_id, sha256, path, warnings)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::jsonb[])",
    )
    .bind(submission_id)
    .bind(&link_sha)
    .bind(&link_path)
    .bind(&link_warn)
    .execute(&mut *tx)
    .await?;

    let rej = &report.rejected;
    sqlx::query(
        "INSERT INTO rejected_items (submission_id, path, sha256, size, reason, detail)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])",
    )
    .bind(submission_id)
    .bind(rej.iter().map(|x| x.path.as_str()).collect::<Vec<_>>())
    .bind(
        rej.iter()
            .map(|x| x.sha256.map(|d| d.to_hex()))
            .collect::<Vec<_>>(),
    )
    .bind(rej.iter().map(|x| x.size as i64).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>())
    .bind(rej.iter().map(|x| x.detail.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    event(
        &mut tx,
        sr_id,
        Some(submission_id),
        "submission.recorded",
        serde_json::json!({
            "outcome": report.outcome.as_str(),
            "verification": verification.describe(),
            "samples": report.samples.len(),
            "rejected": report.rejected.len(),
            "missing_fields": missing,
        }),
    )
    .await?;

    let mut jobs = 0;
    if queue_jobs {
        let mut payloads = Vec::new();
        for s in distinct.values() {
            let job = SampleJob {
                job_id: Uuid::new_v4(),
                sha256: s.sha256,
                size: s.size,
                kind: s.kind,
                sr_number: sr_number.clone(),
                submission_id,
                severity,
                attempt: 1,
            };
            payloads.push(
                serde_json::to_value(&job).map_err(|e| RecordError::Inconsistent(e.to_string()))?,
            );
        }
        jobs = payloads.len();
        sqlx::query(
            "INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT 'sample.analyse', $1, $2, * FROM UNNEST($3::jsonb[])",
        )
        .bind(SAMPLES)
        .bind(i16::from(severity.priority()))
        .bind(&payloads)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify('intake_outbox', '')")
            .execute(&mut *tx)
            .await?;
    } else if report.outcome == Outcome::Accepted {
        event(
            &mut tx,
            sr_id,
            Some(submission_id),
            "submission.held",
            serde_json::json!({ "why": verification.describe() }),
        )
        .await?;
    }

    sqlx::query("UPDATE inbound SET state = 'recorded', error = NULL WHERE id = $1")
        .bind(r.inbound_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Recorded {
        submission_id,
        sr_number,
        sr_is_new,
        severity,
        outcome: report.outcome,
        verification: verification.describe(),
        jobs,
        duplicate: false,
    })
}

/// The earlier recording of `inbound_id`, if any.
async fn existing(
    tx: &mut Transaction<'_, Postgres>,
    inbound_id: i64,
) -> Result<Option<Recorded>, RecordError> {
    let row: Option<(Uuid, String, i16, String, String, i64)> = sqlx::query_as(
        "SELECT s.id, sr.sr_number, sr.severity, s.outcome, s.verification,
                (SELECT count(*) FROM outbox o WHERE o.payload->>'submission_id' = s.id::text)
         FROM submissions s JOIN service_requests sr ON sr.id = s.sr_id
         WHERE s.inbound_id = $1",
    )
    .bind(inbound_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, number, severity, outcome, verification, jobs)) = row else {
        return Ok(None);
    };
    let bad = |what: &str| RecordError::Inconsistent(format!("{what} of submission {id}"));
    Ok(Some(Recorded {
        submission_id: id,
        sr_number: number.parse().map_err(|_| bad("SR number"))?,
        sr_is_new: false,
        severity: u8::try_from(severity)
            .ok()
            .and_then(Severity::new)
            .ok_or_else(|| bad("severity"))?,
        outcome: serde_json::from_value(serde_json::Value::String(outcome))
            .map_err(|_| bad("outcome"))?,
        verification,
        jobs: jobs as usize,
        duplicate: true,
    }))
}

/// The SR the subject references, if the sender is entitled to its grant.
async fn referenced_sr(
    tx: &mut Transaction<'_, Postgres>,
    subject: Option<&str>,
    sender: Option<&str>,
) -> Result<Option<(i64, SrNumber, Severity)>, RecordError> {
    let (Some(number), Some(sender)) = (subject.and_then(SrNumber::find_in), sender) else {
        return Ok(None);
    };
    let row: Option<(i64, Option<String>, i16, Option<String>)> = sqlx::query_as(
        "SELECT id, grant_number, severity, customer_email FROM service_requests
         WHERE sr_number = $1 FOR UPDATE",
    )
    .bind(number.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, grant_number, severity, customer)) = row else {
        return Ok(None);
    };
    let entitled = match grant_number {
        Some(g) => grants::find(&mut **tx, &g)
            .await?
            .is_some_and(|g| grants::entitled(&g, sender)),
        // An SR without a grant belongs to whoever opened it.
        None => customer.is_some_and(|c| c.eq_ignore_ascii_case(sender)),
    };
    let severity = u8::try_from(severity).ok().and_then(Severity::new);
    Ok(match (entitled, severity) {
        (true, Some(s)) => Some((id, number, s)),
        _ => None,
    })
}

async fn open_sr(
    tx: &mut Transaction<'_, Postgres>,
    r: &Recording<'_>,
    severity: Severity,
    status: &str,
    grant_known: bool,
) -> Result<(i64, SrNumber), RecordError> {
    let seq: i64 = sqlx::query_scalar("SELECT nextval('sr_number_seq')")
        .fetch_one(&mut **tx)
        .await?;
    let year = u16::try_from(r.now.year()).unwrap_or(0);
    let number = SrNumber::new(year, u32::try_from(seq).unwrap_or(u32::MAX));
    let (escalate, update) = support::deadlines(severity, Tier::L1, r.now);
    let grant = r
        .report
        .metadata
        .grant_number
        .as_deref()
        .filter(|_| grant_known);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_requests (sr_number, grant_number, customer_email, severity, status,
                                       tier, opened_at, escalation_due, next_update_due)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(number.to_string())
    .bind(grant)
    .bind(r.report.sender.as_deref())
    .bind(i16::from(severity.level()))
    .bind(status)
    .bind(Tier::L1.as_str())
    .bind(r.now)
    .bind(escalate)
    .bind(update)
    .fetch_one(&mut **tx)
    .await?;
    Ok((id, number))
}

async fn event(
    tx: &mut Transaction<'_, Postgres>,
    sr_id: i64,
    submission_id: Option<Uuid>,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), RecordError> {
    sqlx::query(
        "INSERT INTO events (actor, sr_id, submission_id, kind, detail) VALUES ('intake', $1, $2, $3, $4)",
    )
    .bind(sr_id)
    .bind(submission_id)
    .bind(kind)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

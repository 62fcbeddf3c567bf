//! Outbreaks: one file (by SHA-256) sent by many customers. It is analysed
//! once (the workers skip analysers already recorded for it) and one staff
//! verdict answers every SR holding it ([`super::act`]). Here: the cluster
//! of one file (how many SRs and companies, first and last seen), and the
//! outbreak queue — files without a staff verdict that `companies`
//! different companies sent within `within` of each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::TriageError;
use crate::digest::Sha256;

/// When a file's cluster becomes an outbreak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Different companies...
    pub companies: u32,
    /// ...within this many hours of each other.
    pub within_hours: u32,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold {
            companies: 3,
            within_hours: 24,
        }
    }
}

/// Who holds one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub srs: i64,
    pub companies: i64,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The company an SR counts for: its grant's, else its customer's domain
/// (an SR held as unverified may have no grant).
macro_rules! company {
    () => {
        "COALESCE(g.company, split_part(sr.customer_email, '@', 2), sr.sr_number)"
    };
}

/// The cluster of `sha256`.
pub async fn cluster<'e, E>(db: E, sha256: &Sha256) -> Result<Cluster, TriageError>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: (i64, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(concat!(
        "SELECT count(DISTINCT sr.id), count(DISTINCT ",
        company!(),
        "), min(s.created_at), max(s.created_at)
         FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
         JOIN service_requests sr ON sr.id = s.sr_id
         LEFT JOIN grants g ON g.grant_number = sr.grant_number
         WHERE ss.sha256 = $1"
    ))
    .bind(sha256.to_hex())
    .fetch_one(db)
    .await?;
    Ok(Cluster {
        srs: row.0,
        companies: row.1,
        first_seen: row.2,
        last_seen: row.3,
    })
}

/// One outbreak of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outbreak {
    pub sha256: Sha256,
    /// A name a customer gave the file (for recognition only).
    pub path: String,
    pub kind: String,
    pub provisional: Option<String>,
    /// The open SRs holding it: the ones a verdict answers.
    pub open_srs: i64,
    /// One of them, to act from.
    pub an_sr: Option<String>,
    #[serde(flatten)]
    pub cluster: Cluster,
}

/// Most outbreaks listed.
pub const LISTED: i64 = 200;

/// The files without a staff verdict that `t.companies` companies sent
/// within `t.within_hours` of each other, most companies first.
pub async fn queue(pool: &PgPool, t: Threshold) -> Result<Vec<Outbreak>, TriageError> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        i64,
        Option<String>,
        i64,
        i64,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let within = f64::from(t.within_hours) * 3600.0;
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "WITH held AS (
             SELECT ss.sha256, s.created_at AS at, ",
        company!(),
        " AS who, sr.id AS sr_id, sr.status, sr.sr_number, ss.path
             FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
             JOIN service_requests sr ON sr.id = s.sr_id
             LEFT JOIN grants g ON g.grant_number = sr.grant_number
             WHERE ss.sha256 IN (
                 SELECT x.sha256 FROM submission_samples x
                 JOIN submissions xs ON xs.id = x.submission_id
                 GROUP BY x.sha256 HAVING count(DISTINCT xs.sr_id) >= $1)
               AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.sha256 = ss.sha256
                               AND v.decided_by <> 'analysis')),
         raised AS (
             SELECT DISTINCT a.sha256 FROM held a JOIN held b
               ON b.sha256 = a.sha256 AND b.at >= a.at
                  AND b.at <= a.at + make_interval(secs => $2)
             GROUP BY a.sha256, a.at HAVING count(DISTINCT b.who) >= $1)
         SELECT h.sha256, min(h.path), smp.kind, v.verdict,
                count(DISTINCT h.sr_id) FILTER (WHERE h.status <> 'closed'),
                min(h.sr_number) FILTER (WHERE h.status <> 'closed'),
                count(DISTINCT h.sr_id), count(DISTINCT h.who), min(h.at), max(h.at)
         FROM held h JOIN raised r ON r.sha256 = h.sha256
         JOIN samples smp ON smp.sha256 = h.sha256
         LEFT JOIN verdicts v ON v.sha256 = h.sha256
         GROUP BY h.sha256, smp.kind, v.verdict
         ORDER BY count(DISTINCT h.who) DESC, max(h.at) DESC, h.sha256
         LIMIT $3"
    ))
    .bind(i64::from(t.companies.max(1)))
    .bind(within)
    .bind(LISTED)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Outbreak {
                sha256: r
                    .0
                    .parse()
                    .map_err(|_| TriageError::Inconsistent("a sample's sha256".into()))?,
                path: r.1,
                kind: r.2,
                provisional: r.3,
                open_srs: r.4,
                an_sr: r.5,
                cluster: Cluster {
                    srs: r.6,
                    companies: r.7,
                    first_seen: r.8,
                    last_seen: r.9,
                },
            })
        })
        .collect()
}

//! The staff's queues, as data: which SRs each holds, ordered by the next
//! deadline of any kind (escalation or the customer's update), soonest
//! first, read page by page with a keyset cursor (never OFFSET, so a deep
//! page costs what the first does). What breached its deadline says by
//! how long.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::TriageError;
use crate::sr::{Severity, SrNumber, Status, Tier};

/// A queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Every open SR, the next deadline first.
    Urgent,
    /// The open SRs of one severity.
    Severity(Severity),
    /// Held until staff check the entitlement.
    Unverified,
    /// Waiting on the customer.
    NeedsInfo,
    /// With an analysis that was dead-lettered.
    Dead,
}

impl std::str::FromStr for Queue {
    type Err = String;

    fn from_str(s: &str) -> Result<Queue, String> {
        match s {
            "urgent" => Ok(Queue::Urgent),
            "unverified" => Ok(Queue::Unverified),
            "needs_info" => Ok(Queue::NeedsInfo),
            "dead" => Ok(Queue::Dead),
            _ => s
                .strip_prefix("sev")
                .and_then(|n| n.parse::<u8>().ok())
                .and_then(Severity::new)
                .map(Queue::Severity)
                .ok_or_else(|| {
                    format!(
                        "{s:?} is not a queue (urgent, sev1..sev5, unverified, needs_info, dead)"
                    )
                }),
        }
    }
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Queue::Urgent => f.write_str("urgent"),
            Queue::Severity(s) => write!(f, "sev{s}"),
            Queue::Unverified => f.write_str("unverified"),
            Queue::NeedsInfo => f.write_str("needs_info"),
            Queue::Dead => f.write_str("dead"),
        }
    }
}

/// One SR in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: SrNumber,
    pub severity: Severity,
    pub tier: Tier,
    pub status: Status,
    pub channel: String,
    pub company: Option<String>,
    pub next_due: Option<DateTime<Utc>>,
    pub opened_at: DateTime<Utc>,
    /// Its place, for the next page's cursor.
    pub key: Key,
}

/// Where a page ends: the last line's deadline (none sorts last, as the
/// year 9999) and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub due: DateTime<Utc>,
    pub id: i64,
}

impl fmt::Display for Key {
    /// `RFC 3339 deadline,id`, as `--after` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.due.to_rfc3339(), self.id)
    }
}

impl std::str::FromStr for Key {
    type Err = String;

    fn from_str(s: &str) -> Result<Key, String> {
        let bad = || format!("{s:?} is not a page key (deadline,id)");
        let (due, id) = s.rsplit_once(',').ok_or_else(bad)?;
        Ok(Key {
            due: DateTime::parse_from_rfc3339(due)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// How long ago the deadline passed, if it has.
pub fn breached_by(next_due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<TimeDelta> {
    next_due.filter(|d| *d <= now).map(|d| now - d)
}

/// How late, for people: `3d 4h`, `2h 05m`, `12m`.
pub fn late(d: TimeDelta) -> String {
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h {minutes:02}m"),
        (d, h) => format!("{d}d {h}h"),
    }
}

/// Every queue, in the order the staff pages show them.
pub fn all() -> Vec<Queue> {
    let mut v = vec![Queue::Urgent];
    v.extend((1..=5).filter_map(Severity::new).map(Queue::Severity));
    v.extend([Queue::Unverified, Queue::NeedsInfo, Queue::Dead]);
    v
}

/// How many SRs each queue holds, in [`all`]'s order.
pub async fn counts(pool: &PgPool) -> Result<Vec<(Queue, i64)>, TriageError> {
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let r: Row = sqlx::query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE severity = 1), count(*) FILTER (WHERE severity = 2),
                count(*) FILTER (WHERE severity = 3), count(*) FILTER (WHERE severity = 4),
                count(*) FILTER (WHERE severity = 5),
                count(*) FILTER (WHERE status = 'unverified'),
                count(*) FILTER (WHERE status = 'needs_info'),
                count(*) FILTER (WHERE EXISTS (
                    SELECT 1 FROM submissions s JOIN analysis_jobs j ON j.submission_id = s.id
                    WHERE s.sr_id = sr.id AND j.state = 'dead'))
         FROM service_requests sr WHERE status <> 'closed'",
    )
    .fetch_one(pool)
    .await?;
    Ok(all()
        .into_iter()
        .zip([r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8])
        .collect())
}

/// A queue's page of up to `limit` lines after `after`.
pub async fn page(
    pool: &PgPool,
    queue: Queue,
    after: Option<Key>,
    limit: i64,
) -> Result<Vec<Line>, TriageError> {
    type Row = (
        i64,
        String,
        i16,
        String,
        String,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
        DateTime<Utc>,
    );
    let (kind, severity) = match queue {
        Queue::Urgent => ("urgent", 0),
        Queue::Severity(s) => ("severity", i16::from(s.level())),
        Queue::Unverified => ("unverified", 0),
        Queue::NeedsInfo => ("needs_info", 0),
        Queue::Dead => ("dead", 0),
    };
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT sr.id, sr.sr_number, sr.severity, sr.tier, sr.status, sr.channel, g.company,
                LEAST(sr.escalation_due, sr.next_update_due),
                COALESCE(LEAST(sr.escalation_due, sr.next_update_due), '9999-12-31T00:00:00Z'::timestamptz),
                sr.opened_at
         FROM service_requests sr LEFT JOIN grants g ON g.grant_number = sr.grant_number
         WHERE sr.status <> 'closed'
           AND CASE $1
                 WHEN 'severity' THEN sr.severity = $2
                 WHEN 'unverified' THEN sr.status = 'unverified'
                 WHEN 'needs_info' THEN sr.status = 'needs_info'
                 WHEN 'dead' THEN EXISTS (
                     SELECT 1 FROM submissions s JOIN analysis_jobs j ON j.submission_id = s.id
                     WHERE s.sr_id = sr.id AND j.state = 'dead')
                 ELSE true END
           AND ($3::timestamptz IS NULL
                OR (COALESCE(LEAST(sr.escalation_due, sr.next_update_due),
                             '9999-12-31T00:00:00Z'::timestamptz), sr.id) > ($3, $4))
         ORDER BY COALESCE(LEAST(sr.escalation_due, sr.next_update_due), '9999-12-31T00:00:00Z'::timestamptz), sr.id
         LIMIT $5",
    )
    .bind(kind)
    .bind(severity)
    .bind(after.map(|k| k.due))
    .bind(after.map_or(0, |k| k.id))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(
            |(id, number, severity, tier, status, channel, company, next_due, due, opened_at)| {
                let bad = |what: &str| TriageError::Inconsistent(format!("{what} of SR {id}"));
                Ok(Line {
                    number: number.parse().map_err(|_| bad("number"))?,
                    severity: Severity::try_from(severity).map_err(|_| bad("severity"))?,
                    tier: tier.parse().map_err(|_| bad("tier"))?,
                    status: status.parse().map_err(|_| bad("status"))?,
                    channel,
                    company,
                    next_due,
                    opened_at,
                    key: Key { due, id },
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_by_name() {
        for name in ["urgent", "sev1", "sev5", "unverified", "needs_info", "dead"] {
            let q: Queue = name.parse().expect(name);
            assert_eq!(q.to_string(), name);
        }
        assert!("sev6".parse::<Queue>().is_err());
        assert!("all".parse::<Queue>().is_err());
    }

    #[test]
    fn lateness_reads_for_people() {
        assert_eq!(late(TimeDelta::minutes(12)), "12m");
        assert_eq!(late(TimeDelta::minutes(125)), "2h 05m");
        assert_eq!(late(TimeDelta::hours(76)), "3d 4h");
        assert_eq!(all().len(), 9);
    }

    #[test]
    fn page_keys_read_back() {
        let k = Key {
            due: DateTime::from_timestamp(1_796_000_000, 123_000).unwrap_or_default(),
            id: 42,
        };
        assert_eq!(k.to_string().parse::<Key>(), Ok(k));
        assert!("yesterday,1".parse::<Key>().is_err());
    }

    #[test]
    fn a_deadline_breached_says_by_how_long() {
        let now = DateTime::<Utc>::MIN_UTC + TimeDelta::days(1000);
        assert_eq!(breached_by(None, now), None);
        assert_eq!(breached_by(Some(now + TimeDelta::seconds(1)), now), None);
        assert_eq!(breached_by(Some(now), now), Some(TimeDelta::zero()));
        assert_eq!(
            breached_by(Some(now - TimeDelta::minutes(90)), now),
            Some(TimeDelta::minutes(90))
        );
    }
}

//! The staff's queues, as data: which SRs each holds, ordered by the next
//! deadline of any kind (escalation or the customer's update), soonest
//! first, read page by page with a keyset cursor (never OFFSET, so a deep
//! page costs what the first does). What breached its deadline says by
//! how long.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::TriageError;
use crate::analysis::verdict::Provisional;
use crate::decide::report::Channel;
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
    pub channel: Channel,
    pub company: Option<String>,
    /// The staff member working on it, by address.
    pub assignee: Option<String>,
    pub next_due: Option<DateTime<Utc>>,
    /// Its clock is stopped: it waits on the customer.
    pub waiting: bool,
    pub opened_at: DateTime<Utc>,
    /// Its place, for the next page's cursor.
    pub key: Key,
}

impl Line {
    /// How long ago its deadline passed, if it has and its clock runs (an
    /// SR waiting on the customer breaches nothing).
    pub fn late_by(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        breached_by(self.next_due, now).filter(|_| !self.waiting)
    }
}

/// Whom an SR is assigned to, as a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    /// The staff member looking (so a shared "mine" link means the reader's).
    Me,
    Email(String),
}

/// A view's filters; every field narrows it. Kept in the URL (see
/// [`Filter::pairs`]), so a view can be bookmarked and shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub status: Option<Status>,
    pub tier: Option<Tier>,
    pub severity: Option<Severity>,
    pub channel: Option<Channel>,
    pub assignee: Option<Assignee>,
    /// An SR holding a sample with this verdict (analysis's provisional
    /// one, or staff's once they gave one).
    pub verdict: Option<Provisional>,
    /// A grant number, or a company's name (case-insensitive, in part).
    pub grant: Option<String>,
    /// Opened at least this many days ago.
    pub older_than_days: Option<u32>,
}

/// The filter keys of the URL, in [`Filter::pairs`]' order.
pub const FILTER_KEYS: [&str; 8] = [
    "status",
    "tier",
    "severity",
    "channel",
    "assignee",
    "verdict",
    "grant",
    "older_than_days",
];

impl Filter {
    /// The filter of a query's `(key, value)` pairs, taken as they are;
    /// empty values are no filter, unknown keys are left to the caller.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Filter, String> {
        let mut f = Filter::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            let bad = |what: &str| format!("{v:?} is not a {what}");
            match k {
                "status" => f.status = Some(v.parse()?),
                "tier" => f.tier = Some(v.parse()?),
                "severity" => {
                    f.severity = (1..=5)
                        .find(|n: &u8| n.to_string() == v)
                        .and_then(Severity::new);
                    f.severity.ok_or_else(|| bad("severity (1 to 5)"))?;
                }
                "channel" => f.channel = Some(v.parse()?),
                "assignee" => {
                    f.assignee = Some(match v {
                        "none" => Assignee::Nobody,
                        "me" => Assignee::Me,
                        email if is_address(email) => Assignee::Email(email.to_lowercase()),
                        _ => return Err(bad("assignee (me, none or an address)")),
                    });
                }
                "verdict" => f.verdict = Some(v.parse()?),
                // PostgreSQL refuses NUL in text, and no name holds one.
                "grant" if v.chars().count() <= 200 && !v.contains('\0') => {
                    f.grant = Some(v.to_owned())
                }
                "grant" => return Err(bad("grant or company")),
                "older_than_days" => {
                    f.older_than_days = Some(
                        Some(v)
                            .filter(|v| v.len() <= 5 && v.bytes().all(|b| b.is_ascii_digit()))
                            .and_then(|v| v.parse::<u32>().ok())
                            .ok_or_else(|| bad("number of days (up to 5 digits)"))?,
                    );
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// The filter as `(key, value)` pairs for a URL, only the set ones.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let assignee = self.assignee.as_ref().map(|a| match a {
            Assignee::Nobody => "none".to_owned(),
            Assignee::Me => "me".to_owned(),
            Assignee::Email(e) => e.clone(),
        });
        let values = [
            self.status.map(|s| s.as_str().to_owned()),
            self.tier.map(|t| t.as_str().to_owned()),
            self.severity.map(|s| s.to_string()),
            self.channel.map(|c| c.as_str().to_owned()),
            assignee,
            self.verdict.map(|v| v.as_str().to_owned()),
            self.grant.clone(),
            self.older_than_days.map(|d| d.to_string()),
        ];
        FILTER_KEYS
            .into_iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    /// Appends `AND …` for each set field, over `sr` (service_requests) and
    /// `g` (its grant); `me` is the reader's account id.
    fn push(&self, q: &mut QueryBuilder<Postgres>, me: i64, now: DateTime<Utc>) {
        if let Some(s) = self.status {
            q.push(" AND sr.status = ").push_bind(s.as_str());
        }
        if let Some(t) = self.tier {
            q.push(" AND sr.tier = ").push_bind(t.as_str());
        }
        if let Some(s) = self.severity {
            q.push(" AND sr.severity = ")
                .push_bind(i16::from(s.level()));
        }
        if let Some(c) = self.channel {
            q.push(" AND sr.channel = ").push_bind(c.as_str());
        }
        match &self.assignee {
            None => {}
            Some(Assignee::Nobody) => {
                q.push(" AND sr.assignee_id IS NULL");
            }
            Some(Assignee::Me) => {
                q.push(" AND sr.assignee_id = ").push_bind(me);
            }
            Some(Assignee::Email(e)) => {
                q.push(" AND sr.assignee_id = (SELECT id FROM accounts WHERE realm = 'staff' AND email = ")
                    .push_bind(e.clone())
                    .push(")");
            }
        }
        if let Some(v) = self.verdict {
            q.push(
                " AND EXISTS (SELECT 1 FROM submissions s
                   JOIN submission_samples ss ON ss.submission_id = s.id
                   JOIN verdicts v ON v.sha256 = ss.sha256
                   WHERE s.sr_id = sr.id AND v.verdict = ",
            )
            .push_bind(v.as_str())
            .push(")");
        }
        if let Some(g) = &self.grant {
            let like = format!(
                "%{}%",
                g.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            q.push(" AND (sr.grant_number = ")
                .push_bind(g.clone())
                .push(" OR g.company ILIKE ")
                .push_bind(like)
                .push(")");
        }
        if let Some(d) = self.older_than_days {
            q.push(" AND sr.opened_at <= ")
                .push_bind(now - TimeDelta::days(i64::from(d)));
        }
    }
}

/// `local@domain`, one `@`, both sides non-empty, 254 characters at most.
fn is_address(s: &str) -> bool {
    s.chars().count() <= 254
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
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

    /// Exactly the shape [`Key`]'s `Display` writes: `YYYY-MM-DDTHH:MM:SS`,
    /// an optional fraction, `Z` or an offset, a comma, the id's digits.
    fn from_str(s: &str) -> Result<Key, String> {
        let bad = || format!("{s:?} is not a page key (deadline,id)");
        let (due, id) = s
            .rsplit_once(',')
            .filter(|_| key_shaped(s))
            .ok_or_else(bad)?;
        Ok(Key {
            due: DateTime::parse_from_rfc3339(due)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// Whether `s` has a key's shape (the API's `after` pattern:
/// `YYYY-MM-DDTHH:MM:SS[.f]Z|±HH:MM,ID`), whether or not its date exists.
pub fn key_shaped(s: &str) -> bool {
    let Some((due, id)) = s.rsplit_once(',') else {
        return false;
    };
    if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let b = due.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let fixed = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut rest = &due[19..];
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &f[n..];
    }
    let o = rest.as_bytes();
    rest == "Z"
        || (o.len() == 6
            && matches!(o[0], b'+' | b'-')
            && o[1..3].iter().all(u8::is_ascii_digit)
            && o[3] == b':'
            && o[4..6].iter().all(u8::is_ascii_digit))
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

/// The condition that puts an open SR (`sr`) in `queue`.
fn holds(q: &mut QueryBuilder<Postgres>, queue: Queue) {
    match queue {
        Queue::Urgent => {}
        Queue::Severity(s) => {
            q.push(" AND sr.severity = ")
                .push_bind(i16::from(s.level()));
        }
        Queue::Unverified => {
            q.push(" AND sr.status = 'unverified'");
        }
        Queue::NeedsInfo => {
            q.push(" AND sr.status = 'needs_info'");
        }
        Queue::Dead => {
            q.push(
                " AND sr.id IN (SELECT s.sr_id FROM analysis_jobs j
                     JOIN submissions s ON s.id = j.submission_id WHERE j.state = 'dead')",
            );
        }
    }
}

/// The reader, for the filters that depend on who looks.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    pub account_id: i64,
    pub now: DateTime<Utc>,
}

/// How many SRs each queue holds under `filter`, in [`all`]'s order.
pub async fn counts(
    pool: &PgPool,
    filter: &Filter,
    reader: Reader,
) -> Result<Vec<(Queue, i64)>, TriageError> {
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64);
    let mut q = QueryBuilder::new(
        "SELECT count(*),
                count(*) FILTER (WHERE severity = 1), count(*) FILTER (WHERE severity = 2),
                count(*) FILTER (WHERE severity = 3), count(*) FILTER (WHERE severity = 4),
                count(*) FILTER (WHERE severity = 5),
                count(*) FILTER (WHERE status = 'unverified'),
                count(*) FILTER (WHERE status = 'needs_info')
         FROM service_requests sr LEFT JOIN grants g ON g.grant_number = sr.grant_number
         WHERE sr.status <> 'closed'",
    );
    filter.push(&mut q, reader.account_id, reader.now);
    let r: Row = q.build_query_as().fetch_one(pool).await?;
    // Few SRs have a dead analysis: counted from that side.
    let mut q = QueryBuilder::new(
        "SELECT count(*) FROM service_requests sr
         LEFT JOIN grants g ON g.grant_number = sr.grant_number
         WHERE sr.status <> 'closed'",
    );
    holds(&mut q, Queue::Dead);
    filter.push(&mut q, reader.account_id, reader.now);
    let dead: i64 = q.build_query_scalar().fetch_one(pool).await?;
    Ok(all()
        .into_iter()
        .zip([r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, dead])
        .collect())
}

/// A queue's page under `filter`: up to `limit` lines after `after`.
pub async fn page(
    pool: &PgPool,
    queue: Queue,
    filter: &Filter,
    reader: Reader,
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
        Option<String>,
        DateTime<Utc>,
        bool,
        DateTime<Utc>,
    );
    let mut q = QueryBuilder::new(
        "SELECT sr.id, sr.sr_number, sr.severity, sr.tier, sr.status, sr.channel, g.company,
                a.email, sr.next_due, sr.clock_paused_at IS NOT NULL, sr.opened_at
         FROM service_requests sr
         LEFT JOIN grants g ON g.grant_number = sr.grant_number
         LEFT JOIN accounts a ON a.id = sr.assignee_id
         WHERE sr.status <> 'closed'",
    );
    holds(&mut q, queue);
    filter.push(&mut q, reader.account_id, reader.now);
    if let Some(k) = after {
        q.push(" AND (sr.next_due, sr.id) > (")
            .push_bind(k.due)
            .push(", ")
            .push_bind(k.id)
            .push(")");
    }
    q.push(" ORDER BY sr.next_due, sr.id LIMIT ")
        .push_bind(limit);
    let rows: Vec<Row> = q.build_query_as().fetch_all(pool).await?;
    rows.into_iter()
        .map(|r| {
            let (
                id,
                number,
                severity,
                tier,
                status,
                channel,
                company,
                assignee,
                due,
                waiting,
                opened_at,
            ) = r;
            let bad = |what: &str| TriageError::Inconsistent(format!("{what} of SR {id}"));
            Ok(Line {
                number: number.parse().map_err(|_| bad("number"))?,
                severity: Severity::try_from(severity).map_err(|_| bad("severity"))?,
                tier: tier.parse().map_err(|_| bad("tier"))?,
                status: status.parse().map_err(|_| bad("status"))?,
                channel: channel.parse().map_err(|_| bad("channel"))?,
                company,
                assignee,
                next_due: (due < no_deadline()).then_some(due),
                waiting,
                opened_at,
                key: Key { due, id },
            })
        })
        .collect()
}

/// How `next_due` stores "no deadline" (sorting last).
pub(crate) fn no_deadline() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_filter_with_a_nul_is_refused() {
        assert!(Filter::parse([("grant", "ac\u{0}me")]).is_err());
        assert!(Filter::parse([("grant", "ACME Corp")]).is_ok());
    }

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
        for bad in [
            "2026-12-07 09:00:00Z,1",
            "2026-12-07t09:00:00z,1",
            "2026-12-07T09:00:00Z,+1",
            "2026-12-07T09:00:00Z,",
            "2026-12-07T09:00:00.Z,1",
            "2026-12-07T09:00:00+0100,1",
        ] {
            assert!(bad.parse::<Key>().is_err(), "{bad}");
        }
        assert!("2026-12-07T09:00:00.5+01:00,7".parse::<Key>().is_ok());
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

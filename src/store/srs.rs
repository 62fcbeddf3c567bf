//! Service requests as a signed-in customer sees and changes them: the
//! handbook's three lists, one SR with its updates and files, opening one,
//! adding an update, reopening. Every query carries the one visibility rule
//! ([`visible!`]): an SR of the account's company (any grant the company
//! holds) that is not held as unverified — an unverified SR names a grant it
//! may not belong to — unless the account opened it itself. What is not
//! visible is not found, so ids do not leak.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::answer::Correspondent;
use crate::decide::report::Channel;
use crate::sr::clock::Deadlines;
use crate::sr::{self, Event, Severity, SrNumber, Status, Tier};
use crate::store::accounts::Account;
use crate::store::deadlines;

/// The visibility rule, as SQL over `sr` (service_requests) with the
/// account's id as `$1` and its grant as `$2`.
macro_rules! visible {
    () => {
        "sr.grant_number IN (SELECT g.grant_number FROM grants g
                             WHERE g.company = (SELECT company FROM grants WHERE grant_number = $2))
         AND (sr.status <> 'unverified' OR sr.opened_by = $1)"
    };
}

#[derive(Debug, thiserror::Error)]
pub enum SrError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

/// The handbook's three views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// My SRs that are not closed.
    MyOpen,
    /// Every SR I opened (on the portal, or by mail from my address).
    Mine,
    /// Every SR of my company.
    Company,
}

impl View {
    pub fn parse(s: Option<&str>) -> View {
        match s {
            Some("mine") => View::Mine,
            Some("company") => View::Company,
            _ => View::MyOpen,
        }
    }
}

/// One line of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub number: SrNumber,
    pub title: Option<String>,
    pub status: Status,
    pub severity: Severity,
    pub opened_at: DateTime<Utc>,
    pub channel: String,
}

type LineRow = (String, Option<String>, String, i16, DateTime<Utc>, String);

fn line(row: LineRow) -> Result<Line, SrError> {
    let (number, title, status, severity, opened_at, channel) = row;
    Ok(Line {
        number: number.parse().map_err(SrError::Inconsistent)?,
        title,
        status: status.parse().map_err(SrError::Inconsistent)?,
        severity: Severity::try_from(severity)
            .map_err(|_| SrError::Inconsistent(format!("severity of {number}")))?,
        opened_at,
        channel,
    })
}

fn grant_of(a: &Account) -> &str {
    a.grant_number.as_deref().unwrap_or("")
}

/// Most lines a list shows (newest first).
pub const LIST_LIMIT: i64 = 200;

/// The SRs of `view` for `a`, newest first.
pub async fn list(pool: &PgPool, a: &Account, view: View) -> Result<Vec<Line>, SrError> {
    let rows: Vec<LineRow> = sqlx::query_as(concat!(
        "SELECT sr.sr_number, sr.title, sr.status, sr.severity, sr.opened_at, sr.channel
         FROM service_requests sr
         WHERE ",
        visible!(),
        " AND ($3 = 'company' OR sr.opened_by = $1 OR lower(sr.customer_email) = $4)
          AND ($3 <> 'my_open' OR sr.status <> 'closed')
         ORDER BY sr.opened_at DESC, sr.id DESC LIMIT $5"
    ))
    .bind(a.id)
    .bind(grant_of(a))
    .bind(match view {
        View::MyOpen => "my_open",
        View::Mine => "mine",
        View::Company => "company",
    })
    .bind(&a.email)
    .bind(LIST_LIMIT)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(line).collect()
}

/// One entry of an SR's history as the customer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Update {
    pub at: DateTime<Utc>,
    /// `in` (from the customer) or `out` (to the customer).
    pub direction: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// The files this update brought (an upload, an email's samples): an
    /// upload has no subject or text, and would otherwise read as nothing.
    pub files: Vec<String>,
}

/// A file of the SR, as the customer sees it (never its bytes).
#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub path: String,
    pub sha256: String,
    pub size: i64,
    pub kind: String,
}

/// One SR with its history.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    #[serde(flatten)]
    pub line: Line,
    pub grant_number: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub updates: Vec<Update>,
    pub files: Vec<File>,
}

/// The SR `number` if `a` may see it, with its id.
async fn find(pool: &PgPool, a: &Account, number: &str) -> Result<Option<(i64, Page)>, SrError> {
    // Not an SR number (or one PostgreSQL could not even compare, with a
    // NUL in it): nothing to find.
    if number.parse::<SrNumber>().is_err() {
        return Ok(None);
    }
    type Row = (
        i64,
        String,
        Option<String>,
        String,
        i16,
        DateTime<Utc>,
        String,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT sr.id, sr.sr_number, sr.title, sr.status, sr.severity, sr.opened_at, sr.channel,
                sr.grant_number, sr.closed_at, sr.resolution
         FROM service_requests sr WHERE sr.sr_number = $3 AND ",
        visible!()
    ))
    .bind(a.id)
    .bind(grant_of(a))
    .bind(number)
    .fetch_optional(pool)
    .await?;
    let Some((id, n, title, status, severity, opened_at, channel, grant, closed_at, resolution)) =
        row
    else {
        return Ok(None);
    };
    Ok(Some((
        id,
        Page {
            line: line((n, title, status, severity, opened_at, channel))?,
            grant_number: grant,
            closed_at,
            resolution,
            updates: Vec::new(),
            files: Vec::new(),
        },
    )))
}

/// The SR `number` if `a` may see it (to add files to it).
pub async fn visible(pool: &PgPool, a: &Account, number: &str) -> Result<Option<Line>, SrError> {
    Ok(find(pool, a, number).await?.map(|(_, page)| page.line))
}

/// Field `k` of a composed answer kept with a correspondence row (what an
/// outgoing letter said).
pub fn answer_field(answer: &Option<serde_json::Value>, k: &str) -> Option<String> {
    answer
        .as_ref()
        .and_then(|a| a.get(k))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// A correspondence row: when, which way, who, subject, text, the answer,
/// the files its submission brought.
type UpdateRow = (
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<serde_json::Value>,
    Vec<String>,
);

/// The SR `number` with its history and files, if `a` may see it.
pub async fn page(pool: &PgPool, a: &Account, number: &str) -> Result<Option<Page>, SrError> {
    let Some((id, mut page)) = find(pool, a, number).await? else {
        return Ok(None);
    };
    let rows: Vec<UpdateRow> = sqlx::query_as(
        "SELECT c.at, c.direction, c.sender, c.subject, c.body, c.answer,
                COALESCE((SELECT array_agg(ss.path ORDER BY ss.path) FROM submission_samples ss
                          WHERE ss.submission_id = c.submission_id AND c.direction = 'in'),
                         '{}')
             FROM correspondence c WHERE c.sr_id = $1 ORDER BY c.at, c.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    page.updates = rows
        .into_iter()
        .map(
            |(at, direction, from, subject, body, answer, files)| Update {
                at,
                from,
                subject: subject.or_else(|| answer_field(&answer, "subject")),
                body: body.or_else(|| answer_field(&answer, "body")),
                direction,
                files,
            },
        )
        .collect();
    let files: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT ss.path, ss.sha256, s.size, s.kind
         FROM submissions sub JOIN submission_samples ss ON ss.submission_id = sub.id
         JOIN samples s ON s.sha256 = ss.sha256
         WHERE sub.sr_id = $1 ORDER BY ss.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    page.files = files
        .into_iter()
        .map(|(path, sha256, size, kind)| File {
            path,
            sha256,
            size,
            kind,
        })
        .collect();
    Ok(Some(page))
}

fn actor(a: &Account) -> String {
    format!("portal:{}", a.email)
}

async fn log(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sr_id: i64,
    a: &Account,
    at: DateTime<Utc>,
    e: Event<'_>,
) -> Result<(), SrError> {
    crate::store::events::on_sr(&mut **tx, &actor(a), sr_id, at, &e).await?;
    Ok(())
}

async fn customer_says(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sr_id: i64,
    a: &Account,
    at: DateTime<Utc>,
    subject: Option<&str>,
    body: &str,
) -> Result<(), SrError> {
    sqlx::query(
        "INSERT INTO correspondence (sr_id, direction, at, sender, subject, body, account_id)
         VALUES ($1, 'in', $2, $3, $4, $5, $6)",
    )
    .bind(sr_id)
    .bind(at)
    .bind(&a.email)
    .bind(subject)
    .bind(body)
    .bind(a.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A new SR as the customer fills it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSr {
    pub title: String,
    pub description: String,
    pub severity: Severity,
}

/// Opens an SR for `a` under its grant; returns its number. Answers about
/// it are mailed to the account's address, in its language.
pub async fn open(
    pool: &PgPool,
    a: &Account,
    new: &NewSr,
    now: DateTime<Utc>,
) -> Result<SrNumber, SrError> {
    let mut tx = pool.begin().await?;
    let seq: i64 = sqlx::query_scalar("SELECT nextval('sr_number_seq')")
        .fetch_one(&mut *tx)
        .await?;
    let number = SrNumber::new(
        u16::try_from(now.year()).map_err(|e| SrError::Inconsistent(e.to_string()))?,
        u32::try_from(seq).map_err(|e| SrError::Inconsistent(e.to_string()))?,
    );
    let tier = Tier::L1;
    let clock = Deadlines::opened(new.severity, Channel::Portal, now);
    let correspondent = Correspondent {
        to: a.email.clone(),
        lang: a.lang,
        message_id: None,
        references: Vec::new(),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_requests (sr_number, grant_number, customer_email, severity, status,
                                       tier, opened_at, escalation_due, next_update_due,
                                       correspondent, channel, title, opened_by,
                                       first_answer_due)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'portal', $11, $12, $13) RETURNING id",
    )
    .bind(number.to_string())
    .bind(&a.grant_number)
    .bind(&a.email)
    .bind(i16::from(new.severity.level()))
    .bind(Status::Open.as_str())
    .bind(tier.as_str())
    .bind(now)
    .bind(clock.escalation_due)
    .bind(clock.next_update_due)
    .bind(sqlx::types::Json(&correspondent))
    .bind(&new.title)
    .bind(a.id)
    .bind(clock.first_answer_due)
    .fetch_one(&mut *tx)
    .await?;
    log(
        &mut tx,
        id,
        a,
        now,
        Event::Opened {
            severity: new.severity,
            why: "chosen by the customer on the portal",
            tier,
        },
    )
    .await?;
    customer_says(&mut tx, id, a, now, Some(&new.title), &new.description).await?;
    tx.commit().await?;
    Ok(number)
}

/// What became of an update or a reopening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Done,
    /// Not there, or not `a`'s to see.
    NotFound,
    /// An update to a closed SR: reopen it first.
    Closed,
    /// Reopening an SR that is not closed.
    NotClosed,
    /// Closed longer than the reopening window ago.
    TooLate {
        closed_at: DateTime<Utc>,
    },
}

/// Adds the customer's text to an SR that is not closed. It moves nothing
/// (a customer update, `sr::Reply::Update`).
pub async fn add_update(
    pool: &PgPool,
    a: &Account,
    number: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Change, SrError> {
    let Some((id, page)) = find(pool, a, number).await? else {
        return Ok(Change::NotFound);
    };
    if page.line.status == Status::Closed {
        return Ok(Change::Closed);
    }
    let mut tx = pool.begin().await?;
    // The customer wrote: an out-of-office wait is over.
    if let Some(sr) = deadlines::lock(&mut tx, id).await?
        && sr.deadlines.away_until.is_some()
    {
        let moved = sr.deadlines.answered().moved(sr.status, now);
        deadlines::write(&mut tx, id, &moved).await?;
    }
    customer_says(&mut tx, id, a, now, None, text).await?;
    log(
        &mut tx,
        id,
        a,
        now,
        Event::CustomerUpdate { by: Some(&a.email) },
    )
    .await?;
    tx.commit().await?;
    Ok(Change::Done)
}

/// Reopens a closed SR within the window: it goes back to the status it
/// was closed from.
pub async fn reopen(
    pool: &PgPool,
    a: &Account,
    number: &str,
    now: DateTime<Utc>,
) -> Result<Change, SrError> {
    let Some((id, _)) = find(pool, a, number).await? else {
        return Ok(Change::NotFound);
    };
    let mut tx = pool.begin().await?;
    let (status, closed_from, closed_at): (String, Option<String>, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT status, closed_from, closed_at FROM service_requests WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if status != Status::Closed.as_str() {
        return Ok(Change::NotClosed);
    }
    if !sr::reopenable(closed_at, now) {
        return Ok(Change::TooLate {
            closed_at: closed_at.unwrap_or(now),
        });
    }
    let back = Status::reopened(closed_from.and_then(|s| s.parse().ok()));
    sqlx::query(
        "UPDATE service_requests SET status = $2, closed_at = NULL, resolution = NULL,
                closed_from = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(back.as_str())
    .execute(&mut *tx)
    .await?;
    log(&mut tx, id, a, now, Event::Reopened { by: Some(&a.email) }).await?;
    tx.commit().await?;
    Ok(Change::Done)
}

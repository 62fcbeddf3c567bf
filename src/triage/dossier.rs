//! Everything about one SR, as staff read it on its page, in the JSON API
//! and in the terminal: its facts and deadlines, the customer's metadata,
//! each submission with each sample's findings (hashes, type, executable
//! facts, YARA hits, reputation, strings) and the provisional verdict with
//! its reasons, the refused items, the raw email as text, the contact
//! attempts, the history, and the other SRs holding the same file. Read
//! only; what the customer sent is shown as data, never as markup.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::TriageError;
use super::act::Facts;
use super::outbreak::{self, Cluster};
use crate::analysis::verdict::provisional;
use crate::digest::Sha256;
use crate::ingest::Intake;
use crate::sr::clock::Deadlines;
use crate::sr::contact::{self, Standing};
use crate::sr::{Severity, SrNumber, Status, Tier};
use crate::store::deadlines;

/// Most bytes of a raw email shown (the rest is said to be cut).
pub const RAW_SHOWN: usize = 256 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Dossier {
    pub number: SrNumber,
    pub title: Option<String>,
    pub grant_number: Option<String>,
    pub company: Option<String>,
    pub customer_email: Option<String>,
    pub severity: Severity,
    pub tier: Tier,
    pub status: Status,
    pub resolution: Option<String>,
    pub channel: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Still reopenable (closed within the window).
    pub reopenable: bool,
    pub assignee: Option<String>,
    pub deadlines: Deadlines,
    pub next_due: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub contact: ContactView,
    pub submissions: Vec<Submission>,
    pub correspondence: Vec<Letter>,
    pub packages: Vec<PackageLine>,
    pub history: Vec<HistoryLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    pub attempts: Vec<Attempt>,
    #[serde(flatten)]
    pub standing: StandingView,
}

#[derive(Debug, Clone, Serialize)]
pub struct StandingView {
    pub counted: usize,
    pub needed: usize,
    pub next_from: Option<DateTime<Utc>>,
    pub may_close: bool,
}

impl From<Standing> for StandingView {
    fn from(s: Standing) -> Self {
        StandingView {
            counted: s.counted.len(),
            needed: contact::ATTEMPTS_NEEDED,
            next_from: s.next_from,
            may_close: s.may_close,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub via: String,
    pub actor: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub id: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    pub sender: Option<String>,
    pub outcome: String,
    pub missing_fields: Vec<String>,
    /// The customer's metadata as read (field → value).
    pub metadata: Vec<(String, String)>,
    pub verification: Value,
    pub samples: Vec<Sample>,
    pub rejected: Vec<Rejected>,
    /// The email as it came, as text (never rendered); none for uploads.
    pub raw: Option<String>,
    pub raw_cut: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub path: String,
    pub reason: String,
    pub detail: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub sha256: Sha256,
    /// The name the customer gave it (shown as text only).
    pub path: String,
    pub size: i64,
    pub kind: String,
    pub warnings: Value,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub ssdeep: Option<String>,
    pub tlsh: Option<String>,
    pub filetype: Option<Value>,
    pub executable: Option<Value>,
    pub yara: Vec<String>,
    pub reputation: Vec<Value>,
    pub strings: Option<Value>,
    pub provisional: String,
    pub reasons: Vec<String>,
    pub staff_verdict: Option<StaffVerdictLine>,
    /// Analysis not finished: findings still to come.
    pub pending: bool,
    /// The dead-lettered analysis's last error, when it died.
    pub dead: Option<String>,
    pub analysers: Vec<String>,
    pub cluster: Cluster,
    pub others: Vec<OtherSr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaffVerdictLine {
    pub verdict: String,
    pub detection: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OtherSr {
    pub number: String,
    pub company: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Letter {
    pub at: DateTime<Utc>,
    pub direction: String,
    pub from: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageLine {
    pub id: i64,
    pub sha256: String,
    pub rule_name: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

/// Most lines of history shown (newest kept).
const HISTORY: i64 = 1000;

/// SR `sr` as staff see it at `now`; none if there is no such SR.
pub async fn read(
    intake: &Intake,
    sr: &SrNumber,
    now: DateTime<Utc>,
) -> Result<Option<Dossier>, TriageError> {
    let pool = &intake.pool;
    let mut db = pool.acquire().await?;
    let sql = concat!(
        "SELECT sr.id, sr.title, sr.grant_number, g.company, sr.customer_email, sr.severity,
                sr.tier, sr.status, sr.resolution, sr.channel, sr.opened_at, sr.closed_at,
                a.email AS assignee, sr.next_due, sr.first_response_at, ",
        deadlines::columns!(),
        " FROM service_requests sr LEFT JOIN grants g ON g.grant_number = sr.grant_number
          LEFT JOIN accounts a ON a.id = sr.assignee_id
          WHERE sr.sr_number = $1"
    );
    let Some(row) = sqlx::query(sql)
        .bind(sr.to_string())
        .fetch_optional(&mut *db)
        .await?
    else {
        return Ok(None);
    };
    use sqlx::Row;
    let bad = |what: &str| TriageError::Inconsistent(format!("{what} of {sr}"));
    let id: i64 = row.try_get("id")?;
    let grant: Option<String> = row.try_get("grant_number")?;
    let severity: i16 = row.try_get("severity")?;
    let tier: String = row.try_get("tier")?;
    let status: String = row.try_get("status")?;
    let closed_at: Option<DateTime<Utc>> = row.try_get("closed_at")?;
    let status: Status = status.parse().map_err(|_| bad("status"))?;

    let attempts: Vec<(DateTime<Utc>, String, String, Option<String>)> = sqlx::query_as(
        "SELECT at, via, actor, note FROM contact_attempts WHERE sr_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let facts = Facts::read(&mut db, id, grant.as_deref()).await?;
    let times: Vec<DateTime<Utc>> = attempts.iter().map(|a| a.0).collect();
    let standing = facts.standing(&times, now);

    let subs: Vec<SubRow> = sqlx::query_as(
        "SELECT s.id, s.created_at, s.sender, s.outcome, s.missing_fields, s.metadata,
                s.verification, i.channel, i.raw_sha256, s.jobs
         FROM submissions s JOIN inbound i ON i.id = s.inbound_id
         WHERE s.sr_id = $1 ORDER BY s.created_at, s.id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let mut submissions = Vec::with_capacity(subs.len());
    for s in subs {
        submissions.push(submission(intake, &mut db, s, sr).await?);
    }

    let letters: Vec<LetterRow> = sqlx::query_as(
        "SELECT at, direction, sender, actor, subject, body, answer FROM correspondence
         WHERE sr_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let correspondence = letters
        .into_iter()
        .map(|(at, direction, from, actor, subject, body, answer)| {
            let field = |k: &str| crate::store::srs::answer_field(&answer, k);
            Letter {
                at,
                direction,
                from,
                actor,
                subject: subject.or_else(|| field("subject")),
                body: body.or_else(|| field("body")),
                kind: field("kind"),
            }
        })
        .collect();
    let packages: Vec<(i64, String, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, sha256, rule_name, created_by, created_at FROM detection_packages
         WHERE sr_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let history: Vec<(DateTime<Utc>, String, String, Value)> = sqlx::query_as(
        "SELECT at, actor, kind, detail FROM (
             SELECT at, actor, kind, detail, id FROM events WHERE sr_id = $1
             ORDER BY at DESC, id DESC LIMIT $2) e ORDER BY at, id",
    )
    .bind(id)
    .bind(HISTORY)
    .fetch_all(&mut *db)
    .await?;

    Ok(Some(Dossier {
        number: sr.clone(),
        title: row.try_get("title")?,
        company: row.try_get("company")?,
        customer_email: row.try_get("customer_email")?,
        severity: Severity::try_from(severity).map_err(|_| bad("severity"))?,
        tier: tier.parse().map_err(|_| bad("tier"))?,
        status,
        resolution: row.try_get("resolution")?,
        channel: row.try_get("channel")?,
        opened_at: row.try_get("opened_at")?,
        closed_at,
        reopenable: status == Status::Closed && crate::sr::reopenable(closed_at, now),
        assignee: row.try_get("assignee")?,
        deadlines: deadlines::from_row(&row)?,
        next_due: row
            .try_get::<Option<DateTime<Utc>>, _>("next_due")?
            .filter(|d| *d < super::queue::no_deadline()),
        first_response_at: row.try_get("first_response_at")?,
        grant_number: grant,
        contact: ContactView {
            attempts: attempts
                .into_iter()
                .map(|(at, via, actor, note)| Attempt {
                    at,
                    via,
                    actor,
                    note,
                })
                .collect(),
            standing: standing.into(),
        },
        submissions,
        correspondence,
        packages: packages
            .into_iter()
            .map(
                |(id, sha256, rule_name, created_by, created_at)| PackageLine {
                    id,
                    sha256,
                    rule_name,
                    created_by,
                    created_at,
                },
            )
            .collect(),
        history: history
            .into_iter()
            .map(|(at, actor, kind, detail)| HistoryLine {
                at,
                actor,
                kind,
                detail: detail.to_string(),
            })
            .collect(),
    }))
}

type SubRow = (
    uuid::Uuid,
    DateTime<Utc>,
    Option<String>,
    String,
    Vec<String>,
    Value,
    Value,
    String,
    String,
    i32,
);

/// One file of a submission, as the submission lists it.
struct Link {
    submission: uuid::Uuid,
    /// Analysis jobs the submission queued (none: nothing is pending).
    queued: i32,
    sha256: Sha256,
    path: String,
    warnings: Value,
    size: i64,
    kind: String,
}

type LetterRow = (
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Value>,
);

async fn submission(
    intake: &Intake,
    db: &mut sqlx::PgConnection,
    row: SubRow,
    sr: &SrNumber,
) -> Result<Submission, TriageError> {
    let (
        id,
        created_at,
        sender,
        outcome,
        missing_fields,
        metadata,
        verification,
        channel,
        raw,
        queued,
    ) = row;
    let links: Vec<(String, String, Value, i64, String)> = sqlx::query_as(
        "SELECT ss.sha256, ss.path, ss.warnings, s.size, s.kind
         FROM submission_samples ss JOIN samples s ON s.sha256 = ss.sha256
         WHERE ss.submission_id = $1 ORDER BY ss.id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let mut samples = Vec::with_capacity(links.len());
    for (sha, path, warnings, size, kind) in links {
        let sha256: Sha256 = sha
            .parse()
            .map_err(|_| TriageError::Inconsistent(format!("a sample's sha256 on {sr}")))?;
        let link = Link {
            submission: id,
            queued,
            sha256,
            path,
            warnings,
            size,
            kind,
        };
        samples.push(sample(db, link, sr).await?);
    }
    let rejected: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT path, reason, detail, size FROM rejected_items WHERE submission_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *db)
    .await?;
    let (raw, raw_cut) = if channel == "email" {
        match raw.parse::<Sha256>() {
            Ok(h) => match super::sample::bytes(intake, &h).await {
                Ok(b) => {
                    let cut = b.len() > RAW_SHOWN;
                    let shown = &b[..b.len().min(RAW_SHOWN)];
                    (Some(String::from_utf8_lossy(shown).into_owned()), cut)
                }
                Err(e) => (
                    Some(format!("(the stored message could not be read: {e})")),
                    false,
                ),
            },
            Err(_) => (None, false),
        }
    } else {
        (None, false)
    };
    Ok(Submission {
        id,
        created_at,
        sender,
        outcome,
        missing_fields,
        metadata: fields(&metadata),
        verification,
        samples,
        rejected: rejected
            .into_iter()
            .map(|(path, reason, detail, size)| Rejected {
                path,
                reason,
                detail,
                size,
            })
            .collect(),
        raw,
        raw_cut,
    })
}

/// A metadata object as `(field, value)` lines, nested values as JSON.
fn fields(v: &Value) -> Vec<(String, String)> {
    let Some(o) = v.as_object() else {
        return Vec::new();
    };
    o.iter()
        .filter(|(_, x)| !x.is_null())
        .map(|(k, x)| {
            let text = match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

async fn sample(
    db: &mut sqlx::PgConnection,
    link: Link,
    sr: &SrNumber,
) -> Result<Sample, TriageError> {
    let Link {
        submission,
        queued,
        sha256,
        path,
        warnings,
        size,
        kind,
    } = link;
    let hex = sha256.to_hex();
    let findings: Vec<(String, Value)> = sqlx::query_as(
        "SELECT analyser, result FROM findings WHERE sha256 = $1 ORDER BY analyser, id",
    )
    .bind(&hex)
    .fetch_all(&mut *db)
    .await?;
    let of = |name: &str| {
        findings
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, r)| r.clone())
    };
    let text = |v: &Option<Value>, k: &str| {
        v.as_ref()
            .and_then(|r| r.get(k))
            .and_then(|x| x.as_str())
            .map(str::to_owned)
    };
    let hashes = of("hashes");
    let similarity = of("similarity");
    let (verdict, reasons) = provisional(&findings);
    let staff: Option<(String, Option<String>, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT verdict, detection, decided_by, decided_at FROM verdicts
         WHERE sha256 = $1 AND decided_by <> 'analysis'",
    )
    .bind(&hex)
    .fetch_optional(&mut *db)
    .await?;
    let jobs: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT state, last_error FROM analysis_jobs WHERE sha256 = $1 AND submission_id = $2",
    )
    .bind(&hex)
    .bind(submission)
    .fetch_all(&mut *db)
    .await?;
    let dead = jobs
        .iter()
        .find(|(s, _)| s == "dead")
        .map(|(_, e)| e.clone().unwrap_or_default());
    let finished = jobs.iter().any(|(s, _)| s == "done");
    let pending = dead.is_none() && queued > 0 && !finished;
    let others: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT DISTINCT sr.sr_number, g.company, sr.status
         FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
         JOIN service_requests sr ON sr.id = s.sr_id
         LEFT JOIN grants g ON g.grant_number = sr.grant_number
         WHERE ss.sha256 = $1 AND sr.sr_number <> $2
         ORDER BY sr.sr_number LIMIT 200",
    )
    .bind(&hex)
    .bind(sr.to_string())
    .fetch_all(&mut *db)
    .await?;
    let cluster = outbreak::cluster(&mut *db, &sha256).await?;
    Ok(Sample {
        md5: text(&hashes, "md5"),
        sha1: text(&hashes, "sha1"),
        ssdeep: text(&similarity, "ssdeep"),
        tlsh: text(&similarity, "tlsh"),
        filetype: of("filetype"),
        executable: of("executable").and_then(|r| r.get("executable").cloned()),
        yara: of("yara")
            .and_then(|r| r.get("matches").and_then(|m| m.as_array()).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.get("rule").and_then(|r| r.as_str()).map(str::to_owned))
            .collect(),
        reputation: of("reputation")
            .and_then(|r| r.get("known").and_then(|k| k.as_array()).cloned())
            .unwrap_or_default(),
        strings: of("strings"),
        provisional: verdict.as_str().to_owned(),
        reasons,
        staff_verdict: staff.map(|(verdict, detection, by, at)| StaffVerdictLine {
            verdict,
            detection,
            by,
            at,
        }),
        pending,
        dead,
        analysers: findings.iter().map(|(a, _)| a.clone()).collect(),
        cluster,
        others: others
            .into_iter()
            .map(|(number, company, status)| OtherSr {
                number,
                company,
                status,
            })
            .collect(),
        sha256,
        path,
        size,
        kind,
        warnings,
    })
}

//! The handbook's actions on one SR, as one type: the pages, the JSON API
//! and the terminal each build an [`Act`] and hand it to [`act`], so a rule
//! (reopening within 30 days, three contact attempts a business day apart,
//! a verdict answering every SR that holds the file) lives here once.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AssignTo, By, Done, Held, TriageError, Tx, finish, lock_sr};
use crate::answer::Notice;
use crate::digest::Sha256;
use crate::ingest::Intake;
use crate::sr::contact::{self, Away, Via};
use crate::sr::{self, Event, Resolution, Severity, SrNumber, StaffVerdict, Status};
use crate::store::{deadlines, events};

/// Longest text staff send the customer in one message.
pub const MAX_TEXT: usize = 20_000;

/// One action on one SR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Take it (the acting staff member).
    Claim,
    Assign(AssignTo),
    /// Set the severity; the deadlines are planned afresh.
    Severity(Severity),
    /// Staff's verdict on one file: it answers every SR holding the file.
    Verdict {
        sha256: Sha256,
        verdict: StaffVerdict,
        note: Option<String>,
    },
    /// Write to the customer.
    Message {
        text: String,
    },
    /// Ask the customer for information: the clock waits on the answer.
    AskInfo {
        text: String,
    },
    /// Record an attempt to reach the customer.
    Contact {
        via: Via,
        note: Option<String>,
    },
    /// Move to the next tier now.
    Escalate {
        why: Option<String>,
    },
    Close {
        resolution: Resolution,
        note: Option<String>,
    },
    /// Reopen a closed SR (within [`sr::REOPEN_WITHIN_DAYS`]).
    Reopen,
    /// Queue a dead-lettered analysis of one file again.
    Retry {
        sha256: Sha256,
    },
    /// Send the emergency detection package for a file staff confirmed
    /// malicious.
    Detection {
        sha256: Sha256,
    },
}

impl Act {
    /// Every action's name.
    pub const NAMES: [&'static str; 12] = [
        "claim",
        "assign",
        "severity",
        "verdict",
        "message",
        "ask_info",
        "contact",
        "escalate",
        "close",
        "reopen",
        "retry",
        "detection",
    ];

    /// The action's name, as forms and the API spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Act::Claim => "claim",
            Act::Assign(_) => "assign",
            Act::Severity(_) => "severity",
            Act::Verdict { .. } => "verdict",
            Act::Message { .. } => "message",
            Act::AskInfo { .. } => "ask_info",
            Act::Contact { .. } => "contact",
            Act::Escalate { .. } => "escalate",
            Act::Close { .. } => "close",
            Act::Reopen => "reopen",
            Act::Retry { .. } => "retry",
            Act::Detection { .. } => "detection",
        }
    }

    /// The action named `name` with its fields from `get` (a form's or a
    /// command line's), checked.
    pub fn parse<'a>(name: &str, get: impl Fn(&str) -> Option<&'a str>) -> Result<Act, String> {
        let text = |k: &str| get(k).map(str::trim).filter(|t| !t.is_empty());
        let owned = |k: &str| text(k).map(str::to_owned);
        let sha256 = || -> Result<Sha256, String> {
            text("sha256")
                .ok_or("name the file (sha256)")?
                .parse::<Sha256>()
                .map_err(|e| e.to_string())
        };
        let words = |k: &str| -> Result<String, String> {
            let t = text(k).ok_or_else(|| format!("write the {k}"))?;
            if t.chars().count() > MAX_TEXT {
                return Err(format!("the {k} is over {MAX_TEXT} characters"));
            }
            Ok(t.to_owned())
        };
        Ok(match name {
            "claim" => Act::Claim,
            "assign" => Act::Assign(match text("assignee") {
                None | Some("none") => AssignTo::Nobody,
                Some(email) => AssignTo::Staff(email.to_owned()),
            }),
            "severity" => Act::Severity(
                text("severity")
                    .and_then(|s| s.parse::<u8>().ok())
                    .and_then(Severity::new)
                    .ok_or("the severity is 1 to 5")?,
            ),
            "verdict" => Act::Verdict {
                sha256: sha256()?,
                verdict: StaffVerdict::parse(text("verdict").unwrap_or(""), text("detection"))?,
                note: owned("note"),
            },
            "message" => Act::Message {
                text: words("text")?,
            },
            "ask_info" => Act::AskInfo {
                text: words("text")?,
            },
            "contact" => Act::Contact {
                via: text("via").unwrap_or("").parse()?,
                note: owned("note"),
            },
            "escalate" => Act::Escalate { why: owned("why") },
            "close" => Act::Close {
                resolution: text("resolution").unwrap_or("resolved").parse()?,
                note: owned("note"),
            },
            "reopen" => Act::Reopen,
            "retry" => Act::Retry { sha256: sha256()? },
            "detection" => Act::Detection { sha256: sha256()? },
            other => return Err(format!("{other:?} is not an action")),
        })
    }
}

/// Does `what` to SR `sr` as `by`.
pub async fn act(
    intake: &Intake,
    sr: &SrNumber,
    what: &Act,
    by: By<'_>,
) -> Result<Done, TriageError> {
    let pool = &intake.pool;
    let one = |notified: usize| Done {
        notified,
        srs: vec![sr.clone()],
    };
    match what {
        Act::Claim => {
            let me = AssignTo::Staff(by.actor.to_owned());
            super::assign(pool, std::slice::from_ref(sr), &me, by).await?;
            Ok(one(0))
        }
        Act::Assign(to) => {
            super::assign(pool, std::slice::from_ref(sr), to, by).await?;
            Ok(one(0))
        }
        Act::Severity(s) => {
            super::change_severity(pool, sr, *s, by).await?;
            Ok(one(0))
        }
        Act::Verdict {
            sha256,
            verdict,
            note,
        } => record_verdict(intake, sr, sha256, verdict, note.as_deref(), by).await,
        Act::Message { text } => message(intake, sr, text, false, by).await.map(one),
        Act::AskInfo { text } => message(intake, sr, text, true, by).await.map(one),
        Act::Contact { via, note } => {
            let mut tx = pool.begin().await?;
            let held = lock_sr(&mut tx, sr).await?;
            open_only(&held)?;
            // Whether it counts is the rule's answer with it and without.
            let (mut attempts, facts) = contact_record(&mut tx, &held).await?;
            let before = facts.standing(&attempts, by.now).counted.len();
            attempts.push(by.now);
            let counted = facts.standing(&attempts, by.now).counted.len();
            let counts = counted > before;
            sqlx::query(
                "INSERT INTO contact_attempts (sr_id, at, via, actor, note) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(held.id)
            .bind(by.now)
            .bind(via.as_str())
            .bind(by.actor)
            .bind(note.as_deref())
            .execute(&mut *tx)
            .await?;
            let e = Event::ContactAttempt {
                via: *via,
                note: note.as_deref(),
                counts,
                counted,
            };
            events::on_sr(&mut *tx, by.actor, held.id, by.now, &e).await?;
            tx.commit().await?;
            Ok(one(0))
        }
        Act::Escalate { why } => {
            let mut tx = pool.begin().await?;
            let held = lock_sr(&mut tx, sr).await?;
            open_only(&held)?;
            let c = held.clock;
            let to = c
                .tier
                .next()
                .ok_or_else(|| TriageError::Refused(format!("{sr} is with engineering already")))?;
            let replanned = c.deadlines.replanned(c.severity, to, c.status, by.now);
            sqlx::query("UPDATE service_requests SET tier = $2, escalated_at = $3 WHERE id = $1")
                .bind(held.id)
                .bind(to.as_str())
                .bind(by.now)
                .execute(&mut *tx)
                .await?;
            deadlines::write(&mut tx, held.id, &replanned).await?;
            let e = Event::EscalatedByHand {
                from: c.tier,
                to,
                why: why.as_deref(),
            };
            events::on_sr(&mut *tx, by.actor, held.id, by.now, &e).await?;
            tx.commit().await?;
            Ok(one(0))
        }
        Act::Close { resolution, note } => close(intake, sr, *resolution, note.as_deref(), by)
            .await
            .map(one),
        Act::Reopen => {
            let mut tx = pool.begin().await?;
            let held = lock_sr(&mut tx, sr).await?;
            if held.clock.status != Status::Closed {
                return Err(TriageError::Refused(format!("{sr} is not closed")));
            }
            if !sr::reopenable(held.closed_at, by.now) {
                return Err(TriageError::Refused(format!(
                    "{sr} was closed more than {} days ago: open a new SR",
                    sr::REOPEN_WITHIN_DAYS
                )));
            }
            let back = Status::reopened(held.closed_from);
            let c = held.clock;
            let replanned = c.deadlines.replanned(c.severity, c.tier, back, by.now);
            sqlx::query(
                "UPDATE service_requests SET status = $2, closed_at = NULL, resolution = NULL,
                        closed_from = NULL
                 WHERE id = $1",
            )
            .bind(held.id)
            .bind(back.as_str())
            .execute(&mut *tx)
            .await?;
            deadlines::write(&mut tx, held.id, &replanned).await?;
            let e = Event::Reopened { by: Some(by.actor) };
            events::on_sr(&mut *tx, by.actor, held.id, by.now, &e).await?;
            tx.commit().await?;
            Ok(one(0))
        }
        Act::Retry { sha256 } => retry(intake, sr, sha256, by).await.map(|_| one(0)),
        Act::Detection { sha256 } => detection(intake, sr, sha256, by).await.map(one),
    }
}

/// Closes `sr` with `resolution`; the customer is told, with `note`. A
/// `no_contact` closing needs the attempts the handbook asks for.
async fn close(
    intake: &Intake,
    sr: &SrNumber,
    resolution: Resolution,
    note: Option<&str>,
    by: By<'_>,
) -> Result<usize, TriageError> {
    let mut tx = intake.pool.begin().await?;
    let held = lock_sr(&mut tx, sr).await?;
    open_only(&held)?;
    if resolution == Resolution::NoContact {
        let (attempts, facts) = contact_record(&mut tx, &held).await?;
        let s = facts.standing(&attempts, by.now);
        if !s.may_close {
            return Err(TriageError::Refused(format!(
                "{} of {} contact attempts a business day apart so far{}",
                s.counted.len(),
                contact::ATTEMPTS_NEEDED,
                s.next_from
                    .map(|t| format!("; the next counts from {}", t.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default()
            )));
        }
    }
    sqlx::query(
        "UPDATE service_requests
         SET closed_from = status, status = $2, resolution = $3, closed_at = $4
         WHERE id = $1",
    )
    .bind(held.id)
    .bind(Status::Closed.as_str())
    .bind(resolution.as_str())
    .bind(by.now)
    .execute(&mut *tx)
    .await?;
    let notice = Notice::Closed {
        note,
        no_contact: resolution == Resolution::NoContact,
    };
    let event = Event::Closed { resolution, note };
    let n = finish(&mut tx, &held, by, event, &notice, intake).await?;
    tx.commit().await?;
    Ok(n)
}

/// Closes `sr` as resolved (the terminal's `intake close`).
pub async fn close_sr(
    intake: &Intake,
    sr: &SrNumber,
    by: By<'_>,
    note: Option<&str>,
) -> Result<Done, TriageError> {
    let note = note.map(str::to_owned);
    let c = Act::Close {
        resolution: Resolution::Resolved,
        note,
    };
    act(intake, sr, &c, by).await
}

fn open_only(held: &Held) -> Result<(), TriageError> {
    if held.clock.status == Status::Closed {
        return Err(TriageError::Refused(format!(
            "{} is closed: reopen it first",
            held.number
        )));
    }
    Ok(())
}

/// Writes `text` to the customer of `sr`; `asks_info` asks for information
/// and stops the clock until they answer.
async fn message(
    intake: &Intake,
    sr: &SrNumber,
    text: &str,
    asks_info: bool,
    by: By<'_>,
) -> Result<usize, TriageError> {
    let mut tx = intake.pool.begin().await?;
    let held = lock_sr(&mut tx, sr).await?;
    open_only(&held)?;
    if held.to.is_none() {
        return Err(TriageError::Refused(format!(
            "{sr} has no customer address to write to"
        )));
    }
    if asks_info {
        let c = held.clock;
        deadlines::write(&mut tx, held.id, &c.deadlines.asked(c.status, by.now)).await?;
    }
    let notice = Notice::Message { text, asks_info };
    let event = Event::MessageSent { asks_info };
    let n = finish(&mut tx, &held, by, event, &notice, intake).await?;
    tx.commit().await?;
    Ok(n)
}

/// The contact attempts on `held` (when each was made) and what the
/// contact rule reads besides.
async fn contact_record(
    tx: &mut Tx<'_>,
    held: &Held,
) -> Result<(Vec<DateTime<Utc>>, Facts), TriageError> {
    let attempts: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT at FROM contact_attempts WHERE sr_id = $1")
            .bind(held.id)
            .fetch_all(&mut **tx)
            .await?;
    let facts = Facts::read(tx, held.id, held.grant.as_deref()).await?;
    Ok((attempts, facts))
}

/// What the contact rule reads besides the attempts.
pub(super) struct Facts {
    pub away: Vec<Away>,
    pub last_word: Option<DateTime<Utc>>,
    pub calendar: sr::calendar::Calendar,
}

impl Facts {
    /// The contact rule's standing of `attempts` at `now`, under these facts.
    pub(super) fn standing(
        &self,
        attempts: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> contact::Standing {
        contact::standing(attempts, &self.away, self.last_word, &self.calendar, now)
    }

    /// The facts of SR `id` (of grant `grant`).
    pub(super) async fn read(
        db: &mut sqlx::PgConnection,
        id: i64,
        grant: Option<&str>,
    ) -> Result<Facts, TriageError> {
        // Every out-of-office notice recorded, from when it came to the
        // return date it gave.
        let away: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT at, (detail->>'until')::timestamptz FROM events
             WHERE sr_id = $1 AND kind = 'sr.customer_away'",
        )
        .bind(id)
        .fetch_all(&mut *db)
        .await?;
        // The customer's last word: a message in, not an out-of-office
        // notice (recorded at the same moment as its event).
        let last_word: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT max(c.at) FROM correspondence c WHERE c.sr_id = $1 AND c.direction = 'in'
               AND NOT EXISTS (SELECT 1 FROM events e WHERE e.sr_id = c.sr_id
                               AND e.kind = 'sr.customer_away' AND e.at = c.at)",
        )
        .bind(id)
        .fetch_one(&mut *db)
        .await?;
        let calendar = match grant {
            Some(g) => crate::store::grants::calendar(&mut *db, g)
                .await
                .map_err(|e| TriageError::Inconsistent(e.to_string()))?,
            None => sr::calendar::Calendar::default(),
        };
        Ok(Facts {
            away: away
                .into_iter()
                .filter_map(|(from, until)| until.map(|until| Away { from, until }))
                .collect(),
            last_word,
            calendar,
        })
    }
}

/// Records staff's `verdict` on file `sha256` (named from SR `sr`): the
/// verdict and the reputation table (by MD5, SHA-1 and SHA-256, so the
/// same file is known at once next time), then every SR that holds the
/// file and is not closed moves on and its customer is answered once, in
/// their language and thread. An SR already told this verdict is not told
/// again.
async fn record_verdict(
    intake: &Intake,
    sr: &SrNumber,
    sha256: &Sha256,
    verdict: &StaffVerdict,
    note: Option<&str>,
    by: By<'_>,
) -> Result<Done, TriageError> {
    let mut tx = intake.pool.begin().await?;
    let hex = sha256.to_hex();
    super::held_by(&mut *tx, sr, sha256).await?;
    sqlx::query(
        "INSERT INTO verdicts (sha256, verdict, detection, reasons, decided_by, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (sha256) DO UPDATE SET verdict = EXCLUDED.verdict,
             detection = EXCLUDED.detection, reasons = EXCLUDED.reasons,
             decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at",
    )
    .bind(&hex)
    .bind(verdict.as_str())
    .bind(verdict.detection())
    .bind(json!([note.unwrap_or("confirmed by staff")]))
    .bind(by.actor)
    .bind(by.now)
    .execute(&mut *tx)
    .await?;
    // The reputation table, by every hash analysis computed.
    sqlx::query(
        "INSERT INTO hash_verdicts (hash, verdict, source, note, imported_at)
         SELECT h, $2, 'staff', $3, $4 FROM (
             SELECT $1 AS h
             UNION SELECT result->>'md5' FROM findings WHERE sha256 = $1 AND analyser = 'hashes'
             UNION SELECT result->>'sha1' FROM findings WHERE sha256 = $1 AND analyser = 'hashes') x
         WHERE h IS NOT NULL
         ON CONFLICT (hash) DO UPDATE SET verdict = EXCLUDED.verdict, source = EXCLUDED.source,
             note = EXCLUDED.note, imported_at = EXCLUDED.imported_at",
    )
    .bind(&hex)
    .bind(verdict.as_str())
    .bind(verdict.detection().or(note))
    .bind(by.now)
    .execute(&mut *tx)
    .await?;
    // Every open SR holding the file, locked in one order (no deadlock
    // between two verdicts), with the path its customer gave the file.
    let holders: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (sr.id) sr.sr_number, ss.path
         FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
         JOIN service_requests sr ON sr.id = s.sr_id
         WHERE ss.sha256 = $1 AND sr.status <> 'closed'
         ORDER BY sr.id, ss.id",
    )
    .bind(&hex)
    .fetch_all(&mut *tx)
    .await?;
    let told =
        serde_json::to_value(verdict).map_err(|e| TriageError::Inconsistent(e.to_string()))?;
    let mut done = Done::default();
    for (number, path) in holders {
        let number: SrNumber = number.parse().map_err(TriageError::Inconsistent)?;
        let held = lock_sr(&mut tx, &number).await?;
        let already: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events WHERE sr_id = $1 AND kind = 'verdict.recorded'
                            AND detail->>'sha256' = $2 AND detail->'verdict' = $3)",
        )
        .bind(held.id)
        .bind(&hex)
        .bind(&told)
        .fetch_one(&mut *tx)
        .await?;
        if already {
            continue;
        }
        let c = held.clock;
        let status = c.status.after_verdict();
        if status != c.status {
            sqlx::query("UPDATE service_requests SET status = $2 WHERE id = $1")
                .bind(held.id)
                .bind(status.as_str())
                .execute(&mut *tx)
                .await?;
            deadlines::write(&mut tx, held.id, &c.deadlines.moved(status, by.now)).await?;
        }
        let notice = Notice::Verdict {
            path: &path,
            sha256: *sha256,
            verdict: verdict.as_str(),
            detection: verdict.detection(),
            note,
        };
        let event = Event::VerdictRecorded {
            sha256: *sha256,
            verdict,
            note,
        };
        done.notified += finish(&mut tx, &held, by, event, &notice, intake).await?;
        done.srs.push(number);
    }
    tx.commit().await?;
    Ok(done)
}

/// Queues the dead-lettered analysis of `sha256` on `sr` again: the same
/// job, its starts counted afresh.
async fn retry(
    intake: &Intake,
    sr: &SrNumber,
    sha256: &Sha256,
    by: By<'_>,
) -> Result<(), TriageError> {
    let mut tx = intake.pool.begin().await?;
    let held = lock_sr(&mut tx, sr).await?;
    let jobs: Vec<uuid::Uuid> = sqlx::query_scalar(
        "UPDATE analysis_jobs j SET state = 'retrying', starts = 0,
                last_error = 'queued again by staff', updated_at = $3
         FROM submissions s
         WHERE s.id = j.submission_id AND s.sr_id = $1 AND j.sha256 = $2 AND j.state = 'dead'
         RETURNING j.job_id",
    )
    .bind(held.id)
    .bind(sha256.to_hex())
    .bind(by.now)
    .fetch_all(&mut *tx)
    .await?;
    if jobs.is_empty() {
        return Err(TriageError::Refused(format!(
            "no dead-lettered analysis of {sha256} on {sr}"
        )));
    }
    sqlx::query(
        "INSERT INTO outbox (kind, routing_key, priority, payload)
         SELECT $3, $4, $5, jsonb_build_object(
                    'job_id', j.job_id, 'sha256', j.sha256, 'size', smp.size, 'kind', smp.kind,
                    'sr_number', $6::text, 'submission_id', j.submission_id,
                    'severity', $7::int, 'attempt', 1)
         FROM analysis_jobs j JOIN samples smp ON smp.sha256 = j.sha256
         WHERE j.job_id = ANY($1) AND j.sha256 = $2",
    )
    .bind(&jobs)
    .bind(sha256.to_hex())
    .bind(crate::store::outbox::OutboxKind::SampleAnalyse.as_str())
    .bind(crate::store::queue::SAMPLES)
    .bind(i16::from(held.clock.severity.priority()))
    .bind(sr.to_string())
    .bind(i32::from(held.clock.severity.level()))
    .execute(&mut *tx)
    .await?;
    let e = Event::AnalysisRequeued { sha256: *sha256 };
    events::on_sr(&mut *tx, by.actor, held.id, by.now, &e).await?;
    tx.commit().await?;
    intake.outbox_wake.notify_one();
    Ok(())
}

/// Makes and sends the emergency detection package for `sha256` of `sr`,
/// which staff must have confirmed malicious.
async fn detection(
    intake: &Intake,
    sr: &SrNumber,
    sha256: &Sha256,
    by: By<'_>,
) -> Result<usize, TriageError> {
    let hex = sha256.to_hex();
    let found: Option<(Option<String>, String)> = sqlx::query_as(
        "SELECT v.detection, ss.path FROM verdicts v
         JOIN submission_samples ss ON ss.sha256 = v.sha256
         JOIN submissions s ON s.id = ss.submission_id
         JOIN service_requests sr ON sr.id = s.sr_id
         WHERE v.sha256 = $1 AND sr.sr_number = $2
           AND v.decided_by <> 'analysis' AND v.verdict = 'malicious'
         ORDER BY ss.id LIMIT 1",
    )
    .bind(&hex)
    .bind(sr.to_string())
    .fetch_optional(&intake.pool)
    .await?;
    let Some((Some(name), path)) = found else {
        return Err(TriageError::Refused(format!(
            "{sha256} is not a file of {sr} that staff confirmed malicious"
        )));
    };
    let bytes = super::sample::bytes(intake, sha256).await?;
    let package = super::extra_dat::package(sr, &name, &bytes);
    let mut tx = intake.pool.begin().await?;
    let held = lock_sr(&mut tx, sr).await?;
    open_only(&held)?;
    if held.to.is_none() {
        return Err(TriageError::Refused(format!(
            "{sr} has no customer address to send it to"
        )));
    }
    sqlx::query(
        "INSERT INTO detection_packages (sr_id, sha256, rule_name, rule, hash_list, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(held.id)
    .bind(&hex)
    .bind(&package.rule_name)
    .bind(&package.rule)
    .bind(&package.hash_list)
    .bind(by.actor)
    .bind(by.now)
    .execute(&mut *tx)
    .await?;
    let notice = Notice::Detection {
        path: &path,
        sha256: *sha256,
        detection: &name,
        rule_name: &package.rule_name,
        rule: &package.rule,
        hash_list: &package.hash_list,
    };
    let event = Event::DetectionSent {
        sha256: *sha256,
        rule: &package.rule_name,
    };
    let n = finish(&mut tx, &held, by, event, &notice, intake).await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name in [`Act::NAMES`] parses (with its fields) to an action
    /// of that name, and nothing else parses.
    #[test]
    fn the_names_are_the_actions() {
        let sha = Sha256::of(b"x").to_hex();
        let fields = |k: &str| match k {
            "sha256" => Some(sha.as_str()),
            "verdict" => Some("clean"),
            "text" => Some("Which folder?"),
            "via" => Some("phone"),
            "severity" => Some("2"),
            _ => None,
        };
        for name in Act::NAMES {
            let act = Act::parse(name, fields).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(act.name(), name);
        }
        assert!(Act::parse("launch", fields).is_err());
        assert!(Act::parse("message", |_| None).is_err());
        assert!(
            Act::parse("verdict", |k| if k == "verdict" {
                Some("malicious")
            } else {
                fields(k)
            })
            .is_err()
        );
    }
}

//! The handbook's actions on the real database, through the one entry
//! every face uses (`intake::triage::act`): each action's state change, its
//! event and its outbox row; the three-contact-attempts rule at its
//! business-day boundaries with a weekend between, postponed by an
//! out-of-office notice; reopening at 30 days minus and plus one second;
//! an outbreak answered once per SR by one verdict; the encrypted zip
//! opened by `7z` and `pyzipper`; the emergency detection rule run by the
//! `yara` command.

mod harness;
// The library's own builders of harmless test files and mails.
#[allow(dead_code)]
#[path = "../src/fixture.rs"]
mod fixture;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use fixture::Item;
use harness::Env;
use intake::clock::{Clock, ManualClock};
use intake::digest::Sha256;
use intake::ingest::Intake;
use intake::sr::{Event, SrNumber, StaffVerdict};
use intake::triage::outbreak::{self, Threshold};
use intake::triage::{Act, By, TriageError, act};

const BODY: &str = "File List: s.exe, found in Downloads\r\nSymptoms: pop-ups\r\nDetected: no\r\nMcAfee Product Name: ENS\r\nEngine Version: 6800\r\nDAT Version: 11000\r\nOperating System: Windows 11\r\nService Pack: none\r\n";

/// A harmless "executable" with strings of its own: what the detection
/// rule is made from.
fn sample() -> Vec<u8> {
    let mut b = b"MZ\x90\x00\x03\x00\x00\x00".to_vec();
    b.extend([0u8; 56]);
    b.extend(b"\x00This program cannot be run in DOS mode.\x00\x00");
    b.extend(b"\x00http://update.badsite.example/drop.php?id=\x00");
    b.extend(b"\x00Global\\Intake_Test_Mutex_5512\x00");
    b.extend(b"\x00echo harmless-test-sample-v1\x00");
    b.extend((0u8..=255).collect::<Vec<_>>());
    b
}

/// A mail from `from` for grant `grant` carrying `files` in a zip locked
/// with `infected`.
fn mail(from: &str, grant: &str, id: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let items: Vec<Item<'_>> = files.iter().map(|(n, d)| Item::File(n, d)).collect();
    let zip = fixture::wrapper(&items);
    let body = format!("Grant Number: {grant}\r\n{BODY}");
    let raw = String::from_utf8(fixture::email(&body, &[("s.zip", &zip)])).expect("utf-8");
    let raw = raw
        .replace("From: Bob <bob@acme.example>", &format!("From: {from}"))
        .replace("<t1@acme.example>", &format!("<{id}>"));
    // The Chinese customer writes in Chinese: answered in Chinese.
    let raw = if from.contains(".cn>") {
        raw.replace(
            "MIME-Version: 1.0",
            "Content-Language: zh-CN\r\nMIME-Version: 1.0",
        )
    } else {
        raw
    };
    raw.into_bytes()
}

struct Desk {
    env: Env,
    intake: Intake,
    clock: Arc<ManualClock>,
}

async fn desk(at: &str) -> Desk {
    let env = Env::new().await;
    let clock = ManualClock::at(at.parse().expect("time"));
    let intake = Intake {
        clock: clock.clone(),
        ..env.intake.clone()
    };
    Desk { env, intake, clock }
}

impl Desk {
    fn by(&self) -> By<'static> {
        By {
            actor: "ana@lab.example",
            now: self.clock.now(),
        }
    }

    async fn send(&self, raw: Vec<u8>) -> SrNumber {
        self.intake
            .email(raw, None)
            .await
            .expect("recorded")
            .sr_number
    }

    /// An SR Bob of ACME opens with one file ([`sample`]), by a mail with
    /// Message-ID `id`.
    async fn bobs_sr(&self, id: &str) -> SrNumber {
        let from = "Bob <bob@acme.example>";
        self.send(mail(from, "4321-0001", id, &[("s.exe", &sample())]))
            .await
    }

    async fn act(&self, sr: &SrNumber, what: Act) -> Result<intake::triage::Done, TriageError> {
        act(&self.intake, sr, &what, self.by()).await
    }

    async fn scalar<T>(&self, sql: &'static str, sr: &SrNumber) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar(sql)
            .bind(sr.to_string())
            .fetch_one(&self.env.pool)
            .await
            .expect(sql)
    }

    async fn events(&self, sr: &SrNumber, kind: &str) -> Vec<serde_json::Value> {
        sqlx::query_scalar(
            "SELECT e.detail FROM events e JOIN service_requests sr ON sr.id = e.sr_id
             WHERE sr.sr_number = $1 AND e.kind = $2 ORDER BY e.id",
        )
        .bind(sr.to_string())
        .bind(kind)
        .fetch_all(&self.env.pool)
        .await
        .expect("events")
    }

    /// Whether each contact attempt on `sr` counted, oldest first.
    async fn attempts_counted(&self, sr: &SrNumber) -> Vec<bool> {
        self.events(sr, "sr.contact_attempt")
            .await
            .iter()
            .map(|e| e["counts"].as_bool().unwrap_or(false))
            .collect()
    }

    /// The answers queued for `sr`, oldest first.
    async fn answers(&self, sr: &SrNumber) -> Vec<serde_json::Value> {
        sqlx::query_scalar(
            "SELECT o.payload FROM outbox o WHERE o.kind = 'mail.answer'
               AND o.payload->>'sr_number' = $1 ORDER BY o.id",
        )
        .bind(sr.to_string())
        .fetch_all(&self.env.pool)
        .await
        .expect("answers")
    }
}

use fixture::at as t;

/// Message, request for information, escalation, claim, retry of a dead
/// analysis: each its state, its event by the staff member, and (for what
/// the customer hears) one outbox row threaded into the SR's mail thread.
#[tokio::test]
async fn each_action_is_its_state_its_event_and_its_notice() {
    let d = desk("2026-12-07T09:00:00Z").await;
    let bytes = sample();
    let sr = d
        .send(mail(
            "Bob <bob@acme.example>",
            "4321-0001",
            "first@acme.example",
            &[("s.exe", &bytes)],
        ))
        .await;
    let acks = d.answers(&sr).await.len();

    d.clock.advance(TimeDelta::minutes(4));
    let done = d
        .act(
            &sr,
            Act::Message {
                text: "We are looking at it.".into(),
            },
        )
        .await
        .expect("message");
    assert_eq!(done.notified, 1);
    let answers = d.answers(&sr).await;
    assert_eq!(answers.len(), acks + 1);
    let last = answers.last().expect("answer");
    assert_eq!(last["kind"], "message");
    assert!(
        last["body"]
            .as_str()
            .is_some_and(|b| b.contains("We are looking at it."))
    );
    // Threaded: the customer's own message is in its references.
    assert!(
        last["references"]
            .to_string()
            .contains("first@acme.example")
    );
    assert_eq!(d.events(&sr, "sr.message_sent").await.len(), 1);
    let first: Option<DateTime<Utc>> = d
        .scalar(
            "SELECT first_response_at FROM service_requests WHERE sr_number = $1",
            &sr,
        )
        .await;
    assert_eq!(first, Some(d.clock.now()));

    // Asking for information stops the clock until the customer answers.
    let ask = Act::AskInfo {
        text: "Which folder was it in?".into(),
    };
    d.act(&sr, ask).await.expect("ask");
    let (asked, paused): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT info_asked_at, clock_paused_at FROM service_requests WHERE sr_number = $1",
    )
    .bind(sr.to_string())
    .fetch_one(&d.env.pool)
    .await
    .expect("row");
    assert_eq!((asked, paused), (Some(d.clock.now()), Some(d.clock.now())));
    assert_eq!(
        d.answers(&sr).await.last().expect("a")["kind"],
        "info_request"
    );

    // Escalation by hand: the next tier, planned afresh, with its reason.
    let esc = Act::Escalate {
        why: Some("customer's CEO called".into()),
    };
    d.act(&sr, esc).await.expect("escalate");
    let tier: String = d
        .scalar(
            "SELECT tier FROM service_requests WHERE sr_number = $1",
            &sr,
        )
        .await;
    assert_eq!(tier, "L2");
    let e = d.events(&sr, "sr.escalated_by_hand").await;
    assert_eq!(e[0]["to"], "L2");
    assert_eq!(e[0]["why"], "customer's CEO called");

    // Claim: the SR is Ana's... once Ana has an account.
    let hash = intake::account::password::hash("Lab-Analyst-2026").expect("hash");
    intake::store::staff::add(
        &d.env.pool,
        "ana@lab.example",
        "Ana",
        intake::account::Role::Analyst,
        &hash,
        "test",
        d.clock.now(),
    )
    .await
    .expect("staff");
    d.act(&sr, Act::Claim).await.expect("claim");
    let who: Option<String> = d
        .scalar(
            "SELECT a.email FROM service_requests sr JOIN accounts a ON a.id = sr.assignee_id
             WHERE sr.sr_number = $1",
            &sr,
        )
        .await;
    assert_eq!(who.as_deref(), Some("ana@lab.example"));

    // A dead-lettered analysis is queued again: the same job, counted afresh.
    let sha = Sha256::of(&bytes);
    let refused = d.act(&sr, Act::Retry { sha256: sha }).await;
    assert!(
        matches!(refused, Err(TriageError::Refused(_))),
        "{refused:?}"
    );
    let job = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO analysis_jobs (job_id, sha256, submission_id, starts, state, last_error, updated_at)
         SELECT $1, $2, s.id, 9, 'dead', 'worker crashed', now() FROM submissions s
         JOIN service_requests sr ON sr.id = s.sr_id WHERE sr.sr_number = $3",
    )
    .bind(job)
    .bind(sha.to_hex())
    .bind(sr.to_string())
    .execute(&d.env.pool)
    .await
    .expect("dead job");
    d.act(&sr, Act::Retry { sha256: sha }).await.expect("retry");
    let (state, starts): (String, i32) =
        sqlx::query_as("SELECT state, starts FROM analysis_jobs WHERE job_id = $1")
            .bind(job)
            .fetch_one(&d.env.pool)
            .await
            .expect("job");
    assert_eq!((state.as_str(), starts), ("retrying", 0));
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE kind = 'sample.analyse' AND payload->>'job_id' = $1",
    )
    .bind(job.to_string())
    .fetch_one(&d.env.pool)
    .await
    .expect("outbox");
    assert_eq!(queued, 1);
    assert_eq!(d.events(&sr, "analysis.requeued").await.len(), 1);

    // A file the SR does not hold is refused, not guessed at.
    let other = Act::Verdict {
        sha256: Sha256::of(b"not here"),
        verdict: StaffVerdict::Clean,
        note: None,
    };
    assert!(matches!(
        d.act(&sr, other).await,
        Err(TriageError::NotInSr { .. })
    ));
    // Every action done above is one event by Ana (the refused none).
    let by_ana: i64 = d
        .scalar(
            "SELECT count(*) FROM events e JOIN service_requests sr ON sr.id = e.sr_id
             WHERE sr.sr_number = $1 AND e.actor = 'ana@lab.example'",
            &sr,
        )
        .await;
    assert_eq!(by_ana, 5);
    d.env.cleanup().await;
}

/// Three attempts at least one business day apart (a weekend between
/// does not count), an absence postponing the next, then closing for lack
/// of contact; reopening at 30 days minus one second, not plus one.
#[tokio::test]
async fn three_attempts_a_business_day_apart_then_no_contact_and_the_reopening_window() {
    // Thursday morning.
    let d = desk("2026-12-03T10:00:00Z").await;
    let sr = d.bobs_sr("c1@acme.example").await;
    let attempt = |note: &str| Act::Contact {
        via: intake::sr::contact::Via::Phone,
        note: Some(note.into()),
    };
    let no_contact = Act::Close {
        resolution: intake::sr::Resolution::NoContact,
        note: None,
    };
    d.clock.advance(TimeDelta::minutes(5));
    d.act(&sr, attempt("thu")).await.expect("thu");
    d.clock.set(t("2026-12-04T09:00:00Z"));
    d.act(&sr, attempt("fri")).await.expect("fri");
    d.clock.set(t("2026-12-05T11:00:00Z"));
    d.act(&sr, attempt("sat")).await.expect("sat");
    let counts = d.attempts_counted(&sr).await;
    assert_eq!(counts, vec![true, true, false]);
    // Sunday, a second before Monday: two count, closing is refused.
    d.clock.set(t("2026-12-06T23:59:59Z"));
    let refused = d.act(&sr, no_contact.clone()).await;
    assert!(
        matches!(&refused, Err(TriageError::Refused(why)) if why.contains("2 of 3")),
        "{refused:?}"
    );
    let dossier = intake::triage::dossier::read(&d.intake, &sr, d.clock.now())
        .await
        .expect("read")
        .expect("sr");
    assert_eq!(
        dossier.contact.standing.next_from,
        Some(t("2026-12-07T00:00:00Z"))
    );
    // Monday 00:00: the third counts, and the SR may close.
    d.clock.set(t("2026-12-07T00:00:00Z"));
    d.act(&sr, attempt("mon")).await.expect("mon");
    d.act(&sr, no_contact).await.expect("closes");
    let (status, resolution): (String, Option<String>) =
        sqlx::query_as("SELECT status, resolution FROM service_requests WHERE sr_number = $1")
            .bind(sr.to_string())
            .fetch_one(&d.env.pool)
            .await
            .expect("row");
    assert_eq!(
        (status.as_str(), resolution.as_deref()),
        ("closed", Some("no_contact"))
    );
    let told = d.answers(&sr).await;
    let last = told.last().expect("closed notice");
    assert_eq!(last["kind"], "closed");
    assert!(
        last["body"]
            .as_str()
            .is_some_and(|b| b.contains("three times"))
    );

    // Reopening: 30 days minus a second is in time...
    let closed_at = d.clock.now();
    d.clock
        .set(closed_at + TimeDelta::days(30) - TimeDelta::seconds(1));
    d.act(&sr, Act::Reopen).await.expect("reopens");
    let status: String = d
        .scalar(
            "SELECT status FROM service_requests WHERE sr_number = $1",
            &sr,
        )
        .await;
    assert_ne!(status, "closed");
    // ...plus a second is not.
    let closed = Act::Close {
        resolution: intake::sr::Resolution::Resolved,
        note: None,
    };
    d.act(&sr, closed).await.expect("closes again");
    let closed_at = d.clock.now();
    d.clock
        .set(closed_at + TimeDelta::days(30) + TimeDelta::seconds(1));
    let late = d.act(&sr, Act::Reopen).await;
    assert!(matches!(late, Err(TriageError::Refused(_))), "{late:?}");
    assert_eq!(d.events(&sr, "sr.reopened").await.len(), 1);
    d.env.cleanup().await;
}

/// An out-of-office notice recorded on the SR postpones the next attempt
/// to its return date: an attempt while away does not count.
#[tokio::test]
async fn an_out_of_office_notice_postpones_the_next_attempt() {
    let d = desk("2026-12-01T09:00:00Z").await;
    let sr = d.bobs_sr("ooo@acme.example").await;
    let attempt = Act::Contact {
        via: intake::sr::contact::Via::Mail,
        note: None,
    };
    d.clock.advance(TimeDelta::hours(1));
    d.act(&sr, attempt.clone()).await.expect("first");
    // The customer's autoresponder: away until the 9th.
    d.clock.set(t("2026-12-01T12:00:00Z"));
    let until = t("2026-12-09T00:00:00Z");
    let id: i64 = d
        .scalar("SELECT id FROM service_requests WHERE sr_number = $1", &sr)
        .await;
    let away = Event::CustomerAway {
        until: Some(until),
        stated: None,
    };
    intake::store::events::on_sr(&d.env.pool, "intake", id, d.clock.now(), &away)
        .await
        .expect("event");
    d.clock.set(t("2026-12-03T09:00:00Z"));
    let dossier = intake::triage::dossier::read(&d.intake, &sr, d.clock.now())
        .await
        .expect("read")
        .expect("sr");
    assert_eq!(dossier.contact.standing.next_from, Some(until));
    d.act(&sr, attempt.clone()).await.expect("while away");
    d.clock.set(t("2026-12-09T10:00:00Z"));
    d.act(&sr, attempt).await.expect("back");
    let counts = d.attempts_counted(&sr).await;
    assert_eq!(counts, vec![true, false, true]);
    d.env.cleanup().await;
}

/// Five companies send the same file: one cluster, raised to the outbreak
/// queue; one verdict updates the five SRs and answers each customer once,
/// in their own thread and language; the reputation table knows the file
/// by its hashes; the same verdict again tells nobody twice. Then the
/// emergency detection package (the rule matches the file with `yara`, and
/// none of the other test files), and the download as a zip encrypted with
/// `infected` that `7z` and `pyzipper` open to the exact bytes.
#[tokio::test]
async fn one_verdict_answers_an_outbreak_once_per_sr() {
    let d = desk("2026-12-07T09:00:00Z").await;
    let csv = "grant_number,company,email_domains,support_level,expires_on\n\
               5001,Alpha Ltd,alpha.example,gold,2030-12-31\n\
               5002,Beta GmbH,beta.example,gold,2030-12-31\n\
               5003,Gamma SA,gamma.example,gold,2030-12-31\n\
               5004,Delta Oy,delta.example,gold,2030-12-31\n";
    let grants = intake::store::grants::parse_csv(csv.as_bytes()).expect("csv");
    intake::store::grants::import(&d.env.pool, &grants)
        .await
        .expect("grants");
    let bytes = sample();
    let sha = Sha256::of(&bytes);
    let senders = [
        ("Al <al@alpha.example>", "5001"),
        ("Be <be@beta.example>", "5002"),
        ("Ga <ga@gamma.example>", "5003"),
        ("De <de@delta.example>", "5004"),
        ("Li <li.wei@example.cn>", "8888-2026"),
    ];
    let mut srs = Vec::new();
    for (i, (from, grant)) in senders.iter().enumerate() {
        d.clock.advance(TimeDelta::minutes(30));
        let id = format!("outbreak-{i}@x.example");
        let name = format!("invoice-{i}.exe");
        srs.push(d.send(mail(from, grant, &id, &[(&name, &bytes)])).await);
    }
    let cluster = outbreak::cluster(&d.env.pool, &sha).await.expect("cluster");
    assert_eq!((cluster.srs, cluster.companies), (5, 5));
    let t3 = Threshold {
        companies: 3,
        within_hours: 24,
    };
    let raised = outbreak::queue(&d.env.pool, t3).await.expect("queue");
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].sha256, sha);
    assert_eq!(raised[0].open_srs, 5);
    // Six companies within a day is more than there were: not raised.
    let t6 = Threshold {
        companies: 6,
        within_hours: 24,
    };
    assert!(
        outbreak::queue(&d.env.pool, t6)
            .await
            .expect("q")
            .is_empty()
    );
    let before: Vec<usize> = {
        let mut v = Vec::new();
        for sr in &srs {
            v.push(d.answers(sr).await.len());
        }
        v
    };

    let verdict = Act::Verdict {
        sha256: sha,
        verdict: StaffVerdict::Malicious {
            detection: "Trojan.Test-Outbreak".into(),
        },
        note: None,
    };
    let done = d.act(&srs[2], verdict.clone()).await.expect("verdict");
    assert_eq!(done.notified, 5);
    assert_eq!(done.srs.len(), 5);
    for (i, sr) in srs.iter().enumerate() {
        let answers = d.answers(sr).await;
        assert_eq!(answers.len(), before[i] + 1, "{sr}");
        let a = answers.last().expect("answer");
        assert_eq!(a["kind"], "verdict");
        assert_eq!(a["sr_number"], sr.to_string());
        assert!(
            a["references"]
                .to_string()
                .contains(&format!("outbreak-{i}@x.example"))
        );
        assert!(
            a["body"]
                .as_str()
                .is_some_and(|b| b.contains(&format!("invoice-{i}.exe")))
        );
        assert_eq!(d.events(sr, "verdict.recorded").await.len(), 1);
    }
    // Each in the customer's language: the Chinese customer's is Chinese.
    assert_eq!(d.answers(&srs[4]).await.last().expect("a")["lang"], "zh");
    assert_eq!(d.answers(&srs[0]).await.last().expect("a")["lang"], "en");
    let known: Vec<(String, String)> = sqlx::query_as(
        "SELECT hash, verdict FROM hash_verdicts WHERE source = 'staff' ORDER BY length(hash)",
    )
    .fetch_all(&d.env.pool)
    .await
    .expect("reputation");
    assert!(known.contains(&(sha.to_hex(), "malicious".to_owned())));
    assert!(
        outbreak::queue(&d.env.pool, t3)
            .await
            .expect("q")
            .is_empty()
    );
    // The same verdict again: nobody is told twice.
    let again = d.act(&srs[0], verdict).await.expect("again");
    assert_eq!(again.notified, 0);

    // The emergency detection package: kept with the SR, sent with the
    // rule and hash list attached.
    let done = d
        .act(&srs[0], Act::Detection { sha256: sha })
        .await
        .expect("package");
    assert_eq!(done.notified, 1);
    let a = d.answers(&srs[0]).await.pop().expect("answer");
    assert_eq!(a["kind"], "detection");
    let rule = a["attachments"][0]["text"]
        .as_str()
        .expect("rule")
        .to_owned();
    assert!(
        a["attachments"][1]["text"]
            .as_str()
            .is_some_and(|h| h.contains(&sha.to_hex()))
    );
    let stored: String = d
        .scalar(
            "SELECT p.rule FROM detection_packages p JOIN service_requests sr ON sr.id = p.sr_id
             WHERE sr.sr_number = $1",
            &srs[0],
        )
        .await;
    assert_eq!(stored, rule);
    let dir = tempfile::tempdir().expect("tmp");
    let rule_file = dir.path().join("rule.yar");
    std::fs::write(&rule_file, &rule).expect("rule");
    let others: [(&str, Vec<u8>); 4] = [
        ("eicar", fixture::EICAR.to_vec()),
        ("script", b"@echo off\r\necho harmless\r\n".to_vec()),
        ("near-miss", {
            let mut b = b"MZ".to_vec();
            b.extend(b"\x00echo harmless-test-sample-v1\x00");
            b
        }),
        ("zeros", vec![0u8; 4096]),
    ];
    // Files are written by their hash, read-only: never under a name a
    // customer gave, never executable.
    let write = |bytes: &[u8]| {
        let p = dir.path().join(Sha256::of(bytes).to_hex());
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let yara = harness::tools::yara();
    let matches = |file: &std::path::Path| {
        let out = std::process::Command::new(yara)
            .arg(&rule_file)
            .arg(file)
            .output()
            .expect("yara runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        !out.stdout.is_empty()
    };
    assert!(matches(&write(&bytes)), "the rule matches its file");
    for (name, other) in &others {
        assert!(!matches(&write(other)), "the rule matches {name}");
    }

    // The download: AES zip, opened by 7z and pyzipper to the same bytes.
    let zip = intake::triage::sample::download(&d.intake, &srs[1], &sha, d.by())
        .await
        .expect("zip");
    assert!(
        !zip.windows(20).any(|w| w == &bytes[64..84]),
        "no plain bytes"
    );
    let zip_path = dir.path().join("sample.zip");
    std::fs::write(&zip_path, &zip).expect("zip");
    let out_dir = dir.path().join("7z");
    let out = std::process::Command::new(harness::tools::sevenzip())
        .args(["x", "-pinfected", "-y"])
        .arg(format!("-o{}", out_dir.display()))
        .arg(&zip_path)
        .output()
        .expect("7z runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let opened = std::fs::read(out_dir.join(sha.to_hex())).expect("unzipped");
    assert_eq!(Sha256::of(&opened), sha);
    let wrong = std::process::Command::new(harness::tools::sevenzip())
        .args(["t", "-pwrong"])
        .arg(&zip_path)
        .output()
        .expect("7z runs");
    assert!(!wrong.status.success());
    let script = "import hashlib, sys, pyzipper\n\
                  with pyzipper.AESZipFile(sys.argv[1]) as z:\n\
                  \x20   z.setpassword(b'infected')\n\
                  \x20   names = z.namelist()\n\
                  \x20   print(names[0], hashlib.sha256(z.read(names[0])).hexdigest())\n";
    let out = std::process::Command::new(harness::tools::python())
        .args(["-c", script])
        .arg(&zip_path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{0} {0}", sha.to_hex())
    );
    assert_eq!(d.events(&srs[1], "sample.downloaded").await.len(), 1);
    d.env.cleanup().await;
}

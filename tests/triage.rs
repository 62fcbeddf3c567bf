//! The staff pages over real HTTP against the real database: sign-in in
//! the staff realm only (a customer's session opens nothing here), the
//! most urgent queue in deadline order with what breached marked, counts
//! per queue, paging by the key in the URL, and the same in headless
//! Chromium with a screenshot.

mod harness;
// Only the web tests link reqwest (the workers' tests share the harness).
#[path = "harness/browser.rs"]
mod browser;
// The library's own builders of harmless test files and mails.
#[allow(dead_code)]
#[path = "../src/fixture.rs"]
mod fixture;

use std::sync::Arc;

use browser::{Browser, Page, field};
use chrono::{DateTime, TimeDelta, Utc};
use harness::{Env, sample_email};
use intake::account::{Backoff, Role};
use intake::clock::{Clock, ManualClock};
use intake::triage::web::{Desk, router};
use reqwest::StatusCode;

const GOOD: &str = "Lab-Analyst-2026";

struct Site {
    env: Env,
    base: String,
    clock: Arc<ManualClock>,
}

async fn start() -> Site {
    let env = Env::new().await;
    let t: DateTime<Utc> = "2026-12-07T09:00:00Z".parse().expect("t");
    let clock = ManualClock::at(t);
    let app = intake::http::site([router(Desk {
        intake: intake::ingest::Intake {
            clock: clock.clone(),
            ..env.intake.clone()
        },
        public_url: "http://127.0.0.1".into(),
        backoff: Backoff::default(),
        trusted_proxies: Vec::new(),
        cache_for: std::time::Duration::ZERO,
        glance: Default::default(),
        outbreak: Default::default(),
    })]);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(
        axum::serve(
            l,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .into_future(),
    );
    let hash = intake::account::password::hash(GOOD).expect("hash");
    intake::store::staff::add(
        &env.pool,
        "ana@lab.example",
        "Ana",
        Role::Analyst,
        &hash,
        "test",
        t,
    )
    .await
    .expect("staff");
    Site { env, base, clock }
}

/// Runs a Playwright script of `tests/tools` with `args`; it must succeed.
async fn run_browser<const N: usize>(
    python: std::path::PathBuf,
    script: std::path::PathBuf,
    args: [String; N],
) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .output()
    })
    .await
    .expect("join")
    .expect("browser");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Four SRs with deadlines of our choosing; returns their numbers.
async fn srs(site: &Site) -> Vec<String> {
    let t = site.clock.now();
    let mut numbers = Vec::new();
    for (mail, due) in [
        ("01-accepted-zipcrypto.eml", Some(t + TimeDelta::hours(2))),
        (
            "03-html-table-big5-aes128.eml",
            Some(t - TimeDelta::minutes(125)),
        ),
        (
            "05-wrapper-with-unwanted.eml",
            Some(t + TimeDelta::hours(5)),
        ),
        ("09-forwarded-rfc822.eml", None),
    ] {
        let rec = site
            .env
            .intake
            .email(sample_email(mail), None)
            .await
            .expect("ingest");
        sqlx::query(
            "UPDATE service_requests SET escalation_due = $2, next_update_due = NULL
             WHERE sr_number = $1",
        )
        .bind(rec.sr_number.to_string())
        .bind(due)
        .execute(&site.env.pool)
        .await
        .expect("due");
        numbers.push(rec.sr_number.to_string());
    }
    numbers
}

/// The staff's sign-in form, as a staff member fills it.
impl Browser {
    async fn sign_in(&mut self, email: &str, pw: &str) -> Page {
        self.submit(
            "/triage/sign-in",
            "/triage/sign-in",
            &[("email", email), ("password", pw)],
        )
        .await
    }
}

#[tokio::test]
async fn staff_sign_in_and_the_most_urgent_queue() {
    let site = start().await;
    let numbers = srs(&site).await;
    let mut c = Browser::new(&site.base, "en");
    // Not signed in: sent to sign in.
    assert_eq!(c.get("/triage/").await.status, StatusCode::SEE_OTHER);
    // A wrong password, then the right one.
    let status = c
        .sign_in("ana@lab.example", "Wrong-Password-1")
        .await
        .status;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let signed = c.sign_in("ana@lab.example", GOOD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let cookie = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("intake_staff="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("Path=/triage") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    let Page {
        status, body: page, ..
    } = c.get("/triage/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Soonest first, the one without a deadline last; the breached one
    // says by how long.
    let at = |n: &String| page.find(n.as_str()).unwrap_or(usize::MAX);
    let order = [&numbers[1], &numbers[0], &numbers[2], &numbers[3]];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{page}");
    assert!(page.contains("by 2h 05m"), "{page}");
    assert!(page.contains("Most urgent (4)"), "{page}");
    // A severity's queue by its URL; a mangled one shows the most urgent.
    let sev = c.get("/triage/?queue=sev5").await.body;
    assert!(sev.contains("Severity 5"), "{sev}");
    let status = c.get("/triage/?queue=%00&after=nonsense").await.status;
    assert_eq!(status, StatusCode::OK);

    // Cookies of another realm or made up open nothing here.
    let mut stranger = Browser::new(&site.base, "en");
    stranger
        .cookies
        .insert("intake_portal".into(), "anything".into());
    stranger
        .cookies
        .insert("intake_staff".into(), "forged".into());
    assert_eq!(stranger.get("/triage/").await.status, StatusCode::SEE_OTHER);

    // Signing out ends the session.
    let page = c.get("/triage/").await.body;
    let csrf = field(&page, "csrf");
    let status = c
        .post("/triage/sign-out", &[("csrf", csrf.as_str())])
        .await
        .status;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/triage/").await.status, StatusCode::SEE_OTHER);

    // The same in Chromium, with a screenshot.
    harness::tools::chromium();
    let python = harness::tools::python().to_owned();
    let script = harness::root().join("tests/tools/browser_triage.py");
    let shot =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots/triage-urgent.png");
    let _ = std::fs::create_dir_all(shot.parent().expect("dir"));
    let args = [
        site.base.clone(),
        "ana@lab.example".into(),
        GOOD.into(),
        numbers[1].clone(),
        shot.display().to_string(),
    ];
    run_browser(python, script, args).await;
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000);
    site.env.cleanup().await;
}

/// From the queue page: filters in the URL, bulk claim, assignment to
/// another analyst and bulk severity, each CSRF-checked and recorded with
/// who did it; the parked inputs; the first-response figures beside the
/// acknowledgement's, on the page and on /metrics.
#[tokio::test]
async fn filters_bulk_actions_and_first_response_from_the_queue() {
    let site = start().await;
    let numbers = srs(&site).await;
    let hash = intake::account::password::hash(GOOD).expect("hash");
    intake::store::staff::add(
        &site.env.pool,
        "bo@lab.example",
        "Bo",
        Role::Analyst,
        &hash,
        "test",
        site.clock.now(),
    )
    .await
    .expect("staff");
    let mut c = Browser::new(&site.base, "en");
    c.sign_in("ana@lab.example", GOOD).await;
    let page = c.get("/triage/?queue=urgent&assignee=none").await.body;
    let csrf = field(&page, "csrf");
    let back = "/triage/?queue=urgent&assignee=me";
    // Without the form's token: refused, nothing changes.
    let status = c
        .post(
            "/triage/act",
            &[("action", "claim"), ("sr", &numbers[0]), ("back", back)],
        )
        .await
        .status;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Claim two at once: back to the view the form came from.
    let status = c
        .post(
            "/triage/act",
            &[
                ("csrf", &csrf),
                ("action", "claim"),
                ("sr", &numbers[0]),
                ("sr", &numbers[1]),
                ("back", back),
                ("assignee", "none"),
                ("severity", "1"),
            ],
        )
        .await
        .status;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let Page {
        status, body: mine, ..
    } = c.get(back).await;
    assert_eq!(status, StatusCode::OK);
    assert!(mine.contains(&numbers[0]) && mine.contains(&numbers[1]));
    assert!(!mine.contains(&numbers[2]));
    // Given to Bo; an unknown address is refused.
    let assign = |to: &'static str, sr: String| {
        vec![
            ("csrf", csrf.clone()),
            ("action", "assign".to_owned()),
            ("assignee", to.to_owned()),
            ("sr", sr),
        ]
    };
    let form = assign("bo@lab.example", numbers[2].clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        c.post("/triage/act", &form).await.status,
        StatusCode::SEE_OTHER
    );
    let bos = c.get("/triage/?assignee=bo%40lab.example").await.body;
    assert!(bos.contains(&numbers[2]) && !bos.contains(&numbers[0]));
    let form = assign("nobody@lab.example", numbers[3].clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        c.post("/triage/act", &form).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Severity 1 for two: re-planned from now, each an event by Ana.
    let status = c
        .post(
            "/triage/act",
            &[
                ("csrf", &csrf),
                ("action", "severity"),
                ("severity", "1"),
                ("sr", &numbers[0]),
                ("sr", &numbers[3]),
            ],
        )
        .await
        .status;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let now = site.clock.now();
    for n in [&numbers[0], &numbers[3]] {
        let (severity, due): (i16, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT severity, escalation_due FROM service_requests WHERE sr_number = $1",
        )
        .bind(n)
        .fetch_one(&site.env.pool)
        .await
        .expect("sr");
        assert_eq!((severity, due), (1, Some(now + TimeDelta::minutes(30))));
    }
    let pool = &site.env.pool;
    let by_ana: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE actor = 'ana@lab.example'
         AND kind IN ('sr.assigned', 'sr.severity_changed')",
    )
    .fetch_one(pool)
    .await
    .expect("events");
    assert_eq!(by_ana, 5);
    // The severity-1 view under the URL's filter; a filter that does not
    // parse says so and is not used.
    let sev1 = c.get("/triage/?queue=sev1&assignee=me").await.body;
    assert!(sev1.contains(&numbers[0]) && !sev1.contains(&numbers[3]));
    let bad = c.get("/triage/?severity=9").await.body;
    assert!(bad.contains("was not used"), "{bad}");

    // The SRs came in through the system's clock: opened at the site's.
    sqlx::query(
        "UPDATE service_requests SET opened_at = $1,
                acknowledged_at = CASE WHEN acknowledged_at IS NOT NULL THEN $1 END",
    )
    .bind(site.clock.now())
    .execute(pool)
    .await
    .expect("opened");
    // Three minutes on, staff answer one SR (a close the customer is told
    // of): its first response; the others count their wait so far.
    site.clock.advance(TimeDelta::minutes(3));
    let first: intake::sr::SrNumber = numbers[0].parse().expect("number");
    let by = intake::triage::By {
        actor: "ana@lab.example",
        now: site.clock.now(),
    };
    let done = intake::triage::close_sr(&site.env.intake, &first, by, Some("done"))
        .await
        .expect("close");
    let f = intake::triage::response::figures(pool, site.clock.now())
        .await
        .expect("figures");
    let answered = done.notified;
    assert_eq!(f.day.staff.avg_secs, Some(180.0));
    assert_eq!(f.day.staff.p95_secs, Some(180.0));
    assert_eq!(f.day.staff.waiting, 3);
    assert_eq!(f.day.staff.srs, 3 + answered as i64);
    assert_eq!(f.week.staff, f.day.staff);
    let metrics = intake::metrics::Metrics::new();
    f.publish(&metrics);
    let shown = metrics.render();
    assert!(
        shown
            .contains(r#"intake_first_response_seconds{window="day",of="staff",stat="avg"} 180.0"#),
        "{shown}"
    );
    let page = c.get("/triage/").await.body;
    assert!(
        page.contains("First response") && page.contains("3.0 min"),
        "{page}"
    );
    // No parked input here.
    let Page {
        status,
        body: parked,
        ..
    } = c.get("/triage/parked").await;
    assert_eq!(status, StatusCode::OK);
    assert!(parked.contains("No input is parked."));
    site.env.cleanup().await;
}

/// The queues and bulk actions as JSON for scripts, with a staff API
/// token only (a customer's opens nothing); the OpenAPI description holds
/// against `schemathesis`.
#[tokio::test]
async fn the_triage_api_with_a_staff_token() {
    let site = start().await;
    let numbers = srs(&site).await;
    let pool = &site.env.pool;
    let token =
        intake::store::staff::token(pool, "ana@lab.example", "script", "test", site.clock.now())
            .await
            .expect("token");
    let token = token.as_str().to_owned();
    let http = reqwest::Client::new();
    let get = |path: &str, bearer: Option<&str>| {
        let mut r = http.get(format!("{}{path}", site.base));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send()
    };
    // No token, a wrong one: 401 in the one error shape.
    for bearer in [None, Some("not-a-token")] {
        let r = get("/api/v1/triage/queues/urgent", bearer)
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let r = get("/api/v1/triage/queues/urgent?limit=2", Some(&token))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let page: serde_json::Value = r.json().await.expect("json");
    // The breached one first, saying by how much; a next key for page two.
    assert_eq!(page["lines"][0]["number"], numbers[1].as_str());
    assert_eq!(page["lines"][0]["breached_by_secs"], 125 * 60);
    let next = page["next"].as_str().expect("next").to_owned();
    let r = get(
        &format!(
            "/api/v1/triage/queues/urgent?limit=2&{}",
            intake::http::page::query(&[("after", next)])
        ),
        Some(&token),
    )
    .await
    .expect("page two");
    let two: serde_json::Value = r.json().await.expect("json");
    assert_eq!(two["lines"][0]["number"], numbers[2].as_str());
    // Filters as on the pages; a bad one is 422.
    let r = get("/api/v1/triage/queues/urgent?channel=portal", Some(&token))
        .await
        .expect("get");
    let none: serde_json::Value = r.json().await.expect("json");
    assert_eq!(none["lines"].as_array().map(Vec::len), Some(0));
    let r = get("/api/v1/triage/queues/urgent?severity=9", Some(&token))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        get("/api/v1/triage/queues/everything", Some(&token))
            .await
            .expect("get")
            .status(),
        StatusCode::NOT_FOUND
    );
    // Assign two and set a severity, by the token's owner.
    let r = http
        .post(format!("{}/api/v1/triage/assign", site.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "srs": [numbers[0], numbers[1]], "to": "ana@lab.example" }))
        .send()
        .await
        .expect("assign");
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["changed"], 2);
    let r = http
        .post(format!("{}/api/v1/triage/severity", site.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "srs": [numbers[0]], "severity": 1 }))
        .send()
        .await
        .expect("severity");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get("/api/v1/triage/queues/sev1?assignee=me", Some(&token))
        .await
        .expect("get");
    let mine: serde_json::Value = r.json().await.expect("json");
    assert_eq!(mine["lines"][0]["number"], numbers[0].as_str());
    assert_eq!(mine["lines"][0]["assignee"], "ana@lab.example");
    let r = get("/api/v1/triage/queues", Some(&token))
        .await
        .expect("get");
    let counts: serde_json::Value = r.json().await.expect("json");
    assert_eq!(counts[0]["queue"], "urgent");
    assert_eq!(counts[0]["count"], 4);
    let r = get("/api/v1/triage/first-response", Some(&token))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    // A customer's token is not a staff member's.
    let actor: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE actor = 'ana@lab.example' AND kind = 'sr.assigned'",
    )
    .fetch_one(pool)
    .await
    .expect("events");
    assert_eq!(actor, 2);

    let url = format!("{}/api/triage/openapi.json", site.base);
    let out = tokio::task::spawn_blocking(move || harness::tools::schemathesis(&url, &token))
        .await
        .expect("join")
        .expect("schemathesis runs");
    assert!(
        out.status.success(),
        "schemathesis failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    site.env.cleanup().await;
}

/// The SR page in headless Chromium: a sample named
/// `<script>alert(1)</script>.exe` and symptoms holding an `<img onerror>`
/// show as text and open no dialog; the verdict recorded through the
/// page's form is stored and the customer's answer is in the outbox.
/// Screenshots of the page before and after.
#[tokio::test]
async fn the_sr_page_shows_hostile_names_as_text_and_records_a_verdict() {
    let site = start().await;
    let pe = b"MZ\x90\x00harmless test executable\x00".to_vec();
    let zip = fixture::wrapper(&[fixture::Item::File("<script>alert(1)</script>.exe", &pe)]);
    let body = "Grant Number: 4321-0001\r\nFile List: the attached file\r\n\
                Symptoms: <img src=x onerror=alert(2)>\r\nDetected: no\r\n\
                McAfee Product Name: ENS\r\nEngine Version: 6800\r\nDAT Version: 11000\r\n\
                Operating System: Windows 11\r\nService Pack: none\r\n";
    let raw = fixture::email(body, &[("s.zip", &zip)]);
    let intake = intake::ingest::Intake {
        clock: site.clock.clone(),
        ..site.env.intake.clone()
    };
    let sr = intake.email(raw, None).await.expect("recorded").sr_number;
    let sha = intake::digest::Sha256::of(&pe);

    // Without a session: sent to sign in, the zip never served.
    let mut c = Browser::new(&site.base, "en");
    let r = c.get(&format!("/triage/sr/{sr}/sample/{sha}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    harness::tools::chromium();
    let python = harness::tools::python().to_owned();
    let script = harness::root().join("tests/tools/browser_sr.py");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let _ = std::fs::create_dir_all(&dir);
    let (before, after) = (dir.join("sr-hostile.png"), dir.join("sr-verdict.png"));
    let args = [
        site.base.clone(),
        "ana@lab.example".into(),
        GOOD.into(),
        sr.to_string(),
        sha.to_hex(),
        before.display().to_string(),
        after.display().to_string(),
    ];
    run_browser(python, script, args).await;
    for shot in [&before, &after] {
        let png = std::fs::read(shot).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000);
    }
    let (verdict, detection, by): (String, Option<String>, String) =
        sqlx::query_as("SELECT verdict, detection, decided_by FROM verdicts WHERE sha256 = $1")
            .bind(sha.to_hex())
            .fetch_one(&site.env.pool)
            .await
            .expect("verdict");
    assert_eq!(
        (verdict.as_str(), detection.as_deref(), by.as_str()),
        ("malicious", Some("Trojan.Test-XSS"), "ana@lab.example")
    );
    let answers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE kind = 'mail.answer'
           AND payload->>'sr_number' = $1 AND payload->>'kind' = 'verdict'",
    )
    .bind(sr.to_string())
    .fetch_one(&site.env.pool)
    .await
    .expect("outbox");
    assert_eq!(answers, 1);
    site.env.cleanup().await;
}

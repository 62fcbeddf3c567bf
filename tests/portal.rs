//! The portal's accounts over real HTTP against the real PostgreSQL: sign-up
//! and each of its rules, the mailed confirmation and reset links (used
//! twice, expired), sign-in and sign-out, lock-out per account and per
//! address, CSRF and the security headers, English and Chinese.

mod harness;
// Only the web tests link reqwest (the workers' tests share the harness).
#[path = "harness/browser.rs"]
mod browser;

use std::sync::Arc;

use browser::{Browser, Page, field};
use chrono::{DateTime, TimeDelta, Utc};
use harness::Env;
use intake::account::Backoff;
use intake::clock::{Clock, ManualClock};
use intake::portal::UploadConfig;
use intake::portal::web::{Portal, router};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

const GOOD: &str = "Correct-Horse-7";

/// The portal's forms, as a customer fills them.
impl Browser {
    async fn sign_up(&mut self, email: &str, grant: &str, pw: &str) -> Page {
        let lang = if self.lang.starts_with("zh") {
            "zh"
        } else {
            "en"
        };
        self.submit(
            "/portal/sign-up",
            "/portal/sign-up",
            &[
                ("name", "Bob <b>Builder</b>"),
                ("email", email),
                ("grant_number", grant),
                ("lang", lang),
                ("password", pw),
            ],
        )
        .await
    }

    async fn sign_in(&mut self, email: &str, pw: &str) -> Page {
        self.submit(
            "/portal/sign-in",
            "/portal/sign-in",
            &[("email", email), ("password", pw)],
        )
        .await
    }
}

struct Portal0 {
    env: Env,
    clock: Arc<ManualClock>,
    base: String,
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-02T09:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

async fn start(backoff: Backoff) -> Portal0 {
    start_with(backoff, UploadConfig::default()).await
}

async fn start_with(backoff: Backoff, uploads: UploadConfig) -> Portal0 {
    start_at(backoff, uploads, None, None).await
}

/// The portal with its public URL `public` (default: an `https` one, so
/// cookies are `Secure`; a browser keeps those only over TLS or localhost
/// names, so browser tests name the listener itself).
async fn start_at(
    backoff: Backoff,
    uploads: UploadConfig,
    public: Option<&str>,
    tls: Option<Arc<intake::tls::Certificates>>,
) -> Portal0 {
    let env = Env::new().await;
    sqlx::query(
        "INSERT INTO grants (grant_number, company, email_domains, support_level, expires_on)
         VALUES ('4321-0002', 'ACME Corp', '{acme.example}', 'platinum', '2027-06-30'),
                ('5555-0000', 'New Co', '{}', 'standard', NULL)",
    )
    .execute(&env.pool)
    .await
    .expect("grants");
    let clock = ManualClock::at(t0());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", l.local_addr().expect("addr"));
    let public_url = match public {
        Some("listener") => base.replace("127.0.0.1", "localhost"),
        Some(u) => u.to_owned(),
        None => "https://support.example".to_owned(),
    };
    let app = intake::http::site([router(Portal {
        intake: intake::ingest::Intake {
            clock: clock.clone(),
            ..env.intake.clone()
        },
        uploads,
        public_url,
        vendor: "McAfee".into(),
        backoff,
        trusted_proxies: Vec::new(),
    })]);
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        Some(certs) => {
            use axum::serve::ListenerExt;
            let l = intake::http::tls::TlsListener::new(l, certs)
                .expect("tls")
                .tap_io(|_| {});
            tokio::spawn(axum::serve(l, service).into_future());
        }
        None => {
            tokio::spawn(axum::serve(l, service).into_future());
        }
    }
    Portal0 { env, clock, base }
}

/// The account mails queued for `to`, oldest first: (subject, body).
async fn mails(env: &Env, to: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT payload->>'subject', payload->>'body' FROM outbox
         WHERE payload->>'to' = $1 AND payload ? 'account_mail' ORDER BY id",
    )
    .bind(to)
    .fetch_all(&env.pool)
    .await
    .expect("mails")
}

/// The path and query of the link in the latest mail to `to`.
async fn mailed_link(env: &Env, to: &str) -> String {
    let all = mails(env, to).await;
    let body = all.last().map(|m| m.1.clone()).unwrap_or_default();
    let start = body.find("/portal/").expect("a link in the mail");
    body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

#[tokio::test]
async fn sign_up_rules_confirmation_sign_in_and_out() {
    let p = start(Backoff::default()).await;
    let mut b = Browser::new(&p.base, "en-GB,en;q=0.9");

    // Each password rule, and the rules of the grant and the domain.
    let r = b.sign_up("bob@acme.example", "4321-0001", "weak").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for rule in ["at least 12", "upper-case", "a digit", "special character"] {
        assert!(r.body.contains(rule), "{rule}: {}", r.body);
    }
    // A NUL (which PostgreSQL refuses) is an unknown grant, not a crash.
    let r = b.sign_up("bob@acme.example", "4321\u{0}0001", GOOD).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = b.sign_up("bob@acme.example", "0000-0000", GOOD).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("is not known"), "{}", r.body);
    let r = b.sign_up("bob@example.tw", "7777-0007", GOOD).await;
    assert!(r.body.contains("expired on 2020-01-31"), "{}", r.body);
    let r = b.sign_up("eve@evil.example", "4321-0001", GOOD).await;
    assert!(r.body.contains("contact customer service"), "{}", r.body);
    // What was typed comes back, escaped.
    assert!(r.body.contains("Bob &lt;b&gt;Builder&lt;"), "{}", r.body);
    assert!(mails(&p.env, "eve@evil.example").await.is_empty());

    let r = b.sign_up("Bob@ACME.example", "4321-0001", GOOD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Check your mail"), "{}", r.body);
    let sent = mails(&p.env, "bob@acme.example").await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0.contains("Confirm"), "{:?}", sent[0]);

    // Unconfirmed: the right password gets no session.
    let r = b.sign_in("bob@acme.example", GOOD).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Confirm your address first"), "{}", r.body);
    assert_eq!(b.get("/portal/").await.status, StatusCode::SEE_OTHER);

    // The link: GET shows a button and spends nothing; POST confirms once.
    let link = mailed_link(&p.env, "bob@acme.example").await;
    assert!(link.starts_with("/portal/confirm?token="), "{link}");
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = field(&page.body, "token");
    let confirm = [
        ("csrf", page.csrf()),
        ("token", token.clone()),
        ("password", GOOD.into()),
    ];
    let confirm: Vec<(&str, &str)> = confirm.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post("/portal/confirm", &confirm).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Address confirmed"));
    // (A wrong password would not have spent it: see the pre-claim test.)
    let r = b.post("/portal/confirm", &confirm).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("already used"));
    assert_eq!(b.get(&link).await.status, StatusCode::GONE);
    let r = b.get("/portal/confirm?token=not-a-token").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Sign-in: a session cookie with its attributes, then the home page.
    let r = b.sign_in("bob@acme.example", GOOD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = b
        .set
        .iter()
        .find(|c| c.starts_with("intake_portal="))
        .cloned()
        .unwrap_or_default();
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/portal",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    let home = b.get("/portal/").await;
    assert_eq!(home.status, StatusCode::OK);
    // Every grant of the company, with level and expiry; no one else's.
    for want in ["4321-0001", "4321-0002", "platinum", "2027-06-30", "gold"] {
        assert!(home.body.contains(want), "{want}: {}", home.body);
    }
    assert!(!home.body.contains("8888-2026"));
    assert!(home.body.contains("Bob &lt;b&gt;Builder&lt;"));

    // A second sign-up for the confirmed address changes nothing and says
    // the same; the owner is told by mail.
    let r = b
        .sign_up("bob@acme.example", "4321-0001", "Another-Pass-9")
        .await;
    assert!(r.body.contains("Check your mail"));
    let sent = mails(&p.env, "bob@acme.example").await;
    assert!(
        sent.last().is_some_and(|m| m.0.contains("already have")),
        "{sent:?}"
    );
    assert_eq!(b.get("/portal/").await.status, StatusCode::OK);

    // Sign-out ends the session on the server, not only in the browser.
    let stolen = b.cookies.get("intake_portal").cloned().unwrap_or_default();
    let csrf = home.csrf();
    let r = b.post("/portal/sign-out", &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(b.get("/portal/").await.status, StatusCode::SEE_OTHER);
    b.cookies.insert("intake_portal".into(), stolen);
    assert_eq!(b.get("/portal/").await.status, StatusCode::SEE_OTHER);

    // Sessions expire.
    let r = b.sign_in("bob@acme.example", GOOD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/portal/").await.status, StatusCode::OK);
    p.clock.advance(TimeDelta::hours(13));
    assert_eq!(b.get("/portal/").await.status, StatusCode::SEE_OTHER);
    p.env.cleanup().await;
}

#[tokio::test]
async fn csrf_and_security_headers() {
    let p = start(Backoff::default()).await;
    let mut b = Browser::new(&p.base, "en");
    let page = b.get("/portal/sign-in").await;
    let h = &page.headers;
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(
        h.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        h.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"same-origin"[..])
    );
    assert!(b.set.iter().any(|c| c.starts_with("intake_csrf=")
        && c.contains("SameSite=Strict")
        && c.contains("HttpOnly")));
    assert!(!page.body.contains("<script"));

    // No token, a wrong token, a token without its cookie: refused.
    let r = b
        .post(
            "/portal/sign-in",
            &[("email", "a@b.example"), ("password", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            "/portal/sign-in",
            &[
                ("csrf", "forged"),
                ("email", "a@b.example"),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let mut other = Browser::new(&p.base, "en");
    let r = other
        .post(
            "/portal/sign-in",
            &[
                ("csrf", csrf.as_str()),
                ("email", "a@b.example"),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A post from another site is refused whatever it carries.
    let r = b
        .http
        .post(format!("{}/portal/sign-in", p.base))
        .header("Cookie", b.cookie_header())
        .header("Origin", "https://evil.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "a@b.example"),
            ("password", "x"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The stylesheet is served from here (the CSP allows nothing else).
    let css = b.get("/static/web.css").await;
    assert_eq!(css.status, StatusCode::OK);
    p.env.cleanup().await;
}

async fn confirmed(p: &Portal0, b: &mut Browser, email: &str) {
    b.sign_up(email, "4321-0001", GOOD).await;
    confirmed_link(p, b, email).await;
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_then_the_address() {
    let p = start(Backoff {
        per_address: 12,
        ..Backoff::default()
    })
    .await;
    let mut b = Browser::new(&p.base, "en");
    confirmed(&p, &mut b, "carol@acme.example").await;
    for _ in 0..4 {
        let r = b.sign_in("carol@acme.example", "Wrong-Pass-0").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("wrong"));
    }
    let r = b.sign_in("carol@acme.example", "Wrong-Pass-0").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.body.contains("locked until 2026-12-02 09:01 UTC"),
        "{}",
        r.body
    );
    assert_eq!(
        r.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"60"[..])
    );
    // Locked: even the right password waits.
    let r = b.sign_in("carol@acme.example", GOOD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    p.clock.advance(TimeDelta::seconds(61));
    let r = b.sign_in("carol@acme.example", GOOD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // An address that fails for many accounts (or none) is refused.
    for i in 0..7 {
        let r = b
            .sign_in(&format!("nobody{i}@acme.example"), "Wrong-Pass-0")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    let r = b.sign_in("carol@acme.example", GOOD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("from your network"), "{}", r.body);
    p.clock.advance(TimeDelta::minutes(16));
    assert_eq!(
        b.sign_in("carol@acme.example", GOOD).await.status,
        StatusCode::SEE_OTHER
    );
    p.env.cleanup().await;
}

#[tokio::test]
async fn password_reset_links_in_chinese() {
    let p = start(Backoff::default()).await;
    let mut b = Browser::new(&p.base, "zh-CN,zh;q=0.9");
    let r = b.sign_up("dan@example.cn", "8888-2026", GOOD).await;
    assert!(r.body.contains("请查收邮件"), "{}", r.body);
    let sent = mails(&p.env, "dan@example.cn").await;
    assert!(sent[0].0.contains("请确认"), "{sent:?}");
    confirmed_link(&p, &mut b, "dan@example.cn").await;
    let old = b.sign_in("dan@example.cn", GOOD).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER);
    let home = b.get("/portal/").await;
    assert!(home.body.contains("贵公司的授权"), "{}", home.body);
    let old_session = b.cookies.get("intake_portal").cloned().unwrap_or_default();

    // An address without an account is answered the same, and mailed nothing.
    let r = b
        .submit(
            "/portal/forgot",
            "/portal/forgot",
            &[("email", "nobody@example.cn")],
        )
        .await;
    let same = b
        .submit(
            "/portal/forgot",
            "/portal/forgot",
            &[("email", "dan@example.cn")],
        )
        .await;
    assert_eq!((r.status, r.body.len()), (same.status, same.body.len()));
    assert!(mails(&p.env, "nobody@example.cn").await.is_empty());
    let first = mailed_link(&p.env, "dan@example.cn").await;
    assert!(first.starts_with("/portal/reset?token="), "{first}");

    // Expired after an hour.
    p.clock.advance(TimeDelta::minutes(61));
    assert_eq!(b.get(&first).await.status, StatusCode::GONE);
    b.submit(
        "/portal/forgot",
        "/portal/forgot",
        &[("email", "dan@example.cn")],
    )
    .await;
    let link = mailed_link(&p.env, "dan@example.cn").await;
    assert_ne!(link, first);
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = field(&page.body, "token");
    let weak = b
        .post(
            "/portal/reset",
            &[
                ("csrf", page.csrf().as_str()),
                ("token", token.as_str()),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.body.contains("至少需要 12 个字符"), "{}", weak.body);
    let set = [
        ("csrf", page.csrf()),
        ("token", token.clone()),
        ("password", "New-Password-42".into()),
    ];
    let set: Vec<(&str, &str)> = set.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post("/portal/reset", &set).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("密码已设置"));
    assert_eq!(b.post("/portal/reset", &set).await.status, StatusCode::GONE);
    // Every earlier session ended; the old password is gone.
    b.cookies.insert("intake_portal".into(), old_session);
    assert_eq!(b.get("/portal/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        b.sign_in("dan@example.cn", GOOD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.sign_in("dan@example.cn", "New-Password-42").await.status,
        StatusCode::SEE_OTHER
    );
    p.env.cleanup().await;
}

/// Follows the latest confirmation link mailed to `email`, with the
/// sign-up's password.
async fn confirmed_link(p: &Portal0, b: &mut Browser, email: &str) {
    let link = mailed_link(&p.env, email).await;
    let page = b.get(&link).await;
    let token = field(&page.body, "token");
    let r = b
        .post(
            "/portal/confirm",
            &[
                ("csrf", page.csrf().as_str()),
                ("token", token.as_str()),
                ("password", GOOD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_first_confirmed_user_sets_a_grants_domain() {
    let p = start(Backoff::default()).await;
    let mut b = Browser::new(&p.base, "en");
    // Two sign-ups under a grant without domains, from two domains.
    b.sign_up("erin@newco.example", "5555-0000", GOOD).await;
    let erin = mailed_link(&p.env, "erin@newco.example").await;
    b.sign_up("mallory@other.example", "5555-0000", GOOD).await;
    let mallory = mailed_link(&p.env, "mallory@other.example").await;
    for (link, want) in [(erin, StatusCode::OK), (mallory, StatusCode::FORBIDDEN)] {
        let page = b.get(&link).await;
        let token = field(&page.body, "token");
        let r = b
            .post(
                "/portal/confirm",
                &[
                    ("csrf", page.csrf().as_str()),
                    ("token", token.as_str()),
                    ("password", GOOD),
                ],
            )
            .await;
        assert_eq!(r.status, want, "{}", r.body);
    }
    let domains: Vec<String> =
        sqlx::query_scalar("SELECT email_domains FROM grants WHERE grant_number = '5555-0000'")
            .fetch_one(&p.env.pool)
            .await
            .expect("domains");
    assert_eq!(domains, ["newco.example"]);
    // Later sign-ups from another domain are refused outright.
    let r = b.sign_up("trudy@other.example", "5555-0000", GOOD).await;
    assert!(r.body.contains("contact customer service"), "{}", r.body);
    p.env.cleanup().await;
}

/// The number in a `/portal/srs/SR-...` redirect.
fn sr_of(r: &Page) -> String {
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.strip_prefix("/portal/srs/"))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn service_requests_views_updates_reopening_and_isolation() {
    let p = start(Backoff::default()).await;
    let mut bob = Browser::new(&p.base, "en");
    confirmed(&p, &mut bob, "bob@acme.example").await;
    assert_eq!(
        bob.sign_in("bob@acme.example", GOOD).await.status,
        StatusCode::SEE_OTHER
    );

    // The form shows the handbook's severities and the phone note.
    let form = bob.get("/portal/srs/new").await;
    for want in [
        "business stopped",
        "information request",
        "the phone is the fastest path",
    ] {
        assert!(form.body.contains(want), "{want}");
    }
    let r = bob
        .submit(
            "/portal/srs/new",
            "/portal/srs/new",
            &[("title", ""), ("severity", "9"), ("description", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Choose a severity"));
    let r = bob
        .submit(
            "/portal/srs/new",
            "/portal/srs/new",
            &[
                ("title", "<img src=x onerror=alert(1)> pop-ups"),
                ("severity", "2"),
                (
                    "description",
                    "Every machine shows pop-ups.\n<script>alert(1)</script>",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mine = sr_of(&r);
    assert!(mine.starts_with("SR-2026-"), "{mine}");
    let page = bob.get(&format!("/portal/srs/{mine}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("&lt;img src=x onerror=alert(1)&gt; pop-ups"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("business severely impaired"));
    let (status, severity, channel): (String, i16, String) = sqlx::query_as(
        "SELECT status, severity, channel FROM service_requests WHERE sr_number = $1",
    )
    .bind(&mine)
    .fetch_one(&p.env.pool)
    .await
    .expect("sr");
    assert_eq!(
        (status.as_str(), severity, channel.as_str()),
        ("open", 2, "portal")
    );

    // An SR bob mailed (verified) joins the views; one held as unverified
    // under the company's grant does not.
    let mailed = p
        .env
        .intake
        .email(harness::sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("ingest");
    assert!(mailed.verification.is_verified());
    sqlx::query(
        "INSERT INTO service_requests (sr_number, grant_number, customer_email, severity, status)
         VALUES ('SR-2026-999999', '4321-0001', 'someone@acme.example', 3, 'unverified')",
    )
    .execute(&p.env.pool)
    .await
    .expect("unverified sr");
    let company = bob.get("/portal/srs?view=company").await;
    assert!(company.body.contains(&mine));
    assert!(
        company.body.contains(&mailed.sr_number.to_string()),
        "{}",
        company.body
    );
    assert!(!company.body.contains("SR-2026-999999"));
    assert_eq!(
        bob.get("/portal/srs/SR-2026-999999").await.status,
        StatusCode::NOT_FOUND
    );
    let mailed_page = bob.get(&format!("/portal/srs/{}", mailed.sr_number)).await;
    assert_eq!(mailed_page.status, StatusCode::OK);
    assert!(
        mailed_page.body.contains("in analysis"),
        "{}",
        mailed_page.body
    );

    // An update is added and moves nothing.
    let path = format!("/portal/srs/{mine}");
    let r = bob
        .submit(
            &path,
            &format!("{path}/update"),
            &[("text", "It spread to the file server.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Your update was added")
            && r.body.contains("It spread to the file server.")
    );

    // Closed by staff: updates wait for reopening, which works for 30 days.
    let close = |at| {
        let intake = p.env.intake.clone();
        let sr: intake::sr::SrNumber = mine.parse().expect("number");
        async move {
            intake::triage::close_sr(
                &intake,
                &sr,
                intake::triage::By {
                    actor: "staff",
                    now: at,
                },
                None,
            )
            .await
            .expect("close");
        }
    };
    close(p.clock.now()).await;
    let r = bob
        .submit(&path, &format!("{path}/update"), &[("text", "more")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    p.clock.advance(TimeDelta::days(29));
    // (Sessions last 12 hours: a month later bob signs in again.)
    bob.sign_in("bob@acme.example", GOOD).await;
    let r = bob.submit(&path, &format!("{path}/reopen"), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("reopened"));
    close(p.clock.now()).await;
    p.clock.advance(TimeDelta::days(31));
    bob.sign_in("bob@acme.example", GOOD).await;
    let r = bob.submit(&path, &format!("{path}/reopen"), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("more than 30 days ago"), "{}", r.body);
    assert!(
        !bob.get("/portal/srs?view=my_open")
            .await
            .body
            .contains(&mine)
    );
    assert!(bob.get("/portal/srs?view=mine").await.body.contains(&mine));

    // Another company's user finds nothing of ACME's, by any route.
    let mut dan = Browser::new(&p.base, "en");
    dan.sign_up("dan@example.cn", "8888-2026", GOOD).await;
    confirmed_link(&p, &mut dan, "dan@example.cn").await;
    assert_eq!(
        dan.sign_in("dan@example.cn", GOOD).await.status,
        StatusCode::SEE_OTHER
    );
    // Every page the router declares, with ACME's ids: `404` (or `405` for
    // a method the page does not take), and nothing of ACME's on the rest.
    let token = make_token(&mut bob, "bobs").await;
    assert!(!token.is_empty());
    let bobs_token: i64 = sqlx::query_scalar("SELECT max(id) FROM api_tokens")
        .fetch_one(&p.env.pool)
        .await
        .expect("id");
    let numbers = [
        mine.clone(),
        mailed.sr_number.to_string(),
        "SR-2026-999999".into(),
    ];
    let paths = intake::portal::web::page_paths();
    assert!(paths.len() >= 16, "{paths:?}");
    for path in paths {
        let concrete: Vec<String> = if path.contains("{number}") {
            numbers
                .iter()
                .map(|n| path.replace("{number}", n))
                .collect()
        } else if path.contains("{id}") {
            vec![path.replace("{id}", &bobs_token.to_string())]
        } else {
            vec![path.to_owned()]
        };
        for url in concrete {
            if path == "/portal/sign-out" {
                continue;
            }
            let got = dan.get(&url).await;
            let posted = dan.submit("/portal/srs/new", &url, &[("text", "x")]).await;
            if path.contains('{') {
                for (method, r) in [("GET", &got), ("POST", &posted)] {
                    assert!(
                        matches!(
                            r.status,
                            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                        ),
                        "{method} {url}: {}",
                        r.status
                    );
                }
                assert!(
                    got.status == StatusCode::NOT_FOUND || posted.status == StatusCode::NOT_FOUND,
                    "{url}"
                );
            }
            for r in [&got, &posted] {
                assert!(
                    !r.body.contains(&mine) && !r.body.contains("bob@acme.example"),
                    "{url} leaked: {}",
                    r.body
                );
            }
        }
    }
    // Bob's token still works: dan's post did not revoke it.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/srs", p.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    for view in ["my_open", "mine", "company"] {
        let r = dan.get(&format!("/portal/srs?view={view}")).await;
        assert!(!r.body.contains("SR-2026-"), "{view}: {}", r.body);
    }
    // Signed out, every SR page sends to sign-in.
    let mut nobody = Browser::new(&p.base, "en");
    assert_eq!(
        nobody.get(&format!("/portal/srs/{mine}")).await.status,
        StatusCode::SEE_OTHER
    );
    p.env.cleanup().await;
}

/// Makes an API token on the tokens page; returns its secret.
async fn make_token(b: &mut Browser, name: &str) -> String {
    let r = b
        .submit("/portal/tokens", "/portal/tokens", &[("name", name)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let start = r
        .body
        .find("<code class=\"secret\">")
        .expect("the secret, once")
        + 21;
    r.body[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn api_tokens_the_json_api_and_isolation_on_every_documented_route() {
    let p = start(Backoff::default()).await;
    let mut bob = Browser::new(&p.base, "en");
    confirmed(&p, &mut bob, "bob@acme.example").await;
    bob.sign_in("bob@acme.example", GOOD).await;
    let token = make_token(&mut bob, "nightly <script>").await;
    assert_eq!(token.len(), 43);
    let tokens_page = bob.get("/portal/tokens").await;
    assert!(tokens_page.body.contains("nightly &lt;script&gt;"));
    assert!(!tokens_page.body.contains(&token), "shown once only");
    let stored: String = sqlx::query_scalar("SELECT token_sha256 FROM api_tokens")
        .fetch_one(&p.env.pool)
        .await
        .expect("row");
    assert_eq!(stored, intake::account::token::digest(&token).to_hex());

    let http = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{}{path}", p.base))
            .header("Authorization", format!("Bearer {token}"))
    };
    // No token, a wrong one: 401 in the one error shape.
    let r = http
        .get(format!("{}/api/v1/srs", p.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "unauthorized");
    let r = api(reqwest::Method::GET, "/api/v1/srs", "nope")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Open an SR, read it, add to it, list it.
    let r = api(reqwest::Method::POST, "/api/v1/srs", &token)
        .json(&serde_json::json!({"title": "Script-made", "severity": 4, "description": "found a file"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let sr: serde_json::Value = r.json().await.unwrap_or_default();
    let number = sr["number"].as_str().unwrap_or_default().to_owned();
    assert!(number.starts_with("SR-2026-"), "{sr}");
    assert_eq!(sr["status"], "open");
    assert_eq!(sr["severity"], 4);
    let r = api(reqwest::Method::POST, "/api/v1/srs", &token)
        .json(&serde_json::json!({"title": "", "severity": 7, "description": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = api(
        reqwest::Method::POST,
        &format!("/api/v1/srs/{number}/updates"),
        &token,
    )
    .json(&serde_json::json!({"text": "more detail"}))
    .send()
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let got: serde_json::Value = api(
        reqwest::Method::GET,
        &format!("/api/v1/srs/{number}"),
        &token,
    )
    .send()
    .await
    .expect("get")
    .json()
    .await
    .unwrap_or_default();
    assert_eq!(got["updates"].as_array().map(Vec::len), Some(2), "{got}");
    let list: serde_json::Value = api(reqwest::Method::GET, "/api/v1/srs?view=company", &token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .unwrap_or_default();
    assert!(list.to_string().contains(&number));
    let ents: serde_json::Value = api(reqwest::Method::GET, "/api/v1/entitlements", &token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .unwrap_or_default();
    assert!(ents.to_string().contains("4321-0002"), "{ents}");

    // Another company's token: every documented route, on ACME's SR, is a
    // 404 or shows none of it (the routes are read from the OpenAPI
    // description, so a new endpoint joins this check by being described).
    let mut dan = Browser::new(&p.base, "en");
    dan.sign_up("dan@example.cn", "8888-2026", GOOD).await;
    confirmed_link(&p, &mut dan, "dan@example.cn").await;
    dan.sign_in("dan@example.cn", GOOD).await;
    let other = make_token(&mut dan, "dan").await;
    let doc: serde_json::Value = http
        .get(format!("{}/api/openapi.json", p.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .unwrap_or_default();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() >= 5, "{doc}");
    for (path, ops) in &paths {
        let concrete = path.replace("{number}", &number);
        for method in ops
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let m: reqwest::Method = method.to_uppercase().parse().expect("method");
            let body =
                serde_json::json!({"title": "t", "severity": 3, "description": "d", "text": "t"});
            let r = api(m.clone(), &concrete, &other)
                .json(&body)
                .send()
                .await
                .expect("call");
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            assert!(
                !text.contains(&number),
                "{method} {concrete} leaked: {text}"
            );
            assert!(
                !text.contains("4321-000"),
                "{method} {concrete} leaked: {text}"
            );
            if path.contains("{number}") {
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {concrete}");
            }
            // And without a token, nothing at all.
            let r = http
                .request(m, format!("{}{concrete}", p.base))
                .json(&body)
                .send()
                .await
                .expect("call");
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {concrete}");
        }
    }

    // Revoked: the token stops working at once.
    let id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'dan'")
        .fetch_one(&p.env.pool)
        .await
        .expect("id");
    let r = dan
        .submit(
            "/portal/tokens",
            &format!("/portal/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api(reqwest::Method::GET, "/api/v1/srs", &other)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Bob cannot revoke (or see) dan's tokens.
    let bobs: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name <> 'dan'")
        .fetch_one(&p.env.pool)
        .await
        .expect("id");
    let r = dan
        .submit(
            "/portal/tokens",
            &format!("/portal/tokens/{bobs}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api(reqwest::Method::GET, "/api/v1/srs", &token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    p.env.cleanup().await;
}

/// `schemathesis` (PyPI) against `/api/openapi.json` with a live token: no
/// server error, no response outside the description, no other check of
/// its broken. The same command, by hand: see the README's "The portal".
#[tokio::test]
async fn schemathesis_finds_nothing_in_the_api() {
    let p = start(Backoff::default()).await;
    let mut bob = Browser::new(&p.base, "en");
    confirmed(&p, &mut bob, "bob@acme.example").await;
    bob.sign_in("bob@acme.example", GOOD).await;
    let token = make_token(&mut bob, "schemathesis").await;
    // Something to find: an SR of bob's and one mailed in.
    bob.submit(
        "/portal/srs/new",
        "/portal/srs/new",
        &[("title", "t"), ("severity", "3"), ("description", "d")],
    )
    .await;
    p.env
        .intake
        .email(harness::sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("ingest");
    let url = format!("{}/api/openapi.json", p.base);
    let out = tokio::task::spawn_blocking(move || harness::tools::schemathesis(&url, &token))
        .await
        .expect("join")
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.env.cleanup().await;
}

/// Someone who signs up first with a victim's address and a password of
/// their own cannot have the victim confirm it: the link goes with the
/// newest sign-up and needs its password.
#[tokio::test]
async fn a_pre_claimed_address_cannot_be_confirmed_with_the_claimants_password() {
    let p = start(Backoff::default()).await;
    let mut eve = Browser::new(&p.base, "en");
    eve.sign_up("bob@acme.example", "4321-0001", "Eves-Password-1")
        .await;
    let eves_link = mailed_link(&p.env, "bob@acme.example").await;
    let mut bob = Browser::new(&p.base, "en");
    bob.sign_up("bob@acme.example", "4321-0001", GOOD).await;
    let bobs_link = mailed_link(&p.env, "bob@acme.example").await;
    assert_ne!(eves_link, bobs_link);
    // The earlier link is gone with the earlier sign-up.
    assert_eq!(bob.get(&eves_link).await.status, StatusCode::NOT_FOUND);
    let page = bob.get(&bobs_link).await;
    let token = field(&page.body, "token");
    let csrf = page.csrf();
    let with = |pw: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("token", token.clone()),
            ("password", pw.to_owned()),
        ]
    };
    let wrong = with("Eves-Password-1");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = bob.post("/portal/confirm", &wrong).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Not the password"), "{}", r.body);
    let right = with(GOOD);
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        bob.post("/portal/confirm", &right).await.status,
        StatusCode::OK
    );
    assert_eq!(
        eve.sign_in("bob@acme.example", "Eves-Password-1")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        bob.sign_in("bob@acme.example", GOOD).await.status,
        StatusCode::SEE_OTHER
    );
    p.env.cleanup().await;
}

/// The facts of a complete upload (CHECK_REPORT.md's keys).
fn facts() -> serde_json::Value {
    serde_json::json!({
        "file_list": "dropper.exe (Temp), tool (home)",
        "symptoms": "unknown process",
        "detected": false,
        "product_name": "Endpoint Security",
        "engine_version": "6700.10107",
        "dat_version": "5390.0",
        "os": "Windows 11",
        "service_pack": "none",
        "title": "Dropper on the build server",
        "passwords": ["s3cret-pw"],
    })
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(harness::root().join("samples").join(path)).expect("sample")
}

fn part(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned())
}

/// A zip locked with `password` (AES-256) holding `name`.
fn locked_zip(name: &str, data: &[u8], password: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .with_aes_encryption(zip::AesMode::Aes256, password);
    w.start_file(name, opts).expect("start");
    w.write_all(data).expect("write");
    w.finish().expect("finish").into_inner()
}

/// An ELF header and nothing to run: a harmless specimen.
fn elf() -> Vec<u8> {
    let mut b = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    b.resize(64, 0);
    b.extend_from_slice(b"echo harmless\n");
    b
}

async fn api_upload(
    p: &Portal0,
    token: &str,
    path: &str,
    key: Option<&str>,
    form: reqwest::multipart::Form,
) -> (StatusCode, HeaderMap, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", p.base))
        .bearer_auth(token)
        .multipart(form);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("upload");
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn uploads_on_the_api_and_the_pages_take_the_mail_path() {
    let p = start(Backoff::default()).await;
    let mut bob = Browser::new(&p.base, "en");
    confirmed(&p, &mut bob, "bob@acme.example").await;
    bob.sign_in("bob@acme.example", GOOD).await;
    let token = make_token(&mut bob, "uploads").await;

    // A raw file, a wrapper zip, a zip only the customer's password opens,
    // and a screenshot.
    let dropper = sample("portal/01-accepted/dropper.exe");
    let form = || {
        reqwest::multipart::Form::new()
            .text("metadata", facts().to_string())
            .part("file", part("dropper.exe", dropper.clone()))
            .part(
                "file",
                part("wrapped.zip", sample("portal/01-accepted/wrapped.zip")),
            )
            .part(
                "file",
                part("theirs.zip", locked_zip("tool", &elf(), "s3cret-pw")),
            )
            .part(
                "file",
                part("screen.png", sample("portal/02-mixed/screen.png")),
            )
    };
    let (status, _, body) = api_upload(&p, &token, "/api/v1/uploads", Some("k-1"), form()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["outcome"], "accepted", "{body}");
    let sr = body["sr"].as_str().unwrap_or_default().to_owned();
    let samples = body["samples"].as_array().cloned().unwrap_or_default();
    let sha = intake::digest::Sha256::of(&dropper).to_hex();
    assert!(
        samples
            .iter()
            .any(|s| s["sha256"] == sha.as_str() && s["kind"] == "pe"),
        "{body}"
    );
    assert!(
        samples.iter().any(|s| s["path"] == "theirs.zip/tool"),
        "the customer's password opened it: {body}"
    );
    let rejected = body["rejected"].as_array().cloned().unwrap_or_default();
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(rejected[0]["reason"], "screenshot");
    assert!(
        rejected[0]["advice"]
            .as_str()
            .is_some_and(|a| a.contains("suspicious file"))
    );
    assert!(
        !body.to_string().contains("s3cret-pw"),
        "passwords never shown back"
    );
    // The same key again finds the first upload.
    let (status, _, again) = api_upload(&p, &token, "/api/v1/uploads", Some("k-1"), form()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["sr"], sr.as_str());
    assert_eq!(p.env.count("SELECT count(*) FROM submissions").await, 1);
    // Asked to answer at once: 202 when stored, the result once recorded.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/uploads", p.base))
        .bearer_auth(&token)
        .header("Prefer", "respond-async")
        .header("Idempotency-Key", "k-2")
        .multipart(
            reqwest::multipart::Form::new()
                .text("metadata", facts().to_string())
                .part("file", part("later.exe", b"MZ later, harmless".to_vec())),
        )
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/api/v1/uploads/k-2")
    );
    let progress = |t: String| {
        let url = format!("{}/api/v1/uploads/k-2", p.base);
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .expect("get");
            let status = r.status();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let later = harness::eventually(std::time::Duration::from_secs(20), "recorded", || async {
        let (status, body) = progress(token.clone()).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(later["outcome"], "accepted", "{later}");
    assert_eq!(p.env.count("SELECT count(*) FROM submissions").await, 2);
    // Recorded as the mail path records: a portal SR of bob's, jobs queued,
    // every sample's bytes in the blob store.
    let (channel, title, opener): (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT sr.channel, sr.title, a.email FROM service_requests sr
         LEFT JOIN accounts a ON a.id = sr.opened_by WHERE sr.sr_number = $1",
    )
    .bind(&sr)
    .fetch_one(&p.env.pool)
    .await
    .expect("sr");
    assert_eq!(channel, "portal");
    assert_eq!(title.as_deref(), Some("Dropper on the build server"));
    assert_eq!(opener.as_deref(), Some("bob@acme.example"));
    assert_eq!(
        p.env
            .count("SELECT count(*) FROM outbox WHERE kind = 'sample.analyse'")
            .await,
        samples.len() as i64 + 1
    );
    assert_eq!(
        p.env
            .assert_blobs_read_back("SELECT sha256 FROM samples")
            .await,
        samples.len() + 1
    );
    // Nothing is left in the spool, and no stored file holds a sample as
    // it came.
    let tmp = p.env.blob_dir.path().join("tmp");
    assert_eq!(std::fs::read_dir(&tmp).expect("tmp").count(), 0);
    let raw = p
        .env
        .blob_dir
        .path()
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha);
    let stored = std::fs::read(&raw).expect("stored");
    assert!(
        !stored
            .windows(dropper.len().min(64))
            .any(|w| w == &dropper[..w.len()])
    );
    // The SR page lists the files; the API's SR too.
    assert!(
        bob.get(&format!("/portal/srs/{sr}"))
            .await
            .body
            .contains(&sha)
    );

    // In Chinese, on the page, to the SR: a hostile name shown as text.
    let mut chen = Browser::new(&p.base, "zh-CN,zh;q=0.9");
    confirmed(&p, &mut chen, "chen@acme.example").await;
    chen.sign_in("chen@acme.example", GOOD).await;
    let path = format!("/portal/srs/{sr}/files");
    let page = chen.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("上传"), "{}", page.body);
    let hostile = "<img src=x onerror=alert(1)>.exe";
    let form = reqwest::multipart::Form::new()
        .text("csrf", page.csrf())
        .text("symptoms", "弹窗")
        .part("file", part(hostile, b"MZ\x90\x00 harmless".to_vec()));
    let r = chen.upload(&path, form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(&sr), "the files joined the SR: {}", r.body);
    assert!(
        r.body.contains("&lt;img src=x onerror=alert(1)&gt;.exe"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<img src=x"));
    assert!(
        r.body.contains("仍缺少的信息"),
        "missing facts, in Chinese: {}",
        r.body
    );
    assert_eq!(p.env.count("SELECT count(*) FROM submissions").await, 3);

    // A forged post (no token first) stores nothing.
    let inputs = p.env.count("SELECT count(*) FROM inbound").await;
    let form = reqwest::multipart::Form::new().part("file", part("a.exe", b"MZ".to_vec()));
    let r = chen.upload("/portal/upload", form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let form = reqwest::multipart::Form::new()
        .text("csrf", "forged")
        .part("file", part("a.exe", b"MZ".to_vec()));
    assert_eq!(
        chen.upload("/portal/upload", form).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(p.env.count("SELECT count(*) FROM inbound").await, inputs);
    assert_eq!(std::fs::read_dir(&tmp).expect("tmp").count(), 0);
    // No file: said so.
    let csrf = chen.get("/portal/upload").await.csrf();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .part("file", part("", Vec::new()));
    assert_eq!(
        chen.upload("/portal/upload", form).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    p.env.cleanup().await;
}

/// Writes a request's head to a raw connection and reads what comes back
/// without ever sending the body (or only `body`).
async fn raw_request(base: &str, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    // The server may answer and close while the body is still going.
    let _ = s.write_all(body).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "an answer without the body");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn oversized_uploads_get_413_before_the_body_is_read() {
    let p = start_with(
        Backoff::default(),
        UploadConfig {
            max_bytes: 1 << 20,
            ..UploadConfig::default()
        },
    )
    .await;
    let mut bob = Browser::new(&p.base, "en");
    confirmed(&p, &mut bob, "bob@acme.example").await;
    bob.sign_in("bob@acme.example", GOOD).await;
    let token = make_token(&mut bob, "big").await;
    // 100 MB announced, none sent: the answer comes anyway.
    let head = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 104857600\r\n\r\n"
    );
    let answer = raw_request(&p.base, &head, b"").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Chunked, so no length to refuse up front: refused once the limit passes.
    let mut body = Vec::new();
    let mut part =
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
            .to_vec();
    part.resize(part.len() + (2 << 20), b'A');
    for piece in part.chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    let head = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let answer = raw_request(&p.base, &head, &body).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // The page says it too, in the customer's words.
    let csrf = bob.get("/portal/upload").await.csrf();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .part("file", part_of_size(2 << 20));
    let r = bob.upload("/portal/upload", form).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("size limit of 1 MiB"), "{}", r.body);
    // Nothing half-received is kept.
    assert_eq!(p.env.count("SELECT count(*) FROM inbound").await, 0);
    let tmp = p.env.blob_dir.path().join("tmp");
    harness::eventually(
        std::time::Duration::from_secs(10),
        "spool removed",
        || async { (std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(1) == 0).then_some(()) },
    )
    .await;
    p.env.cleanup().await;
}

fn part_of_size(n: usize) -> reqwest::multipart::Part {
    part("big.bin", vec![b'A'; n])
}

#[tokio::test]
async fn the_quota_answers_429_until_its_window_moves_and_reuploads_do_not_count() {
    let p = start_with(
        Backoff::default(),
        UploadConfig {
            quota: intake::portal::quota::Quota {
                uploads_per_hour: 2,
                uploads_per_day: 0,
                bytes_per_hour: 0,
                bytes_per_day: 0,
            },
            ..UploadConfig::default()
        },
    )
    .await;
    let mut bob = Browser::new(&p.base, "en");
    confirmed(&p, &mut bob, "bob@acme.example").await;
    bob.sign_in("bob@acme.example", GOOD).await;
    let token = make_token(&mut bob, "quota").await;
    let upload = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("metadata", facts().to_string())
            .part("file", part("x.exe", bytes))
    };
    let first = b"MZ first harmless".to_vec();
    let (s, _, body) = api_upload(&p, &token, "/api/v1/uploads", None, upload(first.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // Analysed since: a re-upload is answered from the verdict and does
    // not count.
    sqlx::query(
        "INSERT INTO verdicts (sha256, verdict, reasons, decided_by, decided_at)
         VALUES ($1, 'malicious', '[]', 'analysis', $2)",
    )
    .bind(intake::digest::Sha256::of(&first).to_hex())
    .bind(t0())
    .execute(&p.env.pool)
    .await
    .expect("verdict");
    p.clock.advance(TimeDelta::minutes(10));
    let (s, _, body) = api_upload(&p, &token, "/api/v1/uploads", None, upload(first.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["samples"][0]["verdict"], "malicious", "{body}");
    let (s, _, _) = api_upload(
        &p,
        &token,
        "/api/v1/uploads",
        None,
        upload(b"MZ second".to_vec()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    p.clock.advance(TimeDelta::minutes(10));
    let (s, headers, body) = api_upload(
        &p,
        &token,
        "/api/v1/uploads",
        None,
        upload(b"MZ third".to_vec()),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "quota");
    // The first upload leaves the hour at 10:00; it is 09:20.
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2400")
    );
    let csrf = bob.get("/portal/upload").await.csrf();
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .part("file", part("x.exe", b"MZ".to_vec()));
    let r = bob.upload("/portal/upload", form).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("2026-12-02 10:00"), "{}", r.body);
    let metrics = p.env.intake.metrics.render();
    assert!(
        metrics.contains(r#"intake_uploads_refused_total{why="quota"} 2"#),
        "{metrics}"
    );
    p.clock.advance(TimeDelta::minutes(41));
    let (s, _, _) = api_upload(
        &p,
        &token,
        "/api/v1/uploads",
        None,
        upload(b"MZ third".to_vec()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    p.env.cleanup().await;
}

/// Sign-up, sign-in, a new SR, an upload and the SR pages in headless
/// Chromium, in English and in Chinese: each page's screenshot is taken
/// with its expected words on it (saved under the target folder to look
/// at), and a file named like an HTML element is shown as text with no
/// dialog opening.
#[tokio::test]
async fn the_pages_in_headless_chromium_in_english_and_chinese() {
    let p = start_at(
        Backoff::default(),
        UploadConfig::default(),
        Some("listener"),
        None,
    )
    .await;
    let chromium = harness::tools::chromium().to_owned();
    assert!(chromium.exists());
    let python = harness::tools::python().to_owned();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let script = harness::root().join("tests/tools/browser_portal.py");
    let sample = harness::root().join("samples/portal/01-accepted/dropper.exe");
    for (lang, email) in [("en", "bob@acme.example"), ("zh", "chen@acme.example")] {
        let link_file = shots.join(format!("{lang}-link"));
        let _ = std::fs::remove_file(&link_file);
        let (python, script, base, dir, sample) = (
            python.clone(),
            script.clone(),
            p.base.clone(),
            shots.clone(),
            sample.clone(),
        );
        let browser = tokio::task::spawn_blocking(move || {
            std::process::Command::new(python)
                .arg(script)
                .args([&base, email, GOOD, "4321-0001", lang])
                .arg(dir)
                .arg(sample)
                .output()
        });
        // The browser signs up; the link it is mailed is handed to it.
        harness::eventually(
            std::time::Duration::from_secs(60),
            "the confirmation mail",
            || async { (!mails(&p.env, email).await.is_empty()).then_some(()) },
        )
        .await;
        std::fs::write(&link_file, mailed_link(&p.env, email).await).expect("link");
        let out = browser
            .await
            .expect("join")
            .expect("the browser script runs");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{lang}: {said}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: serde_json::Value = serde_json::from_str(said.trim()).expect("json");
        let taken = result["screenshots"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(taken.len(), 7, "{said}");
        for shot in taken {
            let path = shot.as_str().unwrap_or_default();
            let png = std::fs::read(path).expect("screenshot");
            assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{path}");
        }
        // The upload joined the SR the browser opened.
        let files: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM submission_samples ss JOIN submissions s ON s.id = ss.submission_id
             JOIN service_requests sr ON sr.id = s.sr_id WHERE sr.sr_number = $1",
        )
        .bind(result["sr"].as_str().unwrap_or_default())
        .fetch_one(&p.env.pool)
        .await
        .expect("files");
        assert_eq!(files, 1, "{lang}");
    }
    p.env.cleanup().await;
}

/// Served over HTTPS directly (rustls): pages answer, cookies are
/// `Secure`, plain HTTP gets no page, and a client that never finishes
/// its handshake holds up no one else.
#[tokio::test]
async fn https_served_directly_with_secure_cookies() {
    let dir = tempfile::tempdir().expect("tmp");
    harness::tools::certificate(dir.path());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let certs = intake::tls::Certificates::open(&cert, &key).expect("certificate");
    let p = start_at(
        Backoff::default(),
        UploadConfig::default(),
        Some("https://localhost"),
        Some(certs),
    )
    .await;
    // A silent client first: it never sends a ClientHello.
    let addr = p.base.trim_start_matches("https://").to_owned();
    let _silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let curl = harness::tools::curl().to_owned();
    let url = format!("{}/portal/sign-in", p.base);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(curl)
            .args([
                "-sS",
                "-k",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "--max-time",
                "20",
            ])
            .arg(url)
            .output()
    })
    .await
    .expect("join")
    .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        head.starts_with("http/1.1 200"),
        "{head}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        head.lines()
            .any(|l| l.starts_with("set-cookie: intake_csrf=") && l.contains("; secure")),
        "{head}"
    );
    // Plain HTTP on the TLS port gets no page.
    let plain = raw_request_or_nothing(&addr).await;
    assert!(!plain.contains("200 OK"), "{plain}");
    p.env.cleanup().await;
}

/// What a plain HTTP request to `addr` gets back, if anything.
async fn raw_request_or_nothing(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s
        .write_all(b"GET /portal/sign-in HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), s.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

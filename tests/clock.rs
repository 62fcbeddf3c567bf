//! The escalation clock on the real database: nothing a second before the
//! deadline, one escalation at it however many schedulers race for it, the
//! next deadline from the policy table, and no escalation while the SR
//! waits on the customer.

mod harness;

use chrono::{DateTime, TimeDelta, Utc};
use harness::{Env, sample_email};
use intake::sr::{Severity, Tier};
use intake::triage::clock;

async fn sr_state(env: &Env, number: &str) -> (String, Option<DateTime<Utc>>, i16) {
    sqlx::query_as(
        "SELECT tier, escalation_due, severity FROM service_requests WHERE sr_number = $1",
    )
    .bind(number)
    .fetch_one(&env.pool)
    .await
    .expect("sr")
}

#[tokio::test]
async fn deadlines_escalate_once_at_the_second_and_not_while_waiting_on_the_customer() {
    let env = Env::new().await;
    let rec = env
        .intake
        .email(sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("ingest");
    let number = rec.sr_number.to_string();
    let (tier, due, severity) = sr_state(&env, &number).await;
    assert_eq!(tier, "L1");
    let due = due.expect("an escalation deadline");
    let severity = u8::try_from(severity)
        .ok()
        .and_then(Severity::new)
        .expect("severity");

    // A second early: nothing.
    let metrics = &env.intake.metrics;
    let n = clock::pass(&env.pool, due - TimeDelta::seconds(1), metrics)
        .await
        .expect("pass");
    assert_eq!(n, 0);
    // At the deadline, two schedulers at once: one escalation.
    let (a, b) = tokio::join!(
        clock::pass(&env.pool, due, metrics),
        clock::pass(&env.pool, due, metrics)
    );
    assert_eq!(a.expect("a") + b.expect("b"), 1);
    let (tier, next, _) = sr_state(&env, &number).await;
    assert_eq!(tier, "L2");
    assert_eq!(next, severity.escalation_after(Tier::L2).map(|d| due + d));
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.escalated' AND actor = 'clock'")
            .await,
        1
    );
    let shown = metrics.render();
    assert!(
        shown.contains(r#"intake_escalations_total{to="L2"} 1"#),
        "{shown}"
    );
    assert!(
        shown.contains(r#"intake_deadlines_breached{kind="update"} 1"#),
        "{shown}"
    );

    // Waiting on the customer stops it; answering starts it again.
    sqlx::query("UPDATE service_requests SET status = 'needs_info' WHERE sr_number = $1")
        .bind(&number)
        .execute(&env.pool)
        .await
        .expect("needs_info");
    let late = next.expect("next") + TimeDelta::days(1);
    assert_eq!(
        clock::pass(&env.pool, late, metrics).await.expect("pass"),
        0
    );
    sqlx::query("UPDATE service_requests SET status = 'in_analysis' WHERE sr_number = $1")
        .bind(&number)
        .execute(&env.pool)
        .await
        .expect("in_analysis");
    assert_eq!(
        clock::pass(&env.pool, late, metrics).await.expect("pass"),
        1
    );
    assert_eq!(sr_state(&env, &number).await.0, "L3");
    env.cleanup().await;
}

#[tokio::test]
async fn an_sr_opened_waiting_on_the_customer_has_its_clock_stopped() {
    let env = Env::new().await;
    let rec = env
        .intake
        .email(sample_email("02-needs-info-gbk-aes256.eml"), None)
        .await
        .expect("ingest");
    let (status, paused, due): (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT status, clock_paused_at, escalation_due FROM service_requests
             WHERE sr_number = $1",
        )
        .bind(rec.sr_number.to_string())
        .fetch_one(&env.pool)
        .await
        .expect("sr");
    assert_eq!(status, "needs_info");
    assert!(paused.is_some());
    let late = due.expect("due") + TimeDelta::days(30);
    assert_eq!(
        clock::pass(&env.pool, late, &env.intake.metrics)
            .await
            .expect("pass"),
        0
    );
    env.cleanup().await;
}

#[tokio::test]
async fn queues_hold_their_srs_in_deadline_order_page_by_page() {
    use intake::triage::queue::{self, Filter, Queue, Reader};
    let env = Env::new().await;
    let none = Filter::default();
    let reader = Reader {
        account_id: 0,
        now: chrono::Utc::now(),
    };
    let mut numbers = Vec::new();
    for mail in [
        "01-accepted-zipcrypto.eml",
        "02-needs-info-gbk-aes256.eml",
        "03-html-table-big5-aes128.eml",
        "05-wrapper-with-unwanted.eml",
    ] {
        let rec = env
            .intake
            .email(sample_email(mail), None)
            .await
            .expect("ingest");
        numbers.push(rec.sr_number.to_string());
    }
    // Deadlines of our choosing: the third SR is due first, then the
    // first; the second has none left.
    let t: DateTime<Utc> = "2026-12-07T09:00:00Z".parse().expect("t");
    for (n, due) in [
        (&numbers[0], Some(t + TimeDelta::hours(2))),
        (&numbers[1], None),
        (&numbers[2], Some(t - TimeDelta::minutes(30))),
        (&numbers[3], Some(t + TimeDelta::hours(5))),
    ] {
        sqlx::query(
            "UPDATE service_requests SET escalation_due = $2, next_update_due = NULL
             WHERE sr_number = $1",
        )
        .bind(n)
        .bind(due)
        .execute(&env.pool)
        .await
        .expect("due");
    }
    let all = queue::page(&env.pool, Queue::Urgent, &none, reader, None, 100)
        .await
        .expect("urgent");
    let order: Vec<String> = all.iter().map(|l| l.number.to_string()).collect();
    assert_eq!(
        order,
        [
            numbers[2].clone(),
            numbers[0].clone(),
            numbers[3].clone(),
            numbers[1].clone()
        ]
    );
    assert_eq!(
        queue::breached_by(all[0].next_due, t),
        Some(TimeDelta::minutes(30))
    );
    // One line a page, by the key: the same order.
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = queue::page(&env.pool, Queue::Urgent, &none, reader, after, 1)
            .await
            .expect("page");
        let Some(l) = page.first() else { break };
        walked.push(l.number.to_string());
        after = Some(l.key);
    }
    assert_eq!(walked, order);
    // needs_info holds the one waiting on the customer.
    let waiting = queue::page(&env.pool, Queue::NeedsInfo, &none, reader, None, 100)
        .await
        .expect("needs_info");
    assert!(waiting.iter().all(|l| l.status.as_str() == "needs_info"));
    assert!(waiting.iter().any(|l| l.number.to_string() == numbers[1]));
    // A severity's queue holds only that severity.
    for level in 1..=5u8 {
        let q: Queue = format!("sev{level}").parse().expect("queue");
        let lines = queue::page(&env.pool, q, &none, reader, None, 100)
            .await
            .expect("sev");
        assert!(lines.iter().all(|l| l.severity.level() == level));
    }
    // Filters narrow a queue; they read back from the URL's pairs.
    let only = |pairs: &[(&str, &str)]| Filter::parse(pairs.iter().copied()).expect("filter");
    let numbers_of = |lines: &[queue::Line]| -> Vec<String> {
        lines.iter().map(|l| l.number.to_string()).collect()
    };
    for (pairs, want) in [
        (vec![("status", "needs_info")], vec![numbers[1].clone()]),
        (
            vec![("channel", "email"), ("assignee", "none")],
            order.clone(),
        ),
        (vec![("channel", "portal")], vec![]),
        (vec![("older_than_days", "1")], vec![]),
        (vec![("tier", "L2")], vec![]),
        (vec![("grant", "no such company")], vec![]),
    ] {
        let f = only(&pairs);
        let got = queue::page(&env.pool, Queue::Urgent, &f, reader, None, 100)
            .await
            .expect("filtered");
        assert_eq!(numbers_of(&got), want, "{pairs:?}");
        let back = Filter::parse(f.pairs().iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, Ok(f));
    }
    assert!(Filter::parse([("severity", "9")]).is_err());
    assert!(Filter::parse([("assignee", "someone")]).is_err());
    // Assigned: out of "nobody's", in the assignee's own view.
    let hash = intake::account::password::hash("Lab-Analyst-2026").expect("hash");
    intake::store::staff::add(
        &env.pool,
        "ana@lab.example",
        "Ana",
        intake::account::Role::Analyst,
        &hash,
        "test",
        t,
    )
    .await
    .expect("staff");
    let ana: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE email = 'ana@lab.example'")
        .fetch_one(&env.pool)
        .await
        .expect("ana");
    let first: intake::sr::SrNumber = numbers[0].parse().expect("number");
    let by = intake::triage::By {
        actor: "lead@lab.example",
        now: t,
    };
    let to = intake::triage::AssignTo::Staff("ana@lab.example".into());
    assert_eq!(
        intake::triage::assign(&env.pool, std::slice::from_ref(&first), &to, by)
            .await
            .expect("assign"),
        1
    );
    assert_eq!(
        intake::triage::assign(&env.pool, &[first], &to, by)
            .await
            .expect("again"),
        0
    );
    let mine = queue::page(
        &env.pool,
        Queue::Urgent,
        &only(&[("assignee", "me")]),
        Reader {
            account_id: ana,
            ..reader
        },
        None,
        100,
    )
    .await
    .expect("mine");
    assert_eq!(numbers_of(&mine), [numbers[0].clone()]);
    let nobodys = queue::page(
        &env.pool,
        Queue::Urgent,
        &only(&[("assignee", "none")]),
        reader,
        None,
        100,
    )
    .await
    .expect("nobody's");
    assert_eq!(nobodys.len(), 3);
    assert_eq!(
        env.count(
            "SELECT count(*) FROM events WHERE kind = 'sr.assigned' AND actor = 'lead@lab.example'"
        )
        .await,
        1
    );
    let counts = queue::counts(&env.pool, &only(&[("assignee", "none")]), reader)
        .await
        .expect("counts");
    assert_eq!(counts[0], (Queue::Urgent, 3));
    // Closed SRs leave every queue.
    let sr: intake::sr::SrNumber = numbers[2].parse().expect("number");
    let by = intake::triage::By {
        actor: "ana@lab.example",
        now: t,
    };
    intake::triage::close_sr(&env.intake, &sr, by, None)
        .await
        .expect("close");
    let all = queue::page(&env.pool, Queue::Urgent, &none, reader, None, 100)
        .await
        .expect("urgent");
    assert!(!all.iter().any(|l| l.number.to_string() == numbers[2]));
    env.cleanup().await;
}

/// The customer's autoresponder answers our answer (with the reply token
/// of our Reply-To): the SR does not move and nothing is answered, its
/// clock stops until the stated return date, and the scheduler starts it
/// again at that date, the deadlines moved on by exactly the time away.
#[tokio::test]
async fn an_out_of_office_reply_stops_the_clock_until_the_return_date() {
    let env = Env::new().await;
    let t: DateTime<Utc> = "2026-12-07T09:00:00Z".parse().expect("t");
    let manual = intake::clock::ManualClock::at(t);
    let intake = intake::ingest::Intake {
        clock: manual.clone(),
        ..env.intake.clone()
    };
    let rec = intake
        .email(sample_email("01-accepted-zipcrypto.eml"), None)
        .await
        .expect("ingest");
    let number = rec.sr_number.to_string();
    let (_, due, _) = sr_state(&env, &number).await;
    let due = due.expect("an escalation deadline");
    let answers = || env.count("SELECT count(*) FROM outbox WHERE kind = 'mail.answer'");
    let answered = answers().await;

    manual.advance(TimeDelta::hours(1));
    let away_at = t + TimeDelta::hours(1);
    let to = intake
        .mail
        .answers
        .reply_key
        .reply_to("samples@lab.example", &rec.sr_number);
    let ooo = format!(
        "From: Bob Builder <bob@acme.example>\r\nTo: {to}\r\nMessage-ID: <ooo-1@acme.example>\r\n\
         Subject: Automatic reply: Re: [{number}] Suspicious files from ACME\r\n\
         Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         I am out of the office and will return on 10 December 2026.\r\n"
    );
    let r = intake.email(ooo.into_bytes(), None).await.expect("ooo");
    assert_eq!(r.sr_number.to_string(), number, "joins its SR");
    let (status, away, paused): (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT status, away_until, clock_paused_at FROM service_requests WHERE sr_number = $1",
        )
        .bind(&number)
        .fetch_one(&env.pool)
        .await
        .expect("sr");
    let back: DateTime<Utc> = "2026-12-10T00:00:00Z".parse().expect("back");
    assert_eq!(status, "in_analysis");
    assert_eq!((away, paused), (Some(back), Some(away_at)));
    assert_eq!(
        answers().await,
        answered,
        "an autoresponder is not answered"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.customer_away'")
            .await,
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.customer_update'")
            .await,
        0
    );

    // Past the old deadline, a second before the return: nothing moves.
    let metrics = &env.intake.metrics;
    let n = clock::pass(&env.pool, back - TimeDelta::seconds(1), metrics)
        .await
        .expect("pass");
    assert_eq!(n, 0);
    // A pass hours after the return date: running again, from that date.
    clock::pass(&env.pool, back + TimeDelta::hours(5), metrics)
        .await
        .expect("pass");
    let (tier, moved, _) = sr_state(&env, &number).await;
    assert_eq!(tier, "L1");
    assert_eq!(moved, Some(due + (back - away_at)));
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'sr.away_ended' AND actor = 'clock'")
            .await,
        1
    );
    let away: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT away_until FROM service_requests WHERE sr_number = $1")
            .bind(&number)
            .fetch_one(&env.pool)
            .await
            .expect("sr");
    assert_eq!(away, None);
    env.cleanup().await;
}

/// A grant's business-day calendar is kept checked, read back as set (the
/// default without one), and each change is an event with who made it.
#[tokio::test]
async fn a_grants_calendar_is_stored_checked() {
    use intake::sr::calendar::{Calendar, CalendarSpec};
    use intake::store::grants::{self, CalendarStoreError};
    let env = Env::new().await;
    let pool = &env.pool;
    let grant = intake::sr::Grant {
        grant_number: "G-CAL".into(),
        company: "Calendar Co".into(),
        email_domains: vec!["cal.example".into()],
        support_level: "gold".into(),
        expires_on: None,
    };
    grants::import(pool, &[grant]).await.expect("import");
    let t: DateTime<Utc> = "2026-12-24T12:00:00Z".parse().expect("t");
    assert_eq!(
        grants::calendar(pool, "G-CAL").await.expect("default"),
        Calendar::default()
    );
    let spec = CalendarSpec {
        time_zone: "Asia/Shanghai".into(),
        holidays: vec!["2026-12-25".parse().expect("day")],
        ..CalendarSpec::default()
    };
    grants::set_calendar(pool, "G-CAL", &spec, "lead@lab.example", t)
        .await
        .expect("set");
    let c = grants::calendar(pool, "G-CAL").await.expect("read");
    assert_eq!(c, Calendar::try_from(&spec).expect("valid"));
    assert_eq!(
        c.next_business_day(t),
        Some("2026-12-27T16:00:00Z".parse().expect("monday"))
    );
    let bad = CalendarSpec {
        time_zone: "Nowhere/Else".into(),
        ..CalendarSpec::default()
    };
    assert!(matches!(
        grants::set_calendar(pool, "G-CAL", &bad, "x", t).await,
        Err(CalendarStoreError::Invalid { .. })
    ));
    assert!(matches!(
        grants::set_calendar(pool, "G-NONE", &spec, "x", t).await,
        Err(CalendarStoreError::NoSuchGrant(_))
    ));
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE kind = 'grant.calendar_set' AND actor = 'lead@lab.example'")
            .await,
        1
    );
    env.cleanup().await;
}

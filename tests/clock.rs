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
    use intake::triage::queue::{self, Queue};
    let env = Env::new().await;
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
    let all = queue::page(&env.pool, Queue::Urgent, None, 100)
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
        let page = queue::page(&env.pool, Queue::Urgent, after, 1)
            .await
            .expect("page");
        let Some(l) = page.first() else { break };
        walked.push(l.number.to_string());
        after = Some(l.key);
    }
    assert_eq!(walked, order);
    // needs_info holds the one waiting on the customer.
    let waiting = queue::page(&env.pool, Queue::NeedsInfo, None, 100)
        .await
        .expect("needs_info");
    assert!(waiting.iter().all(|l| l.status.as_str() == "needs_info"));
    assert!(waiting.iter().any(|l| l.number.to_string() == numbers[1]));
    // A severity's queue holds only that severity.
    for level in 1..=5u8 {
        let q: Queue = format!("sev{level}").parse().expect("queue");
        let lines = queue::page(&env.pool, q, None, 100).await.expect("sev");
        assert!(lines.iter().all(|l| l.severity.level() == level));
    }
    // Closed SRs leave every queue.
    let sr: intake::sr::SrNumber = numbers[2].parse().expect("number");
    let by = intake::triage::By {
        actor: "ana@lab.example",
        now: t,
    };
    intake::triage::close_sr(&env.pool, &sr, by, None, "McAfee")
        .await
        .expect("close");
    let all = queue::page(&env.pool, Queue::Urgent, None, 100)
        .await
        .expect("urgent");
    assert!(!all.iter().any(|l| l.number.to_string() == numbers[2]));
    env.cleanup().await;
}

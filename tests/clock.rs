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
    assert!(
        metrics
            .render()
            .contains(r#"intake_escalations_total{to="L2"} 1"#)
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

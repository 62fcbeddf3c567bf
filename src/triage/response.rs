//! The first-response figure the handbook promises: 5 minutes on average.
//! First response is the first staff action the customer sees (a message,
//! a verdict, a close; `service_requests.first_response_at`); intake's own
//! acknowledgement is reported beside it (`acknowledged_at`), never as it.
//! Over the SRs opened in the last day and week: an SR still open and
//! unanswered counts its age so far (the figure can only get worse, so a
//! pile of unanswered SRs shows at once); one closed without a staff
//! answer is left out.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::TriageError;
use crate::metrics::Metrics;

/// The handbook's target for the average.
pub const TARGET: TimeDelta = TimeDelta::minutes(5);

/// One figure over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Figure {
    /// Average, in seconds; none without SRs.
    pub avg_secs: Option<f64>,
    /// 95th percentile, in seconds.
    pub p95_secs: Option<f64>,
    /// SRs the figure counts.
    pub srs: i64,
    /// Of those, still without it (counted at their age so far).
    pub waiting: i64,
}

/// The staff's first response and the acknowledgement, over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Window {
    pub staff: Figure,
    pub acknowledgement: Figure,
}

/// The last day's and week's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub day: Window,
    pub week: Window,
    /// The handbook's target for the average, in seconds.
    pub target_avg_secs: i64,
}

impl Figures {
    /// For the queue page: minutes, one decimal, and whether the average
    /// misses the target.
    pub fn context(&self) -> minijinja::Value {
        let show = |f: &Figure| {
            let min = |s: Option<f64>| s.map(|s| format!("{:.1}", s / 60.0));
            minijinja::context! {
                avg => min(f.avg_secs),
                p95 => min(f.p95_secs),
                srs => f.srs,
                waiting => f.waiting,
                missed => f.avg_secs.is_some_and(|a| a > self.target_avg_secs as f64),
            }
        };
        let window = |name: &str, w: &Window| {
            minijinja::context! { name => name, staff => show(&w.staff), ack => show(&w.acknowledgement) }
        };
        minijinja::context! {
            windows => vec![window("last_day", &self.day), window("last_week", &self.week)],
            target_min => self.target_avg_secs / 60,
        }
    }

    /// Sets `intake_first_response_seconds`.
    pub fn publish(&self, m: &Metrics) {
        for (name, w) in [("day", &self.day), ("week", &self.week)] {
            for (of, f) in [("staff", &w.staff), ("acknowledgement", &w.acknowledgement)] {
                for (stat, v) in [("avg", f.avg_secs), ("p95", f.p95_secs)] {
                    let labels = vec![
                        ("window", name.to_owned()),
                        ("of", of.to_owned()),
                        ("stat", stat.to_owned()),
                    ];
                    m.first_response_seconds
                        .get_or_create(&labels)
                        .set(v.unwrap_or(0.0));
                }
            }
        }
    }
}

/// The figures at `now`.
pub async fn figures(pool: &PgPool, now: DateTime<Utc>) -> Result<Figures, TriageError> {
    Ok(Figures {
        day: window(pool, now, TimeDelta::days(1)).await?,
        week: window(pool, now, TimeDelta::days(7)).await?,
        target_avg_secs: TARGET.num_seconds(),
    })
}

async fn window(pool: &PgPool, now: DateTime<Utc>, span: TimeDelta) -> Result<Window, TriageError> {
    type Row = (
        Option<f64>,
        Option<f64>,
        i64,
        i64,
        Option<f64>,
        Option<f64>,
        i64,
        i64,
    );
    let r: Row = sqlx::query_as(
        "WITH w AS (
             SELECT EXTRACT(EPOCH FROM (COALESCE(first_response_at, $2) - opened_at))::float8 AS staff,
                    first_response_at IS NULL AS unanswered,
                    EXTRACT(EPOCH FROM (COALESCE(acknowledged_at, $2) - opened_at))::float8 AS ack,
                    acknowledged_at IS NULL AS unacknowledged,
                    status = 'closed' AS closed
             FROM service_requests
             WHERE opened_at > $1 AND opened_at <= $2)
         SELECT avg(staff) FILTER (WHERE NOT (closed AND unanswered)),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY staff)
                    FILTER (WHERE NOT (closed AND unanswered)),
                count(*) FILTER (WHERE NOT (closed AND unanswered)),
                count(*) FILTER (WHERE unanswered AND NOT closed),
                avg(ack) FILTER (WHERE NOT (closed AND unacknowledged)),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY ack)
                    FILTER (WHERE NOT (closed AND unacknowledged)),
                count(*) FILTER (WHERE NOT (closed AND unacknowledged)),
                count(*) FILTER (WHERE unacknowledged AND NOT closed)
         FROM w",
    )
    .bind(now - span)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(Window {
        staff: Figure {
            avg_secs: r.0,
            p95_secs: r.1,
            srs: r.2,
            waiting: r.3,
        },
        acknowledgement: Figure {
            avg_secs: r.4,
            p95_secs: r.5,
            srs: r.6,
            waiting: r.7,
        },
    })
}

/// Computes the figures at `now` and publishes them on `/metrics`.
pub async fn publish(pool: &PgPool, now: DateTime<Utc>, m: &Metrics) -> Result<(), TriageError> {
    figures(pool, now).await?.publish(m);
    Ok(())
}

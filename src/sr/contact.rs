//! The handbook's contact rule: staff try to reach the customer at least
//! three times, at least one business day apart, before an SR may be closed
//! as resolved for lack of contact (`no_contact`). An out-of-office notice
//! postpones the next attempt until the customer's return date, and any
//! word from the customer starts the count again. Business days follow the
//! grant's calendar ([`super::calendar`]). Pure: the attempts, absences and
//! the customer's last word come in as values.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;

/// Attempts that must count before an SR may be closed for lack of contact.
pub const ATTEMPTS_NEEDED: usize = 3;

/// How staff tried to reach the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Phone,
    Mail,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Phone => "phone",
            Via::Mail => "mail",
        }
    }
}

impl std::str::FromStr for Via {
    type Err = String;
    fn from_str(s: &str) -> Result<Via, String> {
        match s {
            "phone" => Ok(Via::Phone),
            "mail" => Ok(Via::Mail),
            _ => Err(format!("{s:?} is not a way of contact (phone, mail)")),
        }
    }
}

/// A recorded out-of-office notice: the customer is away from `from` until
/// `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Away {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What the rule says about an SR's attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The attempts that count, oldest first: after the customer's last
    /// word, not while they were away, each at least one business day after
    /// the previous one that counts.
    pub counted: Vec<DateTime<Utc>>,
    /// From when the next attempt counts (none once enough counted, or
    /// when the calendar has no business day within reach).
    pub next_from: Option<DateTime<Utc>>,
    /// Enough attempts counted: the SR may be closed as `no_contact`.
    pub may_close: bool,
}

/// The standing of `attempts` (any order) on an SR whose customer last
/// wrote at `last_word` and was away during `away`, at `now`.
pub fn standing(
    attempts: &[DateTime<Utc>],
    away: &[Away],
    last_word: Option<DateTime<Utc>>,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Standing {
    let mut sorted: Vec<DateTime<Utc>> = attempts
        .iter()
        .copied()
        .filter(|a| last_word.is_none_or(|w| *a > w) && *a <= now)
        .collect();
    sorted.sort();
    let away_at = |t: DateTime<Utc>| away.iter().find(|w| w.from <= t && t < w.until);
    let mut counted: Vec<DateTime<Utc>> = Vec::new();
    for a in sorted {
        if away_at(a).is_some() {
            continue;
        }
        if counted
            .last()
            .is_none_or(|prev| calendar.business_days_between(*prev, a) >= 1)
        {
            counted.push(a);
        }
    }
    let may_close = counted.len() >= ATTEMPTS_NEEDED;
    let next_from = if may_close {
        None
    } else {
        let after_last = match counted.last() {
            Some(prev) => calendar.next_business_day(*prev),
            None => Some(last_word.map_or(now, |w| w.max(now)).min(now)),
        };
        // Postponed past every absence it falls in (absences may chain).
        after_last.map(|mut t| {
            while let Some(w) = away_at(t) {
                t = w.until;
            }
            t
        })
    };
    Standing {
        counted,
        next_from,
        may_close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::calendar::CalendarSpec;

    use crate::fixture::at as t;

    fn utc() -> Calendar {
        Calendar::default()
    }

    /// Thursday, Friday, then Monday: three business days, a weekend
    /// between the last two. Saturday would not have counted.
    #[test]
    fn three_attempts_a_business_day_apart() {
        let cal = utc();
        let thu = t("2026-12-03T10:00:00Z");
        let fri = t("2026-12-04T09:00:00Z");
        let sat = t("2026-12-05T09:00:00Z");
        let mon = t("2026-12-07T00:00:00Z");
        let s = standing(&[thu, fri, sat], &[], None, &cal, mon);
        assert_eq!(s.counted, vec![thu, fri]);
        assert!(!s.may_close);
        // Saturday was no business day: the next counts from Monday 00:00.
        assert_eq!(s.next_from, Some(mon));
        let s = standing(&[thu, fri, sat, mon], &[], None, &cal, mon);
        assert_eq!(s.counted, vec![thu, fri, mon]);
        assert!(s.may_close);
        assert_eq!(s.next_from, None);
        // A second before Monday is still Sunday.
        let sun_late = t("2026-12-06T23:59:59Z");
        let s = standing(&[thu, fri, sun_late], &[], None, &cal, sun_late);
        assert!(!s.may_close);
    }

    /// Two attempts the same day count once.
    #[test]
    fn the_same_day_counts_once() {
        let cal = utc();
        let a = t("2026-12-03T09:00:00Z");
        let b = t("2026-12-03T17:00:00Z");
        let s = standing(&[b, a], &[], None, &cal, b);
        assert_eq!(s.counted, vec![a]);
        assert_eq!(s.next_from, Some(t("2026-12-04T00:00:00Z")));
    }

    /// An out-of-office notice postpones the next attempt to the return
    /// date; attempts while away do not count.
    #[test]
    fn an_absence_postpones_the_next_attempt() {
        let cal = utc();
        let first = t("2026-12-01T09:00:00Z");
        let away = Away {
            from: t("2026-12-01T12:00:00Z"),
            until: t("2026-12-09T00:00:00Z"),
        };
        let during = t("2026-12-03T09:00:00Z");
        let s = standing(&[first, during], &[away], None, &cal, during);
        assert_eq!(s.counted, vec![first]);
        assert_eq!(s.next_from, Some(away.until));
        let after = t("2026-12-09T10:00:00Z");
        let s = standing(&[first, during, after], &[away], None, &cal, after);
        assert_eq!(s.counted, vec![first, after]);
    }

    /// A word from the customer starts the count again.
    #[test]
    fn the_customer_answering_resets_the_count() {
        let cal = utc();
        let a = t("2026-12-01T09:00:00Z");
        let b = t("2026-12-02T09:00:00Z");
        let word = t("2026-12-02T10:00:00Z");
        let c = t("2026-12-03T09:00:00Z");
        let s = standing(&[a, b, c], &[], Some(word), &cal, c);
        assert_eq!(s.counted, vec![c]);
        assert!(!s.may_close);
    }

    /// Business days follow the grant's calendar: a holiday and the
    /// customer's zone.
    #[test]
    fn the_grants_calendar_decides_business_days() {
        let spec = CalendarSpec {
            time_zone: "Asia/Shanghai".into(),
            holidays: vec!["2026-12-04".parse().expect("date")],
            ..CalendarSpec::default()
        };
        let cal = Calendar::try_from(&spec).expect("calendar");
        // Thursday 10:00 in Shanghai, then Friday (a holiday), then Monday.
        let thu = t("2026-12-03T02:00:00Z");
        let fri = t("2026-12-04T02:00:00Z");
        let s = standing(&[thu, fri], &[], None, &cal, fri);
        assert_eq!(s.counted, vec![thu]);
        // Monday's midnight in Shanghai is Sunday 16:00 UTC.
        assert_eq!(s.next_from, Some(t("2026-12-06T16:00:00Z")));
    }
}

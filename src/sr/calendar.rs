//! Business days, per grant: which weekdays count, the holidays, and the
//! time zone the customer's days begin in (UTC, Monday to Friday, by
//! default). The handbook's contact rule counts in them: three attempts
//! to reach the customer, at least one business day apart, before an SR
//! may be closed for lack of contact; an out-of-office notice moves the
//! next attempt to the customer's return. Escalation and update deadlines
//! do not use them: Gold support runs on the wall clock. Pure.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A calendar as it is stored (`grants.calendar`) and written by staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA name, such as `Asia/Shanghai`.
    #[serde(default = "utc_name")]
    pub time_zone: String,
    /// ISO weekdays that are business days: 1 is Monday, 7 Sunday.
    #[serde(default = "monday_to_friday")]
    pub weekdays: Vec<u8>,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

fn utc_name() -> String {
    "UTC".into()
}

fn monday_to_friday() -> Vec<u8> {
    vec![1, 2, 3, 4, 5]
}

impl Default for CalendarSpec {
    fn default() -> Self {
        CalendarSpec {
            time_zone: utc_name(),
            weekdays: monday_to_friday(),
            holidays: Vec::new(),
        }
    }
}

/// Why a calendar cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{0:?} is not an IANA time zone")]
    Zone(String),
    #[error("weekday {0} is not 1 (Monday) to 7 (Sunday)")]
    Weekday(u8),
    #[error("a calendar needs at least one business weekday")]
    NoWeekday,
}

/// A checked calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    zone: Tz,
    /// Index 0 is Monday.
    weekdays: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            zone: Tz::UTC,
            weekdays: [true, true, true, true, true, false, false],
            holidays: BTreeSet::new(),
        }
    }
}

impl TryFrom<&CalendarSpec> for Calendar {
    type Error = CalendarError;

    fn try_from(s: &CalendarSpec) -> Result<Calendar, CalendarError> {
        let zone: Tz = s
            .time_zone
            .parse()
            .map_err(|_| CalendarError::Zone(s.time_zone.clone()))?;
        let mut weekdays = [false; 7];
        for &d in &s.weekdays {
            let i = usize::from(d)
                .checked_sub(1)
                .filter(|i| *i < 7)
                .ok_or(CalendarError::Weekday(d))?;
            weekdays[i] = true;
        }
        if !weekdays.contains(&true) {
            return Err(CalendarError::NoWeekday);
        }
        Ok(Calendar {
            zone,
            weekdays,
            holidays: s.holidays.iter().copied().collect(),
        })
    }
}

impl std::fmt::Display for Calendar {
    /// `Mon Tue Wed Thu Fri in Asia/Shanghai, 2 holidays`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let days: Vec<&str> = NAMES
            .iter()
            .zip(self.weekdays)
            .filter_map(|(n, on)| on.then_some(*n))
            .collect();
        write!(f, "{} in {}", days.join(" "), self.zone.name())?;
        match self.holidays.len() {
            0 => Ok(()),
            n => {
                let list: Vec<String> = self.holidays.iter().map(ToString::to_string).collect();
                write!(f, ", {n} holidays: {}", list.join(", "))
            }
        }
    }
}

/// How far the walks below look: past a year of holidays, something is
/// wrong with the calendar, and the answer is "not within reach".
const HORIZON_DAYS: i64 = 800;

impl Calendar {
    /// The customer's date at `at`.
    pub fn date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        let i = d.weekday().num_days_from_monday() as usize;
        self.weekdays.get(i).copied().unwrap_or(false) && !self.holidays.contains(&d)
    }

    /// Business days after `a`'s date up to and including `b`'s (0 when
    /// `b` is on the same day or before).
    pub fn business_days_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> u32 {
        let (from, to) = (self.date(a), self.date(b));
        let mut n = 0;
        let mut d = from;
        for _ in 0..HORIZON_DAYS {
            let Some(next) = d.succ_opt() else { break };
            if next > to {
                break;
            }
            if self.is_business_day(next) {
                n += 1;
            }
            d = next;
        }
        n
    }

    /// When the first business day after `at`'s date begins (the
    /// customer's midnight); none past the horizon.
    pub fn next_business_day(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut d = self.date(at);
        for _ in 0..HORIZON_DAYS {
            d = d.succ_opt()?;
            if self.is_business_day(d) {
                return Some(self.start_of(d));
            }
        }
        None
    }

    /// The first moment of date `d` in the customer's zone (a day that
    /// begins in a daylight-saving gap begins when the gap ends).
    pub fn start_of(&self, d: NaiveDate) -> DateTime<Utc> {
        let midnight = d.and_time(chrono::NaiveTime::MIN);
        let mut t = midnight;
        for _ in 0..4 {
            if let Some(x) = self.zone.from_local_datetime(&t).earliest() {
                return x.with_timezone(&Utc);
            }
            t += TimeDelta::hours(1);
        }
        midnight.and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixture::at;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    fn shanghai() -> Calendar {
        let spec = CalendarSpec {
            time_zone: "Asia/Shanghai".into(),
            holidays: vec![day("2026-12-25")],
            ..CalendarSpec::default()
        };
        Calendar::try_from(&spec).unwrap_or_default()
    }

    #[test]
    fn a_weekend_is_not_a_business_day_apart() {
        let c = Calendar::default();
        // Friday to Saturday and Sunday: none; to Monday: one.
        let fri = at("2026-12-04T16:00:00Z");
        assert_eq!(c.business_days_between(fri, at("2026-12-05T10:00:00Z")), 0);
        assert_eq!(c.business_days_between(fri, at("2026-12-06T23:59:59Z")), 0);
        assert_eq!(c.business_days_between(fri, at("2026-12-07T00:00:00Z")), 1);
        assert_eq!(c.next_business_day(fri), Some(at("2026-12-07T00:00:00Z")));
        // The same day, and backwards: none.
        assert_eq!(c.business_days_between(fri, fri + TimeDelta::hours(7)), 0);
        assert_eq!(c.business_days_between(fri, fri - TimeDelta::days(3)), 0);
    }

    #[test]
    fn days_begin_in_the_customers_time_zone_and_skip_holidays() {
        let c = shanghai();
        // 2026-12-24 20:00 in Shanghai is 12:00 UTC; the 25th is a holiday,
        // the 26th and 27th a weekend: the next business day is Monday the
        // 28th, beginning at 16:00 UTC on the 27th.
        let eve = at("2026-12-24T12:00:00Z");
        assert_eq!(c.date(eve), day("2026-12-24"));
        assert_eq!(c.next_business_day(eve), Some(at("2026-12-27T16:00:00Z")));
        assert_eq!(c.business_days_between(eve, at("2026-12-27T15:59:59Z")), 0);
        assert_eq!(c.business_days_between(eve, at("2026-12-27T16:00:00Z")), 1);
        // In UTC the same moments are a day apart already.
        assert_eq!(
            Calendar::default()
                .business_days_between(at("2026-12-24T15:00:00Z"), at("2026-12-24T16:30:00Z")),
            0
        );
    }

    #[test]
    fn a_day_beginning_in_a_daylight_saving_gap() {
        // Santiago moves its clocks from 00:00 to 01:00 in September.
        let spec = CalendarSpec {
            time_zone: "America/Santiago".into(),
            weekdays: vec![1, 2, 3, 4, 5, 6, 7],
            holidays: vec![],
        };
        let c = Calendar::try_from(&spec).unwrap_or_default();
        let d = day("2026-09-06");
        let start = c.start_of(d);
        assert_eq!(c.date(start), d);
        assert_eq!(c.date(start - TimeDelta::seconds(1)), day("2026-09-05"));
    }

    #[test]
    fn bad_calendars_are_refused() {
        let bad = |spec: CalendarSpec| Calendar::try_from(&spec).err();
        assert_eq!(
            bad(CalendarSpec {
                time_zone: "Mars/Olympus".into(),
                ..CalendarSpec::default()
            }),
            Some(CalendarError::Zone("Mars/Olympus".into()))
        );
        assert_eq!(
            bad(CalendarSpec {
                weekdays: vec![0],
                ..CalendarSpec::default()
            }),
            Some(CalendarError::Weekday(0))
        );
        assert_eq!(
            bad(CalendarSpec {
                weekdays: vec![],
                ..CalendarSpec::default()
            }),
            Some(CalendarError::NoWeekday)
        );
        let spec: CalendarSpec =
            serde_json::from_str(r#"{"time_zone": "Europe/Berlin"}"#).unwrap_or_default();
        assert_eq!(spec.weekdays, [1, 2, 3, 4, 5]);
        assert!(serde_json::from_str::<CalendarSpec>(r#"{"zone": "UTC"}"#).is_err());
    }

    #[test]
    fn a_calendar_of_only_holidays_ends_the_walk() {
        let spec = CalendarSpec {
            weekdays: vec![1],
            holidays: (0..3000)
                .filter_map(|i| day("2026-12-01").checked_add_days(chrono::Days::new(i)))
                .collect(),
            ..CalendarSpec::default()
        };
        let c = Calendar::try_from(&spec).unwrap_or_default();
        assert_eq!(c.next_business_day(at("2026-12-01T00:00:00Z")), None);
    }
}

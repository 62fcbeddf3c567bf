//! The escalation clock of one SR, pure: given where the SR stands and the
//! time, whether its tier's deadline has passed and, if so, the tier it
//! moves to and its next deadline. The policy table (`policy.rs`) is the
//! only place the numbers live; the scheduler (`triage::clock`) applies
//! what this decides, under a row lock, so no SR escalates twice.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Severity, Status, Tier};
use crate::decide::report::Channel;

/// What the clock reads of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocked {
    pub severity: Severity,
    pub tier: Tier,
    pub status: Status,
    pub escalation_due: Option<DateTime<Utc>>,
    /// Stopped: it waits on the customer.
    pub paused: bool,
}

/// An escalation the clock decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub from: Tier,
    pub to: Tier,
    /// The deadline that passed.
    pub due: DateTime<Utc>,
    /// How long after it the clock saw it.
    pub late_by: TimeDelta,
    /// The new tier's deadline, counted from the one that passed (a
    /// scheduler that was down catches up tier by tier, without drift);
    /// none at the last tier.
    pub next_due: Option<DateTime<Utc>>,
}

impl Tier {
    /// The tier an escalation moves to; none after engineering.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::L1 => Some(Tier::L2),
            Tier::L2 => Some(Tier::L3),
            Tier::L3 => Some(Tier::Engineering),
            Tier::Engineering => None,
        }
    }
}

/// An SR's deadlines and, while it waits on the customer, since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deadlines {
    pub escalation_due: Option<DateTime<Utc>>,
    pub next_update_due: Option<DateTime<Utc>>,
    /// A technician's first answer to an SR opened on the portal; none
    /// once staff answered (or for mail).
    pub first_answer_due: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    /// The return date of a recorded out-of-office notice: the clock waits
    /// until then, or until the customer answers.
    pub away_until: Option<DateTime<Utc>>,
    /// Staff asked the customer for information at this moment: the clock
    /// waits on them until they answer.
    pub info_asked_at: Option<DateTime<Utc>>,
}

impl Deadlines {
    /// The deadlines of an SR opened on `channel` at `at` with `severity`
    /// (tier L1), before its status is applied with [`Deadlines::moved`].
    pub fn opened(severity: Severity, channel: Channel, at: DateTime<Utc>) -> Deadlines {
        let (escalation_due, next_update_due) = super::deadlines(severity, Tier::L1, at);
        Deadlines {
            escalation_due,
            next_update_due,
            first_answer_due: super::first_answer_within(channel).map(|d| at + d),
            ..Deadlines::default()
        }
    }

    /// Whether an SR in `status` waits on the customer at `at`.
    pub fn waits(&self, status: Status, at: DateTime<Utc>) -> bool {
        status == Status::NeedsInfo
            || self.info_asked_at.is_some()
            || self.away_until.is_some_and(|u| u > at)
    }

    /// The deadlines once the SR is in `status` at `at`: waiting on the
    /// customer (needs_info, or away) stops them from the first moment it
    /// waits; leaving the wait moves each deadline on by the time waited,
    /// so the lab's time left is what it was when the wait began.
    pub fn moved(self, status: Status, at: DateTime<Utc>) -> Deadlines {
        match (self.waits(status, at), self.paused_at) {
            (true, None) => Deadlines {
                paused_at: Some(at),
                ..self
            },
            (false, Some(since)) if status != Status::Closed => {
                let waited = (at - since).max(TimeDelta::zero());
                Deadlines {
                    escalation_due: self.escalation_due.map(|d| d + waited),
                    next_update_due: self.next_update_due.map(|d| d + waited),
                    first_answer_due: self.first_answer_due.map(|d| d + waited),
                    paused_at: None,
                    away_until: None,
                    info_asked_at: None,
                }
            }
            _ => self,
        }
    }

    /// The customer wrote (not a robot): an out-of-office wait, and a
    /// wait for the information staff asked for, are over.
    pub fn answered(self) -> Deadlines {
        Deadlines {
            away_until: None,
            info_asked_at: None,
            ..self
        }
    }

    /// Staff asked the customer for information at `at`: the clock waits
    /// on them until they answer.
    pub fn asked(self, status: Status, at: DateTime<Utc>) -> Deadlines {
        Deadlines {
            info_asked_at: Some(at),
            ..self
        }
        .moved(status, at)
    }

    /// An out-of-office notice, back at `until`, recorded at `at` on an
    /// SR in `status`: the clock stops until then.
    pub fn away(self, until: DateTime<Utc>, status: Status, at: DateTime<Utc>) -> Deadlines {
        Deadlines {
            away_until: Some(until).filter(|u| *u > at),
            ..self
        }
        .moved(status, at)
    }

    /// When a recorded absence has ended by `now`: the clock runs again
    /// from the return date, not from when a pass noticed it.
    pub fn back(self, status: Status, now: DateTime<Utc>) -> Option<Deadlines> {
        let until = self.away_until.filter(|u| *u <= now)?;
        // Only the absence ends: a question staff asked still waits.
        let back = Deadlines {
            away_until: None,
            ..self
        };
        Some(back.moved(status, until))
    }

    /// The deadlines once staff set the severity to `severity` at `now`:
    /// escalation and update planned afresh from that moment for `tier`
    /// (still stopped, from now, if the SR waits on the customer); the
    /// first-answer deadline keeps counting from the opening.
    pub fn replanned(
        self,
        severity: Severity,
        tier: Tier,
        status: Status,
        now: DateTime<Utc>,
    ) -> Deadlines {
        let (escalation_due, next_update_due) = super::deadlines(severity, tier, now);
        Deadlines {
            escalation_due,
            next_update_due,
            paused_at: self.waits(status, now).then_some(now),
            ..self
        }
    }
}

/// Whether the clock runs for an SR in `status`: not once closed, and not
/// while it waits on the customer.
pub fn runs(status: Status, paused: bool) -> bool {
    status != Status::Closed && status != Status::NeedsInfo && !paused
}

/// The escalation due for `sr` at `now`, if any: at its deadline exactly,
/// not a second before.
pub fn escalation(sr: &Clocked, now: DateTime<Utc>) -> Option<Escalation> {
    if !runs(sr.status, sr.paused) {
        return None;
    }
    let due = sr.escalation_due.filter(|d| *d <= now)?;
    let to = sr.tier.next()?;
    Some(Escalation {
        from: sr.tier,
        to,
        due,
        late_by: now - due,
        next_due: sr.severity.escalation_after(to).map(|d| due + d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T17:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// For every severity and tier: a second early nothing, at the deadline
    /// one step to the next tier with the table's next deadline.
    #[test]
    fn each_severity_and_tier_escalates_at_its_deadline_not_before() {
        for level in 1..=5 {
            let severity = Severity::new(level).unwrap_or(Severity::INFO);
            for tier in [Tier::L1, Tier::L2, Tier::L3] {
                let after = severity.escalation_after(tier);
                assert!(after.is_some(), "{level} {tier:?}");
                let due = t0() + after.unwrap_or_default();
                let sr = Clocked {
                    severity,
                    tier,
                    status: Status::InAnalysis,
                    escalation_due: Some(due),
                    paused: false,
                };
                assert_eq!(escalation(&sr, due - TimeDelta::seconds(1)), None);
                let e = escalation(&sr, due).expect("due");
                assert_eq!((e.from, Some(e.to)), (tier, tier.next()));
                assert_eq!(e.late_by, TimeDelta::zero());
                assert_eq!(
                    e.next_due,
                    e.to.next()
                        .and(severity.escalation_after(e.to))
                        .map(|d| due + d)
                );
            }
        }
    }

    #[test]
    fn engineering_is_the_last_tier() {
        let sr = Clocked {
            severity: Severity::CRITICAL,
            tier: Tier::Engineering,
            status: Status::Open,
            escalation_due: Some(t0()),
            paused: false,
        };
        assert_eq!(escalation(&sr, t0() + TimeDelta::days(1)), None);
    }

    #[test]
    fn waiting_on_the_customer_or_closed_stops_the_clock() {
        for status in [Status::NeedsInfo, Status::Closed] {
            let sr = Clocked {
                severity: Severity::HIGH,
                tier: Tier::L1,
                status,
                escalation_due: Some(t0()),
                paused: false,
            };
            assert_eq!(escalation(&sr, t0() + TimeDelta::hours(5)), None);
        }
    }

    #[test]
    fn waiting_on_the_customer_moves_the_deadlines_by_the_time_waited() {
        let d = Deadlines {
            escalation_due: Some(t0() + TimeDelta::hours(2)),
            next_update_due: Some(t0() + TimeDelta::hours(1)),
            ..Deadlines::default()
        };
        let waiting = d.moved(Status::NeedsInfo, t0());
        assert_eq!(waiting.paused_at, Some(t0()));
        // A second needs_info does not restart the wait.
        let still = waiting.moved(Status::NeedsInfo, t0() + TimeDelta::hours(3));
        assert_eq!(still, waiting);
        let back = still.moved(Status::InAnalysis, t0() + TimeDelta::hours(5));
        assert_eq!(back.escalation_due, Some(t0() + TimeDelta::hours(7)));
        assert_eq!(back.next_update_due, Some(t0() + TimeDelta::hours(6)));
        assert_eq!(back.paused_at, None);
        // Running and staying so: nothing moves.
        assert_eq!(
            back.moved(Status::Answered, t0() + TimeDelta::days(9)),
            back
        );
    }

    #[test]
    fn a_new_severity_replans_from_the_moment_it_is_set() {
        let opened = Deadlines::opened(Severity::LOW, Channel::Portal, t0());
        let later = t0() + TimeDelta::hours(3);
        let d = opened.replanned(Severity::CRITICAL, Tier::L2, Status::InAnalysis, later);
        assert_eq!(d.first_answer_due, opened.first_answer_due);
        assert_eq!(d.escalation_due, Some(later + TimeDelta::minutes(30)));
        assert_eq!(d.next_update_due, Some(later + TimeDelta::minutes(30)));
        assert_eq!(d.paused_at, None);
        let waiting = opened.replanned(Severity::LOW, Tier::L1, Status::NeedsInfo, later);
        assert_eq!(waiting.paused_at, Some(later));
    }

    #[test]
    fn a_late_pass_counts_the_next_deadline_from_the_missed_one() {
        let due = t0();
        let sr = Clocked {
            severity: Severity::HIGH,
            tier: Tier::L1,
            status: Status::Unverified,
            escalation_due: Some(due),
            paused: false,
        };
        let e = escalation(&sr, due + TimeDelta::minutes(90)).expect("late");
        assert_eq!(e.late_by, TimeDelta::minutes(90));
        assert_eq!(e.next_due, Some(due + TimeDelta::hours(2)));
    }

    #[test]
    fn an_sr_opened_online_is_due_a_first_answer_within_24_hours() {
        let portal = Deadlines::opened(Severity::INFO, Channel::Portal, t0());
        assert_eq!(portal.first_answer_due, Some(t0() + TimeDelta::hours(24)));
        let mail = Deadlines::opened(Severity::INFO, Channel::Email, t0());
        assert_eq!(mail.first_answer_due, None);
        assert_eq!(
            mail.escalation_due,
            Severity::INFO.escalation_after(Tier::L1).map(|d| t0() + d)
        );
    }

    /// An out-of-office notice stops the clock until its return date; at
    /// that date (however late a pass sees it) the deadlines move on by
    /// exactly the time away. The customer answering ends it sooner.
    #[test]
    fn away_stops_the_clock_until_the_return_date() {
        let d = Deadlines::opened(Severity::MEDIUM, Channel::Portal, t0());
        let at = t0() + TimeDelta::hours(1);
        let until = t0() + TimeDelta::days(3);
        let away = d.away(until, Status::InAnalysis, at);
        assert_eq!((away.paused_at, away.away_until), (Some(at), Some(until)));
        assert!(away.waits(Status::InAnalysis, until - TimeDelta::seconds(1)));
        assert!(!away.waits(Status::InAnalysis, until));
        let sr = Clocked {
            severity: Severity::MEDIUM,
            tier: Tier::L1,
            status: Status::InAnalysis,
            escalation_due: away.escalation_due,
            paused: away.paused_at.is_some(),
        };
        assert_eq!(escalation(&sr, t0() + TimeDelta::days(30)), None);
        assert_eq!(
            away.back(Status::InAnalysis, until - TimeDelta::seconds(1)),
            None
        );
        let back = away
            .back(Status::InAnalysis, until + TimeDelta::hours(5))
            .expect("back");
        let waited = until - at;
        assert_eq!(back.escalation_due, d.escalation_due.map(|x| x + waited));
        assert_eq!(
            back.first_answer_due,
            d.first_answer_due.map(|x| x + waited)
        );
        assert_eq!((back.paused_at, back.away_until), (None, None));
        // The customer writes on day two: the clock runs from then.
        let day2 = t0() + TimeDelta::days(2);
        let early = away.answered().moved(Status::InAnalysis, day2);
        assert_eq!(
            early.escalation_due,
            d.escalation_due.map(|x| x + (day2 - at))
        );
        // A return date already past stops nothing.
        let stale = d.away(at - TimeDelta::seconds(1), Status::InAnalysis, at);
        assert_eq!(stale, d);
        // Away while waiting for information: back from away, still waiting.
        let asked = d.moved(Status::NeedsInfo, at);
        let both = asked.away(until, Status::NeedsInfo, at);
        let after = both.back(Status::NeedsInfo, until).expect("back");
        assert_eq!(after.paused_at, Some(at));
    }
}

//! The escalation clock of one SR, pure: given where the SR stands and the
//! time, whether its tier's deadline has passed and, if so, the tier it
//! moves to and its next deadline. The policy table (`policy.rs`) is the
//! only place the numbers live; the scheduler (`triage::clock`) applies
//! what this decides, under a row lock, so no SR escalates twice.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Severity, Status, Tier};

/// What the clock reads of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocked {
    pub severity: Severity,
    pub tier: Tier,
    pub status: Status,
    pub escalation_due: Option<DateTime<Utc>>,
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

/// An SR's customer-facing deadlines and, while it waits on the customer,
/// since when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub escalation_due: Option<DateTime<Utc>>,
    pub next_update_due: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
}

impl Deadlines {
    /// The deadlines once the SR moves to `status` at `at`: waiting on the
    /// customer stops them (from the first moment it waits); leaving the
    /// wait moves each deadline on by the time waited, so the lab's time
    /// left is what it was when the wait began.
    pub fn moved(self, status: Status, at: DateTime<Utc>) -> Deadlines {
        let waits = status == Status::NeedsInfo;
        match (waits, self.paused_at) {
            (true, None) => Deadlines {
                paused_at: Some(at),
                ..self
            },
            (false, Some(since)) if status != Status::Closed => {
                let waited = (at - since).max(TimeDelta::zero());
                Deadlines {
                    escalation_due: self.escalation_due.map(|d| d + waited),
                    next_update_due: self.next_update_due.map(|d| d + waited),
                    paused_at: None,
                }
            }
            _ => self,
        }
    }
}

/// The deadlines of an SR whose severity staff set to `severity` at `now`:
/// planned afresh from that moment for its tier (still stopped, from now,
/// if it waits on the customer).
pub fn replanned(severity: Severity, tier: Tier, status: Status, now: DateTime<Utc>) -> Deadlines {
    let (escalation_due, next_update_due) = super::deadlines(severity, tier, now);
    Deadlines {
        escalation_due,
        next_update_due,
        paused_at: (status == Status::NeedsInfo).then_some(now),
    }
}

/// Whether the clock runs for an SR in `status`: not once closed, and not
/// while it waits on the customer.
pub fn runs(status: Status) -> bool {
    !matches!(status, Status::Closed | Status::NeedsInfo)
}

/// The escalation due for `sr` at `now`, if any: at its deadline exactly,
/// not a second before.
pub fn escalation(sr: &Clocked, now: DateTime<Utc>) -> Option<Escalation> {
    if !runs(sr.status) {
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
            };
            assert_eq!(escalation(&sr, t0() + TimeDelta::hours(5)), None);
        }
    }

    #[test]
    fn waiting_on_the_customer_moves_the_deadlines_by_the_time_waited() {
        let d = Deadlines {
            escalation_due: Some(t0() + TimeDelta::hours(2)),
            next_update_due: Some(t0() + TimeDelta::hours(1)),
            paused_at: None,
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
        let d = replanned(Severity::CRITICAL, Tier::L2, Status::InAnalysis, t0());
        assert_eq!(d.escalation_due, Some(t0() + TimeDelta::minutes(30)));
        assert_eq!(d.next_update_due, Some(t0() + TimeDelta::minutes(30)));
        assert_eq!(d.paused_at, None);
        let waiting = replanned(Severity::LOW, Tier::L1, Status::NeedsInfo, t0());
        assert_eq!(waiting.paused_at, Some(t0()));
    }

    #[test]
    fn a_late_pass_counts_the_next_deadline_from_the_missed_one() {
        let due = t0();
        let sr = Clocked {
            severity: Severity::HIGH,
            tier: Tier::L1,
            status: Status::Unverified,
            escalation_due: Some(due),
        };
        let e = escalation(&sr, due + TimeDelta::minutes(90)).expect("late");
        assert_eq!(e.late_by, TimeDelta::minutes(90));
        assert_eq!(e.next_due, Some(due + TimeDelta::hours(2)));
    }
}

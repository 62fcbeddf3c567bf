//! The support handbook's policy in code: severities and their escalation
//! clocks, support tiers, the first severity of a new SR, and how long a
//! closed SR can be reopened. All pure: the clock is an argument.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::decide::metadata::Metadata;
use crate::decide::report::{Channel, Outcome, Report};

/// Severity 1 (business stopped) to 5 (information request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Severity(u8);

impl Severity {
    pub const CRITICAL: Severity = Severity(1);
    pub const HIGH: Severity = Severity(2);
    pub const MEDIUM: Severity = Severity(3);
    pub const LOW: Severity = Severity(4);
    pub const INFO: Severity = Severity(5);

    pub fn new(level: u8) -> Option<Severity> {
        (1..=5).contains(&level).then_some(Severity(level))
    }

    pub fn level(self) -> u8 {
        self.0
    }

    /// AMQP message priority (0–9): severity 1 is taken first.
    pub fn priority(self) -> u8 {
        10 - 2 * self.0
    }

    /// Time allowed in `tier` before escalation to the next one.
    pub fn escalation_after(self, tier: Tier) -> Option<Duration> {
        let (l1, l2, l3) = match self.0 {
            1 => (
                Duration::minutes(30),
                Duration::minutes(30),
                Duration::hours(4),
            ),
            2 => (Duration::hours(2), Duration::hours(2), Duration::hours(6)),
            3 => (Duration::days(3), Duration::days(5), Duration::days(5)),
            4 => (Duration::days(10), Duration::days(15), Duration::days(25)),
            _ => (Duration::days(15), Duration::days(20), Duration::days(30)),
        };
        match tier {
            Tier::L1 => Some(l1),
            Tier::L2 => Some(l2),
            Tier::L3 => Some(l3),
            Tier::Engineering => None,
        }
    }

    /// How often the customer must hear from us. Severity 1's "continuous"
    /// update is due every 30 minutes (DESIGN.md), so the clock can hold
    /// the lab to it.
    pub fn update_every(self) -> Duration {
        match self.0 {
            1 => Duration::minutes(30),
            2 => Duration::hours(1),
            3 => Duration::days(1),
            4 => Duration::weeks(1),
            _ => Duration::weeks(2),
        }
    }
}

impl TryFrom<u8> for Severity {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Severity::new(v).ok_or_else(|| format!("severity must be 1 to 5, not {v}"))
    }
}

/// A severity as the database stores it (`smallint`).
impl TryFrom<i16> for Severity {
    type Error = String;
    fn try_from(v: i16) -> Result<Self, Self::Error> {
        u8::try_from(v)
            .ok()
            .and_then(Severity::new)
            .ok_or_else(|| format!("severity must be 1 to 5, not {v}"))
    }
}

impl From<Severity> for u8 {
    fn from(s: Severity) -> u8 {
        s.0
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The support tier an SR sits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tier {
    L1,
    L2,
    L3,
    #[serde(rename = "engineering")]
    Engineering,
}

impl std::str::FromStr for Tier {
    type Err = String;

    fn from_str(s: &str) -> Result<Tier, String> {
        [Tier::L1, Tier::L2, Tier::L3, Tier::Engineering]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a tier"))
    }
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "L1",
            Tier::L2 => "L2",
            Tier::L3 => "L3",
            Tier::Engineering => "engineering",
        }
    }
}

/// How soon a technician answers an SR opened on `channel` (the
/// handbook: one opened online, within 24 hours; mail has no such promise).
pub fn first_answer_within(channel: Channel) -> Option<Duration> {
    (channel == Channel::Portal).then(|| Duration::hours(24))
}

/// The clocks of an SR opened (or escalated) at `from`.
pub fn deadlines(
    severity: Severity,
    tier: Tier,
    from: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let escalate = severity.escalation_after(tier).map(|d| from + d);
    let update = Some(from + severity.update_every());
    (escalate, update)
}

/// A first severity for a new SR, from what the customer said. Staff can
/// change it; this only makes sure a "business stopped" report is not left
/// in the severity-3 pile. Returns the severity and why.
pub fn assess(metadata: &Metadata, report: &Report) -> (Severity, &'static str) {
    if report.outcome == Outcome::Rejected {
        return (Severity::INFO, "no sample to analyse");
    }
    let said = format!(
        "{} {}",
        metadata.symptoms.as_deref().unwrap_or(""),
        metadata.system_details.as_deref().unwrap_or("")
    )
    .to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| said.contains(w));
    if any(&[
        "business stopped",
        "production down",
        "outage",
        "ransom",
        "encrypted our",
        "files encrypted",
        "all machines",
        "all servers",
        "cannot work",
        "业务中断",
        "勒索",
        "全部",
        "停产",
        "無法工作",
        "无法工作",
    ]) {
        (Severity::CRITICAL, "symptoms describe a stopped business")
    } else if any(&[
        "spreading",
        "outbreak",
        "many machines",
        "several machines",
        "worm",
        "lateral",
        "扩散",
        "擴散",
        "大量",
    ]) {
        (Severity::HIGH, "symptoms describe spreading")
    } else if metadata.detected == Some(true) || !said.trim().is_empty() {
        (Severity::MEDIUM, "a suspicious file with symptoms")
    } else {
        (Severity::LOW, "a suspicious file without symptoms")
    }
}

/// How long after closing a reply (or the portal) reopens an SR; later
/// replies open a new one.
pub const REOPEN_WITHIN_DAYS: i64 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handbook_table() {
        let t0 = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
        let (esc, upd) = deadlines(Severity::CRITICAL, Tier::L1, t0);
        assert_eq!(esc, Some(t0 + Duration::minutes(30)));
        assert_eq!(upd, Some(t0 + Duration::minutes(30)));
        assert_eq!(
            Severity::CRITICAL.escalation_after(Tier::L3),
            Some(Duration::hours(4))
        );
        assert_eq!(Severity::HIGH.update_every(), Duration::hours(1));
        assert_eq!(
            Severity::MEDIUM.escalation_after(Tier::L2),
            Some(Duration::days(5))
        );
        assert_eq!(
            Severity::LOW.escalation_after(Tier::L3),
            Some(Duration::days(25))
        );
        assert_eq!(
            Severity::INFO.escalation_after(Tier::L1),
            Some(Duration::days(15))
        );
        assert_eq!(Severity::INFO.escalation_after(Tier::Engineering), None);
        assert!(Severity::CRITICAL.priority() > Severity::LOW.priority());
        assert_eq!(Severity::new(0), None);
        assert_eq!(Severity::new(6), None);
    }
}

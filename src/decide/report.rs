//! The decision report: what intake would do with one input. Its JSON form is the
//! fixed contract of `intake check` (shared/CHECK_REPORT.md) and the same value the
//! live pipeline records, so field order and spelling here are part of the API.

use serde::{Deserialize, Serialize};

pub use crate::decide::classify::{Kind, RejectReason};
use crate::decide::metadata::{Field, Metadata};
use crate::digest::Sha256;

/// How the input reached intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Portal,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Portal => "portal",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Channel, String> {
        [Channel::Email, Channel::Portal]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a channel (email, portal)"))
    }
}

/// The overall decision for one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one sample and every required field present.
    Accepted,
    /// At least one sample, some required field missing.
    NeedsInfo,
    /// No acceptable sample at all.
    Rejected,
}

impl Outcome {
    /// The outcome follows from the two facts alone, so it is computed, never set.
    pub fn decide(sample_count: usize, missing: &[Field]) -> Self {
        match (sample_count, missing.is_empty()) {
            (0, _) => Outcome::Rejected,
            (_, true) => Outcome::Accepted,
            (_, false) => Outcome::NeedsInfo,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::NeedsInfo => "needs_info",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One accepted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleEntry {
    pub path: String,
    pub sha256: Sha256,
    pub size: u64,
    pub kind: Kind,
    pub warnings: Vec<String>,
}

/// One refused file, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEntry {
    pub path: String,
    /// `None` only where the bytes were not read in full (stopped at a limit).
    pub sha256: Option<Sha256>,
    pub size: u64,
    pub reason: RejectReason,
    pub detail: String,
}

/// The report of one input. Field order is the contract's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub channel: Channel,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub outcome: Outcome,
    pub missing_fields: Vec<Field>,
    pub metadata: Metadata,
    pub samples: Vec<SampleEntry>,
    pub rejected: Vec<RejectedEntry>,
    /// Archives a password the customer gave opened. Kept with the
    /// submission for staff; never in the report, never shown back.
    #[serde(skip)]
    pub opened_with: Vec<Opened>,
}

/// An archive one of the customer's own passwords opened: its path and
/// which password (0 for the first they gave).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub path: String,
    pub password: usize,
}

impl Report {
    /// A short human-readable account, for `intake check` without `--json`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "channel:    {}", self.channel.as_str());
        if let Some(id) = &self.message_id {
            let _ = writeln!(s, "message-id: {}", printable(id));
        }
        if let Some(from) = &self.sender {
            let _ = writeln!(s, "sender:     {}", printable(from));
        }
        let _ = writeln!(s, "outcome:    {}", self.outcome.as_str());
        let _ = writeln!(s, "\nsamples ({}):", self.samples.len());
        for x in &self.samples {
            let _ = writeln!(
                s,
                "  {:<8} {:>10}  {}  {}",
                x.kind.as_str(),
                x.size,
                x.sha256,
                printable(&x.path)
            );
            for w in &x.warnings {
                let _ = writeln!(s, "           warning: {}", printable(w));
            }
        }
        let _ = writeln!(s, "\nrejected ({}):", self.rejected.len());
        for x in &self.rejected {
            let _ = writeln!(
                s,
                "  {:<15} {:>10}  {}  ({})",
                x.reason.as_str(),
                x.size,
                printable(&x.path),
                printable(&x.detail)
            );
            let _ = writeln!(s, "                  what to do: {}", x.reason.advice());
        }
        if self.missing_fields.is_empty() {
            let _ = writeln!(s, "\nmetadata: complete");
        } else {
            let names: Vec<&str> = self.missing_fields.iter().map(|f| f.key()).collect();
            let _ = writeln!(s, "\nmetadata missing: {}", names.join(", "));
        }
        s
    }
}

/// Names come from hostile input; never let them drive the operator's terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_follows_samples_and_missing_fields() {
        assert_eq!(Outcome::decide(0, &[]), Outcome::Rejected);
        assert_eq!(Outcome::decide(0, &[Field::Os]), Outcome::Rejected);
        assert_eq!(Outcome::decide(2, &[]), Outcome::Accepted);
        assert_eq!(Outcome::decide(1, &[Field::Os]), Outcome::NeedsInfo);
    }

    #[test]
    fn reasons_serialise_as_the_contract_spells_them_and_in_table_order() {
        for r in RejectReason::ALL {
            let json = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        let mut sorted = RejectReason::ALL;
        sorted.sort();
        assert_eq!(sorted, RejectReason::ALL);
        assert!(RejectReason::Screenshot < RejectReason::NotArchived);
    }

    #[test]
    fn summary_neutralises_control_characters() {
        assert_eq!(printable("a\x1b[2Jb"), "a\u{fffd}[2Jb");
    }
}

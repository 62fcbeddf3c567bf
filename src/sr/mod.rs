//! The service request (SR), one owner for its life: the number customers
//! quote, the handbook's severity and deadline policy, entitlement (who may
//! act on it, and the verification recorded), its seven statuses and the
//! moves between them, the resolutions of a closed SR, the staff verdict,
//! the typed events of its history, and its clock ([`clock`]: when a
//! deadline passes, waiting on the customer). Every channel and staff action asks
//! this module where an SR goes next, so the rules live in one place.
//! Pure: no I/O.

pub mod calendar;
pub mod clock;
pub mod contact;
mod entitlement;
mod event;
mod lang;
mod number;
mod policy;

use serde::{Deserialize, Serialize};

pub use entitlement::{Grant, SenderAuth, Verification, domain_of, entitled, verify};
pub use event::{AnswerKind, Event};
pub use lang::Lang;
pub use number::SrNumber;
pub use policy::{REOPEN_WITHIN_DAYS, Severity, Tier, assess, deadlines, first_answer_within};

use crate::decide::report::Outcome;

/// Where an SR stands (DESIGN.md, "The service request's life").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Received; or only text so far, or only refused files.
    Open,
    /// Samples in, required facts missing: waiting on the customer.
    NeedsInfo,
    /// The entitlement is to be checked by staff.
    Unverified,
    /// Samples queued for analysis.
    InAnalysis,
    /// Analysis done (or a verdict recorded): staff's answer is due.
    AwaitingVerdict,
    /// Staff answered the customer.
    Answered,
    /// Closed, with a [`Resolution`]; reopening puts it back where it was.
    Closed,
}

/// Why a closed SR was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Resolved,
    /// Three contact attempts, a business day apart, went unanswered.
    NoContact,
    Duplicate,
    Withdrawn,
}

/// Staff's verdict on a file, the one that answers the customer (DESIGN.md's
/// second verdict type; analysis proposes a provisional one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum StaffVerdict {
    /// Malicious, with the name the vendor's detection gives it.
    Malicious {
        detection: String,
    },
    PotentiallyUnwanted,
    Clean,
}

impl StaffVerdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            StaffVerdict::Malicious { .. } => "malicious",
            StaffVerdict::PotentiallyUnwanted => "potentially_unwanted",
            StaffVerdict::Clean => "clean",
        }
    }

    /// The detection name, for a malicious file.
    pub fn detection(&self) -> Option<&str> {
        match self {
            StaffVerdict::Malicious { detection } => Some(detection),
            _ => None,
        }
    }

    /// A verdict from its word and, for `malicious`, the detection name
    /// (which it needs).
    pub fn parse(word: &str, detection: Option<&str>) -> Result<StaffVerdict, String> {
        let detection = detection.map(str::trim).filter(|d| !d.is_empty());
        match (word.to_ascii_lowercase().as_str(), detection) {
            ("malicious", Some(d)) => Ok(StaffVerdict::Malicious {
                detection: d.to_owned(),
            }),
            ("malicious", None) => Err("a malicious verdict needs its detection name".to_owned()),
            ("potentially_unwanted" | "pup", _) => Ok(StaffVerdict::PotentiallyUnwanted),
            ("clean", _) => Ok(StaffVerdict::Clean),
            _ => Err(format!(
                "{word:?} is not a staff verdict (malicious, potentially_unwanted, clean)"
            )),
        }
    }
}

/// What a proven reply from the customer brings to its SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Text only, completing nothing: a customer update.
    Update,
    /// Files (or facts completing earlier files), judged together with the
    /// SR: the combined outcome, and whether the SR's grant verified it.
    Submission { outcome: Outcome, verified: bool },
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Open,
        Status::NeedsInfo,
        Status::Unverified,
        Status::InAnalysis,
        Status::AwaitingVerdict,
        Status::Answered,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::NeedsInfo => "needs_info",
            Status::Unverified => "unverified",
            Status::InAnalysis => "in_analysis",
            Status::AwaitingVerdict => "awaiting_verdict",
            Status::Answered => "answered",
            Status::Closed => "closed",
        }
    }

    /// How far the work has come, in the order an SR moves forward.
    fn progress(self) -> u8 {
        match self {
            Status::Open | Status::Unverified => 0,
            Status::NeedsInfo => 1,
            Status::InAnalysis => 2,
            Status::AwaitingVerdict => 3,
            Status::Answered => 4,
            Status::Closed => 5,
        }
    }

    /// The status of an SR a new input opens.
    pub fn opened_by(outcome: Outcome, verified: bool) -> Status {
        match (outcome, verified) {
            (Outcome::Rejected, _) => Status::Open,
            (_, false) => Status::Unverified,
            (Outcome::NeedsInfo, true) => Status::NeedsInfo,
            (Outcome::Accepted, true) => Status::InAnalysis,
        }
    }

    /// Where a proven reply from the customer moves an SR in this status
    /// (a closed one is reopened first, see [`Status::reopened`]). A reply
    /// never moves an SR backwards: text alone is an update, refused files
    /// change nothing, and files move it only forward.
    pub fn after_reply(self, reply: Reply) -> Status {
        let Reply::Submission { outcome, verified } = reply else {
            return self;
        };
        // An SR waiting on its entitlement waits for staff, not the customer.
        if self == Status::Unverified {
            return self;
        }
        let proposed = Status::opened_by(outcome, verified);
        if proposed.progress() > self.progress() {
            proposed
        } else {
            self
        }
    }

    /// Where a reopened SR goes: back to the status it was closed from.
    pub fn reopened(closed_from: Option<Status>) -> Status {
        match closed_from {
            Some(Status::Closed) | None => Status::Open,
            Some(s) => s,
        }
    }

    /// Where staff's verdict on a file moves the SR: its analysis has an
    /// answer waiting.
    pub fn after_verdict(self) -> Status {
        match self {
            Status::InAnalysis => Status::AwaitingVerdict,
            other => other,
        }
    }
}

/// Whether an SR closed at `closed_at` can still be reopened at `now`
/// (within [`REOPEN_WITHIN_DAYS`]); later, the customer opens a new one.
pub fn reopenable(
    closed_at: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    closed_at.is_none_or(|at| now - at <= chrono::TimeDelta::days(REOPEN_WITHIN_DAYS))
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not an SR status"))
    }
}

impl std::str::FromStr for Resolution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resolution::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("{s:?} is not a resolution (resolved, no_contact, duplicate, withdrawn)")
            })
    }
}

impl Resolution {
    pub const ALL: [Resolution; 4] = [
        Resolution::Resolved,
        Resolution::NoContact,
        Resolution::Duplicate,
        Resolution::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Resolved => "resolved",
            Resolution::NoContact => "no_contact",
            Resolution::Duplicate => "duplicate",
            Resolution::Withdrawn => "withdrawn",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES_OK: Reply = Reply::Submission {
        outcome: Outcome::Accepted,
        verified: true,
    };

    #[test]
    fn statuses_read_back() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("resolved".parse::<Status>().is_err());
    }

    /// "Any update?" on an SR in analysis leaves it in analysis (it used to
    /// move it to `open`).
    #[test]
    fn a_text_reply_is_an_update() {
        for s in Status::ALL {
            assert_eq!(s.after_reply(Reply::Update), s);
        }
    }

    #[test]
    fn replies_never_move_an_sr_backwards() {
        let refused = Reply::Submission {
            outcome: Outcome::Rejected,
            verified: true,
        };
        let incomplete = Reply::Submission {
            outcome: Outcome::NeedsInfo,
            verified: true,
        };
        assert_eq!(Status::InAnalysis.after_reply(refused), Status::InAnalysis);
        assert_eq!(
            Status::InAnalysis.after_reply(incomplete),
            Status::InAnalysis
        );
        assert_eq!(Status::Answered.after_reply(FILES_OK), Status::Answered);
        assert_eq!(
            Status::AwaitingVerdict.after_reply(FILES_OK),
            Status::AwaitingVerdict
        );
        // ...and forward when they bring what was missing.
        assert_eq!(Status::NeedsInfo.after_reply(FILES_OK), Status::InAnalysis);
        assert_eq!(Status::Open.after_reply(FILES_OK), Status::InAnalysis);
        assert_eq!(Status::Open.after_reply(incomplete), Status::NeedsInfo);
        // An unverified SR waits for staff whatever the customer sends.
        assert_eq!(Status::Unverified.after_reply(FILES_OK), Status::Unverified);
    }

    #[test]
    fn a_malicious_verdict_names_its_detection() {
        assert_eq!(
            StaffVerdict::parse("malicious", Some(" Trojan-FOO ")),
            Ok(StaffVerdict::Malicious {
                detection: "Trojan-FOO".into()
            })
        );
        assert!(StaffVerdict::parse("malicious", None).is_err());
        assert!(StaffVerdict::parse("malicious", Some("  ")).is_err());
        assert_eq!(
            StaffVerdict::parse("potentially_unwanted", None),
            Ok(StaffVerdict::PotentiallyUnwanted)
        );
        assert_eq!(StaffVerdict::parse("CLEAN", None), Ok(StaffVerdict::Clean));
        assert!(StaffVerdict::parse("suspicious", None).is_err());
    }

    #[test]
    fn closed_srs_reopen_within_thirty_days() {
        let closed =
            chrono::DateTime::<chrono::Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let day = chrono::TimeDelta::days(1);
        assert!(reopenable(Some(closed), closed + day * 30));
        assert!(!reopenable(
            Some(closed),
            closed + day * 30 + chrono::TimeDelta::seconds(1)
        ));
        assert!(reopenable(None, closed));
    }

    #[test]
    fn reopening_goes_back_where_it_was() {
        assert_eq!(Status::reopened(Some(Status::Answered)), Status::Answered);
        assert_eq!(Status::reopened(None), Status::Open);
        assert_eq!(Status::reopened(Some(Status::Closed)), Status::Open);
    }

    #[test]
    fn new_srs_start_from_the_outcome() {
        assert_eq!(Status::opened_by(Outcome::Rejected, true), Status::Open);
        assert_eq!(
            Status::opened_by(Outcome::Accepted, false),
            Status::Unverified
        );
        assert_eq!(
            Status::opened_by(Outcome::NeedsInfo, true),
            Status::NeedsInfo
        );
        assert_eq!(
            Status::opened_by(Outcome::Accepted, true),
            Status::InAnalysis
        );
        assert_eq!(Status::InAnalysis.after_verdict(), Status::AwaitingVerdict);
        assert_eq!(Status::Answered.after_verdict(), Status::Answered);
    }
}

//! Entitlement: who may act on an SR. A grant names the company and the
//! mail domains whose senders may submit under it; a submission is verified
//! when its grant exists, has not expired and its sender's domain is one of
//! the grant's. What the receiving MTA proved about the sender is recorded
//! beside it. Pure; the grants are read by `store::grants`.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::SrNumber;

/// One grant, as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_number: String,
    pub company: String,
    /// Lower-case domains whose senders may use the grant.
    pub email_domains: Vec<String>,
    pub support_level: String,
    pub expires_on: Option<NaiveDate>,
}

/// The result of checking a submission against the grants: verified, under
/// which grant, or why not. Stored as this data (`submissions.verification`),
/// shown as its [`Display`](std::fmt::Display) text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verification {
    Verified {
        grant: String,
    },
    NoGrantNumber,
    UnknownGrant {
        grant: String,
    },
    Expired {
        grant: String,
        on: NaiveDate,
    },
    NoSender,
    DomainNotRegistered {
        grant: String,
        domain: String,
    },
    /// A reply naming an SR without proof that it comes from the customer
    /// (no reply token, no trusted aligned authentication): held as an SR
    /// of its own, linked to the one it names.
    UnprovenReply {
        sr: SrNumber,
        why: String,
    },
}

impl Verification {
    pub fn is_verified(&self) -> bool {
        matches!(self, Verification::Verified { .. })
    }

    /// The grant the submission was verified under.
    pub fn verified_grant(&self) -> Option<&str> {
        match self {
            Verification::Verified { grant } => Some(grant),
            _ => None,
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::Verified { .. } => f.write_str("verified"),
            Verification::NoGrantNumber => f.write_str("unverified: no grant number given"),
            Verification::UnknownGrant { grant } => {
                write!(f, "unverified: unknown grant number {grant:?}")
            }
            Verification::Expired { grant, on } => {
                write!(f, "unverified: grant {grant} expired on {on}")
            }
            Verification::NoSender => f.write_str("unverified: no sender address"),
            Verification::DomainNotRegistered { grant, domain } => {
                write!(
                    f,
                    "unverified: {domain} is not registered for grant {grant}"
                )
            }
            Verification::UnprovenReply { sr, why } => write!(
                f,
                "unverified: names {sr} without proof it comes from the customer ({why})"
            ),
        }
    }
}

/// The domain of an address, lower-case.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, d) = address.trim().rsplit_once('@')?;
    let d = d.trim().trim_end_matches('>').to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

/// Whether `sender` may act for `grant` (its domain or a subdomain of one).
pub fn entitled(grant: &Grant, sender: &str) -> bool {
    let Some(domain) = domain_of(sender) else {
        return false;
    };
    grant
        .email_domains
        .iter()
        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

/// Checks a submission's grant number and sender. `grant` is the imported
/// grant with the given number, if any.
pub fn verify(
    given: Option<&str>,
    grant: Option<&Grant>,
    sender: Option<&str>,
    today: NaiveDate,
) -> Verification {
    let Some(number) = given.map(str::trim).filter(|g| !g.is_empty()) else {
        return Verification::NoGrantNumber;
    };
    let Some(grant) = grant else {
        return Verification::UnknownGrant {
            grant: number.to_owned(),
        };
    };
    if let Some(on) = grant.expires_on.filter(|d| *d < today) {
        return Verification::Expired {
            grant: grant.grant_number.clone(),
            on,
        };
    }
    let Some(sender) = sender else {
        return Verification::NoSender;
    };
    if !entitled(grant, sender) {
        return Verification::DomainNotRegistered {
            grant: grant.grant_number.clone(),
            domain: domain_of(sender).unwrap_or_default(),
        };
    }
    Verification::Verified {
        grant: grant.grant_number.clone(),
    }
}

/// The results recorded with a submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderAuth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authserv_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<String>,
    /// `smtp.mailfrom` of the SPF result (its domain is what SPF vouched for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf_domain: Option<String>,
    /// `header.d` of the passing DKIM signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim_domain: Option<String>,
    /// `header.from` of the DMARC result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc_domain: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            grant_number: "G-1".into(),
            company: "ACME".into(),
            email_domains: vec!["acme.example".into()],
            support_level: "gold".into(),
            expires_on: NaiveDate::from_ymd_opt(2030, 1, 1),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn verification_cases() {
        let g = grant();
        let today = day(2026, 11, 28);
        assert_eq!(
            verify(Some("G-1"), Some(&g), Some("bob@acme.example"), today),
            Verification::Verified {
                grant: "G-1".into()
            }
        );
        assert_eq!(
            verify(Some("G-1"), Some(&g), Some("Bob@EU.ACME.example"), today),
            Verification::Verified {
                grant: "G-1".into()
            }
        );
        assert_eq!(
            verify(None, Some(&g), Some("bob@acme.example"), today),
            Verification::NoGrantNumber
        );
        assert_eq!(
            verify(Some("  "), None, None, today),
            Verification::NoGrantNumber
        );
        assert!(matches!(
            verify(Some("G-9"), None, Some("x@y"), today),
            Verification::UnknownGrant { .. }
        ));
        assert!(matches!(
            verify(
                Some("G-1"),
                Some(&g),
                Some("x@acme.example"),
                day(2031, 1, 1)
            ),
            Verification::Expired { .. }
        ));
        assert!(matches!(
            verify(Some("G-1"), Some(&g), Some("eve@notacme.example"), today),
            Verification::DomainNotRegistered { .. }
        ));
        assert!(matches!(
            verify(Some("G-1"), Some(&g), Some("eve@evilacme.example"), today),
            Verification::DomainNotRegistered { .. }
        ));
        assert_eq!(
            verify(Some("G-1"), Some(&g), None, today),
            Verification::NoSender
        );
    }
}

//! Entitlements (grants): who may submit under which grant number. The check
//! is pure; import and look-up are thin SQL. An input that fails the check is
//! never dropped: it is recorded and held as `unverified` for staff.

use std::io::Read;

use chrono::NaiveDate;
use serde::Deserialize;
use sqlx::PgPool;

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

/// The result of checking a submission against the grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Verified,
    NoGrantNumber,
    UnknownGrant(String),
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
        sr: String,
        why: String,
    },
}

impl Verification {
    pub fn is_verified(&self) -> bool {
        *self == Verification::Verified
    }

    /// The text stored with the submission.
    pub fn describe(&self) -> String {
        match self {
            Verification::Verified => "verified".to_owned(),
            Verification::NoGrantNumber => "unverified: no grant number given".to_owned(),
            Verification::UnknownGrant(g) => format!("unverified: unknown grant number {g:?}"),
            Verification::Expired { grant, on } => {
                format!("unverified: grant {grant} expired on {on}")
            }
            Verification::NoSender => "unverified: no sender address".to_owned(),
            Verification::DomainNotRegistered { grant, domain } => {
                format!("unverified: {domain} is not registered for grant {grant}")
            }
            Verification::UnprovenReply { sr, why } => {
                format!("unverified: names {sr} without proof it comes from the customer ({why})")
            }
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
        return Verification::UnknownGrant(number.to_owned());
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
    Verification::Verified
}

/// A CSV row: `grant_number,company,email_domains,support_level,expires_on`,
/// domains separated by `;`, the date as YYYY-MM-DD or empty.
#[derive(Debug, Deserialize)]
struct Row {
    grant_number: String,
    company: String,
    email_domains: String,
    #[serde(default)]
    support_level: Option<String>,
    #[serde(default)]
    expires_on: Option<String>,
}

/// Importing grants failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {why}")]
    Row { line: u64, why: String },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Parses a grants CSV (with a header line).
pub fn parse_csv(input: impl Read) -> Result<Vec<Grant>, ImportError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut out = Vec::new();
    for rec in rdr.deserialize::<Row>() {
        let row = rec?;
        let line = out.len() as u64 + 2;
        if row.grant_number.is_empty() {
            return Err(ImportError::Row {
                line,
                why: "empty grant number".into(),
            });
        }
        let expires_on =
            match row.expires_on.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
                    ImportError::Row {
                        line,
                        why: format!("expires_on {s:?}: {e}"),
                    }
                })?),
                None => None,
            };
        out.push(Grant {
            grant_number: row.grant_number,
            company: row.company,
            email_domains: row
                .email_domains
                .split([';', ' '])
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            support_level: row
                .support_level
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "standard".into()),
            expires_on,
        });
    }
    Ok(out)
}

/// Inserts or updates `grants`; returns how many were written.
pub async fn import(pool: &PgPool, grants: &[Grant]) -> Result<usize, ImportError> {
    let mut tx = pool.begin().await?;
    for g in grants {
        sqlx::query(
            "INSERT INTO grants (grant_number, company, email_domains, support_level, expires_on)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (grant_number) DO UPDATE SET company = EXCLUDED.company,
                 email_domains = EXCLUDED.email_domains, support_level = EXCLUDED.support_level,
                 expires_on = EXCLUDED.expires_on, imported_at = now()",
        )
        .bind(&g.grant_number)
        .bind(&g.company)
        .bind(&g.email_domains)
        .bind(&g.support_level)
        .bind(g.expires_on)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(grants.len())
}

/// A grant as a row of `grants` (number, company, domains, level, expiry).
pub(crate) type GrantRow = (String, String, Vec<String>, String, Option<NaiveDate>);

impl Grant {
    pub(crate) fn from_row(row: GrantRow) -> Grant {
        let (grant_number, company, email_domains, support_level, expires_on) = row;
        Grant {
            grant_number,
            company,
            email_domains,
            support_level,
            expires_on,
        }
    }
}

/// The grant with `number`, if imported.
pub async fn find<'e, E>(db: E, number: &str) -> Result<Option<Grant>, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<GrantRow> = sqlx::query_as(
        "SELECT grant_number, company, email_domains, support_level, expires_on
         FROM grants WHERE grant_number = $1",
    )
    .bind(number.trim())
    .fetch_optional(db)
    .await?;
    Ok(row.map(Grant::from_row))
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
            Verification::Verified
        );
        assert_eq!(
            verify(Some("G-1"), Some(&g), Some("Bob@EU.ACME.example"), today),
            Verification::Verified
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
            Verification::UnknownGrant(_)
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

    #[test]
    fn csv_import_parses_domains_and_dates() {
        let csv = "grant_number,company,email_domains,support_level,expires_on\nG-1, ACME ,acme.example;@Corp.Example,gold,2030-01-01\nG-2,Solo,solo.example,,\n";
        let grants = parse_csv(csv.as_bytes()).expect("parses");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].company, "ACME");
        assert_eq!(grants[0].email_domains, ["acme.example", "corp.example"]);
        assert_eq!(grants[1].support_level, "standard");
        assert_eq!(grants[1].expires_on, None);
        assert!(
            parse_csv(
                "grant_number,company,email_domains,support_level,expires_on\nG,C,d,s,31/12/2030\n"
                    .as_bytes()
            )
            .is_err()
        );
    }
}

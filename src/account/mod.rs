//! Accounts of the two realms — customers on the portal, lab staff — and
//! the rules they live by: what a sign-up must bring (the handbook's
//! password rules, a grant that exists and has not expired, an address in
//! the grant's domains), how failed sign-ins back off, and the secrets
//! ([`token`]) handed out for sessions, mailed links and API tokens. Pure:
//! the clock and the stored facts are arguments; `store::accounts` keeps
//! them and the web channels apply them.

pub mod password;
pub mod token;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::sr::{Grant, Lang, domain_of};

pub use password::{PasswordError, PasswordProblem};

/// Which side an account belongs to. The realms never share a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    Customer,
    Staff,
}

impl Realm {
    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Customer => "customer",
            Realm::Staff => "staff",
        }
    }
}

/// What a staff account may do: analysts work SRs, leads also assign them
/// to others and change severities in bulk, admins also manage staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Analyst,
    Lead,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Analyst, Role::Lead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a role (analyst, lead, admin)"))
    }
}

/// What a mailed single-use link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// Proves the address: until then the account sees nothing.
    Confirm,
    /// Sets a new password.
    Reset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Confirm => "confirm",
            LinkPurpose::Reset => "reset",
        }
    }

    /// How long a link stays good.
    pub fn valid_for(self) -> TimeDelta {
        match self {
            LinkPurpose::Confirm => TimeDelta::hours(48),
            LinkPurpose::Reset => TimeDelta::hours(1),
        }
    }
}

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);

/// What a customer types to sign up.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SignUp {
    pub name: String,
    pub email: String,
    pub grant_number: String,
    #[serde(default)]
    pub lang: Option<Lang>,
    pub password: String,
}

/// Why a sign-up is refused; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("give your name (up to 200 characters)")]
    Name,
    #[error("give a valid email address")]
    Email,
    #[error("the password {}", list(.0))]
    Password(Vec<PasswordProblem>),
    #[error(
        "grant number {0:?} is not known: check it on your contract, or contact customer service"
    )]
    UnknownGrant(String),
    #[error("grant {grant} expired on {on}: contact customer service to renew it")]
    GrantExpired { grant: String, on: NaiveDate },
    #[error(
        "addresses at {domain} are not registered for this grant: contact customer service to add your domain"
    )]
    DomainNotRegistered { domain: String },
}

fn list(p: &[PasswordProblem]) -> String {
    p.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a sign-up's address relates to its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainClaim {
    /// The address is in one of the grant's registered domains.
    Registered,
    /// The grant has no domain yet: the first confirmed user's sets it.
    FirstUser(String),
}

/// A checked sign-up, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub name: String,
    pub email: String,
    pub grant_number: String,
    pub lang: Lang,
    pub claim: DomainClaim,
}

/// An address as accounts keep it: trimmed, lower-case, and plausibly
/// deliverable (one `@`, a dotted domain, no spaces or controls).
pub fn normalise_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_ascii_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.chars().all(|c| c.is_ascii_graphic());
    ok.then_some(e)
}

/// Checks a sign-up against `grant`, the imported grant its number names
/// (if any), on `today`. Every problem with the form itself is reported
/// before the grant is looked at, so a guessed grant number learns nothing
/// from a form that is wrong anyway.
pub fn check_sign_up(
    form: &SignUp,
    grant: Option<&Grant>,
    today: NaiveDate,
) -> Result<Accepted, Refusal> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Refusal::Name);
    }
    let email = normalise_email(&form.email).ok_or(Refusal::Email)?;
    password::check(&form.password).map_err(Refusal::Password)?;
    let number = form.grant_number.trim();
    let grant = grant
        .filter(|g| g.grant_number == number)
        .ok_or_else(|| Refusal::UnknownGrant(number.to_owned()))?;
    if let Some(on) = grant.expires_on.filter(|d| *d < today) {
        return Err(Refusal::GrantExpired {
            grant: grant.grant_number.clone(),
            on,
        });
    }
    let domain = domain_of(&email).ok_or(Refusal::Email)?;
    let claim = if grant.email_domains.is_empty() {
        DomainClaim::FirstUser(domain)
    } else if crate::sr::entitled(grant, &email) {
        DomainClaim::Registered
    } else {
        return Err(Refusal::DomainNotRegistered { domain });
    };
    Ok(Accepted {
        name: name.to_owned(),
        email,
        grant_number: grant.grant_number.clone(),
        lang: form.lang.unwrap_or(Lang::En),
        claim,
    })
}

/// When repeated failures lock an account, and how a client address that
/// keeps failing is slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures in a row an account is allowed before it locks.
    pub free_failures: u32,
    /// The first lock; each further failure doubles it.
    pub first_lock: TimeDelta,
    pub longest_lock: TimeDelta,
    /// Failures from one address within `window` before the address is
    /// refused until the window has passed.
    pub per_address: u32,
    pub window: TimeDelta,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            free_failures: 5,
            first_lock: TimeDelta::minutes(1),
            longest_lock: TimeDelta::hours(24),
            per_address: 30,
            window: TimeDelta::minutes(15),
        }
    }
}

impl Backoff {
    /// Until when an account that has now failed `failures` times in a row
    /// (the latest at `now`) is locked.
    pub fn locked_until(&self, failures: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let over = failures.checked_sub(self.free_failures)?;
        let factor = 1i32.checked_shl(over.min(30)).unwrap_or(i32::MAX);
        let lock = self
            .first_lock
            .checked_mul(factor)
            .unwrap_or(self.longest_lock)
            .min(self.longest_lock);
        Some(now + lock)
    }

    /// Whether an address with `recent` failures within the window is
    /// refused.
    pub fn address_refused(&self, recent: u32) -> bool {
        recent >= self.per_address
    }
}

#[cfg(test)]
mod tests;

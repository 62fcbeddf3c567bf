//! Passwords: the handbook's rules (an upper-case letter, a digit and a
//! special character) plus a minimum length, and Argon2id hashes in PHC
//! form. Hashing costs tens of milliseconds of CPU on purpose: callers on
//! an async runtime run it on a blocking thread.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest: bounds the work one sign-in can ask of the hasher.
pub const MAX_LENGTH: usize = 256;

/// One rule a password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("needs an upper-case letter")]
    NoUpper,
    #[error("needs a digit")]
    NoDigit,
    #[error("needs a special character (not a letter or digit)")]
    NoSpecial,
}

impl PasswordProblem {
    /// A stable key, for the pages' translations.
    pub fn key(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "too_short",
            PasswordProblem::TooLong => "too_long",
            PasswordProblem::NoUpper => "no_upper",
            PasswordProblem::NoDigit => "no_digit",
            PasswordProblem::NoSpecial => "no_special",
        }
    }
}

/// Every rule `pw` breaks; `Ok` when none.
pub fn check(pw: &str) -> Result<(), Vec<PasswordProblem>> {
    let n = pw.chars().count();
    let mut problems = Vec::new();
    if n < MIN_LENGTH {
        problems.push(PasswordProblem::TooShort);
    }
    if n > MAX_LENGTH {
        problems.push(PasswordProblem::TooLong);
    }
    if !pw.chars().any(char::is_uppercase) {
        problems.push(PasswordProblem::NoUpper);
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        problems.push(PasswordProblem::NoDigit);
    }
    if !pw
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        problems.push(PasswordProblem::NoSpecial);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Hashing failed (no randomness for the salt).
#[derive(Debug, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct PasswordError(String);

/// An Argon2id hash of `pw` with a fresh salt, as a PHC string.
pub fn hash(pw: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

/// Whether `pw` matches `stored`. A stored value that is not a hash (a
/// disabled account's marker) matches nothing.
pub fn verify(pw: &str, stored: &str) -> bool {
    if pw.len() > MAX_LENGTH * 4 {
        return false;
    }
    PasswordHash::new(stored)
        .is_ok_and(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
}

/// A hash of a password no one knows, verified against when an address has
/// no account, so a sign-in takes as long either way and does not tell
/// which addresses exist.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash("decoy-Password-1!").unwrap_or_default());
    &DECOY
}

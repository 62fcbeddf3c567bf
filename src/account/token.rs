//! Secrets handed out to a browser or a script — session cookies, mailed
//! links, API tokens: 256 random bits, shown once, stored only as their
//! SHA-256 so a request costs one indexed look-up and a copy of the
//! database opens nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::digest::Sha256;

/// A secret as handed out (43 URL-safe characters).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// No randomness was to be had.
#[derive(Debug, thiserror::Error)]
#[error("no randomness: {0}")]
pub struct RandomnessError(String);

impl Secret {
    pub fn generate() -> Result<Secret, RandomnessError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessError(e.to_string()))?;
        Ok(Secret(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored.
    pub fn digest(&self) -> Sha256 {
        digest(&self.0)
    }
}

// Never printed by accident.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The stored form of a secret a client presented.
pub fn digest(presented: &str) -> Sha256 {
    Sha256::of(presented.as_bytes())
}

/// Whether two secrets (a form's CSRF token and its cookie) are equal, in
/// time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

//! The reply token: proof that a reply answers one of our messages. Every
//! answer's `Reply-To` is the research address with a `+` tag holding the
//! SR number and an HMAC of it (`samples+SR-2026-000123.3f9a…@lab.example`);
//! a reply sent to that address names its SR in a way no one without our
//! key can forge for another SR. The key is the lab's own (configured, or
//! made once per database by the migrations).

use sha2::{Digest, Sha256};

use crate::sr::SrNumber;

/// Hex digits of the MAC kept in a token: 64 bits, plenty against guessing
/// by mail.
const MAC_HEX: usize = 16;

/// The key tokens are made and checked with.
#[derive(Clone)]
pub struct ReplyKey([u8; 32]);

impl std::fmt::Debug for ReplyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyKey(…)")
    }
}

impl Default for ReplyKey {
    /// A key of this process only: tokens it makes are checked by no other
    /// process. `intake serve` and the tools load the database's key.
    fn default() -> Self {
        ReplyKey::from_secret(&uuid::Uuid::new_v4().to_string())
    }
}

impl ReplyKey {
    /// The key derived from a secret string.
    pub fn from_secret(secret: &str) -> ReplyKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(&Sha256::digest(secret.as_bytes()));
        ReplyKey(k)
    }

    /// The token for `sr`: `SR-2026-000123.<16 hex>`.
    pub fn token(&self, sr: &SrNumber) -> String {
        let sr = sr.to_string();
        format!("{sr}.{}", &hex::encode(self.mac(sr.as_bytes()))[..MAC_HEX])
    }

    /// The address a reply about `sr` goes to: `research` with the token as
    /// its `+` tag.
    pub fn reply_to(&self, research: &str, sr: &SrNumber) -> String {
        match research.rsplit_once('@') {
            Some((local, domain)) => {
                let local = local.split('+').next().unwrap_or(local);
                format!("{local}+{}@{domain}", self.token(sr))
            }
            None => research.to_owned(),
        }
    }

    /// What the `+` tags of `addresses` say: the SR of the first valid
    /// token, or that a token was there and did not verify.
    pub fn check<'a>(&self, addresses: impl IntoIterator<Item = &'a str>) -> TokenCheck {
        let mut forged = false;
        for a in addresses {
            let Some(tag) = tag_of(a) else { continue };
            let Some((sr, mac)) = tag.split_once('.') else {
                continue;
            };
            let Ok(number) = sr.parse::<SrNumber>() else {
                continue;
            };
            let want = &hex::encode(self.mac(number.to_string().as_bytes()))[..MAC_HEX];
            if constant_time_eq(want.as_bytes(), mac.to_ascii_lowercase().as_bytes()) {
                return TokenCheck::Valid(number);
            }
            forged = true;
        }
        if forged {
            TokenCheck::Forged
        } else {
            TokenCheck::Absent
        }
    }

    /// HMAC-SHA256 (RFC 2104) of `msg`.
    fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, b) in self.0.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(msg)
            .finalize();
        let outer = Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&outer);
        out
    }
}

/// What the recipients' tags proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A token our key made, for this SR.
    Valid(SrNumber),
    /// A token-shaped tag whose MAC is wrong.
    Forged,
    /// No token.
    Absent,
}

/// The `+` tag of an address's local part.
fn tag_of(address: &str) -> Option<&str> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _) = address.rsplit_once('@')?;
    local.split_once('+').map(|(_, tag)| tag)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sr(n: u32) -> SrNumber {
        SrNumber::new(2026, n)
    }

    #[test]
    fn a_token_names_its_sr_and_only_that_one() {
        let key = ReplyKey::from_secret("lab secret");
        let to = key.reply_to("samples@lab.example", &sr(123));
        assert!(to.starts_with("samples+SR-2026-000123."), "{to}");
        assert!(to.ends_with("@lab.example"));
        assert_eq!(key.check([to.as_str()]), TokenCheck::Valid(sr(123)));
        assert_eq!(
            key.check([to
                .to_ascii_uppercase()
                .replace("@LAB.EXAMPLE", "@lab.example")
                .as_str()]),
            TokenCheck::Valid(sr(123)),
            "a relay may change the case of the local part"
        );
        // Another SR's token does not name this SR, and a changed number or
        // MAC does not verify.
        let other = key.reply_to("samples@lab.example", &sr(124));
        let swapped = other.replace("000124", "000123");
        assert_eq!(key.check([swapped.as_str()]), TokenCheck::Forged);
        let mut wrong_mac = to.clone();
        let at = wrong_mac.find('@').expect("@") - 1;
        let last = if wrong_mac.as_bytes()[at] == b'0' {
            "1"
        } else {
            "0"
        };
        wrong_mac.replace_range(at..at + 1, last);
        assert_eq!(key.check([wrong_mac.as_str()]), TokenCheck::Forged);
        // Another lab's key does not verify ours.
        let theirs = ReplyKey::from_secret("other");
        assert_eq!(theirs.check([to.as_str()]), TokenCheck::Forged);
        assert_eq!(
            key.check(["samples@lab.example", "samples+urgent@lab.example"]),
            TokenCheck::Absent
        );
    }
}

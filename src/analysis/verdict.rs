//! The provisional verdict analysis proposes for a sample, from its findings,
//! with the reasons — for staff to confirm or overrule, never final by itself.

use serde_json::Value;

/// The verdict analysis proposes (DESIGN.md's first verdict type). Staff
/// answer the customer with their own, [`crate::sr::StaffVerdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Provisional {
    Malicious,
    Suspicious,
    Clean,
    Unknown,
}

impl Provisional {
    pub fn as_str(self) -> &'static str {
        match self {
            Provisional::Malicious => "malicious",
            Provisional::Suspicious => "suspicious",
            Provisional::Clean => "clean",
            Provisional::Unknown => "unknown",
        }
    }
}

impl std::str::FromStr for Provisional {
    type Err = String;

    fn from_str(s: &str) -> Result<Provisional, String> {
        [
            Provisional::Malicious,
            Provisional::Suspicious,
            Provisional::Clean,
            Provisional::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("{s:?} is not a verdict (malicious, suspicious, clean, unknown)"))
    }
}

/// Decides from `(analyser, result)` findings. Reputation and rules that
/// carry a verdict speak first; heuristics can only make a sample suspicious.
pub fn provisional(findings: &[(String, Value)]) -> (Provisional, Vec<String>) {
    let mut malicious = Vec::new();
    let mut suspicious = Vec::new();
    let mut clean = Vec::new();
    for (analyser, r) in findings {
        match analyser.as_str() {
            "reputation" => {
                for k in r["known"].as_array().into_iter().flatten() {
                    let why = format!(
                        "known {} to {} ({})",
                        k["verdict"].as_str().unwrap_or("?"),
                        k["source"].as_str().unwrap_or("?"),
                        k["hash"].as_str().unwrap_or("?")
                    );
                    match k["verdict"].as_str() {
                        Some("malicious") => malicious.push(why),
                        Some("suspicious" | "potentially_unwanted") => suspicious.push(why),
                        Some("clean") => clean.push(why),
                        _ => {}
                    }
                }
            }
            "yara" => {
                for m in r["matches"].as_array().into_iter().flatten() {
                    let why = format!("YARA rule {}", m["rule"].as_str().unwrap_or("?"));
                    match m["meta"]["verdict"].as_str() {
                        Some("malicious") => malicious.push(why),
                        _ => suspicious.push(why),
                    }
                }
            }
            "executable" => {
                let x = &r["executable"];
                let packed = x["sections"].as_array().into_iter().flatten().any(|s| {
                    s["entropy"].as_f64().unwrap_or(0.0) > 7.2
                        && s["raw_size"].as_u64().unwrap_or(0) > 4096
                });
                let few_imports = x["imports"].as_array().is_some_and(|i| i.len() < 5);
                if x["format"].as_str().is_some_and(|f| f.starts_with("PE"))
                    && packed
                    && few_imports
                {
                    suspicious
                        .push("PE looks packed (high-entropy section, few imports)".to_owned());
                }
            }
            _ => {}
        }
    }
    if !malicious.is_empty() {
        (Provisional::Malicious, malicious)
    } else if !suspicious.is_empty() {
        (Provisional::Suspicious, suspicious)
    } else if !clean.is_empty() {
        (Provisional::Clean, clean)
    } else {
        (
            Provisional::Unknown,
            vec!["no analyser found anything telling".to_owned()],
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn order_of_evidence() {
        let yara_eicar = (
            "yara".to_owned(),
            json!({"matches": [{"rule": "EICAR_test_file", "meta": {"verdict": "malicious"}}]}),
        );
        let yara_heur = (
            "yara".to_owned(),
            json!({"matches": [{"rule": "PowerShell_download_cradle", "meta": {"verdict": "suspicious"}}]}),
        );
        let known_clean = (
            "reputation".to_owned(),
            json!({"known": [{"hash": "ab", "verdict": "clean", "source": "lab"}]}),
        );
        let nothing = ("hashes".to_owned(), json!({"md5": "x"}));
        assert_eq!(
            provisional(std::slice::from_ref(&nothing)).0,
            Provisional::Unknown
        );
        assert_eq!(
            provisional(&[nothing.clone(), known_clean.clone()]).0,
            Provisional::Clean
        );
        assert_eq!(
            provisional(&[known_clean.clone(), yara_heur.clone()]).0,
            Provisional::Suspicious
        );
        let (v, why) = provisional(&[yara_heur, yara_eicar, known_clean]);
        assert_eq!(v, Provisional::Malicious);
        assert_eq!(why, ["YARA rule EICAR_test_file"]);
    }

    #[test]
    fn packed_pe_is_suspicious() {
        let exe = (
            "executable".to_owned(),
            json!({"executable": {"format": "PE32", "imports": ["k!a"],
            "sections": [{"name": "UPX1", "entropy": 7.9, "raw_size": 90000}]}}),
        );
        assert_eq!(provisional(&[exe]).0, Provisional::Suspicious);
    }
}

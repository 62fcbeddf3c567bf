//! Similarity hashes the field exchanges: TLSH (pure-Rust `tlsh2`, the
//! 128-bucket, 1-byte-checksum "T1" form py-tlsh produces) and ssdeep
//! (`ffuzzy`, compatible with the ssdeep tool). Both are undefined for very
//! small or uniform inputs; that is recorded as `null`, not an error.

use intake::analysis::{AnalyseError, Analyser};
use intake::store::queue::SampleJob;

pub struct Similarity;

/// TLSH of `bytes`, or `None` where TLSH is undefined (under 50 bytes, too uniform).
pub fn tlsh(bytes: &[u8]) -> Option<String> {
    let t = tlsh2::TlshDefaultBuilder::build_from(bytes)?;
    Some(String::from_utf8_lossy(&t.hash()).into_owned())
}

/// ssdeep of `bytes`.
pub fn ssdeep(bytes: &[u8]) -> Option<String> {
    ssdeep::hash_buf(bytes).ok().map(|h| h.to_string())
}

impl Analyser for Similarity {
    fn name(&self) -> &'static str {
        "similarity"
    }
    fn version(&self) -> String {
        "1".to_owned()
    }
    fn analyse(&self, bytes: &[u8], _job: &SampleJob) -> Result<serde_json::Value, AnalyseError> {
        Ok(serde_json::json!({ "tlsh": tlsh(bytes), "ssdeep": ssdeep(bytes) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_small_inputs() {
        // ffuzzy's own documented example.
        assert_eq!(ssdeep(b"Hello, World!\n").as_deref(), Some("3:aaX8v:aV"));
        assert_eq!(tlsh(b"too short"), None);
        let text: Vec<u8> = (0..4000u32)
            .flat_map(|i| format!("line {i} of harmless text\n").into_bytes())
            .collect();
        let t = tlsh(&text).unwrap_or_default();
        assert!(t.starts_with("T1") && t.len() == 72, "{t}");
    }
}

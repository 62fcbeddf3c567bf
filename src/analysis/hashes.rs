//! Cryptographic hashes of a sample: what lab staff and other vendors quote.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{AnalyseError, Analyser};
use crate::store::queue::SampleJob;

pub struct Hashes;

impl Analyser for Hashes {
    fn name(&self) -> &'static str {
        "hashes"
    }
    fn version(&self) -> String {
        "1".to_owned()
    }
    fn analyse(&self, bytes: &[u8], job: &SampleJob) -> Result<serde_json::Value, AnalyseError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        if sha256 != job.sha256.to_hex() {
            return Err(AnalyseError::WrongBytes {
                found: sha256,
                named: job.sha256.to_hex(),
            });
        }
        Ok(serde_json::json!({
            "md5": hex::encode(Md5::digest(bytes)),
            "sha1": hex::encode(Sha1::digest(bytes)),
            "sha256": sha256,
            "size": bytes.len(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::consume::tests::job_for;

    #[test]
    fn known_vectors() {
        let v = Hashes.analyse(b"abc", &job_for(b"abc")).expect("ok");
        assert_eq!(v["md5"], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(v["sha1"], "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(v["size"], 3);
        assert!(Hashes.analyse(b"abd", &job_for(b"abc")).is_err());
    }
}

//! The fingerprint look-up: the sample's MD5, SHA-1 and SHA-256 against the
//! lab's own verdicts and imported hash lists (`intake hashes import`).

use intake::analysis::{AnalyseError, Analyser};
use intake::store::queue::SampleJob;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

pub struct Reputation {
    pub pool: PgPool,
    /// Drives the query from the analyser's blocking thread.
    pub runtime: tokio::runtime::Handle,
}

impl Analyser for Reputation {
    fn name(&self) -> &'static str {
        "reputation"
    }
    fn version(&self) -> String {
        "1".to_owned()
    }
    fn analyse(&self, bytes: &[u8], _job: &SampleJob) -> Result<serde_json::Value, AnalyseError> {
        let hashes = vec![
            hex::encode(Md5::digest(bytes)),
            hex::encode(Sha1::digest(bytes)),
            hex::encode(Sha256::digest(bytes)),
        ];
        let known = self
            .runtime
            .block_on(intake::store::reputation::lookup(&self.pool, &hashes))
            .map_err(|e| AnalyseError::Source {
                what: "hash look-up",
                why: e.to_string(),
            })?;
        Ok(serde_json::json!({ "known": known }))
    }
}

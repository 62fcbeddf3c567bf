//! Analysis of queued samples: the consumer loop that takes jobs from
//! RabbitMQ, runs analysers over the stored bytes and records their findings,
//! and the analysers light enough to live in the intake library (hashes,
//! file type). The `intake-worker` package runs the same loop with the heavy
//! analysers added (YARA), so `intake demo` can analyse in-process.

mod consume;
mod filetype;
mod hashes;
pub mod jobs;
pub mod verdict;

pub use consume::{ConsumeError, Consumer};
pub use filetype::FileType;
pub use hashes::Hashes;

use crate::store::queue::SampleJob;

/// One analyser. Its name and version are stored with every finding, so a new
/// version can re-run over old samples while the same job delivered twice
/// records one finding.
pub trait Analyser: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> String;
    /// Looks at the sample's bytes; never executes them.
    fn analyse(&self, bytes: &[u8], job: &SampleJob) -> Result<serde_json::Value, AnalyseError>;
}

/// Why an analyser gave no finding. Either fails the job, which is retried
/// and, after `max_attempts`, dead-lettered with this text. A file the
/// analyser cannot make sense of is a finding (e.g. a parse error), not this.
#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    /// The stored bytes are not the sample the job names.
    #[error("stored bytes hash to {found}, the job names {named}")]
    WrongBytes { found: String, named: String },
    /// Something the analyser consults failed: the rules engine, the
    /// known-hash table.
    #[error("{what}: {why}")]
    Source { what: &'static str, why: String },
}

/// The analysers of the intake library.
pub fn builtin() -> Vec<Box<dyn Analyser>> {
    vec![Box::new(Hashes), Box::new(FileType)]
}

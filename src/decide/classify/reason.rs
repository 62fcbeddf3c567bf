//! Why a file is refused, in the contract's words (`shared/CHECK_REPORT.md`).
//! What a file *is* (an image, a log, Prefetch) is found by this module's
//! detectors; how it was sent (not archived, wrong password) by the walk in
//! `decide`. Both name their refusal here, and the report carries it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a file was refused. The declaration order is the contract's precedence:
/// when several reasons apply to one file the smallest wins, which is why this
/// derives `Ord`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    Empty,
    Screenshot,
    AvLog,
    HijackthisLog,
    Prefetch,
    NotArchived,
    NotEncrypted,
    WrongPassword,
    CorruptArchive,
    ArchiveBomb,
    TooLarge,
    NotAFile,
    TooDeep,
    TooManyFiles,
}

impl RejectReason {
    pub const ALL: [RejectReason; 14] = [
        RejectReason::Empty,
        RejectReason::Screenshot,
        RejectReason::AvLog,
        RejectReason::HijackthisLog,
        RejectReason::Prefetch,
        RejectReason::NotArchived,
        RejectReason::NotEncrypted,
        RejectReason::WrongPassword,
        RejectReason::CorruptArchive,
        RejectReason::ArchiveBomb,
        RejectReason::TooLarge,
        RejectReason::NotAFile,
        RejectReason::TooDeep,
        RejectReason::TooManyFiles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Empty => "empty",
            RejectReason::Screenshot => "screenshot",
            RejectReason::AvLog => "av_log",
            RejectReason::HijackthisLog => "hijackthis_log",
            RejectReason::Prefetch => "prefetch",
            RejectReason::NotArchived => "not_archived",
            RejectReason::NotEncrypted => "not_encrypted",
            RejectReason::WrongPassword => "wrong_password",
            RejectReason::CorruptArchive => "corrupt_archive",
            RejectReason::ArchiveBomb => "archive_bomb",
            RejectReason::TooLarge => "too_large",
            RejectReason::NotAFile => "not_a_file",
            RejectReason::TooDeep => "too_deep",
            RejectReason::TooManyFiles => "too_many_files",
        }
    }

    /// What the submitter should do instead; used in summaries and replies.
    pub fn advice(self) -> &'static str {
        match self {
            RejectReason::Empty => "the file is empty; send the file itself",
            RejectReason::Screenshot => "screenshots are not needed; send the suspicious file",
            RejectReason::AvLog | RejectReason::HijackthisLog => {
                "logs are not analysed; send the file that was detected"
            }
            RejectReason::Prefetch => "Prefetch files are not needed; send the suspicious file",
            RejectReason::NotArchived | RejectReason::NotEncrypted => {
                "zip the file with the password infected (all lowercase)"
            }
            RejectReason::WrongPassword => "use the password infected (all lowercase)",
            RejectReason::CorruptArchive => "the zip is damaged; zip the file again",
            RejectReason::ArchiveBomb | RejectReason::TooLarge => {
                "the file is over the size limits; upload it on the portal or contact support"
            }
            RejectReason::NotAFile => "send regular files only (no links or devices)",
            RejectReason::TooDeep => "put the files in one zip with the password infected",
            RejectReason::TooManyFiles => {
                "send at most the limit of files at once, or upload them on the portal"
            }
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The ledger of a load run: one JSON line per input sent and per fault
//! injected, written as it happens, so a run cut short still leaves what it
//! did. `intake audit` matches it against what intake recorded.

use std::io::{self, BufRead, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::inputs::Kind;
use crate::digest::Sha256;

/// How an input reached intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Smtp,
    Lmtp,
    Portal,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Smtp => "smtp",
            Channel::Lmtp => "lmtp",
            Channel::Portal => "portal",
        }
    }
    /// The channel intake records it under (`inbound.channel`).
    pub fn recorded_as(self) -> &'static str {
        match self {
            Channel::Smtp | Channel::Lmtp => "email",
            Channel::Portal => "portal",
        }
    }
}

/// The kinds of fault a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `kill -9` of `intake serve` (receiving, the relay, the mailer).
    KillServe,
    /// `kill -9` of an analysis worker.
    KillWorker,
    /// `rabbitmqctl stop_app`, then `start_app`.
    Broker,
    /// PostgreSQL restarted.
    Database,
    /// Every connection through the broker proxy cut, and new ones refused.
    Cut,
    /// The blob store's file system filled to the last byte.
    BlobFull,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::KillServe,
        FaultKind::KillWorker,
        FaultKind::Broker,
        FaultKind::Database,
        FaultKind::Cut,
        FaultKind::BlobFull,
    ];
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillServe => "kill_serve",
            FaultKind::KillWorker => "kill_worker",
            FaultKind::Broker => "broker",
            FaultKind::Database => "database",
            FaultKind::Cut => "cut",
            FaultKind::BlobFull => "blob_full",
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown fault {s:?} (one of: kill_serve, kill_worker, broker, database, cut, blob_full)")
            })
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    /// The run's start: what was asked for.
    Run {
        at: DateTime<Utc>,
        /// Inputs per second asked for; none: as fast as possible.
        rate: Option<f64>,
        connections: usize,
        mix: String,
    },
    Input(Input),
    Fault(Fault),
    /// The run's end (the last answer read).
    End {
        at: DateTime<Utc>,
    },
}

/// One input and what became of it at the protocol level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub id: String,
    pub kind: Kind,
    pub channel: Channel,
    /// What intake deduplicates by: the Message-ID, or the upload id.
    pub external_id: String,
    /// The last answer: `250 ...`, `HTTP 202`, or the error that ended it.
    pub answer: String,
    /// Whether the last answer accepted it (`2xx`).
    pub accepted: bool,
    /// Tries; more than one when a `4xx` or a broken connection made the
    /// sender try again, as an MTA would.
    pub attempts: u32,
    /// The first refusal, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_refusal: Option<String>,
    pub samples: Vec<Sha256>,
    /// The first try.
    pub sent_at: DateTime<Utc>,
    /// The answer that ended it.
    pub answered_at: DateTime<Utc>,
    /// For a reply: the input whose needs-info answer it replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies_to: Option<String>,
}

/// One fault, from its start to when it was undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub note: String,
}

/// Appends lines, one `write` and flush each: a line is whole or absent.
pub struct Writer {
    out: std::fs::File,
}

impl Writer {
    pub fn create(path: &Path) -> io::Result<Writer> {
        Ok(Writer {
            out: std::fs::File::create(path)?,
        })
    }
    pub fn write(&mut self, line: &Line) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(line).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.out.write_all(&bytes)?;
        self.out.flush()
    }
}

/// Why a ledger cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("reading the ledger: {0}")]
    Io(#[from] io::Error),
    #[error("ledger line {line}: {error}")]
    Line { line: usize, error: String },
}

/// Every line of a ledger.
pub fn read(path: &Path) -> Result<Vec<Line>, LedgerError> {
    let f = std::fs::File::open(path)?;
    parse(io::BufReader::new(f))
}

pub fn parse(r: impl BufRead) -> Result<Vec<Line>, LedgerError> {
    let mut lines = Vec::new();
    for (i, l) in r.lines().enumerate() {
        let l = l?;
        if l.trim().is_empty() {
            continue;
        }
        lines.push(serde_json::from_str(&l).map_err(|e| LedgerError::Line {
            line: i + 1,
            error: e.to_string(),
        })?);
    }
    Ok(lines)
}

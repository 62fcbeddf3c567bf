//! intake: takes in suspicious-file submissions for an anti-malware support lab.
//!
//! The library holds the pure decision ([`decide`]) that every ingress channel
//! runs and `intake check` exposes, the detectors and readers it is built from,
//! and the types shared with the analysis workers.

pub mod analysis;
pub mod answer;
pub mod blob;
pub mod classify;
pub mod clock;
pub mod config;
pub mod database;
pub mod decide;
pub mod digest;
pub mod fault;
pub mod grants;
pub mod http;
pub mod ingest;
pub mod inputs;
pub mod mail;
pub mod metadata;
pub mod metrics;
pub mod outbox;
pub mod portal;
pub mod queue;
pub mod record;
pub mod report;
pub mod reputation;
pub mod smtp;
pub mod sr;
pub mod support;
pub mod triage;
pub mod unpack;

#[cfg(test)]
pub(crate) mod fixture;

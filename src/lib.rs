//! intake: takes in suspicious-file submissions for an anti-malware support lab.
//!
//! The library holds the pure decision ([`decide`]) that every ingress channel
//! runs and `intake check` exposes, the detectors and readers it is built from,
//! and the types shared with the analysis workers.

pub mod account;
pub mod analysis;
pub mod answer;
pub mod audit;
pub mod clock;
pub mod config;
pub mod decide;
pub mod digest;
pub mod fault;
pub mod http;
pub mod ingest;
pub mod load;
pub mod mail;
pub mod metrics;
pub mod portal;
pub mod smtp;
pub mod sr;
pub mod store;
pub mod tls;
pub mod triage;

#[cfg(test)]
pub(crate) mod fixture;
